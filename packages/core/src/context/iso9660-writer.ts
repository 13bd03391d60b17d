import { descriptorDate, encodeAscii, recordDate } from './iso9660-encoding.js';
import { planFiles, planLayout, SECTOR } from './iso9660-layout.js';
import { type Iso9660Options, validateOptions } from './iso9660-options.js';
import { writeDirectory, writePathTables, writeVolumeDescriptor } from './iso9660-records.js';

export {
  ISO9660_SECTOR_SIZE,
  type Iso9660File,
  type Iso9660Options,
  MAX_ISO9660_IMAGE_BYTES,
} from './iso9660-options.js';

const JOLIET_VOLUME_ID_LENGTH = 16;

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
  image.set([255, ...encodeAscii('CD001'), 1], layout.terminator * SECTOR);

  writePathTables(image, layout.primaryPathTables, layout.primaryRoot.extent);
  writeDirectory(image, 'primary', layout.primaryRoot, stamp.record);
  if (layout.jolietPathTables && layout.jolietRoot) {
    writePathTables(image, layout.jolietPathTables, layout.jolietRoot.extent);
    writeDirectory(image, 'joliet', layout.jolietRoot, stamp.record);
  }
  for (const file of files) image.set(file.data, file.extent * SECTOR);
  return image;
}
