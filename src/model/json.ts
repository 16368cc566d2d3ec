/**
 * Canonical JSON: object keys sorted at every level, as CloudSigma (Django) renders them.
 * Objects are rendered once, on write, and the bytes are kept; reads splice them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined || typeof item === 'function' ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  const source = value as Record<string, unknown> & { toJSON?: () => unknown };
  if (typeof source.toJSON === 'function') return canonicalJson(source.toJSON());
  const keys = Object.keys(source).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const item = source[key];
    if (item === undefined || typeof item === 'function') continue;
    if (out.length > 1) out += ',';
    out += quotedKey(key);
    // Strings and other leaves directly: most values are, and a call per value shows (~35%).
    out +=
      typeof item === 'string'
        ? JSON.stringify(item)
        : item !== null && typeof item === 'object'
          ? canonicalJson(item)
          : (JSON.stringify(item) ?? 'null');
  }
  return `${out}}`;
}

/** `"key":`, remembered: documents repeat the same few dozen keys. */
const QUOTED_KEYS = new Map<string, string>();
const QUOTED_KEYS_MAX = 10_000;

function quotedKey(key: string): string {
  let quoted = QUOTED_KEYS.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    // Keys of `meta` are the users' own: the map stays bounded.
    if (QUOTED_KEYS.size < QUOTED_KEYS_MAX) QUOTED_KEYS.set(key, quoted);
  }
  return quoted;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
