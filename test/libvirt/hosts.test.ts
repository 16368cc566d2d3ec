/**
 * Two libvirt hosts served by one sigmalite process (issue 16): each host its own libvirtd in its
 * own network and mount namespace (scripts/lvhost.sh), both defining one storage pool on a shared
 * directory. A server runs on each host; a host killed makes its server `unavailable` within
 * 10 s, and when the host is back the server is what the hypervisor says (`stopped`: QEMU died
 * with the host); a host that hangs makes its server `unavailable`, and when it answers again
 * the server is `running` with the same `active_since`. One guest per host at most, TCG,
 * SQLite. It uses no system libvirtd (so takes no `holdLibvirtd` lock: a restart of that one
 * changes nothing here).
 */

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getHost, type HostStatus, hostStatuses, putHost } from '../../src/engine/hosts.js';
import { PLACEMENT_STATE } from '../../src/engine/placement.js';
import { type Client, startTestApp, type TestApp, type TestAppOptions } from '../support/app.js';
import {
  describeLibvirt,
  reachableTempDir,
  removeTinyGuest,
  requireLibvirt,
  tinyGuest,
  tinyGuestLibrary,
  uniqueName,
} from '../support/libvirt.js';
import { LvHost, type LvNetwork, lvhostProblem } from '../support/lvhost.js';
import { rfbAuthenticate } from '../support/rfb-client.js';
import { type LastingTestStore, lastingTestStore } from '../support/stores.js';

/** The bound: a host that stops answering is marked down within 10 s. */
const DOWN_MS = 10_000;
const LIBRARY_DRIVE = randomUUID();
const NETWORK: LvNetwork = { bridge: 'slhostsbr0', gateway: '10.231.7.1', prefix: 24 };
const HOSTS = { one: 'sl-h1', two: 'sl-h2' } as const;
/** sl-h1's address on the bridge, reachable from this process (the root namespace). */
const ONE_ADDRESS = '10.231.7.2';
const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;

