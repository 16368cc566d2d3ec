/**
 * Clients racing on one object through the HTTP API (on the store of the project: SQLite, or
 * PostgreSQL with SIGMALITE_TEST_STORE=postgres):
 *
 * - concurrent PUTs that change different top-level fields of one server (or drive): after each
 *   round every field a successful PUT set has that PUT's value (no lost update);
 * - two or three clients attaching one disk without allow_multimount to different servers at the
 *   same time: exactly one wins, the disk's `mounted_on` names exactly that server, and the others
 *   have no drives (and a losing create leaves no server behind);
 * - an attach racing a detach, and an attach racing the disk's deletion: the server-drive relation
 *   stays consistent both ways and no server keeps a reference to a deleted disk.
 *
 * Every answer is one the API documents for the case (200/201/204, or 400 `validation` on
 * `drives` for the loser); a 503 `concurrency` is accepted only when nothing of it took effect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attach, createDrive, createServer, getObject, type Obj } from '../support/api.js';
import { type Response, serverBody, startTestApp, type TestApp } from '../support/app.js';
import { TEST_STORE } from '../support/stores.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const ROUNDS = 40;
const JSON_TYPE = 'application/json; charset=utf-8';

/** The first error of a CloudSigma error answer. */
function firstError(res: Response): { error_type?: string; error_point?: string | null } {
  return Array.isArray(res.json) ? (res.json[0] ?? {}) : {};
}

/** True for a 503 `concurrency` answer in the CloudSigma format. */
function isConcurrency(res: Response): boolean {
  return (
    res.status === 503 &&
    res.headers.get('content-type') === JSON_TYPE &&
    firstError(res).error_type === 'concurrency'
  );
}

/** The uuids a server's `drives` attach. */
const attached = (server: Obj) => (server.drives as Obj[]).map((a) => a.drive.uuid as string);
/** The servers a drive's `mounted_on` names. */
const mountedOn = (drive: Obj) => (drive.mounted_on as Obj[]).map((m) => m.uuid as string);

