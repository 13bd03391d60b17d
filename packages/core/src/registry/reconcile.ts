import type { ActionOptions } from '../action-options.js';
import type { Hypervisor, VmSummary } from '../driver/driver.js';
import { abortedError, toHypervisorError } from '../errors/hypervisor-error.js';
import { sessionStateForPower } from '../state/power-state.js';
import { SessionState } from '../state/session-state.js';
import type { SessionRecord } from './session-record.js';
import type { ReconcileOptions, ReconcileReport, SessionRegistry } from './session-registry.js';

/** What {@link reconcile} needs of a registry: read every record and the damaged ones, write one. */
export type ReconcileTarget = Pick<SessionRegistry, 'list' | 'put'> &
  Partial<Pick<SessionRegistry, 'damaged'>>;

/**
 * Repairs the records of `hypervisor`'s driver after a restart or crash, comparing them with
 * `hypervisor.listVms()` (the truth about VMs). Both registries' `reconcile` call it. For each
 * record whose `driver` is `hypervisor.name`:
 *
 * - `pending.action === 'open'` (crash mid-open): its VM, if listed, is destroyed; the record
 *   becomes `Closed` → `rolledBack`.
 * - `pending.action === 'close'` (crash mid-close): the close is finished (VM destroyed if
 *   listed); `Closed` → `rolledBack`.
 * - `vmId` set but not listed → `vanished`: `Closed`, `vmId`, `driver` and `pending` cleared,
 *   `hibernated` false.
 * - `vmId` listed and its power state ({@link sessionStateForPower}) differs from the recorded
 *   state/hibernation, or another action is pending → `updated` to the VM's truth, pending cleared.
 * - no `vmId`, but a listed VM carries the record's id as `sessionId` (crash between creating the
 *   VM and writing the record; the record's `driver` may be unset) → the VM is destroyed,
 *   `Closed` → `rolledBack`.
 * - no `vmId`, no such VM, but a state other than `Closed` or a pending action → `updated` to `Closed`.
 *
 * A listed VM that belongs to a damaged record (its `sessionId` is the damaged record's id, or it
 * is the record's salvaged `vmId` or `vmName`) is `kept`: never touched, never an orphan. A listed
 * VM that no record claims is an orphan: reported, and destroyed only with
 * `removeOrphans`. VMs not returned by `listVms` are never touched, and records of other
 * drivers are left alone. Every change is persisted with `target.put` before the next step; a
 * VM is destroyed before its record is rewritten, so a crash in between is repaired by the next
 * run. Must not run while sessions of the registry act on the same hypervisor.
 *
 * @throws HypervisorError `QUERY` when listing fails, `DELETE` when a destroy fails, `CONTROL`
 *   (aborted) when `signal` fires (between steps), or what `target.put` rejects with. Changes
 *   made before the failure stay persisted.
 */
export async function reconcile(
  target: ReconcileTarget,
  hypervisor: Hypervisor,
  options: ReconcileOptions & { now?: () => number } = {},
): Promise<ReconcileReport> {
  const { signal } = options;
  const now = options.now ?? Date.now;
  const step: ActionOptions = signal ? { signal } : {};
  const check = () => {
    if (signal?.aborted) throw abortedError('Reconciling the session registry', signal.reason);
  };
  check();

  let vms: VmSummary[];
  try {
    vms = await hypervisor.listVms(step);
  } catch (error) {
    throw toHypervisorError(error, 'QUERY', `Listing the VMs of driver ${hypervisor.name} failed`, {
      driver: hypervisor.name,
    });
  }
  const byId = new Map(vms.map((vm) => [vm.id, vm]));
  const records = target.list();
  const driverName = hypervisor.name;
  const damaged = target.damaged?.() ?? [];
  const damagedIds = new Set(damaged.flatMap((d) => (d.id === undefined ? [] : [d.id])));
  const damagedVms = new Set(damaged.flatMap((d) => [d.salvaged.vmId, d.salvaged.vmName]));
  const isDamagedVm = (vm: VmSummary) =>
    (vm.sessionId !== '' && damagedIds.has(vm.sessionId)) || damagedVms.has(vm.id) || damagedVms.has(vm.name);

  // VMs claimed by a record's vmId; the rest can be matched by sessionId or are orphans.
  const claimed = new Set<string>();
  for (const r of records)
    if (r.driver === driverName && r.vmId !== undefined && byId.has(r.vmId)) claimed.add(r.vmId);
  const unclaimedBySession = new Map<string, VmSummary[]>();
  for (const vm of vms) {
    if (claimed.has(vm.id)) continue;
    const list = unclaimedBySession.get(vm.sessionId);
    if (list) list.push(vm);
    else unclaimedBySession.set(vm.sessionId, [vm]);
  }

  const vanished: SessionRecord[] = [];
  const updated: SessionRecord[] = [];
  const rolledBack: SessionRecord[] = [];
  const orphans: VmSummary[] = [];
  const removed: VmSummary[] = [];
  const kept: VmSummary[] = [];
  const consumed = new Set<string>();

  const destroy = async (vm: VmSummary) => {
    check();
    try {
      const handle = await hypervisor.findVm(vm.id, step);
      await handle?.destroy(step);
    } catch (error) {
      throw toHypervisorError(error, 'DELETE', `Removing VM ${vm.name} (${vm.id}) failed`, {
        vmId: vm.id,
        driver: driverName,
      });
    }
  };
  const write = async (record: SessionRecord) => {
    check();
    await target.put(record, step);
    return record;
  };

  for (const r of records) {
    const ours = r.driver === driverName;
    // VMs of this driver that belong to the record without being its recorded vmId.
    const bySession = r.vmId === undefined ? (unclaimedBySession.get(r.id) ?? []) : [];
    if (!ours && bySession.length === 0) continue;
    const own = ours && r.vmId !== undefined ? byId.get(r.vmId) : undefined;
    const pending = r.pending?.action;

    if (pending === 'open' || pending === 'close' || bySession.length > 0) {
      for (const vm of [...(own ? [own] : []), ...bySession]) {
        await destroy(vm);
        consumed.add(vm.id);
      }
      rolledBack.push(await write(closed(r, now())));
    } else if (ours && r.vmId !== undefined && !own) {
      vanished.push(await write(closed(r, now())));
    } else if (own) {
      const truth = sessionStateForPower(own.state);
      if (truth.state !== r.state || truth.hibernated !== r.hibernated || r.pending !== undefined) {
        const { pending: _, ...rest } = r;
        updated.push(
          await write({ ...rest, state: truth.state, hibernated: truth.hibernated, updatedAt: now() }),
        );
      }
    } else if (ours && (r.state !== SessionState.Closed || r.hibernated || r.pending !== undefined)) {
      updated.push(await write(closed(r, now())));
    }
  }

  for (const vm of vms) {
    if (claimed.has(vm.id) || consumed.has(vm.id)) continue;
    if (isDamagedVm(vm)) {
      kept.push(vm);
      continue;
    }
    orphans.push(vm);
    if (options.removeOrphans) {
      await destroy(vm);
      removed.push(vm);
    }
  }
  return { orphans, removed, vanished, updated, rolledBack, kept };
}

/** `record` without a VM: `Closed`, not hibernated, nothing pending, `vmId` and `driver` cleared. */
function closed(record: SessionRecord, at: number): SessionRecord {
  const { vmId: _vm, driver: _d, pending: _p, ...rest } = record;
  return { ...rest, state: SessionState.Closed, hibernated: false, updatedAt: at };
}
