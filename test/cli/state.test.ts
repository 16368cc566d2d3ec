/**
 * `sigmalite export` and `sigmalite import` on the built CLI (docs/backup.md): state made through
 * a real server on SQLite, exported, imported into a fresh PostgreSQL database, gives back the
 * same store and the same API for every account; stdout carries only the dump; import refuses a
 * non-empty store without --replace, a bad dump and a store in use, and changes nothing then.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { progressReporter } from '../../src/cli/progress.js';
import { dumpText, exportState, type StateDump } from '../../src/control/state.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { POSTGRES_URL } from '../support/postgres.js';
import {
  BIN,
  basic,
  childEnv,
  killAll,
  lines,
  type RunResult,
  runCli,
  type Server,
  startServer,
} from './process.js';

// biome-ignore lint/suspicious/noExplicitAny: tests walk response bodies freely and assert on them.
type Obj = Record<string, any>;

const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };
const BOB = { email: 'bob@example.com', password: 'bob-password-22' };
const USERS = `${ALICE.email}:${ALICE.password},${BOB.email}:${BOB.password}`;
/** Options of every server here: instant transitions, a small pool of IPs to buy. */
const SERVE = ['--port', '0', '--transitions', 'instant', '--ip-pool', '192.0.2.10-192.0.2.20/24'];
const PROGRESS = /^sigmalite (export|import): \d+\/\d+ rows$/;

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigmalite-state-'));
  tempDirs.push(dir);
  return dir;
}

/** Databases made by `freshDatabase`, dropped at the end. */
const databases: string[] = [];