describe(`races on one object (${TEST_STORE})`, () => {
  it('concurrent PUTs of different server fields lose no update', async () => {
    const server = await createServer(t.alice, { name: 'race', meta: { round: 'none' } });
    const path = `/servers/${server.uuid}/`;
    // Each writer owns one field; its value in a round is derived from the round.
    const writers: { field: string; value: (round: number) => unknown }[] = [
      { field: 'name', value: (r) => `race ${r} \u{1f984}` },
      { field: 'cpu', value: (r) => 1000 + (r % 36) * 50 + 1 },
      { field: 'meta', value: (r) => ({ round: String(r), writer: 'meta' }) },
      { field: 'vnc_password', value: (r) => `pw-${r}` },
      { field: 'context', value: (r) => r % 2 === 0 },
      { field: 'mem', value: (r) => 536870912 + r * 1048576 },
    ];
    let previous = await getObject(t.alice, path);
    let conflicts = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await Promise.all(
        writers.map((w) => t.alice.put(path, { [w.field]: w.value(round) })),
      );
      const now = await getObject(t.alice, path);
      answers.forEach((res, i) => {
        const { field, value } = writers[i]!;
        const label = `round ${round}, ${field}`;
        if (isConcurrency(res)) {
          conflicts++;
          expect(now[field], `${label}: a 503 must change nothing`).toEqual(previous[field]);
          return;
        }
        expect(res.status, `${label}: ${res.text}`).toBe(200);
        expect(res.headers.get('content-type')).toBe(JSON_TYPE);
        expect(res.json[field], `${label}: the answer`).toEqual(value(round));
        expect(now[field], `${label}: lost update`).toEqual(value(round));
      });
      // Nothing else moved.
      const untouched = (o: Obj) => {
        const copy = { ...o };
        for (const w of writers) delete copy[w.field];
        return copy;
      };
      expect(untouched(now)).toEqual(untouched(previous));
      previous = now;
    }
    expect(conflicts, 'retries ran out on a single object').toBeLessThan(ROUNDS * writers.length);
  }, 60_000);

  it('concurrent PUTs of different drive fields lose no update', async () => {
    const drive = await createDrive(t.alice, { name: 'race drive' });
    const path = `/drives/${drive.uuid}/`;
    const base = drive.size as number;
    const writers: { field: string; value: (round: number) => unknown }[] = [
      { field: 'name', value: (r) => `race drive ${r}` },
      { field: 'size', value: (r) => base + (r + 1) * 1073741824 },
      { field: 'meta', value: (r) => ({ round: String(r) }) },
      { field: 'allow_multimount', value: (r) => r % 2 === 1 },
    ];
    let previous = await getObject(t.alice, path);
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await Promise.all(
        writers.map((w) => t.alice.put(path, { [w.field]: w.value(round) })),
      );
      const now = await getObject(t.alice, path);
      answers.forEach((res, i) => {
        const { field, value } = writers[i]!;
        const label = `round ${round}, ${field}`;
        if (isConcurrency(res)) {
          expect(now[field], `${label}: a 503 must change nothing`).toEqual(previous[field]);
          return;
        }
        expect(res.status, `${label}: ${res.text}`).toBe(200);
        expect(now[field], `${label}: lost update`).toEqual(value(round));
      });
      previous = now;
    }
  }, 60_000);

  it('bulk PUTs over the same servers in opposite orders lose no update', async () => {
    // Each request locks the servers in its own order: on PostgreSQL this deadlocks, and the
    // store must run the loser again (or answer 503 with nothing changed), never half-apply it.
    // PostgreSQL finds a deadlock after deadlock_timeout (1 s by default): few rounds.
    const a = await createServer(t.alice, { name: 'bulk a' });
    const b = await createServer(t.alice, { name: 'bulk b' });
    let previous = [
      await getObject(t.alice, `/servers/${a.uuid}/`),
      await getObject(t.alice, `/servers/${b.uuid}/`),
    ];
    let conflicts = 0;
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const name = `bulk ${round}`;
      const cpu = 1000 + (round % 30) * 50 + 7;
      const meta = { round: String(round) };
      const [byName, byCpu, byMeta] = await Promise.all([
        t.alice.put('/servers/', {
          objects: [
            { uuid: a.uuid, name },
            { uuid: b.uuid, name },
          ],
        }),
        t.alice.put('/servers/', {
          objects: [
            { uuid: b.uuid, cpu },
            { uuid: a.uuid, cpu },
          ],
        }),
        t.alice.put('/servers/', {
          objects: [
            { uuid: a.uuid, meta },
            { uuid: b.uuid, meta },
          ],
        }),
      ]);
      const now = [
        await getObject(t.alice, `/servers/${a.uuid}/`),
        await getObject(t.alice, `/servers/${b.uuid}/`),
      ];
      for (const [field, value, res] of [
        ['name', name, byName],
        ['cpu', cpu, byCpu],
        ['meta', meta, byMeta],
      ] as const) {
        const label = `round ${round}, ${field}`;
        if (isConcurrency(res)) {
          conflicts++;
          expect(
            now.map((s) => s[field]),
            `${label}: a 503 must change nothing`,
          ).toEqual(previous.map((s) => s[field]));
          continue;
        }
        expect(res.status, `${label}: ${res.text}`).toBe(200);
        expect(
          now.map((s) => s[field]),
          `${label}: lost or half-applied`,
        ).toEqual([value, value]);
      }
      previous = now;
    }
    expect(conflicts).toBeLessThan(rounds * 3);
  }, 60_000);

  it('two or three clients attaching one disk: exactly one wins', async () => {
    const styles = ['two PUTs', 'a POST and a PUT', 'three PUTs', 'two bulk PUTs'] as const;
    const tally = { wins: 0, losses: 0, conflicts: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const style = styles[round % styles.length]!;
      const disk = await createDrive(t.alice, { name: `contested ${round}` });
      const servers = await Promise.all(
        [0, 1, 2].map((i) => createServer(t.alice, { name: `contender ${round}.${i}` })),
      );
      const entry = [attach(disk.uuid, 'virtio', '0:0')];
      const serversBefore = (await t.alice.get('/servers/?limit=1')).json.meta.total_count;
      let requests: Promise<Response>[];
      switch (style) {
        case 'two PUTs':
          requests = servers
            .slice(0, 2)
            .map((s) => t.alice.put(`/servers/${s.uuid}/`, { drives: entry }));
          break;
        case 'three PUTs':
          requests = servers.map((s) => t.alice.put(`/servers/${s.uuid}/`, { drives: entry }));
          break;
        case 'a POST and a PUT':
          requests = [
            t.alice.post('/servers/', {
              objects: [serverBody({ name: `new ${round}`, drives: entry })],
            }),
            t.alice.put(`/servers/${servers[0]!.uuid}/`, { drives: entry }),
          ];
          break;
        case 'two bulk PUTs':
          requests = servers
            .slice(0, 2)
            .map((s) => t.alice.put('/servers/', { objects: [{ uuid: s.uuid, drives: entry }] }));
          break;
      }
      const answers = await Promise.all(requests);
      const label = `round ${round} (${style})`;

      const winners: string[] = [];
      for (const [i, res] of answers.entries()) {
        if (res.status === 200 || res.status === 201) {
          const body = (res.json.objects?.[0] ?? res.json) as Obj;
          expect(attached(body), label).toEqual([disk.uuid]);
          winners.push(body.uuid as string);
        } else if (isConcurrency(res)) {
          tally.conflicts++;
        } else {
          expect(res.status, `${label}, request ${i}: ${res.text}`).toBe(400);
          expect(res.headers.get('content-type')).toBe(JSON_TYPE);
          expect(firstError(res), label).toMatchObject({
            error_type: 'validation',
            error_point: 'drives',
          });
          tally.losses++;
        }
      }
      expect(winners, `${label}: winners`).toHaveLength(1);
      tally.wins++;
      const winner = winners[0]!;

      const after = await getObject(t.alice, `/drives/${disk.uuid}/`);
      expect(mountedOn(after), label).toEqual([winner]);
      expect(after.status, label).toBe('mounted');
      for (const s of servers) {
        const now = await getObject(t.alice, `/servers/${s.uuid}/`);
        expect(attached(now), `${label}: server ${s.uuid}`).toEqual(
          s.uuid === winner ? [disk.uuid] : [],
        );
      }
      // A losing create leaves no server; a winning one adds exactly one.
      const created =
        style === 'a POST and a PUT' && !servers.some((s) => s.uuid === winner) ? 1 : 0;
      const serversAfter = (await t.alice.get('/servers/?limit=1')).json.meta.total_count;
      expect(serversAfter, `${label}: servers created`).toBe(serversBefore + created);
    }
    expect(tally.wins).toBe(ROUNDS);
    expect(tally.losses + tally.conflicts).toBeGreaterThanOrEqual(ROUNDS);
  }, 120_000);

  it('attach racing detach, and attach racing delete, keep the relation consistent', async () => {
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    for (let round = 0; round < ROUNDS; round++) {
      const deleting = round % 2 === 1;
      const disk = await createDrive(t.alice, { name: `moving ${round}` });
      const entry = [attach(disk.uuid, 'virtio', '0:0')];
      // Detach race: the disk moves from holder to taker. Delete race: the disk is free.
      const holder = await createServer(t.alice, {
        name: `holder ${round}`,
        drives: deleting ? [] : entry,
      });
      const taker = await createServer(t.alice, { name: `taker ${round}` });
      const [first, second] = await Promise.all([
        deleting
          ? t.alice.delete(`/drives/${disk.uuid}/`)
          : t.alice.put(`/servers/${holder.uuid}/`, { drives: [] }),
        t.alice.put(`/servers/${taker.uuid}/`, { drives: entry }),
      ]);
      const label = `round ${round} (${deleting ? 'delete' : 'detach'})`;
      expect(first.status, `${label}: ${first.text}`).toBe(deleting ? 204 : 200);
      // Detach: the attach wins if it runs after the detach; else it is refused (the disk is
      // taken). Delete: an attach that runs first is undone by the delete (the server is
      // stopped); one that runs after is refused (the disk is gone).
      if (second.status === 200) count(deleting ? 'attach, then delete' : 'detach, then attach');
      else {
        expect(second.status, `${label}: ${second.text}`).toBe(400);
        expect(firstError(second).error_type).toBe('validation');
        count(deleting ? 'delete, then attach refused' : 'attach refused, then detach');
      }

      const disks = await t.alice.get(`/drives/${disk.uuid}/`);
      const holderNow = await getObject(t.alice, `/servers/${holder.uuid}/`);
      const takerNow = await getObject(t.alice, `/servers/${taker.uuid}/`);
      expect(attached(holderNow), label).toEqual([]);
      if (deleting) {
        // Deleted in the end, whichever ran first: nobody attaches it any more.
        expect(disks.status, label).toBe(404);
        expect(attached(takerNow), `${label}: a reference to a deleted disk`).toEqual([]);
      } else {
        expect(disks.status, label).toBe(200);
        const holders = [holderNow, takerNow].filter((s) => attached(s).includes(disk.uuid));
        expect(mountedOn(disks.json), label).toEqual(holders.map((s) => s.uuid));
        expect(attached(takerNow), label).toEqual(second.status === 200 ? [disk.uuid] : []);
      }
    }
    console.log(`attach races on ${TEST_STORE}:`, Object.fromEntries(outcomes));
  }, 120_000);
});
