import { HypervisorError } from '../errors/hypervisor-error.js';

/** The logical sector (block) size of every image {@link writeIso9660} makes, in bytes. */
export const ISO9660_SECTOR_SIZE = 2048;

/**
 * The largest image {@link writeIso9660} makes, in bytes (64 MiB), counting
 * descriptors, directories, file data and padding. Context media are small;
 * the limit keeps a mistake from allocating gigabytes.
 */
export const MAX_ISO9660_IMAGE_BYTES = 64 * 1024 * 1024;

/** One file of the root directory of an image made by {@link writeIso9660}. */
export interface Iso9660File {
  /**
   * The file's name as the guest should see it through Joliet, such as `user-data`:
   * 1–64 UTF-16 code units of the Basic Multilingual Plane, unique in the image,
   * not `.` or `..`, without control characters nor any of `/ \ * : ; ?`.
   */
  readonly name: string;
  /** The contents; a string is stored as UTF-8. */
  readonly data: Uint8Array | string;
}

/** Options of {@link writeIso9660}. */
export interface Iso9660Options {
  /**
   * The volume label: 1–32 characters of `A-Z a-z 0-9 _`. The primary volume
   * descriptor stores it upper-cased; the Joliet descriptor keeps it as given
   * (Joliet holds at most 16 characters: longer labels are cut there).
   */
  readonly volumeId: string;
  /** The files of the root directory (there are no subdirectories). */
  readonly files: ReadonlyArray<Iso9660File>;
  /** Whether to add a Joliet tree with the names as given (default `true`). */
  readonly joliet?: boolean;
  /** The time stamp of the volume and of every record, years 1900–2155 (default: now). */
  readonly date?: Date;
}

const SECTOR = ISO9660_SECTOR_SIZE;
const SYSTEM_AREA_SECTORS = 16;
// Like genisoimage's default -pad: Linux guests read ahead past the last used
// sector of a CD and log I/O errors when the image ends right there.
const PADDING_SECTORS = 150;
const MAX_NAME_LENGTH = 64;
const VOLUME_ID_PATTERN = /^[A-Za-z0-9_]{1,32}$/;
const JOLIET_VOLUME_ID_LENGTH = 16;
// Level 2 allows 30 characters for name and extension together.
const PRIMARY_NAME_LENGTH = 30;
const PRIMARY_EXTENSION_LENGTH = 8;
const FORBIDDEN_NAME_CHARACTER = /[\u0000-\u001f\u007f/\\*:;?\ud800-\udfff]/;

interface PlannedFile {
  readonly data: Uint8Array;
  readonly primaryName: string;
  readonly jolietName: string;
  extent: number;
}

/** The sector numbers of every part of the image. */
interface Layout {
  readonly primaryDescriptor: number;
  readonly jolietDescriptor: number | undefined;
  readonly terminator: number;
  readonly primaryPathTables: readonly [number, number];
  readonly jolietPathTables: readonly [number, number] | undefined;
  readonly primaryRoot: DirectoryPlan;
  readonly jolietRoot: DirectoryPlan | undefined;
  readonly totalSectors: number;
}

interface DirectoryPlan {
  readonly extent: number;
  readonly sectors: number;
  readonly files: readonly PlannedFile[];
}

type Tree = 'primary' | 'joliet';

/**
 * Builds an ISO 9660 image (ECMA-119) with one flat root directory, in memory.
 *
 * The image has 2048-byte sectors: a 16-sector empty system area, a primary
 * volume descriptor, optionally a Joliet supplementary volume descriptor (UCS-2
 * level 3, escape sequence `%/E`), the descriptor set terminator, L and M path
 * tables for each tree, the root directories (spanning as many sectors as the
 * files need) and the file extents, sector-aligned and shared by both trees,
 * followed by 150 sectors of padding.
 *
 * Primary-tree names are level-2 d-character names derived from the Joliet
 * names: upper-cased, every character other than `A-Z 0-9 _` replaced by `_`,
 * split at the last `.` into a name and an extension of at most 8 characters,
 * at most 30 characters together, with the version `;1` (`user-data` becomes
 * `USER_DATA.;1`, `context.sh` becomes `CONTEXT.SH;1`). Names that collide after
 * this mapping get a `_1`, `_2`, … suffix. Joliet names are stored as given,
 * without a version. Linux, cloud-init and Windows read the Joliet tree when it
 * is present.
 *
 * @returns The image; its length is a multiple of {@link ISO9660_SECTOR_SIZE}.
 * @throws {HypervisorError} `INVALID_USAGE` with `details.field` (`volumeId`,
 *   `files`, `joliet` or `date`) when an option is invalid, or `files` when the
 *   image would exceed {@link MAX_ISO9660_IMAGE_BYTES}.
 */
