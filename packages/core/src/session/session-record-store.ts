import type { ActionOptions } from '../action-options.js';
import type { Clock } from '../clock/clock.js';
import type { SessionRecord } from '../registry/session-record.js';
import type { SessionRegistry } from '../registry/session-registry.js';

/** Fields of a session record to change; a field given as `undefined` is removed. @internal */
export type RecordChange = Partial<SessionRecord>;

/**
 * A session's record: the copy in memory that the session's properties read, and the persisted
 * one in the session registry. Only the session's queued work (its actions, `refresh()`, the
 * daemon settings) changes it, one turn at a time, so every change is made to the latest record
 * and none overwrites another. `onChange` runs after each change with the record before it.
 * @internal
 */
export class SessionRecordStore {
  readonly #registry: SessionRegistry;
  readonly #clock: Clock;
  readonly #onChange: (record: SessionRecord, previous: SessionRecord) => void;
  #record: SessionRecord;

  constructor(
    record: SessionRecord,
    registry: SessionRegistry,
    clock: Clock,
    onChange: (record: SessionRecord, previous: SessionRecord) => void,
  ) {
    this.#record = record;
    this.#registry = registry;
    this.#clock = clock;
    this.#onChange = onChange;
  }

  /** The record as it is now. */
  get current(): SessionRecord {
    return this.#record;
  }

  /** Persists a change of the record, then applies it; when persisting fails nothing changes. */
  async save(change: RecordChange, options?: ActionOptions): Promise<void> {
    const next = this.#next(change);
    await this.#registry.put(next, options);
    this.#apply(next);
  }

  /**
   * Records what already happened at the hypervisor: applies the change even when persisting it
   * fails (then rejects), so the session never lies about the VM. The registry catches up through
   * `reconcile()`.
   */
  async commit(change: RecordChange): Promise<void> {
    const next = this.#next(change);
    try {
      await this.#registry.put(next);
    } finally {
      this.#apply(next);
    }
  }

  /** Takes a record the registry itself changed (reconcile), without writing it. */
  replace(record: SessionRecord): void {
    this.#apply(record);
  }

  #next(change: RecordChange): SessionRecord {
    const next = { ...this.#record, ...change, updatedAt: this.#clock.now() } as SessionRecord;
    for (const key of Object.keys(change) as (keyof SessionRecord)[]) {
      if (change[key] === undefined) delete (next as Partial<Record<keyof SessionRecord, unknown>>)[key];
    }
    return next;
  }

  #apply(next: SessionRecord): void {
    const previous = this.#record;
    this.#record = next;
    this.#onChange(next, previous);
  }
}
