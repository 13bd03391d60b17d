import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../clock/clock.js';
import { KeyedQueue } from '../concurrency/keyed-queue.js';
import type { ActionOptions, ProgressListener } from '../driver/driver.js';
import { abortedError, HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { writeFileAtomic } from '../files/write-file-atomic.js';
import { ImageCatalog, type ImageEntry, validateImageEntry } from './image-catalog.js';
import type { ImageKind, ImageSource, ResolvedImage } from './image-source.js';
import { SingleFlight } from './single-flight.js';

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

/** Which file of an image a cached file is. */
export type CachedFileRole = 'image' | 'initrd';

/** One verified file in the cache, as {@link ImageCache.list} reports it. */
export interface CachedImage {
  /** The catalog version that used the file last. */
  readonly version: string;
  /** Every catalog version that has used the file (aliases share one file). */
  readonly versions: readonly string[];
  /** `image` for the ISO, disk or kernel; `initrd` for a kernel image's initrd. */
  readonly role: CachedFileRole;
  /** The kind of the image the file belongs to. */
  readonly kind: ImageKind;
  /** The file. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its verified sha256, lower-case hex. */
  readonly sha256: string;
  /** Where it was downloaded from. */
  readonly url: string;
  /** When a session last resolved it. */
  readonly lastUsed: Date;
}

/** Options of {@link ImageCache.prune}. */
export interface PruneOptions extends ActionOptions {
  /** Versions never removed. Given alone (without `all` or `olderThanMs`), every other image is removed. */
  keep?: readonly string[];
  /** Remove images not used for this long, and partial downloads not touched for this long. */
  olderThanMs?: number;
  /** Remove every image (except `keep`) and every partial download not in progress. */
  all?: boolean;
}

/** What {@link ImageCache.prune} removed. */
export interface PruneResult {
  /** The removed images. */
  readonly removed: CachedImage[];
  /** The removed partial downloads and leftover files. */
  readonly removedPartials: string[];
  /** Bytes freed, images and partials together. */
  readonly freedBytes: number;
}

/**
 * Partial downloads and leftovers are stale after a day when {@link PruneOptions.olderThanMs}
 * does not say otherwise.
 */
export const STALE_PARTIAL_MS = 24 * 60 * 60 * 1000;

const CHECKSUM_TEXT_LIMIT = 64 * 1024;
const PROGRESS_INTERVAL_MS = 100;
const SHA256_TOKEN = /^[0-9a-fA-F]{64}$/;

/** The sidecar `<sha256>.json` of a cached file. */
interface Manifest {
  readonly format: 1;
  readonly sha256: string;
  /** The cached file's name in `images/`. */
  readonly file: string;
  /** Size and mtime when last verified: while they hold, the file is trusted without rehashing. */
  readonly size: number;
  readonly mtimeMs: number;
  readonly url: string;
  readonly role: CachedFileRole;
  readonly kind: ImageKind;
  readonly versions: readonly string[];
  readonly lastUsed: number;
  readonly verifiedAt: number;
}

/** One file of an image entry to make available. */
interface FileSpec {
  readonly version: string;
  readonly role: CachedFileRole;
  readonly kind: ImageKind;
  readonly url: string;
  readonly sha256: string | undefined;
  readonly sha256Url: string | undefined;
  readonly extension: string;
  /** `image 1.3`, `initrd of image 1.3`: for messages. */
  readonly label: string;
}

interface StoredFile {
  readonly path: string;
  readonly sha256: string;
}

type Opened =
  | {
      readonly status: 'body';
      readonly resumed: boolean;
      readonly total: number;
      readonly body: AsyncIterable<Uint8Array>;
    }
  | { readonly status: 'unsatisfiable' };

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
  readonly #fetch: typeof fetch;
  readonly #offline: boolean;
  readonly #clock: Pick<Clock, 'now'>;
  /** Per version and file: cache lookup, checksum fetch and download together. */
  readonly #requests = new SingleFlight<StoredFile>();
  /** Per URL and checksum: the transfer into one partial file. */
  readonly #downloads = new SingleFlight<StoredFile>();
  readonly #activePartials = new Set<string>();
  /** Manifest read-modify-writes of one file, one at a time, so that none is lost. */
  readonly #manifestUpdates = new KeyedQueue<string>();

  constructor(options: ImageCacheOptions) {
    this.#directory = options.directory;
    this.#images = join(options.directory, 'images');
    this.#partials = join(options.directory, 'partial');
    this.catalog = options.catalog ?? new ImageCatalog();
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
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
    const main = await this.#ensureFile(
      {
        version: entry.version,
        role: 'image',
        kind: entry.kind,
        url: entry.url,
        sha256: entry.sha256,
        sha256Url: entry.sha256Url,
        extension:
          entry.kind === 'iso' ? 'iso' : entry.kind === 'disk' ? (entry.diskFormat ?? 'img') : 'kernel',
        label: `image ${entry.version}`,
      },
      options,
    );
    let initrd: { path: string; sha256: string } | undefined;
    if (entry.kind === 'kernel' && entry.initrdUrl !== undefined) {
      initrd = await this.#ensureFile(
        {
          version: entry.version,
          role: 'initrd',
          kind: entry.kind,
          url: entry.initrdUrl,
          sha256: entry.initrdSha256,
          sha256Url: entry.initrdSha256Url,
          extension: 'initrd',
          label: `initrd of image ${entry.version}`,
        },
        options,
      );
    }
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
    for (const manifest of await this.#manifests(options.signal)) {
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
   * removes partial downloads and leftovers older than {@link STALE_PARTIAL_MS}.
   *
   * Make sure no VM boots from an image before removing it: the cache does not know.
   *
   * @throws HypervisorError `IO` when a file cannot be removed, aborted `CONTROL` on signal.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const { signal, keep, olderThanMs, all = false } = options;
    const what = 'Pruning the image cache';
    if (signal?.aborted) throw abortedError(what, signal.reason);
    if (olderThanMs !== undefined && !(olderThanMs >= 0)) {
      throw new HypervisorError('INVALID_USAGE', 'olderThanMs must be a non-negative number', {
        details: { field: 'olderThanMs', value: olderThanMs },
      });
    }
    const now = this.#clock.now();
    const kept = new Set(keep ?? []);
    const removed: CachedImage[] = [];
    const removedPartials: string[] = [];
    let freedBytes = 0;
    const referenced = new Set<string>();

    for (const manifest of await this.#manifests(signal)) {
      if (signal?.aborted) throw abortedError(what, signal.reason);
      referenced.add(manifest.file);
      referenced.add(`${manifest.sha256}.json`);
      const path = join(this.#images, manifest.file);
      const info = await statOrUndefined(path);
      const image = toCachedImage(manifest, path, info?.size ?? 0);
      const isKept = manifest.versions.some((version) => kept.has(version));
      const expired =
        all ||
        (olderThanMs !== undefined && now - manifest.lastUsed >= olderThanMs) ||
        (keep !== undefined && olderThanMs === undefined);
      if (isKept || !expired) continue;
      await this.#remove(path);
      await this.#remove(join(this.#images, `${manifest.sha256}.json`));
      referenced.delete(manifest.file);
      if (info !== undefined) {
        removed.push(image);
        freedBytes += info.size;
      }
    }

    const staleAfter = olderThanMs ?? STALE_PARTIAL_MS;
    const leftovers = [
      ...(await listDirectory(this.#partials)).map((name) => join(this.#partials, name)),
      ...(await listDirectory(this.#images))
        .filter((name) => !referenced.has(name))
        .map((name) => join(this.#images, name)),
    ];
    for (const path of leftovers) {
      if (signal?.aborted) throw abortedError(what, signal.reason);
      if (this.#activePartials.has(path)) continue;
      const info = await statOrUndefined(path);
      if (info === undefined || !info.isFile()) continue;
      if (!all && now - info.mtimeMs < staleAfter) continue;
      await this.#remove(path);
      removedPartials.push(path);
      freedBytes += info.size;
    }
    return { removed, removedPartials, freedBytes };
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
    const sha256 = spec.sha256 ?? (await this.#fetchChecksum(spec, signal));
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

  async #touch(sha256: string, spec: FileSpec): Promise<void> {
    await this.#manifestUpdates.run(sha256, async () => {
      const manifest = await this.#readManifest(sha256);
      if (manifest === undefined) return;
      const versions = manifest.versions.includes(spec.version)
        ? manifest.versions
        : [...manifest.versions, spec.version];
      await this.#writeManifest({ ...manifest, versions, lastUsed: this.#clock.now() });
    });
  }

  /** The cached file of `sha256`, verified, or `undefined`. Removes a cached file that no longer matches. */
  async #lookup(
    sha256: string,
    spec: FileSpec,
    signal: AbortSignal,
    onProgress: ProgressListener,
  ): Promise<Manifest | undefined> {
    const manifest = await this.#readManifest(sha256);
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
    await this.#hashFile(path, hash, signal, spec);
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      await this.#remove(path);
      await this.#remove(join(this.#images, `${sha256}.json`));
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
    await this.#manifestUpdates.run(sha256, () => this.#writeManifest(fresh));
    return fresh;
  }

  /** The newest verified cached file downloaded from `spec.url`, or `undefined`. */
  async #lookupByUrl(
    spec: FileSpec,
    signal: AbortSignal,
    onProgress: ProgressListener,
  ): Promise<Manifest | undefined> {
    const candidates = (await this.#manifests(signal))
      .filter((manifest) => manifest.url === spec.url && manifest.role === spec.role)
      .sort((a, b) => b.verifiedAt - a.verifiedAt);
    for (const candidate of candidates) {
      const hit = await this.#lookup(candidate.sha256, spec, signal, onProgress);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  async #fetchChecksum(spec: FileSpec, signal: AbortSignal): Promise<string> {
    const url = spec.sha256Url ?? '';
    const what = `Fetching the checksum of ${spec.label}`;
    let text: string;
    if (isFileUrl(url)) {
      try {
        const handle = await open(fileURLToPath(url), 'r');
        try {
          const buffer = Buffer.alloc(CHECKSUM_TEXT_LIMIT);
          const { bytesRead } = await handle.read(buffer, 0, CHECKSUM_TEXT_LIMIT, 0);
          text = buffer.subarray(0, bytesRead).toString('utf8');
        } finally {
          await handle.close();
        }
      } catch (error) {
        throw fileError(error, what, url);
      }
    } else {
      const response = await this.#request(url, {}, signal, what);
      if (!response.ok) throw await statusError(response, what, url);
      text = await readLimited(response, CHECKSUM_TEXT_LIMIT, signal, what, url);
    }
    const token = text.split(/\s+/).find((word) => SHA256_TOKEN.test(word));
    if (token === undefined) {
      throw new HypervisorError('NOT_VALIDATED', `${what}: ${url} holds no sha256`, {
        details: { url, version: spec.version },
      });
    }
    return token.toLowerCase();
  }

  async #download(
    spec: FileSpec,
    sha256: string,
    signal: AbortSignal,
    onProgress: ProgressListener,
  ): Promise<StoredFile> {
    const what = `Downloading ${spec.label}`;
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
      return await this.#transfer(spec, sha256, partial, signal, onProgress, what);
    } finally {
      this.#activePartials.delete(partial);
    }
  }

  async #transfer(
    spec: FileSpec,
    sha256: string,
    partial: string,
    signal: AbortSignal,
    onProgress: ProgressListener,
    what: string,
  ): Promise<StoredFile> {
    let hash = createHash('sha256');
    let offset = 0;
    if ((await statOrUndefined(partial)) !== undefined) {
      onProgress(0, 0, `Checking the partial download of ${spec.label}`);
      offset = await this.#hashFile(partial, hash, signal, spec);
    }
    let opened = await this.#open(spec.url, offset, signal, what);
    if (opened.status === 'unsatisfiable') {
      // The partial may hold the whole file already (a crash before the rename).
      if (hash.copy().digest('hex') === sha256) return this.#store(spec, sha256, partial);
      offset = 0;
      opened = await this.#open(spec.url, 0, signal, what);
      if (opened.status === 'unsatisfiable') {
        throw new HypervisorError('IO', `${what}: the server refused the request`, {
          details: { url: spec.url },
        });
      }
    }
    if (!opened.resumed && offset > 0) {
      offset = 0;
      hash = createHash('sha256');
    }
    const { total, body } = opened;
    let done = offset;
    const message = `Downloading ${spec.label}`;
    let reported = Date.now();
    onProgress(done, total, message);
    try {
      const handle = await open(partial, offset > 0 ? 'a' : 'w');
      try {
        for await (const chunk of body) {
          await handle.write(chunk);
          hash.update(chunk);
          done += chunk.byteLength;
          if (Date.now() - reported >= PROGRESS_INTERVAL_MS) {
            reported = Date.now();
            onProgress(done, total, message);
          }
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (signal.aborted) throw abortedError(what, signal.reason);
      throw toHypervisorError(error, 'IO', `${what} from ${spec.url} failed`, {
        url: spec.url,
        received: done,
      });
    }
    onProgress(done, total || done, message);
    if (total > 0 && done < total) {
      throw new HypervisorError('IO', `${what} from ${spec.url} failed: the connection ended early`, {
        details: { url: spec.url, received: done, expectedSize: total },
      });
    }
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      await this.#remove(partial);
      throw new HypervisorError(
        'NOT_VALIDATED',
        `${what}: the file from ${spec.url} does not match its sha256 (expected ${sha256}, got ${actual}); it was deleted`,
        { details: { expected: sha256, actual, url: spec.url } },
      );
    }
    return this.#store(spec, sha256, partial);
  }

  /** Moves a verified partial into `images/` and writes its manifest. */
  async #store(spec: FileSpec, sha256: string, partial: string): Promise<StoredFile> {
    const file = `${sha256}.${spec.extension}`;
    const path = join(this.#images, file);
    try {
      await rename(partial, path);
      const info = await stat(path);
      await this.#manifestUpdates.run(sha256, async () => {
        const previous = await this.#readManifest(sha256);
        const now = this.#clock.now();
        await this.#writeManifest({
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
        });
      });
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Storing ${spec.label} in ${this.#images} failed`, { path });
    }
    return { path, sha256 };
  }

  /** Opens `url` from byte `offset`: a file, or an HTTP request with a `Range` header. */
  async #open(url: string, offset: number, signal: AbortSignal, what: string): Promise<Opened> {
    if (isFileUrl(url)) {
      try {
        const path = fileURLToPath(url);
        const info = await stat(path);
        const start = offset <= info.size ? offset : 0;
        return {
          status: 'body',
          resumed: start > 0,
          total: info.size,
          body: createReadStream(path, { start, signal }),
        };
      } catch (error) {
        throw fileError(error, what, url);
      }
    }
    // Compressed transfer encodings would make byte offsets meaningless for resuming.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) headers['range'] = `bytes=${offset}-`;
    const response = await this.#request(url, headers, signal, what);
    if (offset > 0 && response.status === 416) {
      await response.body?.cancel().catch(() => {});
      return { status: 'unsatisfiable' };
    }
    if (!response.ok) throw await statusError(response, what, url);
    if (response.body === null) {
      throw new HypervisorError('IO', `${what}: the server sent no body`, { details: { url } });
    }
    const length = Number(response.headers.get('content-length') ?? Number.NaN);
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (offset === 0 || range === null || Number(range[1]) !== offset) {
        await response.body.cancel().catch(() => {});
        if (offset === 0) {
          throw new HypervisorError('IO', `${what}: the server sent a part of the file unasked`, {
            details: { url },
          });
        }
        return this.#open(url, 0, signal, what);
      }
      const total = range[3] === '*' ? (Number.isFinite(length) ? offset + length : 0) : Number(range[3]);
      return { status: 'body', resumed: true, total, body: response.body };
    }
    return {
      status: 'body',
      resumed: false,
      total: Number.isFinite(length) ? length : 0,
      body: response.body,
    };
  }

  async #request(
    url: string,
    headers: Record<string, string>,
    signal: AbortSignal,
    what: string,
  ): Promise<Response> {
    try {
      return await this.#fetch(url, { headers, signal, redirect: 'follow' });
    } catch (error) {
      if (signal.aborted) throw abortedError(what, signal.reason);
      throw toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url });
    }
  }

  /** Feeds the file into `hash`; returns the bytes read. */
  async #hashFile(path: string, hash: Hash, signal: AbortSignal, spec: FileSpec): Promise<number> {
    let bytes = 0;
    try {
      for await (const chunk of createReadStream(path, { signal })) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).byteLength;
      }
    } catch (error) {
      if (signal.aborted) throw abortedError(`Verifying ${spec.label}`, signal.reason);
      throw toHypervisorError(error, 'IO', `Reading ${path} failed`, { path });
    }
    return bytes;
  }

  async #manifests(signal: AbortSignal | undefined): Promise<Manifest[]> {
    const manifests: Manifest[] = [];
    for (const name of await listDirectory(this.#images)) {
      if (signal?.aborted) throw abortedError('Reading the image cache', signal.reason);
      const match = /^([0-9a-f]{64})\.json$/.exec(name);
      if (match?.[1] === undefined) continue;
      const manifest = await this.#readManifest(match[1]);
      if (manifest !== undefined) manifests.push(manifest);
    }
    return manifests;
  }

  /** The manifest of `sha256`; `undefined` when missing or unreadable (the file is then rehashed). */
  async #readManifest(sha256: string): Promise<Manifest | undefined> {
    try {
      const data: unknown = JSON.parse(await readFile(join(this.#images, `${sha256}.json`), 'utf8'));
      return isManifest(data, sha256) ? data : undefined;
    } catch {
      return undefined;
    }
  }

  async #writeManifest(manifest: Manifest): Promise<void> {
    const path = join(this.#images, `${manifest.sha256}.json`);
    try {
      await writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Writing ${path} failed`, { path });
    }
  }

  async #remove(path: string): Promise<void> {
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Removing ${path} failed`, { path });
    }
  }
}

