import { HypervisorError } from '../errors/hypervisor-error.js';
import { deriveVmName } from '../session/session-names.js';

/**
 * Why a session record file could not be loaded:
 *
 * - `not-a-file`: a directory, FIFO, socket, device or symbolic link where a record file should be;
 * - `unreadable`: reading it failed (permissions, an I/O error) or it is absurdly large;
 * - `not-json`: empty, truncated or not JSON at all;
 * - `invalid`: JSON, but not a valid session record;
 * - `id-mismatch`: a valid record whose id is not its file name;
 * - `duplicate-name`: a valid record whose scope and name another, older record holds;
 * - `set-aside`: a file in the `damaged` folder that reads as a valid record now (repaired in
 *   place): move it back to `sessions` to restore the session.
 */
export type DamageReason =
  | 'not-a-file'
  | 'unreadable'
  | 'not-json'
  | 'invalid'
  | 'id-mismatch'
  | 'duplicate-name'
  | 'set-aside';

/** The fields that could still be read from a damaged record (each only when it is a complete string). */
export interface SalvagedFields {
  /** The `id` written inside the file. */
  readonly id?: string;
  /** The session's scope. */
  readonly scope?: string;
  /** The session's name. */
  readonly name?: string;
  /** The hypervisor-side VM name. */
  readonly vmName?: string;
  /** The driver's VM id. */
  readonly vmId?: string;
  /** The driver that owns the VM. */
  readonly driver?: string;
}

/**
 * A session record file that could not be loaded. It is kept (moved to `<directory>/damaged/`,
 * never deleted) and it keeps what it may own reserved until a person repairs or removes it:
 *
 * - its session `id` (from the file name): no new record may take it, and the hypervisor's VMs
 *   of that session (and of a salvaged `vmId` or `vmName`) are not orphans;
 * - its name, when it can be salvaged: requests for that name fail with `INVALID_STATE`;
 * - when the name cannot be read but the name of its VM is known (reconcile kept it, or a
 *   `vmName` was salvaged), the one name that VM name is derived from;
 * - otherwise every *new* name in its scope (every scope, when the scope cannot be read
 *   either) — existing sessions keep working.
 */
export interface DamagedRecord {
  /** The session id its file name carries (`<id>.json`), when the file name is one. */
  readonly id: string | undefined;
  /** Where the file is now: in `damaged/`, or still in `sessions/` (read-only registry, or moving it failed). */
  readonly file: string;
  /** Where it was found. */
  readonly foundAt: string;
  /** Why it could not be loaded. */
  readonly reason: DamageReason;
  /** The same in words. */
  readonly message: string;
  /** What could still be read from it. */
  readonly salvaged: SalvagedFields;
}

const FIELDS = ['id', 'scope', 'name', 'vmName', 'vmId', 'driver'] as const;

/**
 * Salvages {@link SalvagedFields} from a record's text: from the parsed object when the text is
 * JSON, otherwise from the first complete `"field": "string"` of each field in the text (a
 * truncated record keeps its beginning, where the registry writes id, scope, name and vmName).
 *
 * @internal
 */
export function salvageFields(text: string, parsed?: unknown): SalvagedFields {
  const found: Record<string, string> = {};
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    for (const field of FIELDS) {
      const value = (parsed as Record<string, unknown>)[field];
      if (typeof value === 'string' && value.length > 0) found[field] = value;
    }
    return found;
  }
  for (const field of FIELDS) {
    const match = new RegExp(`"${field}"\\s*:\\s*("(?:[^"\\\\\\u0000-\\u001f]|\\\\.)*")`).exec(text);
    if (!match) continue;
    try {
      const value = JSON.parse(match[1] as string) as unknown;
      if (typeof value === 'string' && value.length > 0) found[field] = value;
    } catch {
      // not a complete string literal
    }
  }
  return found;
}

/**
 * The damaged record that reserves what a write of record `id` named `(scope, name)` needs, if
 * any: one with that id (unless a loaded record holds the id: `held.id`), one whose salvaged name
 * is `name` (in `scope`, or in any scope when its scope is unknown), or one whose name is unknown
 * (in `scope` or an unknown scope). When the name already belongs to this very record
 * (`held.name`: an update, not a new name), only the id counts.
 *
 * A name that cannot be read can still be recognised: a VM name is derived from scope, name and
 * session id ({@link deriveVmName}). So when the hypervisor-side name of the damaged record's VM is
 * known (`vmNamesOf(id)`: its VMs that reconcile kept, or a salvaged `vmName`), an unknown name
 * reserves exactly the name whose derived VM name is one of those, and no other.
 *
 * @internal
 */
export function reservingRecord(
  damaged: readonly DamagedRecord[],
  record: { id: string; scope: string; name: string },
  held: { id: boolean; name: boolean },
  vmNamesOf: (id: string) => readonly string[] = () => [],
): DamagedRecord | undefined {
  for (const entry of damaged) {
    if (entry.id === record.id && !held.id) return entry;
    if (held.name || entry.reason === 'duplicate-name') continue;
    const { scope, name, vmName } = entry.salvaged;
    if (scope !== undefined && scope !== record.scope) continue;
    if (name === record.name) return entry;
    if (name !== undefined) continue;
    const evidence = [...(entry.id ? vmNamesOf(entry.id) : []), ...(vmName ? [vmName] : [])].filter((n) =>
      DERIVED_VM_NAME.test(n),
    );
    if (evidence.length === 0) return entry;
    const derived = entry.id === undefined ? undefined : deriveVmName(record.scope, record.name, entry.id);
    if (derived === undefined || evidence.includes(derived)) return entry;
  }
  return undefined;
}

/** The form of {@link deriveVmName}'s names: only such a name tells which session name it came from. */
const DERIVED_VM_NAME = /^cvmweb-(?:[a-z0-9-]*-)?[0-9a-f]{12}$/;

/**
 * The error of a request or write refused because of `entry`: `INVALID_STATE` (-8), details
 * `{ field: 'name', reason: 'damaged-record', id, file }`. The message names the file (pages
 * behind the web bridge read a fixed message instead).
 *
 * @internal
 */
export function damagedRecordError(entry: DamagedRecord, scope: string, name: string): HypervisorError {
  const what =
    entry.salvaged.name === name
      ? `The session "${name}" has a damaged record`
      : `A damaged session record whose name cannot be read may hold the name "${name}" in scope ${scope}`;
  return new HypervisorError(
    'INVALID_STATE',
    `${what} (${entry.file}: ${entry.message}); repair it or remove it first`,
    { details: { field: 'name', reason: 'damaged-record', id: entry.id ?? null, file: entry.file } },
  );
}

/**
 * One line that says what is wrong with `entry` and what keeps being reserved, for warnings,
 * `cvmweb sessions` and `cvmweb serve`.
 */
export function describeDamagedRecord(entry: DamagedRecord): string {
  const moved = entry.file === entry.foundAt ? '' : ` (moved to ${entry.file})`;
  const { name, scope } = entry.salvaged;
  const where = scope ? ` in ${scope}` : '';
  const reserved =
    name !== undefined
      ? `its name "${name}"${where} stays reserved`
      : `its name cannot be read, so new session names${where} are refused unless its VM's name rules them out`;
  const id = entry.id ? `session ${entry.id}: ` : '';
  return `damaged session record ${entry.foundAt}${moved}: ${id}${entry.message}; ${reserved}; its VM, if any, is kept until the file is repaired or removed`;
}
