import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/registry-test-support.js';
import type { Hypervisor, VmHandle, VmPowerState, VmSpec, VmSummary } from '../driver/driver.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { SessionState } from '../state/session-state.js';
import { openSessionRegistry } from './file-session-registry.js';
import { createMemorySessionRegistry } from './memory-session-registry.js';
import { reconcile } from './reconcile.js';
import type { SessionRecord } from './session-record.js';
import type { SessionRegistry } from './session-registry.js';

/** A hypervisor in memory: `listVms` lists `vms`; `hidden` VMs exist for `findVm` but are not ours to list. */
class FakeHypervisor implements Hypervisor {
  readonly version = '1.0';
  readonly vms = new Map<string, VmSummary>();
  readonly hidden = new Map<string, VmSummary>();
  readonly destroyed: string[] = [];
  failDestroy = false;
  failList = false;

  constructor(readonly name: string) {}

  add(id: string, sessionId: string, state: VmPowerState): this {
    this.vms.set(id, { id, name: `vm-${id}`, sessionId, state });
    return this;
  }

  async listVms(): Promise<VmSummary[]> {
    if (this.failList) throw new Error('hypervisor down');
    return [...this.vms.values()].map((vm) => ({ ...vm }));
  }

  async findVm(id: string): Promise<VmHandle | undefined> {
    const vm = this.vms.get(id) ?? this.hidden.get(id);
    return vm && this.#handle(vm);
  }

  async createVm(spec: VmSpec): Promise<VmHandle> {
    const vm: VmSummary = {
      id: `vm-${this.vms.size + 1}`,
      name: spec.name,
      sessionId: spec.sessionId,
      state: 'poweroff',
    };
    this.vms.set(vm.id, vm);
    return this.#handle(vm);
  }

  async dispose(): Promise<void> {}

  #handle(vm: VmSummary): VmHandle {
    return {
      id: vm.id,
      name: vm.name,
      state: async () => vm.state,
      start: async () => {},
      stop: async () => {},
      destroy: async () => {
        if (this.failDestroy) throw new Error('cannot destroy');
        this.vms.delete(vm.id);
        this.hidden.delete(vm.id);
        this.destroyed.push(vm.id);
      },
    };
  }
}

