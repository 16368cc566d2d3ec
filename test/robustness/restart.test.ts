/**
 * Restart safety of the lifecycle: with `--transitions default` (every transition visible for
 * 1.5-3 s), dozens of servers start, stop and shut down, drives and servers are cloned, and the
 * process is SIGKILLed while those transitions are under way (and some requests are in flight).
 * Restarted on the same data, it must finish what it acknowledged:
 *
 * - once nothing is transitional, every object is in the state its task produces: started
 *   servers `running` (with a leased address), stopped and shut down ones `stopped`, drive clones
 *   `unmounted` and server clones `stopped` with their disks `mounted` on them, their jobs (and
 *   child jobs) `success`, clone sources back to `mounted`/`unmounted`;
 * - no acknowledged (202) action is lost; an action whose answer was lost took effect whole or
 *   not at all; objects no action touched are as they were;
 * - no task is left behind: nothing stays transitional, no job stays `started`, and a settled
 *   server restarted once more changes nothing;
 * - the server–drive relation is consistent both ways, and running servers hold distinct
 *   addresses.
 *
 * Several rounds, each killed at another point (requests still arriving; starts and stops half
 * done; starts and stops done but clones not). The sqlite project runs it on a data directory,
 * the postgres project on a database of its own through `--store`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL } from '../support/postgres.js';
import { TEST_STORE } from '../support/stores.js';
import { killLeftovers, type ServerProcess, startServe, stopProcess } from './server-process.js';
import { Rng } from './wire.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are walked freely in checks.
type Obj = Record<string, any>;

const SEED = 0x5eed;
const USER = { email: 'restart@example.com', password: 'restart-secret' };
const AUTH = `Basic ${Buffer.from(`${USER.email}:${USER.password}`).toString('base64')}`;
const GiB = 1073741824;
const SERVERS = 30;
const FREE_DRIVES = 10;
const WORKERS = 4;
/** The longest transition of `--transitions default` (a clone), in ms. */
const LONGEST_TRANSITION = 3_000;

/** When each round is killed: after this share of its requests is acknowledged, plus a delay. */
const ROUNDS = [
  { killAtShare: 0.5, delayMs: 0 },
  { killAtShare: 1, delayMs: 800 },
  { killAtShare: 1, delayMs: 2_300 },
];

/** Anything else is transitional (servers `starting`, `stopping`, `cloning`...). */
const STABLE_SERVER = ['running', 'stopped'];
const STABLE_DRIVE = ['mounted', 'unmounted'];

let storeArgs: string[] = [];
let cleanup: () => Promise<void> = async () => {};

