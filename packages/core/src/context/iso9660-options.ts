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

const VOLUME_ID_PATTERN = /^[A-Za-z0-9_]{1,32}$/;

/** An `INVALID_USAGE` error about `field`. @internal */
export function invalid(field: string, message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { field } });
}

/** The options with their defaults, validated. @internal */
export function validateOptions(options: Iso9660Options): { volumeId: string; joliet: boolean; date: Date } {
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
