/**
 * Request bodies: strict UTF-8, JSON, no NUL anywhere (api-reference.md §1.16), no lone surrogate,
 * bounded depth, bounded strings and lists (`BodyLimits`: one tenant's request must not make work
 * or rows for everyone else to wait on).
 * An empty body reads as `undefined` (action POSTs may come without one).
 */
import { ApiError, errors } from '../errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export const MAX_DEPTH = 64;

export interface BodyLimits {
  /** Items in any list of a body: objects of a bulk request, NICs, drives, tags... */
  maxItems: number;
  /** Characters in any string of a body (keys included). */
  maxString: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { maxItems: 1000, maxString: 65_536 };

export function parseJsonBody(raw: Buffer, limits: BodyLimits = DEFAULT_BODY_LIMITS): unknown {
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
  checkValue(value, limits);
  return value;
}

/**
 * Walks the value without recursion: rejects NUL in keys or strings, nesting past MAX_DEPTH,
 * lists and strings over the limits.
 */
function checkValue(root: unknown, limits: BodyLimits): void {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      checkString(value, limits);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_DEPTH) throw errors.tooDeep();
    if (Array.isArray(value)) {
      if (value.length > limits.maxItems) {
        throw new ApiError(
          'validation',
          `A list in a request may hold at most ${limits.maxItems} items; this one holds ${value.length}`,
          value === root || value === (root as { objects?: unknown }).objects ? 'objects' : null,
          400,
        );
      }
      for (const item of value) stack.push([item, depth + 1]);
    } else {
      for (const [key, item] of Object.entries(value)) {
        checkString(key, limits);
        stack.push([item, depth + 1]);
      }
    }
  }
}

/** No NUL, and no lone surrogate (`"\ud800"` is valid JSON but not text any store can keep). */
function checkString(text: string, limits: BodyLimits): void {
  // Length in UTF-16 units: never fewer than the characters, so nothing longer slips through.
  if (text.length > limits.maxString) {
    throw new ApiError(
      'validation',
      `Strings in a request may be at most ${limits.maxString} characters; one has ${text.length}`,
      null,
      400,
    );
  }
  if (text.includes('\0')) throw errors.nullCharacter(null);
  if (!text.isWellFormed())
    throw errors.invalid(null, 'Strings must be valid Unicode (a lone surrogate is not)');
}
