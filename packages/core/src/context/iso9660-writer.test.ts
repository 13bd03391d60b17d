import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import {
  ISO9660_SECTOR_SIZE,
  type Iso9660File,
  type Iso9660Options,
  MAX_ISO9660_IMAGE_BYTES,
  writeIso9660,
} from './iso9660-writer.js';

// These tests read the images back with independent implementations:
// isoinfo (Debian package genisoimage) and xorriso (package xorriso).
const workDirectory = mkdtempSync(join(tmpdir(), 'cvmweb-iso9660-'));
afterAll(() => rmSync(workDirectory, { recursive: true, force: true }));

let imageCounter = 0;
function saveImage(options: Iso9660Options): string {
  const path = join(workDirectory, `image-${imageCounter++}.iso`);
  writeFileSync(path, writeIso9660(options));
  return path;
}

function run(command: string, args: readonly string[]): Buffer {
  return execFileSync(command, args, { maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

function describeImage(iso: string): string {
  return run('isoinfo', ['-d', '-i', iso]).toString('utf8');
}

interface Entry {
  readonly name: string;
  readonly size: number;
  readonly directory: boolean;
}

/** Parses `isoinfo -l` output (root directory only); isoinfo prints Joliet names in ISO 8859-1. */
function listRoot(iso: string, joliet: boolean): Entry[] {
  const output = run('isoinfo', [...(joliet ? ['-J'] : []), '-l', '-i', iso]).toString('latin1');
  const entries: Entry[] = [];
  for (const line of output.split('\n')) {
    const match = /^([d-])\S+\s+\d+\s+\d+\s+\d+\s+(\d+)\s.*\]\s\s(.*) $/.exec(line);
    if (match) entries.push({ directory: match[1] === 'd', size: Number(match[2]), name: match[3] ?? '' });
  }
  return entries;
}

function fileNames(iso: string, joliet: boolean): string[] {
  return listRoot(iso, joliet)
    .filter((entry) => !entry.directory)
    .map((entry) => entry.name);
}

function extract(iso: string, path: string, joliet: boolean): Buffer {
  return run('isoinfo', [...(joliet ? ['-J'] : []), '-x', path, '-i', iso]);
}

interface RawRecord {
  readonly identifier: Buffer;
  readonly extent: number;
  readonly size: number;
  readonly flags: number;
}

/**
 * Checks the fields isoinfo and xorriso do not read (the big-endian halves, the
 * path tables, record padding) and returns the root records of one descriptor.
 */
function checkDescriptor(image: Buffer, sector: number): RawRecord[] {
  const base = sector * ISO9660_SECTOR_SIZE;
  const descriptor = image.subarray(base, base + ISO9660_SECTOR_SIZE);
  const both32 = (offset: number): number => {
    expect(descriptor.readUInt32BE(offset + 4)).toBe(descriptor.readUInt32LE(offset));
    return descriptor.readUInt32LE(offset);
  };
  const both16 = (offset: number): number => {
    expect(descriptor.readUInt16BE(offset + 2)).toBe(descriptor.readUInt16LE(offset));
    return descriptor.readUInt16LE(offset);
  };
  expect(descriptor.subarray(1, 7).toString('latin1')).toBe('CD001\u0001');
  expect(both32(80) * ISO9660_SECTOR_SIZE).toBe(image.length);
  expect([both16(120), both16(124), both16(128)]).toEqual([1, 1, ISO9660_SECTOR_SIZE]);
  expect(both32(132)).toBe(10);
  expect(descriptor[881]).toBe(1);
  const rootRecord = readRecord(descriptor, 156);
  expect(rootRecord.flags).toBe(2);
  for (const [location, littleEndian] of [
    [descriptor.readUInt32LE(140), true],
    [descriptor.readUInt32BE(148), false],
  ] as const) {
    const table = image.subarray(location * ISO9660_SECTOR_SIZE, location * ISO9660_SECTOR_SIZE + 10);
    expect([table[0], table[1], table[8], table[9]]).toEqual([1, 0, 0, 0]);
    expect(littleEndian ? table.readUInt32LE(2) : table.readUInt32BE(2)).toBe(rootRecord.extent);
    expect(littleEndian ? table.readUInt16LE(6) : table.readUInt16BE(6)).toBe(1);
  }
  const records: RawRecord[] = [];
  const directory = image.subarray(
    rootRecord.extent * ISO9660_SECTOR_SIZE,
    rootRecord.extent * ISO9660_SECTOR_SIZE + rootRecord.size,
  );
  for (let offset = 0; offset < directory.length; ) {
    if (directory[offset] === 0) {
      offset = (Math.floor(offset / ISO9660_SECTOR_SIZE) + 1) * ISO9660_SECTOR_SIZE;
      continue;
    }
    const record = readRecord(directory, offset);
    const length = directory[offset] ?? 0;
    expect(Math.floor(offset / ISO9660_SECTOR_SIZE)).toBe(
      Math.floor((offset + length - 1) / ISO9660_SECTOR_SIZE),
    );
    records.push(record);
    offset += length;
  }
  expect(records[0]).toMatchObject({ identifier: Buffer.from([0]), extent: rootRecord.extent, flags: 2 });
  expect(records[1]).toMatchObject({ identifier: Buffer.from([1]), extent: rootRecord.extent, flags: 2 });
  return records.slice(2);
}

function readRecord(buffer: Buffer, offset: number): RawRecord {
  const length = buffer[offset] ?? 0;
  const identifierLength = buffer[offset + 32] ?? 0;
  expect(length % 2).toBe(0);
  expect(length).toBe(33 + identifierLength + (identifierLength % 2 === 0 ? 1 : 0));
  expect(buffer.readUInt32BE(offset + 6)).toBe(buffer.readUInt32LE(offset + 2));
  expect(buffer.readUInt32BE(offset + 14)).toBe(buffer.readUInt32LE(offset + 10));
  expect([buffer.readUInt16LE(offset + 28), buffer.readUInt16BE(offset + 30)]).toEqual([1, 1]);
  return {
    identifier: Buffer.from(buffer.subarray(offset + 33, offset + 33 + identifierLength)),
    extent: buffer.readUInt32LE(offset + 2),
    size: buffer.readUInt32LE(offset + 10),
    flags: buffer[offset + 25] ?? 0,
  };
}

function bytesOf(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
}

function expectInvalid(options: Iso9660Options, field: string): void {
  let thrown: unknown;
  try {
    writeIso9660(options);
  } catch (error) {
    thrown = error;
  }
  expect(isHypervisorError(thrown)).toBe(true);
  expect(thrown).toMatchObject({ codeName: 'INVALID_USAGE', code: -99, details: { field } });
}

const seedFiles: Iso9660File[] = [
  { name: 'user-data', data: '#cloud-config\nhostname: test\n' },
  { name: 'meta-data', data: 'instance-id: iid-1\n' },
  { name: 'context.sh', data: 'EC2_USER_DATA="aGk="\n' },
];

describe('writeIso9660', () => {
  it('makes a sector-aligned image with a primary and a Joliet volume descriptor', () => {
    const image = writeIso9660({ volumeId: 'cidata', files: seedFiles });
    expect(image.length % ISO9660_SECTOR_SIZE).toBe(0);
    const iso = join(workDirectory, 'seed.iso');
    writeFileSync(iso, image);
    const info = describeImage(iso);
    expect(info).toContain('CD-ROM is in ISO 9660 format');
    expect(info).toMatch(/^Volume id: CIDATA$/m);
    expect(info).toMatch(/^Logical block size is: 2048$/m);
    expect(info).toMatch(new RegExp(`^Volume size is: ${image.length / ISO9660_SECTOR_SIZE}$`, 'm'));
    expect(info).toContain('Joliet with UCS level 3 found');
  });

  it('keeps the case of the volume id in the Joliet descriptor', () => {
    const image = writeIso9660({ volumeId: 'cidata', files: seedFiles });
    const joliet = Buffer.from(image.subarray(17 * ISO9660_SECTOR_SIZE, 18 * ISO9660_SECTOR_SIZE));
    expect(joliet.subarray(0, 6)).toEqual(Buffer.from([2, ...Buffer.from('CD001')]));
    expect(joliet.subarray(88, 91).toString('latin1')).toBe('%/E');
    expect(joliet.subarray(40, 52).swap16().toString('utf16le')).toBe('cidata');
  });

  it.skipIf(!existsSync('/usr/sbin/blkid') && !existsSync('/sbin/blkid'))(
    'is labelled with the Joliet volume id for blkid',
    () => {
      const iso = saveImage({ volumeId: 'cidata', files: seedFiles });
      const blkid = existsSync('/usr/sbin/blkid') ? '/usr/sbin/blkid' : '/sbin/blkid';
      const output = run(blkid, ['-p', '-s', 'LABEL', '-s', 'TYPE', iso]).toString('utf8');
      expect(output).toContain('LABEL="cidata"');
      expect(output).toContain('TYPE="iso9660"');
    },
  );

  it('names the files with d-characters in the primary tree and as given in the Joliet tree', () => {
    const iso = saveImage({ volumeId: 'cidata', files: seedFiles });
    expect(fileNames(iso, false)).toEqual(['CONTEXT.SH;1', 'META_DATA.;1', 'USER_DATA.;1']);
    expect(fileNames(iso, true)).toEqual(['context.sh', 'meta-data', 'user-data']);
    const root = listRoot(iso, false).filter((entry) => entry.directory);
    expect(root.map((entry) => [entry.name, entry.size])).toEqual([
      ['.', 2048],
      ['..', 2048],
    ]);
  });

  it('stores every file byte-exact in both trees', () => {
    const iso = saveImage({ volumeId: 'cidata', files: seedFiles });
    for (const file of seedFiles) {
      expect(extract(iso, `/${file.name}`, true)).toEqual(bytesOf(file.data));
    }
    expect(extract(iso, '/USER_DATA.;1', false)).toEqual(bytesOf(seedFiles[0]?.data ?? ''));
    expect(extract(iso, '/CONTEXT.SH;1', false)).toEqual(bytesOf(seedFiles[2]?.data ?? ''));
  });

  it('stores files larger than a sector, empty files, binary data and UTF-8 text', () => {
    const allBytes = Uint8Array.from({ length: 256 }, (_, index) => index);
    const files: Iso9660File[] = [
      { name: 'big.bin', data: randomBytes(5 * ISO9660_SECTOR_SIZE + 123) },
      { name: 'exact.bin', data: randomBytes(2 * ISO9660_SECTOR_SIZE) },
      { name: 'empty', data: '' },
      { name: 'empty-bytes', data: new Uint8Array(0) },
      { name: 'all-bytes', data: allBytes },
      { name: 'text.txt', data: 'grüße, 世界 ✓\n' },
      { name: 'tail', data: 'last' },
    ];
    const iso = saveImage({ volumeId: 'DATA', files });
    for (const file of files) {
      expect(extract(iso, `/${file.name}`, true)).toEqual(bytesOf(file.data));
    }
    expect(extract(iso, '/BIG.BIN;1', false)).toEqual(bytesOf(files[0]?.data ?? ''));
    expect(extract(iso, '/EMPTY.;1', false)).toEqual(Buffer.alloc(0));
    const sizes = Object.fromEntries(listRoot(iso, true).map((entry) => [entry.name, entry.size]));
    expect(sizes).toMatchObject({ 'big.bin': 5 * 2048 + 123, 'exact.bin': 4096, empty: 0, 'all-bytes': 256 });
  });

  it('spreads a root directory with many files over several sectors', () => {
    const files = Array.from({ length: 300 }, (_, index) => ({
      name: `file-number-${String(index).padStart(3, '0')}-with-a-long-name.txt`,
      data: `contents of file ${index}\n`,
    }));
    const iso = saveImage({ volumeId: 'MANY', files });
    const primary = listRoot(iso, false);
    const joliet = listRoot(iso, true);
    expect(primary.find((entry) => entry.name === '.')?.size).toBeGreaterThan(2 * ISO9660_SECTOR_SIZE);
    expect(joliet.find((entry) => entry.name === '.')?.size).toBeGreaterThan(4 * ISO9660_SECTOR_SIZE);
    expect(joliet.filter((entry) => !entry.directory).map((entry) => entry.name)).toEqual(
      files.map((file) => file.name),
    );
    expect(primary.filter((entry) => !entry.directory)).toHaveLength(300);
    for (const index of [0, 150, 299]) {
      const file = files[index];
      if (!file) throw new Error('missing test file');
      expect(extract(iso, `/${file.name}`, true).toString('utf8')).toBe(file.data);
    }
  });

  it('writes consistent both-endian fields, path tables and directory records', () => {
    const files: Iso9660File[] = [
      ...seedFiles,
      { name: 'empty', data: '' },
      { name: 'big.bin', data: randomBytes(3 * ISO9660_SECTOR_SIZE + 7) },
      ...Array.from({ length: 150 }, (_, index) => ({
        name: `n${index}-${'x'.repeat(index % 40)}`,
        data: `${index}`,
      })),
      // Last, so its extent would be past the end of an image without padding.
      { name: 'last-empty', data: '' },
    ];
    const image = Buffer.from(writeIso9660({ volumeId: 'cidata', files }));
    expect(image.subarray(0, 16 * ISO9660_SECTOR_SIZE).every((byte) => byte === 0)).toBe(true);
    expect(image.subarray(18 * ISO9660_SECTOR_SIZE, 18 * ISO9660_SECTOR_SIZE + 7)).toEqual(
      Buffer.from([255, ...Buffer.from('CD001'), 1]),
    );
    const primary = checkDescriptor(image, 16);
    const joliet = checkDescriptor(image, 17);
    const jolietNames = joliet.map((record) => Buffer.from(record.identifier).swap16().toString('utf16le'));
    expect(jolietNames).toEqual(files.map((file) => file.name).sort());
    expect(primary.map((record) => record.identifier.toString('latin1'))).toEqual(
      fileNames(saveImage({ volumeId: 'cidata', files }), false),
    );
    for (const [index, record] of joliet.entries()) {
      const file = files.find((candidate) => candidate.name === jolietNames[index]);
      if (!file) throw new Error('missing test file');
      const start = record.extent * ISO9660_SECTOR_SIZE;
      expect(record.flags).toBe(0);
      expect(record.extent).toBeLessThan(image.length / ISO9660_SECTOR_SIZE);
      expect(image.subarray(start, start + record.size)).toEqual(bytesOf(file.data));
      expect(primary.some((other) => other.extent === record.extent && other.size === record.size)).toBe(
        true,
      );
    }
  });

  it('is read the same by xorriso (libisofs)', () => {
    const files: Iso9660File[] = [
      ...seedFiles,
      { name: 'big.bin', data: randomBytes(3 * ISO9660_SECTOR_SIZE + 1) },
      { name: 'empty', data: '' },
      ...Array.from({ length: 120 }, (_, index) => ({ name: `extra-${index}.cfg`, data: `value=${index}` })),
    ];
    const iso = saveImage({ volumeId: 'cidata', files });
    const output = join(workDirectory, 'extracted');
    run('xorriso', ['-abort_on', 'WARNING', '-osirrox', 'on', '-indev', iso, '-extract', '/', output]);
    for (const file of files) {
      expect(readFileSync(join(output, file.name))).toEqual(bytesOf(file.data));
    }
    const check = run('xorriso', ['-abort_on', 'WARNING', '-indev', iso, '-check_media', '--']).toString(
      'utf8',
    );
    expect(check).not.toMatch(/-\s*(damaged|unreadable)/);
  });

  it('makes unique primary names when names collide after mapping', () => {
    const files: Iso9660File[] = [
      { name: 'user-data', data: 'a' },
      { name: 'user_data', data: 'b' },
      { name: 'USER.DATA', data: 'c' },
      { name: 'User-Data', data: 'd' },
      { name: 'a-very-long-file-name-that-does-not-fit-level-two.extension', data: 'e' },
      { name: '.hidden', data: 'f' },
      { name: 'ünïcode name', data: 'g' },
    ];
    const iso = saveImage({ volumeId: 'NAMES', files });
    const names = fileNames(iso, false);
    expect(new Set(names).size).toBe(files.length);
    expect(names).toEqual(
      expect.arrayContaining([
        'USER_DATA.;1',
        'USER_DATA_1.;1',
        'USER_DATA_2.;1',
        'USER.DATA;1',
        '.HIDDEN;1',
        '_N_CODE_NAME.;1',
      ]),
    );
    for (const name of names) {
      expect(name).toMatch(/^[A-Z0-9_]*\.[A-Z0-9_]{0,8};1$/);
      expect(name.length).toBeLessThanOrEqual(33);
    }
    expect(fileNames(iso, true)).toContain('ünïcode name');
    // isoinfo -x cannot take a name outside ASCII (its arguments are not converted), so xorriso reads that one.
    for (const file of files.slice(0, -1))
      expect(extract(iso, `/${file.name}`, true)).toEqual(bytesOf(file.data));
    const output = join(workDirectory, 'unicode-name');
    run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/ünïcode name', output]);
    expect(readFileSync(output, 'utf8')).toBe('g');
  });

  it('omits the Joliet tree when asked', () => {
    const iso = saveImage({
      volumeId: 'CONTEXT_INFO',
      files: [{ name: 'context.sh', data: 'x=1\n' }],
      joliet: false,
    });
    const info = describeImage(iso);
    expect(info).toMatch(/^Volume id: CONTEXT_INFO$/m);
    expect(info).not.toContain('Joliet with UCS');
    expect(fileNames(iso, false)).toEqual(['CONTEXT.SH;1']);
    expect(extract(iso, '/CONTEXT.SH;1', false).toString('utf8')).toBe('x=1\n');
  });

  it('stamps the volume with the given date and is deterministic', () => {
    const date = new Date(Date.UTC(2024, 1, 29, 13, 14, 15, 160));
    const image = writeIso9660({ volumeId: 'cidata', files: seedFiles, date });
    expect(writeIso9660({ volumeId: 'cidata', files: seedFiles, date })).toEqual(image);
    const iso = join(workDirectory, 'dated.iso');
    writeFileSync(iso, image);
    const info = run('xorriso', ['-indev', iso, '-pvd_info']).toString('utf8');
    expect(info).toMatch(/Creation Time: 2024022913141516/);
    expect(info).toMatch(/Modif\. Time\s*: 2024022913141516/);
    expect(run('isoinfo', ['-l', '-i', iso]).toString('utf8')).toContain('Feb 29 2024');
  });

  it('accepts an image with no files', () => {
    const iso = saveImage({ volumeId: 'EMPTY', files: [] });
    expect(fileNames(iso, false)).toEqual([]);
    expect(fileNames(iso, true)).toEqual([]);
  });

  describe('rejects bad input with INVALID_USAGE', () => {
    const file = { name: 'a', data: 'x' };
    it.each([
      ['empty', ''],
      ['too long', 'A'.repeat(33)],
      ['a hyphen', 'my-volume'],
      ['a space', 'MY VOLUME'],
      ['not a string', 42],
    ])('a volume id that is %s', (_, volumeId) => {
      expectInvalid({ volumeId: volumeId as string, files: [file] }, 'volumeId');
    });

    it('accepts a volume id of exactly 32 characters', () => {
      expect(() => writeIso9660({ volumeId: 'A'.repeat(32), files: [file] })).not.toThrow();
    });

    it.each([
      ['empty', ''],
      ['65 characters long', 'a'.repeat(65)],
      ['containing /', 'dir/file'],
      ['containing a backslash', 'dir\\file'],
      ['containing ;', 'file;1'],
      ['containing a control character', 'line\nbreak'],
      ['.', '.'],
      ['..', '..'],
      ['outside the BMP', 'emoji-😀'],
      ['not a string', 7],
    ])('a file name that is %s', (_, name) => {
      expectInvalid({ volumeId: 'V', files: [{ name: name as string, data: 'x' }] }, 'files');
    });

    it('accepts a file name of exactly 64 characters', () => {
      const name = 'n'.repeat(64);
      const iso = saveImage({ volumeId: 'V', files: [{ name, data: 'long' }] });
      expect(fileNames(iso, true)).toEqual([name]);
    });

    it('duplicate file names', () => {
      expectInvalid({ volumeId: 'V', files: [file, { name: 'a', data: 'y' }] }, 'files');
    });

    it('data that is neither a string nor a Uint8Array', () => {
      expectInvalid(
        { volumeId: 'V', files: [{ name: 'a', data: [1, 2] as unknown as Uint8Array }] },
        'files',
      );
      expectInvalid({ volumeId: 'V', files: [null as unknown as Iso9660File] }, 'files');
      expectInvalid({ volumeId: 'V', files: 'a' as unknown as Iso9660File[] }, 'files');
    });

    it('images larger than the limit', () => {
      const data = new Uint8Array(MAX_ISO9660_IMAGE_BYTES);
      expectInvalid({ volumeId: 'V', files: [{ name: 'huge', data }] }, 'files');
      const many = Array.from({ length: 40 }, (_, index) => ({
        name: `part-${index}`,
        data: data.subarray(0, 2 * 1024 * 1024),
      }));
      expectInvalid({ volumeId: 'V', files: many }, 'files');
    });

    it('invalid dates and joliet flags', () => {
      expectInvalid({ volumeId: 'V', files: [file], date: new Date(Number.NaN) }, 'date');
      expectInvalid({ volumeId: 'V', files: [file], date: new Date(Date.UTC(1850, 0, 1)) }, 'date');
      expectInvalid({ volumeId: 'V', files: [file], joliet: 'yes' as unknown as boolean }, 'joliet');
    });
  });
});
