import { createHash } from 'node:crypto';

/** What a volume made for one VM alone holds. */
export type OwnVolumeKind = 'scratch' | 'overlay' | 'context';

/** A volume name of {@link ownVolumeName}, read back. */
export interface OwnVolume {
  /** The VM (domain) the volume was made for. */
  readonly vmName: string;
  /** The installation's marker ({@link installationTag}). */
  readonly tag: string;
  /** What it holds. */
  readonly kind: OwnVolumeKind;
}

const SUFFIX: Readonly<Record<OwnVolumeKind, string>> = {
  scratch: 'scratch.qcow2',
  overlay: 'overlay.qcow2',
  context: 'context.iso',
};
const PATTERN = /^([a-z0-9-]{1,63})\.([0-9a-f]{12})\.(scratch\.qcow2|overlay\.qcow2|context\.iso)$/;

/**
 * The marker of installation `installationId` in the names of its volumes: 12 hex digits of
 * SHA-256 over the id. Storage volumes carry no `<metadata>`, so the name is their only mark.
 */
export function installationTag(installationId: string): string {
  return createHash('sha256').update(installationId).digest('hex').slice(0, 12);
}

/**
 * The name of VM `vmName`'s own volume of `kind`: `<vm name>.<installation tag>.<kind suffix>`,
 * e.g. `cvmweb-demo-0123456789ab.5f3c0d2e91aa.scratch.qcow2`. VM names hold no `.`, so the name
 * reads back unambiguously ({@link parseOwnVolumeName}) even when the domain is gone.
 */
export function ownVolumeName(vmName: string, tag: string, kind: OwnVolumeKind): string {
  return `${vmName}.${tag}.${SUFFIX[kind]}`;
}

/** Reads a name of {@link ownVolumeName} back; `undefined` for any other volume name. */
export function parseOwnVolumeName(volume: string): OwnVolume | undefined {
  const match = PATTERN.exec(volume);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  const kind = (Object.keys(SUFFIX) as OwnVolumeKind[]).find((k) => SUFFIX[k] === match[3]);
  return kind ? { vmName: match[1], tag: match[2], kind } : undefined;
}

/** Every volume name VM `vmName` may own, removed with it whatever its metadata says. */
export function ownVolumeNames(vmName: string, tag: string): string[] {
  return (Object.keys(SUFFIX) as OwnVolumeKind[]).map((kind) => ownVolumeName(vmName, tag, kind));
}

/** The unmarked volume names (`<vm name>-<kind suffix>`) of VMs made by earlier releases. */
export function legacyVolumeNames(vmName: string): string[] {
  return Object.values(SUFFIX).map((suffix) => `${vmName}-${suffix}`);
}
