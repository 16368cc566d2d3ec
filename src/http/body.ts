/**
 * Request bodies: strict UTF-8, JSON, no NUL anywhere (api-reference.md §1.16), no lone surrogate,
 * bounded depth.
 * An empty body reads as `undefined` (action POSTs may come without one).
 */
import { errors } from '../errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export const MAX_DEPTH = 64;

export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch {
    throw errors.badUtf8();
  }
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw errors.badJson(e instanceof Error ? e.message : String(e));
  }
  checkValue(value);
  return value;
}

/** Walks the value without recursion: rejects NUL in keys or strings and nesting past MAX_DEPTH. */
function checkValue(root: unknown): void {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      checkString(value);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_DEPTH) throw errors.tooDeep();
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth + 1]);
    } else {
      for (const [key, item] of Object.entries(value)) {
        checkString(key);
        stack.push([item, depth + 1]);
      }
    }
  }
}

/** No NUL, and no lone surrogate (`"\ud800"` is valid JSON but not text any store can keep). */
function checkString(text: string): void {
  if (text.includes('\0')) throw errors.nullCharacter(null);
  if (!text.isWellFormed())
    throw errors.invalid(null, 'Strings must be valid Unicode (a lone surrogate is not)');
}
