import { HypervisorError } from '@cvmweb/core';
import {
  DOMImplementation,
  DOMParser,
  type Document,
  type Element,
  MIME_TYPE,
  NAMESPACE,
  XMLSerializer,
} from '@xmldom/xmldom';

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

/**
 * The document as text (for `virsh define`). xmldom writes a carriage return in an attribute as
 * `&#13;` but in text as is, where a parser reads it back as a line feed (XML's end-of-line
 * handling): here it becomes `&#13;` in text too. Markup holds no raw carriage return of its own
 * (a parsed document has none left, and {@link appendElement} writes no comment or CDATA), so
 * every one in the output is a value's.
 */
export function serializeXml(document: Document): string {
  return new XMLSerializer().serializeToString(document, { requireWellFormed: true }).replace(/\r/g, '&#13;');
}

/**
 * A new document whose root element is `name` (in `namespace` when given, `name` then with its
 * prefix), declaring each namespace of `namespaces` (prefix → URI).
 */
export function createXmlDocument(
  name: string,
  namespaces: Readonly<Record<string, string>> = {},
  namespace?: string,
): Document {
  const document = new DOMImplementation().createDocument(namespace ?? null, name, null);
  const root = document.documentElement as Element;
  for (const [prefix, uri] of Object.entries(namespaces))
    root.setAttributeNS(NAMESPACE.XMLNS, `xmlns:${prefix}`, uri);
  return document;
}

/** An attribute or text value: text as is, a number as a non-negative integer; `undefined` leaves it out. */
export type XmlValue = string | number | undefined;

/**
 * Appends the element `name` to `parent` (in `namespace` when given, `name` then with its prefix),
 * with `attributes` and, when given, `text` as its content. Values are set through the DOM, so no
 * value can add markup; a number must be a non-negative integer (`RangeError`), a string must hold
 * only characters XML can carry (`INVALID_USAGE`).
 */
export function appendElement(
  parent: Element,
  name: string,
  attributes: Readonly<Record<string, XmlValue>> = {},
  text?: XmlValue,
  namespace?: string,
): Element {
  const document = parent.ownerDocument as Document;
  const element = namespace ? document.createElementNS(namespace, name) : document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) element.setAttribute(key, xmlValue(value, `${name} ${key}`));
  }
  if (text !== undefined) element.appendChild(document.createTextNode(xmlValue(text, name)));
  parent.appendChild(element);
  return element;
}

/** Characters outside XML 1.0's `Char` production: no escape can carry them. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function xmlValue(value: string | number, field: string): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`${field}: not a non-negative integer: ${value}`);
    return String(value);
  }
  if (NOT_XML_CHAR.test(value)) {
    throw new HypervisorError('INVALID_USAGE', `${field}: the value holds a character XML cannot carry`, {
      details: { field },
    });
  }
  return value;
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
