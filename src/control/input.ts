/**
 * Reading control-API bodies: a JSON object with known keys only (a typo in a test's setup must
 * fail loudly, not be ignored), each of its type; errors are 400 `validation` at the key.
 */
import { errors } from '../errors.js';
import { isPlainObject } from '../model/json.js';

export type Body = Record<string, unknown>;

/** The body as an object (none is `{}`), refusing keys other than `allowed`. */
export function readBody(body: unknown, allowed: readonly string[]): Body {
  if (body === undefined || body === null) return {};
  if (!isPlainObject(body)) throw errors.invalid(null, 'Expected a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw errors.invalid(key, `Unknown key "${key}"; expected one of ${allowed.join(', ')}`);
    }
  }
  return body;
}

export function optionalString(body: Body, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw errors.invalid(key, 'Expected a string');
  return value;
}

export function optionalBoolean(body: Body, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw errors.invalid(key, 'Expected true or false');
  return value;
}

/** A finite number in [min, max]. */
export function optionalNumber(
  body: Body,
  key: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw errors.invalid(key, `Expected a number from ${min} to ${max}`);
  }
  return value;
}

/** An integer in [min, max]. */
export function optionalInteger(
  body: Body,
  key: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const value = optionalNumber(body, key, min, max);
  if (value !== undefined && !Number.isInteger(value)) {
    throw errors.invalid(key, `Expected an integer from ${min} to ${max}`);
  }
  return value;
}

export function requiredInteger(body: Body, key: string, min: number, max?: number): number {
  const value = optionalInteger(body, key, min, max);
  if (value === undefined) throw errors.required(key);
  return value;
}

export function optionalStrings(body: Body, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw errors.invalid(key, 'Expected a list of strings');
  }
  return value as string[];
}
