import type { ActionOptions } from '../action-options.js';
import type { Hypervisor } from '../driver/driver.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';
import type { DamagedRecord } from './damaged-record.js';
import { reconcile } from './reconcile.js';
import { nameTakenError, RecordIndex, snapshotRecord } from './record-index.js';
import type { SessionRecord } from './session-record.js';
import type { ReconcileOptions, ReconcileReport, SessionRegistry } from './session-registry.js';

/**
 * Creates a {@link SessionRegistry} that keeps its records in memory only, with the same
 * semantics as the file registry of `openSessionRegistry` (validation, unique
 * `(scope, name)`, frozen copies, `INVALID_STATE` after `close()`), but no files and no lock.
 * Meant for applications' tests and benchmarks: each record costs one frozen object and one
 * index entry (about 1–2 KiB), so 10,000 sessions fit easily.
 *
 * @example
 * ```ts
 * const registry = createMemorySessionRegistry();
 * await registry.put(record);
 * registry.find('local', 'my-session');
 * ```
 */
export function createMemorySessionRegistry(): SessionRegistry {
  return new MemorySessionRegistry();
}

class MemorySessionRegistry implements SessionRegistry {
  readonly directory = undefined;
  readonly #index = new RecordIndex();
  #closed = false;

  list(): SessionRecord[] {
    return this.#index.list();
  }

  get(id: string): SessionRecord | undefined {
    return this.#index.get(id);
  }

  find(scope: string, name: string): SessionRecord | undefined {
    return this.#index.find(scope, name);
  }

  damaged(): readonly DamagedRecord[] {
    return [];
  }

  async put(record: SessionRecord, options?: ActionOptions): Promise<void> {
    this.#check('Writing a session record', options);
    const { record: copy } = snapshotRecord(record, this.#index.get(record?.id));
    const owner = this.#index.idOf(copy.scope, copy.name);
    if (owner !== undefined && owner !== copy.id) throw nameTakenError(copy, owner);
    this.#index.set(copy);
  }

  async delete(id: string, options?: ActionOptions): Promise<void> {
    this.#check('Deleting a session record', options);
    this.#index.delete(id);
  }

  async reconcile(hypervisor: Hypervisor, options?: ReconcileOptions): Promise<ReconcileReport> {
    this.#check('Reconciling the session registry', options);
    return reconcile(this, hypervisor, options);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #check(what: string, options: ActionOptions | undefined): void {
    if (this.#closed)
      throw new HypervisorError('INVALID_STATE', `${what} failed: the session registry is closed`);
    if (options?.signal?.aborted) throw abortedError(what, options.signal.reason);
  }
}
