/**
 * @cvmweb/driver-kvm: the cvmweb driver for KVM/QEMU through libvirt's `virsh`.
 *
 * @packageDocumentation
 */
export { kvm } from './kvm.js';
export { defaultInstallationId, defaultUri, type KvmOptions } from './kvm-options.js';
export { KVM_SCORE, TCG_SCORE } from './probe.js';
