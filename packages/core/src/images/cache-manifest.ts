import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as z from 'zod';
import { KeyedQueue } from '../concurrency/keyed-queue.js';
import { abortedError, toHypervisorError } from '../errors/hypervisor-error.js';
import { writeFileAtomic } from '../files/write-file-atomic.js';
import { listDirectory } from './cache-files.js';
import type { ImageKind } from './image-source.js';

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

const manifestSchema = z.object({
  format: z.literal(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The cached file's name in `images/`: `<sha256>.<extension>`, never the manifest's own. */
  file: z.string(),
  /** Size and mtime when last verified: while they hold, the file is trusted without rehashing. */
  size: z.number(),
  mtimeMs: z.number(),
  url: z.string(),
  role: z.enum(['image', 'initrd'] as const satisfies readonly CachedFileRole[]),
  kind: z.enum(['iso', 'disk', 'kernel'] as const satisfies readonly ImageKind[]),
  versions: z.array(z.string()).readonly(),
  lastUsed: z.number(),
  verifiedAt: z.number(),
});

/** The sidecar `<sha256>.json` of a cached file. @internal */
export type Manifest = Readonly<z.infer<typeof manifestSchema>>;

/**
 * The manifests in a cache's `images/` folder: one `<sha256>.json` beside each verified file.
 * Read-modify-writes of one manifest run one at a time, so that none is lost.
 * @internal
 */
export class ManifestStore {
  /** The `images/` folder. */
  readonly directory: string;
  readonly #updates = new KeyedQueue<string>();

  constructor(directory: string) {
    this.directory = directory;
  }

  /** The manifest file of `sha256`. */
  pathOf(sha256: string): string {
    return join(this.directory, `${sha256}.json`);
  }

  /** The manifest of `sha256`; `undefined` when missing or unreadable (the file is then rehashed). */
  async read(sha256: string): Promise<Manifest | undefined> {
    try {
      const data: unknown = JSON.parse(await readFile(this.pathOf(sha256), 'utf8'));
      const parsed = manifestSchema.safeParse(data);
      return parsed.success && isManifestOf(parsed.data, sha256) ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Replaces the manifest of `sha256` with what `change` makes of the current one (`undefined`:
   * leave it as it is), after every earlier update of it.
   */
  update(sha256: string, change: (current: Manifest | undefined) => Manifest | undefined): Promise<void> {
    return this.#updates.run(sha256, async () => {
      const next = change(await this.read(sha256));
      if (next !== undefined) await this.#write(next);
    });
  }

  /** Every readable manifest. */
  async all(signal: AbortSignal | undefined): Promise<Manifest[]> {
    const manifests: Manifest[] = [];
    for (const name of await listDirectory(this.directory)) {
      if (signal?.aborted) throw abortedError('Reading the image cache', signal.reason);
      const match = /^([0-9a-f]{64})\.json$/.exec(name);
      if (match?.[1] === undefined) continue;
      const manifest = await this.read(match[1]);
      if (manifest !== undefined) manifests.push(manifest);
    }
    return manifests;
  }

  async #write(manifest: Manifest): Promise<void> {
    const path = this.pathOf(manifest.sha256);
    try {
      await writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Writing ${path} failed`, { path });
    }
  }
}

/** What {@link ImageCache.list} reports of a manifest and its file. @internal */
export function toCachedImage(manifest: Manifest, path: string, size: number): CachedImage {
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

/** The manifest is the one of `sha256` and names a file beside it (not itself, nor one elsewhere). */
function isManifestOf(manifest: Manifest, sha256: string): boolean {
  const { file } = manifest;
  return (
    manifest.sha256 === sha256 &&
    basename(file) === file &&
    file.startsWith(`${sha256}.`) &&
    file !== `${sha256}.json`
  );
}
