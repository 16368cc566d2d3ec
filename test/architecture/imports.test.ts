/**
 * The rules of the house (docs/architecture.md), checked on the import graph of `src/`:
 * - no import circles (type-only imports count too: a circle of types is still a knot);
 * - the engine sits below the domain: nothing under `src/engine/` imports `src/resources/`;
 * - the store and the field toolkit know no HTTP: nothing under `src/store/` or `src/model/`
 *   imports `src/http/`;
 * - drivers know nothing above them: nothing under `src/drivers/` imports `src/engine/`,
 *   `src/resources/` or `src/http/`, type-only imports aside (the engine's `Clock` type).
 */
import { describe, expect, it } from 'vitest';
import { type Import, sourceImports } from './sources.js';

const imports = sourceImports();

function offending(from: string, to: readonly string[], allowTypes = false): string[] {
  return imports
    .filter((i) => i.from.startsWith(from) && to.some((prefix) => i.to.startsWith(prefix)))
    .filter((i) => !(allowTypes && i.typeOnly))
    .map((i) => `${i.from} -> ${i.to}${i.typeOnly ? ' (type)' : ''}`);
}

/** Every circle, as the files of each strongly connected component of more than one file. */
function circles(edges: readonly Import[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!index.has(target)) {
        connect(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || next.get(node)?.includes(node)) found.push(component.sort());
    }
  };
  for (const node of next.keys()) if (!index.has(node)) connect(node);
  return found;
}

describe('the import rules', () => {
  it('reads the graph (a sanity check on the reader)', () => {
    expect(imports.length).toBeGreaterThan(500);
    expect(imports).toContainEqual({
      from: 'src/app.ts',
      to: 'src/engine/engine.ts',
      typeOnly: false,
    });
    expect(imports).toContainEqual({
      from: 'src/drivers/compute/simulated/driver.ts',
      to: 'src/engine/clock.ts',
      typeOnly: true,
    });
  });

  it('has no import circles', () => {
    expect(circles(imports)).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    const knot = [
      { from: 'a', to: 'b', typeOnly: false },
      { from: 'b', to: 'c', typeOnly: true },
      { from: 'c', to: 'a', typeOnly: false },
      { from: 'c', to: 'd', typeOnly: false },
    ];
    expect(circles(knot)).toEqual([['a', 'b', 'c']]);
  });

  it('keeps the engine below the domain', () => {
    expect(offending('src/engine/', ['src/resources/'])).toEqual([]);
  });

  it('keeps HTTP out of the store and the field toolkit', () => {
    expect(offending('src/store/', ['src/http/'])).toEqual([]);
    expect(offending('src/model/', ['src/http/'])).toEqual([]);
  });

  it('keeps the drivers below the engine, the resources and HTTP', () => {
    expect(offending('src/drivers/', ['src/engine/', 'src/resources/', 'src/http/'], true)).toEqual(
      [],
    );
  });
});
