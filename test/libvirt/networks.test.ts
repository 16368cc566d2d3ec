/**
 * Networks, DHCP reservations, firewall filters and the bootstrap on the real libvirtd. Every
 * network here is isolated (no NAT): nothing it carries leaves this machine.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bootstrapLibvirt, checkReachable } from '../../src/drivers/compute/libvirt/bootstrap.js';
import { LibvirtHost } from '../../src/drivers/compute/libvirt/host.js';
import type { NetworkSpec } from '../../src/drivers/compute/libvirt/network-xml.js';
import {
  defineFilter,
  ensureNetwork,
  removeDhcpHost,
  removeFilter,
  removeNetwork,
  setDhcpHost,
} from '../../src/drivers/compute/libvirt/networks.js';
import { removePool } from '../../src/drivers/storage/libvirt/pool.js';
import {
  describeLibvirt,
  holdLibvirtd,
  LIBVIRT_URI,
  reachableTempDir,
  requireLibvirt,
  uniqueName,
  virsh,
} from '../support/libvirt.js';

const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;

describeLibvirt('libvirt networks, filters and the bootstrap', () => {
  const network: NetworkSpec = {
    name: uniqueName('sl-test-net-'),
    bridge: uniqueName('slt'),
    forward: 'isolated',
    ipv4: {
      address: `${subnet}.1`,
      prefix: 24,
      dhcp: { start: `${subnet}.100`, end: `${subnet}.199` },
    },
  };
  const vlan: NetworkSpec = {
    name: uniqueName('sl-test-vlan-'),
    bridge: uniqueName('slv'),
    forward: 'isolated',
  };
  const filter = uniqueName('sl-test-fw-');
  const made = { networks: [network.name, vlan.name], pools: [] as string[] };
  let host: LibvirtHost;
  let dir: string;

  let release: (() => void) | undefined;

  beforeAll(async () => {
    requireLibvirt();
    // libvirtd is not restarted (api.test.ts) while this file uses it.
    release = await holdLibvirtd();
    host = new LibvirtHost({ uri: LIBVIRT_URI });
    dir = reachableTempDir('sigmalite-networks-test-');
  });

  afterAll(async () => {
    if (host) {
      for (const name of made.networks) await removeNetwork(host.shell, name);
      for (const name of made.pools) await removePool(host.shell, name);
      await removeFilter(host.shell, filter);
      await host.close();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    release?.();
  });

  it('makes a network once, running and started with libvirtd, and reuses it', async () => {
    await ensureNetwork(host.shell, network);
    const info = virsh('net-info', network.name);
    expect(info).toMatch(/Active:\s+yes/);
    expect(info).toMatch(/Autostart:\s+yes/);
    expect(info).toContain(network.bridge);
    virsh('net-destroy', network.name);
    await ensureNetwork(host.shell, network);
    expect(virsh('net-info', network.name)).toMatch(/Active:\s+yes/);
    await expect(ensureNetwork(host.shell, { ...network, bridge: 'slother0' })).rejects.toThrow(
      /exists with bridge .*, not slother0/,
    );
  });

  it('makes a VLAN: a bridge without an address', async () => {
    await ensureNetwork(host.shell, vlan);
    expect(virsh('net-info', vlan.name)).toMatch(/Active:\s+yes/);
    expect(virsh('net-dumpxml', vlan.name)).not.toContain('<ip');
  });

  it('adds, changes and drops DHCP reservations live', async () => {
    const mac = '52:54:00:5e:10:01';
    const reservations = () => virsh('net-dumpxml', network.name).match(/<host [^>]*>/g) ?? [];
    await setDhcpHost(host.shell, network.name, { mac, ip: `${subnet}.21` });
    expect(reservations()).toEqual([`<host mac='${mac}' ip='${subnet}.21'/>`]);
    await setDhcpHost(host.shell, network.name, { mac: mac.toUpperCase(), ip: `${subnet}.22` });
    expect(reservations()).toEqual([`<host mac='${mac}' ip='${subnet}.22'/>`]);
    await removeDhcpHost(host.shell, network.name, mac);
    expect(reservations()).toEqual([]);
    await removeDhcpHost(host.shell, network.name, mac);
    // The persistent definition follows too.
    expect(virsh('net-dumpxml', '--inactive', network.name)).not.toContain('<host');
  });

  it('defines a policy filter and redefines it under the same uuid', async () => {
    const uuid = randomUUID();
    const policy = (port: string) => ({
      name: filter,
      uuid,
      rules: [
        {
          action: 'drop' as const,
          direction: 'in' as const,
          protocol: 'tcp' as const,
          srcIp: null,
          srcPort: null,
          dstIp: null,
          dstPort: port,
        },
      ],
    });
    await defineFilter(host.shell, policy('8023'));
    await defineFilter(host.shell, policy('8024'));
    const xml = virsh('nwfilter-dumpxml', filter);
    expect(xml).toContain(uuid);
    expect(xml).toContain("dstportstart='8024'");
    // Another policy cannot take the name.
    await expect(defineFilter(host.shell, { ...policy('1'), uuid: randomUUID() })).rejects.toThrow(
      /already exists/,
    );
    await removeFilter(host.shell, filter);
    await removeFilter(host.shell, filter);
    expect(() => virsh('nwfilter-dumpxml', filter)).toThrow();
  });

  it('bootstraps the pool, the public network and the socket directory, and reuses them', async () => {
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o711 });
    chmodSync(data, 0o711);
    const pool = uniqueName('sl-test-pool-');
    const publicNetwork: NetworkSpec = {
      ...network,
      name: uniqueName('sl-test-pub-'),
      bridge: uniqueName('slp'),
    };
    publicNetwork.ipv4 = { ...network.ipv4!, address: `${subnet.replace(/\.\d+$/, '.251')}.1` };
    publicNetwork.ipv4.dhcp = undefined;
    made.pools.push(pool);
    made.networks.push(publicNetwork.name);

    const first = await bootstrapLibvirt(host, {
      dataDir: data,
      pool: { name: pool },
      network: publicNetwork,
    });
    expect(first.pool).toEqual({ name: pool, path: join(data, 'libvirt', 'pool') });
    expect(first.socketDir).toBe(join(data, 'libvirt', 'sockets'));
    const sockets = statSync(first.socketDir);
    expect(sockets.mode & 0o777).toBe(0o770);
    expect(sockets.gid).toBe(first.qemuUser.gid);
    expect(virsh('pool-info', pool)).toMatch(/State:\s+running/);
    expect(virsh('net-info', publicNetwork.name)).toMatch(/Active:\s+yes/);

    const again = await bootstrapLibvirt(host, {
      dataDir: data,
      pool: { name: pool },
      network: publicNetwork,
    });
    expect(again).toEqual(first);
  });

  it('says which directory keeps QEMU out', async () => {
    const closed = join(dir, 'closed');
    mkdirSync(join(closed, 'inner'), { recursive: true });
    chmodSync(closed, 0o700);
    await expect(checkReachable(join(closed, 'inner'), { uid: 64055, gid: 64055 })).rejects.toThrow(
      `QEMU (uid 64055) cannot enter ${closed} (mode 700)`,
    );
    await checkReachable(dir, { uid: 64055, gid: 64055 });
  });
});
