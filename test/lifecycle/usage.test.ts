/**
 * Bulk start and stop with `/currentusage/` accounting (api-reference.md §5.4, §8.7), after
 * pycloudsigma's `test_bulk_start_stop_and_usage`: CPU and memory count from the moment a start is
 * accepted, per `cpu`/`mem` and per `<cpu_type>_cpu`/`<cpu_type>_mem`, and drop once stopped.
 * `--default-cpu-type intel` makes servers created without a cpu_type count as `intel_cpu`, the
 * key that test reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Obj } from '../support/api.js';
import { type Client, serverBody, type TestApp } from '../support/app.js';
import { action, closeApp, drain, get, startManualApp } from './support.js';

const COUNT = 40;

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startManualApp({ defaultCpuType: 'intel' });
  alice = t.alice;
});
afterAll(() => closeApp(t));

async function usage(client: Client): Promise<Record<string, number>> {
  const body = await get(client, '/currentusage/');
  expect(Object.keys(body).sort()).toEqual(['balance', 'usage']);
  return Object.fromEntries(
    Object.entries(body.usage as Record<string, Obj>).map(([key, value]) => {
      // Nothing is subscribed: all that is used is burst.
      expect(value).toEqual({ burst: value.using, subscribed: 0, using: expect.any(Number) });
      return [key, value.using as number];
    }),
  );
}

const sum = (servers: Obj[], key: 'cpu' | 'mem') =>
  servers.reduce((total, s) => total + (s[key] as number), 0);

describe(`bulk start and stop of ${COUNT} servers`, () => {
  it('counts cpu, intel_cpu, mem and intel_mem from the accepted start until the stop', async () => {
    const created = await alice.post('/servers/', {
      objects: Array.from({ length: COUNT }, (_, i) =>
        serverBody({
          name: `test_start_stop_server_${i}`,
          cpu: 1000 + (i % 5) * 250,
          mem: (512 + (i % 3) * 256) * 1024 ** 2,
          nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
        }),
      ),
    });
    expect(created.status, created.text).toBe(201);
    const servers = created.json.objects as Obj[];
    expect(servers.every((s) => s.cpu_type === 'intel')).toBe(true);
    const cpu = sum(servers, 'cpu');
    const mem = sum(servers, 'mem');

    const before = await usage(alice);
    for (const key of ['cpu', 'mem', 'intel_cpu', 'intel_mem', 'amd_cpu', 'amd_mem']) {
      expect(before[key], key).toBe(0);
    }

    const starts = await Promise.all(servers.map((s) => alice.post(action(s.uuid, 'start'), {})));
    expect(starts.map((r) => r.status)).toEqual(servers.map(() => 202));
    // The clock is stopped: every server is still `starting`, and already counts.
    const starting = await get(alice, '/servers/?limit=0');
    expect((starting.objects as Obj[]).map((s) => s.status)).toEqual(servers.map(() => 'starting'));
    const accepted = await usage(alice);
    expect(accepted).toMatchObject({ cpu, mem, intel_cpu: cpu, intel_mem: mem, amd_cpu: 0 });

    await drain(t.app);
    const detail = await get(alice, '/servers/detail/?limit=0');
    const runningNow = detail.objects as Obj[];
    expect(runningNow.map((s) => s.status)).toEqual(servers.map(() => 'running'));
    const addresses = new Set(runningNow.map((s) => s.nics[0].runtime.ip_v4.uuid));
    expect(addresses.size).toBe(COUNT);
    expect(await usage(alice)).toMatchObject({ cpu, mem, intel_cpu: cpu, intel_mem: mem });
    // Bob's account is its own.
    expect(await usage(t.bob)).toMatchObject({ cpu: 0, mem: 0, intel_cpu: 0 });

    const stops = await Promise.all(servers.map((s) => alice.post(action(s.uuid, 'stop'))));
    expect(stops.map((r) => r.status)).toEqual(servers.map(() => 202));
    await drain(t.app);
    const stopped = await get(alice, '/servers/?limit=0');
    expect((stopped.objects as Obj[]).map((s) => [s.status, s.runtime])).toEqual(
      servers.map(() => ['stopped', null]),
    );
    expect(await usage(alice)).toMatchObject({ cpu: 0, mem: 0, intel_cpu: 0, intel_mem: 0 });
  });

  it('counts each server under its own cpu_type', async () => {
    const amd = await createServer(alice, { cpu: 2000, cpu_type: 'amd' });
    const intel = await createServer(alice, { cpu: 3000 });
    for (const s of [amd, intel]) await alice.post(action(s.uuid, 'start'));
    expect(await usage(alice)).toMatchObject({
      cpu: 5000,
      amd_cpu: 2000,
      intel_cpu: 3000,
      mem: amd.mem + intel.mem,
      amd_mem: amd.mem,
      intel_mem: intel.mem,
    });
    await drain(t.app);
    for (const s of [amd, intel]) await alice.post(action(s.uuid, 'stop'));
    await drain(t.app);
    expect(await usage(alice)).toMatchObject({ cpu: 0, amd_cpu: 0, intel_cpu: 0 });
  });

  it('counts drive sizes per storage type', async () => {
    const res = await alice.post('/drives/', {
      objects: [
        { name: 'a', size: 1024 ** 3, media: 'disk' },
        { name: 'b', size: 2 * 1024 ** 3, media: 'disk', storage_type: 'zadara' },
      ],
    });
    expect(res.status).toBe(201);
    await drain(t.app);
    expect(await usage(alice)).toMatchObject({ dssd: 1024 ** 3, zadara: 2 * 1024 ** 3 });
  });
});

describe('the default cpu_type', () => {
  it('is amd unless configured: amd_cpu counts, intel_cpu stays 0', async () => {
    const other = await startManualApp();
    try {
      const server = await createServer(other.alice, { cpu: 1500 });
      expect(server.cpu_type).toBe('amd');
      await other.alice.post(action(server.uuid, 'start'));
      expect(await usage(other.alice)).toMatchObject({ cpu: 1500, amd_cpu: 1500, intel_cpu: 0 });
    } finally {
      await closeApp(other);
    }
  });
});
