import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open as openFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriver } from '../../test/fake-driver.js';
import { makeRecord } from '../../test/registry-test-support.js';
import { createCvmweb } from '../create-cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { openSessionRegistry } from './file-session-registry.js';
import type { SessionRegistry } from './session-registry.js';

// A small tmpfs that the test mounts, fills to the last byte and frees again, so every registry
// write meets a real ENOSPC. Needs mount permission (root); skipped with the reason otherwise.

let base: string;
let mount: string;
let skipReason: string | undefined;
const open: SessionRegistry[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'cvmweb-full-disk-'));
  mount = join(base, 'fs');
  await mkdir(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mount], { stdio: 'pipe' });
  } catch (error) {
    skipReason = `cannot mount a tmpfs here (needs root): ${String((error as { stderr?: unknown }).stderr ?? error).trim()}`;
  }
});

afterAll(async () => {
  for (const registry of open.splice(0)) await registry.close().catch(() => undefined);
  if (!skipReason) execFileSync('umount', [mount]);
  await rm(base, { recursive: true, force: true });
});

afterEach(async () => {
  for (const registry of open.splice(0)) await registry.close().catch(() => undefined);
  if (skipReason) return;
  for (const name of await readdir(mount)) await rm(join(mount, name), { recursive: true, force: true });
});

/** Fills the file system to its last byte with `<mount>/filler`. */
async function fillDisk(): Promise<void> {
  const handle = await openFile(join(mount, 'filler'), 'a');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) await handle.write(chunk);
  } catch (error) {
    expect(error).toMatchObject({ code: 'ENOSPC' });
  } finally {
    await handle.close();
  }
  // Whatever bytes fit in a last partial page.
  await writeFile(join(mount, 'filler2'), Buffer.alloc(1)).catch(() => undefined);
}

async function freeDisk(): Promise<void> {
  await rm(join(mount, 'filler'), { force: true });
  await rm(join(mount, 'filler2'), { force: true });
}

async function registry(directory: string): Promise<SessionRegistry> {
  const opened = await openSessionRegistry({ directory });
  open.push(opened);
  return opened;
}

/** Every entry below `directory`, relative, sorted. */
async function tree(directory: string): Promise<string[]> {
  return (await readdir(directory, { recursive: true })).map(String).sort();
}

describe('openSessionRegistry on a full disk', () => {
  it('a failed start (IO) leaves nothing behind; the next start succeeds at once', async (context) => {
    if (skipReason) return context.skip(skipReason);
    const directory = join(mount, 'state');
    await fillDisk();
    await expect(openSessionRegistry({ directory })).rejects.toMatchObject({ codeName: 'IO' });
    // No lock, no temporary file, not even the directories it made.
    expect((await readdir(mount)).filter((name) => !name.startsWith('filler'))).toEqual([]);
    await expect(readdir(directory)).rejects.toMatchObject({ code: 'ENOENT' });

    // An existing registry, with a damaged record too: its files stay as they were.
    await freeDisk();
    await mkdir(join(directory, 'sessions'), { recursive: true });
    await writeFile(join(directory, 'sessions', 'a.json'), JSON.stringify(makeRecord('a'), null, 2));
    await writeFile(join(directory, 'sessions', 'torn.json'), '{"id": "torn"');
    await fillDisk();
    await expect(openSessionRegistry({ directory })).rejects.toMatchObject({ codeName: 'IO' });
    expect(await tree(directory)).toEqual(['sessions', 'sessions/a.json', 'sessions/torn.json']);

    await freeDisk();
    const reopened = await registry(directory);
    expect(reopened.get('a')?.id).toBe('a');
    expect(reopened.damaged().map((d) => d.file)).toEqual([join(directory, 'damaged', 'torn.json')]);
    expect(JSON.parse(await readFile(join(directory, 'registry.lock'), 'utf8')).pid).toBe(process.pid);
  });

  it('a write that fails (IO) leaves the old record on disk and in memory, and no temporary file', async (context) => {
    if (skipReason) return context.skip(skipReason);
    const directory = join(mount, 'state');
    const opened = await registry(directory);
    await opened.put(makeRecord('a', { updatedAt: 1 }));
    await opened.put(makeRecord('c'));
    const before = await readFile(join(directory, 'sessions', 'a.json'), 'utf8');
    await fillDisk();

    // A new record, a changed record, a delete.
    await expect(opened.put(makeRecord('b'))).rejects.toMatchObject({ codeName: 'IO' });
    await expect(
      opened.put(makeRecord('a', { updatedAt: 2, userData: 'x'.repeat(8192) })),
    ).rejects.toMatchObject({
      codeName: 'IO',
    });
    // Deleting needs no space.
    await opened.delete('c');
    expect(opened.get('c')).toBeUndefined();
    expect(opened.get('b')).toBeUndefined();
    expect(opened.get('a')?.updatedAt).toBe(1);
    expect(await readFile(join(directory, 'sessions', 'a.json'), 'utf8')).toBe(before);
    expect(await tree(directory)).toEqual(['registry.lock', 'sessions', 'sessions/a.json']);

    // The registry stays usable once there is space again, and closing releases the lock.
    await freeDisk();
    await opened.put(makeRecord('b'));
    await opened.delete('a');
    await opened.close();
    expect(await tree(directory)).toEqual(['sessions', 'sessions/b.json']);
  });

  it('createCvmweb on a full disk fails with IO and leaves nothing; the next start works at once', async (context) => {
    if (skipReason) return context.skip(skipReason);
    const stateDir = join(mount, 'state');
    const options = {
      driver: new FakeDriver(),
      stateDir,
      images: new ImageCache({ directory: join(base, 'cache') }),
      env: {},
    };
    await fillDisk();
    await expect(createCvmweb(options)).rejects.toMatchObject({ codeName: 'IO', code: -6 });
    expect((await readdir(mount)).filter((name) => !name.startsWith('filler'))).toEqual([]);
    await freeDisk();
    const cvmweb = await createCvmweb(options);
    await cvmweb.dispose();
    expect(await tree(stateDir)).toEqual(['sessions']);
  });
});
