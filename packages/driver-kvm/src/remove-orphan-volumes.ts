import { parseOwnVolumeName } from './own-volume-name.js';
import type { StoragePool } from './storage-pool.js';
import { isNotFound, type Virsh } from './virsh.js';

/** A call's signal and debug listener. */
type Call = { signal?: AbortSignal | undefined; onDebug?: ((message: string) => void) | undefined };

/**
 * Removes the volumes of installation `tag` whose domain no longer exists, and returns their
 * names: what a close (or an open's roll-back) left when its process was killed after
 * `undefine`, or between two `vol-delete`s.
 *
 * Safe while other processes of the installation create and remove VMs: a VM's volumes are
 * created only after its domain is defined and removed only after it is undefined, so a marked
 * volume whose domain is missing is one its close did not finish. `domains` are the domain names
 * just listed (their volumes are skipped without a query); any other is checked with `domuuid`
 * right before its volumes are removed. Volumes of other installations, shared bases and any
 * unmarked volume are never touched.
 */
export async function removeOrphanVolumes(
  pool: StoragePool,
  virsh: Virsh,
  tag: string,
  domains: ReadonlySet<string>,
  call: Call = {},
): Promise<string[]> {
  const removed: string[] = [];
  const gone = new Map<string, boolean>();
  for (const volume of await pool.list({ ...call, refresh: false })) {
    const own = parseOwnVolumeName(volume);
    if (!own || own.tag !== tag || domains.has(own.vmName)) continue;
    let missing = gone.get(own.vmName);
    if (missing === undefined) {
      missing = await virsh.run(['domuuid', own.vmName], { ...call, cheap: true, code: 'QUERY' }).then(
        () => false,
        (error: unknown) => {
          if (isNotFound(error)) return true;
          throw error;
        },
      );
      gone.set(own.vmName, missing);
    }
    if (!missing) continue;
    await pool.remove(volume, call);
    removed.push(volume);
  }
  return removed;
}
