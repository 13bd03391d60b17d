// The structures written into the image: directory records, path tables and volume descriptors
// (ECMA-119 8.4, 8.5, 9.1, 9.4).

import {
  bothEndian16,
  bothEndian32,
  encodeAscii,
  paddedAscii,
  paddedUcs2,
  unspecifiedDate,
} from './iso9660-encoding.js';
import {
  type DirectoryPlan,
  type Layout,
  nameBytes,
  recordLength,
  SECTOR,
  type Tree,
} from './iso9660-layout.js';

export function writeDirectory(
  image: Uint8Array,
  tree: Tree,
  directory: DirectoryPlan,
  date: Uint8Array,
): void {
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
export function directoryRecord(
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
export function writePathTables(
  image: Uint8Array,
  sectors: readonly [number, number],
  rootExtent: number,
): void {
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
export function writeVolumeDescriptor(
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

  descriptor.set([joliet ? 2 : 1, ...encodeAscii('CD001'), 1]);
  text(8, 32, '');
  text(40, 32, volumeId);
  bothEndian32(view, 80, layout.totalSectors);
  // UCS-2 level 3 marks the descriptor as Joliet.
  if (joliet) descriptor.set(encodeAscii('%/E'), 88);
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
