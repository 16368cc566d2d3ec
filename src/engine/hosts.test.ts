import { describe, expect, it } from 'vitest';
import { parseHostRecord, parseHostStatus } from './hosts.js';

describe('host records', () => {
  it('reads a record written before hosts had fields as a host with nothing declared', () => {
    expect(parseHostRecord('{}')).toEqual({});
    expect(parseHostRecord('not json')).toEqual({});
  });

  it('keeps fields of the right type and drops the others', () => {
    expect(
      parseHostRecord(
        JSON.stringify({
          uri: 'qemu+tls://h1/system',
          mhz: 8000,
          memory: -1,
          pool: 7,
          sharedPool: 'yes',
          drained: true,
          vncListen: '192.0.2.10',
        }),
      ),
    ).toEqual({ uri: 'qemu+tls://h1/system', mhz: 8000, drained: true, vncListen: '192.0.2.10' });
    expect(parseHostRecord('{"vncListen":5900}')).toEqual({});
  });

  it('reads a status only with its up flag and time', () => {
    expect(parseHostStatus('{"up":false,"since":5,"reason":"no answer"}')).toEqual({
      up: false,
      since: 5,
      reason: 'no answer',
    });
    expect(parseHostStatus('{"up":"yes","since":5}')).toBeUndefined();
  });
});
