import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ComputeDriver } from '../drivers/compute/types.js';
import { SqliteStore } from '../store/sqlite/store.js';
import type { Store } from '../store/types.js';
import { declareHosts, everyRegisteredHost } from './host-declarations.js';
import { HostWatch } from './host-watch.js';
import { getHost, type NamedHost, putHost, removeHost } from './hosts.js';

let store: Store;
beforeEach(() => {
  store = new SqliteStore({ path: ':memory:' });
});
afterEach(() => store.close());

/** A driver of which only the host set matters here. */
function fakeCompute(dynamic: boolean) {
  const hosts: string[] = [];
  const added: NamedHost[] = [];
  const removed: string[] = [];
  const compute = {
    name: dynamic ? 'dynamic' : 'fixed',
    hosts,
    ...(dynamic
      ? {
          addHost: async (host: NamedHost) => {
            added.push(host);
            hosts.push(host.name);
          },
          removeHost: async (name: string) => {
            removed.push(name);
            hosts.splice(hosts.indexOf(name), 1);
          },
        }
      : {}),
  } as unknown as ComputeDriver; // only the members above are reached
  return { compute, added, removed };
}

function watch(compute: ComputeDriver, served: string[]) {
  const logger = pino({ level: 'silent' });
  const warn = vi.spyOn(logger, 'warn');
  const onChange = vi.fn();
  return { watch: new HostWatch({ store, compute, served, logger, onChange }), warn, onChange };
}

describe('the host watch', () => {
  it('adds and removes hosts through the driver, changing the one served array in place', async () => {
    const { compute, added, removed } = fakeCompute(true);
    const served = ['h1'];
    const { watch: w, onChange } = watch(compute, served);
    await store.write((tx) => putHost(tx, 'h1', {}));
    await w.refresh();
    expect(onChange).not.toHaveBeenCalled();
    await store.write((tx) => putHost(tx, 'h2', { uri: 'qemu+ssh://h2/system' }));
    await w.refresh();
    expect(added).toEqual([{ name: 'h2', uri: 'qemu+ssh://h2/system' }]);
    expect(served).toEqual(['h1', 'h2']);
    expect(onChange).toHaveBeenCalledTimes(1);
    // A new connection: served anew; a drain alone is no reason to.
    await store.write((tx) => putHost(tx, 'h2', { uri: 'qemu+tls://h2/system', drained: true }));
    await w.refresh();
    expect(removed).toEqual(['h2']);
    expect(added.at(-1)).toEqual({ name: 'h2', uri: 'qemu+tls://h2/system', drained: true });
    await store.write((tx) => putHost(tx, 'h2', { uri: 'qemu+tls://h2/system' }));
    await w.refresh();
    expect(removed).toEqual(['h2']);
    await store.write((tx) => removeHost(tx, 'h1'));
    await w.refresh();
    expect(removed).toEqual(['h2', 'h1']);
    expect(served).toEqual(['h2']);
  });

  it('refuses hosts a driver cannot add while it runs, saying why once', async () => {
    const { compute } = fakeCompute(false);
    const served = ['h1'];
    const { watch: w, warn, onChange } = watch(compute, served);
    await store.write(async (tx) => {
      await putHost(tx, 'h1', {});
      await putHost(tx, 'h2', {});
    });
    await w.refresh();
    await w.refresh();
    expect(served).toEqual(['h1']);
    expect(onChange).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toMatch(/h2: the fixed driver cannot serve hosts added/);
    // Nor can it let one go: it stays served, said once too.
    await store.write((tx) => removeHost(tx, 'h1'));
    await w.refresh();
    await w.refresh();
    expect(served).toEqual(['h1']);
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it('serves local when the registry is emptied, as at a start', async () => {
    const { compute, added, removed } = fakeCompute(true);
    const served = ['h1'];
    const { watch: w } = watch(compute, served);
    await w.refresh();
    expect(removed).toEqual(['h1']);
    expect(added).toEqual([{ name: 'local' }]);
    expect(served).toEqual(['local']);
  });
});

describe('hosts at the start', () => {
  it('declared hosts replace their records, keeping whether they are drained', async () => {
    await store.write(async (tx) => {
      await putHost(tx, 'h1', { uri: 'qemu:///system', mhz: 1, drained: true });
      await putHost(tx, 'h3', { mhz: 3 });
    });
    await declareHosts(store, [
      { name: 'h1', mhz: 8000 },
      { name: 'h2', memory: 1024 },
    ]);
    const read = (name: string) => store.read((tx) => getHost(tx, name));
    expect(await read('h1')).toEqual({ mhz: 8000, drained: true });
    expect(await read('h2')).toEqual({ memory: 1024 });
    expect(await read('h3')).toEqual({ mhz: 3 });
    expect((await everyRegisteredHost(store)).map((h) => h.name)).toEqual(['h1', 'h2', 'h3']);
  });

  it('an empty registry serves local, registered', async () => {
    expect(await everyRegisteredHost(store)).toEqual([{ name: 'local' }]);
    expect(await store.read((tx) => getHost(tx, 'local'))).toEqual({});
  });
});
