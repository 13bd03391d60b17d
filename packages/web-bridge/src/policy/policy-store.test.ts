import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '@cvmweb/core/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PolicyStore } from './policy-store.js';

// Core's writeFileAtomic (temporary file, fsync, rename, fsync of the directory), watched.
vi.mock('@cvmweb/core/node', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@cvmweb/core/node')>();
  return { ...actual, writeFileAtomic: vi.fn(actual.writeFileAtomic) };
});

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('PolicyStore writes', () => {
  it('go through core writeFileAtomic (durable, private mode)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvmweb-policy-'));
    dirs.push(dir);
    const file = join(dir, 'bridge-policy.json');
    const store = await PolicyStore.open({ file });
    await store.remember('https://site.example', 'allow');
    expect(vi.mocked(writeFileAtomic)).toHaveBeenCalledTimes(1);
    const [path, , options] = vi.mocked(writeFileAtomic).mock.calls[0]!;
    expect(path).toBe(file);
    expect(options).toMatchObject({ mode: 0o600 });
    expect(options?.durable).not.toBe(false);
    expect(JSON.parse(await readFile(file, 'utf8')).origins).toEqual({ 'https://site.example': 'allow' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await store.revoke('https://site.example');
    expect(vi.mocked(writeFileAtomic)).toHaveBeenCalledTimes(2);
    expect(JSON.parse(await readFile(file, 'utf8')).origins).toEqual({});
  });
});
