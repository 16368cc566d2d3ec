import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestResponse } from '../../src/http/digest.js';
import { ALICE, BOB, serverBody, startTestApp, type TestApp } from '../support/app.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function challengeOf(header: string | null): { nonce: string; opaque: string; stale: boolean } {
  const nonce = /nonce="([^"]+)"/.exec(header ?? '')?.[1];
  const opaque = /opaque="([^"]+)"/.exec(header ?? '')?.[1];
  if (!nonce || !opaque) throw new Error(`no digest challenge in ${header}`);
  return { nonce, opaque, stale: /stale=true/.test(header ?? '') };
}

function digestHeader(
  user: { email: string; password: string },
  c: { nonce: string; opaque: string },
  method: string,
  uri: string,
  nc: number,
): string {
  const ha1 = md5(`${user.email}:users:${user.password}`);
  const ncText = nc.toString(16).padStart(8, '0');
  const cnonce = 'abcdef0123456789';
  const response = digestResponse(ha1, c.nonce, ncText, cnonce, method, uri);
  return `Digest username="${user.email}", realm="users", nonce="${c.nonce}", uri="${uri}", algorithm=MD5, qop=auth, nc=${ncText}, cnonce="${cnonce}", response="${response}", opaque="${c.opaque}"`;
}

describe('authentication', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ digest: true });
  });
  afterAll(() => t.close());

  it('answers 401 with a Basic and a Digest challenge', async () => {
    const r = await t.anonymous.get('/servers/');
    expect(r.status).toBe(401);
    expect(r.json[0].error_type).toBe('permission');
    const header = r.headers.get('www-authenticate') ?? '';
    expect(header).toContain('Basic realm="users"');
    expect(header).toMatch(
      /Digest realm="users", qop="auth", algorithm="MD5", nonce="[^"]+", opaque="[^"]+"/,
    );
  });

  it('accepts Digest (MD5, qop=auth) and refuses a replayed nonce count', async () => {
    const c = challengeOf((await t.anonymous.get('/servers/')).headers.get('www-authenticate'));
    const uri = '/api/2.0/servers/?limit=5';
    const first = await t.anonymous.get(uri, {
      headers: { authorization: digestHeader(ALICE, c, 'GET', uri, 1) },
    });
    expect(first.status).toBe(200);
    expect(first.json.meta.limit).toBe(5);
    const replay = await t.anonymous.get(uri, {
      headers: { authorization: digestHeader(ALICE, c, 'GET', uri, 1) },
    });
    expect(replay.status).toBe(401);
    const next = await t.anonymous.get(uri, {
      headers: { authorization: digestHeader(ALICE, c, 'GET', uri, 2) },
    });
    expect(next.status).toBe(200);
    const post = await t.anonymous.post('/api/2.0/servers/', serverBody({ name: 'via-digest' }), {
      headers: { authorization: digestHeader(ALICE, c, 'POST', '/api/2.0/servers/', 3) },
    });
    expect(post.status).toBe(201);
  });

  it('refuses Digest with a wrong password, another uri, or a forged nonce', async () => {
    const c = challengeOf((await t.anonymous.get('/servers/')).headers.get('www-authenticate'));
    const wrong = digestHeader({ ...BOB, password: 'nope' }, c, 'GET', '/api/2.0/servers/', 1);
    expect(
      (await t.anonymous.get('/api/2.0/servers/', { headers: { authorization: wrong } })).status,
    ).toBe(401);
    const other = digestHeader(BOB, c, 'GET', '/api/2.0/drives/', 1);
    expect(
      (await t.anonymous.get('/api/2.0/servers/', { headers: { authorization: other } })).status,
    ).toBe(401);
    const forged = digestHeader(
      BOB,
      { ...c, nonce: `${Date.now()}:00:deadbeef` },
      'GET',
      '/api/2.0/servers/',
      1,
    );
    expect(
      (await t.anonymous.get('/api/2.0/servers/', { headers: { authorization: forged } })).status,
    ).toBe(401);
  });

  it('logs in with a session, requires X-CSRFToken on unsafe methods, and logs out', async () => {
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: BOB.email,
      password: BOB.password,
    });
    expect(login.status).toBe(200);
    expect(login.json).toEqual({ uuid: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const setCookies = login.headers.getSetCookie();
    const session = /sessionid=([^;]+)/.exec(setCookies.join('\n'))?.[1];
    const csrf = /csrftoken=([^;]+)/.exec(setCookies.join('\n'))?.[1];
    expect(setCookies.find((c) => c.startsWith('sessionid='))).toMatch(/HttpOnly/i);
    expect(setCookies.find((c) => c.startsWith('sessionid='))).toMatch(/Max-Age=1209600/);
    expect(setCookies.find((c) => c.startsWith('csrftoken='))).toMatch(/Max-Age=31449600/);
    const cookie = `sessionid=${session}; csrftoken=${csrf}`;
    const profile = await t.anonymous.get('/profile/', { headers: { cookie } });
    expect(profile.status).toBe(200);
    expect(profile.json.email).toBe(BOB.email);
    const noToken = await t.anonymous.post('/servers/', serverBody(), { headers: { cookie } });
    expect(noToken.status).toBe(403);
    expect(noToken.json[0].error_type).toBe('permission');
    const badToken = await t.anonymous.post('/servers/', serverBody(), {
      headers: { cookie, 'x-csrftoken': 'x' },
    });
    expect(badToken.status).toBe(403);
    const withToken = await t.anonymous.post('/servers/', serverBody(), {
      headers: { cookie, 'x-csrftoken': csrf! },
    });
    expect(withToken.status).toBe(201);
    const check = await t.anonymous.post(
      '/accounts/action/?do=check_login',
      {},
      { headers: { cookie, 'x-csrftoken': csrf! } },
    );
    expect(check.status).toBe(200);
    const logout = await t.anonymous.post(
      '/accounts/action/?do=logout',
      {},
      { headers: { cookie, 'x-csrftoken': csrf! } },
    );
    expect(logout.status).toBe(200);
    expect((await t.anonymous.get('/profile/', { headers: { cookie } })).status).toBe(401);
    expect(
      (
        await t.anonymous.post(
          '/accounts/action/?do=check_login',
          {},
          { headers: { cookie, 'x-csrftoken': csrf! } },
        )
      ).status,
    ).toBe(401);
  });

  it('refuses a login with wrong credentials (401) and an unknown action (400)', async () => {
    const bad = await t.anonymous.post('/accounts/action/?do=login', {
      username: BOB.email,
      password: 'x',
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.getSetCookie()).toEqual([]);
    const unknown = await t.anonymous.post('/accounts/action/?do=dance', {});
    expect(unknown.status).toBe(400);
    expect(unknown.json[0].error_point).toBe('do');
  });

  it('answers a request marked X-Requested-With: XMLHttpRequest with a 401 without a challenge', async () => {
    const xhr = { 'x-requested-with': 'XMLHttpRequest' };
    const badBasic = `Basic ${Buffer.from(`${ALICE.email}:wrong`).toString('base64')}`;
    const digest = digestHeader(
      ALICE,
      { nonce: 'bad', opaque: 'x' },
      'GET',
      '/api/2.0/servers/',
      1,
    );
    const cases: [string, string, Record<string, string>][] = [
      // A plain GET (answered before Fastify), a GET Fastify answers, a write, an unknown path.
      ['GET', '/servers/', {}],
      ['GET', '/servers/?fields=uuid', {}],
      ['PUT', '/servers/', {}],
      ['GET', '/no-such-thing/', {}],
      ['GET', '/servers/', { authorization: badBasic }],
      ['GET', '/servers/', { authorization: 'Basic !!!' }],
      ['GET', '/servers/', { authorization: digest }],
      ['GET', '/servers/', { cookie: 'sessionid=nosuchsession' }],
    ];
    for (const [method, path, headers] of cases) {
      const marked = await t.anonymous.request(method, path, {
        headers: { ...headers, ...xhr },
        auth: null,
      });
      expect(marked.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
      expect(marked.json[0].error_type).toBe('permission');
      expect(marked.headers.get('www-authenticate'), `${method} ${path}`).toBeNull();
      const plain = await t.anonymous.request(method, path, { headers, auth: null });
      expect(plain.headers.get('www-authenticate'), `${method} ${path}`).toContain('Basic');
    }
    // Any spelling of the value; another value keeps the challenge.
    const lower = await t.anonymous.get('/servers/', {
      headers: { 'x-requested-with': 'xmlhttprequest' },
    });
    expect(lower.headers.get('www-authenticate')).toBeNull();
    const other = await t.anonymous.get('/servers/', { headers: { 'x-requested-with': 'fetch' } });
    expect(other.headers.get('www-authenticate')).toContain('Basic');
  });
});

