import { describe, expect, it } from 'vitest';
import { ControlledClock } from '../../../engine/clock.js';
import { clusterProblem, type HostSettings, poolLayout } from '../../libvirt.js';
import type { HostStateEvent, MachineEvent } from '../types.js';
import { LibvirtCluster } from './cluster.js';
import type { LibvirtCompute } from './driver.js';
import type { LibvirtHost } from './host.js';

function settings(name: string, overrides: Partial<HostSettings> = {}): HostSettings {
  return {
    name,
    uri: `qemu+unix:///system?socket=/var/lib/h/${name}/run/libvirt-sock`,
    pool: 'sigmalite',
    poolPath: '/data/libvirt/pool',
    sharedPool: false,
    network: 'sigmalite-public',
    bridge: 'slpub0',
    vncListen: null,
    ...overrides,
  };
}

describe('poolLayout', () => {
  it('takes one host as it is, and several sharing one pool: on this machine, or declared shared', () => {
    expect(poolLayout([settings('a', { uri: 'qemu+tls://far/system' })])).toBe('one');
    expect(poolLayout([settings('a'), settings('b')])).toBe('shared');
    const far = { poolPath: '/shared/pool', sharedPool: true };
    expect(
      poolLayout([
        settings('a', { uri: 'qemu+tls://h1/system', ...far }),
        settings('b', { uri: 'qemu+ssh://h2/system', ...far }),
      ]),
    ).toBe('shared');
  });

  it('takes several hosts with pools of their own, none declared shared', () => {
    expect(poolLayout([settings('a'), settings('b', { poolPath: '/other' })])).toBe('per-host');
    // Another machine's directory of the same path is its own.
    expect(poolLayout([settings('a'), settings('b', { uri: 'qemu+tls://h2/system' })])).toBe(
      'per-host',
    );
  });

  it('refuses mixed pools, shared pools that differ, and two hosts on one libvirt', () => {
    expect(
      clusterProblem([
        settings('a', { sharedPool: true }),
        settings('b', { poolPath: '/other', sharedPool: true }),
      ]),
    ).toMatch(/libvirt hosts a and b declare a shared pool but name different ones/);
    expect(
      clusterProblem([settings('a', { sharedPool: true }), settings('b', { poolPath: '/other' })]),
    ).toMatch(/libvirt hosts a declare a shared pool and b do not/);
    expect(
      clusterProblem([settings('a'), settings('b'), settings('c', { poolPath: '/other' })]),
    ).toMatch(/libvirt hosts a and b are on this machine with their pools in one directory/);
    expect(
      clusterProblem([
        settings('a', { uri: 'qemu:///system' }),
        settings('b', { uri: 'qemu:///system' }),
      ]),
    ).toMatch(/libvirt hosts a and b both name qemu:\/\/\/system/);
  });
});

/** A host's compute driver as far as the cluster uses it. */
function fakeHost(name: string) {
  const listeners = new Set<(event: MachineEvent) => void>();
  const calls: string[] = [];
  let closed = false;
  // Only what the cluster calls: the rest of LibvirtCompute is not needed here.
  const compute = {
    onEvent: (listener: (event: MachineEvent) => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start: async (host: string) => {
      calls.push(`start ${host}`);
      return { activeSince: 1 };
    },
    probe: async () => ({
      driver: 'libvirt',
      hosts: [{ name, accelerator: 'tcg' as const, warning: null }],
      features: ['events'],
    }),
    close: async () => {
      closed = true;
    },
  } as unknown as LibvirtCompute;
  const libvirt = { uri: `test://${name}` } as unknown as LibvirtHost;
  return {
    compute,
    libvirt,
    calls,
    emit: (event: MachineEvent) => {
      for (const listener of listeners) listener(event);
    },
    closed: () => closed,
  };
}

describe('LibvirtCluster', () => {
  async function cluster() {
    const fakes = new Map<string, ReturnType<typeof fakeHost>>();
    const reports = new Map<string, (up: boolean, reason?: string) => void>();
    const made = new LibvirtCluster({
      clock: new ControlledClock(),
      connect: async (host, report) => {
        const fake = fakeHost(host.name);
        fakes.set(host.name, fake);
        reports.set(host.name, report);
        return fake;
      },
    });
    await made.addHost({ name: 'h1' });
    await made.addHost({ name: 'h2' });
    return { made, fakes, reports };
  }

  it('sends each call to its host, and refuses a host it does not serve', async () => {
    const { made, fakes } = await cluster();
    expect(made.hosts).toEqual(['h1', 'h2']);
    await made.start('h2', { uuid: 'x' } as Parameters<LibvirtCluster['start']>[1]);
    expect(fakes.get('h2')!.calls).toEqual(['start h2']);
    expect(fakes.get('h1')!.calls).toEqual([]);
    await expect(made.status('h3', 'x')).rejects.toThrow(/serves no libvirt host "h3"/);
    expect((await made.probe()).hosts.map((h) => h.name)).toEqual(['h1', 'h2']);
  });

  it("tells a new listener every host's state, then each change once", async () => {
    const { made, reports } = await cluster();
    const told: HostStateEvent[] = [];
    made.onHostState((event) => told.push(event));
    expect(told.map((e) => [e.host, e.up])).toEqual([
      ['h1', true],
      ['h2', true],
    ]);
    reports.get('h2')!(false, 'keepalive timeout');
    reports.get('h2')!(false, 'again');
    reports.get('h2')!(true);
    expect(told.slice(2).map((e) => [e.host, e.up, e.reason])).toEqual([
      ['h2', false, 'keepalive timeout'],
      ['h2', true, undefined],
    ]);
    expect(made.answering().uri).toBe('test://h1');
    reports.get('h1')!(false, 'gone');
    expect(made.answering().uri).toBe('test://h2');
  });

  it('reports a host it cannot connect down, and serves it once it can', async () => {
    let failures = 2;
    const made = new LibvirtCluster({
      clock: new ControlledClock(),
      connect: async (host) => {
        if (failures-- > 0) throw new Error('Failed to connect socket');
        return fakeHost(host.name);
      },
    });
    const told: HostStateEvent[] = [];
    made.onHostState((event) => told.push(event));
    await made.serveWhenReachable({ name: 'h1' }, 20);
    expect(made.hosts).toEqual([]);
    expect(told.map((e) => [e.host, e.up, e.reason])).toEqual([
      ['h1', false, 'Failed to connect socket'],
    ]);
    // A new listener hears it too.
    const later: HostStateEvent[] = [];
    made.onHostState((event) => later.push(event));
    expect(later.map((e) => e.up)).toEqual([false]);
    for (let i = 0; i < 100 && made.hosts.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(made.hosts).toEqual(['h1']);
    // Down once (the second failure says nothing new), then up.
    expect(told.map((e) => e.up)).toEqual([false, true]);
    await made.close();
  });

  it("passes machine events on; a removed host's are not, and it is closed", async () => {
    const { made, fakes } = await cluster();
    const events: string[] = [];
    made.onEvent((event) => events.push(`${event.host} ${event.uuid}`));
    const event = (host: string): MachineEvent => ({
      host,
      uuid: 'm',
      state: 'stopped',
      reason: 'guest',
      at: 0,
    });
    fakes.get('h1')!.emit(event('h1'));
    await made.removeHost('h1');
    fakes.get('h1')!.emit(event('h1'));
    fakes.get('h2')!.emit(event('h2'));
    expect(events).toEqual(['h1 m', 'h2 m']);
    expect(fakes.get('h1')!.closed()).toBe(true);
    expect(made.hosts).toEqual(['h2']);
  });
});
