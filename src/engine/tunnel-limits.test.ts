import { describe, expect, it } from 'vitest';
import type { TunnelInfo } from '../drivers/compute/types.js';
import { ApiError } from '../errors.js';
import { TunnelLedger } from './tunnel-limits.js';

/** A driver whose tunnels are what the test says, and which records what it was asked to close. */
function fakeCompute() {
  const open: TunnelInfo[] = [];
  const closedUuids: string[] = [];
  const drop = (uuid: string, kind: TunnelInfo['kind']) => {
    const i = open.findIndex((t) => t.uuid === uuid && t.kind === kind);
    if (i >= 0) open.splice(i, 1);
    closedUuids.push(uuid);
  };
  return {
    open,
    closedUuids,
    compute: {
      tunnels: () => [...open],
      closeVnc: async (_host: string, uuid: string) => drop(uuid, 'vnc'),
      closeConsole: async (_host: string, uuid: string) => drop(uuid, 'console'),
    },
  };
}

const limits = { perAccount: 2, total: 3, idleMs: 1000 };

describe('TunnelLedger', () => {
  it('counts opens still under way: parallel opens cannot pass the cap together', () => {
    const { compute } = fakeCompute();
    const ledger = new TunnelLedger(compute, ['h'], limits);
    ledger.reserve('vnc', 'a', 'alice');
    ledger.reserve('vnc', 'b', 'alice');
    expect(() => ledger.reserve('vnc', 'c', 'alice')).toThrow(/limit: 2/);
    ledger.reserve('vnc', 'd', 'bob');
    const total = (() => {
      try {
        ledger.reserve('vnc', 'e', 'bob');
      } catch (e) {
        return e;
      }
    })();
    expect(total).toBeInstanceOf(ApiError);
    expect((total as ApiError).status).toBe(503);
  });

  it('forgets a failed open and a tunnel the driver no longer holds', () => {
    const { compute, open } = fakeCompute();
    const ledger = new TunnelLedger(compute, ['h'], limits);
    ledger.reserve('vnc', 'a', 'alice')(); // failed: the driver never listed it
    open.push({ uuid: 'b', kind: 'console', idleSince: null });
    ledger.reserve('console', 'b', 'alice')();
    expect(ledger.count('alice')).toBe(1);
    open.pop(); // the server stopped: its tunnels went
    expect(ledger.count('alice')).toBe(0);
  });

  it('closes tunnels idle for idleMs, not those in use or younger', async () => {
    let now = 10_000;
    const { compute, open, closedUuids } = fakeCompute();
    const ledger = new TunnelLedger(compute, ['h'], limits, () => now);
    open.push(
      { uuid: 'old', kind: 'vnc', idleSince: 8_000 },
      { uuid: 'used', kind: 'vnc', idleSince: null },
      { uuid: 'young', kind: 'console', idleSince: 9_500 },
    );
    await ledger.closeIdle();
    expect(closedUuids).toEqual(['old']);
    now = 10_600;
    await ledger.closeIdle();
    expect(closedUuids).toEqual(['old', 'young']);
  });
});
