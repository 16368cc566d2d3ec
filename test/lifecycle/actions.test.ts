/**
 * Server actions × server states (api-reference.md §2.1-§2.3, §8.1-§8.2), table-driven: every
 * action, and DELETE, on a server in every reachable state, with the documented codes and the
 * exact 403 messages (whose state names are CloudSigma's internal ones: `started` for running).
 * The clock is stopped, so transitional states (`starting`, `stopping`, `cloning`) hold still.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerStatus } from '../../src/resources/servers/model.js';
import { attach, createServer, expectError, type Obj, UUID } from '../support/api.js';
import { type Client, driveBody, type TestApp } from '../support/app.js';
import {
  action,
  closeApp,
  drain,
  forceStatus,
  get,
  startManualApp,
  waitStatus,
} from './support.js';

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startManualApp();
  alice = t.alice;
});
afterAll(() => closeApp(t));

const ACTIONS = [
  'start',
  'stop',
  'shutdown',
  'restart',
  'open_vnc',
  'close_vnc',
  'open_console',
  'close_console',
  'clone',
  'delete',
] as const;
type Action = (typeof ACTIONS)[number];

const STATES = [
  'stopped',
  'starting',
  'running',
  'stopping',
  'cloning',
  'paused',
  'unavailable',
] as const satisfies readonly ServerStatus[];
type State = (typeof STATES)[number];

/** Where each action is accepted; everywhere else it is a 403. */
const ALLOWED: Record<Action, readonly State[]> = {
  start: ['stopped'],
  stop: ['running'],
  shutdown: ['running'],
  restart: ['running'],
  open_vnc: ['running'],
  open_console: ['running'],
  close_vnc: STATES,
  close_console: STATES,
  // Any state, except a clone whose disks are still being copied (they cannot be copied yet).
  clone: STATES.filter((s) => s !== 'cloning'),
  delete: ['stopped'],
};

/** The status a power action leaves the server in at once. */
const AFTER: Partial<Record<Action, ServerStatus>> = {
  start: 'starting',
  stop: 'stopping',
  shutdown: 'stopping',
  restart: 'stopping',
};

const internal = (state: State) => (state === 'running' ? 'started' : state);

/** CloudSigma's refusal (libcloud fixtures start_already_started, stop_already_stopped). */
function refusal(what: Action, state: State): string {
  if (what === 'start' || what === 'delete') {
    return `Cannot ${what} guest in state "${internal(state)}". Guest should be in state "stopped"`;
  }
  return `Cannot ${what} guest in state "${internal(state)}". Guest should be in state "['started', 'running_legacy']"`;
}

/** A fresh server of alice's in `state`. */
async function serverIn(state: State): Promise<string> {
  if (state === 'cloning') {
    // A clone is `cloning` while its disks are copied: the source needs a disk.
    const created = await alice.post('/drives/', { objects: [driveBody()] });
    const drive = created.json.objects[0].uuid as string;
    await drain(t.app);
    const source = await createServer(alice, { drives: [attach(drive, 'virtio', '0:0')] });
    const clone = await alice.post(action(source.uuid, 'clone'), {});
    expect(clone.status).toBe(202);
    expect(clone.json.status).toBe('cloning');
    return clone.json.uuid as string;
  }
  const { uuid } = await createServer(alice);
  if (state === 'paused' || state === 'unavailable') {
    await forceStatus(t.app, uuid, state);
    return uuid;
  }
  if (state === 'stopped') return uuid;
  expect((await alice.post(action(uuid, 'start'))).status).toBe(202);
  if (state === 'starting') return uuid;
  await drain(t.app);
  await waitStatus(alice, `/servers/${uuid}/`, 'running');
  if (state === 'running') return uuid;
  expect((await alice.post(action(uuid, 'stop'))).status).toBe(202);
  return uuid;
}

/** Action bodies: none at all, or `{}` (pycloudsigma sends `{}`; TUR-1346). */
const BODIES: { label: string; body: Obj | undefined }[] = [
  { label: 'no body', body: undefined },
  { label: '{}', body: {} },
];

