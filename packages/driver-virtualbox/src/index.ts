/**
 * @cvmweb/driver-virtualbox: the cvmweb driver for Oracle VirtualBox (6.1 or later), through
 * `VBoxManage`.
 *
 * @packageDocumentation
 */
export { API_RULE, DESCRIPTION_MARK, PROPERTY_PREFIX, STORAGE, VM_GROUP } from './commands.js';
export { type CreatedVm, parseCreateMedium, parseCreateVm } from './create-output-parser.js';
export {
  classifyVBoxError,
  fixFor,
  parseVBoxError,
  parseWarnings,
  type VBoxErrorClass,
  type VBoxErrorInfo,
} from './error-parser.js';
export {
  type GuestProperty,
  parseGuestPropertyEnumerate,
  parseGuestPropertyGet,
} from './guest-property-parser.js';
export { type ListedVm, parseListVms } from './list-vms-parser.js';
export {
  type Attachment,
  attachments,
  type NatRule,
  natRules,
  parseMachineReadable,
} from './machinereadable-parser.js';
export {
  findVBoxManage,
  healthyScore,
  type ProbeEnvironment,
  type ProbeOptions,
  probeVirtualBox,
  systemProbeEnvironment,
  usualFolders,
} from './probe.js';
export { type MappedState, mapVmState, VM_STATES } from './state-mapping.js';
export {
  type CommandOptions,
  type LockRetry,
  VBoxManage,
  type VBoxResult,
  type VBoxRunOptions,
} from './vboxmanage.js';
export {
  isSupportedVersion,
  MINIMUM_VERSION,
  parseVersion,
  shortVersion,
  type VBoxVersion,
} from './version-parser.js';
export { type VirtualBoxOptions, virtualbox } from './virtualbox.js';
export { type HypervisorSettings, ownerOf, VirtualBoxHypervisor } from './virtualbox-hypervisor.js';
export { propertyName, VirtualBoxVm, type VmContext, type VmFacts, vmFacts } from './virtualbox-vm.js';