describeLibvirt('two libvirt hosts in one process', () => {
  let dir: string;
  let data: LastingTestStore;
  let test: TestApp;
  let one: LvHost;
  let two: LvHost;
  let poolPath: string;
  let config: TestAppOptions;
  const servers: string[] = [];
  /** Where each server of `serverOn` is meant to run. */
  const intended = new Map<string, string>();

  const alice = (): Client => test.alice;
  const server = async (uuid: string) => (await alice().get(`/servers/${uuid}/`)).json;

  async function status(uuid: string, wanted: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await server(uuid);
      if (now.status === wanted) return now;
      if (Date.now() > deadline) {
        throw new Error(`server ${uuid} not ${wanted} within ${timeoutMs} ms: ${now.status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function hostStatus(name: string): Promise<HostStatus | undefined> {
    // Written once the engine has handled the host's event: wait for it.
    await test.app.engine.eventsHandled();
    return (await test.app.store.read((tx) => hostStatuses(tx))).get(name);
  }

  /** A server booting the tiny guest's ISO (the library drive), placed on `host`. */
  async function serverOn(host: string, name: string): Promise<string> {
    const res = await alice().post('/servers/', {
      name,
      // More than a core of this host: no CPU quota slows the emulated boot down.
      cpu: 2893,
      mem: 256 * 1024 * 1024,
      vnc_password: 'guest-vnc-pass',
      drives: [{ drive: LIBRARY_DRIVE, device: 'ide', dev_channel: '0:0', boot_order: 1 }],
    });
    expect(res.status, res.text).toBe(201);
    const uuid: string = res.json.objects[0].uuid;
    servers.push(uuid);
    intended.set(uuid, host);
    return uuid;
  }

  /** Drains (or takes back) every host but `host`: placement then has only that one. */
  async function drainAllBut(host: string | undefined, drained: boolean) {
    await test.app.store.write(async (tx) => {
      for (const name of Object.values(HOSTS)) {
        if (name === host) continue;
        const record = await getHost(tx, name);
        if (record) await putHost(tx, name, { ...record, drained });
      }
    });
  }

  /** Starts a server, on the host `serverOn` meant it for (the others drained meanwhile). */
  async function start(uuid: string) {
    const host = intended.get(uuid);
    if (host) await drainAllBut(host, true);
    try {
      const res = await alice().post(`/servers/${uuid}/action/?do=start`, {});
      expect(res.status, res.text).toBe(202);
    } finally {
      if (host) await drainAllBut(host, false);
    }
    const running = await status(uuid, 'running', 60_000);
    if (host) expect(await placement(uuid)).toBe(host);
    return running;
  }

  const placement = (uuid: string) =>
    test.app.store.read((tx) => tx.getState(PLACEMENT_STATE, uuid));

  async function stop(uuid: string) {
    await alice().post(`/servers/${uuid}/action/?do=stop`, {});
    await status(uuid, 'stopped');
  }

  /**
   * Waits until QEMU's console port on `host` is connected to this process at the bridge's
   * address (QEMU's own view, `info chardev`): the guest's serial port crossed the namespace.
   */
  async function consoleConnected(host: LvHost, uuid: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const chardevs = host.virsh('qemu-monitor-command', '--hmp', uuid, 'info chardev');
      const line = chardevs.split('\n').find((l) => l.startsWith('charserial0:')) ?? '';
      if (line.includes(`<-> ${NETWORK.gateway}:`)) return line;
      if (Date.now() > deadline) throw new Error(`console of ${uuid} not connected: ${line}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  function domainState(host: LvHost, uuid: string): string {
    try {
      return host.virsh('domstate', uuid).trim();
    } catch {
      return 'absent';
    }
  }

  beforeAll(async () => {
    requireLibvirt();
    const problem = lvhostProblem();
    if (problem) throw new Error(`namespaced libvirt hosts cannot run here: ${problem}`);
    tinyGuest();
    dir = reachableTempDir('sigmalite-hosts-test-');
    one = LvHost.start(HOSTS.one, { network: NETWORK, address: ONE_ADDRESS });
    two = LvHost.start(HOSTS.two, { network: NETWORK, address: '10.231.7.3' });
    const library = tinyGuestLibrary(dir, LIBRARY_DRIVE);
    // Both hosts define the pool on one directory, outside their own libvirt directories.
    poolPath = join(dir, 'pool');
    data = lastingTestStore('sqlite');
    const store = await data.open();
    await store.write(async (tx) => {
      await putHost(tx, HOSTS.one, { uri: one.uri, poolPath, sharedPool: true });
      await putHost(tx, HOSTS.two, { uri: two.uri, poolPath, sharedPool: true });
    });
    config = {
      settle: false,
      driver: 'libvirt',
      memory: false,
      data: dir,
      hosts: `${HOSTS.one},${HOSTS.two}`,
      libvirtPool: uniqueName('sl-hosts-pool-'),
      libvirtNetwork: uniqueName('sl-hosts-pub-'),
      libvirtBridge: uniqueName('slh'),
      libvirtNat: false,
      libvirtAccelerator: 'tcg',
      // Guests in the hosts' namespaces reach this process at the bridge's address.
      serialHost: NETWORK.gateway,
      dynamicPool: `${subnet}.0/24`,
      reconcileInterval: 5,
      library,
    };
    test = await startTestApp({ ...config, withStore: store });
  }, 120_000);

  afterAll(async () => {
    for (const host of [one, two]) {
      for (const uuid of servers) {
        host?.virshQuietly('destroy', uuid);
        host?.virshQuietly('undefine', uuid);
      }
    }
    await test?.close();
    one?.destroy();
    two?.destroy();
    LvHost.removeBridge(NETWORK);
    await data?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    removeTinyGuest();
  }, 60_000);

  it('runs a server on each host; a killed host makes its server unavailable, then stopped when it is back', async () => {
    expect(await hostStatus(HOSTS.one)).toMatchObject({ up: true });
    expect((await hostStatus(HOSTS.two))?.mhz).toBeGreaterThan(0);
    const first = await serverOn(HOSTS.one, 'on-one');
    const second = await serverOn(HOSTS.two, 'on-two');
    await start(first);
    await start(second);
    // Each runs on its own host only.
    expect(domainState(one, first)).toBe('running');
    expect(domainState(two, second)).toBe('running');
    expect(domainState(one, second)).toBe('absent');
    expect(domainState(two, first)).toBe('absent');
    await stop(first);
    // The guest's console reaches this process across the namespace, at the bridge's address.
    await consoleConnected(two, second, 10_000);

    const killed = Date.now();
    two.kill();
    await status(second, 'unavailable', DOWN_MS);
    console.info(`hosts.test: killed host noticed in ${Date.now() - killed} ms`);
    expect(await hostStatus(HOSTS.two)).toMatchObject({ up: false });
    expect((await server(first)).status).toBe('stopped');

    two.restart();
    // QEMU died with the host: the hypervisor says stopped.
    const back = await status(second, 'stopped', 30_000);
    expect(back.runtime).toBeNull();
    expect(await hostStatus(HOSTS.two)).toMatchObject({ up: true });
    // The host serves again: a start there runs.
    await start(second);
    expect(domainState(two, second)).toBe('running');
    await stop(second);
  }, 240_000);

  it('a hung host makes its server unavailable; answering again, it is running with the same active_since', async () => {
    const uuid = await serverOn(HOSTS.one, 'through-a-hang');
    const running = await start(uuid);
    const since = running.runtime.active_since;

    const hung = Date.now();
    one.hang();
    try {
      await status(uuid, 'unavailable', DOWN_MS);
      console.info(`hosts.test: hung host noticed in ${Date.now() - hung} ms`);
      expect(await hostStatus(HOSTS.one)).toMatchObject({ up: false });
    } finally {
      one.resume();
    }
    const again = await status(uuid, 'running', 30_000);
    expect(again.runtime.active_since).toBe(since);
    expect(await hostStatus(HOSTS.one)).toMatchObject({ up: true });
    await stop(uuid);
  }, 240_000);

  it('a host removed while running leaves its machines running; added again, they are adopted', async () => {
    const compute = test.app.engine.ctx.compute;
    const uuid = await serverOn(HOSTS.two, 'through-removal');
    const since = (await start(uuid)).runtime.active_since;
    await compute.removeHost!(HOSTS.two);
    expect(compute.hosts).toEqual([HOSTS.one]);
    expect(domainState(two, uuid)).toBe('running');
    await compute.addHost!({ name: HOSTS.two, uri: two.uri, poolPath, sharedPool: true });
    expect(compute.hosts).toEqual([HOSTS.one, HOSTS.two]);
    expect(await hostStatus(HOSTS.two)).toMatchObject({ up: true });
    const kept = await server(uuid);
    expect(kept.status).toBe('running');
    expect(kept.runtime.active_since).toBe(since);
    await stop(uuid);
    expect(domainState(two, uuid)).toBe('shut off');
  }, 240_000);

  it('a host that cannot be connected at start is down, and served once it can be', async () => {
    await test.close();
    two.kill();
    test = await startTestApp({ ...config, withStore: await data.open() });
    const compute = test.app.engine.ctx.compute;
    expect(compute.hosts).toEqual([HOSTS.one]);
    expect(await hostStatus(HOSTS.two)).toMatchObject({ up: false });
    two.restart();
    const deadline = Date.now() + 30_000;
    while (!compute.hosts.includes(HOSTS.two)) {
      if (Date.now() > deadline) throw new Error(`${HOSTS.two} not served within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await hostStatus(HOSTS.two)).toMatchObject({ up: true });
    // It serves: a server placed there starts.
    const uuid = await serverOn(HOSTS.two, 'after-late-connect');
    await start(uuid);
    expect(domainState(two, uuid)).toBe('running');
    await stop(uuid);
  }, 240_000);

  it('a host reinstalled while down is made ready again when it answers: pool and network', async () => {
    two.destroy();
    const gone = Date.now() + DOWN_MS;
    while ((await hostStatus(HOSTS.two))?.up !== false) {
      if (Date.now() > gone) throw new Error(`${HOSTS.two} not down within ${DOWN_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A new libvirtd in its place: none of sigmalite's pool, network or domains.
    two = LvHost.start(HOSTS.two, { network: NETWORK, address: '10.231.7.3' });
    expect(two.virsh('net-list', '--all', '--name')).not.toContain(config.libvirtNetwork);
    const back = Date.now() + 30_000;
    while ((await hostStatus(HOSTS.two))?.up !== true) {
      if (Date.now() > back) throw new Error(`${HOSTS.two} not up within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(two.virsh('pool-list', '--name')).toContain(config.libvirtPool);
    expect(two.virsh('net-list', '--name')).toContain(config.libvirtNetwork);
    const uuid = await serverOn(HOSTS.two, 'after-reinstall');
    await start(uuid);
    expect(domainState(two, uuid)).toBe('running');
    await stop(uuid);
  }, 240_000);

  it('honours avoid over room: a start goes away from the servers it names', async () => {
    // sl-h1 declares far more memory: by room alone every start would go there.
    await test.app.store.write(async (tx) => {
      await putHost(tx, HOSTS.one, { uri: one.uri, poolPath, sharedPool: true, memory: 2 ** 40 });
      await putHost(tx, HOSTS.two, { uri: two.uri, poolPath, sharedPool: true, memory: 2 ** 31 });
    });
    const first = await serverOn(HOSTS.one, 'avoided');
    await start(first);
    const second = await serverOn(HOSTS.two, 'avoiding');
    intended.delete(second);
    const res = await alice().post(`/servers/${second}/action/?do=start&avoid=${first}`, {});
    expect(res.status, res.text).toBe(202);
    await status(second, 'running', 60_000);
    expect(await placement(second)).toBe(HOSTS.two);
    expect(domainState(two, second)).toBe('running');
    const groups = (await alice().get('/servers/availability_groups/')).json as string[][];
    expect(groups.map((group) => group.sort())).toEqual(
      expect.arrayContaining([[first], [second]]),
    );
    await stop(first);
    await stop(second);
    await test.app.store.write(async (tx) => {
      await putHost(tx, HOSTS.one, { uri: one.uri, poolPath, sharedPool: true });
      await putHost(tx, HOSTS.two, { uri: two.uri, poolPath, sharedPool: true });
    });
  }, 240_000);

  it("serves VNC of a host's machines on TCP at its vncListen address, re-adopted ones too", async () => {
    await test.close();
    const store = await data.open();
    await store.write(async (tx) => {
      await putHost(tx, HOSTS.one, {
        uri: one.uri,
        poolPath,
        sharedPool: true,
        vncListen: ONE_ADDRESS,
      });
    });
    test = await startTestApp({ ...config, withStore: store });
    const uuid = await serverOn(HOSTS.one, 'screen-over-tcp');
    await start(uuid);
    // QEMU listens at the host's address, on no unix socket (one on another machine is unreachable).
    const xml = one.virsh('dumpxml', uuid);
    const graphics = /<graphics type='vnc'[\s\S]*?<\/graphics>/.exec(xml)?.[0] ?? '';
    expect(graphics, xml).toMatch(/port='59\d\d'/);
    expect(graphics).toContain(`<listen type='address' address='${ONE_ADDRESS}'/>`);
    expect(xml).not.toContain("type='socket'");

    /** Opens the tunnel and authenticates through it, with the right password and a wrong one. */
    const handshake = async () => {
      const opened = await alice().post(`/servers/${uuid}/action/?do=open_vnc`, {});
      expect(opened.status, opened.text).toBeLessThan(300);
      const vnc = new URL((opened.json.vnc_url as string).replace(/^vnc:/, 'http:'));
      const where = { host: vnc.hostname, port: Number(vnc.port) };
      // QEMU's own answers: its password is the first 8 characters.
      const right = await rfbAuthenticate(where, 'guest-vn');
      expect(right.securityResult).toBe(0);
      expect(right.width).toBeGreaterThan(0);
      expect((await rfbAuthenticate(where, 'wrong-pw')).securityResult).toBe(1);
      await alice().post(`/servers/${uuid}/action/?do=close_vnc`, {});
    };
    await handshake();
    // A later process re-adopts the machine, and finds its screen's port in its live definition.
    await test.close();
    test = await startTestApp({ ...config, withStore: await data.open() });
    await status(uuid, 'running', 30_000);
    await handshake();
    await stop(uuid);
    await test.app.store.write(async (tx) => {
      await putHost(tx, HOSTS.one, { uri: one.uri, poolPath, sharedPool: true });
    });
  }, 240_000);

  it('keeps a pool on each host: a drive moves to the host its server starts on, and then keeps it there', async () => {
    await test.close();
    const pools = { one: join(dir, `pool-${HOSTS.one}`), two: join(dir, `pool-${HOSTS.two}`) };
    const pool = uniqueName('sl-own-pool-');
    const store = await data.open();
    await store.write(async (tx) => {
      await putHost(tx, HOSTS.one, { uri: one.uri, pool, poolPath: pools.one });
      await putHost(tx, HOSTS.two, { uri: two.uri, pool, poolPath: pools.two });
    });
    test = await startTestApp({ ...config, withStore: store });
    const made = await alice().post('/drives/', {
      objects: [{ name: 'moving', size: 512 * 1024 * 1024, media: 'disk' }],
    });
    expect(made.status, made.text).toBe(201);
    const drive: string = made.json.objects[0].uuid;
    for (let i = 0; (await alice().get(`/drives/${drive}/`)).json.status !== 'unmounted'; i++) {
      if (i > 300) throw new Error('drive not made');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Made on the first host, in its own pool, and recorded there.
    expect(await placement(drive)).toBe(HOSTS.one);
    expect(existsSync(join(pools.one, drive))).toBe(true);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 1M', join(pools.one, drive)], {
      stdio: 'pipe',
    });

    const res = await alice().post('/servers/', {
      name: 'with-its-drive',
      cpu: 1000,
      mem: 256 * 1024 * 1024,
      vnc_password: 'guest-vnc-pass',
      drives: [{ drive, device: 'virtio', dev_channel: '0:0', boot_order: 1 }],
    });
    expect(res.status, res.text).toBe(201);
    const uuid: string = res.json.objects[0].uuid;
    servers.push(uuid);
    // sl-h1 drained: the server starts on sl-h2, and its drive moves there first.
    intended.set(uuid, HOSTS.two);
    await start(uuid);
    expect(domainState(two, uuid)).toBe('running');
    expect(await placement(drive)).toBe(HOSTS.two);
    expect(existsSync(join(pools.one, drive))).toBe(false);
    const moved = execFileSync(
      'qemu-io',
      ['-r', '-U', '-f', 'qcow2', '-c', 'read -P 0x5a 1M 1M', join(pools.two, drive)],
      { encoding: 'utf8' },
    );
    expect(moved).not.toMatch(/Pattern verification failed/);
    // Its availability group is its host's: it alone is on sl-h2.
    expect((await alice().get('/drives/availability_groups/')).json).toContainEqual([drive]);
    await stop(uuid);

    // Nothing drained now: the server starts where its drive is, and nothing moves.
    intended.delete(uuid);
    expect((await alice().post(`/servers/${uuid}/action/?do=start`, {})).status).toBe(202);
    await status(uuid, 'running', 60_000);
    expect(await placement(uuid)).toBe(HOSTS.two);
    expect(await placement(drive)).toBe(HOSTS.two);
    await stop(uuid);
  }, 240_000);
});
