import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/registry-test-support.js';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import { openSessionRegistry } from './file-session-registry.js';
import { observeLock } from './registry-lock.js';
import type { SessionRegistry } from './session-registry.js';

const posix = process.platform !== 'win32';
let dir: string;
const open: SessionRegistry[] = [];

async function openRegistry(options: Partial<Parameters<typeof openSessionRegistry>[0]> = {}) {
  const registry = await openSessionRegistry({ directory: dir, ...options });
  open.push(registry);
  return registry;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cvmweb-registry-'));
});

afterEach(async () => {
  for (const registry of open.splice(0)) await registry.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openSessionRegistry: records', () => {
  it('persists records one file each and reads them back after reopening', async () => {
    const registry = await openRegistry();
    expect(registry.directory).toBe(dir);
    await registry.put(makeRecord('a', { properties: { k: 'v' } }));
    await registry.put(makeRecord('b', { scope: 'https://example.org', name: 'web' }));
    expect(registry.get('a')?.properties).toEqual({ k: 'v' });
    expect(registry.list().map((r) => r.id)).toEqual(['a', 'b']);
    expect((await readdir(join(dir, 'sessions'))).sort()).toEqual(['a.json', 'b.json']);
    if (posix) {
      expect((await stat(join(dir, 'sessions', 'a.json'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'sessions'))).mode & 0o777).toBe(0o700);
    }
    await registry.close();

    const again = await openRegistry();
    expect(again.get('a')).toEqual(makeRecord('a', { properties: { k: 'v' } }));
    expect(again.find('https://example.org', 'web')?.id).toBe('b');
  });

  it('finds by scope and name, follows renames, refuses a name another record holds', async () => {
    const registry = await openRegistry();
    await registry.put(makeRecord('a', { scope: 's1', name: 'n' }));
    await registry.put(makeRecord('b', { scope: 's2', name: 'n' }));
    expect(registry.find('s1', 'n')?.id).toBe('a');
    expect(registry.find('s2', 'n')?.id).toBe('b');
    expect(registry.find('s1', 'other')).toBeUndefined();
    const error = await rejection(registry.put(makeRecord('c', { scope: 's1', name: 'n' })));
    expect(error).toMatchObject({ codeName: 'INVALID_USAGE', details: { field: 'name', existingId: 'a' } });
    expect(registry.get('c')).toBeUndefined();
    await registry.put(makeRecord('a', { scope: 's1', name: 'renamed' }));
    expect(registry.find('s1', 'n')).toBeUndefined();
    expect(registry.find('s1', 'renamed')?.id).toBe('a');
    await registry.delete('a');
    expect(registry.find('s1', 'renamed')).toBeUndefined();
    expect(registry.get('a')).toBeUndefined();
    await registry.delete('a'); // unknown: resolves
    expect(await readdir(join(dir, 'sessions'))).toEqual(['b.json']);
  });

  it('rejects invalid records with INVALID_USAGE and keeps its own frozen copy', async () => {
    const registry = await openRegistry();
    for (const [field, bad] of [
      ['id', makeRecord('../evil')],
      ['state', makeRecord('x', { state: 9 as never })],
      ['owner', makeRecord('x', { owner: { algorithm: 'plain' } as never })],
    ] as const) {
      expect(await rejection(registry.put(bad))).toMatchObject({
        codeName: 'INVALID_USAGE',
        details: { field },
      });
    }
    const mutable = makeRecord('m', { properties: { a: '1' } });
    await registry.put(mutable);
    (mutable.properties as Record<string, string>).a = 'changed';
    expect(registry.get('m')?.properties.a).toBe('1');
    expect(Object.isFrozen(registry.get('m'))).toBe(true);
    expect(Object.isFrozen(registry.get('m')?.properties)).toBe(true);
  });

  it('serialises writes to one record: the last call wins on disk and in memory', async () => {
    const registry = await openRegistry();
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => registry.put(makeRecord('s', { updatedAt: 2_000 + i }))),
    );
    expect(registry.get('s')?.updatedAt).toBe(2_024);
    const onDisk = JSON.parse(await readFile(join(dir, 'sessions', 's.json'), 'utf8'));
    expect(onDisk.updatedAt).toBe(2_024);
    expect(await readdir(join(dir, 'sessions'))).toEqual(['s.json']);
  });

  it('works without fsync (durable: false)', async () => {
    const registry = await openRegistry({ durable: false });
    await registry.put(makeRecord('a'));
    await registry.close();
    expect((await openRegistry({ durable: false })).get('a')?.id).toBe('a');
  });

  it('rejects writes after close with INVALID_STATE and aborted writes with CONTROL', async () => {
    const registry = await openRegistry();
    const controller = new AbortController();
    controller.abort();
    expect(await rejection(registry.put(makeRecord('a'), { signal: controller.signal }))).toMatchObject({
      codeName: 'CONTROL',
      aborted: true,
    });
    expect(registry.get('a')).toBeUndefined();
    await registry.close();
    await registry.close(); // idempotent
    expect(await rejection(registry.put(makeRecord('a')))).toMatchObject({ codeName: 'INVALID_STATE' });
    expect(await rejection(registry.delete('a'))).toMatchObject({ codeName: 'INVALID_STATE' });
  });
});

