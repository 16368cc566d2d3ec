import { afterEach, describe, expect, it } from 'vitest';
import type { CommittedChange, DetailView } from '../store/types.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_SLOW_CONSUMER,
  EventHub,
  renderFrame,
  type Subscriber,
} from './events.js';

/** A socket that records what it is sent and lets the test set its send buffer. */
class FakeSocket implements Subscriber {
  readyState = 1;
  bufferedAmount = 0;
  /** Added to bufferedAmount by every send (a client that reads nothing). */
  growth = 0;
  frames: string[] = [];
  closedWith: { code: number; reason: string } | undefined;
  pings = 0;
  terminated = false;
  private readonly closeListeners: (() => void)[] = [];

  send(frame: string): void {
    this.frames.push(frame);
    this.bufferedAmount += this.growth;
  }
  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  ping(): void {
    this.pings++;
  }
  terminate(): void {
    this.terminated = true;
    this.finish();
  }
  once(_event: 'close', listener: () => void): void {
    this.closeListeners.push(listener);
  }
  /** The closing handshake completes. */
  finish(): void {
    this.readyState = 3;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
  parsed(): Record<string, unknown>[] {
    return this.frames.map((f) => JSON.parse(f) as Record<string, unknown>);
  }
}

/** A store that commits what the test says, and answers getDetail from a map (slowly if asked). */
class FakeStore {
  listeners = new Set<(changes: readonly CommittedChange[]) => void>();
  details = new Map<string, DetailView>();
  readDelayMs = 0;
  onCommit(listener: (changes: readonly CommittedChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async getDetail(uuid: string): Promise<DetailView | undefined> {
    const view = this.details.get(uuid);
    if (this.readDelayMs) await new Promise((r) => setTimeout(r, this.readDelayMs));
    return view;
  }
  commit(...changes: CommittedChange[]): void {
    for (const listener of this.listeners) listener(changes);
  }
}

const ALICE = 'a1a1a1a1-0000-4000-8000-000000000001';
const BOB = 'b0b0b0b0-0000-4000-8000-000000000002';
const uriOf = (kind: string, uuid: string) =>
  kind === 'profile'
    ? '/api/2.0/profile/'
    : ['servers', 'drives', 'jobs'].includes(kind)
      ? `/api/2.0/${kind}/${uuid}/`
      : undefined;

function server(uuid: string, owner: string, status: string): string {
  return JSON.stringify({ uuid, owner, status, resource_uri: `/api/2.0/servers/${uuid}/` });
}

const hubs: EventHub[] = [];
function hub(store: FakeStore, options: { maxBufferedBytes?: number } = {}): EventHub {
  const h = new EventHub(store, { uriOf, heartbeatMs: 0, ...options });
  hubs.push(h);
  return h;
}
afterEach(async () => {
  for (const h of hubs.splice(0)) await h.close(0);
});

describe('EventHub', () => {
  it("sends an account's changes to each of its sockets and to no other account's", () => {
    const store = new FakeStore();
    const h = hub(store);
    const [a1, a2, b] = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    h.add(ALICE, a1);
    h.add(ALICE, a2);
    h.add(BOB, b);
    store.commit(
      {
        op: 'put',
        kind: 'servers',
        uuid: 's1',
        owner: ALICE,
        detail: server('s1', ALICE, 'stopped'),
      },
      { op: 'task' },
      { op: 'remove', kind: 'drives', uuid: 'd1', owner: ALICE },
    );
    const expected = [
      {
        resource_type: 'servers',
        resource_uri: '/api/2.0/servers/s1/',
        object: {
          uuid: 's1',
          owner: ALICE,
          status: 'stopped',
          resource_uri: '/api/2.0/servers/s1/',
        },
      },
      { resource_type: 'drives', resource_uri: '/api/2.0/drives/d1/' },
    ];
    expect(a1.parsed()).toEqual(expected);
    expect(a2.parsed()).toEqual(expected);
    expect(b.frames).toEqual([]);
    store.commit({
      op: 'put',
      kind: 'servers',
      uuid: 's2',
      owner: BOB,
      detail: server('s2', BOB, 'running'),
    });
    expect(b.parsed()).toHaveLength(1);
    expect(a1.frames).toHaveLength(2);
  });

  it('announces only the kinds uriOf knows, and nothing without an owner', () => {
    const store = new FakeStore();
    const h = hub(store);
    const a = new FakeSocket();
    h.add(ALICE, a);
    store.commit(
      { op: 'put', kind: 'internal', uuid: 'x', owner: ALICE, detail: '{"uuid":"x"}' },
      { op: 'remove', kind: 'internal', uuid: 'x', owner: ALICE },
      { op: 'put', kind: 'drives', uuid: 'lib', owner: null, detail: '{"uuid":"lib"}' },
      { op: 'put', kind: 'profile', uuid: ALICE, owner: ALICE, detail: `{"uuid":"${ALICE}"}` },
    );
    expect(a.parsed()).toEqual([
      { resource_type: 'profile', resource_uri: '/api/2.0/profile/', object: { uuid: ALICE } },
    ]);
  });

  it('takes resource_uri from the object itself, byte for byte, and splices the object as stored', () => {
    const detail = '{"resource_uri":"/api/2.0/ips/10.0.0.1/","uuid":"10.0.0.1","é":"ü"}';
    expect(renderFrame('ips', '/api/2.0/ips/other/', detail)).toBe(
      `{"resource_type":"ips","resource_uri":"/api/2.0/ips/10.0.0.1/","object":${detail}}`,
    );
    expect(renderFrame('ips', '/api/2.0/ips/x/', Buffer.from(detail))).toContain(
      `"object":${detail}}`,
    );
    expect(renderFrame('servers', '/api/2.0/servers/s/', undefined)).toBe(
      '{"resource_type":"servers","resource_uri":"/api/2.0/servers/s/"}',
    );
    expect(renderFrame('servers', '/u/', '[1]')).toBeUndefined();
    expect(renderFrame('servers', '/u/', '{broken')).toBeUndefined();
  });

  it("reads other processes' objects back and keeps commit order behind a slow read", async () => {
    const store = new FakeStore();
    store.readDelayMs = 30;
    const h = hub(store);
    const a = new FakeSocket();
    h.add(ALICE, a);
    store.details.set('s1', {
      kind: 'servers',
      uuid: 's1',
      owner: ALICE,
      detail: Buffer.from(server('s1', ALICE, 'running')),
    });
    store.commit({ op: 'put', kind: 'servers', uuid: 's1', owner: ALICE });
    // Local commits behind the read wait for it.
    store.commit(
      {
        op: 'put',
        kind: 'servers',
        uuid: 's2',
        owner: ALICE,
        detail: server('s2', ALICE, 'stopped'),
      },
      { op: 'remove', kind: 'servers', uuid: 's1', owner: ALICE },
      // Gone by the time it is read: no frame (its removal has one).
      { op: 'put', kind: 'servers', uuid: 'gone', owner: ALICE },
    );
    expect(a.frames).toEqual([]);
    await new Promise((r) => setTimeout(r, 150));
    expect(
      a
        .parsed()
        .map((f) => [f.resource_uri, (f.object as { status?: string } | undefined)?.status]),
    ).toEqual([
      ['/api/2.0/servers/s1/', 'running'],
      ['/api/2.0/servers/s2/', 'stopped'],
      ['/api/2.0/servers/s1/', undefined],
    ]);
    // Once the backlog is gone, frames go out at once again.
    store.commit({ op: 'remove', kind: 'servers', uuid: 's2', owner: ALICE });
    expect(a.frames).toHaveLength(4);
  });

  it('never reads back an object of another owner than the change said', async () => {
    const store = new FakeStore();
    const h = hub(store);
    const a = new FakeSocket();
    h.add(ALICE, a);
    store.details.set('s9', {
      kind: 'servers',
      uuid: 's9',
      owner: BOB,
      detail: server('s9', BOB, 'running'),
    });
    store.commit({ op: 'put', kind: 'servers', uuid: 's9', owner: ALICE });
    await new Promise((r) => setTimeout(r, 20));
    expect(a.frames).toEqual([]);
  });

  it('closes a socket whose send buffer passes the limit, without holding up the others', () => {
    const store = new FakeStore();
    const h = hub(store, { maxBufferedBytes: 1000 });
    const slow = new FakeSocket();
    slow.growth = 400;
    const fast = new FakeSocket();
    h.add(ALICE, slow);
    h.add(ALICE, fast);
    for (let i = 0; i < 5; i++) {
      store.commit({ op: 'remove', kind: 'servers', uuid: `s${i}`, owner: ALICE });
    }
    expect(slow.frames).toHaveLength(3);
    expect(slow.closedWith).toEqual({
      code: CLOSE_SLOW_CONSUMER,
      reason: expect.stringContaining('slow'),
    });
    expect(fast.frames).toHaveLength(5);
    expect(h.size).toBe(1);
  });

  it('skips sockets that are not open and forgets removed ones', () => {
    const store = new FakeStore();
    const h = hub(store);
    const a = new FakeSocket();
    const b = new FakeSocket();
    const subA = h.add(ALICE, a);
    h.add(ALICE, b);
    b.readyState = 2;
    store.commit({ op: 'remove', kind: 'servers', uuid: 's', owner: ALICE });
    expect(a.frames).toHaveLength(1);
    expect(b.frames).toHaveLength(0);
    subA.remove();
    subA.remove();
    expect(h.size).toBe(1);
  });

  it('pings, and drops a socket that did not answer the previous ping', async () => {
    const store = new FakeStore();
    const h = new EventHub(store, { uriOf, heartbeatMs: 20 });
    hubs.push(h);
    const quiet = new FakeSocket();
    const lively = new FakeSocket();
    h.add(ALICE, quiet);
    const sub = h.add(ALICE, lively);
    const timer = setInterval(sub.alive, 5);
    await new Promise((r) => setTimeout(r, 75));
    clearInterval(timer);
    expect(quiet.pings).toBeGreaterThanOrEqual(1);
    expect(quiet.terminated).toBe(true);
    expect(lively.terminated).toBe(false);
    expect(lively.pings).toBeGreaterThanOrEqual(2);
    expect(h.size).toBe(1);
  });

  it('on close stops listening, closes every socket with 1001 and cuts the ones that hang', async () => {
    const store = new FakeStore();
    const h = new EventHub(store, { uriOf, heartbeatMs: 0 });
    const polite = new FakeSocket();
    const stuck = new FakeSocket();
    h.add(ALICE, polite);
    h.add(BOB, stuck);
    const closing = h.close(50);
    expect(polite.closedWith?.code).toBe(CLOSE_GOING_AWAY);
    expect(stuck.closedWith?.code).toBe(CLOSE_GOING_AWAY);
    polite.finish();
    await closing;
    expect(stuck.terminated).toBe(true);
    expect(store.listeners.size).toBe(0);
    expect(h.size).toBe(0);
    const late = new FakeSocket();
    h.add(ALICE, late);
    expect(late.closedWith?.code).toBe(CLOSE_GOING_AWAY);
    expect(h.size).toBe(0);
  });
});