describe('login throttling', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('after 10 failures in a minute answers 429 unchecked, while verified credentials and sessions work', async () => {
    expect((await t.alice.get('/profile/')).status).toBe(200);
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: ALICE.email,
      password: ALICE.password,
    });
    const cookies = login.headers.getSetCookie().join('\n');
    const cookie = `sessionid=${/sessionid=([^;]+)/.exec(cookies)?.[1]}`;
    for (let i = 0; i < 10; i++) {
      const r = await t.anonymous.get('/profile/', {
        auth: { email: ALICE.email, password: `wrong-${i}` },
      });
      expect(r.status).toBe(401);
    }
    const throttled = await t.anonymous.get('/profile/', {
      auth: { email: ALICE.email, password: 'wrong-again' },
    });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled.json).toEqual([
      {
        error_point: null,
        error_type: 'permission',
        error_message: expect.stringMatching(
          /Too many login attempts for this account \(limit: 10 attempts per 60 seconds\)/,
        ),
      },
    ]);
    // The right password is not even checked while throttled, unless already verified.
    // (The same credentials spelled differently are not in the cache of verified logins.)
    const spelledDifferently = `basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`;
    const fresh = await t.anonymous.get('/profile/', {
      headers: { authorization: spelledDifferently },
    });
    expect(fresh.status).toBe(429);
    expect(
      (
        await t.anonymous.post('/accounts/action/?do=login', {
          username: ALICE.email,
          password: ALICE.password,
        })
      ).status,
    ).toBe(429);
    expect((await t.alice.get('/profile/')).status).toBe(200);
    expect((await t.anonymous.get('/profile/', { headers: { cookie } })).status).toBe(200);
    // Another account is not affected.
    expect((await t.bob.get('/profile/')).status).toBe(200);
  });
});

