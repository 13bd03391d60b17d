import { join } from 'node:path';
import type { ActionOptions } from '../action-options.js';
import type { GuardedHypervisor, GuardedVm } from '../driver/guarded-driver.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import type { SessionRecord } from '../registry/session-record.js';

/**
 * The driver's handle of a session's VM, found again by the record's `vmId` when the session
 * was revived by another process, and the VM's own directory (its context medium, the user data
 * of its last boot).
 * @internal
 */
export class SessionVm {
  readonly #hypervisor: GuardedHypervisor;
  readonly #record: () => SessionRecord;
  /** The VM's own directory. */
  readonly directory: string;
  #handle: GuardedVm | undefined;

  /** `record` reads the session's record as it is now; `vmRoot` holds one directory per VM. */
  constructor(hypervisor: GuardedHypervisor, record: () => SessionRecord, vmRoot: string) {
    this.#hypervisor = hypervisor;
    this.#record = record;
    this.directory = join(vmRoot, record().id);
  }

  /** The handle known now, if any. */
  get handle(): GuardedVm | undefined {
    return this.#handle;
  }

  /** Keeps `vm` as the session's VM (`undefined`: there is none). */
  set(vm: GuardedVm | undefined): void {
    this.#handle = vm;
  }

  /** The known handle, else the recorded VM asked from the hypervisor; `undefined` when there is none. */
  async find(options?: ActionOptions): Promise<GuardedVm | undefined> {
    const { vmId } = this.#record();
    if (!this.#handle && vmId) this.#handle = await this.#hypervisor.findVm(vmId, options);
    return this.#handle;
  }

  /** Like {@link SessionVm.find}, but rejects with `NOT_FOUND` (-9) when the VM is not known. */
  async require(signal?: AbortSignal): Promise<GuardedVm> {
    const vm = await this.find({ signal });
    if (vm) return vm;
    const { id, name } = this.#record();
    throw new HypervisorError('NOT_FOUND', `the virtual machine of session "${name}" is not known`, {
      details: { sessionId: id },
    });
  }
}
