import { HypervisorError } from '@cvmweb/core';
import { DOMParser, type Document, type Element, MIME_TYPE, XMLSerializer } from '@xmldom/xmldom';

/**
 * Escapes text for an XML element's content or a quoted attribute value. Line breaks and tabs
 * become character references, so a parser's attribute-value normalisation keeps them.
 */
export function escapeXml(value: string | number): string {
  return String(value).replace(/[&<>"'\r\n\t]/g, (c) => XML_ENTITIES[c] ?? c);
}

const XML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};

/**
 * Parses an XML document libvirt printed (a domain definition, metadata, capabilities) with
 * xmldom. Anything that is not well-formed — a warning included — rejects with `QUERY`.
 */
export function parseXml(text: string, what: string): Document {
  try {
    return new DOMParser({
      onError: (level, message) => {
        throw new Error(`${level}: ${message}`);
      },
    }).parseFromString(text, MIME_TYPE.XML_TEXT);
  } catch (error) {
    throw new HypervisorError('QUERY', `${what} is not well-formed XML`, { cause: error, details: { what } });
  }
}

/** The document as text (for `virsh define`). */
export function serializeXml(document: Document): string {
  return new XMLSerializer().serializeToString(document);
}

/** The child elements of `parent` with the local name `name` (any namespace, or only `namespace`). */
export function childElements(parent: Element, name: string, namespace?: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType !== node.ELEMENT_NODE) continue;
    const element = node as Element;
    if (element.localName === name && (namespace === undefined || element.namespaceURI === namespace))
      found.push(element);
  }
  return found;
}

/** The elements below `parent` (at any depth) with the local name `name`, in `namespace` when given. */
export function descendantElements(parent: Element | Document, name: string, namespace?: string): Element[] {
  return [...parent.getElementsByTagNameNS(namespace ?? '*', name)];
}
