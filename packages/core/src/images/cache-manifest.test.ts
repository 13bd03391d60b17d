import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Manifest, ManifestStore } from './cache-manifest.js';

const sha256 = 'a'.repeat(64);
const valid: Manifest = {
  format: 1,
  sha256,
  file: `${sha256}.iso`,
  size: 10,
  mtimeMs: 1,
  url: 'https://example.org/test.iso',
  role: 'image',
  kind: 'iso',
  versions: ['1.0'],
  lastUsed: 2,
  verifiedAt: 3,
};

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvmweb-manifest-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('ManifestStore', () => {
  it('reads back a manifest it wrote', async () => {
    const store = new ManifestStore(directory);
    await store.update(sha256, () => valid);
    expect(await store.read(sha256)).toEqual(valid);
    expect(await store.all(undefined)).toEqual([valid]);
  });

  it('treats a manifest that does not fit its schema or its file name as missing', async () => {
    const store = new ManifestStore(directory);
    for (const bad of [
      { ...valid, format: 2 },
      { ...valid, sha256: 'b'.repeat(64) },
      { ...valid, file: `${sha256}.json` },
      { ...valid, file: `../${sha256}.iso` },
      { ...valid, file: 'other.iso' },
      { ...valid, size: '10' },
      { ...valid, role: 'kernel' },
      { ...valid, kind: 'floppy' },
      { ...valid, versions: [1] },
      { ...valid, lastUsed: undefined },
      [valid],
    ]) {
      await writeFile(store.pathOf(sha256), JSON.stringify(bad));
      expect(await store.read(sha256), JSON.stringify(bad)).toBeUndefined();
    }
    await writeFile(store.pathOf(sha256), '{"format":1,');
    expect(await store.read(sha256)).toBeUndefined();
  });
});
