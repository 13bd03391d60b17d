import type { ContextFormat } from '../context/context-medium.js';
import { HypervisorError, isHypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { readRegularFile } from '../files/read-regular-file.js';
import { writeFileAtomic } from '../files/write-file-atomic.js';
import type { ImageKind } from './image-source.js';

/**
 * One bootable image the cache can download: the catalog's value for a `version` key.
 *
 * Every entry names its checksum, either pinned (`sha256`) or published beside the image
 * (`sha256Url`); the cache verifies every download against it and keeps nothing that does not
 * match. A `kernel` entry also names its initrd and the initrd's checksum the same way.
 */
export interface ImageEntry {
  /** The catalog key, as sessions request it: `1.3`, `cernvm-4.0`, … (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`). */
  readonly version: string;
  /** Where the image (for `kernel`: the kernel) is downloaded from: `http:`, `https:` or `file:`. */
  readonly url: string;
  /** The image's sha256, 64 lower-case hex digits. Takes precedence over `sha256Url`. */
  readonly sha256?: string;
  /** A text file whose first 64-hex-digit token is the image's sha256 (as `sha256sum` writes it). */
  readonly sha256Url?: string;
  /** How the image boots. */
  readonly kind: ImageKind;
  /** The user-data medium the image reads. */
  readonly context: ContextFormat;
  /** For `kernel` images: where the initrd is downloaded from. */
  readonly initrdUrl?: string;
  /** For `kernel` images: the initrd's sha256. */
  readonly initrdSha256?: string;
  /** For `kernel` images: a text file holding the initrd's sha256 (used when `initrdSha256` is absent). */
  readonly initrdSha256Url?: string;
  /** For `kernel` images: the kernel command line. */
  readonly cmdline?: string;
  /** For `disk` images: the file format. */
  readonly diskFormat?: DiskFormat;
  /** The expected size in bytes, for display before the download starts. */
  readonly size?: number;
  /** A line for people: what the image is. */
  readonly description?: string;
}

/** The disk-image formats a `disk` entry may declare. */
export type DiskFormat = 'qcow2' | 'raw' | 'vmdk' | 'vdi';

const KINDS: readonly ImageKind[] = ['iso', 'disk', 'kernel'];
const CONTEXTS: readonly ContextFormat[] = ['cernvm', 'cloud-init'];
const DISK_FORMATS: readonly DiskFormat[] = ['qcow2', 'raw', 'vmdk', 'vdi'];
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const URL_PROTOCOLS = new Set(['http:', 'https:', 'file:']);
const MAX_TEXT = 4096;

/**
 * The release tree of CernVM. The original plugin downloaded from the `http:` form of this
 * address (`URL_CERNVM_RELEASES`); we use `https:` so that the published checksum, fetched from
 * the same server, cannot be swapped on the way together with the image.
 */
export const CERNVM_RELEASES_URL = 'https://cernvm.cern.ch/releases';

/**
 * The download address of a micro-CernVM ISO, in the layout of the original plugin:
 * `<releases>/ucernvm-images.<v>.cernvm.<arch>/ucernvm-<flavor>.<v>.cernvm.<arch>.iso`.
 * The release tree publishes each image's sha256 at the same address plus `.sha256`.
 */
export function cernvmImageUrl(version: string, flavor = 'prod', arch = 'x86_64'): string {
  return `${CERNVM_RELEASES_URL}/ucernvm-images.${version}.cernvm.${arch}/ucernvm-${flavor}.${version}.cernvm.${arch}.iso`;
}

/**
 * The micro-CernVM versions the original plugin booted: `1.3` (its first default, and the
 * original plugin's) and `1.11` (its later default). They carry no pinned checksum; the cache fetches the
 * `.sha256` file published beside each ISO. Pin a `sha256` in a user catalog to trust a known
 * build instead.
 */
export const DEFAULT_IMAGE_ENTRIES: readonly ImageEntry[] = Object.freeze(
  ['1.3', '1.11'].map((version) =>
    Object.freeze({
      version,
      url: cernvmImageUrl(version),
      sha256Url: `${cernvmImageUrl(version)}.sha256`,
      kind: 'iso',
      context: 'cernvm',
      description: `micro-CernVM ${version} boot ISO (x86_64)`,
    } satisfies ImageEntry),
  ),
);

/** Options of the {@link ImageCatalog} constructor. */
export interface ImageCatalogOptions {
  /** The built-in entries under the user's; {@link DEFAULT_IMAGE_ENTRIES} unless given. */
  defaults?: readonly ImageEntry[];
}

/** Options of {@link ImageCatalog.load}. */
export interface ImageCatalogLoadOptions extends ImageCatalogOptions {
  /** Resolve with the defaults alone when the file does not exist (otherwise: `NOT_FOUND`). */
  missingOk?: boolean;
}

/**
 * The images sessions can ask for, by `version`: the built-in entries plus the user's, a user
 * entry replacing a built-in one of the same version.
 *
 * A user catalog file is JSON, `{ "images": [ImageEntry, …] }` (a bare array is accepted too);
 * {@link ImageCatalog.save} writes the user entries only.
 *
 * @example
 * ```ts
 * const catalog = await ImageCatalog.load(path, { missingOk: true });
 * catalog.add({ version: 'lab', url: 'https://example.org/lab.iso', sha256: '…', kind: 'iso', context: 'cloud-init' });
 * await catalog.save(path);
 * ```
 */
export class ImageCatalog {
  readonly #defaults = new Map<string, ImageEntry>();
  readonly #user = new Map<string, ImageEntry>();

  /**
   * @param entries - the user's entries, validated like {@link ImageCatalog.add}.
   * @throws HypervisorError `INVALID_USAGE` when an entry is invalid.
   */
  constructor(entries: Iterable<ImageEntry> = [], options: ImageCatalogOptions = {}) {
    for (const entry of options.defaults ?? DEFAULT_IMAGE_ENTRIES) {
      const valid = validateImageEntry(entry);
      this.#defaults.set(valid.version, valid);
    }
    for (const entry of entries) this.add(entry);
  }

  /**
   * Reads a user catalog file and validates every entry.
   *
   * @throws HypervisorError `NOT_FOUND` when the file does not exist (unless `missingOk`),
   *   `IO` when it cannot be read, `INVALID_USAGE` when it is not valid JSON or an entry is
   *   invalid (`details.field` like `images[2].sha256`, `details.path`).
   */
  static async load(path: string, options: ImageCatalogLoadOptions = {}): Promise<ImageCatalog> {
    let text: string;
    try {
      const read = await readRegularFile(path);
      if (read.kind !== 'file') {
        const what = read.kind === 'special' ? read.what : `${read.size} bytes`;
        throw new HypervisorError('INVALID_USAGE', `Image catalog ${path} is ${what}, not a catalog file`, {
          details: { path, field: 'images' },
        });
      }
      text = read.text;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        if (options.missingOk) return new ImageCatalog([], options);
        throw new HypervisorError('NOT_FOUND', `Image catalog ${path} does not exist`, {
          cause: error,
          details: { path },
        });
      }
      throw toHypervisorError(error, 'IO', `Reading image catalog ${path} failed`, { path });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new HypervisorError('INVALID_USAGE', `Image catalog ${path} is not valid JSON`, {
        cause: error,
        details: { path, field: 'images' },
      });
    }
    const list = Array.isArray(data) ? data : isRecord(data) ? data['images'] : undefined;
    if (!Array.isArray(list)) {
      throw new HypervisorError('INVALID_USAGE', `Image catalog ${path} must hold an "images" array`, {
        details: { path, field: 'images' },
      });
    }
    const catalog = new ImageCatalog([], options);
    list.forEach((entry: unknown, index) => {
      try {
        catalog.add(entry as ImageEntry);
      } catch (error) {
        if (!isHypervisorError(error)) throw error;
        const field = `images[${index}]${error.details['field'] ? `.${String(error.details['field'])}` : ''}`;
        throw new HypervisorError('INVALID_USAGE', `Image catalog ${path}: ${error.message}`, {
          cause: error,
          details: { ...error.details, field, path, index },
        });
      }
    });
    return catalog;
  }

  /**
   * Writes the user entries to `path` as JSON, atomically (a crash leaves the old file or the
   * new one, never a torn one).
   *
   * @throws HypervisorError `IO` when the file cannot be written.
   */
  async save(path: string): Promise<void> {
    const text = `${JSON.stringify({ images: [...this.#user.values()] }, null, 2)}\n`;
    try {
      await writeFileAtomic(path, text);
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Writing image catalog ${path} failed`, { path });
    }
  }

  /**
   * The entry of `version`.
   *
   * @throws HypervisorError `NOT_FOUND` when the catalog has no such version.
   */
  get(version: string): ImageEntry {
    const entry = this.#user.get(version) ?? this.#defaults.get(version);
    if (entry === undefined) {
      throw new HypervisorError(
        'NOT_FOUND',
        `Unknown image version '${version}' (known: ${this.versions().join(', ') || 'none'})`,
        { details: { version } },
      );
    }
    return entry;
  }

  /** True when the catalog has `version`. */
  has(version: string): boolean {
    return this.#user.has(version) || this.#defaults.has(version);
  }

  /**
   * Validates `entry` and adds it as a user entry, replacing any entry of the same version
   * (a built-in one included).
   *
   * @returns the stored entry: a frozen copy with only the known fields.
   * @throws HypervisorError `INVALID_USAGE` naming the wrong field in `details.field`.
   */
  add(entry: ImageEntry): ImageEntry {
    const valid = validateImageEntry(entry);
    this.#user.set(valid.version, valid);
    return valid;
  }

  /** Removes a user entry (a built-in entry of that version shows again). True when there was one. */
  remove(version: string): boolean {
    return this.#user.delete(version);
  }

  /** Every entry, built-in ones first, a user entry in place of a built-in one of its version. */
  list(): ImageEntry[] {
    const merged = new Map(this.#defaults);
    for (const [version, entry] of this.#user) merged.set(version, entry);
    return [...merged.values()];
  }

  /** The user entries only (what {@link ImageCatalog.save} writes). */
  userEntries(): ImageEntry[] {
    return [...this.#user.values()];
  }

  /** Every version key. */
  versions(): string[] {
    return this.list().map((entry) => entry.version);
  }
}

/**
 * Checks an untrusted value (JSON from a file or a page) against {@link ImageEntry}.
 *
 * Rules: `version` matches `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`; URLs are absolute `http:`,
 * `https:` or `file:` URLs; checksums are 64 lower-case hex digits; the image needs `sha256` or
 * `sha256Url`; `kernel` images need `initrdUrl` and `initrdSha256` or `initrdSha256Url`, other
 * kinds may not have initrd fields or `cmdline`; `diskFormat` only on `disk` images.
 *
 * @returns a frozen copy holding only the known fields.
 * @throws HypervisorError `INVALID_USAGE` with `details.field` naming the first wrong field.
 */
export function validateImageEntry(value: unknown): ImageEntry {
  if (!isRecord(value)) throw invalid('entry', 'must be an object', value);
  const version = value['version'];
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version)) {
    throw invalid('version', 'must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}', version);
  }
  const kind = value['kind'];
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    throw invalid('kind', `must be one of ${KINDS.join(', ')}`, kind);
  }
  const context = value['context'];
  if (typeof context !== 'string' || !(CONTEXTS as readonly string[]).includes(context)) {
    throw invalid('context', `must be one of ${CONTEXTS.join(', ')}`, context);
  }
  const entry: Record<string, unknown> = {
    version,
    url: checkUrl(value, 'url', true),
    kind,
    context,
  };
  const sha256 = checkSha(value, 'sha256');
  const sha256Url = checkUrl(value, 'sha256Url', false);
  if (sha256 === undefined && sha256Url === undefined) {
    throw invalid('sha256', 'is required, or sha256Url: every image is verified', undefined);
  }
  Object.assign(entry, defined({ sha256, sha256Url }));

  const initrdUrl = checkUrl(value, 'initrdUrl', false);
  const initrdSha256 = checkSha(value, 'initrdSha256');
  const initrdSha256Url = checkUrl(value, 'initrdSha256Url', false);
  const cmdline = checkText(value, 'cmdline');
  if (kind === 'kernel') {
    if (initrdUrl === undefined) throw invalid('initrdUrl', 'is required for kernel images', undefined);
    if (initrdSha256 === undefined && initrdSha256Url === undefined) {
      throw invalid('initrdSha256', 'is required (or initrdSha256Url) for kernel images', undefined);
    }
    Object.assign(entry, defined({ initrdUrl, initrdSha256, initrdSha256Url, cmdline }));
  } else {
    for (const [field, given] of Object.entries({ initrdUrl, initrdSha256, initrdSha256Url, cmdline })) {
      if (given !== undefined) throw invalid(field, 'is only allowed on kernel images', given);
    }
  }

  const diskFormat = value['diskFormat'];
  if (diskFormat !== undefined) {
    if (typeof diskFormat !== 'string' || !(DISK_FORMATS as readonly string[]).includes(diskFormat)) {
      throw invalid('diskFormat', `must be one of ${DISK_FORMATS.join(', ')}`, diskFormat);
    }
    if (kind !== 'disk') throw invalid('diskFormat', 'is only allowed on disk images', diskFormat);
    entry['diskFormat'] = diskFormat;
  }
  const size = value['size'];
  if (size !== undefined) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw invalid('size', 'must be a non-negative integer (bytes)', size);
    }
    entry['size'] = size;
  }
  const description = checkText(value, 'description');
  if (description !== undefined) entry['description'] = description;
  return Object.freeze(entry) as unknown as ImageEntry;
}

function checkUrl(value: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const given = value[field];
  if (given === undefined && !required) return undefined;
  if (typeof given !== 'string') throw invalid(field, 'must be a URL string', given);
  let url: URL;
  try {
    url = new URL(given);
  } catch (error) {
    throw invalid(field, 'is not an absolute URL', given, error);
  }
  if (!URL_PROTOCOLS.has(url.protocol)) throw invalid(field, 'must be an http:, https: or file: URL', given);
  if (url.protocol !== 'file:' && url.username !== '') {
    throw invalid(field, 'may not hold credentials', '(redacted)');
  }
  return given;
}

function checkSha(value: Record<string, unknown>, field: string): string | undefined {
  const given = value[field];
  if (given === undefined) return undefined;
  if (typeof given !== 'string' || !SHA256_PATTERN.test(given)) {
    throw invalid(field, 'must be 64 lower-case hex digits', given);
  }
  return given;
}

function checkText(value: Record<string, unknown>, field: string): string | undefined {
  const given = value[field];
  if (given === undefined) return undefined;
  if (typeof given !== 'string' || given.length > MAX_TEXT || /[\u0000-\u001f\u007f]/.test(given)) {
    throw invalid(field, `must be a single line of at most ${MAX_TEXT} characters`, given);
  }
  return given;
}

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

function invalid(field: string, problem: string, value: unknown, cause?: unknown): HypervisorError {
  const shown = typeof value === 'string' && value.length > 100 ? `${value.slice(0, 100)}…` : value;
  return new HypervisorError('INVALID_USAGE', `Image entry field '${field}' ${problem}`, {
    cause,
    details: { field, value: shown },
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
