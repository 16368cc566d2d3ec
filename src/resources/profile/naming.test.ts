import { describe, expect, it } from 'vitest';
import { cloneName } from './naming.js';

const now = new Date('2014-06-05T09:45:56.123Z');

describe('cloneName', () => {
  it('names clones as the fixtures show', () => {
    expect(cloneName('test_drive_x', 'NONE', now)).toBe('test_drive_x');
    expect(cloneName('test_drive_x', 'COUNTER', now)).toBe('test_drive_x_1');
    expect(cloneName('test_drive_x', 'DATE', now)).toBe('test_drive_x-2014-06-05');
    expect(cloneName('test_drive_x', 'TIMESTAMP', now)).toBe('test_drive_x-2014-06-05 09:45:56');
  });
  it('counts up trailing numbers, keeping their width', () => {
    expect(cloneName('test_drive_x_1', 'COUNTER', now)).toBe('test_drive_x_2');
    expect(cloneName('web09', 'COUNTER', now)).toBe('web10');
  });
  it('falls back to a counter when the date suffix is already current', () => {
    expect(cloneName('x-2014-06-05', 'DATE', now)).toBe('x-2014-06-05_1');
    expect(cloneName('x-2014-06-05_1', 'DATE', now)).toBe('x-2014-06-05_2');
    expect(cloneName('x-2014-06-04', 'DATE', now)).toBe('x-2014-06-04-2014-06-05');
  });
});
