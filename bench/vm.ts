/**
 * `npm run bench:vm`: how much sigmalite adds to booting a real machine. The tiny guest
 * (scripts/tiny-guest/) boots, alternately:
 *   api    through sigmalite's API (`--driver libvirt`): from `POST /servers/{uuid}/action/?do=start`
 *          to its `TINY-GUEST BOOT` line read through the console tunnel (`open_console`);
 *   virsh  the same domain (sigmalite's own definition, sigmalite stopped) with `virsh start`,
 *          to the same line on a listener of the bench's own at the console port the XML names.
 * Several rounds (BENCH_VM_ROUNDS, default 3), medians; one guest at a time (256 MiB, TCG unless
 * BENCH_VM_ACCELERATOR says otherwise). Ends with `bench:vm: api=MS virsh=MS ratio=R`.
 * Needs libvirt (scripts/libvirt-up.sh) and root (qemu:///system).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type App, createApp } from '../src/app.js';
import { type Config, DEFAULTS } from '../src/config.js';
import { readDomain } from '../src/drivers/compute/libvirt/domain-read.js';
import { listenSerial, SerialConsole } from '../src/drivers/compute/libvirt/serial-endpoint.js';

const ROUNDS = Number(process.env.BENCH_VM_ROUNDS ?? 3);
const ACCELERATOR = process.env.BENCH_VM_ACCELERATOR ?? 'tcg';
const URI = 'qemu:///system';
const MARKER = 'TINY-GUEST BOOT';
const BOOT_TIMEOUT_MS = 180_000;
const USER = { email: 'bench@sigmalite.local', password: 'bench-password' };
const AUTH = `Basic ${Buffer.from(`${USER.email}:${USER.password}`).toString('base64')}`;
const root = new URL('..', import.meta.url).pathname;
const suffix = Math.random().toString(16).slice(2, 10);

const virsh = (...args: string[]) =>
  execFileSync('virsh', ['-q', '-c', URI, ...args], { encoding: 'utf8' });
/** Clean-up of what may not exist: failures are expected and say nothing. */
const quietly = (...args: string[]) => {
  try {
    execFileSync('virsh', ['-q', '-c', URI, ...args], { stdio: 'ignore' });
  } catch {}
};

function reachableDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  return dir;
}

const dir = reachableDir('sigmalite-bench-vm-');
const guestDir = join(dir, 'guest');
execFileSync('mkdir', ['-m', '0755', guestDir]);
execFileSync(join(root, 'scripts', 'tiny-guest', 'build.sh'), [guestDir], { stdio: 'pipe' });
const iso = join(guestDir, 'tiny-guest.iso');
chmodSync(iso, 0o644);

const config: Config = {
  ...DEFAULTS,
  driver: 'libvirt',
  data: join(dir, 'data'),
  port: 0,
  users: `${USER.email}:${USER.password}`,
  libvirtPool: `sl-bench-pool-${suffix}`,
  libvirtNetwork: `sl-bench-net-${suffix}`,
  libvirtBridge: `slb${suffix.slice(0, 8)}`,
  libvirtNat: false,
  libvirtAccelerator: ACCELERATOR,
  dynamicPool: `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}.0/24`,
  logLevel: 'warn',
};

async function api(app: App, method: string, path: string, body?: unknown) {
  const response = await fetch(new URL(path, app.url), {
    method,
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  // biome-ignore lint/suspicious/noExplicitAny: the bench reads a few known fields of answers.
  return JSON.parse(text) as any;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves when a line containing `MARKER` arrives on the console tunnel `url`. */
function markerThrough(url: string, password: string): Promise<void> {
  const { hostname, port } = new URL(url.replace(/^csconsole:/, 'http:'));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no marker through the console tunnel'));
    }, BOOT_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes(MARKER)) {
        clearTimeout(timer);
        socket.destroy();
        resolve();
      }
    });
    socket.on('error', reject);
    socket.write(`${password}\n`);
  });
}

/** Progress on stderr (the result line is stdout's). */
const step = (text: string) => process.stderr.write(`bench:vm: ${text}\n`);

const openApp = () => createApp(config, { logger: pino({ level: 'warn' }) });

