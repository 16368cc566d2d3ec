/**
 * A real client drives the lifecycle: Apache libcloud's CloudSigma 2.0 driver (Debian's
 * python3-libcloud, run by /usr/bin/python3) against the built server over HTTPS, with a test CA
 * made here and trusted by the script (verification on). `libcloud.py` makes a drive, a node from
 * it (libcloud clones and grows the drive, creates the server, starts it), then starts it again
 * (403), opens and closes VNC, reboots, stops, clones and destroys, printing one JSON line a step;
 * `libcloud.py extended` goes through the rest of the driver's calls (sizes, images, billing,
 * subscriptions, key pairs, drives, tags, firewall policies, a node waited for until it has a
 * public IP, edits, attachments).
 *
 * Skipped, with a message, when python3-libcloud is missing, except in CI (`CI` or
 * `SIGMALITE_REQUIRE_CLIENTS` set; `.ci/run` installs it and sets the latter): there it must run.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  killLeftovers,
  type ServerProcess,
  startServe,
  stopProcess,
} from '../robustness/server-process.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'libcloud.py');
const USER = { email: 'libcloud@example.com', password: 'libcloud-secret' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const required = Boolean(process.env.CI || process.env.SIGMALITE_REQUIRE_CLIENTS);
const probe = spawnSync(PYTHON, ['-c', 'import libcloud'], { cwd: tmpdir(), encoding: 'utf8' });
const available = probe.status === 0;
if (!available && !required) {
  console.warn(
    `libcloud client test skipped: \`${PYTHON} -c 'import libcloud'\` failed (${
      probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)
    }); install it with \`apt-get install python3-libcloud\``,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: the script's JSON lines are read freely.
type Step = Record<string, any> & { step: string };

const run = promisify(execFile);

let dir: string;
let server: ServerProcess;

/** A CA, a certificate for localhost and 127.0.0.1 signed by it, and a CA that signed nothing. */
async function makeCertificates(into: string): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: into });
  for (const name of ['ca', 'stranger']) {
    await openssl(
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'],
      ...['-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=sigmalite test ${name}`],
      ...['-addext', 'basicConstraints=critical,CA:TRUE'],
      ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    );
  }
  await openssl(
    ...['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr'],
    ...['-subj', '/CN=localhost'],
  );
  writeFileSync(
    join(into, 'server.ext'),
    [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
    ].join('\n'),
  );
  await openssl(
    ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-days', '2', '-out', 'server.pem', '-extfile', 'server.ext'],
  );
}

/** Runs the script with the test CA (or another); resolves with its exit code and output. */
async function runScript(
  ca: string,
  workflow: 'basic' | 'extended' = 'basic',
): Promise<{ code: number; steps: Step[]; stderr: string }> {
  try {
    const { stdout, stderr } = await run(PYTHON, [SCRIPT, workflow], {
      cwd: dir,
      timeout: 120_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SIGMALITE_URL: server.origin,
        SIGMALITE_EMAIL: USER.email,
        SIGMALITE_PASSWORD: USER.password,
        SIGMALITE_CA: ca,
      },
    });
    return { code: 0, steps: parseSteps(stdout), stderr };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      steps: parseSteps(failed.stdout ?? ''),
      stderr: failed.stderr ?? String(e),
    };
  }
}

function parseSteps(stdout: string): Step[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Step);
}

