import { escapeXml, unescapeXml } from './xml.js';

/** The XML namespace of cvmweb's element in a domain's `<metadata>`. */
export const METADATA_NAMESPACE = 'https://cvmweb.github.io/xmlns/libvirt-domain/1';
/** The namespace prefix (virsh's `--key`). */
export const METADATA_KEY = 'cvmweb';

/** What cvmweb records on a domain it made. */
export interface VmMetadata {
  /** The cvmweb installation that made the domain (see `KvmOptions.installationId`). */
  readonly installation: string;
  /** The session that owns the domain. */
  readonly sessionId: string;
  /** The host port forwarded to the guest's port 80. */
  readonly apiPort: number;
  /** The names of the storage volumes made for this domain alone (removed with it). */
  readonly volumes: readonly string[];
}

/**
 * The metadata element. `embedded` (default) is the prefixed form with its namespace declaration,
 * for the domain XML; `set` is the bare form `virsh metadata --key … --set` takes (libvirt adds
 * the namespace itself and refuses an element that declares one).
 */
export function buildMetadata(metadata: VmMetadata, form: 'embedded' | 'set' = 'embedded'): string {
  const p = form === 'set' ? '' : `${METADATA_KEY}:`;
  const volumes = metadata.volumes.map((name) => `<${p}volume>${escapeXml(name)}</${p}volume>`).join('');
  const declaration = form === 'set' ? '' : ` xmlns:${METADATA_KEY}="${METADATA_NAMESPACE}"`;
  return (
    `<${p}vm${declaration}>` +
    `<${p}installation>${escapeXml(metadata.installation)}</${p}installation>` +
    `<${p}session>${escapeXml(metadata.sessionId)}</${p}session>` +
    `<${p}api port="${metadata.apiPort}"/>` +
    `<${p}volumes>${volumes}</${p}volumes>` +
    `</${p}vm>`
  );
}

/**
 * Reads {@link buildMetadata}'s element back, with any prefix or none (`virsh metadata --uri`
 * prints it without its namespace); `undefined` when it has no session. A domain made before
 * installations were recorded has the installation `''` (no installation claims it).
 */
export function parseMetadata(xml: string): VmMetadata | undefined {
  const tag = String.raw`(?:[A-Za-z_][\w.-]*:)?`;
  const session = new RegExp(String.raw`<${tag}session>([^<]*)</`).exec(xml)?.[1];
  if (session === undefined) return undefined;
  const installation = new RegExp(String.raw`<${tag}installation>([^<]*)</`).exec(xml)?.[1] ?? '';
  const port = Number(new RegExp(String.raw`<${tag}api\s+port=["'](\d+)["']`).exec(xml)?.[1] ?? 0);
  const volumes = [...xml.matchAll(new RegExp(String.raw`<${tag}volume>([^<]*)</`, 'g'))].map((m) =>
    unescapeXml(m[1] ?? ''),
  );
  return {
    installation: unescapeXml(installation.trim()),
    sessionId: unescapeXml(session.trim()),
    apiPort: port,
    volumes,
  };
}
