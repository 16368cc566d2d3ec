import { describe, expect, it } from 'vitest';
import type { ResourceDef } from '../model/fields.js';
import { readFilters, readOrder, readPaging, readProjection, splitValues } from './query.js';

const def: ResourceDef = {
  kind: 'things',
  fields: {},
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  filtering: { name: 'exact', name__contains: 'exact', uuid: 'exact' },
  ordering: ['uuid', 'name'],
};

describe('splitValues', () => {
  it('splits on commas, with \\, for a comma and \\\\ for a backslash', () => {
    expect(splitValues('a,b')).toEqual(['a', 'b']);
    expect(splitValues('a\\,b,c')).toEqual(['a,b', 'c']);
    expect(splitValues('a\\\\,b')).toEqual(['a\\', 'b']);
    expect(splitValues('a\\b')).toEqual(['a\\b']);
    expect(splitValues('')).toEqual(['']);
  });
});

describe('readFilters', () => {
  it('reads known filters, ANDs repeated parameters and ignores the unknown', () => {
    const filters = readFilters(
      { name: ['a,b', 'c'], status: 'running', foo: 'x', uuid: 'u' },
      def,
    );
    expect(filters).toEqual([
      { column: 'name', op: 'exact', values: ['a', 'b'] },
      { column: 'name', op: 'exact', values: ['c'] },
      { column: 'uuid', op: 'exact', values: ['u'] },
    ]);
  });
  it('accepts name__icontains wherever name__contains is allowed', () => {
    expect(readFilters({ name__icontains: 'x' }, def)).toEqual([
      { column: 'name', op: 'contains', values: ['x'] },
    ]);
  });
});

describe('paging, order and projection', () => {
  it('defaults and validates limit and offset', () => {
    expect(readPaging({}, 20)).toEqual({ limit: 20, offset: 0 });
    expect(readPaging({ limit: '0', offset: ['1', '5'] }, 20)).toEqual({ limit: 0, offset: 5 });
    expect(() => readPaging({ limit: '-1' }, 20)).toThrow(/non-negative/);
    expect(() => readPaging({ offset: 'x' }, 20)).toThrow(/non-negative/);
  });
  it('orders by allowed fields only', () => {
    expect(readOrder({ order_by: '-name' }, def)).toEqual({ column: 'name', descending: true });
    expect(readOrder({ order_by: 'cpu' }, def)).toBeUndefined();
  });
  it('reads fields= as a list of names', () => {
    expect(readProjection({ fields: 'uuid, status' })).toEqual(['uuid', 'status']);
    expect(readProjection({ fields: '' })).toBeUndefined();
  });
});