function isManifest(data: unknown, sha256: string): data is Manifest {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  return (
    m['format'] === 1 &&
    m['sha256'] === sha256 &&
    typeof m['file'] === 'string' &&
    basename(m['file']) === m['file'] &&
    m['file'].startsWith(`${sha256}.`) &&
    m['file'] !== `${sha256}.json` &&
    typeof m['size'] === 'number' &&
    typeof m['mtimeMs'] === 'number' &&
    typeof m['url'] === 'string' &&
    (m['role'] === 'image' || m['role'] === 'initrd') &&
    typeof m['kind'] === 'string' &&
    Array.isArray(m['versions']) &&
    m['versions'].every((version) => typeof version === 'string') &&
    typeof m['lastUsed'] === 'number' &&
    typeof m['verifiedAt'] === 'number'
  );
}

function toCachedImage(manifest: Manifest, path: string, size: number): CachedImage {
  return Object.freeze({
    version: manifest.versions.at(-1) ?? '',
    versions: Object.freeze([...manifest.versions]),
    role: manifest.role,
    kind: manifest.kind,
    path,
    size,
    sha256: manifest.sha256,
    url: manifest.url,
    lastUsed: new Date(manifest.lastUsed),
  });
}

function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

async function listDirectory(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toHypervisorError(error, 'IO', `Reading ${path} failed`, { path });
  }
}

function fileError(error: unknown, what: string, url: string): HypervisorError {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    return new HypervisorError('NOT_FOUND', `${what}: ${url} does not exist`, {
      cause: error,
      details: { url },
    });
  }
  return toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url });
}

async function statusError(response: Response, what: string, url: string): Promise<HypervisorError> {
  await response.body?.cancel().catch(() => {});
  const code = response.status === 404 || response.status === 410 ? 'NOT_FOUND' : 'IO';
  return new HypervisorError(
    code,
    `${what} from ${url} failed: HTTP ${response.status} ${response.statusText}`,
    {
      details: { url, status: response.status },
    },
  );
}

async function readLimited(
  response: Response,
  limit: number,
  signal: AbortSignal,
  what: string,
  url: string,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size >= limit) break;
    }
  } catch (error) {
    if (signal.aborted) throw abortedError(what, signal.reason);
    throw toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url });
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
