/**
 * The interactive virsh and the event stream against real virsh processes: libvirt's own test
 * driver (`test:///default`, in virsh's process), a socket that accepts and never answers (a hung
 * daemon), and the real libvirtd for events. Also the KVM probe.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type DomainEvent,
  DomainEventStream,
  EVENT_PROBE_PREFIX,
} from '../../src/drivers/compute/libvirt/events.js';
import { LibvirtHost } from '../../src/drivers/compute/libvirt/host.js';
import { probeAccelerator } from '../../src/drivers/compute/libvirt/probe.js';
import {
  isNotFound,
  VirshError,
  VirshTimeoutError,
} from '../../src/drivers/compute/libvirt/virsh-command.js';
import { VirshShell } from '../../src/drivers/compute/libvirt/virsh-shell.js';
import { buildXml } from '../../src/drivers/compute/libvirt/xml.js';
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
  virsh,
} from '../support/libvirt.js';

/** Whether a process of that id runs (a zombie does not: PID 1 here may never reap it). */
function alive(pid: number): boolean {
  const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
  return stat !== '' && !/^\d+ \(.*\) [ZX]/.test(stat);
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A throwaway domain definition that never runs. */
function domainXmlNamed(name: string): string {
  return buildXml({
    domain: {
      '@type': 'qemu',
      name,
      memory: { '@unit': 'MiB', '#text': 16 },
      os: { type: { '@arch': 'x86_64', '#text': 'hvm' } },
    },
  });
}

describeLibvirt('the interactive virsh', () => {
  let shell: VirshShell;
  let hung: Server;
  let dir: string;
  const held: Socket[] = [];

  beforeAll(async () => {
    requireLibvirt();
    shell = new VirshShell({ uri: 'test:///default', keepalive: null });
    dir = reachableTempDir('sigmalite-virsh-test-');
    // A "daemon" that takes the connection and says nothing.
    hung = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hung.listen(join(dir, 'hung.sock'), resolve));
  });

  afterAll(async () => {
    await shell?.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => hung?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers each command with its own output, in order, without virsh echoes', async () => {
    const [uri, list, echoed] = await Promise.all([
      shell.run(['uri']),
      shell.run(['list', '--all']),
      shell.run(['echo', "it's", 'a b; quit', '#not a comment']),
    ]);
    expect(uri).toBe('test:///default\n');
    expect(list).toMatch(/^ 1 +test +running\n/);
    expect(echoed).toBe("it's a b; quit #not a comment");
    expect(shell.pid).toBeGreaterThan(0);
  });

  it('fails a command with virsh error lines, and goes on', async () => {
    const failure = await shell.run(['domstate', 'nosuch']).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VirshError);
    expect((failure as VirshError).message).toBe("failed to get domain 'nosuch'");
    expect((failure as VirshError).command).toBe("domstate 'nosuch'");
    expect(isNotFound(failure)).toBe(true);
    expect(await shell.run(['domstate', 'test'])).toBe('running\n');
  });

  it('passes XML through a file of its own, removed afterwards', async () => {
    let path = '';
    const out = await shell.runWithFile(domainXmlNamed('from-file'), (p) => {
      path = p;
      return ['define', p];
    });
    expect(out).toBe(''); // quiet (-q): no "Domain defined" chatter
    expect(spawnSync('test', ['-e', path]).status).toBe(1);
    expect(await shell.run(['domstate', 'from-file'])).toBe('shut off\n');
  });

  it('replaces a process that died', async () => {
    await shell.run(['uri']);
    const before = shell.pid!;
    process.kill(before, 'SIGKILL');
    await until(() => shell.pid === undefined);
    expect(await shell.run(['uri'])).toBe('test:///default\n');
    expect(shell.pid).not.toBe(before);
  });

  it('kills a virsh that does not answer in time, and starts a new one for the next command', async () => {
    const stuck = new VirshShell({
      uri: `qemu+unix:///system?socket=${join(dir, 'hung.sock')}`,
      timeoutMs: 1500,
      keepalive: { intervalS: 60, count: 3 },
    });
    try {
      const first = stuck.run(['list']);
      await until(() => stuck.pid !== undefined);
      const pid = stuck.pid!;
      await expect(first).rejects.toBeInstanceOf(VirshTimeoutError);
      await until(() => !alive(pid));
      // A command under way fails when its process dies.
      const second = stuck.run(['list']);
      await until(() => stuck.pid !== undefined && stuck.pid !== pid);
      process.kill(stuck.pid!, 'SIGKILL');
      await expect(second).rejects.toThrow(/virsh exited \(SIGKILL\)/);
      // The next command runs in a new process; with the "daemon" gone it fails at once.
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
      const third = await stuck.run(['list']).catch((error: unknown) => error);
      expect(third).toBeInstanceOf(VirshError);
      expect(third).not.toBeInstanceOf(VirshTimeoutError);
    } finally {
      await stuck.close();
    }
  });

  it('fails what is queued when closed, and ends its process', async () => {
    const own = new VirshShell({ uri: 'test:///default', keepalive: null });
    await own.run(['uri']);
    const pid = own.pid!;
    const queued = own.run(['uri']).catch((error: unknown) => error);
    await own.close();
    expect(await queued).toEqual(new VirshError('the virsh shell is closed'));
    await expect(own.run(['uri'])).rejects.toThrow(/closed/);
    await until(() => !alive(pid));
  });
});