describe('login throttling under parallel guessing', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('checks at most 10 of 200 parallel wrong passwords; the right one sent last gets 429; the owner keeps working', async () => {
    expect((await t.alice.get('/profile/')).status).toBe(200);
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: ALICE.email,
      password: ALICE.password,
    });
    const cookie = `sessionid=${/sessionid=([^;]+)/.exec(login.headers.getSetCookie().join('\n'))?.[1]}`;
    const guesses = Array.from({ length: 200 }, (_, i) =>
      t.anonymous.get('/profile/', { auth: { email: ALICE.email, password: `guess-${i}` } }),
    );
    const right = t.anonymous.get('/profile/', {
      headers: {
        authorization: `basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`,
      },
    });
    const answers = await Promise.all([...guesses, right]);
    const checked = answers.filter((r) => r.status === 401).length;
    expect(checked).toBeLessThanOrEqual(20);
    expect(answers.filter((r) => r.status === 429).length).toBe(201 - checked);
    expect(answers.at(-1)!.status).toBe(429);
    expect(Number(answers.at(-1)!.headers.get('retry-after'))).toBeGreaterThan(0);
    // do=login is throttled alike.
    const viaLogin = await t.anonymous.post('/accounts/action/?do=login', {
      username: ALICE.email,
      password: ALICE.password,
    });
    expect(viaLogin.status).toBe(429);
    // Verified credentials (the login cache) and the session keep working.
    expect((await t.alice.get('/profile/')).status).toBe(200);
    expect((await t.anonymous.get('/profile/', { headers: { cookie } })).status).toBe(200);
  });

  it("does not count an owner's successful logins", async () => {
    const t2 = await startTestApp();
    try {
      for (let i = 0; i < 15; i++) {
        const r = await t2.anonymous.post('/accounts/action/?do=login', {
          username: BOB.email,
          password: BOB.password,
        });
        expect(r.status).toBe(200);
      }
    } finally {
      await t2.close();
    }
  });
});

