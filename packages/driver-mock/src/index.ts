/**
 * @cvmweb/driver-mock: an in-process, deterministic hypervisor driver for
 * tests, with fault injection, virtual-clock delays and a real loopback API
 * endpoint per running VM.
 *
 * @packageDocumentation
 */
export type { MockApiRequest, MockApiResponder, MockApiResponse } from './api-server.js';
export { type MockOptions, mock } from './mock.js';
export type { MockFault } from './mock-fault.js';
export { createMockHypervisor, MockHypervisor } from './mock-hypervisor.js';
export { type MockStep, mockSteps } from './mock-step.js';
export type { MockVm } from './mock-vm.js';
export type { MockVmInfo } from './mock-vm-info.js';
