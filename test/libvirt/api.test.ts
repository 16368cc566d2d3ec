/**
 * `--driver libvirt` through the API, against the real libvirtd: a drive holding the tiny
 * guest's image, a server started from it (its console marker with its own name from the
 * context, its runtime counters and DHCP address), VNC against QEMU's own screen, an ACPI
 * shutdown, a hard stop, a QEMU killed from outside, a restart of sigmalite with the guest
 * running (re-adopted, `active_since` kept), and a start libvirt refuses. One guest at a time,
 * 256 MiB (CloudSigma's minimum), TCG.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import {
  describeLibvirt,
  reachableTempDir,
  removeTinyGuest,
  requireLibvirt,
  restartLibvirtd,
  tinyGuest,
  tinyGuestLibrary,
  uniqueName,
  virsh,
  virshQuietly,
} from '../support/libvirt.js';
import { rfbAuthenticate } from '../support/rfb-client.js';

const BOOT_MS = 150_000;
/** The library drive whose image is the tiny guest's ISO (the catalog's `image`). */
const LIBRARY_DRIVE = randomUUID();
const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;

/** A console tunnel (docs/console.md): the password line, then the guest's console. */
class ConsoleClient {
  private text = '';
  private readonly socket: Socket;
  private waiters: (() => void)[] = [];

