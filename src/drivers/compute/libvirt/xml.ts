/**
 * libvirt's XML, written and read with fast-xml-parser (never by string concatenation: a name or
 * a path is escaped by the library, so it cannot end an attribute or open an element).
 *
 * An element is a plain object: attributes are keys starting with `@`, text is `#text`, children
 * are keys of their own (an array repeats the element). `undefined` and `null` values are left
 * out, so optional parts can be written inline.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/** An element to write: attributes (`@name`), `#text` and children. */
export interface XmlElement {
  [key: string]: XmlValue;
}
export type XmlValue = XmlElement | XmlElement[] | string | number | null | undefined;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
});

const lineBuilder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  format: false,
  suppressEmptyNode: true,
});

/**
 * Writes `{ domain: {...} }` as `<domain ...>...</domain>\n`, indented; on one line with
 * `oneLine` (for XML passed as a virsh argument, which ends at a line break).
 */
export function buildXml(root: XmlElement, options: { oneLine?: boolean } = {}): string {
  return (options.oneLine ? lineBuilder : builder).build(prune(root) as XmlElement);
}

/** Drops undefined and null values at every level (the builder would write them as text). */
function prune(value: XmlValue): XmlValue {
  if (Array.isArray(value)) return value.map((item) => prune(item) as XmlElement);
  if (value === null || typeof value !== 'object') return value;
  const out: XmlElement = {};
  for (const [key, child] of Object.entries(value)) {
    if (child !== undefined && child !== null) out[key] = prune(child);
  }
  return out;
}

/** A parsed element: attributes (`@name`), `#text`, children; values are strings. */
export interface ParsedElement {
  [key: string]: ParsedValue;
}
export type ParsedValue = ParsedElement | ParsedElement[] | string | undefined;

/**
 * Reads XML; the elements named in `lists` are always arrays, even when one or none is present,
 * so that code reading them needs no special case.
 */
export function parseXml(text: string, lists: readonly string[] = []): ParsedElement {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    textNodeName: '#text',
    parseTagValue: false,
    parseAttributeValue: false,
    isArray: (name) => lists.includes(name),
  });
  return parser.parse(text) as ParsedElement;
}

/** The child element `name` of `element`, if it is one. */
export function child(element: ParsedValue, name: string): ParsedElement | undefined {
  if (element === undefined || typeof element === 'string' || Array.isArray(element)) {
    return undefined;
  }
  const value = element[name];
  if (value === undefined || Array.isArray(value)) return undefined;
  // `<name/>` parses as an empty string.
  return typeof value === 'string' ? { '#text': value } : value;
}

/** The child elements `name` of `element` (for names parsed as lists). */
export function children(element: ParsedValue, name: string): ParsedElement[] {
  if (element === undefined || typeof element === 'string' || Array.isArray(element)) return [];
  const value = element[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => (typeof item === 'string' ? { '#text': item } : item));
}

/** The attribute `name` of `element`. */
export function attr(element: ParsedValue, name: string): string | undefined {
  if (element === undefined || typeof element === 'string' || Array.isArray(element)) {
    return undefined;
  }
  const value = element[`@${name}`];
  return typeof value === 'string' ? value : undefined;
}

/** The text of the child element `name` of `element`. */
export function text(element: ParsedValue, name: string): string | undefined {
  if (element === undefined || typeof element === 'string' || Array.isArray(element)) {
    return undefined;
  }
  const value = element[name];
  if (typeof value === 'string') return value;
  if (value !== undefined && !Array.isArray(value)) {
    const inner = value['#text'];
    return typeof inner === 'string' ? inner : undefined;
  }
  return undefined;
}
