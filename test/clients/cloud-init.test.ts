/**
 * `--context-dir` (issue 15 item 7): each running server's context port is a unix socket
 * `DIR/<uuid>.sock`, there while the server runs and gone when it stops, is deleted or sigmalite
 * shuts down (and back when sigmalite restarts with the server still running).
 *
 * The real guest-side reader: Debian 12's unmodified cloud-init (`DataSourceCloudSigma` and its
 * `cepko`), unpacked by `scripts/cloud-init-unpack.sh` (apt-get download + dpkg-deb -x, never
 * installed), run by /usr/bin/python3 against a pty that `socat` links to the socket, as a guest's
 * /dev/ttyS1. Skipped, with the reason, only when /usr/bin/python3 is missing.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EOT } from '../../src/resources/context/protocol.js';
import { createServer, getObject, type Obj } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

const PYTHON = '/usr/bin/python3';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'test', 'clients', 'cloud-init.py');
const UNPACK = join(ROOT, 'scripts', 'cloud-init-unpack.sh');
const hasPython = existsSync(PYTHON);
if (!hasPython) console.warn(`cloud-init context test skipped: ${PYTHON} is missing`);

const run = promisify(execFile);

let dir: string;
let contextDir: string;
let t: TestApp;

function options() {
  return { memory: false, data: join(dir, 'data'), contextDir };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigmalite-context-dir-'));
  contextDir = join(dir, 'ctx');
  t = await startTestApp(options());
});

afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function action(uuid: string, name: string): Promise<void> {
  const res = await t.alice.post(`/servers/${uuid}/action/?do=${name}`);
  expect(res.status, res.text).toBe(202);
}

/** Asks the socket for `path` and answers the line before `\n` EOT. */
function ask(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (received.endsWith(`\n${EOT}`)) {
        socket.end();
        resolve(received.slice(0, -2));
      }
    });
    socket.on('error', reject);
    socket.write(`<\n${path}\n>`);
  });
}

const META = {
  ssh_public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey guest@example',
  'cloudinit-user-data': Buffer.from('#cloud-config\nhostname: from-user-data\n').toString(
    'base64',
  ),
  base64_fields: 'cloudinit-user-data',
};

describe('context sockets', () => {
  it('are there while the server runs, and speak the context protocol', async () => {
    const server = await createServer(t.alice, { name: 'ctx-guest', meta: META });
    const socket = join(contextDir, `${server.uuid}.sock`);
    expect(existsSync(socket)).toBe(false);
    await action(server.uuid, 'start');
    expect((await getObject(t.alice, `/servers/${server.uuid}/`)).status).toBe('running');
    expect(existsSync(socket)).toBe(true);
    expect(await ask(socket, 'name')).toBe('ctx-guest');
    expect(await ask(socket, '/meta/base64_fields')).toBe('cloudinit-user-data');
    // It follows a PUT at once, as the in-memory port does.
    const put = await t.alice.put(`/servers/${server.uuid}/`, {
      ...(await getObject(t.alice, `/servers/${server.uuid}/`)),
      name: 'renamed',
    });
    expect(put.status, put.text).toBe(200);
    expect(await ask(socket, 'name')).toBe('renamed');
    await action(server.uuid, 'stop');
    expect(existsSync(socket)).toBe(false);
  });

  it('a server without context has none', async () => {
    const server = await createServer(t.alice, { name: 'no-ctx', context: false });
    await action(server.uuid, 'start');
    expect(existsSync(join(contextDir, `${server.uuid}.sock`))).toBe(false);
    await action(server.uuid, 'stop');
  });

  it('go with sigmalite and come back with it while the server runs', async () => {
    const server = await createServer(t.alice, { name: 'survivor' });
    const socket = join(contextDir, `${server.uuid}.sock`);
    await action(server.uuid, 'start');
    expect(existsSync(socket)).toBe(true);
    await t.close();
    expect(existsSync(socket)).toBe(false);
    t = await startTestApp(options());
    expect(existsSync(socket)).toBe(true);
    expect(await ask(socket, 'uuid')).toBe(server.uuid);
    await action(server.uuid, 'stop');
    expect(existsSync(socket)).toBe(false);
  });
});

describe.skipIf(!hasPython)("Debian 12's cloud-init through a pty", () => {
  let site: string;
  let socat: ChildProcess | undefined;
  let holder: number | undefined;

  beforeAll(async () => {
    const { stdout } = await run('bash', [UNPACK], { timeout: 120_000 });
    site = stdout.trim().split('\n').at(-1)!;
  }, 150_000);

  afterAll(() => {
    if (holder !== undefined) closeSync(holder);
    if (socat?.exitCode === null) socat.kill();
  });

  it('DataSourceCloudSigma and cepko read the server context', async () => {
    const server: Obj = await createServer(t.alice, { name: 'cloud-init-guest', meta: META });
    await action(server.uuid, 'start');
    const tty = join(dir, 'ttyS1');
    socat = spawn(
      'socat',
      [`PTY,link=${tty},raw,echo=0`, `UNIX-CONNECT:${join(contextDir, `${server.uuid}.sock`)}`],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100 && !existsSync(tty); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(tty), 'socat made no pty').toBe(true);
    // cepko opens the port afresh for every request; socat ends when the last opener of the pty
    // closes it, so the test holds it open too (a guest's /dev/ttyS1 never goes away).
    holder = openSync(tty, 'r+');
    const { stdout } = await run(PYTHON, [SCRIPT, tty, dir], {
      env: { ...process.env, PYTHONPATH: site },
      timeout: 30_000,
    });
    const read = JSON.parse(stdout) as Record<string, unknown>;
    expect(read).toEqual({
      found: true,
      instance_id: server.uuid,
      hostname: 'cloud-init-guest',
      public_keys: [META.ssh_public_key],
      userdata_raw: '#cloud-config\nhostname: from-user-data\n',
      metadata_name: 'cloud-init-guest',
      cepko_name: 'cloud-init-guest',
      cepko_meta: META,
      cepko_global: {},
    });
  }, 60_000);
});
