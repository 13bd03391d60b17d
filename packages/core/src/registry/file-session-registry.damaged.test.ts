import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/registry-test-support.js';
import type { Hypervisor } from '../driver/driver.js';
import { deriveVmName } from '../session/session-names.js';
import type { DamagedRecord } from './damaged-record.js';
import { openSessionRegistry } from './file-session-registry.js';
import type { SessionRegistry } from './session-registry.js';

// Each kind of damaged record file: reported, moved aside (never lost), and it keeps its id, its
// name (or, when the name cannot be read, every new name) reserved until a person repairs it.

let dir: string;
let sessions: string;
let aside: string;
const open: SessionRegistry[] = [];

async function openRegistry(options: { readOnly?: boolean } = {}) {
  const warnings: { message: string; damaged?: DamagedRecord }[] = [];
  const registry = await openSessionRegistry({
    directory: dir,
    ...options,
    onWarning: (message, details) =>
      warnings.push({ message, ...(details.damaged ? { damaged: details.damaged } : {}) }),
  });
  open.push(registry);
  return { registry, warnings };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const full = (id: string, fields: Parameters<typeof makeRecord>[1] = {}) =>
  JSON.stringify(makeRecord(id, fields), null, 2);

/** Each kind of damage: how to make it, what is reported, and which name it keeps. */
const kinds: {
  kind: string;
  make: (file: string) => Promise<void>;
  reason: DamagedRecord['reason'];
  name: string | undefined;
}[] = [
  {
    kind: 'truncated',
    make: (file) => writeFile(file, full('victim').slice(0, 120)),
    reason: 'not-json',
    name: 'name-victim',
  },
  { kind: 'empty', make: (file) => writeFile(file, ''), reason: 'not-json', name: undefined },
  {
    kind: 'not JSON',
    make: (file) => writeFile(file, 'id=victim\nname=x\n'),
    reason: 'not-json',
    name: undefined,
  },
  {
    kind: 'schema failure',
    make: (file) => writeFile(file, full('victim', { state: 42 as never })),
    reason: 'invalid',
    name: 'name-victim',
  },
  {
    kind: 'another id inside',
    make: (file) => writeFile(file, full('someone-else', { name: 'name-victim' })),
    reason: 'id-mismatch',
    name: 'name-victim',
  },
  { kind: 'directory', make: (file) => mkdir(file), reason: 'not-a-file', name: undefined },
  {
    kind: 'FIFO',
    make: async (file) => {
      execFileSync('mkfifo', [file]);
    },
    reason: 'not-a-file',
    name: undefined,
  },
  {
    kind: 'symbolic link',
    make: (file) => symlink('/dev/zero', file),
    reason: 'not-a-file',
    name: undefined,
  },
];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cvmweb-damaged-'));
  sessions = join(dir, 'sessions');
  aside = join(dir, 'damaged');
  await mkdir(sessions, { recursive: true });
  await writeFile(join(sessions, 'good.json'), full('good', { createdAt: 500 }));
});

