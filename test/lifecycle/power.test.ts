/**
 * Power transitions as clients see them (api-reference.md §2.1-§2.4, §2.6): start, stop, ACPI
 * shutdown (a guest that answers, one that does not), restart; the runtime of a running server,
 * its NICs (dynamic addresses) and drives; `GET /servers/{uuid}/runtime/`; PUT while not stopped.
 * The clock is stopped and stepped by hand, so each transition lasts exactly its configured time.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DYNAMIC_IPS } from '../../src/resources/networking/ippool.js';
import { isoTime } from '../../src/resources/objects.js';
import { attach, createServer, expectError, type Obj } from '../support/api.js';
import { type Client, driveBody, type TestApp } from '../support/app.js';
import {
  action,
  advance,
  closeApp,
  drain,
  get,
  realSleep,
  startManualApp,
  T,
  waitStatus,
} from './support.js';

const ACPI_TIMEOUT_S = 7;

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startManualApp({ acpiTimeout: ACPI_TIMEOUT_S });
  alice = t.alice;
});
afterAll(() => closeApp(t));
afterEach(async () => {
  // Leave nothing in flight for the next test's sleeper counts.
  t.app.compute.setGuestAcpi(true);
  await drain(t.app);
});

const ZERO_NIC_IO = { bytes_recv: 0, bytes_sent: 0, packets_recv: 0, packets_sent: 0 };
const ZERO_DRIVE_IO = {
  bytes_read: 0,
  bytes_written: 0,
  count_flush: 0,
  count_read: 0,
  count_written: 0,
  total_time_ns_flush: 0,
  total_time_ns_read: 0,
  total_time_ns_write: 0,
};

/** A server with a disk, a cdrom, a DHCP NIC, a manual NIC and a NIC without IPv4 config. */
async function fullServer(): Promise<Obj> {
  const made = await alice.post('/drives/', {
    objects: [driveBody({ name: 'disk' }), driveBody({ name: 'cd', media: 'cdrom' })],
  });
  const [disk, cdrom] = made.json.objects.map((d: Obj) => d.uuid as string);
  await drain(t.app);
  return createServer(alice, {
    drives: [attach(disk, 'virtio', '0:0', 1), attach(cdrom, 'ide', '0:1')],
    nics: [
      { ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' },
      { ip_v4_conf: { conf: 'manual' }, model: 'e1000' },
      { model: 'virtio' },
    ],
  });
}

/** The address a DHCP NIC holds in the store's dynamic pool, if any. */
function holderOf(address: string) {
  return t.app.store.read((tx) => tx.claimHolder(DYNAMIC_IPS, address));
}

async function startAndRun(uuid: string): Promise<Obj> {
  expect((await alice.post(action(uuid, 'start'), {})).status).toBe(202);
  await advance(t.app, T.start);
  return waitStatus(alice, `/servers/${uuid}/`, 'running');
}

/** A moment for anything that would (wrongly) happen before the clock says so. */
const grace = () => realSleep(30);

describe('start', () => {
  it('goes starting, then running after exactly the start time, with the full runtime', async () => {
    const server = await fullServer();
    const path = `/servers/${server.uuid}/`;
    const res = await alice.post(action(server.uuid, 'start'), {});
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ action: 'start', result: 'success', uuid: server.uuid });

    const starting = await get(alice, path);
    expect(starting.status).toBe('starting');
    expect(starting.runtime).toBeNull();

    await advance(t.app, T.start - 1);
    await grace();
    expect((await get(alice, path)).status).toBe('starting');
    t.app.clock.advance(1);
    const running = await waitStatus(alice, path, 'running');
    const since = isoTime(t.app.clock.now());

    const [dhcp, manual, bare] = running.nics as Obj[];
    const address = dhcp!.runtime.ip_v4.uuid as string;
    // The default pool is 198.18.0.0/15; .0.0 is the network, .0.1 the gateway.
    expect(address).toMatch(/^198\.1[89]\.\d+\.\d+$/);
    expect(['198.18.0.0', '198.18.0.1', '198.19.255.255']).not.toContain(address);
    expect(dhcp!.runtime).toEqual({
      interface_type: 'public',
      io: ZERO_NIC_IO,
      ip_v4: { resource_uri: `/api/2.0/ips/${address}/`, uuid: address },
      ip_v6: null,
    });
    expect(dhcp!.ip_v4_conf).toEqual({ conf: 'dhcp', ip: null });
    expect(manual!.runtime).toEqual({
      interface_type: 'public',
      io: ZERO_NIC_IO,
      ip_v4: null,
      ip_v6: null,
    });
    expect(bare!.runtime.ip_v4).toBeNull();
    expect(running.runtime).toEqual({
      active_since: since,
      nics: (running.nics as Obj[]).map((nic) => ({ ...nic.runtime, mac: nic.mac })),
    });
    for (const drive of running.drives as Obj[])
      expect(drive.runtime).toEqual({ io: ZERO_DRIVE_IO });
    expect(await holderOf(address)).toBe(server.uuid);

    // The list view carries the runtime too, and /runtime/ is the runtime alone.
    const list = await get(alice, '/servers/?limit=0');
    const entry = (list.objects as Obj[]).find((s) => s.uuid === server.uuid);
    expect(entry).toEqual({
      name: server.name,
      owner: server.owner,
      resource_uri: `/api/2.0/servers/${server.uuid}/`,
      runtime: running.runtime,
      status: 'running',
      uuid: server.uuid,
    });
    const runtime = await alice.get(`${path}runtime/`);
    expect(runtime.status).toBe(200);
    expect(runtime.json).toEqual(running.runtime);
  });

  it('gives every running server its own address from the pool', async () => {
    const servers = await Promise.all(
      Array.from({ length: 6 }, () =>
        createServer(alice, {
          nics: [{ ip_v4_conf: { conf: 'dhcp' } }, { ip_v4_conf: { conf: 'dhcp' } }],
        }),
      ),
    );
    for (const s of servers) expect((await alice.post(action(s.uuid, 'start'))).status).toBe(202);
    await drain(t.app);
    const addresses = new Set<string>();
    for (const s of servers) {
      const running = await get(alice, `/servers/${s.uuid}/`);
      expect(running.status).toBe('running');
      for (const nic of running.nics as Obj[]) addresses.add(nic.runtime.ip_v4.uuid);
    }
    expect(addresses.size).toBe(12);
    for (const s of servers) await alice.post(action(s.uuid, 'stop'));
  });
});