  constructor(url: string, password: string) {
    const { hostname, port } = new URL(url.replace(/^csconsole:/, 'http:'));
    this.socket = connect({ host: hostname, port: Number(port) });
    this.socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      for (const waiter of this.waiters) waiter();
    });
    this.socket.on('error', () => {});
    this.socket.write(`${password}\n`);
  }

  /** The first line matching `pattern` (whole output so far and later). */
  async line(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines().find((line) => pattern.test(line));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no console line matching ${pattern}; saw:\n${this.text.slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  /** How many lines so far match `pattern`. */
  count(pattern: RegExp): number {
    return this.lines().filter((line) => pattern.test(line)).length;
  }

  /** The lines received whole: a line still arriving (`...10.113.1.1` of `...10.113.1.105`) waits. */
  private lines(): string[] {
    return this.text.split(/\r?\n/).slice(0, -1);
  }

  type(text: string): void {
    this.socket.write(text);
  }

  close(): void {
    this.socket.destroy();
  }
}

describeLibvirt('--driver libvirt through the API', () => {
  let dir: string;
  let test: TestApp;
  let config: Partial<Config>;
  let pool: string;
  let network: string;
  const servers: string[] = [];
  const policies: string[] = [];

  const alice = (): Client => test.alice;

  async function waitFor<T>(
    what: string,
    read: () => Promise<T>,
    done: (value: T) => boolean,
    timeoutMs = 60_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let value = await read();
    while (!done(value)) {
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      value = await read();
    }
    return value;
  }

  const server = async (uuid: string) => (await alice().get(`/servers/${uuid}/`)).json;
  const status = async (uuid: string, wanted: string, timeoutMs?: number) =>
    waitFor(
      `server ${uuid} ${wanted}`,
      () => server(uuid),
      (s) => s.status === wanted,
      timeoutMs,
    );
  /** `running`, or the error of the start's job when it ended `stopped`. */
  const running = async (uuid: string) => {
    const after = await waitFor(
      `server ${uuid} started`,
      () => server(uuid),
      (s) => s.status === 'running' || s.status === 'stopped',
      30_000,
    );
    if (after.status !== 'running') {
      const job = (await alice().get(`/jobs/${after.jobs.at(-1)?.uuid}/`)).json;
      throw new Error(`the start failed: ${JSON.stringify(job)}`);
    }
    return after;
  };
  const action = async (uuid: string, name: string) => {
    const res = await alice().post(`/servers/${uuid}/action/?do=${name}`, {});
    expect(res.status, res.text).toBeLessThan(300);
    return res.json;
  };

  async function start(): Promise<void> {
    test = await startTestApp({ ...config, settle: false });
  }

  const basic = () =>
    `Basic ${Buffer.from(`${test.alice.user!.email}:${test.alice.user!.password}`).toString('base64')}`;

  /** The tiny guest's ISO through the raw upload (`POST /drives/upload/NAME`): the drive's uuid. */
  async function guestDrive(): Promise<string> {
    const image = readFileSync(tinyGuest().iso);
    const res = await fetch(`${test.alice.origin}/api/2.0/drives/upload/tiny-guest`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/octet-stream' },
      body: image,
    });
    const uuid = await res.text();
    expect(res.status, uuid).toBe(200);
    const drive = (await alice().get(`/drives/${uuid}/`)).json;
    // An ISO makes a cdrom; the bytes are in the drive's own volume (an ISO to libvirt, raw
    // bytes to the guest).
    expect(drive).toMatchObject({ status: 'unmounted', media: 'cdrom' });
    expect(virsh('vol-dumpxml', '--pool', pool, uuid)).toContain("<format type='iso'/>");
    await expectDownload(uuid, image);
    return uuid;
  }

  /** The first `length` bytes of a volume, read with virsh. */
  function volumeHead(volume: string, length: number): Buffer {
    const file = join(dir, `head-${volume}`);
    virsh('vol-download', '--pool', pool, volume, file, '--length', String(length));
    const bytes = readFileSync(file);
    rmSync(file);
    return bytes;
  }

  /** `GET /drives/UUID/download/` gives `image` back, byte for byte. */
  async function expectDownload(uuid: string, image: Buffer): Promise<void> {
    const res = await fetch(`${test.alice.origin}/api/2.0/drives/${uuid}/download/`, {
      headers: { authorization: basic() },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(image.length));
    const back = Buffer.from(await res.arrayBuffer());
    expect(back.length).toBe(image.length);
    expect(back.equals(image), 'download equal to upload').toBe(true);
  }

  /**
   * `image` through the resumable protocol (pycloudsigma's `Upload`, its one bug fixed): the
   * chunks last first, then the drive's uuid.
   */
  async function resumableUpload(image: Buffer, chunkSize: number): Promise<string> {
    const made = await alice().post('/initupload/', {
      objects: [{ name: 'resumed', media: 'disk', size: image.length }],
    });
    expect(made.status, made.text).toBe(201);
    const uuid: string = made.json.objects[0].uuid;
    const count = Math.max(1, Math.floor(image.length / chunkSize));
    for (let number = count; number >= 1; number--) {
      const fields = {
        resumableChunkNumber: String(number),
        resumableChunkSize: String(chunkSize),
        resumableTotalSize: String(image.length),
        resumableIdentifier: 'image.raw',
        resumableFilename: 'image.raw',
      };
      const asked = await alice().get(`/drives/${uuid}/upload/?${new URLSearchParams(fields)}`);
      expect(asked.status).toBe(404);
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      const end = number < count ? number * chunkSize : image.length;
      form.append('file', new Blob([image.subarray((number - 1) * chunkSize, end)]), 'file');
      const sent = await fetch(`${test.alice.origin}/api/2.0/drives/${uuid}/upload/`, {
        method: 'POST',
        headers: { authorization: basic() },
        body: form,
      });
      expect(sent.status, await sent.text()).toBe(200);
    }
    return uuid;
  }

  async function guestServer(
    drive: string,
    name: string,
    firewallPolicy: string | null = null,
  ): Promise<string> {
    const res = await alice().post('/servers/', {
      name,
      // More than a core of this host: no CPU quota slows the emulated boot down.
      cpu: 2893,
      mem: 256 * 1024 * 1024,
      vnc_password: 'guest-vnc-pass',
      drives: [{ drive, device: 'ide', dev_channel: '0:0', boot_order: 1 }],
      nics: [
        {
          ip_v4_conf: { conf: 'dhcp', ip: null },
          model: 'virtio',
          firewall_policy: firewallPolicy,
        },
      ],
    });
    expect(res.status, res.text).toBe(201);
    const uuid: string = res.json.objects[0].uuid;
    servers.push(uuid);
    return uuid;
  }

  async function openConsole(uuid: string): Promise<ConsoleClient> {
    const { console_url } = await action(uuid, 'open_console');
    return new ConsoleClient(console_url, 'guest-vnc-pass');
  }

  beforeAll(async () => {
    requireLibvirt();
    tinyGuest();
    dir = reachableTempDir('sigmalite-api-test-');
    pool = uniqueName('sl-test-pool-');
    network = uniqueName('sl-test-pub-');
    const library = tinyGuestLibrary(dir, LIBRARY_DRIVE);
    config = {
      driver: 'libvirt',
      memory: false,
      data: dir,
      libvirtPool: pool,
      libvirtNetwork: network,
      libvirtBridge: uniqueName('slt'),
      libvirtNat: false,
      libvirtAccelerator: 'tcg',
      dynamicPool: `${subnet}.0/24`,
      reconcileInterval: 2,
      acpiTimeout: 8,
      library,
    };
    await start();
  }, 120_000);

  afterAll(async () => {
    for (const uuid of servers) {
      virshQuietly('destroy', uuid);
      virshQuietly('undefine', uuid);
    }
    await test?.close();
    for (const policy of policies) virshQuietly('nwfilter-undefine', `sigmalite-fw-${policy}`);
    if (pool) {
      for (const line of virsh('vol-list', pool).split('\n')) {
        const name = line.trim().split(/\s+/)[0];
        if (name) virshQuietly('vol-delete', '--pool', pool, name);
      }
      virshQuietly('pool-destroy', pool);
      virshQuietly('pool-undefine', pool);
    }
    if (network) {
      virshQuietly('net-destroy', network);
      virshQuietly('net-undefine', network);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    removeTinyGuest();
  }, 60_000);

  it('boots a server from a drive: console, context, counters, VNC, restart of sigmalite', async () => {
    const drive = await guestDrive();
    // A policy that lets everything in, for now.
    const made = await alice().post('/fwpolicies/', { objects: [{ name: 'guest', rules: [] }] });
    expect(made.status, made.text).toBe(201);
    const policy: string = made.json.objects[0].uuid;
    policies.push(policy);
    const uuid = await guestServer(drive, 'api-guest-one', policy);
    const t0 = Date.now();
    await action(uuid, 'start');
    const started = await running(uuid);
    expect(started.runtime.active_since).toEqual(expect.any(String));
    expect(virsh('domstate', uuid).trim()).toBe('running');

    const serial = await openConsole(uuid);
    await serial.line(/TINY-GUEST BOOT/, BOOT_MS);
    // Its own name, read from the context port sigmalite serves.
    await serial.line(/TINY-GUEST NAME api-guest-one$/, 30_000);
    const dhcp = await serial.line(/TINY-GUEST DHCP \S+ \d+\.\d+\.\d+\.\d+/, 30_000);
    await serial.line(/TINY-GUEST READY/, 30_000);
    serial.close();
    const bootMs = Date.now() - t0;

    // The address the guest leased is the one sigmalite reserved for its NIC.
    const leased = await server(uuid);
    expect(/DHCP \S+ ([\d.]+)/.exec(dhcp)?.[1], dhcp).toBe(leased.nics[0].runtime.ip_v4.uuid);
    // Counters follow the host's (reconciled every 2 s): the guest read its boot image.
    const counted = await waitFor(
      'drive counters',
      () => server(uuid),
      (s) => s.drives[0].runtime.io.bytes_read > 0 && s.nics[0].runtime.io.packets_sent > 0,
      20_000,
    );
    expect(counted.drives[0].runtime.io.count_read).toBeGreaterThan(0);

    // VNC: QEMU's own server behind the tunnel, its password the first 8 characters.
    const { vnc_url } = await action(uuid, 'open_vnc');
    const vnc = new URL(vnc_url.replace(/^vnc:/, 'http:'));
    const where = { host: vnc.hostname, port: Number(vnc.port) };
    const right = await rfbAuthenticate(where, 'guest-vn');
    expect(right.securityResult).toBe(0);
    expect(right.width).toBeGreaterThan(0);
    expect((await rfbAuthenticate(where, 'wrong-pw')).securityResult).toBe(1);
    await action(uuid, 'close_vnc');

    // The NIC's policy is enforced, and new rules reach the running NIC (PUT /fwpolicies/).
    const ip: string = leased.nics[0].runtime.ip_v4.uuid;
    expect(await httpGet(ip, 8023)).toContain('tiny-guest api-guest-one');
    const changed = await alice().put(`/fwpolicies/${policy}/`, {
      rules: [{ action: 'drop', direction: 'in', ip_proto: 'tcp', dst_port: '8023' }],
    });
    expect(changed.status, changed.text).toBe(200);
    await waitFor(
      'port 8023 blocked',
      () => httpGet(ip, 8023),
      (body) => body === 'blocked',
      30_000,
    );
    expect(await httpGet(ip, 8022)).toContain('tiny-guest api-guest-one');

    // sigmalite restarts; the guest runs on and is re-adopted.
    const since = counted.runtime.active_since;
    await test.close();
    expect(virsh('domstate', uuid).trim()).toBe('running');
    await start();
    const adopted = await server(uuid);
    expect(adopted.status).toBe('running');
    expect(adopted.runtime.active_since).toBe(since);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // a reconcile or two
    expect((await server(uuid)).status).toBe('running');
    // The console works again: QEMU reconnected to the same port.
    const again = await openConsole(uuid);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    again.type('echo SUM-$((40+2))\n');
    await again.line(/^SUM-42/, 20_000);
    again.close();

    // libvirtd restarts (by its pid, as scripts/libvirt-up.sh starts it): the guest runs on,
    // its server stays running with the same active_since, and its console still answers.
    await restartLibvirtd();
    expect(virsh('domstate', uuid).trim()).toBe('running');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // a reconcile or two
    const kept = await server(uuid);
    expect(kept.status).toBe('running');
    expect(kept.runtime.active_since).toBe(since);
    const still = await openConsole(uuid);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    still.type('echo SUM-$((40+3))\n');
    await still.line(/^SUM-43/, 20_000);
    still.close();

    // ACPI: the guest powers itself off.
    await action(uuid, 'shutdown');
    await status(uuid, 'stopped', 30_000);
    expect(virsh('domstate', uuid).trim()).toBe('shut off');
    console.info(`api.test: start to READY ${bootMs} ms`);
  }, 300_000);

  it('an ignored ACPI shutdown (running again after --acpi-timeout), a restart, a killed QEMU, a hard stop', async () => {
    const uuid = servers[0]!;
    // The tiny guest ignores the power button when its context's meta says so.
    const definition = await server(uuid);
    const put = await alice().put(`/servers/${uuid}/`, {
      ...definition,
      meta: { tiny_guest_acpi: 'ignore' },
    });
    expect(put.status, put.text).toBe(200);
    await action(uuid, 'start');
    await running(uuid);
    const serial = await openConsole(uuid);
    await serial.line(/TINY-GUEST READY/, BOOT_MS);
    const pressed = Date.now();
    await action(uuid, 'shutdown');
    expect((await server(uuid)).status).toBe('stopping');
    // Pressed every second, ignored every time; running again after the 8 s timeout.
    await status(uuid, 'running', 30_000);
    expect(Date.now() - pressed).toBeGreaterThanOrEqual(7_500);
    const ignored = serial.count(/TINY-GUEST POWER-BUTTON ignored/);
    expect(ignored, 'button presses the guest saw').toBeGreaterThanOrEqual(5);
    serial.close();
    expect(virsh('domstate', uuid).trim()).toBe('running');

    // A restart: the stop's event comes after the new start began, and must not close the new
    // run's console (the guest boots again and is heard).
    const firstPid = readFileSync(`/run/libvirt/qemu/${uuid}.pid`, 'utf8').trim();
    await action(uuid, 'restart');
    await waitFor(
      'restarted',
      () => server(uuid),
      (s) =>
        s.status === 'running' &&
        readFileSync(`/run/libvirt/qemu/${uuid}.pid`, 'utf8').trim() !== firstPid,
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the stop's late event
    const reborn = await openConsole(uuid);
    await reborn.line(/TINY-GUEST BOOT/, BOOT_MS);
    reborn.close();

    // QEMU killed from outside: the event makes the server stopped.
    const pid = Number(readFileSync(`/run/libvirt/qemu/${uuid}.pid`, 'utf8').trim());
    execFileSync('kill', ['-9', String(pid)]);
    await status(uuid, 'stopped', 20_000);

    // A hard stop (no need to wait for the boot).
    await action(uuid, 'start');
    await running(uuid);
    await action(uuid, 'stop');
    await status(uuid, 'stopped', 30_000);
    expect(virsh('domstate', uuid).trim()).toBe('shut off');
  }, 240_000);

  it('uploads: resumable into the volume and back; a qcow2 is a qcow2 volume', async () => {
    // The tiny guest's ISO in 1 MiB chunks, last first.
    const image = readFileSync(tinyGuest().iso);
    const drive = await resumableUpload(image, 1024 * 1024);
    expect((await alice().get(`/drives/${drive}/`)).json.status).toBe('unmounted');
    expect(
      Number(virsh('vol-info', '--pool', pool, drive, '--bytes').match(/Capacity:\s+(\d+)/)?.[1]),
    ).toBe(image.length);
    await expectDownload(drive, image);
    // A clone (of the smallest drive size) copies the volume: libvirt reads it as an ISO, so it
    // is copied as raw bytes, then grown.
    const cloned = await alice().post(`/drives/${drive}/action/?do=clone`, {
      name: 'copy',
      size: 512 * 1024 * 1024,
    });
    expect(cloned.status, cloned.text).toBe(202);
    const copy: string = cloned.json.objects[0].uuid;
    await waitFor(
      'clone',
      async () => (await alice().get(`/drives/${copy}/`)).json.status,
      (s) => s === 'unmounted',
      30_000,
    );
    expect(volumeHead(copy, image.length).equals(image), 'the copy holds the image').toBe(true);
    // A qcow2 image (raw upload): libvirt reads its format from the content, so guests get a qcow2.
    const qcow2Path = join(dir, 'small.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2Path, '64M']);
    const qcow2 = readFileSync(qcow2Path);
    const res = await fetch(`${test.alice.origin}/api/2.0/drives/upload/small`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/octet-stream' },
      body: qcow2,
    });
    const uuid = await res.text();
    expect(res.status, uuid).toBe(200);
    expect((await alice().get(`/drives/${uuid}/`)).json).toMatchObject({
      status: 'unmounted',
      size: 512 * 1024 * 1024, // at least the smallest drive, the image's 64 MiB
    });
    expect(virsh('vol-dumpxml', '--pool', pool, uuid)).toContain("<format type='qcow2'/>");
    await expectDownload(uuid, qcow2);
  }, 60_000);

  it("a library drive's image is its volume; a clone of it copies the image", async () => {
    const image = readFileSync(tinyGuest().iso);
    expect(volumeHead(LIBRARY_DRIVE, image.length).equals(image)).toBe(true);
    const cloned = await alice().post(`/libdrives/${LIBRARY_DRIVE}/action/?do=clone`, {
      name: 'from the library',
      size: 512 * 1024 * 1024,
    });
    expect(cloned.status, cloned.text).toBe(202);
    const copy: string = cloned.json.objects[0].uuid;
    await waitFor(
      'library clone',
      async () => (await alice().get(`/drives/${copy}/`)).json.status,
      (s) => s === 'unmounted',
      30_000,
    );
    expect(volumeHead(copy, image.length).equals(image), 'the clone holds the image').toBe(true);
    // The catalog's path is never shown.
    expect((await alice().get(`/libdrives/${LIBRARY_DRIVE}/`)).text).not.toContain('image"');
  }, 60_000);

  it('a second process with a store of its own is refused the same libvirt host', async () => {
    const other = reachableTempDir('sigmalite-api-test-other-');
    try {
      await expect(
        startTestApp({ ...config, data: other, library: undefined, settle: false }),
      ).rejects.toThrow(
        new RegExp(
          `already driven by another sigmalite process \\(pid ${process.pid}, --data ${dir}\\)`,
        ),
      );
      // It made nothing there: the first process's pool and network are as they were.
      expect(virsh('pool-info', pool)).toMatch(/State:\s+running/);
      expect((await alice().get('/servers/')).status).toBe(200);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);

  it('a start libvirt refuses ends stopped, with the error in its job and the audit log', async () => {
    const drive = await guestDrive();
    const uuid = await guestServer(drive, 'api-guest-broken');
    // The drive's image is gone from the host.
    virsh('vol-delete', '--pool', pool, drive);
    await action(uuid, 'start');
    const stopped = await status(uuid, 'stopped', 30_000);
    const job = (await alice().get(`/jobs/${stopped.jobs.at(-1).uuid ?? stopped.jobs.at(-1)}/`))
      .json;
    expect(job.state).toBe('error');
    expect(job.data.error).toMatch(/no image/);
    const logs = (await alice().get('/logs/?limit=0')).json.objects;
    const boot = logs.find(
      (entry: { action: string; target?: string; uuid?: string }) =>
        entry.action === 'boot' && JSON.stringify(entry).includes(uuid),
    );
    expect(JSON.stringify(boot)).toMatch(/no image/);
    expect(virsh('list', '--all', '--name')).not.toContain(uuid);
  }, 60_000);

  it('deleting a server undefines its domain; deleting its drives removes their volumes', async () => {
    const uuid = servers[0]!;
    expect(virsh('list', '--all', '--name')).toContain(uuid);
    const drive: string = (await server(uuid)).drives[0].drive.uuid;
    expect(virsh('vol-list', pool)).toContain(drive);
    const res = await alice().delete(`/servers/${uuid}/?recurse=all_drives`);
    expect(res.status, res.text).toBe(204);
    await waitFor(
      'domain undefined',
      async () => virsh('list', '--all', '--name'),
      (names) => !names.includes(uuid),
      20_000,
    );
    await waitFor(
      'volume removed',
      async () => virsh('vol-list', pool),
      (names) => !names.includes(drive),
      20_000,
    );
    // Its firewall policy, deleted, leaves no filter on the host.
    const policy = policies[0]!;
    expect(virsh('nwfilter-list')).toContain(`sigmalite-fw-${policy}`);
    expect((await alice().delete(`/fwpolicies/${policy}/`)).status).toBe(204);
    await waitFor(
      'filter removed',
      async () => virsh('nwfilter-list'),
      (names) => !names.includes(`sigmalite-fw-${policy}`),
      20_000,
    );
  }, 60_000);
});

/** GET / on the guest's port: its answer, or `blocked` when nothing comes within 5 s. */
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
