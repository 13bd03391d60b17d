/**
 * @cvmweb/driver-kvm: the cvmweb driver for KVM/QEMU through libvirt's `virsh`.
 *
 * @packageDocumentation
 */
export { type AccelerationFacts, type AccelerationPaths, detectAcceleration } from './acceleration.js';
export {
  type BootModel,
  buildDomainXml,
  type DiskModel,
  type DiskSource,
  type DomainModel,
} from './domain-xml.js';
export { kvm } from './kvm.js';
export {
  defaultInstallationId,
  defaultUri,
  isRemoteUri,
  isSessionUri,
  type KvmOptions,
} from './kvm-options.js';
export { KVM_SCORE, TCG_SCORE } from './probe.js';
export {
  buildMetadata,
  METADATA_KEY,
  METADATA_NAMESPACE,
  parseMetadata,
  type VmMetadata,
} from './vm-metadata.js';
export { escapeXml } from './xml.js';
