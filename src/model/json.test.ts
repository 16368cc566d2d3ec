import { describe, expect, it } from 'vitest';
import { canonicalJson } from './json.js';

describe('canonicalJson', () => {
  it('sorts keys at every level and otherwise matches JSON.stringify', () => {
    const value = { b: 1, a: { d: [3, { z: null, y: 'é"\n' }], c: true }, u: undefined, n: 1.5 };
    expect(canonicalJson(value)).toBe(
      '{"a":{"c":true,"d":[3,{"y":"é\\"\\n","z":null}]},"b":1,"n":1.5}',
    );
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
    expect(canonicalJson([undefined, 'x'])).toBe('[null,"x"]');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson('\u2028')).toBe(JSON.stringify('\u2028'));
  });
});
