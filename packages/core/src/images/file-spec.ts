import type { CachedFileRole } from './cache-manifest.js';
import type { ImageEntry } from './image-catalog.js';
import type { ImageKind } from './image-source.js';

/** One file of an image entry to make available. @internal */
export interface FileSpec {
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

/** A verified file in the cache. @internal */
export interface StoredFile {
  readonly path: string;
  readonly sha256: string;
}

/** The files of `entry`: the image (ISO, disk or kernel) and, for a kernel image, its initrd. @internal */
export function fileSpecsOf(entry: ImageEntry): { image: FileSpec; initrd: FileSpec | undefined } {
  const image: FileSpec = {
    version: entry.version,
    role: 'image',
    kind: entry.kind,
    url: entry.url,
    sha256: entry.sha256,
    sha256Url: entry.sha256Url,
    extension: entry.kind === 'iso' ? 'iso' : entry.kind === 'disk' ? (entry.diskFormat ?? 'img') : 'kernel',
    label: `image ${entry.version}`,
  };
  if (entry.kind !== 'kernel' || entry.initrdUrl === undefined) return { image, initrd: undefined };
  return {
    image,
    initrd: {
      version: entry.version,
      role: 'initrd',
      kind: entry.kind,
      url: entry.initrdUrl,
      sha256: entry.initrdSha256,
      sha256Url: entry.initrdSha256Url,
      extension: 'initrd',
      label: `initrd of image ${entry.version}`,
    },
  };
}
