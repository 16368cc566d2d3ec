/// <reference types="vite/client" />
/**
 * Conformance against the recorded fixtures (api-reference.md §7): the table of cases is in
 * `table.ts` (the foundation and lifecycle fixtures) and in `cases/*.ts` (one file per area);
 * fixtures not covered yet are listed as later work in `table.ts`. Adding a fixture is adding a
 * case in the area's file: it leaves the later list by itself.
 */
import { describe, expect, it } from 'vitest';
import { bodyFixtureNames, FIXTURES_DIR, fixtureNames } from './fixtures.js';
import { type Case, CASES as CORE_CASES, LATER as CORE_LATER, replay } from './table.js';

const AREA_CASES: Case[] = Object.values(
  import.meta.glob<{ cases: Case[] }>('./cases/*.ts', { eager: true }),
).flatMap((module) => module.cases);

const CASES: Case[] = [...CORE_CASES, ...AREA_CASES];
const covered = new Set(AREA_CASES.map((c) => c.name));
const LATER: Record<string, string[]> = Object.fromEntries(
  Object.entries(CORE_LATER).map(([area, names]) => [area, names.filter((n) => !covered.has(n))]),
);

describe('fixture conformance', () => {
  for (const c of CASES) it(c.name, () => replay(c));
});

describe('fixture conformance: later', () => {
  for (const [area, names] of Object.entries(LATER)) {
    for (const name of names) it.todo(`${name} (${area})`);
  }
});

describe('fixture coverage', () => {
  it('finds the fixtures', () => {
    expect(
      fixtureNames().length,
      `no fixtures in ${FIXTURES_DIR} (set SIGMALITE_FIXTURES)`,
    ).toBeGreaterThan(200);
  });

  it('lists every fixture exactly once, as a case or as later work', () => {
    const listed = [...CASES.map((c) => c.name), ...Object.values(LATER).flat()];
    const all = [...fixtureNames(), ...bodyFixtureNames()];
    const duplicates = listed.filter((name, i) => listed.indexOf(name) !== i);
    expect(duplicates).toEqual([]);
    expect(listed.filter((name) => !all.includes(name))).toEqual([]);
    expect(all.filter((name) => !listed.includes(name))).toEqual([]);
  });

  it('replays body-only fixtures with a request of their own, and only those', () => {
    for (const c of CASES) expect(c.name.startsWith('libcloud/'), c.name).toBe(!!c.bodyOnly);
    expect(bodyFixtureNames()).toContain('libcloud/start_already_started');
  });
});
