import type { DriverCapabilities } from '../driver/driver.js';
import { type GuardedHypervisor, notSupportedError } from '../driver/guarded-driver.js';

/**
 * Throws `NOT_SUPPORTED` (-11) when the hypervisor lacks `capability`, as the runtime guard does
 * for a VM's call; for a session step that reaches no VM (a setting recorded while there is none).
 * @internal
 */
export function requireCapability(
  hypervisor: GuardedHypervisor,
  capability: keyof DriverCapabilities,
  operation: string,
): void {
  if (hypervisor.capabilities[capability]) return;
  throw notSupportedError(hypervisor.name, operation, capability, hypervisor.capabilityReasons[capability]);
}
