import type { Element } from '@xmldom/xmldom';
import {
  appendElement,
  childElements,
  createXmlDocument,
  descendantElements,
  parseXml,
  serializeXml,
} from './xml.js';

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
 * The metadata element as text. `embedded` (default) is the prefixed form with its namespace
 * declaration, as in the domain XML; `set` is the bare form `virsh metadata --key … --set` takes
 * (libvirt adds the namespace itself and refuses an element that declares one).
 */
export function buildMetadata(metadata: VmMetadata, form: 'embedded' | 'set' = 'embedded'): string {
  const namespace = form === 'set' ? undefined : METADATA_NAMESPACE;
  const document = createXmlDocument(form === 'set' ? 'vm' : `${METADATA_KEY}:vm`, {}, namespace);
  fillMetadata(document.documentElement as Element, metadata, namespace);
  return serializeXml(document);
}

/** Appends cvmweb's metadata element (the embedded form of {@link buildMetadata}) to `parent`. */
export function appendMetadata(parent: Element, metadata: VmMetadata): void {
  const vm = appendElement(parent, `${METADATA_KEY}:vm`, {}, undefined, METADATA_NAMESPACE);
  fillMetadata(vm, metadata, METADATA_NAMESPACE);
}

/** Fills the metadata element `vm`, its children in `namespace` (prefixed) or in none. */
function fillMetadata(vm: Element, metadata: VmMetadata, namespace: string | undefined): void {
  const add = (to: Element, local: string, attributes?: Record<string, number>, text?: string) =>
    appendElement(to, namespace ? `${METADATA_KEY}:${local}` : local, attributes, text, namespace);
  add(vm, 'installation', {}, metadata.installation);
  add(vm, 'session', {}, metadata.sessionId);
  add(vm, 'api', { port: metadata.apiPort });
  const volumes = add(vm, 'volumes');
  for (const volume of metadata.volumes) add(volumes, 'volume', {}, volume);
}

/**
 * Reads {@link buildMetadata}'s element back (parsed with an XML library), with any prefix or none
 * (`virsh metadata --uri` prints it without its namespace), or from a whole domain definition;
 * `undefined` when it has no session. A domain made before installations were recorded has the
 * installation `''` (no installation claims it). Rejects with `QUERY` when `xml` is not
 * well-formed.
 */
export function parseMetadata(xml: string): VmMetadata | undefined {
  const root = parseXml(xml, 'cvmweb metadata').documentElement;
  if (!root) return undefined;
  const vm = root.localName === 'vm' ? root : descendantElements(root, 'vm', METADATA_NAMESPACE)[0];
  if (!vm) return undefined;
  const text = (name: string) => childElements(vm, name)[0]?.textContent ?? undefined;
  const session = text('session');
  if (session === undefined) return undefined;
  const port = Number(childElements(vm, 'api')[0]?.getAttribute('port') ?? 0);
  const volumes = childElements(vm, 'volumes').flatMap((list) =>
    childElements(list, 'volume').map((volume) => volume.textContent ?? ''),
  );
  return {
    installation: (text('installation') ?? '').trim(),
    sessionId: session.trim(),
    apiPort: Number.isSafeInteger(port) && port > 0 ? port : 0,
    volumes,
  };
}