function databaseUrl(name: string): string {
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A new, empty PostgreSQL database; its URL. */
async function freshDatabase(): Promise<string> {
  const name = `sigmalite_state_${randomBytes(5).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  databases.push(name);
  return databaseUrl(name);
}

const stores: Store[] = [];
async function opened<S extends Store>(store: S | Promise<S>): Promise<S> {
  const s = await store;
  stores.push(s);
  return s;
}
async function closeStores(): Promise<void> {
  for (const store of stores.splice(0)) await store.close();
}

afterEach(async () => {
  await closeStores();
  await killAll();
}, 30_000);

afterAll(async () => {
  await killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  for (const name of databases) {
    await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}, 30_000);

interface Answer {
  status: number;
  text: string;
  json: Obj;
}

/** The API of a server process as one account. */
function client(server: Server, account: { email: string; password: string }) {
  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${server.origin}/api/2.0${path}`, {
      method,
      headers: {
        authorization: basic(account.email, account.password),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Obj = {};
    try {
      json = JSON.parse(text) as Obj;
    } catch {
      // not JSON (an empty 204)
    }
    return { status: res.status, text, json };
  };
  return {
    get: (path: string) => call('GET', path),
    post: (path: string, body: unknown) => call('POST', path, body),
    put: (path: string, body: unknown) => call('PUT', path, body),
    /** POST of one object to a collection; the created object (201 asserted). */
    async create(path: string, object: Obj): Promise<Obj> {
      const res = await call('POST', path, { objects: [object] });
      expect(res.status, `POST ${path}: ${res.text}`).toBe(201);
      return res.json.objects[0] as Obj;
    },
    /** Polls an object until its status is `status`. */
    async waitFor(path: string, status: string): Promise<Obj> {
      for (let i = 0; i < 200; i++) {
        const res = await call('GET', path);
        if (res.json.status === status) return res.json;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`${path} never became ${status}`);
    },
  };
}
type Client = ReturnType<typeof client>;

/**
 * A bit of everything, through the API: drives, a tagged server with a static and a DHCP NIC,
 * a key and a drive, running; an idle server; a snapshot; a keypair; an IP subscription; an ACL
 * sharing the tag with Bob; Bob's own server; a login session.
 */
async function populate(server: Server): Promise<void> {
  const alice = client(server, ALICE);
  const bob = client(server, BOB);
  const keypair = await alice.create('/keypairs/', { name: 'deploy', algorithm_type: 'ed25519' });
  const tag = await alice.create('/tags/', { name: 'shared ✓', meta: { team: 'ops' } });
  const disk = { size: 1073741824, media: 'disk' };
  const system = await alice.create('/drives/', { ...disk, name: 'system', tags: [tag.uuid] });
  const data = await alice.create('/drives/', { ...disk, name: 'data' });
  await alice.waitFor(`/drives/${system.uuid}/`, 'unmounted');
  await alice.waitFor(`/drives/${data.uuid}/`, 'unmounted');
  const bought = await alice.post('/subscriptions/', {
    objects: [{ resource: 'ip', amount: 1, period: '1 month' }],
  });
  expect(bought.status, bought.text).toBe(201);
  const ip = bought.json.objects[0].subscribed_object as string;
  const base = { cpu: 1000, mem: 536870912, vnc_password: 'testserver' };
  const web = await alice.create('/servers/', {
    ...base,
    name: 'web',
    drives: [{ drive: system.uuid, device: 'virtio', dev_channel: '0:0', boot_order: 1 }],
    nics: [
      { ip_v4_conf: { conf: 'static', ip }, model: 'virtio' },
      { ip_v4_conf: { conf: 'dhcp' }, model: 'e1000' },
    ],
    pubkeys: [keypair.uuid],
    tags: [tag.uuid],
    meta: { role: 'web' },
  });
  await alice.create('/servers/', {
    ...base,
    name: 'idle',
    drives: [{ drive: data.uuid, device: 'virtio', dev_channel: '0:0' }],
  });
  expect((await alice.post(`/servers/${web.uuid}/action/?do=start`, {})).status).toBe(202);
  await alice.waitFor(`/servers/${web.uuid}/`, 'running');
  const snapshot = await alice.create('/snapshots/', { drive: data.uuid, name: 'before' });
  await alice.waitFor(`/snapshots/${snapshot.uuid}/`, 'available');
  await alice.create('/acls/', {
    name: 'ops to bob',
    grantees: [{ email: BOB.email }],
    rules: [{ permission: 'LIST' }, { permission: 'ATTACH' }],
    tags: [{ uuid: tag.uuid }],
  });
  expect((await alice.put('/profile/', { first_name: 'Alice' })).status).toBe(200);
  await bob.create('/servers/', { ...base, name: "bob's" });
  // The ACL works: Bob sees Alice's tagged drive and server among his.
  const bobs = await bob.get('/drives/');
  expect(bobs.json.objects.map((d: Obj) => d.uuid)).toContain(system.uuid);
  const login = await fetch(`${server.origin}/api/2.0/accounts/action/?do=login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: BOB.email, password: BOB.password }),
  });
  expect(login.status).toBe(200);
}

/** Collections: the list, the detail list, and each object. */
const COLLECTIONS = [
  'servers',
  'drives',
  'tags',
  'acls',
  'snapshots',
  'keypairs',
  'pubkeys',
  'ips',
  'vlans',
  'fwpolicies',
  'subscriptions',
  'jobs',
  'libdrives',
];
const SINGLES = [
  '/profile/',
  '/balance/',
  '/currentusage/',
  '/logs/',
  '/groupedsubscriptions/',
  '/ledger/',
];

/** Everything an account sees through the API, by path: every list and every object. */
async function apiView(api: Client): Promise<Map<string, string>> {
  const view = new Map<string, string>();
  const read = async (path: string) => {
    const res = await api.get(path);
    expect(res.status, `GET ${path}: ${res.text}`).toBe(200);
    view.set(path, res.text);
    return res.json;
  };
  for (const path of SINGLES) await read(path);
  for (const kind of COLLECTIONS) {
    await read(`/${kind}/?limit=0`);
    const detail = await read(`/${kind}/detail/?limit=0`);
    for (const object of detail.objects as Obj[]) {
      // Subscriptions are addressed by their id.
      const id = object.id ?? object.uuid;
      if (id !== undefined) await read(`/${kind}/${id}/`);
    }
  }
  return view;
}

describe('export, then import into an empty PostgreSQL store', () => {
  let data = '';
  let exported: RunResult;
  let dump: StateDump;
  /** The same export, by `--out`. */
  let dumpFile = '';
  let toFile: RunResult;

  beforeAll(async () => {
    data = tempDir();
    const server = await startServer([...SERVE, '--data', data], {
      env: { SIGMALITE_USERS: USERS },
    });
    await populate(server);
    expect(await server.stop()).toBe(0);
    exported = await runCli(['export', '--data', data]);
    expect(exported.code, exported.stderr).toBe(0);
    dump = JSON.parse(exported.stdout) as StateDump;
    dumpFile = join(tempDir(), 'backup.json');
    toFile = await runCli(['export', '--data', data, '--out', dumpFile]);
    expect(toFile.code, toFile.stderr).toBe(0);
  }, 60_000);

  it('exports to stdout pure JSON, progress on stderr only; --out writes the same, mode 0600', async () => {
    expect(dump).toMatchObject({ format: 'sigmalite-state', version: 1, clock_time: null });
    expect(dump.accounts.map((a) => a.email).sort()).toEqual([ALICE.email, BOB.email]);
    // The IP subscription's end, due in a month.
    expect(dump.tasks.map((t) => t.type)).toEqual(['subscription.end']);
    expect(exported.stdout).not.toContain('sigmalite export');
    const progress = lines(exported.stderr);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.slice(0, -1).every((l) => PROGRESS.test(l))).toBe(true);
    const rows = Object.values(dump).reduce((n, v) => n + (Array.isArray(v) ? v.length : 0), 0);
    expect(progress.at(-2)).toBe(`sigmalite export: ${rows}/${rows} rows`);
    expect(progress.at(-1)).toMatch(/^sigmalite export: 2 accounts, \d+ objects, 1 task \(/);
    // What the store holds, exactly (the control API's export of the same store).
    const store = await opened(new SqliteStore({ path: join(data, 'sigmalite.db') }));
    expect(dump).toEqual(await exportState(store));
    await closeStores();

    expect(toFile.stdout).toBe('');
    expect(readFileSync(dumpFile, 'utf8')).toBe(exported.stdout);
    expect(statSync(dumpFile).mode & 0o777).toBe(0o600);
    expect(lines(toFile.stderr).at(-1)).toContain(`to ${dumpFile}`);
  }, 30_000);

  it('imports into a fresh database: the same store, the same API for every account', async () => {
    const url = await freshDatabase();
    const imported = await runCli(['import', dumpFile, '--store', url]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toBe('');
    expect(lines(imported.stderr).at(-1)).toBe(
      `sigmalite import: 2 accounts, ${dump.objects.length} objects, 1 task imported into ${url}`,
    );

    // The stores hold the same rows, and PostgreSQL exports the very same bytes.
    const sqlite = await opened(new SqliteStore({ path: join(data, 'sigmalite.db') }));
    const postgres = await opened(PostgresStore.open({ url }));
    expect(await postgres.snapshot()).toEqual(await sqlite.snapshot());
    await closeStores();
    const again = await runCli(['export', '--store', url]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(readFileSync(dumpFile, 'utf8'));

    // Servers on both: every account sees the same lists and objects, byte for byte.
    const before = await startServer([...SERVE, '--data', data]);
    const after = await startServer([...SERVE, '--store', url]);
    for (const account of [ALICE, BOB]) {
      const expected = await apiView(client(before, account));
      const actual = await apiView(client(after, account));
      // Every list, and each object of the account or shared with it (Bob sees Alice's server).
      expect(expected.size).toBeGreaterThan(35);
      expect([...actual.keys()]).toEqual([...expected.keys()]);
      for (const [path, text] of expected) expect(actual.get(path), path).toBe(text);
    }
    const servers = (await client(after, ALICE).get('/servers/detail/')).json.objects as Obj[];
    expect(servers.map((s) => [s.name, s.status]).sort()).toEqual([
      ['idle', 'stopped'],
      ['web', 'running'],
    ]);
    expect(await before.stop()).toBe(0);
    expect(await after.stop()).toBe(0);
  }, 60_000);

  it('refuses a store that is not empty unless --replace, and leaves it as it was', async () => {
    const target = tempDir();
    expect((await runCli(['import', dumpFile, '--data', target])).code).toBe(0);
    // Something else in the target: a new account.
    expect((await runCli(['user', 'add', 'carol@example.com', '--data', target])).code).toBe(0);
    const file = join(target, 'sigmalite.db');
    const fingerprint = async () => {
      const store = await opened(new SqliteStore({ path: file }));
      const print = await store.fingerprint();
      await closeStores();
      return print;
    };
    const held = await fingerprint();
    const refused = await runCli(['import', dumpFile, '--data', target]);
    expect(refused.code).toBe(2);
    expect(lines(refused.stderr)).toEqual([
      `sigmalite import: ${file} is not empty (3 accounts, ${dump.objects.length + 1} objects, 1 task); --replace replaces everything it holds with the dump`,
    ]);
    expect(await fingerprint()).toBe(held);

    const replaced = await runCli(['import', dumpFile, '--data', target, '--replace']);
    expect(replaced.code, replaced.stderr).toBe(0);
    const back = await runCli(['export', '--data', target]);
    expect(back.stdout).toBe(readFileSync(dumpFile, 'utf8'));
  }, 30_000);

  it('a corrupt, foreign or unreadable file: one line on stderr, exit 1 (2 for a path), nothing touched', async () => {
    const text = readFileSync(dumpFile, 'utf8');
    const dir = tempDir();
    const write = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    const wrongVersion = { ...dump, version: 2 };
    const badRow = structuredClone(dump) as unknown as Obj;
    badRow.objects[3].uuid = 5;
    const cases: [string[], number, RegExp][] = [
      [
        [write('cut.json', text.slice(0, text.length / 2))],
        1,
        /^sigmalite import: \S+cut\.json is not a JSON document: /,
      ],
      [
        [write('version.json', JSON.stringify(wrongVersion))],
        1,
        /^sigmalite import: \S+version\.json is not a sigmalite state dump: version: Unsupported version 2; this sigmalite reads version 1$/,
      ],
      [
        [write('row.json', JSON.stringify(badRow))],
        1,
        /is not a sigmalite state dump: objects\.3\.uuid: Expected a string$/,
      ],
      [
        [write('other.json', '{"servers": []}')],
        1,
        /is not a sigmalite state dump: format: Expected "sigmalite-state"$/,
      ],
      [[join(dir, 'missing.json')], 2, /^sigmalite import: cannot read \S+missing\.json: ENOENT/],
    ];
    // Into a directory that does not exist yet: it stays so.
    const fresh = join(tempDir(), 'new');
    // Into a store that holds something, with --replace: it keeps it.
    const full = tempDir();
    expect((await runCli(['import', dumpFile, '--data', full])).code).toBe(0);
    const store = await opened(new SqliteStore({ path: join(full, 'sigmalite.db') }));
    const held = await store.fingerprint();
    await closeStores();
    for (const [args, code, message] of cases) {
      for (const target of [
        ['--data', fresh],
        ['--data', full, '--replace'],
      ]) {
        const res = await runCli(['import', ...args, ...target]);
        expect(res.code, res.stderr).toBe(code);
        expect(lines(res.stderr)).toHaveLength(1);
        expect(lines(res.stderr)[0]).toMatch(message);
        expect(res.stdout).toBe('');
      }
    }
    expect(existsSync(fresh)).toBe(false);
    const after = await opened(new SqliteStore({ path: join(full, 'sigmalite.db') }));
    expect(await after.fingerprint()).toBe(held);
  }, 60_000);

  it('refuses a store a server runs on (SQLite and PostgreSQL); export still works', async () => {
    const target = tempDir();
    expect((await runCli(['import', dumpFile, '--data', target])).code).toBe(0);
    const server = await startServer([...SERVE, '--data', target]);
    const refused = await runCli(['import', dumpFile, '--data', target, '--replace']);
    expect(refused.code).toBe(1);
    expect(lines(refused.stderr)).toEqual([
      `sigmalite import: ${join(target, 'sigmalite.db')}: the database file is open in another process (a running sigmalite?); stop it first (a running server takes a dump by PUT /_sigmalite/state, docs/control.md)`,
    ]);
    // A consistent snapshot while the server runs.
    const exported = await runCli(['export', '--data', target]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout).objects).toHaveLength(dump.objects.length);
    expect(await server.stop()).toBe(0);

    const url = await freshDatabase();
    expect((await runCli(['import', dumpFile, '--store', url])).code).toBe(0);
    const pgServer = await startServer([...SERVE, '--store', url]);
    const busy = await runCli(['import', dumpFile, '--store', url, '--replace']);
    expect(busy.code).toBe(1);
    expect(lines(busy.stderr)).toEqual([
      `sigmalite import: ${url}: 1 other sigmalite process is connected to the database (a running sigmalite?); stop it first (a running server takes a dump by PUT /_sigmalite/state, docs/control.md)`,
    ]);
    expect(await pgServer.stop()).toBe(0);
  }, 60_000);

  it('a server that starts during an import waits for it (PostgreSQL)', async () => {
    const url = await freshDatabase();
    // What `import` holds while it runs.
    const importing = await PostgresStore.open({ url, exclusive: true });
    let listening = false;
    const starting = startServer([...SERVE, '--store', url], {
      env: { SIGMALITE_USERS: USERS },
    }).then((server) => {
      listening = true;
      return server;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(listening).toBe(false);
    await importing.close();
    const server = await starting;
    expect((await client(server, ALICE).get('/profile/')).status).toBe(200);
    expect(await server.stop()).toBe(0);
  }, 30_000);

  it('an unreachable store or bad options: one line, exit 1 or 2', async () => {
    const unreachable = await runCli([
      'import',
      dumpFile,
      '--store',
      'postgres://postgres:secret@127.0.0.1:1/nothing',
    ]);
    expect(unreachable.code).toBe(1);
    expect(lines(unreachable.stderr)).toEqual([
      'sigmalite import: cannot open the store postgres://postgres:***@127.0.0.1:1/nothing: connect ECONNREFUSED 127.0.0.1:1',
    ]);
    const empty = tempDir();
    const noDatabase = await runCli(['export', '--data', empty]);
    expect(noDatabase.code).toBe(2);
    expect(lines(noDatabase.stderr)).toEqual([
      `sigmalite export: no sigmalite database in ${empty} (${join(empty, 'sigmalite.db')} does not exist)`,
    ]);
    expect(existsSync(join(empty, 'sigmalite.db'))).toBe(false);
    const both = await runCli(['export', '--data', empty, '--store', 'postgres://x/y']);
    expect(both.code).toBe(2);
    expect(lines(both.stderr)).toEqual(['sigmalite export: --data and --store exclude each other']);
    const memory = await runCli(['export'], { SIGMALITE_MEMORY: '1' });
    expect(memory.code).toBe(2);
    const noFile = await runCli(['import', '--data', empty]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain("missing required argument 'file'");
    const badOut = await runCli([
      'export',
      '--data',
      data,
      '--out',
      join(empty, 'no', 'such.json'),
    ]);
    expect(badOut.code).toBe(2);
    expect(lines(badOut.stderr)).toHaveLength(1);
    expect(badOut.stderr).toMatch(/^sigmalite export: cannot write \S+such\.json: ENOENT/);
  }, 30_000);

  it('import - reads the dump from stdin', async () => {
    const target = tempDir();
    const child = spawn(process.execPath, [BIN, 'import', '-', '--data', target], {
      env: childEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdin.end(readFileSync(dumpFile));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    const back = await runCli(['export', '--data', target]);
    expect(back.stdout).toBe(readFileSync(dumpFile, 'utf8'));
  }, 30_000);
});

describe('dumpText', () => {
  const empty: StateDump = {
    format: 'sigmalite-state',
    version: 1,
    clock_time: 12,
    accounts: [],
    sessions: [],
    tokens: [],
    objects: [],
    claims: [],
    tasks: [],
    state: [],
    links: [],
    grants: [],
  };

  it('is JSON of the same dump, one row a line, counting rows as it goes', () => {
    const claims = Array.from({ length: 600 }, (_, i) => ({
      namespace: 'mac',
      value: `v${i}\n"`,
      holder: 'h',
    }));
    const dump = { ...empty, claims, links: [{ kind: 'tag', source: 'a', target: 'b' }] };
    const counted: [number, number][] = [];
    const text = [...dumpText(dump, (done, total) => counted.push([done, total]))].join('');
    expect(JSON.parse(text)).toEqual(dump);
    const rowLines = text.split('\n').filter((l) => /^\{"(namespace|kind)"/.test(l));
    expect(rowLines).toHaveLength(601);
    expect(counted).toEqual([
      [256, 601],
      [512, 601],
      [600, 601],
      [601, 601],
    ]);
    expect(JSON.parse([...dumpText(empty)].join(''))).toEqual(empty);
  });
});

