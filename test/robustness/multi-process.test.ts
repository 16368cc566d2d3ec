/**
 * Three API processes on one PostgreSQL database (issue 16), clients spreading their requests over
 * them round-robin as behind a load balancer: one consistent cloud. A write through one process is
 * read through the others at once; websocket clients of every process hear every change; a
 * process killed (SIGKILL) while it runs a task leaves the task to another process serving the
 * same host, which finishes it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { POSTGRES_URL } from '../support/postgres.js';
import { TEST_STORE } from '../support/stores.js';
import { killLeftovers, type ServerProcess, startServe, stopProcess } from './server-process.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are walked freely in checks.
type Obj = Record<string, any>;

const ALICE = { email: 'alice@example.com', password: 'alice-secret' };
const AUTH = `Basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`;
/** A start takes 4 s: long enough to kill the process running it half way. */
const TRANSITIONS = 'fast,start=4000';

const database = `sigmalite_mp_${randomBytes(5).toString('hex')}`;
let processes: ServerProcess[] = [];

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function call(
  server: ServerProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Obj }> {
  const res = await fetch(`${server.origin}/api/2.0${path}`, {
    method,
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Obj };
}

/** Tasks running in `server` now (its /metrics). */
async function runningTasks(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.origin}/metrics`)).text();
  const match = /^sigmalite_tasks\{state="running"\} (\d+)$/m.exec(text);
  return Number(match?.[1] ?? 0);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A websocket client of one process, keeping the frames it hears. */
async function listen(server: ServerProcess): Promise<{ frames: Obj[]; ws: WebSocket }> {
  const ws = new WebSocket(`${server.origin.replace(/^http/, 'ws')}/websocket`, {
    headers: { authorization: AUTH },
  });
  const frames: Obj[] = [];
  ws.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString('utf8')) as Obj));
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  return { frames, ws };
}

describe.runIf(TEST_STORE === 'postgres')('three API processes on one PostgreSQL', () => {
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${database}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    const args = ['--store', url.toString(), '--port', '0', '--transitions', TRANSITIONS];
    const env = { SIGMALITE_USERS: `${ALICE.email}:${ALICE.password}` };
    // One after another: the first makes the schema and the account, the others find them.
    for (let i = 0; i < 3; i++) processes.push(await startServe(args, env));
  }, 120_000);

  afterAll(async () => {
    await killLeftovers();
    processes = [];
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }, 60_000);

  it('read their writes through any process', async () => {
    const [a, b, c] = processes as [ServerProcess, ServerProcess, ServerProcess];
    for (let i = 0; i < 6; i++) {
      const ring = [a, b, c].map((_, k) => processes[(i + k) % 3]!);
      const [one, two, three] = ring as [ServerProcess, ServerProcess, ServerProcess];
      const created = await call(one, 'POST', '/drives/', {
        objects: [{ name: `d${i}`, size: 1073741824, media: 'disk' }],
      });
      expect(created.status).toBe(201);
      const uuid = created.json.objects[0].uuid as string;
      // At once, through the other two.
      for (const other of [two, three]) {
        const got = await call(other, 'GET', `/drives/${uuid}/`);
        expect(got.status).toBe(200);
        expect(got.json.name).toBe(`d${i}`);
      }
      await until(
        'the drive created',
        async () =>
          (await call(three, 'GET', `/drives/${uuid}/`)).json.status === 'unmounted'
            ? true
            : undefined,
        10_000,
      );
      const renamed = await call(three, 'PUT', `/drives/${uuid}/`, {
        name: `r${i}`,
        size: 1073741824,
        media: 'disk',
      });
      expect(renamed.status).toBe(200);
      expect((await call(one, 'GET', `/drives/${uuid}/`)).json.name).toBe(`r${i}`);
      const listed = await call(two, 'GET', '/drives/detail/?limit=0');
      expect(listed.json.objects.find((d: Obj) => d.uuid === uuid)?.name).toBe(`r${i}`);
      expect(listed.json.meta.total_count).toBe(i + 1);
      const meta = await call(two, 'PUT', `/drives/${uuid}/`, {
        name: `r${i}`,
        size: 1073741824,
        media: 'disk',
        meta: { round: String(i) },
      });
      expect(meta.status).toBe(200);
      expect((await call(three, 'GET', `/drives/${uuid}/`)).json.meta).toEqual({
        round: String(i),
      });
    }
    const gone = (await call(a, 'GET', '/drives/?limit=1')).json.objects[0].uuid as string;
    expect((await call(b, 'DELETE', `/drives/${gone}/`)).status).toBe(204);
    expect((await call(c, 'GET', `/drives/${gone}/`)).status).toBe(404);
    expect((await call(a, 'GET', `/drives/${gone}/`)).status).toBe(404);
  }, 60_000);

  it('tell the websocket clients of every process of every change, whichever made it', async () => {
    const streams = await Promise.all(processes.map(listen));
    try {
      const names: string[] = [];
      for (let i = 0; i < 6; i++) {
        const via = processes[i % 3]!;
        const name = `ws${i}-${randomBytes(3).toString('hex')}`;
        names.push(name);
        const res = await call(via, 'POST', '/tags/', { objects: [{ name }] });
        expect(res.status).toBe(201);
      }
      for (const stream of streams) {
        await until(
          'every change on every stream',
          async () =>
            names.every((name) => stream.frames.some((f) => f.object?.name === name))
              ? true
              : undefined,
          10_000,
        );
      }
    } finally {
      for (const stream of streams) stream.ws.close();
    }
  }, 60_000);

  it('finish the task of a process killed while running it, in another process', async () => {
    const [a] = processes as [ServerProcess];
    const server = await call(a, 'POST', '/servers/', {
      objects: [{ name: 'survivor', cpu: 1000, mem: 536870912, vnc_password: 'pw-12345' }],
    });
    expect(server.status).toBe(201);
    const uuid = server.json.objects[0].uuid as string;
    expect((await call(a, 'POST', `/servers/${uuid}/action/?do=start`)).status).toBe(202);
    // Whichever process leased the start: it is killed half way through the 4 s.
    const holder = await until(
      'a process running the start',
      async () => {
        for (const p of processes) if ((await runningTasks(p)) > 0) return p;
        return undefined;
      },
      3_000,
    );
    const killedAt = Date.now();
    expect(await stopProcess(holder, 'SIGKILL')).toBe('SIGKILL');
    const survivors = processes.filter((p) => p !== holder);
    expect((await call(survivors[0]!, 'GET', `/servers/${uuid}/`)).json.status).toBe('starting');
    // Another process takes the task over (the dead one's lease is free once its connection is
    // gone, well within the 30 s lease) and finishes it.
    await until(
      'the server running',
      async () =>
        (await call(survivors[1]!, 'GET', `/servers/${uuid}/`)).json.status === 'running'
          ? true
          : undefined,
      20_000,
    );
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect((await call(survivors[0]!, 'GET', `/servers/${uuid}/`)).json.status).toBe('running');
    // The survivors go on working on it: a stop through either finishes.
    expect((await call(survivors[0]!, 'POST', `/servers/${uuid}/action/?do=stop`)).status).toBe(
      202,
    );
    await until(
      'the server stopped',
      async () =>
        (await call(survivors[1]!, 'GET', `/servers/${uuid}/`)).json.status === 'stopped'
          ? true
          : undefined,
      10_000,
    );
  }, 60_000);
});