export function writeIso9660(options: Iso9660Options): Uint8Array {
  const { volumeId, joliet, date } = validateOptions(options);
  const files = planFiles(options.files);
  const layout = planLayout(files, joliet);
  const image = new Uint8Array(layout.totalSectors * SECTOR);
  const stamp = { record: recordDate(date), descriptor: descriptorDate(date) };

  writeVolumeDescriptor(image, 'primary', layout, volumeId.toUpperCase(), stamp.descriptor, stamp.record);
  if (layout.jolietRoot) {
    const jolietId = volumeId.slice(0, JOLIET_VOLUME_ID_LENGTH);
    writeVolumeDescriptor(image, 'joliet', layout, jolietId, stamp.descriptor, stamp.record);
  }
  image.set([255, ...ascii('CD001'), 1], layout.terminator * SECTOR);

  writePathTables(image, layout.primaryPathTables, layout.primaryRoot.extent);
  writeDirectory(image, 'primary', layout.primaryRoot, stamp.record);
  if (layout.jolietPathTables && layout.jolietRoot) {
    writePathTables(image, layout.jolietPathTables, layout.jolietRoot.extent);
    writeDirectory(image, 'joliet', layout.jolietRoot, stamp.record);
  }
  for (const file of files) image.set(file.data, file.extent * SECTOR);
  return image;
}

function invalid(field: string, message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { field } });
}

function validateOptions(options: Iso9660Options): { volumeId: string; joliet: boolean; date: Date } {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'ISO 9660 options must be an object');
  }
  const { volumeId, joliet = true, date = new Date() } = options;
  if (typeof volumeId !== 'string' || !VOLUME_ID_PATTERN.test(volumeId)) {
    throw invalid('volumeId', 'The volume id must be 1 to 32 characters of A-Z, a-z, 0-9 and _');
  }
  if (typeof joliet !== 'boolean') throw invalid('joliet', 'joliet must be a boolean');
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw invalid('date', 'date must be a valid Date');
  }
  const year = date.getUTCFullYear();
  if (year < 1900 || year > 2155) throw invalid('date', 'date must be in the years 1900 to 2155');
  return { volumeId, joliet, date };
}

function planFiles(files: ReadonlyArray<Iso9660File>): PlannedFile[] {
  if (!Array.isArray(files)) throw invalid('files', 'files must be an array');
  const seen = new Set<string>();
  const usedPrimary = new Set<string>();
  const encoder = new TextEncoder();
  return files.map((file: unknown, index) => {
    if (typeof file !== 'object' || file === null)
      throw invalid('files', `files[${index}] must be an object`);
    const { name, data } = file as Partial<Iso9660File>;
    validateName(name, index);
    if (seen.has(name)) throw invalid('files', `The file name "${name}" appears more than once`);
    seen.add(name);
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = encoder.encode(data);
    else if (data instanceof Uint8Array) bytes = data;
    else throw invalid('files', `The data of "${name}" must be a string or a Uint8Array`);
    return { data: bytes, primaryName: primaryName(name, usedPrimary), jolietName: name, extent: 0 };
  });
}

