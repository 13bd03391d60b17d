/**
 * @cvmweb/driver-qemu: the cvmweb driver that runs QEMU directly (no libvirt), controlled over QMP.
 *
 * @packageDocumentation
 */
export type { Accelerator } from './accelerators.js';
export { acceleratedScore, QEMU_TCG_SCORE } from './probe.js';
export { qemu } from './qemu.js';
export type { QemuOptions } from './qemu-options.js';
