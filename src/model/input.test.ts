import { describe, expect, it } from 'vitest';
import { ApiError, ApiErrors } from '../errors.js';
import type { Fields } from './fields.js';
import { readInput, readInteger } from './input.js';

const fields: Fields = {
  name: { type: 'string', help: '', required: true, maxLength: 5 },
  size: { type: 'integer', help: '', required: true },
  kind: { type: 'string', help: '', choices: ['a', 'b'] },
  flag: { type: 'boolean', help: '' },
  owner: { type: 'related', help: '', readonly: true },
  parent: { type: 'related', help: '', ref: 'drives', nullable: true },
  items: {
    type: 'related',
    help: '',
    shape: 'many',
    fields: { id: { type: 'integer', help: '', required: true } },
  },
};

describe('readInput', () => {
  it('gives each read its own copy of list and object defaults', () => {
    const withDefaults: Fields = {
      name: { type: 'string', help: '', required: true },
      tags: { type: 'list', help: '', default: [] },
      meta: { type: 'dict', help: '', default: { a: ['b'] } },
      size: { type: 'integer', help: '', default: 1 },
      smp: { type: 'integer', help: '', default: 2, dynamicDefault: true },
    };
    const read = () =>
      readInput(withDefaults, { name: 'x' }, { requireAll: true, defaults: true }).values;
    const first = read();
    expect(first).toEqual({ name: 'x', tags: [], meta: { a: ['b'] }, size: 1 });
    (first.tags as string[]).push('t');
    (first.meta as { a: string[] }).a.push('c');
    expect(read()).toEqual({ name: 'x', tags: [], meta: { a: ['b'] }, size: 1 });
    expect(withDefaults.meta!.default).toEqual({ a: ['b'] });
    // Without `defaults`, nothing the client left out appears.
    expect(readInput(withDefaults, { name: 'x' }, { requireAll: true }).values).toEqual({
      name: 'x',
    });
  });

  it('reads writable fields, coerces numeric strings, drops read-only and unknown keys', () => {
    const { values, unknown } = readInput(
      fields,
      { name: 'x', size: '42', owner: 'o', extra: 1, parent: '/api/2.0/drives/d1/' },
      { requireAll: true },
    );
    expect(values).toEqual({ name: 'x', size: 42, parent: 'd1' });
    expect(unknown).toEqual(['extra']);
  });
  it('reads references in every client shape', () => {
    for (const parent of [
      'd1',
      { uuid: 'd1', name: 'n' },
      { resource_uri: '/api/2.0/drives/d1/' },
    ]) {
      expect(readInput(fields, { parent }, { requireAll: false }).values.parent).toBe('d1');
    }
    expect(() =>
      readInput(fields, { parent: '/api/2.0/servers/d1/' }, { requireAll: false }),
    ).toThrow(ApiError);
  });
  it('names every bad field, with dotted points for nested ones', () => {
    try {
      readInput(
        fields,
        { name: 'toolong', kind: 'c', flag: 'yes', items: [{ id: 1 }, {}] },
        { requireAll: true },
      );
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiErrors);
      const points = (e as ApiErrors).errors.map((x) => x.point).sort();
      expect(points).toEqual(['flag', 'items.1.id', 'kind', 'name', 'size']);
    }
  });
  it('refuses null for a field that is not nullable', () => {
    expect(() => readInput(fields, { flag: null }, { requireAll: false })).toThrow(
      /cannot be null/,
    );
    expect(readInput(fields, { parent: null }, { requireAll: false }).values.parent).toBeNull();
  });
});

describe('readInteger', () => {
  it('takes integers and integer strings only', () => {
    expect(readInteger(5, 'x')).toBe(5);
    expect(readInteger('1024000000', 'x')).toBe(1024000000);
    for (const bad of [1.5, '1.5', true, '', 'abc', 2 ** 60])
      expect(() => readInteger(bad, 'x')).toThrow();
  });
});
