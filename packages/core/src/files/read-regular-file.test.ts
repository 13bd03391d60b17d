import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRegularFile } from './read-regular-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cvmweb-read-regular-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readRegularFile', () => {
  it('reads a regular file, and reports FIFOs, directories and (unfollowed) links without opening them', async () => {
    await writeFile(join(dir, 'file'), 'text');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    await mkdir(join(dir, 'dir'));
    await symlink(join(dir, 'file'), join(dir, 'link'));
    expect(await readRegularFile(join(dir, 'file'))).toEqual({ kind: 'file', text: 'text' });
    expect(await readRegularFile(join(dir, 'fifo'))).toEqual({ kind: 'special', what: 'a FIFO' });
    expect(await readRegularFile(join(dir, 'dir'))).toEqual({ kind: 'special', what: 'a directory' });
    expect(await readRegularFile(join(dir, 'link'))).toEqual({ kind: 'file', text: 'text' });
    expect(await readRegularFile(join(dir, 'link'), { followLinks: false })).toEqual({
      kind: 'special',
      what: 'a symbolic link',
    });
    expect(await readRegularFile(join(dir, 'file'), { maxBytes: 2 })).toEqual({ kind: 'too-large', size: 4 });
  });

  it('rejects a missing file with ENOENT and an aborted read with CONTROL', async () => {
    await expect(readRegularFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    const controller = new AbortController();
    controller.abort();
    await expect(readRegularFile(join(dir, 'missing'), { signal: controller.signal })).rejects.toMatchObject({
      codeName: 'CONTROL',
      aborted: true,
    });
  });
});
