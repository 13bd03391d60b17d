import { HypervisorError } from '../errors/hypervisor-error.js';
import type { SessionRecord } from './session-record.js';
import { validateSessionRecord } from './session-record-schema.js';

/**
 * The in-memory half of both registries: records by id plus an index by `(scope, name)`, so
 * `get` and `find` are O(1). Holds one frozen record object and one index key per session.
 *
 * @internal
 */
export class RecordIndex {
  readonly #records = new Map<string, SessionRecord>();
  readonly #byName = new Map<string, string>();

  /** Number of records. */
  get size(): number {
    return this.#records.size;
  }

  /** Every record, in insertion order. */
  list(): SessionRecord[] {
    return [...this.#records.values()];
  }

  /** One record by id. */
  get(id: string): SessionRecord | undefined {
    return this.#records.get(id);
  }

  /** The record of `name` in `scope`. */
  find(scope: string, name: string): SessionRecord | undefined {
    const id = this.#byName.get(nameKey(scope, name));
    return id === undefined ? undefined : this.#records.get(id);
  }

  /** The id of the record that holds `(scope, name)`, if any. */
  idOf(scope: string, name: string): string | undefined {
    return this.#byName.get(nameKey(scope, name));
  }

  /** Stores `record`, replacing the one with its id (and that one's name entry). */
  set(record: SessionRecord): void {
    const old = this.#records.get(record.id);
    if (old && (old.scope !== record.scope || old.name !== record.name)) {
      const key = nameKey(old.scope, old.name);
      if (this.#byName.get(key) === old.id) this.#byName.delete(key);
    }
    this.#records.set(record.id, record);
    this.#byName.set(nameKey(record.scope, record.name), record.id);
  }

  /** Removes a record; unknown ids are ignored. */
  delete(id: string): void {
    const old = this.#records.get(id);
    if (!old) return;
    this.#records.delete(id);
    const key = nameKey(old.scope, old.name);
    if (this.#byName.get(key) === id) this.#byName.delete(key);
  }
}

/** The index key of `(scope, name)`. NUL cannot occur in an origin, so keys never collide. */
export function nameKey(scope: string, name: string): string {
  return `${scope}\u0000${name}`;
}

/**
 * Validates `record` and returns the registry's own deep-frozen copy, exactly as it reads back from
 * JSON (so `undefined` fields disappear in both registries alike), and its JSON text, indented by
 * `indent` spaces (the file registry's files; none is cheaper where no file is written). `stored`
 * is the registry's copy that `record` replaces, if any: fields unchanged from it are not
 * validated again (see {@link validateSessionRecord}).
 *
 * @throws HypervisorError `INVALID_USAGE` for a malformed record.
 * @internal
 */
export function snapshotRecord(
  record: SessionRecord,
  stored: SessionRecord | undefined,
  indent = 0,
): { record: SessionRecord; json: string } {
  validateSessionRecord(record, stored);
  let json: string;
  try {
    json = JSON.stringify(record, null, indent);
  } catch (error) {
    throw new HypervisorError('INVALID_USAGE', 'The session record cannot be serialised to JSON', {
      cause: error,
      details: { field: 'record', id: record.id },
    });
  }
  return { record: deepFreeze(JSON.parse(json) as SessionRecord), json };
}

/** Freezes `value` and every object inside it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** The error of a `put` whose `(scope, name)` belongs to another record. */
export function nameTakenError(record: SessionRecord, existingId: string): HypervisorError {
  return new HypervisorError(
    'INVALID_USAGE',
    `A session named "${record.name}" already exists in scope ${record.scope} (id ${existingId})`,
    { details: { field: 'name', scope: record.scope, name: record.name, existingId } },
  );
}
