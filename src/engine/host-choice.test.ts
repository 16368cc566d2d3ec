import { describe, expect, it } from 'vitest';
import { chooseHost, type HostChoiceInput, type Resources } from './host-choice.js';
import type { HostStatus, NamedHost } from './hosts.js';

const GB = 1024 ** 3;

function input(
  hosts: NamedHost[],
  options: {
    statuses?: Record<string, HostStatus>;
    used?: Record<string, Resources>;
    demand?: Resources;
    avoid?: string[];
    drives?: Record<string, number>;
  } = {},
): HostChoiceInput {
  return {
    hosts,
    statuses: new Map(Object.entries(options.statuses ?? {})),
    used: new Map(Object.entries(options.used ?? {})),
    demand: options.demand ?? { mhz: 1000, memory: GB },
    avoid: options.avoid ?? [],
    drives: new Map(Object.entries(options.drives ?? {})),
  };
}

const host = (name: string, record: Omit<NamedHost, 'name'> = {}): NamedHost => ({
  name,
  ...record,
});

describe('chooseHost', () => {
  it('answers undefined without hosts', () => {
    expect(chooseHost(input([]))).toBeUndefined();
  });

  it('takes the host with the most free memory, then MHz, then the first by name', () => {
    const hosts = [
      host('a', { mhz: 10_000, memory: 8 * GB }),
      host('b', { mhz: 10_000, memory: 8 * GB }),
    ];
    expect(chooseHost(input(hosts))).toBe('a');
    expect(chooseHost(input(hosts, { used: { a: { mhz: 0, memory: GB } } }))).toBe('b');
    expect(chooseHost(input(hosts, { used: { a: { mhz: 2000, memory: 0 } } }))).toBe('b');
    // Memory weighs before MHz.
    expect(
      chooseHost(
        input(hosts, { used: { a: { mhz: 5000, memory: 0 }, b: { mhz: 0, memory: GB } } }),
      ),
    ).toBe('a');
  });

  it('fills hosts by room: a host without room for the server is skipped', () => {
    const hosts = [host('a', { mhz: 4000, memory: 2 * GB }), host('b', { mhz: 2000, memory: GB })];
    const demand = { mhz: 1000, memory: GB };
    expect(chooseHost(input(hosts, { demand }))).toBe('a');
    expect(chooseHost(input(hosts, { demand, used: { a: { mhz: 1000, memory: GB } } }))).toBe('a');
    expect(chooseHost(input(hosts, { demand, used: { a: { mhz: 1000, memory: 1.5 * GB } } }))).toBe(
      'b',
    );
    // Out of MHz alone is out of room.
    expect(chooseHost(input(hosts, { demand, used: { a: { mhz: 3500, memory: 0 } } }))).toBe('b');
    expect(
      chooseHost(
        input(hosts, {
          demand,
          used: { a: { mhz: 3500, memory: 0 }, b: { mhz: 0, memory: 0.5 * GB } },
        }),
      ),
    ).toBeUndefined();
    // Exactly full fits.
    expect(chooseHost(input([host('c', { mhz: 1000, memory: GB })], { demand }))).toBe('c');
  });

  it('takes the capacity the host reports when none is declared; none at all is unbounded', () => {
    const reported: HostStatus = { up: true, since: 0, mhz: 2000, memory: GB };
    const demand = { mhz: 1000, memory: 2 * GB };
    expect(chooseHost(input([host('a')], { demand, statuses: { a: reported } }))).toBeUndefined();
    // A declared value wins over the reported one.
    expect(
      chooseHost(input([host('a', { memory: 4 * GB })], { demand, statuses: { a: reported } })),
    ).toBe('a');
    expect(chooseHost(input([host('a')], { demand: { mhz: 1e9, memory: 1e15 } }))).toBe('a');
    // An unbounded host has more room than any bounded one.
    expect(chooseHost(input([host('a', { memory: 64 * GB }), host('b')]))).toBe('b');
  });

  it('spreads servers over unbounded hosts by what they use', () => {
    const hosts = [host('a'), host('b'), host('c')];
    expect(chooseHost(input(hosts, { used: { a: { mhz: 1000, memory: GB } } }))).toBe('b');
    expect(
      chooseHost(
        input(hosts, { used: { a: { mhz: 1000, memory: GB }, b: { mhz: 2000, memory: GB } } }),
      ),
    ).toBe('c');
  });

  it('skips drained hosts and hosts known to be down, not those without a status', () => {
    const hosts = [host('a', { drained: true }), host('b'), host('c')];
    const down: HostStatus = { up: false, since: 5, reason: 'no answer' };
    expect(chooseHost(input(hosts, { statuses: { b: down } }))).toBe('c');
    expect(chooseHost(input(hosts, { statuses: { b: { up: true, since: 0 } } }))).toBe('b');
    expect(chooseHost(input(hosts, { statuses: { b: down, c: down } }))).toBeUndefined();
  });

  it('avoids the hosts of avoided servers when it can, by priority, before room', () => {
    const hosts = [host('a'), host('b'), host('c')];
    expect(chooseHost(input(hosts, { avoid: ['a'] }))).toBe('b');
    expect(chooseHost(input(hosts, { avoid: ['a', 'b'] }))).toBe('c');
    // Room comes after: a busier host is taken to avoid one.
    expect(
      chooseHost(input(hosts, { avoid: ['a', 'b'], used: { c: { mhz: 9000, memory: 9 * GB } } })),
    ).toBe('c');
    // Every host runs an avoided server: the first ones in the list weigh most.
    expect(chooseHost(input(hosts, { avoid: ['a', 'b', 'c'] }))).toBe('c');
    expect(chooseHost(input(hosts, { avoid: ['c', 'b', 'a'] }))).toBe('a');
    expect(chooseHost(input(hosts, { avoid: ['b', 'c', 'c'] }))).toBe('a');
    // Priority before count: avoiding the first server is worth running two later ones.
    expect(chooseHost(input([host('a'), host('b')], { avoid: ['a', 'b', 'b'] }))).toBe('b');
  });

  it('ignores avoid when the only hosts with room run the avoided servers', () => {
    const hosts = [host('a'), host('b', { drained: true }), host('c', { memory: GB / 2 })];
    expect(chooseHost(input(hosts, { avoid: ['a'] }))).toBe('a');
  });

  it("prefers the host holding the server's drives, after avoid, before room", () => {
    const hosts = [host('a', { memory: 8 * GB }), host('b', { memory: 4 * GB })];
    expect(chooseHost(input(hosts))).toBe('a');
    expect(chooseHost(input(hosts, { drives: { b: 1 } }))).toBe('b');
    expect(chooseHost(input(hosts, { drives: { a: 1, b: 2 } }))).toBe('b');
    // An avoided server there weighs more than moving the drives.
    expect(chooseHost(input(hosts, { drives: { b: 2 }, avoid: ['b'] }))).toBe('a');
    // A host without room is no choice, drives or not.
    expect(
      chooseHost(input(hosts, { drives: { b: 2 }, used: { b: { mhz: 0, memory: 4 * GB } } })),
    ).toBe('a');
  });
});