describe('openSessionRegistry: crash recovery', () => {
  it('survives a crash mid-write: leftover and half-written tmp files are ignored and removed', async () => {
    const registry = await openRegistry();
    await registry.put(makeRecord('a', { updatedAt: 1 }));
    await registry.put(makeRecord('b', { updatedAt: 1 }));
    await registry.close();
    const sessions = join(dir, 'sessions');
    // A complete new version that was never renamed, and a torn one.
    await writeFile(
      join(sessions, 'a.json.0011aabbccdd.tmp'),
      JSON.stringify(makeRecord('a', { updatedAt: 2 })),
    );
    await writeFile(join(sessions, 'b.json.eeff00112233.tmp'), JSON.stringify(makeRecord('b')).slice(0, 57));

    const again = await openRegistry();
    expect(again.get('a')).toEqual(makeRecord('a', { updatedAt: 1 }));
    expect(again.get('b')).toEqual(makeRecord('b', { updatedAt: 1 }));
    expect((await readdir(sessions)).sort()).toEqual(['a.json', 'b.json']);
  });

  it('sets unparsable and invalid records aside, reporting them through onWarning', async () => {
    const sessions = join(dir, 'sessions');
    await (await openRegistry()).put(makeRecord('good'));
    for (const registry of open.splice(0)) await registry.close();
    await writeFile(join(sessions, 'torn.json'), '{"id": "torn", "sco');
    await writeFile(join(sessions, 'invalid.json'), JSON.stringify({ ...makeRecord('invalid'), state: 42 }));
    await writeFile(join(sessions, 'wrongname.json'), JSON.stringify(makeRecord('other')));
    await writeFile(
      join(sessions, 'dupe.json'),
      JSON.stringify(makeRecord('dupe', { name: 'name-good', createdAt: 2_000 })),
    );
    await writeFile(join(sessions, 'README'), 'not a record');
    const warnings: string[] = [];
    const registry = await openRegistry({ onWarning: (_message, { file }) => warnings.push(file) });
    expect(registry.list().map((r) => r.id)).toEqual(['good']);
    expect(warnings.map((w) => w.slice(sessions.length + 1)).sort()).toEqual([
      'dupe.json',
      'invalid.json',
      'torn.json',
      'wrongname.json',
    ]);
    expect(
      registry
        .damaged()
        .map((d) => d.reason)
        .sort(),
    ).toEqual(['duplicate-name', 'id-mismatch', 'invalid', 'not-json']);
    // Moved aside for inspection; what is not a record is not touched.
    expect((await readdir(sessions)).sort()).toEqual(['README', 'good.json']);
    expect((await readdir(join(dir, 'damaged'))).sort()).toEqual([
      'dupe.json',
      'invalid.json',
      'torn.json',
      'wrongname.json',
    ]);
  });
});

describe('openSessionRegistry: a start that fails', () => {
  it('after taking the lock: removes the folder it made and releases the lock', async () => {
    await mkdir(join(dir, 'damaged'));
    await writeFile(join(dir, 'damaged', 'x.json'), 'torn');
    const controller = new AbortController();
    const error = await rejection(
      openSessionRegistry({ directory: dir, signal: controller.signal, onWarning: () => controller.abort() }),
    );
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(await readdir(dir)).toEqual(['damaged']);
    expect(await readdir(join(dir, 'damaged'))).toEqual(['x.json']);
  });

  it('never removes the sessions folder from under a registry that is open: writes make it again', async () => {
    const registry = await openRegistry();
    await rm(join(dir, 'sessions'), { recursive: true });
    await registry.put(makeRecord('a'));
    expect(await readdir(join(dir, 'sessions'))).toEqual(['a.json']);
  });
});