beforeAll(async () => {
  if (TEST_STORE === 'postgres') {
    const database = `sigmalite_restart_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    storeArgs = ['--store', url.toString()];
    cleanup = async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
    };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'sigmalite-restart-'));
    storeArgs = ['--data', dir];
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);

afterAll(async () => {
  await killLeftovers();
  await cleanup();
}, 60_000);

const start = () =>
  startServe([...storeArgs, '--port', '0', '--transitions', 'default'], {
    SIGMALITE_USERS: `${USER.email}:${USER.password}`,
  });

/** The process went away while the request was out (or before it was sent). */
class Gone extends Error {
  constructor(readonly sent: boolean) {
    super(sent ? 'no answer: the process died' : 'refused: the process is gone');
  }
}

function api(origin: string) {
  return async (method: string, path: string, body?: unknown) => {
    let res: Response;
    try {
      res = await fetch(`${origin}/api/2.0${path}`, {
        method,
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      const code = ((e as Error).cause as { code?: string } | undefined)?.code;
      throw new Gone(code !== 'ECONNREFUSED');
    }
    let text: string;
    try {
      text = await res.text();
    } catch {
      throw new Gone(true);
    }
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Obj };
  };
}

type Api = ReturnType<typeof api>;

async function must(call: Promise<{ status: number; json: Obj }>, status: number, what: string) {
  const res = await call;
  if (res.status !== status) {
    throw new Error(`${what}: ${res.status} ${JSON.stringify(res.json).slice(0, 300)}`);
  }
  return res.json;
}

interface World {
  servers: Obj[];
  drives: Obj[];
  jobs: Obj[];
}

async function snapshot(call: Api): Promise<World> {
  const [servers, drives, jobs] = await Promise.all(
    ['/servers/detail/?limit=0', '/drives/detail/?limit=0', '/jobs/?limit=0'].map(
      async (path) => (await must(call('GET', path), 200, path)).objects,
    ),
  );
  return { servers, drives, jobs } as World;
}

function transitional(world: World): string[] {
  return [
    ...world.servers
      .filter((s) => !STABLE_SERVER.includes(s.status))
      .map((s) => `server ${s.name} ${s.status}`),
    ...world.drives
      .filter((d) => !STABLE_DRIVE.includes(d.status))
      .map((d) => `drive ${d.name} ${d.status}`),
    ...world.jobs.filter((j) => j.state !== 'success').map((j) => `job ${j.uuid} ${j.state}`),
  ];
}

/** Polls until no server, drive or job is transitional; fails with what is still moving. */
async function settle(call: Api, label: string, timeoutMs = 45_000): Promise<World> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const world = await snapshot(call);
    const moving = transitional(world);
    if (moving.length === 0) return world;
    if (Date.now() > deadline) {
      throw new Error(`${label}: still transitional after ${timeoutMs} ms:\n${moving.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The JSON of a value with object keys sorted at every level. */
function canon(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v === null || typeof v !== 'object' || Array.isArray(v)
      ? v
      : Object.fromEntries(
          Object.entries(v as Obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        ),
  );
}

// ---------------------------------------------------------------------------------------------
// Actions and what they must produce

type Kind = 'start' | 'stop' | 'shutdown' | 'drive-clone' | 'server-clone';

interface Action {
  kind: Kind;
  /** The server or drive acted on. */
  target: string;
  /** The name a clone gets (clones are found by it when the answer was lost). */
  cloneName?: string;
  outcome: 'acknowledged' | 'unanswered' | 'unsent';
  /** The 202 answer. */
  answer?: Obj;
}

function plan(rng: Rng, round: number, world: World): Action[] {
  const actions: Action[] = [];
  const attached = new Set(world.servers.flatMap((s) => s.drives.map((a: Obj) => a.drive.uuid)));
  let serverClones = 0;
  const untouched: Obj[] = [];
  for (const server of world.servers) {
    if (server.status === 'running') {
      if (rng.bool(0.8)) {
        actions.push({
          kind: rng.bool(0.3) ? 'shutdown' : 'stop',
          target: server.uuid,
          outcome: 'unsent',
        });
      }
    } else if (server.drives.length > 0 && serverClones < 4 && rng.bool(0.15)) {
      serverClones++;
      const cloneName = `r${round}-server-clone-${serverClones}`;
      actions.push({ kind: 'server-clone', target: server.uuid, cloneName, outcome: 'unsent' });
    } else if (rng.bool(0.7)) {
      actions.push({ kind: 'start', target: server.uuid, outcome: 'unsent' });
    } else {
      untouched.push(server);
    }
  }
  // Drive clones: free drives, and disks of stopped servers nothing else acts on (a mounted
  // source goes back to `mounted`).
  const sources = [
    ...world.drives.filter((d) => !attached.has(d.uuid)).map((d) => d.uuid as string),
    ...untouched.flatMap((s) => s.drives.map((a: Obj) => a.drive.uuid as string)),
  ];
  for (const [i, source] of rng.sample(sources, Math.min(8, sources.length)).entries()) {
    actions.push({
      kind: 'drive-clone',
      target: source,
      cloneName: `r${round}-drive-clone-${i}`,
      outcome: 'unsent',
    });
  }
  return rng.sample(actions, actions.length);
}

async function send(call: Api, action: Action): Promise<void> {
  const paths: Record<Kind, string> = {
    start: `/servers/${action.target}/action/?do=start`,
    stop: `/servers/${action.target}/action/?do=stop`,
    shutdown: `/servers/${action.target}/action/?do=shutdown`,
    'server-clone': `/servers/${action.target}/action/?do=clone`,
    'drive-clone': `/drives/${action.target}/action/?do=clone`,
  };
  const body = action.cloneName === undefined ? {} : { name: action.cloneName };
  try {
    const res = await call('POST', paths[action.kind], body);
    if (res.status !== 202) {
      throw new Error(`${action.kind} ${action.target}: ${res.status} ${JSON.stringify(res.json)}`);
    }
    action.outcome = 'acknowledged';
    action.answer = res.json;
  } catch (e) {
    if (!(e instanceof Gone)) throw e;
    action.outcome = e.sent ? 'unanswered' : 'unsent';
  }
}

/** Sends the actions from a few workers with small pauses; calls `onAck` after each 202. */
async function fire(rng: Rng, call: Api, actions: Action[], onAck: () => void): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < actions.length) {
        const action = actions[next++]!;
        await send(call, action);
        if (action.outcome === 'unsent') return;
        if (action.outcome === 'acknowledged') onAck();
        await new Promise((resolve) => setTimeout(resolve, rng.int(40)));
      }
    }),
  );
}

