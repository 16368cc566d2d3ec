import { describe, expect, it } from 'vitest';
import { type DumpEntry, DumpSyntaxError, dumpEntries } from './dump-reader.js';

/** `text` cut into chunks of `size` bytes (1: every byte alone, splitting UTF-8 sequences). */
async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function entries(text: string, size = 7): Promise<DumpEntry[]> {
  const out: DumpEntry[] = [];
  for await (const entry of dumpEntries(chunks(text, size))) out.push(entry);
  return out;
}

/** What JSON.parse says the same text holds, as entries. */
function expected(text: string): DumpEntry[] {
  const value = JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  return Object.entries(value).flatMap(([key, v]): DumpEntry[] =>
    Array.isArray(v)
      ? [
          { type: 'array', key },
          ...v.map((item, index): DumpEntry => ({ type: 'element', key, index, value: item })),
        ]
      : [{ type: 'value', key, value: v }],
  );
}

const tricky = {
  format: 'sigmalite-state',
  version: 1,
  clock_time: null,
  accounts: [{ uuid: 'a', email: 'ü@x', n: -1.5e3, ok: true, none: null }],
  objects: [
    { s: 'brackets ] } [ { and "quotes" and \\ backslashes \\" ,', nested: { a: [1, [2, {}]] } },
    'a string row',
    42,
    false,
    [],
    {},
    { emoji: '😀 日本', escapes: '\u0001\n\t\u00e9' },
  ],
  empty: [],
  nested: { x: [1, 2] },
};

describe('dumpEntries', () => {
  for (const [name, text] of [
    ['compact', JSON.stringify(tricky)],
    ['pretty', JSON.stringify(tricky, null, 2)],
    ['one row a line', JSON.stringify(tricky).replaceAll('},{', '},\n{')],
    ['with a BOM and spaces everywhere', `\uFEFF \n ${JSON.stringify(tricky, null, '\t')} \n`],
    ['an empty object', '{}'],
  ] as const) {
    it(`splits ${name} text as JSON.parse reads it, whatever the chunk size`, async () => {
      for (const size of [1, 2, 3, 5, 64, 100_000]) {
        expect(await entries(text, size)).toEqual(expected(text));
      }
    });
  }

  it.each([
    ['a cut document', JSON.stringify(tricky).slice(0, 120)],
    ['a missing comma', '{"a":1 "b":2}'],
    ['a trailing comma', '{"a":[1,2,],"b":1}'],
    ['a trailing comma in the object', '{"a":1,}'],
    ['garbage after the object', '{"a":1} x'],
    ['not an object', '[1,2]'],
    ['a broken row', '{"a":[{"x":}]}'],
    ['an unquoted key', '{a:1}'],
    ['nothing', ''],
  ])('refuses %s', async (_name, text) => {
    await expect(entries(text)).rejects.toThrow(DumpSyntaxError);
  });
});