describe('openSessionRegistry: lock', () => {
  it('refuses a second writer with STILL_WORKING while the first is open, and allows it after close', async () => {
    const first = await openRegistry();
    const lock = JSON.parse(await readFile(join(dir, 'registry.lock'), 'utf8'));
    expect(lock).toMatchObject({ pid: process.pid });
    expect(typeof lock.startedAt).toBe('number');

    const error = await rejection(openSessionRegistry({ directory: dir }));
    expect(isHypervisorError(error)).toBe(true);
    expect(error).toMatchObject({ codeName: 'STILL_WORKING', details: { pid: process.pid, directory: dir } });
    expect((error as Error).message).toBe(
      `The session registry at ${dir} is in use by process ${process.pid}`,
    );

    await first.close();
    await expect(readFile(join(dir, 'registry.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    const second = await openRegistry();
    await second.put(makeRecord('a'));
  });

  it('takes over a stale lock whose process is gone', async () => {
    const pid = await deadPid();
    await writeFile(join(dir, 'registry.lock'), JSON.stringify({ pid, startedAt: 5 }));
    const registry = await openRegistry();
    expect(JSON.parse(await readFile(join(dir, 'registry.lock'), 'utf8')).pid).toBe(process.pid);
    await registry.put(makeRecord('a'));
  });

  it('treats a fresh unreadable lock as busy and an old one as stale', async () => {
    const file = join(dir, 'registry.lock');
    await writeFile(file, '');
    expect(await rejection(openSessionRegistry({ directory: dir }))).toMatchObject({
      codeName: 'STILL_WORKING',
    });
    const { utimes } = await import('node:fs/promises');
    await utimes(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await openRegistry();
  });

  it('writes the lock whole (pid, startedAt, nonce) and leaves no temporary file', async () => {
    await openRegistry();
    const lock = JSON.parse(await readFile(join(dir, 'registry.lock'), 'utf8'));
    expect(lock).toEqual({ pid: process.pid, startedAt: expect.any(Number), nonce: expect.any(String) });
    expect((await readdir(dir)).sort()).toEqual(['registry.lock', 'sessions']);
  });

  it('takes over a stale lock whose takeover marker a dead process left, and sweeps the leftovers', async () => {
    const pid = await deadPid();
    const file = join(dir, 'registry.lock');
    const dead = (nonce: string) => JSON.stringify({ pid, startedAt: 5, nonce });
    await writeFile(file, dead('a'));
    const seen = await observeLock(file);
    if (seen.state !== 'held') throw new Error('no lock');
    // A process died after marking its takeover of this very lock, another one left its temporary file.
    await writeFile(`${file}.break-${seen.key}`, dead('b'));
    await writeFile(join(dir, `registry.lock.${pid}.0123456789abcdef.tmp`), dead('c'));
    await writeFile(join(dir, 'registry.lock.break-0000000000000000'), dead('d'));
    await openRegistry();
    expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(process.pid);
    expect((await readdir(dir)).sort()).toEqual(['registry.lock', 'sessions']);
  });

  it('leaves a stale lock alone while a live process is taking it over (STILL_WORKING)', async () => {
    const file = join(dir, 'registry.lock');
    const stale = JSON.stringify({ pid: await deadPid(), startedAt: 5, nonce: 'x' });
    await writeFile(file, stale);
    const seen = await observeLock(file);
    if (seen.state !== 'held') throw new Error('no lock');
    // A live process (this one) marked its takeover of this very lock.
    const marker = `${file}.break-${seen.key}`;
    const live = JSON.stringify({ pid: process.pid, startedAt: 6, nonce: 'y' });
    await writeFile(marker, live);
    expect(await rejection(openSessionRegistry({ directory: dir }))).toMatchObject({
      codeName: 'STILL_WORKING',
      details: { directory: dir },
    });
    expect(await readFile(file, 'utf8')).toBe(stale);
    expect(await readFile(marker, 'utf8')).toBe(live);
    // A refused start leaves no file of its own (the folders stay: another process may be using them).
    expect((await readdir(dir)).sort()).toEqual([
      'registry.lock',
      `registry.lock.break-${seen.key}`,
      'sessions',
    ]);
  });

  it('close() leaves a lock that is no longer its own', async () => {
    const registry = await openRegistry();
    const foreign = JSON.stringify({ pid: 999_999_999, startedAt: 1 });
    await writeFile(join(dir, 'registry.lock'), foreign);
    await registry.close();
    expect(await readFile(join(dir, 'registry.lock'), 'utf8')).toBe(foreign);
  });
});

describe('openSessionRegistry: readOnly', () => {
  it('reads while a writer holds the lock, changes nothing, and rejects writes with NOT_ALLOWED', async () => {
    const writer = await openRegistry();
    await writer.put(makeRecord('a'));
    const tmp = join(dir, 'sessions', 'a.json.123456789abc.tmp');
    await writeFile(tmp, 'in flight');

    const reader = await openRegistry({ readOnly: true });
    expect(reader.get('a')?.id).toBe('a');
    expect(reader.find('local', 'name-a')?.id).toBe('a');
    for (const promise of [reader.put(makeRecord('b')), reader.delete('a'), reader.reconcile({} as never)]) {
      expect(await rejection(promise)).toMatchObject({ codeName: 'NOT_ALLOWED' });
    }
    await reader.close();
    expect(await readFile(tmp, 'utf8')).toBe('in flight'); // the writer's file is not the reader's to delete
    expect(JSON.parse(await readFile(join(dir, 'registry.lock'), 'utf8')).pid).toBe(process.pid);
    await writer.put(makeRecord('b'));
  });

  it('reads a missing directory as empty without creating it', async () => {
    const missing = join(dir, 'nope');
    const reader = await openSessionRegistry({ directory: missing, readOnly: true });
    expect(reader.list()).toEqual([]);
    await reader.close();
    await expect(stat(missing)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a missing directory option with INVALID_USAGE', async () => {
    expect(await rejection(openSessionRegistry({ directory: '' }))).toMatchObject({
      codeName: 'INVALID_USAGE',
      details: { field: 'directory' },
    });
  });
});