async function perform(what: Action, uuid: string, body: Obj | undefined) {
  return what === 'delete'
    ? alice.delete(`/servers/${uuid}/`)
    : alice.post(action(uuid, what), body);
}

describe.each(ACTIONS)('%s', (what) => {
  it.each(STATES)('in state %s', async (state) => {
    for (const { label, body } of BODIES) {
      const uuid = await serverIn(state);
      const path = `/servers/${uuid}/`;
      expect((await get(alice, path)).status).toBe(state);
      const res = await perform(what, uuid, body);
      const context = `${what} in ${state} with ${label}: ${res.status} ${res.text}`;
      if (!ALLOWED[what].includes(state)) {
        expect(res.status, context).toBe(403);
        const error = expectError(res, 403, 'permission', null);
        if (what === 'clone') expect(error.error_message).toMatch(/cloning_dst/);
        else expect(error.error_message).toBe(refusal(what, state));
        expect((await get(alice, path)).status).toBe(state);
        continue;
      }
      switch (what) {
        case 'delete':
          expect(res.status, context).toBe(204);
          expect(res.text).toBe('');
          expectError(await alice.get(path), 404, 'notexist', null);
          break;
        case 'clone':
          expect(res.status, context).toBe(202);
          expect(res.json.uuid).toMatch(UUID);
          expect(res.json.uuid).not.toBe(uuid);
          expect(res.json.status).toBe('stopped');
          expect(res.json.runtime).toBeNull();
          expect((await get(alice, path)).status).toBe(state);
          break;
        case 'open_vnc':
          expect(res.status, context).toBe(202);
          expect(res.json).toEqual({
            action: 'open_vnc',
            result: 'success',
            uuid,
            vnc_url: expect.stringMatching(/^vnc:\/\/127\.0\.0\.1:\d+$/),
          });
          expect((await get(alice, path)).status).toBe('running');
          break;
        case 'open_console':
          expect(res.status, context).toBe(202);
          expect(res.json).toEqual({
            action: 'open_console',
            result: 'success',
            uuid,
            console_url: expect.stringMatching(/^csconsole:\/\/127\.0\.0\.1:\d+$/),
          });
          expect((await get(alice, path)).status).toBe('running');
          break;
        default:
          expect(res.status, context).toBe(202);
          expect(res.json).toEqual({ action: what, result: 'success', uuid });
          expect((await get(alice, path)).status).toBe(AFTER[what] ?? state);
      }
    }
  });
});