/** One start through the API, to the marker; the server is stopped again after. */
async function viaApi(server: string): Promise<number> {
  const app = await openApp();
  try {
    step('api: start');
    const started = performance.now();
    await api(app, 'POST', `servers/${server}/action/?do=start`, {});
    await until(
      () => api(app, 'GET', `servers/${server}/`),
      (s) => s.status === 'running',
    );
    const { console_url } = await api(app, 'POST', `servers/${server}/action/?do=open_console`, {});
    await markerThrough(console_url, 'bench-vnc-pass');
    const ms = performance.now() - started;
    step('api: marker; stopping');
    await api(app, 'POST', `servers/${server}/action/?do=stop`, {});
    await until(
      () => api(app, 'GET', `servers/${server}/`),
      (s) => s.status === 'stopped',
    );
    step('api: stopped');
    return ms;
  } finally {
    await app.close();
  }
}

/** The same domain started by `virsh start`, its console on the bench's own listener. */
async function viaVirsh(server: string): Promise<number> {
  const described = readDomain(virsh('dumpxml', '--inactive', server));
  const port = described.serials.find((s) => s.port === 0)?.service;
  if (!port) throw new Error('the domain has no console port');
  const console = new SerialConsole();
  const endpoint = await listenSerial({
    host: '127.0.0.1',
    port,
    onConnection: (socket) => console.attach(socket),
  });
  try {
    step('virsh: start');
    const started = performance.now();
    virsh('start', server);
    await console.waitForLine(MARKER, BOOT_TIMEOUT_MS);
    return performance.now() - started;
  } finally {
    quietly('destroy', server);
    await endpoint.close();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

// app.close() may wait on what holds no reference of the event loop (fetch's idle keep-alive
// sockets, an unref'd grace timer): without one of its own, Node would exit mid-close (code 13).
const keepAlive = setInterval(() => {}, 60_000);
let server: string | undefined;
try {
  // Set-up: the drive (its image the ISO, as an upload would put it) and the server.
  step('set-up');
  const app = await openApp();
  try {
    step('set-up: app up');
    const size = statSync(iso).size;
    const drive = (
      await api(app, 'POST', 'drives/', { name: 'tiny', media: 'cdrom', size: 536870912 })
    ).objects[0].uuid;
    await until(
      () => api(app, 'GET', `drives/${drive}/`),
      (d) => d.status === 'unmounted',
    );
    step('set-up: drive made');
    virsh('vol-delete', '--pool', config.libvirtPool, drive);
    virsh('vol-create-as', config.libvirtPool, drive, String(size), '--format', 'raw');
    virsh('vol-upload', '--pool', config.libvirtPool, drive, iso);
    server = (
      await api(app, 'POST', 'servers/', {
        name: 'bench-vm',
        cpu: 2893,
        mem: 268435456,
        vnc_password: 'bench-vnc-pass',
        drives: [{ drive, device: 'ide', dev_channel: '0:0', boot_order: 1 }],
        nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
      })
    ).objects[0].uuid as string;
  } catch (error) {
    step(`set-up failed: ${(error as Error).stack}`);
    throw error;
  } finally {
    await app.close();
  }
  const apiMs: number[] = [];
  const virshMs: number[] = [];
  // The first API start defines the domain; the virsh rounds start that definition.
  for (let round = 0; round < ROUNDS; round++) {
    apiMs.push(await viaApi(server));
    virshMs.push(await viaVirsh(server));
    console.log(
      `round ${round + 1}: api ${apiMs.at(-1)!.toFixed(0)} ms, virsh ${virshMs.at(-1)!.toFixed(0)} ms`,
    );
  }
  const a = median(apiMs);
  const v = median(virshMs);
  console.log(`bench:vm: api=${a.toFixed(0)} virsh=${v.toFixed(0)} ratio=${(a / v).toFixed(2)}`);
} finally {
  if (server) {
    quietly('destroy', server);
    quietly('undefine', server);
  }
  try {
    for (const line of virsh('vol-list', config.libvirtPool).split('\n')) {
      const name = line.trim().split(/\s+/)[0];
      if (name) quietly('vol-delete', '--pool', config.libvirtPool, name);
    }
  } catch {}
  quietly('pool-destroy', config.libvirtPool);
  quietly('pool-undefine', config.libvirtPool);
  quietly('net-destroy', config.libvirtNetwork);
  quietly('net-undefine', config.libvirtNetwork);
  rmSync(dir, { recursive: true, force: true });
  clearInterval(keepAlive);
}