describe('GET /servers/{uuid}/runtime/', () => {
  it('is null for a stopped or starting server, 404 for a missing or foreign one', async () => {
    const { uuid } = await createServer(alice);
    const stopped = await alice.get(`/servers/${uuid}/runtime/`);
    expect([stopped.status, stopped.json]).toEqual([200, null]);
    await alice.post(action(uuid, 'start'));
    expect((await alice.get(`/servers/${uuid}/runtime/`)).json).toBeNull();
    const bobs = (await createServer(t.bob)).uuid;
    for (const missing of ['472835d5-2bbb-4d87-9d08-7364bc373692', bobs]) {
      expectError(await alice.get(`/servers/${missing}/runtime/`), 404, 'notexist', null);
    }
    await drain(t.app);
    await alice.post(action(uuid, 'stop'));
  });
});

describe('stop', () => {
  it('goes stopping, then stopped after exactly the stop time: runtime null, address released', async () => {
    const server = await fullServer();
    const path = `/servers/${server.uuid}/`;
    const running = await startAndRun(server.uuid);
    const address = running.nics[0].runtime.ip_v4.uuid as string;

    const res = await alice.post(action(server.uuid, 'stop'));
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ action: 'stop', result: 'success', uuid: server.uuid });
    expect((await get(alice, path)).status).toBe('stopping');
    await advance(t.app, T.stop - 1);
    await grace();
    expect((await get(alice, path)).status).toBe('stopping');
    expect(await holderOf(address)).toBe(server.uuid);
    t.app.clock.advance(1);

    const stopped = await waitStatus(alice, path, 'stopped');
    expect(stopped.runtime).toBeNull();
    for (const nic of stopped.nics as Obj[]) expect(nic.runtime).toBeNull();
    for (const drive of stopped.drives as Obj[]) expect(drive.runtime).toBeNull();
    expect(await holderOf(address)).toBeUndefined();
    expect(await t.app.store.read((tx) => tx.claimsOf(DYNAMIC_IPS, server.uuid))).toEqual([]);
    const runtime = await alice.get(`${path}runtime/`);
    expect(runtime.status).toBe(200);
    expect(runtime.json).toBeNull();
    // Stopped means startable again.
    await startAndRun(server.uuid);
    await alice.post(action(server.uuid, 'stop'));
  });
});

