import { describe, expect, it } from 'vitest';
import { actionList, actionName } from './actions.js';

describe('action parameters', () => {
  it('reads a list parameter from comma lists and repeated parameters, in order', () => {
    expect(actionList({ do: 'start', avoid: 'a,b' }, 'avoid')).toEqual(['a', 'b']);
    expect(actionList({ do: 'start', avoid: ['a', 'b,c'] }, 'avoid')).toEqual(['a', 'b', 'c']);
    expect(actionList({ do: 'start', avoid: ['', ' a ,,'] }, 'avoid')).toEqual(['a']);
    expect(actionList({ do: 'start' }, 'avoid')).toEqual([]);
    expect(actionList({}, 'avoid')).toEqual([]);
  });

  it("reads jclouds' `?do=start?avoid=a&avoid=b`, whose first value hides in `do`", () => {
    // How a query string parser splits that URL.
    const query = Object.fromEntries(new URLSearchParams('do=start?avoid=a&avoid=b'));
    expect(query).toEqual({ do: 'start?avoid=a', avoid: 'b' });
    expect(actionName(query)).toBe('start');
    expect(actionList(query, 'avoid')).toEqual(['a', 'b']);
    expect(actionList({ do: 'start?avoid=a,b&x=1', avoid: ['c'] }, 'avoid')).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(actionList({ do: 'start?' }, 'avoid')).toEqual([]);
  });
});
