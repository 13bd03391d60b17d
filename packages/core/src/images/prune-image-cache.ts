import { join } from 'node:path';
import type { ActionOptions } from '../action-options.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';
import { listDirectory, removeFile, statOrUndefined } from './cache-files.js';
import { type CachedImage, type ManifestStore, toCachedImage } from './cache-manifest.js';

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

/** The parts of an image cache {@link pruneImageCache} looks at. @internal */
export interface PrunedCache {
  readonly manifests: ManifestStore;
  /** The `partial/` folder. */
  readonly partials: string;
  /** Partial files of downloads in progress: never removed. */
  readonly active: ReadonlySet<string>;
  /** The time now, ms since the epoch. */
  readonly now: number;
}

/**
 * Removes cached images and stale partial downloads and leftovers; see {@link ImageCache.prune}.
 * @internal
 */
export async function pruneImageCache(cache: PrunedCache, options: PruneOptions): Promise<PruneResult> {
  const { signal, keep, olderThanMs, all = false } = options;
  const what = 'Pruning the image cache';
  if (signal?.aborted) throw abortedError(what, signal.reason);
  if (olderThanMs !== undefined && !(olderThanMs >= 0)) {
    throw new HypervisorError('INVALID_USAGE', 'olderThanMs must be a non-negative number', {
      details: { field: 'olderThanMs', value: olderThanMs },
    });
  }
  const { manifests, now } = cache;
  const images = manifests.directory;
  const kept = new Set(keep ?? []);
  const removed: CachedImage[] = [];
  const removedPartials: string[] = [];
  let freedBytes = 0;
  const referenced = new Set<string>();

  for (const manifest of await manifests.all(signal)) {
    if (signal?.aborted) throw abortedError(what, signal.reason);
    referenced.add(manifest.file);
    referenced.add(`${manifest.sha256}.json`);
    const path = join(images, manifest.file);
    const info = await statOrUndefined(path);
    const image = toCachedImage(manifest, path, info?.size ?? 0);
    const isKept = manifest.versions.some((version) => kept.has(version));
    const expired =
      all ||
      (olderThanMs !== undefined && now - manifest.lastUsed >= olderThanMs) ||
      (keep !== undefined && olderThanMs === undefined);
    if (isKept || !expired) continue;
    await removeFile(path);
    await removeFile(manifests.pathOf(manifest.sha256));
    referenced.delete(manifest.file);
    if (info !== undefined) {
      removed.push(image);
      freedBytes += info.size;
    }
  }

  const staleAfter = olderThanMs ?? STALE_PARTIAL_MS;
  const leftovers = [
    ...(await listDirectory(cache.partials)).map((name) => join(cache.partials, name)),
    ...(await listDirectory(images))
      .filter((name) => !referenced.has(name))
      .map((name) => join(images, name)),
  ];
  for (const path of leftovers) {
    if (signal?.aborted) throw abortedError(what, signal.reason);
    if (cache.active.has(path)) continue;
    const info = await statOrUndefined(path);
    if (info === undefined || !info.isFile()) continue;
    if (!all && now - info.mtimeMs < staleAfter) continue;
    await removeFile(path);
    removedPartials.push(path);
    freedBytes += info.size;
  }
  return { removed, removedPartials, freedBytes };
}