describe('login throttling per client address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ loginLimitPerAddress: 5 });
  });
  afterAll(() => t.close());

  it('limits attempts across accounts from one address, API tokens included', async () => {
    expect((await t.alice.get('/profile/')).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const r = await t.anonymous.get('/profile/', {
        auth: { email: `nobody-${i}@example.com`, password: 'x' },
      });
      expect(r.status).toBe(401);
    }
    const refused = await t.anonymous.get('/profile/', {
      auth: { email: 'nobody-else@example.com', password: 'x' },
    });
    expect(refused.status).toBe(429);
    expect(refused.json[0].error_message).toMatch(
      /for this address \(limit: 5 attempts per 60 seconds\)/,
    );
    const token = await t.anonymous.get('/profile/', {
      headers: { authorization: 'Bearer not-a-token' },
    });
    expect(token.status).toBe(429);
    // Verified credentials keep working.
    expect((await t.alice.get('/profile/')).status).toBe(200);
  });
});

describe('the throttle table', () => {
  it('holds a fixed amount of memory whatever the names tried', async () => {
    const { LoginThrottle } = await import('../../src/http/throttle.js');
    const throttle = new LoginThrottle({ perAccount: 10, perAddress: 60, windowMs: 60_000 });
    const before = throttle.bytes;
    const name = 'x'.repeat(8192);
    for (let i = 0; i < 20_000; i++) {
      try {
        await throttle.reserve(`${name}${i}`, `10.0.${i >> 8}.${i & 255}`);
      } catch {}
    }
    expect(throttle.bytes).toBe(before);
    expect(before).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('counts IPv6 clients per /64', async () => {
    const { addressBlock } = await import('../../src/http/throttle.js');
    expect(addressBlock('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBlock('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(addressBlock('::1')).toBe('0:0:0:0::/64');
    expect(addressBlock('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressBlock('10.1.2.3')).toBe('10.1.2.3');
  });
});

describe('unknown users', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('take as long to refuse as known ones (no user enumeration by timing)', async () => {
    const time = async (email: string) => {
      const start = performance.now();
      const r = await t.anonymous.get('/profile/', { auth: { email, password: 'wrong' } });
      expect(r.status).toBe(401);
      return performance.now() - start;
    };
    await time('warm-up@example.com');
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 4; i++) {
      known.push(await time(BOB.email));
      unknown.push(await time(`ghost-${i}@example.com`));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });
});

describe('Digest is off by default', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('offers only Basic and stores no HA1', async () => {
    const r = await t.anonymous.get('/servers/');
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="users"');
    const account = await t.app.store.accounts.byEmail(ALICE.email);
    expect(account?.ha1).toBeNull();
    const c = { nonce: `${Date.now()}:aa:bb`, opaque: 'x' };
    const digest = digestHeader(ALICE, c, 'GET', '/api/2.0/servers/', 1);
    expect(
      (await t.anonymous.get('/api/2.0/servers/', { headers: { authorization: digest } })).status,
    ).toBe(401);
    expect((await t.alice.get('/servers/')).status).toBe(200);
  });
});