/**
 * Checks the settled world against the one before the round and what the round did. Returns the
 * problems found.
 */
function verify(before: World, after: World, actions: readonly Action[]): string[] {
  const problems: string[] = [];
  const server = new Map(after.servers.map((s) => [s.uuid as string, s]));
  const drive = new Map(after.drives.map((d) => [d.uuid as string, d]));
  const job = new Map(after.jobs.map((j) => [j.uuid as string, j]));
  const expected = new Map<string, string[]>();
  for (const s of before.servers) expected.set(s.uuid, [s.status]);
  for (const d of before.drives) expected.set(d.uuid, [d.status]);

  const knownNew = new Set<string>();
  const expectJobDone = (uuid: string, what: string) => {
    const j = job.get(uuid);
    if (!j) problems.push(`${what}: job ${uuid} is missing`);
    else if (j.state !== 'success' || j.data.progress !== 100) {
      problems.push(`${what}: job ${uuid} is ${j.state} at ${j.data.progress}%`);
    }
    for (const child of j?.children ?? []) {
      if (child.state !== 'success')
        problems.push(`${what}: child job ${child.uuid} ${child.state}`);
      if (job.get(child.uuid)?.state !== 'success') {
        problems.push(`${what}: child job ${child.uuid} is not a finished job of its own`);
      }
    }
  };
  const checkDriveClone = (clone: Obj, sourceUuid: string, what: string) => {
    knownNew.add(clone.uuid);
    if (clone.status !== 'unmounted' || clone.mounted_on.length !== 0) {
      problems.push(`${what}: clone ${clone.uuid} is ${clone.status}`);
    }
    const jobs = clone.jobs.map((j: Obj) => j.uuid as string);
    if (jobs.length !== 1) problems.push(`${what}: clone has jobs ${canon(jobs)}`);
    for (const uuid of jobs) {
      expectJobDone(uuid, what);
      if (!drive.get(sourceUuid)?.jobs.some((j: Obj) => j.uuid === uuid)) {
        problems.push(`${what}: source ${sourceUuid} does not list the clone's job ${uuid}`);
      }
    }
  };
  const checkServerClone = (clone: Obj, source: Obj | undefined, what: string) => {
    knownNew.add(clone.uuid);
    if (clone.status !== 'stopped')
      problems.push(`${what}: clone ${clone.uuid} is ${clone.status}`);
    if (clone.drives.length !== (source?.drives.length ?? -1)) {
      problems.push(`${what}: clone has ${clone.drives.length} drives`);
    }
    for (const [i, a] of (clone.drives as Obj[]).entries()) {
      const copy = drive.get(a.drive.uuid);
      knownNew.add(a.drive.uuid);
      if (a.drive.uuid === source?.drives[i]?.drive.uuid) {
        problems.push(`${what}: clone attaches the source's disk itself`);
      }
      if (copy?.status !== 'mounted') {
        problems.push(`${what}: cloned disk ${a.drive.uuid} is ${copy?.status ?? 'missing'}`);
      }
    }
    if (clone.jobs.length !== 1) problems.push(`${what}: clone has ${clone.jobs.length} jobs`);
    for (const j of clone.jobs) {
      expectJobDone(j.uuid, what);
      const children = job.get(j.uuid)?.children ?? [];
      if (children.length !== clone.drives.length) {
        problems.push(`${what}: ${children.length} child jobs for ${clone.drives.length} disks`);
      }
    }
  };

  for (const action of actions) {
    const what = `${action.kind} ${action.target} (${action.outcome})`;
    const done = action.outcome === 'acknowledged';
    const maybe = action.outcome === 'unanswered';
    switch (action.kind) {
      case 'start':
        expected.set(
          action.target,
          done ? ['running'] : maybe ? ['stopped', 'running'] : ['stopped'],
        );
        break;
      case 'stop':
      case 'shutdown':
        expected.set(
          action.target,
          done ? ['stopped'] : maybe ? ['running', 'stopped'] : ['running'],
        );
        break;
      case 'drive-clone': {
        const clones = after.drives.filter((d) => d.name === action.cloneName);
        if (done) {
          const uuid = action.answer!.objects[0].uuid as string;
          const clone = drive.get(uuid);
          if (!clone) problems.push(`${what}: acknowledged clone ${uuid} is missing`);
          else checkDriveClone(clone, action.target, what);
          if (clones.length !== 1) problems.push(`${what}: ${clones.length} drives named so`);
        } else if (clones.length > (maybe ? 1 : 0)) {
          problems.push(`${what}: ${clones.length} clones`);
        } else {
          for (const clone of clones) checkDriveClone(clone, action.target, what);
        }
        break;
      }
      case 'server-clone': {
        const source = server.get(action.target);
        const clones = after.servers.filter((s) => s.name === action.cloneName);
        if (done) {
          const uuid = action.answer!.uuid as string;
          const clone = server.get(uuid);
          if (!clone) problems.push(`${what}: acknowledged clone ${uuid} is missing`);
          else checkServerClone(clone, source, what);
          if (clones.length !== 1) problems.push(`${what}: ${clones.length} servers named so`);
        } else if (clones.length > (maybe ? 1 : 0)) {
          problems.push(`${what}: ${clones.length} clones`);
        } else {
          for (const clone of clones) checkServerClone(clone, source, what);
        }
        break;
      }
    }
  }

  // Every object: in the state expected (sources back to theirs), nothing unexplained.
  for (const [uuid, statuses] of expected) {
    const object = server.get(uuid) ?? drive.get(uuid);
    if (!object) problems.push(`${uuid} (was ${statuses.join('|')}) is gone`);
    else if (!statuses.includes(object.status)) {
      problems.push(`${object.name} ${uuid}: ${object.status}, expected ${statuses.join('|')}`);
    }
  }
  for (const object of [...after.servers, ...after.drives]) {
    if (!expected.has(object.uuid) && !knownNew.has(object.uuid)) {
      problems.push(`unexplained object ${object.name} ${object.uuid}`);
    }
  }
  const referenced = new Set(
    [...after.servers, ...after.drives].flatMap((o) => o.jobs.map((j: Obj) => j.uuid as string)),
  );
  for (const j of after.jobs) {
    const isChild = after.jobs.some((p) => p.children.some((c: Obj) => c.uuid === j.uuid));
    if (!referenced.has(j.uuid) && !isChild) problems.push(`job ${j.uuid} belongs to nothing`);
  }

  // Runtime: running servers have theirs and distinct addresses; stopped ones none.
  const addresses: string[] = [];
  for (const s of after.servers) {
    if (s.status === 'running') {
      if (!s.runtime?.active_since) problems.push(`running ${s.uuid} has no runtime`);
      for (const nic of s.nics) {
        if (!nic.runtime?.ip_v4) problems.push(`running ${s.uuid}: NIC ${nic.mac} has no address`);
        else addresses.push(nic.runtime.ip_v4.uuid);
      }
      for (const a of s.drives) {
        if (!a.runtime) problems.push(`running ${s.uuid}: drive ${a.drive.uuid} has no runtime`);
      }
    } else if (s.runtime !== null || s.nics.some((n: Obj) => n.runtime !== null)) {
      problems.push(`stopped ${s.uuid} keeps a runtime`);
    }
  }
  if (new Set(addresses).size !== addresses.length) problems.push('an address is leased twice');

  // The server–drive relation both ways.
  for (const s of after.servers) {
    for (const a of s.drives) {
      const d = drive.get(a.drive.uuid);
      if (!d) problems.push(`server ${s.uuid} attaches missing drive ${a.drive.uuid}`);
      else if (!d.mounted_on.some((m: Obj) => m.uuid === s.uuid)) {
        problems.push(`drive ${d.uuid} does not list server ${s.uuid}`);
      }
    }
  }
  for (const d of after.drives) {
    for (const m of d.mounted_on) {
      const s = server.get(m.uuid);
      if (!s?.drives.some((a: Obj) => a.drive.uuid === d.uuid)) {
        problems.push(`drive ${d.uuid} lists server ${m.uuid}, which does not attach it`);
      }
    }
    if (d.mounted_on.length > 0 !== (d.status === 'mounted')) {
      problems.push(`drive ${d.uuid} is ${d.status} on ${d.mounted_on.length} servers`);
    }
  }
  return problems;
}

