/**
 * The tiny guest on the real libvirtd, driven through the driver's own parts: domain XML from a
 * `DomainSpec`, the host's interactive virsh and event stream, the console and context serial
 * endpoints, a volume holding the uploaded ISO, an isolated network with a DHCP reservation, and
 * a firewall policy as an nwfilter. One guest runs at a time (128 MiB, TCG).
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, createReadStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type DomainSpec,
  domainXml,
  unlimitedCpu,
} from '../../src/drivers/compute/libvirt/domain-xml.js';
import { type DomainEvent, isLifecycle } from '../../src/drivers/compute/libvirt/events.js';
import { LibvirtHost } from '../../src/drivers/compute/libvirt/host.js';
import {
  defineFilter,
  ensureNetwork,
  removeFilter,
  removeNetwork,
} from '../../src/drivers/compute/libvirt/networks.js';
import type { FirewallRuleSpec } from '../../src/drivers/compute/libvirt/nwfilter-xml.js';
import {
  listenSerial,
  SerialConsole,
  type SerialEndpoint,
} from '../../src/drivers/compute/libvirt/serial-endpoint.js';
import { ensurePool, removePool } from '../../src/drivers/storage/libvirt/pool.js';
import { LibvirtVolumes } from '../../src/drivers/storage/libvirt/volumes.js';
import { serveContext } from '../../src/resources/context/protocol.js';
import {
  describeLibvirt,
  holdLibvirtd,
  LIBVIRT_URI,
  reachableTempDir,
  removeDomains,
  removeTinyGuest,
  requireLibvirt,
  tinyGuest,
  uniqueName,
} from '../support/libvirt.js';
import { rfbAuthenticate } from '../support/rfb-client.js';

const BOOT_MS = 120_000;
const MAC = '52:54:00:5e:00:01';
const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
const GUEST_IP = `${subnet}.50`;

describeLibvirt('the tiny guest under libvirt', () => {
  const uuid = randomUUID();
  const network = uniqueName('sl-test-net-');
  const filter = uniqueName('sl-test-fw-');
  const filterUuid = randomUUID();
  const poolName = uniqueName('sl-test-pool-');
  const events: DomainEvent[] = [];
  let dir: string;
  let host: LibvirtHost;
  let volumes: LibvirtVolumes;
  let console: SerialConsole;
  let consoleEndpoint: SerialEndpoint;
  let contextEndpoint: SerialEndpoint;
  let spec: DomainSpec;
  let context: Record<string, unknown> = { name: 'guest-one', meta: {} };

  const waitForEvent = (event: string, detail: string, timeoutMs = 30_000) =>
    new Promise<DomainEvent>((resolve, reject) => {
      const started = Date.now();
      const poll = () => {
        const found = events.find(
          (e) => e.domain === uuid && isLifecycle(e) && e.event === event && e.detail === detail,
        );
        if (found) return resolve(found);
        if (Date.now() - started > timeoutMs) {
          return reject(new Error(`no ${event} ${detail} event; saw ${JSON.stringify(events)}`));
        }
        setTimeout(poll, 50);
      };
      poll();
    });

  const firewall = (rules: Partial<FirewallRuleSpec>[]) =>
    defineFilter(host.shell, {
      name: filter,
      uuid: filterUuid,
      rules: rules.map((rule) => ({
        action: 'drop',
        direction: 'in',
        protocol: 'tcp',
        srcIp: null,
        srcPort: null,
        dstIp: null,
        dstPort: null,
        ...rule,
      })),
    });

  let release: (() => void) | undefined;

  beforeAll(async () => {
    requireLibvirt();
    // libvirtd is not restarted (api.test.ts) while this file uses it.
    release = await holdLibvirtd();
    const guest = tinyGuest();
    dir = reachableTempDir('sigmalite-guest-test-');
    let connected!: () => void;
    const ready = new Promise<void>((resolve) => {
      connected = resolve;
    });
    host = new LibvirtHost({
      uri: LIBVIRT_URI,
      onEvent: (event) => events.push(event),
      onConnected: () => connected(),
    }).open();
    await ready;

    await ensurePool(host.shell, { name: poolName, path: join(dir, 'pool') });
    volumes = new LibvirtVolumes({ virsh: host.shell, uri: LIBVIRT_URI, pool: poolName });
    // The guest boots from an uploaded image, as a server boots from an uploaded drive.
    await volumes.create('tiny-guest-iso', statSync(guest.iso).size, 'raw');
    await volumes.upload('tiny-guest-iso', createReadStream(guest.iso));
    await volumes.create('disk0', 64 * 1024 * 1024);

    await ensureNetwork(host.shell, {
      name: network,
      bridge: uniqueName('slt'),
      forward: 'isolated',
      ipv4: {
        address: `${subnet}.1`,
        prefix: 24,
        dhcp: {
          start: `${subnet}.100`,
          end: `${subnet}.199`,
          hosts: [{ mac: MAC, ip: GUEST_IP }],
        },
      },
    });
    await firewall([{ dstPort: '8023' }]);

    const { qemuUser } = await host.capabilities();
    const sockets = join(dir, 'sockets');
    mkdirSync(sockets);
    chownSync(sockets, 0, qemuUser!.gid);
    chmodSync(sockets, 0o770);

    console = new SerialConsole();
    consoleEndpoint = await listenSerial({
      host: '127.0.0.1',
      port: 0,
      onConnection: (socket) => console.attach(socket),
    });
    contextEndpoint = await listenSerial({
      host: '127.0.0.1',
      port: 0,
      onConnection: (socket) => serveContext(socket, async () => context),
    });
    spec = {
      uuid,
      name: uuid,
      title: 'tiny guest',
      accelerator: 'tcg',
      // A whole core: a CPU quota would slow an emulated boot down in proportion.
      cpu: unlimitedCpu(),
      memBytes: 128 * 1024 * 1024,
      drives: [
        {
          bus: 'ide',
          channel: '0:0',
          media: 'cdrom',
          source: { pool: poolName, volume: 'tiny-guest-iso' },
          format: 'raw',
          bootOrder: 1,
        },
        {
          bus: 'virtio',
          channel: '0:0',
          media: 'disk',
          source: { pool: poolName, volume: 'disk0' },
          format: 'qcow2',
          bootOrder: null,
        },
      ],
      nics: [{ mac: MAC, model: 'virtio', network, filter, bootOrder: null }],
      vnc: { socket: join(sockets, `${uuid}.vnc`), password: 'secret12-and-more' },
      console: { host: '127.0.0.1', port: consoleEndpoint.port },
      context: { host: '127.0.0.1', port: contextEndpoint.port },
      serialReconnectS: 1,
    };
  }, 120_000);

  afterAll(async () => {
    removeDomains(uuid);
    if (host) {
      await removeFilter(host.shell, filter).catch(() => {});
      await removeNetwork(host.shell, network).catch(() => {});
      await volumes?.remove('tiny-guest-iso');
      await volumes?.remove('disk0');
      await removePool(host.shell, poolName);
      await host.close();
    }
    await consoleEndpoint?.close();
    await contextEndpoint?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    removeTinyGuest();
    release?.();
  });

  it(
    'boots from its domain XML to the console marker, and libvirt reports the start',
    async () => {
      await host.define(domainXml(spec));
      await host.start(uuid);
      expect(await console.waitForLine('TINY-GUEST BOOT', BOOT_MS)).toMatch(
        /^TINY-GUEST BOOT uptime=/,
      );
      await waitForEvent('Started', 'Booted');
      expect(await host.state(uuid)).toEqual({ state: 'running', reason: 'booted' });
    },
    BOOT_MS,
  );

  it('reads its own name from the context port', async () => {
    expect(await console.waitForLine('TINY-GUEST NAME', 30_000)).toBe('TINY-GUEST NAME guest-one');
  });

  it('takes its reserved address over DHCP, which the network lists as a lease', async () => {
    expect(await console.waitForLine('TINY-GUEST DHCP', 60_000)).toBe(
      `TINY-GUEST DHCP eth0 ${GUEST_IP}/24`,
    );
    // dnsmasq hands the lease to libvirt through a helper process of its own, after the guest
    // has its address: under load that can take a while.
    const lease = expect.objectContaining({ mac: MAC, address: GUEST_IP, prefix: 24 });
    let leases = await host.leases(network);
    for (let i = 0; i < 100 && !leases.some((l) => l.mac === MAC); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      leases = await host.leases(network);
    }
    expect(leases).toContainEqual(lease);
  }, 60_000);

  it('shows its disk I/O and NIC traffic in the counters', async () => {
    expect(await console.waitForLine('TINY-GUEST DISK', 60_000)).toBe('TINY-GUEST DISK vda ok');
    const [stats] = await host.stats([uuid]);
    expect(stats).toMatchObject({ name: uuid, state: 'running' });
    const disk = stats!.blocks.find((b) => b.name === 'vda')!;
    expect(disk.wr.bytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(disk.rd.bytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(disk.fl.reqs).toBeGreaterThan(0);
    expect(disk.capacity).toBe(64 * 1024 * 1024);
    const cdrom = stats!.blocks.find((b) => b.name === 'hda')!;
    expect(cdrom.rd.bytes).toBeGreaterThan(1024 * 1024); // isolinux read the kernel from it
    // The guest sent its DHCP requests: tx is the guest's side.
    expect(stats!.nets).toHaveLength(1);
    expect(stats!.nets[0]!.tx.pkts).toBeGreaterThan(0);
    expect(stats!.cpuTime).toBeGreaterThan(0);
  }, 60_000);

  it('answers VNC with the first 8 characters of the password only, and takes a new one live', async () => {
    const screen = spec.vnc!;
    if (!('socket' in screen)) throw new Error('the guest has its screen on a unix socket');
    const socket = { path: screen.socket };
    const right = await rfbAuthenticate(socket, 'secret12');
    expect(right).toMatchObject({ version: 'RFB 003.008', securityResult: 0 });
    expect(right.desktopName).toContain('QEMU');
    expect((await rfbAuthenticate(socket, 'secret12-and-anything')).securityResult).toBe(0);
    expect((await rfbAuthenticate(socket, 'secret13')).securityResult).toBe(1);

    await host.setVncPassword(uuid, { socket: screen.socket }, 'changed!');
    expect((await rfbAuthenticate(socket, 'secret12')).securityResult).toBe(1);
    expect((await rfbAuthenticate(socket, 'changed!')).securityResult).toBe(0);
  });

  it('enforces its NIC firewall policy, and a redefined policy at once', async () => {
    expect(await console.waitForLine('TINY-GUEST LISTEN', 60_000)).toBe(
      'TINY-GUEST LISTEN 8022 8023',
    );
    // "drop in tcp 8023"
    expect(await httpGet(GUEST_IP, 8022)).toContain('tiny-guest guest-one');
    expect(await httpGet(GUEST_IP, 8023)).toBe('blocked');

    // A negated port: "drop in tcp to any port but 8023".
    await firewall([{ dstPort: '!8023' }]);
    expect(await httpGet(GUEST_IP, 8023)).toContain('tiny-guest guest-one');
    expect(await httpGet(GUEST_IP, 8022)).toBe('blocked');

    // Negated and plain fields: "drop in tcp to 8022 from anywhere but 10.99.99.99".
    await firewall([{ srcIp: '!10.99.99.99/32', dstPort: '8022' }]);
    expect(await httpGet(GUEST_IP, 8023)).toContain('tiny-guest guest-one');
    expect(await httpGet(GUEST_IP, 8022)).toBe('blocked');
  }, 60_000);

  it('grows its disk live, and the guest sees the new size', async () => {
    await console.waitForLine('TINY-GUEST READY', 60_000);
    await host.blockResize(uuid, 'vda', 128 * 1024 * 1024);
    const [stats] = await host.stats([uuid]);
    expect(stats!.blocks.find((b) => b.name === 'vda')!.capacity).toBe(128 * 1024 * 1024);
    // Typed into the console's shell: 128 MiB in 512-byte sectors.
    console.write('cat /sys/block/vda/size\n');
    expect(await console.waitForLine(/^\s*262144\s*$/, 30_000)).toMatch(/262144/);
  }, 60_000);

  /** Presses the power button every second, as CloudSigma does, until `seen` settles. */
  const pressUntil = async (seen: Promise<string>) => {
    let pressing = true;
    const pressed = seen.finally(() => {
      pressing = false;
    });
    while (pressing) {
      await host.powerButton(uuid).catch(() => {}); // the guest may be gone already
      await Promise.race([pressed.catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
    }
    return pressed;
  };

  it('powers off on the ACPI power button, and libvirt reports why', async () => {
    await pressUntil(console.waitForLine('TINY-GUEST POWER-BUTTON poweroff', 30_000));
    await waitForEvent('Shutdown', 'Finished after guest request');
    await waitForEvent('Stopped', 'Shutdown');
    expect(await host.state(uuid)).toEqual({ state: 'shut off', reason: 'shutdown' });
  }, 60_000);

  it(
    'ignores the power button when its context says so, and stops hard on destroy',
    async () => {
      context = { name: 'guest-one', meta: { tiny_guest_acpi: 'ignore' } };
      const seen = events.length;
      await host.start(uuid);
      await console.waitForLine('TINY-GUEST ACPI ignored', BOOT_MS);
      await console.waitForLine('TINY-GUEST READY', 60_000);
      await pressUntil(console.waitForLine('TINY-GUEST POWER-BUTTON ignored', 30_000));
      expect(await host.state(uuid)).toEqual({ state: 'running', reason: 'booted' });

      await host.destroy(uuid);
      await waitForEvent('Stopped', 'Destroyed');
      expect(
        events
          .slice(seen)
          .filter((e) => e.domain === uuid)
          .map(eventText),
      ).toEqual([
        'Resumed Unpaused',
        'Started Booted',
        'Shutdown Finished after host request',
        'Stopped Destroyed',
      ]);
      // Destroying a domain that does not run is no error.
      await host.destroy(uuid);
    },
    BOOT_MS,
  );
});

function eventText(event: DomainEvent): string {
  return isLifecycle(event) ? `${event.event} ${event.detail}` : event.kind;
}

/** The body a plain HTTP GET gets, or `blocked` when no connection is made within 5 s. */
function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let body = '';
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve('blocked');
    });
    socket.on('connect', () => socket.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    socket.on('data', (data) => {
      body += data.toString('latin1');
    });
    socket.on('end', () => resolve(body));
    socket.on('error', (error) => resolve(`error: ${error.message}`));
  });
}
