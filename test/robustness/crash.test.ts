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

const SEED = 0xc0ffee;
const CLIENTS = 4;
/** Each round is killed this many acknowledgments after the clients start (plus 0-30 ms). */
const KILL_AFTER_ACKS = [1, 6, 25, 3, 60, 150, 12];

interface Ack {
  round: number;
  kind: 'servers' | 'drives';
  batch: string;
  objects: Obj[];
}

interface RoundStats {
  round: number;
  sent: number;
  acknowledged: number;
  /** Requests in flight when the process died: their outcome is unknown. */
  unanswered: number;
  /** Batches on disk after the restart that were never acknowledged (committed, answer lost). */
  committedUnacknowledged: number;
  servers: number;
  drives: number;
}

let storeArgs: string[] = [];
let cleanup: () => Promise<void> = async () => {};

beforeAll(async () => {
  if (TEST_STORE === 'postgres') {
    const database = `sigmalite_crash_${randomBytes(5).toString('hex')}`;
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
    const dir = mkdtempSync(join(tmpdir(), 'sigmalite-crash-'));
    storeArgs = ['--data', dir];
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);

afterAll(async () => {
  await killLeftovers();
  await cleanup();
}, 60_000);

// Fast transitions: the drives' `creating` phase ends soon after a restart.
const start = () => startServe([...storeArgs, '--port', '0', '--transitions', 'fast']);

function client(origin: string, authorization: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${origin}/api/2.0${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Obj };
  };
}

/**
 * One client's stream of bulk creates until the server goes away: drive batches (disks and
 * cdroms), then server batches attaching this client's own free disks (so clients never compete
 * for a disk) and some with a NIC.
 */
async function stream(
  origin: string,
  authorization: string,
  round: number,
  id: number,
  acks: Ack[],
  onAck: () => void,
): Promise<{ sent: number; acknowledged: number; unanswered: number; failures: string[] }> {
  const rng = new Rng(SEED + round * 100 + id);
  const free: string[] = [];
  const stats = { sent: 0, acknowledged: 0, unanswered: 0, failures: [] as string[] };
  for (let seq = 0; ; seq++) {
    const kind = free.length < 10 || rng.bool(0.25) ? 'drives' : 'servers';
    const size = 5 + rng.int(16);
    const batch = `r${round}-c${id}-${seq}`;
    const attached: string[] = [];
    const objects = Array.from({ length: size }, (_, index) => {
      const meta = { batch, size: String(size), index: String(index) };
      if (kind === 'drives') {
        return {
          name: `crash ${batch} ${index}`,
          size: 1073741824 * (1 + rng.int(4)),
          media: rng.bool(0.8) ? 'disk' : 'cdrom',
          meta,
        };
      }
      const server: Obj = {
        name: `crash ${batch} ${index}`,
        cpu: 1000 + 250 * rng.int(8),
        mem: 536870912,
        vnc_password: `pw-${batch}`,
        meta,
      };
      if (free.length > 0 && rng.bool(0.6)) {
        const drive = free.pop()!;
        attached.push(drive);
        server.drives = [{ drive, device: 'virtio', dev_channel: '0:0', boot_order: 1 }];
      }
      if (rng.bool(0.5)) server.nics = [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }];
      return server;
    });
    stats.sent++;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${origin}/api/2.0/${kind}/`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ objects }),
      });
      text = await res.text();
    } catch (e) {
      // The process is gone: killed while this request was in flight (its outcome is unknown),
      // or before it was sent (refused).
      const code = ((e as Error).cause as { code?: string } | undefined)?.code;
      if (code !== 'ECONNREFUSED') stats.unanswered++;
      return stats;
    }
    if (res.status !== 201) {
      stats.failures.push(`${kind} ${batch}: ${res.status} ${text.slice(0, 200)}`);
      continue;
    }
    const created = (JSON.parse(text) as Obj).objects as Obj[];
    acks.push({ round, kind, batch, objects: created });
    stats.acknowledged++;
    onAck();
    if (kind === 'drives') {
      for (const drive of created) if (drive.media === 'disk') free.push(drive.uuid as string);
    }
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

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Everything the restarted server holds, checked against what was acknowledged. */
async function verify(origin: string, authorization: string, acks: readonly Ack[]) {
  const api = client(origin, authorization);
  const problems: string[] = [];
  // Drives created before the kill finish their `creating` phase after the restart (their tasks
  // were in the store); wait for that, then compare.
  let drives: Obj[] = [];
  for (let i = 0; i < 300; i++) {
    drives = (await api('GET', '/drives/detail/?limit=0')).json.objects as Obj[];
    if (!drives.some((d) => d.status === 'creating')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (drives.some((d) => d.status === 'creating'))
    problems.push('drives still creating after 30 s');
  const servers = (await api('GET', '/servers/detail/?limit=0')).json.objects as Obj[];
  const byUuid = new Map<string, Obj>([...servers, ...drives].map((o) => [o.uuid as string, o]));

  // No partial bulk: each batch marker present is present in full.
  const batches = new Map<string, { size: number; indices: Set<string>; kinds: Set<string> }>();
  for (const [kind, list] of [
    ['servers', servers],
    ['drives', drives],
  ] as const) {
    for (const object of list) {
      const meta = object.meta as Record<string, string>;
      const group = batches.get(meta.batch!) ?? {
        size: Number(meta.size),
        indices: new Set<string>(),
        kinds: new Set<string>(),
      };
      group.indices.add(meta.index!);
      group.kinds.add(kind);
      batches.set(meta.batch!, group);
    }
  }
  for (const [batch, group] of batches) {
    const complete = Array.from({ length: group.size }, (_, i) => String(i)).every((i) =>
      group.indices.has(i),
    );
    if (!complete || group.indices.size !== group.size || group.kinds.size !== 1) {
      problems.push(`batch ${batch} is partial: ${group.indices.size} of ${group.size}`);
    }
  }

  // Every acknowledged object exists and is whole.
  const expectedMounts = new Map<string, string[]>();
  for (const ack of acks) {
    if (ack.kind !== 'servers') continue;
    for (const server of ack.objects) {
      for (const a of server.drives as Obj[]) {
        expectedMounts.set(a.drive.uuid, [
          ...(expectedMounts.get(a.drive.uuid) ?? []),
          server.uuid,
        ]);
      }
    }
  }
  const acknowledged = acks.flatMap((ack) => ack.objects.map((object) => ({ ack, object })));
  await inParallel(acknowledged, 8, async ({ ack, object }) => {
    const res = await api('GET', `/${ack.kind}/${object.uuid}/`);
    if (res.status !== 200) {
      problems.push(`acknowledged ${ack.kind} ${object.uuid} (${ack.batch}): GET ${res.status}`);
      return;
    }
    if (ack.kind === 'servers') {
      if (canon(res.json) !== canon(object)) {
        problems.push(`server ${object.uuid} (${ack.batch}) differs from its create answer`);
      }
      return;
    }
    // What changes once a drive is made: its status and whether it can be snapshotted yet.
    const { mounted_on, status, runtime, ...rest } = res.json;
    const { mounted_on: _m, status: _s, runtime: createdRuntime, ...createdRest } = object;
    if (
      canon({ ...runtime, is_snapshotable: null }) !==
      canon({ ...createdRuntime, is_snapshotable: null })
    ) {
      problems.push(`drive ${object.uuid} (${ack.batch}): runtime differs from its create answer`);
    }
    if (canon(rest) !== canon(createdRest)) {
      problems.push(`drive ${object.uuid} (${ack.batch}) differs from its create answer`);
    }
    const expected = expectedMounts.get(object.uuid as string);
    if (expected) {
      const got = (mounted_on as Obj[]).map((m) => m.uuid as string);
      if (canon(got) !== canon(expected) || status !== 'mounted') {
        problems.push(
          `drive ${object.uuid}: mounted_on ${canon(got)} (${status}), expected ${canon(expected)}`,
        );
      }
    }
  });

  // The relation both ways, the counts, the MACs.
  for (const server of servers) {
    for (const a of server.drives as Obj[]) {
      const drive = byUuid.get(a.drive.uuid as string);
      if (!drive) problems.push(`server ${server.uuid} attaches missing drive ${a.drive.uuid}`);
      else if (!(drive.mounted_on as Obj[]).some((m) => m.uuid === server.uuid)) {
        problems.push(`drive ${drive.uuid} does not list server ${server.uuid}`);
      }
    }
  }
  for (const drive of drives) {
    for (const m of drive.mounted_on as Obj[]) {
      const server = byUuid.get(m.uuid as string);
      if (!server || !(server.drives as Obj[]).some((a) => a.drive.uuid === drive.uuid)) {
        problems.push(`drive ${drive.uuid} lists server ${m.uuid}, which does not attach it`);
      }
    }
  }
  for (const [kind, list] of [
    ['servers', servers],
    ['drives', drives],
  ] as const) {
    const total = (await api('GET', `/${kind}/?limit=1`)).json.meta.total_count as number;
    if (total !== list.length)
      problems.push(`${kind}: total_count ${total}, listed ${list.length}`);
  }
  const macs = servers.flatMap((s) => (s.nics as Obj[]).map((n) => n.mac as string));
  if (new Set(macs).size !== macs.length) problems.push('a MAC is used twice');

  const acked = new Set(acks.map((ack) => ack.batch));
  return {
    problems,
    servers: servers.length,
    drives: drives.length,
    committedUnacknowledged: [...batches.keys()].filter((b) => !acked.has(b)).length,
  };
}

describe(`crash safety (${TEST_STORE})`, () => {
  it('keeps every acknowledged bulk create whole across SIGKILLs, and never a partial bulk', async () => {
    const rng = new Rng(SEED);
    let server: ServerProcess = await start();
    expect(server.users).toHaveLength(1);
    const { email, password } = server.users[0]!;
    const authorization = `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
    const acks: Ack[] = [];
    const rounds: RoundStats[] = [];
    const started = performance.now();

    for (const [round, killAfter] of KILL_AFTER_ACKS.entries()) {
      let acksThisRound = 0;
      let killed = false;
      const victim = server;
      const kill = () => {
        if (killed) return;
        killed = true;
        setTimeout(() => victim.child.kill('SIGKILL'), rng.int(30));
      };
      const results = await Promise.all(
        Array.from({ length: CLIENTS }, (_, id) =>
          stream(victim.origin, authorization, round, id, acks, () => {
            if (++acksThisRound >= killAfter) kill();
          }),
        ),
      );
      expect(await victim.exited).toBe('SIGKILL');
      expect(results.flatMap((r) => r.failures)).toEqual([]);

      server = await start();
      expect(server.users, 'no new account on a restart').toEqual([]);
      const check = await verify(server.origin, authorization, acks);
      expect(check.problems.slice(0, 20), `round ${round}`).toEqual([]);
      rounds.push({
        round,
        sent: results.reduce((n, r) => n + r.sent, 0),
        acknowledged: results.reduce((n, r) => n + r.acknowledged, 0),
        unanswered: results.reduce((n, r) => n + r.unanswered, 0),
        committedUnacknowledged: check.committedUnacknowledged,
        servers: check.servers,
        drives: check.drives,
      });
      expect(rounds.at(-1)!.acknowledged).toBeGreaterThanOrEqual(killAfter);
    }
    expect(await stopProcess(server, 'SIGTERM')).toBe(0);
    console.log(
      `crash rounds on ${TEST_STORE} (${Math.round(performance.now() - started)} ms):\n${rounds
        .map(
          (r) =>
            `  round ${r.round}: sent ${r.sent}, acknowledged ${r.acknowledged}, unanswered ${r.unanswered}, committed but unacknowledged ${r.committedUnacknowledged}; on disk ${r.servers} servers, ${r.drives} drives`,
        )
        .join('\n')}`,
    );
    // The kills came mid-stream: requests were in flight.
    expect(rounds.reduce((n, r) => n + r.unanswered, 0)).toBeGreaterThan(0);
  }, 180_000);
});
