import { HypervisorError } from '@cvmweb/core';
import type { Document, Element } from '@xmldom/xmldom';
import { METADATA_NAMESPACE } from './vm-metadata.js';
import { childElements, descendantElements, parseXml, serializeXml } from './xml.js';

/** QEMU's namespace in libvirt domain XML (`<qemu:commandline>`). */
export const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';

/** The API forward of a domain: QEMU's `hostfwd` rule 127.0.0.1:`hostPort` → the guest's `guestPort`. */
export interface ApiForward {
  readonly hostPort: number;
  readonly guestPort: number;
}

const HOSTFWD = /(^|,)hostfwd=tcp:127\.0\.0\.1:(\d+)-:(\d+)(?=,|$)/;

/** The `<qemu:arg value="user,…,hostfwd=…">` elements of a domain's `<qemu:commandline>`. */
function forwardArgs(domain: Document): Element[] {
  const root = domain.documentElement;
  if (!root) return [];
  return childElements(root, 'commandline', QEMU_NAMESPACE)
    .flatMap((line) => childElements(line, 'arg', QEMU_NAMESPACE))
    .filter((arg) => HOSTFWD.test(arg.getAttribute('value') ?? ''));
}

/** The API forward of the domain definition `xml` (`virsh dumpxml`), or `undefined` when it has none. */
export function readApiForward(xml: string): ApiForward | undefined {
  const value = forwardArgs(parseXml(xml, 'the domain definition'))[0]?.getAttribute('value') ?? '';
  const match = HOSTFWD.exec(value);
  return match ? { hostPort: Number(match[2]), guestPort: Number(match[3]) } : undefined;
}

/**
 * The domain definition `xml` (`virsh dumpxml --inactive`) with its API forward moved from host
 * port `from` to `to`, in QEMU's `hostfwd` rule and in cvmweb's metadata (`<cvmweb:api port>`).
 * Edited as a document (xmldom); everything else is kept. Rejects with `CONTROL` when the domain
 * has no forward on `from`.
 */
export function moveApiForward(xml: string, from: number, to: number): string {
  const domain = parseXml(xml, 'the domain definition');
  const args = forwardArgs(domain).filter(
    (arg) => Number(HOSTFWD.exec(arg.getAttribute('value') ?? '')?.[2]) === from,
  );
  if (args.length === 0) {
    throw new HypervisorError('CONTROL', `its API forward on port ${from} was not found`, {
      details: { port: from },
    });
  }
  for (const arg of args) {
    const value = arg.getAttribute('value') ?? '';
    arg.setAttribute(
      'value',
      value.replace(HOSTFWD, (_, lead: string, _port: string, guest: string) => {
        return `${lead}hostfwd=tcp:127.0.0.1:${to}-:${guest}`;
      }),
    );
  }
  for (const api of descendantElements(domain, 'api', METADATA_NAMESPACE)) {
    if (Number(api.getAttribute('port')) === from) api.setAttribute('port', String(to));
  }
  return serializeXml(domain);
}