afterEach(async () => {
  for (const registry of open.splice(0)) await registry.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openSessionRegistry: damaged records', () => {
  for (const { kind, make, reason, name } of kinds) {
    it(`${kind}: reported, moved aside, its id and name reserved until removed`, async () => {
      const file = join(sessions, 'victim.json');
      await make(file);
      const type = (await lstat(file)).mode & 0o170000;
      const bytes = (await lstat(file)).isFile() ? await readFile(file) : undefined;

      // A read-only reader (cvmweb sessions) reports it in place and does not hang on a FIFO.
      const reader = await openRegistry({ readOnly: true });
      expect(reader.registry.damaged()).toMatchObject([{ id: 'victim', reason, file, foundAt: file }]);
      expect(reader.warnings).toHaveLength(1);
      await reader.registry.close();
      expect((await lstat(file)).mode & 0o170000).toBe(type);

      const { registry, warnings } = await openRegistry();
      const moved = join(aside, 'victim.json');
      const [damaged] = registry.damaged();
      expect(damaged).toMatchObject({ id: 'victim', reason, file: moved, foundAt: file });
      expect(damaged?.salvaged.name).toBe(name);
      expect(warnings.map((w) => w.damaged)).toEqual([damaged]);
      expect(warnings[0]?.message).toContain(file);
      expect(warnings[0]?.message).toContain(name === undefined ? 'cannot be read' : `"${name}"`);
      // Moved aside, as it was (same kind of file, same bytes), not deleted.
      expect(await readdir(sessions)).toEqual(['good.json']);
      expect((await lstat(moved)).mode & 0o170000).toBe(type);
      if (bytes) expect(await readFile(moved)).toEqual(bytes);
      expect(registry.list().map((r) => r.id)).toEqual(['good']);

      // Its id and its name stay reserved; a name that cannot be read reserves every new name.
      const refused = {
        codeName: 'INVALID_STATE',
        details: { reason: 'damaged-record', id: 'victim', file: moved },
      };
      expect(await rejection(registry.put(makeRecord('victim', { name: 'fresh' })))).toMatchObject(refused);
      expect(await rejection(registry.put(makeRecord('new1', { name: 'name-victim' })))).toMatchObject(
        refused,
      );
      if (name === undefined) {
        expect(await rejection(registry.put(makeRecord('new2', { name: 'anything' })))).toMatchObject(
          refused,
        );
      } else {
        await registry.put(makeRecord('new2', { name: 'anything' }));
      }
      // Existing sessions keep working.
      await registry.put(makeRecord('good', { createdAt: 500, updatedAt: 2_000 }));
      expect(registry.get('victim')).toBeUndefined();
      expect(await readdir(sessions)).not.toContain('victim.json');
      await registry.close();

      // Still reported and reserved on the next start, from the damaged folder.
      const again = await openRegistry();
      expect(again.registry.damaged()).toMatchObject([{ id: 'victim', reason, file: moved }]);
      expect(await rejection(again.registry.put(makeRecord('new3', { name: 'name-victim' })))).toMatchObject(
        refused,
      );
      await again.registry.close();

      // Once a person removes it, the id and the name are free.
      await rm(moved, { recursive: true });
      const freed = await openRegistry();
      expect(freed.registry.damaged()).toEqual([]);
      expect(freed.warnings).toEqual([]);
      await freed.registry.put(makeRecord('victim', { name: 'name-victim' }));
    });
  }

  it('a name that cannot be read is recognised by its VM once reconcile has seen it', async () => {
    execFileSync('mkfifo', [join(sessions, 'victim.json')]);
    const { registry } = await openRegistry();
    const refused = { codeName: 'INVALID_STATE', details: { reason: 'damaged-record', id: 'victim' } };
    // Before: any new name might be the one.
    expect(await rejection(registry.put(makeRecord('n1', { name: 'other' })))).toMatchObject(refused);
    const vm = {
      id: 'vm-1',
      name: deriveVmName('local', 'secret', 'victim'),
      sessionId: 'victim',
      state: 'running',
    };
    const hypervisor = { name: 'fake', listVms: async () => [vm] } as unknown as Hypervisor;
    const report = await registry.reconcile(hypervisor);
    expect(report.kept).toEqual([vm]);
    // After: exactly the name its VM was derived from stays reserved, in the scope it was derived in.
    expect(await rejection(registry.put(makeRecord('n2', { name: 'secret' })))).toMatchObject(refused);
    await registry.put(makeRecord('n3', { name: 'other' }));
    await registry.put(makeRecord('n4', { name: 'secret', scope: 'https://example.org' }));
    expect(await rejection(registry.put(makeRecord('victim', { name: 'x' })))).toMatchObject(refused);
  });

  it('a record holding a name an older record holds is kept aside, not silently dropped', async () => {
    await writeFile(
      join(sessions, 'late.json'),
      full('late', { name: 'name-good', createdAt: 900, vmId: 'vm-7' }),
    );
    const { registry, warnings } = await openRegistry();
    expect(registry.find('local', 'name-good')?.id).toBe('good');
    expect(registry.damaged()).toMatchObject([
      { id: 'late', reason: 'duplicate-name', file: join(aside, 'late.json'), salvaged: { vmId: 'vm-7' } },
    ]);
    expect(warnings).toHaveLength(1);
    // The name's owner keeps working; the late record's id stays reserved.
    await registry.put(makeRecord('good', { createdAt: 500, updatedAt: 3_000 }));
    expect(await rejection(registry.put(makeRecord('late', { name: 'other' })))).toMatchObject({
      codeName: 'INVALID_STATE',
    });
  });

  it('a damaged file repaired and moved back is a session again; one repaired in place is reported', async () => {
    await writeFile(join(sessions, 'victim.json'), full('victim').slice(0, 200));
    const first = await openRegistry();
    await first.registry.close();
    // Repaired in place: reported as such, still reserved.
    await writeFile(join(aside, 'victim.json'), full('victim'));
    const second = await openRegistry();
    expect(second.registry.damaged()).toMatchObject([{ id: 'victim', reason: 'set-aside' }]);
    await second.registry.close();
    // Moved back: loaded.
    await rename(join(aside, 'victim.json'), join(sessions, 'victim.json'));
    const third = await openRegistry();
    expect(third.registry.damaged()).toEqual([]);
    expect(third.registry.find('local', 'name-victim')?.id).toBe('victim');
  });

  it('a second damaged file of the same id does not overwrite the first one set aside', async () => {
    await writeFile(join(sessions, 'victim.json'), 'first');
    await (await openRegistry()).registry.close();
    await writeFile(join(sessions, 'victim.json'), 'second');
    const { registry } = await openRegistry();
    expect(
      registry
        .damaged()
        .map((d) => d.file)
        .sort(),
    ).toEqual([join(aside, 'victim.json'), join(aside, 'victim.json.1')]);
    expect(await readFile(join(aside, 'victim.json'), 'utf8')).toBe('first');
    expect(await readFile(join(aside, 'victim.json.1'), 'utf8')).toBe('second');
  });
});