/** Servers and drives as the API renders them, keyed by uuid, for before/after comparison. */
function stateOf(world: World): string {
  return canon({
    servers: Object.fromEntries(world.servers.map((s) => [s.uuid, s])),
    drives: Object.fromEntries(world.drives.map((d) => [d.uuid, d])),
    jobs: Object.fromEntries(world.jobs.map((j) => [j.uuid, j])),
  });
}

describe(`restart safety of the lifecycle (${TEST_STORE})`, () => {
  it('finishes every acknowledged start, stop and clone after a SIGKILL mid-transition', async () => {
    const rng = new Rng(SEED);
    let server: ServerProcess = await start();
    let call = api(server.origin);
    const started = performance.now();

    // Servers with a disk and a DHCP NIC each, half of them running; some free drives.
    const drives = await must(
      call('POST', '/drives/', {
        objects: Array.from({ length: SERVERS + FREE_DRIVES }, (_, i) => ({
          name: `disk ${i}`,
          size: GiB * (1 + (i % 3)),
          media: 'disk',
        })),
      }),
      201,
      'create drives',
    );
    await settle(call, 'drives made');
    const servers = await must(
      call('POST', '/servers/', {
        objects: Array.from({ length: SERVERS }, (_, i) => ({
          name: `server ${i}`,
          cpu: 1000,
          mem: 536870912,
          vnc_password: 'restart',
          drives: [
            { drive: drives.objects[i].uuid, device: 'virtio', dev_channel: '0:0', boot_order: 1 },
          ],
          nics: [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }],
        })),
      }),
      201,
      'create servers',
    );
    for (const s of servers.objects.slice(0, SERVERS / 2)) {
      await must(call('POST', `/servers/${s.uuid}/action/?do=start`, {}), 202, 'start');
    }
    let world = await settle(call, 'servers made');
    expect(world.servers.filter((s) => s.status === 'running')).toHaveLength(SERVERS / 2);

    const summary: string[] = [];
    for (const [round, { killAtShare, delayMs }] of ROUNDS.entries()) {
      const actions = plan(rng, round, world);
      const killAt = Math.max(1, Math.ceil(actions.length * killAtShare));
      const victim = server;
      let acks = 0;
      let killed = false;
      const kill = () => {
        if (killed) return;
        killed = true;
        setTimeout(() => victim.child.kill('SIGKILL'), delayMs + rng.int(30));
      };
      await fire(rng, call, actions, () => {
        if (++acks >= killAt) kill();
      });
      kill();
      expect(await victim.exited).toBe('SIGKILL');

      server = await start();
      call = api(server.origin);
      const after = await settle(call, `round ${round}`);
      const problems = verify(world, after, actions);
      expect(problems.slice(0, 30), `round ${round}`).toEqual([]);
      const count = (outcome: Action['outcome']) =>
        actions.filter((a) => a.outcome === outcome).length;
      summary.push(
        `round ${round}: ${actions.length} actions (${['start', 'stop', 'shutdown', 'drive-clone', 'server-clone'].map((k) => `${actions.filter((a) => a.kind === k).length} ${k}`).join(', ')}); acknowledged ${count('acknowledged')}, unanswered ${count('unanswered')}, unsent ${count('unsent')}; now ${after.servers.length} servers, ${after.drives.length} drives, ${after.jobs.length} jobs`,
      );
      expect(count('acknowledged')).toBeGreaterThanOrEqual(killAt);
      world = after;
    }

    // Settled data restarted once more: nothing moves (no task was left to act), even after the
    // longest transition.
    const settled = stateOf(world);
    expect(await stopProcess(server, 'SIGKILL')).toBe('SIGKILL');
    server = await start();
    call = api(server.origin);
    await new Promise((resolve) => setTimeout(resolve, LONGEST_TRANSITION + 500));
    const again = await snapshot(call);
    expect(transitional(again)).toEqual([]);
    expect(stateOf(again)).toBe(settled);

    // And the objects still work: every running server stops, every server and drive goes.
    const running = again.servers.filter((s) => s.status === 'running');
    for (const s of running) {
      await must(call('POST', `/servers/${s.uuid}/action/?do=stop`, {}), 202, 'final stop');
    }
    await settle(call, 'final stop');
    for (const s of again.servers) {
      await must(call('DELETE', `/servers/${s.uuid}/?recurse=all_drives`), 204, 'delete server');
    }
    const left = await snapshot(call);
    for (const d of left.drives) await must(call('DELETE', `/drives/${d.uuid}/`), 204, 'delete');
    const empty = await snapshot(call);
    expect([empty.servers.length, empty.drives.length]).toEqual([0, 0]);

    expect(await stopProcess(server, 'SIGTERM')).toBe(0);
    console.log(
      `restart rounds on ${TEST_STORE} (${Math.round(performance.now() - started)} ms):\n  ${summary.join('\n  ')}`,
    );
  }, 240_000);
});