describe.skipIf(!available && !required)('Apache libcloud (CloudSigma 2.0 driver)', () => {
  beforeAll(async () => {
    if (!available) {
      throw new Error(
        `${PYTHON} -c 'import libcloud' failed in CI: .ci/run installs python3-libcloud\n${probe.stderr}`,
      );
    }
    dir = mkdtempSync(join(tmpdir(), 'sigmalite-libcloud-'));
    await makeCertificates(dir);
    server = await startServe(
      [
        ...['--port', '0', '--memory', '--transitions', 'fast'],
        ...['--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key')],
      ],
      { SIGMALITE_USERS: `${USER.email}:${USER.password}` },
    );
  }, 180_000);

  afterAll(async () => {
    if (server) expect(await stopProcess(server, 'SIGTERM')).toBe(0);
    await killLeftovers();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('serves HTTPS only with a certificate the client must verify', async () => {
    expect(server.origin).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // With a CA that did not sign sigmalite's certificate, libcloud refuses to talk.
    const { code, steps, stderr } = await runScript(join(dir, 'stranger.pem'));
    expect(code).toBe(1);
    expect(steps.map((s) => s.step)).toEqual(['driver']);
    expect(stderr).toMatch(/CERTIFICATE_VERIFY_FAILED/);
  }, 60_000);

  it('creates a node from an own drive, starts, stops and destroys it', async () => {
    const { code, steps, stderr } = await runScript(join(dir, 'ca.pem'));
    expect(code, stderr).toBe(0);
    const step = (name: string): Step => {
      const found = steps.find((s) => s.step === name);
      if (!found) throw new Error(`no step "${name}" in:\n${JSON.stringify(steps, null, 1)}`);
      return found;
    };
    expect(steps.map((s) => s.step)).toEqual([
      'driver',
      'drive created',
      'drive ready',
      'node created',
      'node running',
      'source drive',
      'start again',
      'availability groups',
      'vnc',
      'reboot',
      'running again',
      'stop',
      'node stopped',
      'stop again',
      'clone',
      'clone stopped',
      'destroy clone',
      'destroy',
      'nodes left',
      'disk after destroy',
      'destroy disk',
      'destroy base',
      'volumes left',
      'done',
    ]);
    expect(step('driver')).toMatchObject({ libcloud: expect.stringMatching(/^3\./) });

    const base = step('drive created');
    expect(base).toMatchObject({ uuid: expect.stringMatching(UUID), status: 'creating', size: 1 });
    expect(step('drive ready')).toMatchObject({ uuid: base.uuid, status: 'unmounted' });

    // libcloud's size small-1: 1 CPU (2000 MHz), 512 MB, a 50 GB disk copied from ours.
    const node = step('node created');
    expect(node).toMatchObject({
      uuid: expect.stringMatching(UUID),
      state: 'stopped',
      cpus: 1,
      memory: 512,
      meta: { made_by: 'libcloud' },
    });
    expect(node.boot_drive).not.toBe(base.uuid);
    const running = step('node running');
    expect(running).toMatchObject({
      uuid: node.uuid,
      state: 'running',
      private_ips: [],
      disk_size: 50,
      disk_status: 'mounted',
      disk_mounted_on: [node.uuid],
    });
    // The DHCP address from the dynamic pool (198.18.0.0/15): public, as on CloudSigma.
    expect(running.public_ips).toEqual([expect.stringMatching(/^198\.1[89]\.\d+\.\d+$/)]);
    expect(step('source drive')).toMatchObject({ uuid: base.uuid, status: 'unmounted' });

    expect(step('start again')).toEqual({
      step: 'start again',
      http_code: 403,
      error_type: 'permission',
      message: 'Cannot start guest in state "started". Guest should be in state "stopped"',
    });
    expect(step('availability groups').groups).toEqual([[node.uuid]]);
    expect(step('vnc')).toMatchObject({
      url: expect.stringMatching(/^vnc:\/\/127\.0\.0\.1:\d+$/),
      closed: true,
    });
    expect(step('reboot').ok).toBe(true);
    expect(step('running again')).toMatchObject({ uuid: node.uuid, state: 'running' });
    expect(step('stop').ok).toBe(true);
    expect(step('node stopped')).toMatchObject({ uuid: node.uuid, state: 'stopped', ips: [] });
    expect(step('stop again')).toMatchObject({
      http_code: 403,
      error_type: 'permission',
      message: `Cannot stop guest in state "stopped". Guest should be in state "['started', 'running_legacy']"`,
    });

    // libcloud knows no `cloning` state: the clone is "unknown" until its disk is copied.
    const clone = step('clone');
    expect(clone.uuid).not.toBe(node.uuid);
    expect(['unknown', 'stopped']).toContain(clone.state);
    expect(step('clone stopped').disk).not.toBe(node.boot_drive);
    expect(step('destroy clone').ok).toBe(true);

    expect(step('destroy').ok).toBe(true);
    expect(step('nodes left').uuids).toEqual([]);
    expect(step('disk after destroy')).toMatchObject({ status: 'unmounted', mounted_on: [] });
    expect(step('destroy disk').ok).toBe(true);
    expect(step('destroy base').ok).toBe(true);
    expect(step('volumes left').uuids).toEqual([]);

    // Nothing went wrong on the server's side (warnings and errors are logged to stderr).
    expect(server.stderr()).not.toMatch(/"level":(50|60)/);
  }, 120_000);

  it('goes through the rest of the driver: the extended workflow', async () => {
    const { code, steps, stderr } = await runScript(join(dir, 'ca.pem'), 'extended');
    expect(code, `${stderr}\n${JSON.stringify(steps, null, 1)}`).toBe(0);
    const step = (name: string): Step => {
      const found = steps.find((s) => s.step === name);
      if (!found) throw new Error(`no step "${name}" in:\n${JSON.stringify(steps, null, 1)}`);
      return found;
    };
    expect(steps.at(-1)?.step).toBe('done');
    expect(step('sizes')).toMatchObject({ count: 10, small: [1, 512, 50] });
    expect(step('images').types).toEqual(step('images').names.map(() => 'preinst'));
    expect(step('library drives').media).toContain('cdrom');
    expect(step('capabilities').keys).toEqual(expect.arrayContaining(['drives', 'hosts']));
    expect(step('balance')).toMatchObject({ currency: 'EUR' });
    expect(step('pricing').resources).toEqual(expect.arrayContaining(['cpu', 'ip', 'mem']));
    expect(step('usage').resources).toEqual(expect.arrayContaining(['cpu', 'ip', 'mem']));
    expect(step('subscription')).toMatchObject({
      resource: 'ip',
      status: 'active',
      auto_renew: false,
    });
    expect(step('subscriptions').ids).toContain(step('subscriptions').wanted);
    expect(step('auto renew now').auto_renew).toBe(true);

    // create_key_pair sends a name only: an RSA pair is generated (the older API).
    expect(step('key pair generated')).toMatchObject({
      name: 'lc-generated',
      public_key: 'ssh-rsa',
      private_key: '-----BEGIN RSA PRIVATE KEY-----',
      fingerprint: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/),
    });
    expect(step('key pair imported')).toMatchObject({ same_key: true, private_key: null });
    expect(step('key pairs').names).toEqual(['lc-generated', 'lc-imported']);
    expect(step('key pair').fingerprint).toBe(step('key pair generated').fingerprint);

    expect(step('drive')).toMatchObject({ size: 1, status: 'unmounted' });
    expect(step('drive resizing').status).toBe('resizing');
    expect(step('drive resized').size).toBe(2);
    expect(step('drive cloned')).toMatchObject({ name: 'lc-data-copy', size: 2 });

    // A DHCP address is public (198.18.0.0/15), so wait_until_running(public_ips) sees it.
    const running = step('node running');
    expect(running.addresses).toEqual([expect.stringMatching(/^198\.1[89]\.\d+\.\d+$/)]);
    expect(running.public_ips).toEqual(running.addresses);
    expect(running.private_ips).toEqual([]);
    expect(step('node').pubkeys).toHaveLength(1);
    // list_nodes(ex_tag=...) reads /tags/{uuid}/servers/detail/.
    expect(step('nodes by tag').names).toEqual(['lc-web']);
    expect(step('firewall policy').rules).toEqual([['accept', 'in', '22']]);
    expect(step('vnc').closed).toBe(true);
    expect(step('node edited')).toMatchObject({ name: 'lc-web-2', meta: { role: 'db' } });
    expect(step('firewall policy attached').policy).toBe(true);
    expect(step('attached').mounted_on).toBe(true);
    expect(step('detached').mounted_on).toEqual([]);
    expect(step('running again')).toMatchObject({ state: 'running', public: 1 });
    expect(step('left')).toEqual({ step: 'left', nodes: [], volumes: [], key_pairs: [], tags: [] });
    expect(server.stderr()).not.toMatch(/"level":(50|60)/);
  }, 180_000);
});
