import { describe, expect, it } from 'vitest';
import { formatSize, HostInputError, parseSize, readHostFields } from './host-input.js';

describe('sizes', () => {
  it('read bytes, or a number with a binary unit', () => {
    expect(parseSize(1024)).toBe(1024);
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('16G')).toBe(16 * 2 ** 30);
    expect(parseSize('16GiB')).toBe(16 * 2 ** 30);
    expect(parseSize('512m')).toBe(512 * 2 ** 20);
    expect(parseSize('1.5T')).toBe(1.5 * 2 ** 40);
    expect(parseSize('2048B')).toBe(2048);
  });

  it('refuse what is not a positive whole number of bytes', () => {
    for (const bad of ['', 'G', '-1', '0', '1.5', '16X', '16 G B', 0, -1, 1.5, 2 ** 60]) {
      expect(parseSize(bad)).toBeUndefined();
    }
  });

  it('print as the shortest exact size', () => {
    expect(formatSize(16 * 2 ** 30)).toBe('16G');
    expect(formatSize(1536 * 2 ** 20)).toBe('1536M');
    expect(formatSize(1000)).toBe('1000');
  });
});

describe('host fields', () => {
  it('leave undefined values undeclared', () => {
    expect(readHostFields('x', { uri: undefined, mhz: 2000 })).toEqual({ mhz: 2000 });
  });

  it('are refused with the key named', () => {
    expect(() => readHostFields('x', { pool: '' })).toThrow(HostInputError);
    expect(() => readHostFields('x', { pool: 'a b' })).toThrow(/"pool" must be a non-empty/);
  });

  it('read the VNC listen address as an IP address of the host, which sigmalite can reach', () => {
    expect(readHostFields('x', { vnc_listen: '10.0.0.7' })).toEqual({ vncListen: '10.0.0.7' });
    expect(readHostFields('x', { vnc_listen: 'fd00::7' })).toEqual({ vncListen: 'fd00::7' });
    for (const value of ['h1.example.com', '0.0.0.0', '::', '10.0.0.256', 5900]) {
      expect(() => readHostFields('x', { vnc_listen: value }), String(value)).toThrow(
        /"vnc_listen" must be (an IPv4 or IPv6 address|a non-empty)/,
      );
    }
  });
});