function validateName(name: unknown, index: number): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw invalid('files', `files[${index}].name must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (name === '.' || name === '..' || FORBIDDEN_NAME_CHARACTER.test(name)) {
    throw invalid(
      'files',
      `The file name "${name}" is not allowed: no . or .., control characters, / \\ * : ; ? or characters outside the BMP`,
    );
  }
}

/** Maps a name to a unique level-2 identifier such as `USER_DATA.;1`, recording it in `used`. */
function primaryName(name: string, used: Set<string>): string {
  const dot = name.lastIndexOf('.');
  const extension = dCharacters(dot === -1 ? '' : name.slice(dot + 1)).slice(0, PRIMARY_EXTENSION_LENGTH);
  const base = dCharacters(dot === -1 ? name : name.slice(0, dot));
  let candidate = `${base.slice(0, PRIMARY_NAME_LENGTH - extension.length)}.${extension}`;
  for (let counter = 1; used.has(candidate); counter++) {
    const suffix = `_${counter}`;
    candidate = `${base.slice(0, PRIMARY_NAME_LENGTH - extension.length - suffix.length)}${suffix}.${extension}`;
  }
  used.add(candidate);
  return `${candidate};1`;
}

function dCharacters(text: string): string {
  let result = '';
  for (const character of text) {
    const upper = character.toUpperCase();
    result += /^[A-Z0-9_]$/.test(upper) ? upper : '_';
  }
  return result;
}

function planLayout(files: PlannedFile[], joliet: boolean): Layout {
  let next = SYSTEM_AREA_SECTORS;
  const primaryDescriptor = next++;
  const jolietDescriptor = joliet ? next++ : undefined;
  const terminator = next++;
  // Each path table holds the single root entry (10 bytes) and gets its own sector.
  const primaryPathTables = [next++, next++] as const;
  const jolietPathTables = joliet ? ([next++, next++] as const) : undefined;

  const primaryFiles = [...files].sort((a, b) => comparePrimary(a.primaryName, b.primaryName));
  const primarySectors = directorySectors(
    primaryFiles.map((file) => recordLength(nameBytes('primary', file))),
  );
  const primaryRoot = { extent: next, sectors: primarySectors, files: primaryFiles };
  next += primarySectors;

  let jolietRoot: DirectoryPlan | undefined;
  if (joliet) {
    const jolietFiles = [...files].sort((a, b) => compareCodeUnits(a.jolietName, b.jolietName));
    const sectors = directorySectors(jolietFiles.map((file) => recordLength(nameBytes('joliet', file))));
    jolietRoot = { extent: next, sectors, files: jolietFiles };
    next += sectors;
  }

  for (const file of files) {
    // Empty files point at the next free sector, as genisoimage does; the padding keeps it inside the image.
    file.extent = next;
    next += Math.ceil(file.data.length / SECTOR);
  }
  const totalSectors = next + PADDING_SECTORS;
  if (totalSectors * SECTOR > MAX_ISO9660_IMAGE_BYTES) {
    throw invalid('files', `The files do not fit in an image of ${MAX_ISO9660_IMAGE_BYTES} bytes`);
  }
  return {
    primaryDescriptor,
    jolietDescriptor,
    terminator,
    primaryPathTables,
    jolietPathTables,
    primaryRoot,
    jolietRoot,
    totalSectors,
  };
}

/** ECMA-119 9.3: order by name, then by extension (versions are all 1). */
function comparePrimary(a: string, b: string): number {
  const [nameA = '', extensionA = ''] = a.replace(/;1$/, '').split('.');
  const [nameB = '', extensionB = ''] = b.replace(/;1$/, '').split('.');
  return compareCodeUnits(nameA, nameB) || compareCodeUnits(extensionA, extensionB);
}

function compareCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** The number of sectors a directory needs: `.`, `..`, then records that may not cross a sector boundary. */
function directorySectors(fileRecordLengths: readonly number[]): number {
  let sectors = 1;
  let offset = 2 * recordLength(new Uint8Array(1));
  for (const length of fileRecordLengths) {
    if (offset + length > SECTOR) {
      sectors++;
      offset = 0;
    }
    offset += length;
  }
  return sectors;
}

function recordLength(identifier: Uint8Array): number {
  return 33 + identifier.length + (identifier.length % 2 === 0 ? 1 : 0);
}

function nameBytes(tree: Tree, file: PlannedFile): Uint8Array {
  return tree === 'primary' ? ascii(file.primaryName) : ucs2(file.jolietName);
}

function writeDirectory(image: Uint8Array, tree: Tree, directory: DirectoryPlan, date: Uint8Array): void {
  const size = directory.sectors * SECTOR;
  const records = [
    directoryRecord(new Uint8Array([0]), directory.extent, size, true, date),
    directoryRecord(new Uint8Array([1]), directory.extent, size, true, date),
    ...directory.files.map((file) =>
      directoryRecord(nameBytes(tree, file), file.extent, file.data.length, false, date),
    ),
  ];
  let position = directory.extent * SECTOR;
  for (const record of records) {
    const used = position % SECTOR;
    if (used + record.length > SECTOR) position += SECTOR - used;
    image.set(record, position);
    position += record.length;
  }
}

/** ECMA-119 9.1: a directory record. */
function directoryRecord(
  identifier: Uint8Array,
  extent: number,
  size: number,
  isDirectory: boolean,
  date: Uint8Array,
): Uint8Array {
  const length = recordLength(identifier);
  const record = new Uint8Array(length);
  const view = new DataView(record.buffer);
  record[0] = length;
  bothEndian32(view, 2, extent);
  bothEndian32(view, 10, size);
  record.set(date, 18);
  record[25] = isDirectory ? 2 : 0;
  bothEndian16(view, 28, 1);
  record[32] = identifier.length;
  record.set(identifier, 33);
  return record;
}

/** ECMA-119 9.4: the L (little-endian) and M (big-endian) path tables of a tree with only a root. */
function writePathTables(image: Uint8Array, sectors: readonly [number, number], rootExtent: number): void {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (const [sector, littleEndian] of [
    [sectors[0], true],
    [sectors[1], false],
  ] as const) {
    const offset = sector * SECTOR;
    image[offset] = 1;
    view.setUint32(offset + 2, rootExtent, littleEndian);
    view.setUint16(offset + 6, 1, littleEndian);
  }
}

/** ECMA-119 8.4 and 8.5: a primary or a Joliet supplementary volume descriptor. */
function writeVolumeDescriptor(
  image: Uint8Array,
  tree: Tree,
  layout: Layout,
  volumeId: string,
  descriptorDate: Uint8Array,
  recordDate: Uint8Array,
): void {
  const joliet = tree === 'joliet';
  const sector = joliet ? layout.jolietDescriptor : layout.primaryDescriptor;
  const root = joliet ? layout.jolietRoot : layout.primaryRoot;
  const pathTables = joliet ? layout.jolietPathTables : layout.primaryPathTables;
  if (sector === undefined || root === undefined || pathTables === undefined) return;
  const descriptor = new Uint8Array(SECTOR);
  const view = new DataView(descriptor.buffer);
  const text = (offset: number, length: number, value: string): void =>
    descriptor.set(joliet ? paddedUcs2(value, length) : paddedAscii(value, length), offset);

  descriptor.set([joliet ? 2 : 1, ...ascii('CD001'), 1]);
  text(8, 32, '');
  text(40, 32, volumeId);
  bothEndian32(view, 80, layout.totalSectors);
  // UCS-2 level 3 marks the descriptor as Joliet.
  if (joliet) descriptor.set(ascii('%/E'), 88);
  bothEndian16(view, 120, 1);
  bothEndian16(view, 124, 1);
  bothEndian16(view, 128, SECTOR);
  bothEndian32(view, 132, 10);
  view.setUint32(140, pathTables[0], true);
  view.setUint32(148, pathTables[1], false);
  descriptor.set(
    directoryRecord(new Uint8Array([0]), root.extent, root.sectors * SECTOR, true, recordDate),
    156,
  );
  text(190, 128, '');
  text(318, 128, '');
  text(446, 128, '');
  text(574, 128, 'CVMWEB');
  text(702, 37, '');
  text(739, 37, '');
  text(776, 37, '');
  descriptor.set(descriptorDate, 813);
  descriptor.set(descriptorDate, 830);
  descriptor.set(unspecifiedDate(), 847);
  descriptor.set(unspecifiedDate(), 864);
  descriptor[881] = 1;
  image.set(descriptor, sector * SECTOR);
}

function bothEndian16(view: DataView, offset: number, value: number): void {
  view.setUint16(offset, value, true);
  view.setUint16(offset + 2, value, false);
}

function bothEndian32(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value, true);
  view.setUint32(offset + 4, value, false);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

function ucs2(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    bytes[index * 2] = unit >> 8;
    bytes[index * 2 + 1] = unit & 0xff;
  }
  return bytes;
}

function paddedAscii(text: string, length: number): Uint8Array {
  return ascii(text.padEnd(length, ' '));
}

/** UCS-2 big-endian text padded with UCS-2 spaces; an odd field ends with a zero byte. */
function paddedUcs2(text: string, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  bytes.set(ucs2(text.padEnd(Math.floor(length / 2), ' ')));
  return bytes;
}

/** ECMA-119 9.1.5: seven bytes, UTC. */
function recordDate(date: Date): Uint8Array {
  return new Uint8Array([
    date.getUTCFullYear() - 1900,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    0,
  ]);
}

/** ECMA-119 8.4.26.1: `YYYYMMDDHHMMSScc` digits and a zero UTC offset. */
function descriptorDate(date: Date): Uint8Array {
  const two = (value: number): string => String(value).padStart(2, '0');
  const digits =
    String(date.getUTCFullYear()).padStart(4, '0') +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    two(Math.floor(date.getUTCMilliseconds() / 10));
  return new Uint8Array([...ascii(digits), 0]);
}

function unspecifiedDate(): Uint8Array {
  return new Uint8Array([...ascii('0'.repeat(16)), 0]);
}
