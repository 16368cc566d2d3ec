/**
 * The server context (api-reference.md §5.9, docs/context.md).
 *
 * The Done-when test: a guest speaks the serial protocol to a server's context port and gets the
 * documented answers. The `context_*` and `global_context_*` dumps are shell sessions on a guest
 * (the command writes `<\n{path}\n>` to /dev/ttyS1, the dump is the line it read back), so each is
 * replayed here: the same server as `guest_for_context`, the same requests, compared with the
 * recorded answers. The fixture conformance table leaves them in its later list for that reason.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answerLine,
  contextChannel,
  EOT,
  RequestParser,
} from '../../src/resources/context/protocol.js';
import { PyFloat, pythonJson } from '../../src/resources/context/pyjson.js';
import {
  type Adjustment,
  type AllowedField,
  compareBodies,
  FIXTURES_DIR,
  formatMismatches,
  type Json,
  loadFixture,
} from '../conformance/fixtures.js';
import { createDrive, createServer, expectError, getObject, type Obj } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';

// ---------------------------------------------------------------------------------------------
// Speaking the protocol

/** Sends `bytes` on a guest's end of a context port and reads until EOT; returns what came. */
async function exchange(port: Duplex, bytes: string | Buffer): Promise<string> {
  let received = '';
  const done = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes(EOT)) {
        port.off('data', onData);
        resolve(received);
      }
    };
    port.on('data', onData);
    port.once('error', reject);
    setTimeout(() => reject(new Error(`no EOT; got ${JSON.stringify(received)}`)), 5_000).unref();
  });
  port.write(bytes);
  return done;
}

/** Asks for `path` the way the dumps do (`<\n{path}\n>`); returns the line without `\n` EOT. */
async function ask(port: Duplex, path: string, newline = '\n'): Promise<string> {
  const raw = await exchange(port, `<${newline}${path}${newline}>`);
  expect(raw.endsWith(`\n${EOT}`), JSON.stringify(raw)).toBe(true);
  return raw.slice(0, -2);
}

/** The path a dump's shell command writes to the port (`echo -en "<\n...\n>"`, `s.write(...)`). */
function requestedPath(name: string): string {
  const command = readFileSync(join(FIXTURES_DIR, `request_${name}`), 'utf8');
  const match = /"<\\n(.*?)\\n>"/.exec(command);
  if (!match) throw new Error(`request_${name}: no "<\\n...\\n>" in ${command}`);
  return match[1]!;
}

function recordedAnswer(name: string): string {
  return readFileSync(join(FIXTURES_DIR, `response_${name}`), 'utf8').replace(/\n$/, '');
}

