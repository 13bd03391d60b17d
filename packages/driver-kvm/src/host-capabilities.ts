import { childElements, parseXml } from './xml.js';

/**
 * True when the host CPU of `virsh capabilities` shows a hardware virtualisation flag (VT-x
 * `vmx` or AMD-V `svm`), read with an XML library from `<host><cpu><feature name=…/>`.
 * Rejects with `QUERY` when `xml` is not well-formed.
 */
export function hostHasVirtualization(xml: string): boolean {
  const root = parseXml(xml, 'virsh capabilities').documentElement;
  if (!root) return false;
  return childElements(root, 'host')
    .flatMap((host) => childElements(host, 'cpu'))
    .flatMap((cpu) => childElements(cpu, 'feature'))
    .some((feature) => ['vmx', 'svm'].includes(feature.getAttribute('name') ?? ''));
}
