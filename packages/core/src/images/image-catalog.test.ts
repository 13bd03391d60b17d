import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors/error-code.js';
import { type HypervisorError, isHypervisorError } from '../errors/hypervisor-error.js';
import {
  cernvmImageUrl,
  DEFAULT_IMAGE_ENTRIES,
  ImageCatalog,
  type ImageEntry,
  validateImageEntry,
} from './image-catalog.js';

const SHA = 'a'.repeat(64);
const valid: ImageEntry = {
  version: 'lab-1.0',
  url: 'https://example.org/lab.iso',
  sha256: SHA,
  kind: 'iso',
  context: 'cloud-init',
};

function thrown(action: () => unknown): HypervisorError {
  try {
    action();
  } catch (error) {
    if (isHypervisorError(error)) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  try {
    await promise;
  } catch (error) {
    if (isHypervisorError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('ImageCatalog defaults', () => {
  it('has the micro-CernVM versions of the original plugin, verified by published checksums', () => {
    const catalog = new ImageCatalog();
    expect(catalog.versions()).toEqual(['1.3', '1.11']);
    const entry = catalog.get('1.3');
    expect(entry.url).toBe(
      'https://cernvm.cern.ch/releases/ucernvm-images.1.3.cernvm.x86_64/ucernvm-prod.1.3.cernvm.x86_64.iso',
    );
    expect(entry).toMatchObject({ kind: 'iso', context: 'cernvm', sha256Url: `${entry.url}.sha256` });
    expect(entry.sha256).toBeUndefined();
    expect(cernvmImageUrl('1.11', 'devel')).toContain(
      '/ucernvm-images.1.11.cernvm.x86_64/ucernvm-devel.1.11.',
    );
    for (const defaultEntry of DEFAULT_IMAGE_ENTRIES)
      expect(validateImageEntry(defaultEntry)).toEqual(defaultEntry);
  });

  it('rejects an unknown version with NOT_FOUND', () => {
    const error = thrown(() => new ImageCatalog().get('9.9'));
    expect(error.code).toBe(ErrorCode.NOT_FOUND);
    expect(error.details).toEqual({ version: '9.9' });
  });

  it('lets a user entry replace a default, and removing it shows the default again', () => {
    const catalog = new ImageCatalog([{ ...valid, version: '1.3' }]);
    expect(catalog.get('1.3').url).toBe(valid.url);
    expect(catalog.list()).toHaveLength(2);
    expect(catalog.remove('1.3')).toBe(true);
    expect(catalog.get('1.3').url).toContain('cernvm.cern.ch');
  });

  it('can start without defaults', () => {
    expect(new ImageCatalog([valid], { defaults: [] }).versions()).toEqual(['lab-1.0']);
  });
});

describe('ImageCatalog.add validation', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['version', { version: '' }],
    ['version', { version: '-leading-dash' }],
    ['version', { version: 'has space' }],
    ['version', { version: 'x'.repeat(65) }],
    ['version', { version: 13 }],
    ['url', { url: 'ftp://example.org/x.iso' }],
    ['url', { url: 'relative/x.iso' }],
    ['url', { url: 'https://user:secret@example.org/x.iso' }],
    ['url', { url: undefined }],
    ['sha256', { sha256: 'A'.repeat(64) }],
    ['sha256', { sha256: 'a'.repeat(63) }],
    ['sha256', { sha256: undefined }],
    ['sha256Url', { sha256: undefined, sha256Url: 'javascript:alert(1)' }],
    ['kind', { kind: 'floppy' }],
    ['context', { context: 'ovf' }],
    ['initrdUrl', { kind: 'kernel' }],
    ['initrdSha256', { kind: 'kernel', initrdUrl: 'https://example.org/initrd' }],
    ['initrdSha256', { kind: 'kernel', initrdUrl: 'https://example.org/initrd', initrdSha256: 'nope' }],
    ['initrdUrl', { initrdUrl: 'https://example.org/initrd' }],
    ['cmdline', { cmdline: 'quiet' }],
    ['cmdline', { kind: 'kernel', initrdUrl: 'https://e.org/i', initrdSha256: SHA, cmdline: 'a\nb' }],
    ['diskFormat', { kind: 'disk', diskFormat: 'iso' }],
    ['diskFormat', { diskFormat: 'qcow2' }],
    ['size', { size: -1 }],
    ['size', { size: 1.5 }],
    ['size', { size: '100' }],
    ['description', { description: 'two\nlines' }],
  ];

  it.each(cases)('rejects a wrong %s with INVALID_USAGE naming the field (%j)', (field, overrides) => {
    const error = thrown(() => new ImageCatalog().add({ ...valid, ...overrides } as ImageEntry));
    expect(error.code).toBe(ErrorCode.INVALID_USAGE);
    expect(error.code).toBe(-99);
    expect(error.details['field']).toBe(field);
    expect(error.message).toContain(field);
  });

  it('rejects a value that is not an object', () => {
    expect(thrown(() => validateImageEntry(null)).details['field']).toBe('entry');
  });

  it('accepts complete entries of every kind, keeping only the known fields', () => {
    const catalog = new ImageCatalog([], { defaults: [] });
    const stored = catalog.add({ ...valid, extra: 'dropped' } as ImageEntry);
    expect(stored).toEqual(valid);
    expect(Object.isFrozen(stored)).toBe(true);
    catalog.add({
      version: 'disk',
      url: 'file:///var/images/base.qcow2',
      sha256: SHA,
      kind: 'disk',
      diskFormat: 'qcow2',
      context: 'cloud-init',
      size: 1024,
      description: 'A base disk',
    });
    catalog.add({
      version: 'k',
      url: 'http://example.org/vmlinuz',
      sha256Url: 'http://example.org/vmlinuz.sha256',
      kind: 'kernel',
      initrdUrl: 'http://example.org/initrd',
      initrdSha256: SHA,
      cmdline: 'console=ttyS0 quiet',
      context: 'cernvm',
    });
    expect(catalog.versions()).toEqual(['lab-1.0', 'disk', 'k']);
  });
});

describe('ImageCatalog files', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'cvmweb-catalog-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('saves the user entries atomically and loads them back', async () => {
    const path = join(directory, 'images.json');
    const catalog = new ImageCatalog([valid]);
    await catalog.save(path);
    expect(await readdir(directory)).toEqual(['images.json']);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ images: [valid] });
    const loaded = await ImageCatalog.load(path);
    expect(loaded.get('lab-1.0')).toEqual(valid);
    expect(loaded.versions()).toEqual(['1.3', '1.11', 'lab-1.0']);
  });

  it('accepts a bare array', async () => {
    const path = join(directory, 'images.json');
    await writeFile(path, JSON.stringify([valid]));
    expect((await ImageCatalog.load(path)).has('lab-1.0')).toBe(true);
  });

  it('names the entry and field of an invalid entry in a file', async () => {
    const path = join(directory, 'images.json');
    await writeFile(path, JSON.stringify({ images: [valid, { ...valid, sha256: 'bad' }] }));
    const error = await rejection(ImageCatalog.load(path));
    expect(error.code).toBe(ErrorCode.INVALID_USAGE);
    expect(error.details).toMatchObject({ field: 'images[1].sha256', path, index: 1 });
  });

  it('rejects a file that is not JSON or has no images array', async () => {
    const path = join(directory, 'images.json');
    await writeFile(path, '{ not json');
    expect((await rejection(ImageCatalog.load(path))).code).toBe(ErrorCode.INVALID_USAGE);
    await writeFile(path, '{"entries": []}');
    expect((await rejection(ImageCatalog.load(path))).details['field']).toBe('images');
  });

  it('rejects a FIFO or a directory without opening it (nothing hangs)', async () => {
    const fifo = join(directory, 'images.json');
    execFileSync('mkfifo', [fifo]);
    const error = await rejection(ImageCatalog.load(fifo, { missingOk: true }));
    expect(error).toMatchObject({ codeName: 'INVALID_USAGE', details: { path: fifo, field: 'images' } });
    expect(error.message).toContain('is a FIFO, not a catalog file');
    await mkdir(join(directory, 'dir.json'));
    expect((await rejection(ImageCatalog.load(join(directory, 'dir.json')))).message).toContain(
      'a directory',
    );
  });

  it('rejects a missing file with NOT_FOUND unless missingOk', async () => {
    const path = join(directory, 'missing.json');
    expect((await rejection(ImageCatalog.load(path))).codeName).toBe('NOT_FOUND');
    expect((await ImageCatalog.load(path, { missingOk: true })).versions()).toEqual(['1.3', '1.11']);
  });

  it('reports a failed save as IO', async () => {
    const error = await rejection(new ImageCatalog().save(join(directory, 'no', 'such', 'dir.json')));
    expect(error.codeName).toBe('IO');
    expect(error.cause).toBeInstanceOf(Error);
  });
});
