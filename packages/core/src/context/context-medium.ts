/** The formats of user-data media that core can build. */
export type ContextFormat = 'cernvm' | 'cloud-init';

/**
 * A user-data medium: a small ISO 9660 image for the guest's contextualisation,
 * built by core and attached by the driver as a CD-ROM.
 *
 * - `cernvm`: volume `CONTEXT_INFO` holding `CONTEXT.SH` with `EC2_USER_DATA` (base64).
 * - `cloud-init`: a NoCloud seed, volume `cidata`, holding `user-data` and `meta-data`.
 */
export interface ContextMedium {
  /** Which layout the image has. */
  readonly format: ContextFormat;
  /** The ISO file, written by core into the VM's directory. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
}
