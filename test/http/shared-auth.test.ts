/**
 * Authentication across API processes on one PostgreSQL (issue 16): a Digest nonce one process
 * issued is accepted by another, a nonce count seen by one is refused by the other, and login
 * attempts spread over processes count against one budget. Two apps on one schema stand for two
 * processes (each has its own memory: nothing is shared but the store).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestResponse } from '../../src/http/digest.js';
import { ALICE, BOB, type Client, startTestApp, type TestApp } from '../support/app.js';
import { type LastingTestStore, lastingTestStore } from '../support/stores.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function digestHeader(
  user: { email: string; password: string },
  challenge: string,
  uri: string,
  nc: number,
): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const opaque = /opaque="([^"]+)"/.exec(challenge)![1]!;
  const ha1 = md5(`${user.email}:users:${user.password}`);
  const ncText = nc.toString(16).padStart(8, '0');
  const response = digestResponse(ha1, nonce, ncText, 'c0ffee', 'GET', uri);
  return `Digest username="${user.email}", realm="users", nonce="${nonce}", uri="${uri}", algorithm=MD5, qop=auth, nc=${ncText}, cnonce="c0ffee", response="${response}", opaque="${opaque}"`;
}

let data: LastingTestStore;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  data = lastingTestStore('postgres');
  const options = { digest: true, loginLimit: 4, loginLimitPerAddress: 1000 } as const;
  a = await startTestApp({ ...options, withStore: await data.open() });
  b = await startTestApp({ ...options, withStore: await data.open() });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await data?.dispose();
});

async function challengeFrom(client: Client): Promise<string> {
  const res = await client.get('/servers/', { auth: null });
  expect(res.status).toBe(401);
  return res.headers.get('www-authenticate')!;
}

describe('two processes on one PostgreSQL', () => {
  it("accept each other's Digest nonces and refuse a count the other has seen", async () => {
    const uri = '/api/2.0/servers/';
    const challenge = await challengeFrom(a.anonymous);
    const first = digestHeader(ALICE, challenge, uri, 1);
    expect((await b.anonymous.get(uri, { headers: { authorization: first } })).status).toBe(200);
    // The same count again, through the process that issued the nonce: a replay.
    expect((await a.anonymous.get(uri, { headers: { authorization: first } })).status).toBe(401);
    const second = digestHeader(ALICE, challenge, uri, 2);
    expect((await a.anonymous.get(uri, { headers: { authorization: second } })).status).toBe(200);
    expect((await b.anonymous.get(uri, { headers: { authorization: second } })).status).toBe(401);
  });

  it('count login attempts spread over both against one budget per account', async () => {
    const wrong = { email: BOB.email, password: 'not-it' };
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const via = i % 2 === 0 ? a : b;
      statuses.push((await via.anonymous.get('/servers/', { auth: wrong })).status);
    }
    // Four attempts a minute for the account, whichever process saw them (alone, each process
    // would have allowed four).
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    // A login that succeeds gives its attempt back everywhere: Alice is not affected.
    expect((await b.alice.get('/servers/')).status).toBe(200);
  });

  it('count wrong API tokens spread over both against one budget per address', async () => {
    const tokens = lastingTestStore('postgres');
    const limits = { loginLimit: 100, loginLimitPerAddress: 3 } as const;
    const c = await startTestApp({ ...limits, withStore: await tokens.open() });
    const d = await startTestApp({ ...limits, withStore: await tokens.open() });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const via = i % 2 === 0 ? c : d;
        const res = await via.anonymous.get('/servers/', {
          headers: { authorization: `Bearer wrong-token-${i}` },
        });
        statuses.push(res.status);
      }
      // Three a minute from this address, whichever process saw them (alone, each process
      // would have allowed three).
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    } finally {
      await c.close();
      await d.close();
      await tokens.dispose();
    }
  });
});
