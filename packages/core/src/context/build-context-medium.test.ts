import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import {
  type BuildContextMediumOptions,
  buildContextMedium,
  MAX_USER_DATA_BYTES,
} from './build-context-medium.js';

// Reads the media back with isoinfo (Debian package genisoimage).
const root = mkdtempSync(join(tmpdir(), 'cvmweb-context-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let directoryCounter = 0;
function freshDirectory(): string {
  const directory = join(root, `vm-${directoryCounter++}`);
  mkdirSync(directory);
  return directory;
}

function isoinfo(args: readonly string[]): Buffer {
  return execFileSync('isoinfo', args, { maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

function options(overrides: Partial<BuildContextMediumOptions>): BuildContextMediumOptions {
  return {
    format: 'cloud-init',
    userData: '#cloud-config\n',
    directory: freshDirectory(),
    instanceId: 'iid-1',
    hostname: 'vm-1',
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    expect(isHypervisorError(error)).toBe(true);
    return error;
  }
  throw new Error('expected a rejection');
}

describe('buildContextMedium', () => {
  it('writes a cloud-init NoCloud seed as context.iso', async () => {
    const directory = freshDirectory();
    const userData = '#cloud-config\nusers:\n  - name: ünïcode\n';
    const medium = await buildContextMedium(
      options({ directory, userData, instanceId: 'iid-abc', hostname: 'worker.example' }),
    );
    expect(medium).toEqual({ format: 'cloud-init', path: join(directory, 'context.iso'), size: medium.size });
    expect(statSync(medium.path).size).toBe(medium.size);
    expect(readdirSync(directory)).toEqual(['context.iso']);
    const info = isoinfo(['-d', '-i', medium.path]).toString('utf8');
    expect(info).toMatch(/^Volume id: CIDATA$/m);
    expect(info).toContain('Joliet with UCS level 3 found');
    expect(isoinfo(['-J', '-x', '/user-data', '-i', medium.path]).toString('utf8')).toBe(userData);
    expect(isoinfo(['-J', '-x', '/meta-data', '-i', medium.path]).toString('utf8')).toBe(
      "instance-id: 'iid-abc'\nlocal-hostname: 'worker.example'\n",
    );
    const joliet = readFileSync(medium.path).subarray(17 * 2048 + 40, 17 * 2048 + 52);
    expect(Buffer.from(joliet).swap16().toString('utf16le')).toBe('cidata');
  });

  it('writes a CernVM CONTEXT.SH medium', async () => {
    const userData = '[amiconfig]\nplugins=cernvm\n[cernvm]\nusers=user:users:secret\n';
    const medium = await buildContextMedium(options({ format: 'cernvm', userData }));
    expect(medium.format).toBe('cernvm');
    expect(isoinfo(['-d', '-i', medium.path]).toString('utf8')).toMatch(/^Volume id: CONTEXT_INFO$/m);
    const contents = isoinfo(['-x', '/CONTEXT.SH;1', '-i', medium.path]).toString('utf8');
    const encoded = Buffer.from(userData).toString('base64');
    expect(contents).toBe(`EC2_USER_DATA="${encoded}"\nONE_CONTEXT_PATH="/var/lib/amiconfig"\n`);
    expect(isoinfo(['-J', '-x', '/context.sh', '-i', medium.path]).toString('utf8')).toBe(contents);
  });

  it('replaces an existing medium', async () => {
    const directory = freshDirectory();
    writeFileSync(join(directory, 'context.iso'), 'old');
    const medium = await buildContextMedium(options({ directory, userData: 'new' }));
    expect(isoinfo(['-J', '-x', '/user-data', '-i', medium.path]).toString('utf8')).toBe('new');
    expect(readdirSync(directory)).toEqual(['context.iso']);
  });

  it('accepts user data of exactly the limit', async () => {
    const userData = 'u'.repeat(MAX_USER_DATA_BYTES);
    const medium = await buildContextMedium(options({ format: 'cernvm', userData }));
    const contents = isoinfo(['-x', '/CONTEXT.SH;1', '-i', medium.path]).toString('utf8');
    expect(contents).toContain(Buffer.from(userData).toString('base64'));
  });

  it('rejects user data over the limit, counted in UTF-8 bytes', async () => {
    for (const userData of ['u'.repeat(MAX_USER_DATA_BYTES + 1), 'é'.repeat(MAX_USER_DATA_BYTES / 2 + 1)]) {
      const error = await rejection(buildContextMedium(options({ userData })));
      expect(error).toMatchObject({ codeName: 'INVALID_USAGE', details: { field: 'userData' } });
    }
  });

  it.each([
    ['format', { format: 'floppy' as never }],
    ['userData', { userData: 1 as never }],
    ['directory', { directory: '' }],
    ['instanceId', { instanceId: 'bad id' }],
    ['hostname', { hostname: 'bad_host' }],
  ])('rejects a bad %s with INVALID_USAGE', async (field, overrides) => {
    const error = await rejection(buildContextMedium(options(overrides)));
    expect(error).toMatchObject({ codeName: 'INVALID_USAGE', details: { field } });
  });

  it('does not use the instance id and host name for the cernvm format', async () => {
    const medium = await buildContextMedium(options({ format: 'cernvm', instanceId: '', hostname: '' }));
    expect(medium.size).toBeGreaterThan(0);
  });

  it('rejects with IO when the directory does not exist', async () => {
    const error = await rejection(buildContextMedium(options({ directory: join(root, 'missing', 'dir') })));
    expect(error).toMatchObject({ codeName: 'IO', code: -6 });
    expect((error as Error).cause).toMatchObject({ code: 'ENOENT' });
  });

  it('rejects with IO and leaves no temporary file when the rename fails', async () => {
    const directory = freshDirectory();
    mkdirSync(join(directory, 'context.iso', 'occupied'), { recursive: true });
    const error = await rejection(buildContextMedium(options({ directory })));
    expect(error).toMatchObject({ codeName: 'IO' });
    expect(readdirSync(directory)).toEqual(['context.iso']);
  });

  it('rejects with an aborted CONTROL error when the signal is aborted', async () => {
    const directory = freshDirectory();
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(buildContextMedium(options({ directory, signal: controller.signal })));
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(readdirSync(directory)).toEqual([]);
  });
});