describe('shutdown (ACPI)', () => {
  it('stops a guest that answers ACPI', async () => {
    const { uuid } = await createServer(alice, { nics: [{ ip_v4_conf: { conf: 'dhcp' } }] });
    const path = `/servers/${uuid}/`;
    const running = await startAndRun(uuid);
    const address = running.nics[0].runtime.ip_v4.uuid as string;
    const res = await alice.post(action(uuid, 'shutdown'), {});
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ action: 'shutdown', result: 'success', uuid });
    const stopping = await get(alice, path);
    expect(stopping.status).toBe('stopping');
    // As the Servers page's list shows stopping servers: no runtime while stopping.
    expect(stopping.runtime).toBeNull();
    expect(stopping.nics[0].runtime).toBeNull();
    await advance(t.app, T.shutdown - 1);
    await grace();
    expect((await get(alice, path)).status).toBe('stopping');
    t.app.clock.advance(1);
    const stopped = await waitStatus(alice, path, 'stopped');
    expect(stopped.runtime).toBeNull();
    expect(stopped.nics[0].runtime).toBeNull();
    expect(await holderOf(address)).toBeUndefined();
  });

  it('brings a guest that ignores ACPI back to running after the ACPI timeout', async () => {
    t.app.compute.setGuestAcpi(false);
    const { uuid } = await createServer(alice, { nics: [{ ip_v4_conf: { conf: 'dhcp' } }] });
    const path = `/servers/${uuid}/`;
    const running = await startAndRun(uuid);
    expect((await alice.post(action(uuid, 'shutdown'))).status).toBe(202);
    expect((await get(alice, path)).status).toBe('stopping');
    await advance(t.app, ACPI_TIMEOUT_S * 1000 - 1);
    await grace();
    expect((await get(alice, path)).status).toBe('stopping');
    t.app.clock.advance(1);
    const back = await waitStatus(alice, path, 'running');
    // Nothing was powered off: same boot, same address.
    expect(back.runtime).toEqual(running.runtime);
    expect(back.nics).toEqual(running.nics);
    expect(await holderOf(running.nics[0].runtime.ip_v4.uuid)).toBe(uuid);
    // A hard stop still works.
    expect((await alice.post(action(uuid, 'stop'))).status).toBe(202);
  });

  it('ignores ACPI for one deaf guest only', async () => {
    const deaf = (await createServer(alice)).uuid;
    const hearing = (await createServer(alice)).uuid;
    t.app.compute.setGuestAcpi(false, deaf);
    for (const uuid of [deaf, hearing]) {
      await alice.post(action(uuid, 'start'));
    }
    await drain(t.app);
    for (const uuid of [deaf, hearing]) {
      expect((await alice.post(action(uuid, 'shutdown'))).status).toBe(202);
    }
    await advance(t.app, T.shutdown, 2);
    await waitStatus(alice, `/servers/${hearing}/`, 'stopped');
    expect((await get(alice, `/servers/${deaf}/`)).status).toBe('stopping');
    await drain(t.app);
    expect((await get(alice, `/servers/${deaf}/`)).status).toBe('running');
    t.app.compute.setGuestAcpi(true, deaf);
    await alice.post(action(deaf, 'stop'));
  });
});

describe('restart', () => {
  it('goes stopping, starting, running, with a new active_since', async () => {
    const { uuid } = await createServer(alice, { nics: [{ ip_v4_conf: { conf: 'dhcp' } }] });
    const path = `/servers/${uuid}/`;
    const first = await startAndRun(uuid);
    const res = await alice.post(action(uuid, 'restart'), {});
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ action: 'restart', result: 'success', uuid });
    expect((await get(alice, path)).status).toBe('stopping');
    await advance(t.app, T.stop);
    const starting = await waitStatus(alice, path, 'starting');
    expect(starting.runtime).toBeNull();
    await advance(t.app, T.start);
    const second = await waitStatus(alice, path, 'running');
    expect(second.runtime.active_since).toBe(isoTime(t.app.clock.now()));
    expect(second.runtime.active_since).not.toBe(first.runtime.active_since);
    expect(second.nics[0].runtime.ip_v4).not.toBeNull();
    await alice.post(action(uuid, 'stop'));
  });
});

