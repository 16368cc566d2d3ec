/**
 * libvirt's lifecycle events as the engine's machine events (no libvirtd needed): why a machine
 * stopped decides whether its server becomes `stopped` (`guest`, `crashed`) or the stop was
 * sigmalite's own (`requested`).
 */
import { describe, expect, it } from 'vitest';
import {
  LibvirtCompute,
  type LibvirtComputeOptions,
} from '../../src/drivers/compute/libvirt/driver.js';
import { parseEventLine } from '../../src/drivers/compute/libvirt/events.js';
import type { MachineEvent } from '../../src/drivers/compute/types.js';

const UUID = '6a5b1c3e-2d4f-4a6b-8c9d-0e1f2a3b4c5d';

function driver(destroy: () => Promise<void> = async () => {}) {
  const options = {
    hostName: 'local',
    clock: { now: () => 1000 },
    host: {
      destroy,
      locks: { run: <T>(_: string, fn: () => Promise<T>) => fn() },
    },
  } as unknown as LibvirtComputeOptions;
  const compute = new LibvirtCompute(options);
  const events: MachineEvent[] = [];
  compute.onEvent((event) => events.push(event));
  const send = (rest: string, domain = UUID) =>
    compute.domainEvent(
      parseEventLine(
        `2026-12-06 07:54:02.744+0000: event 'lifecycle' for domain '${domain}': ${rest}`,
      )!,
    );
  return { compute, events, send };
}

describe('libvirt events as machine events', () => {
  it('maps starts, pauses and the reasons a machine stopped', () => {
    const { events, send } = driver();
    send('Started Booted');
    send('Suspended Paused');
    send('Resumed Unpaused');
    send('Stopped Shutdown');
    send('Stopped Failed');
    send('Stopped Destroyed');
    send('Defined Added');
    expect(events.map((e) => [e.state, e.reason])).toEqual([
      ['running', 'requested'],
      ['paused', 'requested'],
      ['running', 'requested'],
      ['stopped', 'guest'],
      ['stopped', 'crashed'],
      // Destroyed by someone else than sigmalite: as good as a crash.
      ['stopped', 'crashed'],
    ]);
    expect(events.every((e) => e.host === 'local' && e.uuid === UUID && e.at === 1000)).toBe(true);
  });

  it("a destroy of sigmalite's own is requested", async () => {
    const { compute, events, send } = driver(async () => send('Stopped Destroyed'));
    await compute.stop('local', UUID);
    expect(events.map((e) => [e.state, e.reason])).toEqual([['stopped', 'requested']]);
  });

  it('ignores domains not named by a uuid (probes, other tools)', () => {
    const { events, send } = driver();
    send('Stopped Failed', 'sigmalite-kvm-probe-1234');
    expect(events).toEqual([]);
  });
});
