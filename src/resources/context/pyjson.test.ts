import { describe, expect, it } from 'vitest';
import { PyFloat, pythonJson, pythonString } from './pyjson.js';

describe('pythonJson', () => {
  it('writes what json.dumps writes by default', () => {
    // Python: json.dumps({"name": "x", "n": [1, 2.5, None, True], "m": {}, "e": []})
    expect(pythonJson({ name: 'x', n: [1, 2.5, null, true], m: {}, e: [] })).toBe(
      '{"name": "x", "n": [1, 2.5, null, true], "m": {}, "e": []}',
    );
    expect(pythonJson({ a: undefined, b: 1 })).toBe('{"b": 1}');
    expect(pythonJson([undefined])).toBe('[null]');
    expect(pythonJson(new PyFloat(2))).toBe('2.0');
    expect(pythonJson(Number.NaN)).toBe('null');
    expect(pythonJson(Object.assign(Object.create({ inherited: 1 }), { own: 2 }))).toBe(
      '{"own": 2}',
    );
  });

  it('escapes quotes, backslashes, control characters and everything outside ASCII', () => {
    // Python: json.dumps('a"b\\c\n\x01\x7fé€😀')
    expect(pythonString('a"b\\c\n\u0001\u007fé€😀')).toBe(
      '"a\\"b\\\\c\\n\\u0001\\u007f\\u00e9\\u20ac\\ud83d\\ude00"',
    );
    expect(pythonString('plain ASCII ~!')).toBe('"plain ASCII ~!"');
    expect(pythonJson({ kéy: 'v' })).toBe('{"k\\u00e9y": "v"}');
  });
});