describeLibvirt('the event stream of the real libvirtd', () => {
  const events: DomainEvent[] = [];
  let connects = 0;
  const disconnects: string[] = [];
  let host: LibvirtHost;
  const names = [uniqueName('sl-test-ev-'), uniqueName('sl-test-ev-')];
  const staleProbe = uniqueName(EVENT_PROBE_PREFIX);

  let release: (() => void) | undefined;

  beforeAll(async () => {
    requireLibvirt();
    // libvirtd is not restarted (api.test.ts) while this file uses it.
    release = await holdLibvirtd();
    // A probe a killed process left defined (it died between its define and its undefine).
    const file = join(tmpdir(), `${staleProbe}.xml`);
    writeFileSync(file, domainXmlNamed(staleProbe));
    virsh('define', file);
    rmSync(file);
    host = new LibvirtHost({
      uri: LIBVIRT_URI,
      eventBackoff: { initialMs: 100, maxMs: 1000 },
      onEvent: (event) => events.push(event),
      onConnected: () => connects++,
      onDisconnected: (reason) => disconnects.push(reason),
    }).open();
    await until(() => host.events.connected);
  });

  afterAll(async () => {
    removeDomains(...names, staleProbe);
    await host?.close();
    release?.();
  });

  it('undefines the probes a killed process left, once connected', async () => {
    await until(() => !virsh('list', '--all', '--name').split('\n').includes(staleProbe));
  });

  it('reports lifecycle events, typed, and none of its own probes', async () => {
    await host.define(domainXmlNamed(names[0]!));
    // The host's own reads, on a domain that never ran.
    expect(await host.list()).toContainEqual({ id: null, name: names[0], state: 'shut off' });
    expect(await host.describe(names[0]!)).toMatchObject({
      name: names[0],
      type: 'qemu',
      disks: [],
    });
    expect((await host.nodeInfo()).mhz).toBeGreaterThan(0);
    await host.undefine(names[0]!);
    await host.undefine(names[0]!); // gone already: no error
    await until(() => events.filter((e) => e.domain === names[0]).length === 2);
    expect(events.filter((e) => e.domain === names[0])).toEqual([
      expect.objectContaining({ kind: 'lifecycle', event: 'Defined', detail: 'Added' }),
      expect.objectContaining({ kind: 'lifecycle', event: 'Undefined', detail: 'Removed' }),
    ]);
    expect(events.some((e) => e.domain.startsWith('sigmalite-event-probe-'))).toBe(false);
    expect(connects).toBe(1);
  });

  it('reports a lost stream once, and connects again with events flowing', async () => {
    const pid = host.events.pid!;
    process.kill(pid, 'SIGKILL');
    await until(() => disconnects.length === 1 && connects === 2);
    expect(host.events.pid).not.toBe(pid);
    await host.define(domainXmlNamed(names[1]!));
    await until(() => events.some((e) => e.domain === names[1]));
    expect(disconnects).toHaveLength(1);
  });

  it('keeps trying a host it cannot reach, never reporting it connected, until stopped', async () => {
    let connected = false;
    const stream = new DomainEventStream({
      uri: 'qemu+unix:///system?socket=/nonexistent/libvirt-sock',
      backoff: { initialMs: 50, maxMs: 200 },
      confirm: async () => {},
      onEvent: () => {},
      onConnected: () => {
        connected = true;
      },
      onDisconnected: () => {},
    });
    const pids = new Set<number>();
    stream.start();
    await until(() => {
      if (stream.pid) pids.add(stream.pid);
      return pids.size >= 3;
    });
    await stream.stop();
    expect(connected).toBe(false);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('probes KVM by booting a guest under it, and falls back to TCG with a warning', async () => {
    const guest = tinyGuest();
    try {
      const { domainTypes } = await host.capabilities();
      const result = await probeAccelerator(host, {
        guest: {
          kernel: guest.kernel,
          initrd: guest.initrd,
          cmdline: guest.cmdline,
          marker: 'TINY-GUEST BOOT',
        },
        listenHost: '127.0.0.1',
        timeoutMs: 15_000,
      });
      if (result.accelerator === 'tcg') {
        expect(result.warning).toMatch(
          domainTypes.includes('kvm') ? /did not boot under it/ : /no KVM/,
        );
      } else {
        expect(result.warning).toBeNull();
      }
      // The throwaway domain is gone either way.
      expect(virsh('list', '--all', '--name')).not.toContain('sigmalite-kvm-probe-');
    } finally {
      removeTinyGuest();
    }
  }, 60_000);
});