describe('requests the table does not cover', () => {
  it('answers 400 with point "do" for an unknown, empty or missing action', async () => {
    const { uuid } = await createServer(alice);
    for (const query of [
      '?do=dance',
      '?do=',
      '',
      '?do=constructor',
      '?do=__proto__',
      '?action=start',
    ]) {
      const res = await alice.post(`/servers/${uuid}/action/${query}`, {});
      expectError(res, 400, 'validation', 'do');
    }
    expect((await get(alice, `/servers/${uuid}/`)).status).toBe('stopped');
  });

  it('answers 404 for every action on a missing server, or on another account’s', async () => {
    const missing = '472835d5-2bbb-4d87-9d08-7364bc373692';
    const bobs = (await createServer(t.bob)).uuid;
    for (const uuid of [missing, bobs]) {
      for (const what of ACTIONS) {
        const res = await perform(what, uuid, {});
        const error = expectError(res, 404, 'notexist', null);
        expect(error.error_message).toBe(`Object with uuid ${uuid} does not exist`);
      }
    }
    expect((await get(t.bob, `/servers/${bobs}/`)).status).toBe('stopped');
  });

  it('starts with an empty JSON body, an allocation_method and avoid parameters', async () => {
    const other = (await createServer(alice)).uuid;
    const a = (await createServer(alice)).uuid;
    const empty = await alice.request('POST', action(a, 'start'), {
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(empty.status).toBe(202);
    const b = (await createServer(alice)).uuid;
    const withMethod = await alice.post(`${action(b, 'start')}&avoid=${other},${a}`, {
      allocation_method: 'regular',
    });
    expect(withMethod.status).toBe(202);
    const c = (await createServer(alice)).uuid;
    const repeated = await alice.post(`${action(c, 'start')}&avoid=${a}&avoid=${b}`, {});
    expect(repeated.status).toBe(202);
    // jclouds' malformed form (api-reference.md §2.5).
    const d = (await createServer(alice)).uuid;
    const jclouds = await alice.post(`${action(d, 'start')}?avoid=${a}&avoid=${b}`, {});
    expect(jclouds.status, jclouds.text).toBe(202);
    for (const uuid of [a, b, c, d]) {
      expect((await get(alice, `/servers/${uuid}/`)).status).toBe('starting');
    }
  });
});

describe('serialisation', () => {
  it('accepts exactly one of 20 concurrent starts; the 19 others get the documented 403', async () => {
    const { uuid } = await createServer(alice);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        alice.post(action(uuid, 'start'), i % 2 ? {} : undefined),
      ),
    );
    const accepted = answers.filter((r) => r.status === 202);
    const refused = answers.filter((r) => r.status === 403);
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const res of refused) {
      expect(expectError(res, 403, 'permission', null).error_message).toBe(
        'Cannot start guest in state "starting". Guest should be in state "stopped"',
      );
    }
    expect((await get(alice, `/servers/${uuid}/`)).status).toBe('starting');
    expect(await t.app.store.read((tx) => tx.tasksOf(uuid))).toHaveLength(1);
    // One start, so one boot: the server runs once the engine is done.
    await drain(t.app);
    expect((await get(alice, `/servers/${uuid}/`)).status).toBe('running');
  });

  it('accepts exactly one of 20 concurrent stops of a running server', async () => {
    const uuid = await serverIn('running');
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => alice.post(action(uuid, 'stop'), {})),
    );
    expect(answers.filter((r) => r.status === 202)).toHaveLength(1);
    const refused = answers.filter((r) => r.status === 403);
    expect(refused).toHaveLength(19);
    for (const res of refused) {
      expect(res.json[0].error_message).toBe(
        `Cannot stop guest in state "stopping". Guest should be in state "['started', 'running_legacy']"`,
      );
    }
    await drain(t.app);
    expect((await get(alice, `/servers/${uuid}/`)).status).toBe('stopped');
  });

  it('deletes nothing when a bulk delete names a server that is not stopped', async () => {
    const stopped = (await createServer(alice)).uuid;
    const starting = await serverIn('starting');
    const res = await alice.delete('/servers/', {
      objects: [{ uuid: stopped }, { uuid: starting }],
    });
    expect(expectError(res, 403, 'permission', null).error_message).toBe(
      'Cannot delete guest in state "starting". Guest should be in state "stopped"',
    );
    expect((await get(alice, `/servers/${stopped}/`)).status).toBe('stopped');
    await drain(t.app);
    await alice.post(action(starting, 'stop'));
    await drain(t.app);
    const both = await alice.delete('/servers/', {
      objects: [{ uuid: stopped }, { uuid: starting }],
    });
    expect(both.status).toBe(204);
  });

  it('lets either a start or a delete win when both race, never both', async () => {
    for (let round = 0; round < 8; round++) {
      const { uuid } = await createServer(alice);
      const [start, remove] = await Promise.all([
        alice.post(action(uuid, 'start'), {}),
        alice.delete(`/servers/${uuid}/`),
      ]);
      const outcome = `${start.status}/${remove.status}`;
      expect(['202/403', '404/204']).toContain(outcome);
      const after = await alice.get(`/servers/${uuid}/`);
      if (outcome === '202/403') {
        expect(remove.json[0].error_message).toBe(
          'Cannot delete guest in state "starting". Guest should be in state "stopped"',
        );
        expect(after.json.status).toBe('starting');
      } else {
        expect(after.status).toBe(404);
      }
    }
    await drain(t.app);
  });
});
