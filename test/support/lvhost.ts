/**
 * Independent libvirt hosts on this machine for tests (scripts/lvhost.sh): each its own libvirtd
 * in its own network and mount namespace, linked to a bridge of the root namespace so that its
 * guests' serial ports reach the test's sigmalite at the bridge's address. Needs root and
 * iproute2 (`ip netns`); `lvhostProblem()` says why they cannot be used here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'lvhost.sh');

/** Where the hosts keep their libvirt directories (outside anything a guest's files are in). */
const LVHOSTS = process.env.SIGMALITE_LVHOSTS ?? '/var/lib/sigmalite-lvhosts';

export interface LvNetwork {
  /** The bridge in the root namespace, and its address (what guests reach sigmalite at). */
  bridge: string;
  gateway: string;
  prefix: number;
}

/** Why namespaced hosts cannot run here, or undefined. */
export function lvhostProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'lvhost needs root';
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (ip.status !== 0) return `\`ip netns list\` failed: ${ip.error?.message ?? ip.stderr}`;
  for (const tool of ['unshare', 'nsenter', 'taskset', 'libvirtd', 'virtlogd']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  return undefined;
}

export class LvHost {
  readonly uri: string;

  private constructor(
    readonly name: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.uri = this.run('uri');
  }

  /**
   * Starts host `name` (made on its first start), linked to `link.network` at `link.address`
   * (the host part: `10.231.7.2`), or to nothing (hosts that only keep volumes); answers it with
   * its URI.
   */
  static start(name: string, link?: { network: LvNetwork; address: string }): LvHost {
    const env: NodeJS.ProcessEnv = { ...process.env, LVHOSTS };
    if (link) {
      env.LV_BRIDGE = link.network.bridge;
      env.LV_GATEWAY = `${link.network.gateway}/${link.network.prefix}`;
      env.LV_ADDRESS = `${link.address}/${link.network.prefix}`;
    }
    const host = new LvHost(name, env);
    host.run('start');
    return host;
  }

  private run(command: string): string {
    return execFileSync(SCRIPT, [command, this.name], {
      env: this.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    }).trim();
  }

  /** Starts it again (after `kill` or `stop`). */
  restart(): void {
    this.run('start');
  }

  /** The host crashes: everything in its namespace is killed (QEMU included). */
  kill(): void {
    this.run('kill');
  }

  /** Its libvirtd stops answering (SIGSTOP) until `resume`. */
  hang(): void {
    this.run('hang');
  }

  resume(): void {
    this.run('resume');
  }

  /** Runs virsh against it once (set-up, checks, clean-up). */
  virsh(...args: string[]): string {
    return execFileSync('virsh', ['-q', '-c', this.uri, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Like `virsh`, ignoring failure. */
  virshQuietly(...args: string[]): void {
    spawnSync('virsh', ['-q', '-c', this.uri, ...args], { stdio: 'ignore', timeout: 30_000 });
  }

  /** Kills it and removes its namespace, link and directories. */
  destroy(): void {
    this.run('destroy');
  }

  /** Removes the bridge (after every host on it is destroyed). */
  static removeBridge(network: LvNetwork): void {
    spawnSync(SCRIPT, ['unbridge'], {
      env: { ...process.env, LV_BRIDGE: network.bridge },
      stdio: 'ignore',
    });
  }
}
