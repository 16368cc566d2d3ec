/**
 * Test support for the libvirt driver's tests (test/libvirt/): whether the real libvirtd can be
 * used here, the tiny guest (built once per test process), directories QEMU can reach, names
 * no other test uses, and clean-up that removes what a test made.
 *
 * The tests skip, with a message, where libvirt is not set up, except with
 * `SIGMALITE_REQUIRE_LIBVIRT=1` (`.ci/run` sets it after `scripts/libvirt-up.sh`): there they
 * run and fail.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

export const LIBVIRT_URI = 'qemu:///system';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const required = process.env.SIGMALITE_REQUIRE_LIBVIRT === '1';

function status(): { available: boolean; reason: string } {
  const virsh = spawnSync('virsh', ['-q', '-c', LIBVIRT_URI, 'version'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (virsh.status !== 0) {
    return {
      available: false,
      reason: `\`virsh -c ${LIBVIRT_URI} version\` failed (${virsh.error?.message ?? virsh.stderr.trim()}): run scripts/libvirt-up.sh`,
    };
  }
  for (const tool of ['/bin/busybox', '/usr/bin/xorriso', '/usr/lib/ISOLINUX/isolinux.bin']) {
    if (!existsSync(tool))
      return { available: false, reason: `${tool} is missing: run scripts/libvirt-up.sh` };
  }
  return { available: true, reason: '' };
}

export const libvirt = status();
if (!libvirt.available && !required) {
  console.warn(`libvirt tests skipped: ${libvirt.reason}`);
}

/**
 * `describe` for tests that need the real libvirtd: skipped where it is missing, except when
 * required (then its `requireLibvirt()` in `beforeAll` fails the tests with the reason).
 */
export const describeLibvirt = (
  libvirt.available || required ? describe : describe.skip
) as typeof describe;

export function requireLibvirt(): void {
  if (!libvirt.available) throw new Error(`libvirt is required here: ${libvirt.reason}`);
}

/** A name no other test (or earlier run) uses: `prefix` and 8 hex digits. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** A new directory that QEMU's user may enter (mkdtemp makes 0700 ones). */
export function reachableTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  return dir;
}

export interface TinyGuest {
  dir: string;
  iso: string;
  kernel: string;
  initrd: string;
  /** The kernel command line the ISO boots with. */
  cmdline: string;
}

let guest: TinyGuest | undefined;

/**
 * Writes `dir/library.json`, a library of one drive `uuid` whose image is the tiny guest's ISO
 * (the catalog's `image`), and returns its path.
 */
export function tinyGuestLibrary(dir: string, uuid: string): string {
  const library = join(dir, 'library.json');
  const iso = tinyGuest().iso;
  const drive = { uuid, name: 'Tiny guest', media: 'cdrom', size: statSync(iso).size, image: iso };
  writeFileSync(library, JSON.stringify([drive]));
  return library;
}

/** The tiny guest (scripts/tiny-guest/), built once per test process; removed by `removeTinyGuest`. */
export function tinyGuest(): TinyGuest {
  if (guest) return guest;
  const dir = reachableTempDir('sigmalite-guest-');
  execFileSync(join(ROOT, 'scripts', 'tiny-guest', 'build.sh'), [dir], { stdio: 'pipe' });
  for (const file of ['tiny-guest.iso', 'vmlinuz', 'initrd.gz']) chmodSync(join(dir, file), 0o644);
  guest = {
    dir,
    iso: join(dir, 'tiny-guest.iso'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.gz'),
    cmdline: 'console=tty0 console=ttyS0,115200 quiet panic=5',
  };
  return guest;
}

export function removeTinyGuest(): void {
  if (guest) rmSync(guest.dir, { recursive: true, force: true });
  guest = undefined;
}

/** Runs virsh once (outside the code under test), for set-up, checks and clean-up. */
export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', LIBVIRT_URI, ...args], { encoding: 'utf8' });
}

/** Like `virsh`, ignoring failure (clean-up of what may not exist). */
export function virshQuietly(...args: string[]): void {
  spawnSync('virsh', ['-q', '-c', LIBVIRT_URI, ...args], { stdio: 'ignore' });
}

/** Destroys and undefines domains, ignoring those that do not exist. */
export function removeDomains(...names: string[]): void {
  for (const name of names) {
    virshQuietly('destroy', name);
    virshQuietly('undefine', name);
  }
}

/**
 * Test files run in parallel, and one of them restarts libvirtd (`restartLibvirtd`): the others
 * hold this lock shared from their `beforeAll` to the end of their `afterAll`, the restart holds
 * it alone. `flock -o`: the lock stays with flock, not with what its command starts (libvirtd,
 * daemonised, would otherwise keep it for ever).
 */
const LIBVIRTD_LOCK = join(tmpdir(), 'sigmalite-test-libvirtd.lock');

/** Holds the libvirtd lock shared (libvirtd is not restarted meanwhile); answers the release. */
export async function holdLibvirtd(): Promise<() => void> {
  // Held while this test process lives, should the release never come (a failed afterAll).
  const wait = `echo held; while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`;
  const holder = spawn('flock', ['-o', '-s', LIBVIRTD_LOCK, 'bash', '-c', wait], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`flock on ${LIBVIRTD_LOCK} ended (${code})`)));
  });
  holder.unref();
  return () => {
    try {
      process.kill(-holder.pid!, 'SIGKILL'); // flock, bash and sleep: the group's id
    } catch {
      // Gone already.
    }
  };
}

/**
 * Restarts libvirtd once no other test file uses it: ends it by the pid in its pidfile, waits
 * until it is gone (or a zombie: PID 1 here never reaps), and starts it as
 * `scripts/libvirt-up.sh` does. Asynchronous: the caller's sigmalite keeps running meanwhile.
 */
export async function restartLibvirtd(): Promise<void> {
  const script = [
    'pid=$(cat /run/libvirtd.pid)',
    'kill -TERM "$pid"',
    'for i in $(seq 1 300); do',
    '  state=$(sed -E "s/^[0-9]+ \\(.*\\) (.).*/\\1/" /proc/$pid/stat 2>/dev/null) || break',
    '  [ "$state" = Z ] && break',
    '  sleep 0.1',
    'done',
    `bash ${join(ROOT, 'scripts', 'libvirt-up.sh')}`,
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const restart = spawn('flock', ['-o', '-x', LIBVIRTD_LOCK, 'bash', '-c', script], {
      stdio: 'ignore',
    });
    restart.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`restarting libvirtd ended with ${code}`)),
    );
  });
}