describe('the protocol, on its own', () => {
  const context = {
    name: 'my "server"',
    cpu: 1000,
    cpu_model: null,
    enable_numa: false,
    mem_perf_threshold: new PyFloat(0),
    meta: { multi: 'a\nb\tc\r', unicode: 'ünï 😀', slash: 'a/b' },
    nics: [{ mac: '22:00:00:00:00:01', vlan: null }],
    tags: [],
  };

  it('answers the whole context as one line of JSON, in ASCII', () => {
    const line = answerLine(context, '');
    expect(line).not.toMatch(/[\n\r]/);
    expect(/^[\x20-\x7e]*$/.test(line)).toBe(true);
    expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(context)));
    expect(line).toContain('"mem_perf_threshold": 0.0');
    expect(line).toContain('"name": "my \\"server\\""');
  });

  it.each([
    ['name', 'my \\"server\\"'],
    ['/name', 'my \\"server\\"'],
    ['cpu', '1000'],
    ['/cpu_model', ''],
    ['enable_numa', 'false'],
    ['mem_perf_threshold', '0.0'],
    ['/meta/multi', 'a\\nb\\tc\\r'],
    ['/meta/unicode', '\\u00fcn\\u00ef \\ud83d\\ude00'],
    [
      '/meta/',
      '{"multi": "a\\nb\\tc\\r", "unicode": "\\u00fcn\\u00ef \\ud83d\\ude00", "slash": "a/b"}',
    ],
    ['nics/0', '{"mac": "22:00:00:00:00:01", "vlan": null}'],
    ['/nics/0/mac', '22:00:00:00:00:01'],
    ['/nics/0/vlan', ''],
    ['tags', '[]'],
    ['/nics/1', ''],
    ['/nics/x', ''],
    ['/nope', ''],
    ['/name/deeper', ''],
    ['/meta/a/b', ''],
  ])('answers %j with %j', (path, expected) => {
    expect(answerLine(context, path)).toBe(expected);
  });

  it('answers an empty line when there is no server', () => {
    expect(answerLine(undefined, '')).toBe('');
  });

  it('finds requests framed with LF or CRLF, split or packed, among stray bytes', () => {
    const parser = new RequestParser();
    expect(parser.push('<\n\n>')).toEqual(['']);
    expect(parser.push('<\r\nname\r\n>')).toEqual(['name']);
    expect(parser.push('<\n/meta/')).toEqual([]);
    expect(parser.push('ssh_public_key\n')).toEqual([]);
    expect(parser.push('>')).toEqual(['/meta/ssh_public_key']);
    expect(parser.push('garbage\n><<\nname\n><\n/cpu\n>')).toEqual(['name', '/cpu']);
    expect(parser.push('<no newline>')).toEqual([]);
    expect(parser.push('<\nname\n>')).toEqual(['name']);
    expect(parser.push(Buffer.from('<\n/meta/ünï\n>'))).toEqual(['/meta/ünï']);
  });

  it('forgets a flood of bytes that never becomes a request', () => {
    const parser = new RequestParser();
    parser.push(`<\n${'x'.repeat(200_000)}`);
    expect(parser.push('\n>')).toEqual([]);
    expect(parser.push('<\nname\n>')).toEqual(['name']);
  });

  it('writes JSON as Python does', () => {
    expect(pythonJson({ a: [1, true, null], b: new PyFloat(2), c: new PyFloat(0.5) })).toBe(
      '{"a": [1, true, null], "b": 2.0, "c": 0.5}',
    );
    expect(pythonJson('\u0001\u007f')).toBe('"\\u0001\\u007f"');
  });

  it('answers requests on a channel in order, each followed by EOT', async () => {
    let calls = 0;
    const channel = contextChannel(async () => {
      calls++;
      return { name: `n${calls}` };
    });
    const raw = await new Promise<string>((resolve) => {
      let text = '';
      channel.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.split(EOT).length === 4) resolve(text);
      });
      channel.write('<\nname\n><\nname\n>');
      channel.write('<\r\nname\r\n>');
    });
    expect(raw).toBe(`n1\n${EOT}n2\n${EOT}n3\n${EOT}`);
    channel.end();
    await once(channel, 'end');
  });

  it('answers an empty line when the context cannot be read', async () => {
    const channel = contextChannel(async () => {
      throw new Error('store down');
    });
    expect(await ask(channel, '')).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// The recorded guest session

/** The fixture's ids, to be paired with ours. */
const SERVER = 'e0fcf2ae-020e-45e1-bf69-982b17da4b6a';
const DRIVE = 'ca360a3f-55e4-4b5f-92ba-ada83fca2940';
const MAC = '22:81:c9:73:91:e4';

const NEWER = 'newer server field the 2015 dump predates (the server definition has it)';
const ALLOW: AllowedField[] = [
  ...['allocation_pool', 'auto_start', 'epcs', 'gpus'].map((path) => ({ path, reason: NEWER })),
  {
    path: 'nics.*.firewall_policy',
    reason: 'on the Servers page (the page wins), so in the definition and its context',
  },
];

let t: TestApp;
let alice: Client;
let server: Obj;
let port: Duplex;

beforeAll(async () => {
  // The dump's network: 94.26.101.0/24 with its gateway at .1, and its nameserver.
  t = await startTestApp({ dynamicPool: '94.26.101.0/24', nameservers: '8.8.8.8' });
  alice = t.alice;
  const guest = loadFixture('guest_for_context').response.body as Obj;
  const drive = await createDrive(alice, {
    name: 'test_clone_test_guest_context',
    size: 3221225472,
    storage_type: 'dssd',
  });
  server = await createServer(alice, {
    name: guest.name,
    cpu: guest.cpu,
    mem: guest.mem,
    vnc_password: guest.vnc_password,
    meta: guest.meta,
    drives: [{ drive: drive.uuid, device: 'virtio', dev_channel: '0:0', boot_order: 1 }],
    nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
  });
  const start = await alice.post(`/servers/${server.uuid}/action/?do=start`);
  expect(start.status).toBe(202);
  server = await getObject(alice, `/servers/${server.uuid}/`);
  expect(server.status).toBe('running');
  ids.set(SERVER, server.uuid);
  ids.set(DRIVE, drive.uuid);
  ids.set(MAC, server.nics[0].mac);
  port = t.app.contexts.open(server.uuid);
});
afterAll(async () => {
  port?.end();
  await t?.close();
});

const ids = new Map<string, string>();

/** Asks what dump `name` asked and compares with its recorded answer. */
async function replayDump(name: string, adjust: Adjustment[] = []): Promise<string> {
  const line = await ask(port, requestedPath(name));
  const recorded = recordedAnswer(name);
  if (recorded.startsWith('{')) {
    const fixture = JSON.parse(recorded) as Obj;
    const context = JSON.parse(line) as Obj;
    // The leased address is the one the server runs with, from the dump's network; it is
    // random, so it stands in for the dump's one before the comparison.
    const ip = context.nics[0].ip_v4_conf.ip;
    expect(ip.uuid).toBe(server.runtime.nics[0].ip_v4.uuid);
    expect(ip.uuid).toMatch(/^94\.26\.101\.\d+$/);
    ip.uuid = fixture.nics[0].ip_v4_conf.ip.uuid;
    const mismatches = compareBodies(fixture as Json, context, {
      allow: ALLOW,
      adjustments: adjust,
      ids,
    });
    expect(formatMismatches(mismatches)).toEqual([]);
    expect(line).toContain('"mem_perf_threshold": 0.0');
    expect(line).toContain('"cpu_perf_threshold": 0.0');
  } else {
    expect(line).toBe(recorded);
  }
  return line;
}

describe('the recorded guest session (context_* and global_context_* dumps)', () => {
  it('context_all and context_all_robust: the whole context', async () => {
    const line = await replayDump('context_all');
    expect(await replayDump('context_all_robust')).toBe(line);
    const context = JSON.parse(line);
    // What the context leaves out of the definition.
    for (const key of [
      'owner',
      'status',
      'runtime',
      'resource_uri',
      'jobs',
      'grantees',
      'permissions',
      'context',
    ]) {
      expect(context, key).not.toHaveProperty(key);
    }
  });

  it('context_single_value and context_single_value_ssh_key: bare values', async () => {
    await replayDump('context_single_value');
    await replayDump('context_single_value_ssh_key');
  });

  it('follows a PUT at once (the *_dynamic dumps)', async () => {
    const res = await alice.put(`/servers/${server.uuid}/`, {
      name: 'test_srv_test_guest_context_renamed',
      meta: { ...server.meta, another_key: 'a value or something' },
    });
    expect(res.status).toBe(200);
    await replayDump('context_all_dynamic');
    await replayDump('context_all_dynamic_robust');
    await replayDump('context_single_value_dynamic');
    await replayDump('context_single_value_another_key_dynamic');
  });

  it('shows the global context (global_context_* dumps, after update_global_context)', async () => {
    const res = await alice.post('/global_context/', { new_global_key: 'new_global_val' });
    expect(res.status).toBe(200);
    await replayDump('global_context_all_robust');
    await replayDump('global_context_single_value');
    // global_context_all was recorded on another server, before the newer fields: its keys.
    const recorded = JSON.parse(recordedAnswer('global_context_all')) as Obj;
    const ours = JSON.parse(await ask(port, requestedPath('global_context_all'))) as Obj;
    expect(missingKeys(recorded, ours)).toEqual([]);
    expect(ours.global_context).toEqual(recorded.global_context);
  });

  it('answers with CRLF framing too, and a deleted server with empty lines', async () => {
    expect(await ask(port, 'name', '\r\n')).toBe('test_srv_test_guest_context_renamed');
    const gone = t.app.contexts.open('00000000-0000-4000-8000-000000000000');
    expect(await ask(gone, '')).toBe('');
    expect(await ask(gone, 'name')).toBe('');
    gone.end();
  });
});

/** Paths of keys `recorded` has that `ours` lacks (lists: their first items; not in `meta`). */
function missingKeys(recorded: unknown, ours: unknown, path = ''): string[] {
  if (Array.isArray(recorded)) {
    if (!Array.isArray(ours)) return [path];
    return recorded.length && ours.length ? missingKeys(recorded[0], ours[0], `${path}.0`) : [];
  }
  if (recorded === null || typeof recorded !== 'object') return [];
  if (ours === null || typeof ours !== 'object') return [path];
  return Object.entries(recorded).flatMap(([key, value]) =>
    key in ours && key === 'meta'
      ? []
      : key in ours
        ? missingKeys(value, (ours as Obj)[key], path ? `${path}.${key}` : key)
        : [path ? `${path}.${key}` : key],
  );
}

// ---------------------------------------------------------------------------------------------
// What the context shows beyond the dumps

describe('the context of a server with more in it', () => {
  it('expands keys, tags and static or unleased NICs; serves a real socket', async () => {
    const tag = (await alice.post('/tags/', { objects: [{ name: 'web' }] })).json.objects[0];
    const keypair = (
      await alice.post('/keypairs/', {
        name: 'deploy',
        public_key: (loadFixture('pub_key_only_keypair_create').request.body as Obj).objects[0]
          .public_key,
        tags: [tag.uuid],
      })
    ).json.objects[0];
    const drive = await createDrive(alice, {
      name: 'data',
      meta: { os: 'linux' },
      tags: [tag.uuid],
    });
    const stopped = await createServer(alice, {
      name: 'ctx',
      tags: [tag.uuid],
      pubkeys: [keypair.uuid],
      drives: [{ drive: drive.uuid, device: 'virtio', dev_channel: '0:1' }],
      nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }, { model: 'e1000' }],
    });

    // QEMU's way: a socket the host end serves (a chardev socket), the guest on the other end.
    let stop: (() => void) | undefined;
    const listener = createTcpServer((socket: Socket) => {
      stop = t.app.contexts.serve(stopped.uuid, socket);
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const address = listener.address();
    const guest = connect({
      host: '127.0.0.1',
      port: typeof address === 'object' && address ? address.port : 0,
    });
    await once(guest, 'connect');
    try {
      const context = JSON.parse(await ask(guest, ''));
      expect(context.tags).toEqual(['web']);
      expect(context.pubkeys).toEqual([
        {
          fingerprint: keypair.fingerprint,
          meta: {},
          name: 'deploy',
          public_key: keypair.public_key,
          tags: ['web'],
          uuid: keypair.uuid,
        },
      ]);
      expect(context.drives[0].drive).toEqual({
        affinities: [],
        allow_multimount: false,
        licenses: [],
        media: 'disk',
        meta: { os: 'linux' },
        name: 'data',
        size: drive.size,
        storage_type: drive.storage_type,
        tags: ['web'],
        uuid: drive.uuid,
      });
      // A stopped server's DHCP NIC has no address yet; a NIC without configuration has none.
      expect(context.nics[0].ip_v4_conf).toEqual({ conf: 'dhcp', ip: null });
      expect(context.nics[1].ip_v4_conf).toBeNull();
      expect(await ask(guest, '/pubkeys/0/public_key')).toBe(keypair.public_key);
      expect(await ask(guest, 'drives/0/drive/meta/os')).toBe('linux');
      // A drive PUT shows at once.
      await alice.put(`/drives/${drive.uuid}/`, { meta: { os: 'bsd' } });
      expect(await ask(guest, 'drives/0/drive/meta/os')).toBe('bsd');
    } finally {
      stop?.();
      guest.destroy();
      listener.close();
    }
  });
});

describe('the global context (/global_context/)', () => {
  it('starts empty, is replaced whole by a POST (200, echoed), and is per account', async () => {
    const app = await startTestApp();
    try {
      expect(await getObject(app.alice, '/global_context/')).toEqual({});
      const res = await app.alice.post('/global_context/', { a: '1', b: 'two' });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ a: '1', b: 'two' });
      expect(await getObject(app.alice, '/global_context/')).toEqual({ a: '1', b: 'two' });
      expect((await app.alice.post('/global_context/', { c: 'x' })).json).toEqual({ c: 'x' });
      expect(await getObject(app.alice, '/global_context/')).toEqual({ c: 'x' });
      expect(await getObject(app.bob, '/global_context/')).toEqual({});
      expect((await app.alice.post('/global_context/', {})).json).toEqual({});
      expect(await getObject(app.alice, '/global_context/')).toEqual({});
    } finally {
      await app.close();
    }
  });

  it('refuses what is not a flat dict', async () => {
    expectError(await alice.post('/global_context/', ['a']), 400, 'validation', null);
    expectError(await alice.post('/global_context/', { a: { b: 'c' } }), 400, 'validation', 'a');
    expectError(await alice.post('/global_context/', { 'a/b': 'c' }), 400, 'validation', 'a/b');
    expect((await alice.request('PUT', '/global_context/', { body: {} })).status).toBe(405);
    expect((await alice.request('DELETE', '/global_context/')).status).toBe(405);
  });
});

describe('the global context under concurrent writes', () => {
  it('takes simultaneous first POSTs one after the other', async () => {
    const app = await startTestApp();
    try {
      const answers = await Promise.all(
        ['a', 'b', 'c', 'd'].map((v) => app.alice.post('/global_context/', { v })),
      );
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const stored = await getObject(app.alice, '/global_context/');
      expect(['a', 'b', 'c', 'd']).toContain(stored.v);
    } finally {
      await app.close();
    }
  });
});
