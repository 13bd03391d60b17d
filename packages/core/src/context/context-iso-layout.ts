import type { Iso9660File } from './iso9660-writer.js';

/** What a context medium holds: its volume label and the files of its root directory. */
export interface ContextIsoLayout {
  /** The volume label, for {@link writeIso9660}'s `volumeId`. */
  readonly volumeId: string;
  /** The files of the root directory. */
  readonly files: readonly Iso9660File[];
}