const dirs: string[] = [];
const registries: SessionRegistry[] = [];
afterEach(async () => {
  for (const registry of registries.splice(0)) await registry.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const kinds = {
  memory: async () => createMemorySessionRegistry(),
  file: async () => {
    const directory = await mkdtemp(join(tmpdir(), 'cvmweb-reconcile-'));
    dirs.push(directory);
    return openSessionRegistry({ directory });
  },
};

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe.each(Object.entries(kinds))('reconcile (%s registry)', (_kind, create) => {
  async function setup(...records: SessionRecord[]) {
    const registry = await create();
    registries.push(registry);
    for (const record of records) await registry.put(record);
    return registry;
  }
  const ids = (records: readonly { id: string }[]) => records.map((r) => r.id).sort();

  it('closes sessions whose VM vanished', async () => {
    const hv = new FakeHypervisor('fake');
    const registry = await setup(
      makeRecord('gone', { driver: 'fake', vmId: 'v-gone', state: SessionState.Started, hibernated: true }),
    );
    const report = await registry.reconcile(hv);
    expect(ids(report.vanished)).toEqual(['gone']);
    expect(report.updated).toEqual([]);
    expect(report.rolledBack).toEqual([]);
    const record = registry.get('gone');
    expect(record).toMatchObject({ state: SessionState.Closed, hibernated: false });
    expect(record).not.toHaveProperty('vmId');
    expect(record).not.toHaveProperty('driver');
    expect(record).not.toHaveProperty('pending');
    expect(report.vanished[0]).toEqual(record);
  });

  it('reports orphans and removes them only with removeOrphans', async () => {
    const hv = new FakeHypervisor('fake').add('v-orphan', 'unknown-session', 'running');
    const registry = await setup();
    const report = await registry.reconcile(hv);
    expect(report.orphans.map((vm) => vm.id)).toEqual(['v-orphan']);
    expect(report.removed).toEqual([]);
    expect(hv.destroyed).toEqual([]);

    const again = await registry.reconcile(hv, { removeOrphans: true });
    expect(again.orphans.map((vm) => vm.id)).toEqual(['v-orphan']);
    expect(again.removed.map((vm) => vm.id)).toEqual(['v-orphan']);
    expect(hv.destroyed).toEqual(['v-orphan']);
    expect(hv.vms.size).toBe(0);
  });

  it('rolls back an interrupted open whose VM exists', async () => {
    const hv = new FakeHypervisor('fake').add('v1', 'opening', 'poweroff');
    const registry = await setup(
      makeRecord('opening', {
        driver: 'fake',
        vmId: 'v1',
        state: SessionState.Opening,
        pending: { action: 'open', since: 5 },
      }),
    );
    const report = await registry.reconcile(hv);
    expect(hv.destroyed).toEqual(['v1']);
    expect(ids(report.rolledBack)).toEqual(['opening']);
    expect(report.orphans).toEqual([]);
    expect(registry.get('opening')).toMatchObject({ state: SessionState.Closed });
    expect(registry.get('opening')).not.toHaveProperty('vmId');
    expect(registry.get('opening')).not.toHaveProperty('pending');
  });

  it('rolls back a VM created for a record that never got its vmId (matched by sessionId)', async () => {
    const hv = new FakeHypervisor('fake')
      .add('v-half', 'half', 'poweroff')
      .add('v-quiet', 'quiet', 'running')
      .add('v-other', 'someone-else', 'poweroff');
    const registry = await setup(
      // Crash after createVm, before the record knew vmId (and driver).
      makeRecord('half', { state: SessionState.Opening, pending: { action: 'open', since: 1 } }),
      makeRecord('quiet', { state: SessionState.Closed }),
    );
    const report = await registry.reconcile(hv);
    expect(hv.destroyed.sort()).toEqual(['v-half', 'v-quiet']);
    expect(ids(report.rolledBack)).toEqual(['half', 'quiet']);
    expect(report.orphans.map((vm) => vm.id)).toEqual(['v-other']);
    expect(registry.get('half')).toMatchObject({ state: SessionState.Closed });
    expect(registry.get('half')).not.toHaveProperty('pending');
  });

  it('finishes an interrupted close', async () => {
    const hv = new FakeHypervisor('fake').add('v2', 'closing', 'running');
    const registry = await setup(
      makeRecord('closing', {
        driver: 'fake',
        vmId: 'v2',
        state: SessionState.Started,
        pending: { action: 'close', since: 9 },
      }),
    );
    const report = await registry.reconcile(hv);
    expect(hv.destroyed).toEqual(['v2']);
    expect(ids(report.rolledBack)).toEqual(['closing']);
    expect(registry.get('closing')).toMatchObject({ state: SessionState.Closed, hibernated: false });
    expect(registry.get('closing')).not.toHaveProperty('vmId');
  });

  it("updates recorded states to the VM's truth and leaves records in sync alone", async () => {
    const hv = new FakeHypervisor('fake')
      .add('v-run', 'run', 'running')
      .add('v-saved', 'saved', 'saved')
      .add('v-sync', 'sync', 'paused')
      .add('v-pend', 'pend', 'running')
      .add('v-err', 'err', 'error')
      .add('v-hib', 'hib', 'saved');
    const registry = await setup(
      makeRecord('run', { driver: 'fake', vmId: 'v-run', state: SessionState.Open }),
      makeRecord('saved', { driver: 'fake', vmId: 'v-saved', state: SessionState.Started }),
      makeRecord('sync', { driver: 'fake', vmId: 'v-sync', state: SessionState.Paused, updatedAt: 77 }),
      makeRecord('pend', {
        driver: 'fake',
        vmId: 'v-pend',
        state: SessionState.Started,
        pending: { action: 'start', since: 3 },
      }),
      makeRecord('err', { driver: 'fake', vmId: 'v-err', state: SessionState.Started }),
      makeRecord('hib', { driver: 'fake', vmId: 'v-hib', state: SessionState.Open }),
    );
    const report = await registry.reconcile(hv);
    expect(ids(report.updated)).toEqual(['err', 'hib', 'pend', 'run', 'saved']);
    expect(registry.get('hib')).toMatchObject({ state: SessionState.Open, hibernated: true });
    expect(registry.get('run')).toMatchObject({
      state: SessionState.Started,
      hibernated: false,
      vmId: 'v-run',
    });
    expect(registry.get('saved')).toMatchObject({
      state: SessionState.Open,
      hibernated: true,
      vmId: 'v-saved',
    });
    expect(registry.get('pend')).toMatchObject({ state: SessionState.Started });
    expect(registry.get('pend')).not.toHaveProperty('pending');
    expect(registry.get('err')).toMatchObject({ state: SessionState.Error });
    expect(registry.get('sync')).toMatchObject({ state: SessionState.Paused, updatedAt: 77 });
    expect(report.orphans).toEqual([]);
    expect(hv.destroyed).toEqual([]);
  });

  it('leaves records and VMs of other drivers, and VMs it does not list, alone', async () => {
    const hv = new FakeHypervisor('fake');
    hv.hidden.set('v-hidden', { id: 'v-hidden', name: 'x', sessionId: 'closing', state: 'running' });
    const other = new FakeHypervisor('other').add('v-o', 'theirs', 'running');
    const theirs = makeRecord('theirs', { driver: 'other', vmId: 'v-o', state: SessionState.Open });
    const registry = await setup(
      theirs,
      makeRecord('theirs-gone', { driver: 'other', vmId: 'v-x', state: SessionState.Started }),
      makeRecord('closing', {
        driver: 'fake',
        vmId: 'v-hidden',
        state: SessionState.Started,
        pending: { action: 'close', since: 1 },
      }),
    );
    const report = await registry.reconcile(hv, { removeOrphans: true });
    expect(hv.destroyed).toEqual([]);
    expect(hv.hidden.has('v-hidden')).toBe(true);
    expect(other.destroyed).toEqual([]);
    expect(registry.get('theirs')).toEqual(theirs);
    expect(registry.get('theirs-gone')).toMatchObject({ vmId: 'v-x', state: SessionState.Started });
    expect(ids(report.rolledBack)).toEqual(['closing']);
    expect(report.vanished).toEqual([]);
  });

  it('closes a VM-less record of the driver left in a VM state', async () => {
    const hv = new FakeHypervisor('fake');
    const registry = await setup(
      makeRecord('odd', {
        driver: 'fake',
        state: SessionState.Starting,
        pending: { action: 'start', since: 1 },
      }),
      makeRecord('fine', { driver: 'fake', state: SessionState.Closed }),
    );
    const report = await registry.reconcile(hv);
    expect(ids(report.updated)).toEqual(['odd']);
    expect(registry.get('odd')).toMatchObject({ state: SessionState.Closed });
    expect(registry.get('fine')?.updatedAt).toBe(1_000);
  });

  it('rejects with QUERY when listing fails and DELETE when a rollback cannot remove its VM', async () => {
    const hv = new FakeHypervisor('fake').add('v1', 'opening', 'poweroff');
    const opening = makeRecord('opening', {
      driver: 'fake',
      vmId: 'v1',
      state: SessionState.Opening,
      pending: { action: 'open', since: 5 },
    });
    const registry = await setup(opening);
    hv.failList = true;
    expect(await rejection(registry.reconcile(hv))).toMatchObject({ codeName: 'QUERY' });
    hv.failList = false;
    hv.failDestroy = true;
    const error = await rejection(registry.reconcile(hv));
    expect(error).toBeInstanceOf(HypervisorError);
    expect(error).toMatchObject({ codeName: 'DELETE', details: { vmId: 'v1' } });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(registry.get('opening')).toEqual(opening); // the VM still exists: the record keeps it
  });

  it('rejects an aborted reconcile before touching anything', async () => {
    const hv = new FakeHypervisor('fake').add('v-orphan', 'nobody', 'running');
    const registry = await setup();
    const controller = new AbortController();
    controller.abort();
    expect(
      await rejection(registry.reconcile(hv, { removeOrphans: true, signal: controller.signal })),
    ).toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(hv.destroyed).toEqual([]);
  });
});

describe('reconcile persistence', () => {
  it('persists every change (file registry reopened)', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'cvmweb-reconcile-'));
    dirs.push(directory);
    const hv = new FakeHypervisor('fake').add('v-saved', 'saved', 'saved');
    const first = await openSessionRegistry({ directory });
    await first.put(makeRecord('saved', { driver: 'fake', vmId: 'v-saved', state: SessionState.Started }));
    await first.put(makeRecord('gone', { driver: 'fake', vmId: 'v-gone', state: SessionState.Open }));
    await first.reconcile(hv);
    await first.close();
    const second = await openSessionRegistry({ directory });
    registries.push(second);
    expect(second.get('saved')).toMatchObject({ state: SessionState.Open, hibernated: true });
    expect(second.get('gone')).toMatchObject({ state: SessionState.Closed });
    expect(second.get('gone')).not.toHaveProperty('vmId');
  });

  it('keeps the VMs of damaged records (by session id, salvaged vmId or vmName): never orphans', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'cvmweb-reconcile-'));
    dirs.push(directory);
    await mkdir(join(directory, 'sessions'));
    const text = JSON.stringify(makeRecord('torn', { vmId: 'v-salvaged', driver: 'fake' }), null, 2);
    await writeFile(join(directory, 'sessions', 'torn.json'), text.slice(0, text.indexOf('"driver"')));
    await mkdir(join(directory, 'sessions', 'dir-1.json'));
    const registry = await openSessionRegistry({ directory });
    registries.push(registry);
    expect(registry.damaged()).toHaveLength(2);
    const hv = new FakeHypervisor('fake')
      .add('v-by-session', 'dir-1', 'running')
      .add('v-salvaged', 'someone', 'poweroff')
      .add('v-stray', 'nobody', 'running');
    hv.vms.set('v-named', { id: 'v-named', name: 'cvmweb-torn', sessionId: '', state: 'running' });
    const report = await registry.reconcile(hv, { removeOrphans: true });
    expect(report.kept.map((vm) => vm.id).sort()).toEqual(['v-by-session', 'v-named', 'v-salvaged']);
    expect(report.orphans.map((vm) => vm.id)).toEqual(['v-stray']);
    expect(hv.destroyed).toEqual(['v-stray']);
    expect([...hv.vms.keys()].sort()).toEqual(['v-by-session', 'v-named', 'v-salvaged']);
  });

  it('works on any registry-like target and stamps updatedAt with options.now', async () => {
    const registry = createMemorySessionRegistry();
    await registry.put(makeRecord('a', { driver: 'fake', vmId: 'v', state: SessionState.Open }));
    const report = await reconcile(registry, new FakeHypervisor('fake'), { now: () => 4_242 });
    expect(report.vanished[0]?.updatedAt).toBe(4_242);
    expect(registry.get('a')?.updatedAt).toBe(4_242);
  });
});
