// Where everything goes: the files, validated, and the sector of every descriptor, path table,
// directory and file extent.

import { encodeAscii, encodeUcs2 } from './iso9660-encoding.js';
import { compareCodeUnits, comparePrimary, primaryName, validateName } from './iso9660-names.js';
import {
  ISO9660_SECTOR_SIZE,
  type Iso9660File,
  invalid,
  MAX_ISO9660_IMAGE_BYTES,
} from './iso9660-options.js';

export const SECTOR = ISO9660_SECTOR_SIZE;
const SYSTEM_AREA_SECTORS = 16;
// Like genisoimage's default -pad: Linux guests read ahead past the last used
// sector of a CD and log I/O errors when the image ends right there.
const PADDING_SECTORS = 150;

export interface PlannedFile {
  readonly data: Uint8Array;
  readonly primaryName: string;
  readonly jolietName: string;
  extent: number;
}

/** The sector numbers of every part of the image. */
export interface Layout {
  readonly primaryDescriptor: number;
  readonly jolietDescriptor: number | undefined;
  readonly terminator: number;
  readonly primaryPathTables: readonly [number, number];
  readonly jolietPathTables: readonly [number, number] | undefined;
  readonly primaryRoot: DirectoryPlan;
  readonly jolietRoot: DirectoryPlan | undefined;
  readonly totalSectors: number;
}

export interface DirectoryPlan {
  readonly extent: number;
  readonly sectors: number;
  readonly files: readonly PlannedFile[];
}

export type Tree = 'primary' | 'joliet';

export function planFiles(files: ReadonlyArray<Iso9660File>): PlannedFile[] {
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

export function planLayout(files: PlannedFile[], joliet: boolean): Layout {
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

export function recordLength(identifier: Uint8Array): number {
  return 33 + identifier.length + (identifier.length % 2 === 0 ? 1 : 0);
}

export function nameBytes(tree: Tree, file: PlannedFile): Uint8Array {
  return tree === 'primary' ? encodeAscii(file.primaryName) : encodeUcs2(file.jolietName);
}
