import type { ActionOptions, ProgressListener } from '../action-options.js';
import type { ContextFormat } from '../context/context-medium.js';

/** How an image boots. */
export type ImageKind = 'iso' | 'disk' | 'kernel';

/** A boot image in the local cache, ready for a driver to attach or upload. */
export interface ResolvedImage {
  /** The catalog key (the requirement's `version`). */
  readonly version: string;
  /** `iso`: boot from a CD-ROM; `disk`: a disk image used as a shared base; `kernel`: direct kernel boot. */
  readonly kind: ImageKind;
  /** The cached file: the ISO, the disk image, or the kernel. */
  readonly path: string;
  /** For `kernel` images: the cached initrd. */
  readonly initrdPath?: string;
  /** For `kernel` images: the verified sha256 of the initrd, lower-case hex. */
  readonly initrdSha256?: string;
  /** For `kernel` images: the kernel command line. */
  readonly cmdline?: string;
  /** For `disk` images: the file format (`qcow2`, `raw`, `vmdk`, `vdi`). */
  readonly diskFormat?: string;
  /** The verified sha256 of `path`, lower-case hex. */
  readonly sha256: string;
  /** The user-data medium this image reads. */
  readonly context: ContextFormat;
}

/**
 * The image a session asked for. Resolving downloads it into the cache
 * (reporting progress), verifies it, and returns the local file. Drivers that
 * boot nothing real (the mock) never call it.
 */
export interface ImageSource {
  /** The requested version (catalog key). */
  readonly version: string;
  /** The user-data format the image expects, known without downloading. */
  readonly context: ContextFormat;
  /** Makes the image available locally. */
  resolve(options?: ActionOptions & { onProgress?: ProgressListener }): Promise<ResolvedImage>;
}
