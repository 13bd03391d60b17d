import type { MockHypervisor } from '../src/mock-hypervisor.js';

/** The conformance suite's `running` hook on a mock state: a VM of that name that runs, or its open API server. */
export function mockRunning(state: MockHypervisor, vmName: string): string[] {
  const vm = state.vm(vmName);
  if (!vm) return [];
  return [
    ...(vm.state === 'running' || vm.state === 'paused' ? [`vm ${vmName} ${vm.state}`] : []),
    ...(vm.apiPort !== undefined ? [`api server ${vm.apiPort}`] : []),
  ];
}

/** The conformance suite's `leftovers` hook on a mock state: the VM of that name, if it still exists. */
export function mockLeftovers(state: MockHypervisor, vmName: string): string[] {
  const vm = state.vm(vmName);
  return vm ? [`vm ${vmName} ${vm.state}`, ...mockRunning(state, vmName)] : [];
}