describe('progressReporter', () => {
  /** A stream that records what is written to it. */
  const recorder = (isTTY: boolean) => {
    const written: string[] = [];
    const stream = {
      isTTY,
      columns: 100,
      write(chunk: string) {
        written.push(chunk);
        return true;
      },
      on() {
        return stream;
      },
    };
    return { stream: stream as unknown as NodeJS.WriteStream, text: () => written.join('') };
  };

  it('plain lines: the first, one per tenth whatever the batch size, the last, once', () => {
    const { stream, text } = recorder(false);
    const progress = progressReporter(stream, { unit: 'rows' });
    for (let done = 0; done <= 1000; done += 37) progress.update('sigmalite export', done, 1000);
    progress.update('sigmalite export', 1000, 1000);
    progress.update('sigmalite export', 1000, 1000);
    progress.update('other', 0, 0);
    progress.finish();
    const printed = lines(text());
    expect(printed[0]).toBe('sigmalite export: 0/1000 rows');
    expect(printed.at(-2)).toBe('sigmalite export: 1000/1000 rows');
    expect(printed.at(-1)).toBe('other: 0/0 rows');
    expect(printed.length).toBeGreaterThanOrEqual(11);
    expect(printed.length).toBeLessThanOrEqual(13);
  });

  it('a bar on a terminal, ended with a new line, leaving the cursor and wrapping alone', () => {
    const { stream, text } = recorder(true);
    const progress = progressReporter(stream, { unit: 'rows' });
    progress.update('sigmalite import', 10, 40);
    progress.update('sigmalite import', 40, 40);
    progress.finish();
    progress.finish();
    const out = text();
    expect(out).toContain('sigmalite import [');
    expect(out).toContain('] 40/40 rows');
    expect(out.endsWith('\n')).toBe(true);
    // No escape sequence that hides the cursor or turns line wrapping off (ESC [ ? 25 l, 7 l).
    expect(out).not.toContain('[?25l');
    expect(out).not.toContain('[?7l');
  });
});