describe('PUT while the server is not stopped (§2.4)', () => {
  const changes = {
    name: 'renamed',
    meta: { note: 'live' },
    cpu: 2000,
    mem: 1073741824,
    smp: 2,
    vnc_password: 'other-password',
    context: false,
    nics: [],
    drives: [],
    cpu_type: 'intel',
  };

  it.each(['starting', 'running', 'stopping'])(
    'changes only name, meta and vnc_password of a %s server, silently ignoring the rest',
    async (state) => {
      const server = await fullServer();
      const path = `/servers/${server.uuid}/`;
      expect((await alice.post(action(server.uuid, 'start'))).status).toBe(202);
      if (state !== 'starting') await advance(t.app, T.start);
      if (state !== 'starting') await waitStatus(alice, path, 'running');
      if (state === 'stopping')
        expect((await alice.post(action(server.uuid, 'stop'))).status).toBe(202);
      const before = await get(alice, path);
      expect(before.status).toBe(state);

      const res = await alice.put(path, changes);
      expect(res.status, res.text).toBe(200);
      const expected = {
        ...before,
        name: 'renamed',
        meta: { note: 'live' },
        vnc_password: changes.vnc_password,
      };
      expect(res.json).toEqual(expected);
      expect(await get(alice, path)).toEqual(expected);
      // The drives are still attached.
      for (const attachment of before.drives as Obj[]) {
        const drive = await get(alice, `/drives/${attachment.drive.uuid}/`);
        expect(drive.mounted_on).toEqual([{ resource_uri: `/api/2.0${path}`, uuid: server.uuid }]);
      }
      await drain(t.app);
      if (state !== 'stopping') await alice.post(action(server.uuid, 'stop'));
    },
  );

  it('takes back the whole object a client read (runtime included) with a new name', async () => {
    const server = await fullServer();
    const path = `/servers/${server.uuid}/`;
    const running = await startAndRun(server.uuid);
    const res = await alice.put(path, { ...running, name: 'read-modify-write' });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ ...running, name: 'read-modify-write' });
    await alice.post(action(server.uuid, 'stop'));
  });

  it('still validates what it applies', async () => {
    const { uuid } = await createServer(alice);
    await startAndRun(uuid);
    const res = await alice.put(`/servers/${uuid}/`, { meta: { k: 5 } });
    expectError(res, 400, 'validation', expect.stringMatching(/^meta/) as unknown as string);
    await alice.post(action(uuid, 'stop'));
  });
});

describe('configuration', () => {
  it('--no-guest-acpi: every guest ignores ACPI until --acpi-timeout', async () => {
    const other = await startManualApp({ guestAcpi: false, acpiTimeout: 3 });
    try {
      const { uuid } = await createServer(other.alice);
      const path = `/servers/${uuid}/`;
      await other.alice.post(action(uuid, 'start'));
      await advance(other.app, T.start);
      await waitStatus(other.alice, path, 'running');
      expect((await other.alice.post(action(uuid, 'shutdown'), {})).status).toBe(202);
      await advance(other.app, 2999);
      await grace();
      expect((await get(other.alice, path)).status).toBe('stopping');
      other.app.clock.advance(1);
      await waitStatus(other.alice, path, 'running');
    } finally {
      await closeApp(other);
    }
  });

  it('refuses a start with 503 when the pool has no free address, and changes nothing', async () => {
    const other = await startManualApp({ dynamicPool: '10.99.0.0/30' });
    try {
      const nics = [{ ip_v4_conf: { conf: 'dhcp' } }];
      const a = (await createServer(other.alice, { nics })).uuid;
      const b = (await createServer(other.alice, { nics })).uuid;
      expect((await other.alice.post(action(a, 'start'))).status).toBe(202);
      await drain(other.app);
      const before = await other.app.store.fingerprint();
      const refused = await other.alice.post(action(b, 'start'));
      expectError(refused, 503, 'backend', null);
      expect(refused.json[0].error_message).toMatch(/No free address in the dynamic IP pool/);
      expect(await other.app.store.fingerprint()).toBe(before);
      expect((await get(other.alice, `/servers/${b}/`)).status).toBe('stopped');
      await drain(other.app);
    } finally {
      await closeApp(other);
    }
  });

  it('leases a released address again (a pool of one address)', async () => {
    const other = await startManualApp({ dynamicPool: '10.99.0.0/30' });
    try {
      const nics = [{ ip_v4_conf: { conf: 'dhcp' } }];
      const a = (await createServer(other.alice, { nics })).uuid;
      const b = (await createServer(other.alice, { nics })).uuid;
      await other.alice.post(action(a, 'start'));
      await drain(other.app);
      const first = await get(other.alice, `/servers/${a}/`);
      expect(first.nics[0].runtime.ip_v4.uuid).toBe('10.99.0.2');
      await other.alice.post(action(a, 'stop'));
      await drain(other.app);
      await other.alice.post(action(b, 'start'));
      await drain(other.app);
      const second = await get(other.alice, `/servers/${b}/`);
      expect(second.status).toBe('running');
      expect(second.nics[0].runtime.ip_v4.uuid).toBe('10.99.0.2');
      await other.alice.post(action(b, 'stop'));
      await drain(other.app);
    } finally {
      await closeApp(other);
    }
  });
});
