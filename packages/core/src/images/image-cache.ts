import { createHash } from 'node:crypto';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionOptions, ProgressListener } from '../action-options.js';
import type { Clock } from '../clock/clock.js';
import { HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { removeFile, statOrUndefined } from './cache-files.js';
import { type CachedImage, type Manifest, ManifestStore, toCachedImage } from './cache-manifest.js';
import { fetchChecksum } from './fetch-checksum.js';
import { type FileSpec, fileSpecsOf, type StoredFile } from './file-spec.js';
import { hashFile } from './hash-file.js';
import { ImageCatalog, type ImageEntry, validateImageEntry } from './image-catalog.js';
import type { ImageSource, ResolvedImage } from './image-source.js';
import { type PruneOptions, type PruneResult, pruneImageCache } from './prune-image-cache.js';
import { downloadVerified } from './resumable-download.js';
import { SingleFlight } from './single-flight.js';
import { isFileUrl, UrlReader } from './url-reader.js';

export type { CachedFileRole, CachedImage } from './cache-manifest.js';
export { type PruneOptions, type PruneResult, STALE_PARTIAL_MS } from './prune-image-cache.js';

/** Options of the {@link ImageCache} constructor. */
export interface ImageCacheOptions {
  /** The cache's root directory (created on first use). */
  directory: string;
  /** Where versions are looked up; a catalog of the built-in entries unless given. */
  catalog?: ImageCatalog;
  /** The HTTP client; Node's global `fetch` unless given (tests inject one). */
  fetch?: typeof fetch;
  /** Never use the network: serve cached images (and `file:` URLs) only. */
  offline?: boolean;
  /** The time source of `lastUsed` and {@link ImageCache.prune}; the system clock unless given. */
  clock?: Pick<Clock, 'now'>;
}

/** Options of the asynchronous methods of {@link ImageCache}. */
export interface ImageActionOptions extends ActionOptions {
  /** Receives `(bytesDone, bytesTotal, message)`; `bytesTotal` is 0 while the size is unknown. */
  onProgress?: ProgressListener;
}

/**
 * The local store of boot images: downloads catalog images on demand, verifies them against
 * their sha256, and serves them to drivers as {@link ResolvedImage}s.
 *
 * Layout of {@link ImageCacheOptions.directory}:
 * - `images/<sha256>.<ext>`: verified files, named by content, so versions that share a file
 *   share the download; `<ext>` is `iso`, the disk format, `kernel` or `initrd`.
 * - `images/<sha256>.json`: the file's manifest: URL, versions, last use, and the size and
 *   mtime it had when last hashed. A cache hit whose size and mtime still match is trusted
 *   without rehashing gigabytes; otherwise the file is rehashed (and removed if it no longer
 *   matches).
 * - `partial/<sha256>-<url hash>.part`: a download in progress or interrupted; the next
 *   download of the same URL and checksum resumes it with an HTTP `Range` request.
 *
 * Nothing unverified ever reaches `images/`. A URL is taken to name fixed content: an image
 * whose checksum is published (`sha256Url`) is served from the cache by URL without fetching
 * the checksum again; pin `sha256` (or change the URL) to get other content.
 *
 * Concurrent requests of one file in this process share one download (one shared flight per key);
 * two processes downloading the same file at once are not coordinated.
 */
export class ImageCache {
  /** The catalog versions are looked up in. */
  readonly catalog: ImageCatalog;
  readonly #directory: string;
  readonly #images: string;
  readonly #partials: string;
  readonly #manifests: ManifestStore;
  readonly #reader: UrlReader;
  readonly #offline: boolean;
  readonly #clock: Pick<Clock, 'now'>;
  /** Per version and file: cache lookup, checksum fetch and download together. */
  readonly #requests = new SingleFlight<StoredFile>();
  /** Per URL and checksum: the transfer into one partial file. */
  readonly #downloads = new SingleFlight<StoredFile>();
  readonly #activePartials = new Set<string>();

  constructor(options: ImageCacheOptions) {
    this.#directory = options.directory;
    this.#images = join(options.directory, 'images');
    this.#partials = join(options.directory, 'partial');
    this.#manifests = new ManifestStore(this.#images);
    this.catalog = options.catalog ?? new ImageCatalog();
    this.#reader = new UrlReader(options.fetch ?? ((input, init) => fetch(input, init)));
    this.#offline = options.offline ?? false;
    this.#clock = options.clock ?? { now: () => Date.now() };
  }

  /** The cache's root directory. */
  get directory(): string {
    return this.#directory;
  }

  /**
   * A lazy {@link ImageSource} of `version`: nothing is downloaded until `resolve()`.
   *
   * @throws HypervisorError `NOT_FOUND` when the catalog has no such version.
   */
  source(version: string): ImageSource {
    const entry = this.catalog.get(version);
    return {
      version: entry.version,
      context: entry.context,
      resolve: (options) => this.ensure(entry, options),
    };
  }

  /**
   * Makes an image available locally: serves it from the cache, or downloads and verifies it.
   * A `kernel` image's kernel and initrd are both made available.
   *
   * @param entryOrVersion - a catalog version, or an entry (validated) not necessarily in the catalog.
   * @throws HypervisorError `NOT_FOUND` (unknown version; not cached while offline; the server
   *   has no such file), `NOT_VALIDATED` (checksum mismatch: details `{ expected, actual, url }`;
   *   nothing is kept), `IO` (network or disk failure, with `cause`; a partial download is kept
   *   for resuming), `INVALID_USAGE` (invalid entry), aborted `CONTROL` (signal; partial kept).
   */
  async ensure(
    entryOrVersion: string | ImageEntry,
    options: ImageActionOptions = {},
  ): Promise<ResolvedImage> {
    const entry =
      typeof entryOrVersion === 'string'
        ? this.catalog.get(entryOrVersion)
        : validateImageEntry(entryOrVersion);
    const specs = fileSpecsOf(entry);
    const main = await this.#ensureFile(specs.image, options);
    const initrd = specs.initrd && (await this.#ensureFile(specs.initrd, options));
    const resolved: ResolvedImage = {
      version: entry.version,
      kind: entry.kind,
      path: main.path,
      sha256: main.sha256,
      context: entry.context,
      ...(initrd === undefined ? {} : { initrdPath: initrd.path, initrdSha256: initrd.sha256 }),
      ...(entry.cmdline === undefined ? {} : { cmdline: entry.cmdline }),
      ...(entry.diskFormat === undefined ? {} : { diskFormat: entry.diskFormat }),
    };
    return Object.freeze(resolved);
  }

  /**
   * The verified files in the cache, most recently used first.
   *
   * @throws HypervisorError `IO` when the directory cannot be read.
   */
  async list(options: ActionOptions = {}): Promise<CachedImage[]> {
    const found: CachedImage[] = [];
    for (const manifest of await this.#manifests.all(options.signal)) {
      const path = join(this.#images, manifest.file);
      const info = await statOrUndefined(path);
      if (info === undefined) continue;
      found.push(toCachedImage(manifest, path, info.size));
    }
    return found.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  }

  /**
   * Removes cached images and stale partial downloads (see {@link PruneOptions} for what goes).
   * Downloads in progress in this process are never touched. Called without options it only
   * removes partial downloads and leftovers older than one day.
   *
   * Make sure no VM boots from an image before removing it: the cache does not know.
   *
   * @throws HypervisorError `IO` when a file cannot be removed, aborted `CONTROL` on signal.
   */
  prune(options: PruneOptions = {}): Promise<PruneResult> {
    return pruneImageCache(
      {
        manifests: this.#manifests,
        partials: this.#partials,
        active: this.#activePartials,
        now: this.#clock.now(),
      },
      options,
    );
  }

  #ensureFile(spec: FileSpec, options: ImageActionOptions): Promise<StoredFile> {
    const key = [spec.version, spec.role, spec.url, spec.sha256 ?? `@${spec.sha256Url ?? ''}`].join('\n');
    return this.#requests.run(key, (signal, onProgress) => this.#provide(spec, signal, onProgress), {
      signal: options.signal,
      onProgress: options.onProgress,
      what: `Getting ${spec.label}`,
    });
  }

  async #provide(spec: FileSpec, signal: AbortSignal, onProgress: ProgressListener): Promise<StoredFile> {
    let hit =
      spec.sha256 !== undefined
        ? await this.#lookup(spec.sha256, spec, signal, onProgress)
        : await this.#lookupByUrl(spec, signal, onProgress);
    if (hit !== undefined) return this.#use(hit, spec, onProgress);

    const sources = [spec.url, ...(spec.sha256 === undefined && spec.sha256Url ? [spec.sha256Url] : [])];
    if (this.#offline && !sources.every(isFileUrl)) {
      throw new HypervisorError(
        'NOT_FOUND',
        `The ${spec.label} is not in the image cache, and the cache is offline: connect to the network once to download it from ${spec.url}`,
        { details: { version: spec.version, url: spec.url, offline: true } },
      );
    }
    const sha256 = spec.sha256 ?? (await fetchChecksum(this.#reader, spec, signal));
    if (spec.sha256 === undefined) {
      hit = await this.#lookup(sha256, spec, signal, onProgress);
      if (hit !== undefined) return this.#use(hit, spec, onProgress);
    }
    const stored = await this.#downloads.run(
      `${spec.url}\n${sha256}`,
      (shared, progress) => this.#download(spec, sha256, shared, progress),
      { signal, onProgress, what: `Downloading ${spec.label}` },
    );
    await this.#touch(stored.sha256, spec);
    return stored;
  }

  /** Records the use of a cached file and reports it as done. */
  async #use(manifest: Manifest, spec: FileSpec, onProgress: ProgressListener): Promise<StoredFile> {
    await this.#touch(manifest.sha256, spec);
    onProgress(manifest.size, manifest.size, `Using cached ${spec.label}`);
    return { path: join(this.#images, manifest.file), sha256: manifest.sha256 };
  }

  #touch(sha256: string, spec: FileSpec): Promise<void> {
    return this.#manifests.update(sha256, (manifest) => {
      if (manifest === undefined) return undefined;
      const versions = manifest.versions.includes(spec.version)
        ? manifest.versions
        : [...manifest.versions, spec.version];
      return { ...manifest, versions, lastUsed: this.#clock.now() };
    });
  }

  /** The cached file of `sha256`, verified, or `undefined`. Removes a cached file that no longer matches. */
  async #lookup(
    sha256: string,
    spec: FileSpec,
    signal: AbortSignal,
    onProgress: ProgressListener,
  ): Promise<Manifest | undefined> {
    const manifest = await this.#manifests.read(sha256);
    const file = manifest?.file ?? `${sha256}.${spec.extension}`;
    const path = join(this.#images, file);
    const info = await statOrUndefined(path);
    if (info === undefined) return undefined;
    if (manifest !== undefined && manifest.size === info.size && manifest.mtimeMs === info.mtimeMs) {
      return manifest;
    }
    // The file changed since it was verified, or a crash lost its manifest: check it again.
    onProgress(0, info.size, `Verifying cached ${spec.label}`);
    const hash = createHash('sha256');
    await hashFile(path, hash, signal, `Verifying ${spec.label}`);
    if (hash.digest('hex') !== sha256) {
      await removeFile(path);
      await removeFile(this.#manifests.pathOf(sha256));
      return undefined;
    }
    const now = this.#clock.now();
    const fresh: Manifest = {
      format: 1,
      sha256,
      file,
      size: info.size,
      mtimeMs: info.mtimeMs,
      url: manifest?.url ?? spec.url,
      role: manifest?.role ?? spec.role,
      kind: manifest?.kind ?? spec.kind,
      versions: manifest?.versions ?? [spec.version],
      lastUsed: manifest?.lastUsed ?? now,
      verifiedAt: now,
    };
    await this.#manifests.update(sha256, () => fresh);
    return fresh;
  }

  /** The newest verified cached file downloaded from `spec.url`, or `undefined`. */
  async #lookupByUrl(
    spec: FileSpec,
    signal: AbortSignal,
    onProgress: ProgressListener,
  ): Promise<Manifest | undefined> {
    const candidates = (await this.#manifests.all(signal))
      .filter((manifest) => manifest.url === spec.url && manifest.role === spec.role)
      .sort((a, b) => b.verifiedAt - a.verifiedAt);
    for (const candidate of candidates) {
      const hit = await this.#lookup(candidate.sha256, spec, signal, onProgress);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** Downloads into `partial/<sha256>-<url hash>.part`, then moves the verified file into `images/`. */
  async #download(
    spec: FileSpec,
    sha256: string,
    signal: AbortSignal,
    onProgress: ProgressListener,
  ): Promise<StoredFile> {
    const urlHash = createHash('sha256').update(spec.url).digest('hex').slice(0, 16);
    const partial = join(this.#partials, `${sha256}-${urlHash}.part`);
    try {
      await mkdir(this.#partials, { recursive: true });
      await mkdir(this.#images, { recursive: true });
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Creating the image cache in ${this.#directory} failed`, {
        directory: this.#directory,
      });
    }
    this.#activePartials.add(partial);
    try {
      const { url, label } = spec;
      await downloadVerified({ reader: this.#reader, url, sha256, partial, label, signal, onProgress });
      return await this.#store(spec, sha256, partial);
    } finally {
      this.#activePartials.delete(partial);
    }
  }

  /** Moves a verified partial into `images/` and writes its manifest. */
  async #store(spec: FileSpec, sha256: string, partial: string): Promise<StoredFile> {
    const file = `${sha256}.${spec.extension}`;
    const path = join(this.#images, file);
    try {
      await rename(partial, path);
      const info = await stat(path);
      await this.#manifests.update(sha256, (previous) => {
        const now = this.#clock.now();
        return {
          format: 1,
          sha256,
          file,
          size: info.size,
          mtimeMs: info.mtimeMs,
          url: spec.url,
          role: spec.role,
          kind: spec.kind,
          versions: previous?.versions ?? [spec.version],
          lastUsed: now,
          verifiedAt: now,
        };
      });
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Storing ${spec.label} in ${this.#images} failed`, { path });
    }
    return { path, sha256 };
  }
}
