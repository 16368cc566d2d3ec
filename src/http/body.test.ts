import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { parseJsonBody } from './body.js';

const parse = (text: string | Buffer) =>
  parseJsonBody(Buffer.isBuffer(text) ? text : Buffer.from(text));

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('parseJsonBody', () => {
  it('reads JSON, and an empty body as undefined', () => {
    expect(parse('{"a": [1, "x"]}')).toEqual({ a: [1, 'x'] });
    expect(parse('')).toBeUndefined();
    expect(parse('  \n')).toBeUndefined();
  });
  it('refuses malformed JSON, invalid UTF-8 and NUL with 400 validation', () => {
    for (const bad of [
      Buffer.from('{"a":'),
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
      Buffer.from('{"a": "x\\u0000y"}'),
      Buffer.from('{"a\\u0000": 1}'),
      Buffer.from('{"a": "\\ud800"}'),
      Buffer.from('{"\\udc00": 1}'),
    ]) {
      const error = errorOf(() => parse(bad));
      expect(error.status).toBe(400);
      expect(error.type).toBe('validation');
    }
  });
  it('refuses deep nesting without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(errorOf(() => parse(deep)).status).toBe(400);
  });
});
