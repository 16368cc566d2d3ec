/**
 * The error catalogue (`src/errors.ts`, after Fastify's lib/errors.js and its test): every entry
 * is used by the code, and listed in docs/errors.md with the type and status it answers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiError, errors } from '../../src/errors.js';
import { sourceFiles } from './sources.js';

/** Arguments to build each entry with (strings for the rest). */
const SAMPLE_ARGS: Partial<Record<keyof typeof errors, unknown[]>> = {
  unknownFields: [['a']],
  methodNotAllowed: ['PUT', '/x/', ['GET']],
  unauthorized: [['Basic realm="x"']],
  bodyTooLarge: [10],
  throttled: [5],
  unknownAction: ['x'],
};

function documented(): Map<string, { type: string; status: number }> {
  const rows = new Map<string, { type: string; status: number }>();
  for (const line of readFileSync('docs/errors.md', 'utf8').split('\n')) {
    const match = /^\| `(\w+)` \| (\w+) \| (\d{3}) \|/.exec(line);
    if (match) rows.set(match[1]!, { type: match[2]!, status: Number(match[3]) });
  }
  return rows;
}

describe('the error catalogue', () => {
  const entries = Object.entries(errors) as [keyof typeof errors, (...a: unknown[]) => unknown][];
  const docs = documented();

  it('lists in docs/errors.md every entry, with its type and status, and nothing else', () => {
    for (const [name, build] of entries) {
      const args = SAMPLE_ARGS[name] ?? Array.from({ length: build.length }, () => 'x');
      const error = build(...args);
      expect(error, name).toBeInstanceOf(ApiError);
      const { type, status } = error as ApiError;
      expect(docs.get(name), `docs/errors.md: ${name}`).toEqual({ type, status });
    }
    expect([...docs.keys()].sort()).toEqual(entries.map(([name]) => name).sort());
  });

  it('has no entry the code does not use', () => {
    const code = sourceFiles()
      .filter((file) => file.path !== 'src/errors.ts')
      .map((file) => file.text)
      .join('\n');
    for (const [name] of entries) {
      expect(new RegExp(`\\berrors\\s*\\.\\s*${name}\\b`).test(code), name).toBe(true);
    }
  });
});
