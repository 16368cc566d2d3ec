/**
 * The protocol layer over a real socket: one focused test per convention of api-reference.md §1.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE,
  BOB,
  type Client,
  driveBody,
  type Response,
  serverBody,
  startTestApp,
  type TestApp,
} from '../support/app.js';
import {
  asResponse,
  basicAuth,
  expectApiError,
  JSON_CONTENT_TYPE,
  rawRequest,
} from '../support/raw.js';

/** The Basic challenge, alone or among others (a Digest challenge may come with it). */
const BASIC_CHALLENGE = /(^|, )Basic realm="users"(,|$)/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

async function createServer(
  client: Client,
  overrides: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { uuid: string }> {
  const res = await client.post('/servers/', serverBody(overrides));
  expect(res.status, res.text).toBe(201);
  return res.json.objects[0];
}

async function createDrive(
  client: Client,
  overrides: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { uuid: string }> {
  const res = await client.post('/drives/', driveBody(overrides));
  expect(res.status, res.text).toBe(201);
  // The drive once made (the client waits for the engine after a write), not the `creating` one.
  return (await client.get(`/drives/${res.json.objects[0].uuid}/`)).json;
}

/** Asserts a successful JSON answer (200 unless told). */
function expectJson(res: Response, status = 200): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toBe(JSON_CONTENT_TYPE);
}

function names(res: Response): string[] {
  return (res.json.objects as { name: string }[]).map((o) => o.name);
}

describe('trailing slashes', () => {
  // node:http, not fetch: fetch would follow a redirect silently.
  const send = (method: string, path: string, body?: unknown) =>
    rawRequest(t.origin, {
      method,
      path: `/api/2.0${path}`,
      headers: {
        authorization: basicAuth(ALICE.email, ALICE.password),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const json = (res: { body: Buffer }) => JSON.parse(res.body.toString('utf8'));

  it('are optional on list, detail, schema and singleton paths, never a redirect', async () => {
    for (const path of [
      '/servers',
      '/servers/detail',
      '/servers/schema',
      '/drives',
      '/drives/detail',
      '/drives/schema',
      '/profile',
      '/profile/schema',
      '/balance',
      '/capabilities',
      '/locations',
    ]) {
      const withSlash = await send('GET', `${path}/`);
      const without = await send('GET', path);
      expect(withSlash.status, `GET ${path}/`).toBe(200);
      expect(without.status, `GET ${path}`).toBe(200);
      expect(without.headers.location).toBeUndefined();
      expect(json(without)).toEqual(json(withSlash));
    }
  });

  it('are optional on object paths for GET, POST, PUT and DELETE, never a redirect', async () => {
    const created = await send('POST', '/servers', serverBody({ name: 'no-slash' }));
    expect(created.status).toBe(201);
    const uuid = json(created).objects[0].uuid as string;
    const drives = await send('POST', '/drives', driveBody({ name: 'no-slash' }));
    expect(drives.status).toBe(201);
    const drive = json(drives).objects[0].uuid as string;

    for (const path of [`/servers/${uuid}`, `/drives/${drive}`]) {
      const got = await send('GET', path);
      expect(got.status).toBe(200);
      expect(json(got).uuid).toBe(path.split('/')[2]);
      const put = await send('PUT', path, { name: 'renamed' });
      expect(put.status).toBe(200);
      expect(json(put).name).toBe('renamed');
      const options = await send('OPTIONS', path);
      expect(options.status).toBe(200);
      const del = await send('DELETE', path);
      expect(del.status).toBe(204);
      expect((await send('GET', `${path}/`)).status).toBe(404);
    }
    const bulk = await send('POST', '/drives', [driveBody()]);
    const bulkUuid = json(bulk).objects[0].uuid as string;
    const del = await send('DELETE', '/drives', { objects: [{ uuid: bulkUuid }] });
    expect(del.status).toBe(204);
  });
});

describe('authentication', () => {
  it('answers 401 with the Basic challenge without credentials or with wrong ones', async () => {
    const cases: (Parameters<Client['get']>[1] & object)[] = [
      { auth: null },
      { auth: { email: ALICE.email, password: BOB.password } },
      { auth: { email: 'nobody@example.com', password: 'whatever' } },
      { auth: { email: ALICE.email, password: '' } },
    ];
    for (const options of cases) {
      const res = await t.anonymous.get('/servers/', options);
      expectApiError(res, { status: 401, type: 'permission', point: null });
      expect(res.headers.get('www-authenticate')).toMatch(BASIC_CHALLENGE);
    }
  });

  it('answers 401, never 500, to malformed Authorization headers', async () => {
    const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64');
    const headers = [
      'Basic',
      'Basic ',
      'Basic !!!not-base64!!!',
      'Basic ====',
      `Basic ${b64('no-colon-here')}`,
      `Basic ${b64(':')}`,
      `Basic ${b64(`:${ALICE.password}`)}`,
      `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0xc3, 0x28]))}`,
      `Basic ${b64(`${ALICE.email}:${ALICE.password}`)} trailing`,
      `Basic ${b64('x'.repeat(6000))}`,
      'Bearer abc.def.ghi',
      'Digest username="alice@example.com", realm="users"',
      `${b64(`${ALICE.email}:${ALICE.password}`)}`,
      'Basic \xff\xfe\xfd',
      '\xe9\xe9\xe9',
    ];
    for (const authorization of headers) {
      const raw = await rawRequest(t.origin, {
        method: 'GET',
        path: '/api/2.0/servers/',
        headers: { authorization },
      });
      const res = asResponse(raw);
      expectApiError(res, { status: 401, type: 'permission' });
      expect(res.headers.get('www-authenticate'), authorization).toMatch(BASIC_CHALLENGE);
    }
    // The scheme name is case-insensitive; valid credentials still work after all that.
    const lower = await t.anonymous.get('/servers/', {
      headers: { authorization: basicAuth(ALICE.email, ALICE.password).replace('Basic', 'basic') },
    });
    expect(lower.status).toBe(200);
  });

  it('serves /healthz (GET and HEAD) without credentials', async () => {
    const get = await t.anonymous.get('/healthz');
    expect(get.status).toBe(200);
    expect(get.json).toEqual({ status: 'ok' });
    const head = await t.anonymous.request('HEAD', '/healthz');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });
});

describe('unknown paths and methods', () => {
  it('answers 404 notexist in the CloudSigma format for unknown paths', async () => {
    for (const path of [
      '/api/2.0/nonexistent/',
      '/api/2.0/servers/a/b/c/',
      '/api/2.0/profile/extra/',
      '/api/2.1/servers/',
      '/nothing-here',
    ]) {
      const res = await t.alice.get(path);
      expectApiError(res, { status: 404, type: 'notexist', point: null });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
    }
  });

  it('answers malformed URLs with 400 in the CloudSigma format, with a request id', async () => {
    for (const path of [
      '/api/2.0/servers/%zz/',
      '/api/2.0/servers/%E0%A4%A/',
      `/api/2.0/servers/${'a'.repeat(600)}/`,
    ]) {
      for (const authorization of [basicAuth(ALICE.email, ALICE.password), '']) {
        const raw = await rawRequest(t.origin, {
          method: 'GET',
          path,
          headers: authorization ? { authorization } : {},
        });
        const res = asResponse(raw);
        expectApiError(res, { status: 400, type: 'validation', point: null });
        expect(res.headers.get('x-request-id'), path).toMatch(/^[0-9a-f]{32}$/);
      }
    }
  });

  it('answers 405 with an Allow header for a method the path does not have', async () => {
    const cases: [string, string, string[], string][] = [
      ['DELETE', '/profile/', ['GET', 'PUT'], 'DELETE'],
      ['POST', '/profile/', ['GET', 'PUT'], 'POST'],
      ['POST', `/servers/${randomUUID()}/`, ['GET', 'PUT', 'DELETE'], 'POST'],
      ['PATCH', '/servers/', ['GET', 'POST', 'PUT', 'DELETE'], 'PATCH'],
      ['PUT', '/capabilities/', ['GET'], 'PUT'],
      ['DELETE', '/servers/schema/', ['GET'], 'DELETE'],
    ];
    for (const [method, path, allowed, wrong] of cases) {
      const res = await t.alice.request(method, path, { body: {} });
      expectApiError(res, { status: 405, type: 'validation', message: method });
      const allow = (res.headers.get('allow') ?? '').split(',');
      for (const m of allowed) expect(allow, `${method} ${path}`).toContain(m);
      expect(allow).not.toContain(wrong);
    }
    // 405 on a server that exists is the same as on one that does not.
    const server = await createServer(t.alice);
    const res = await t.alice.post(`/servers/${server.uuid}/`, {});
    expectApiError(res, { status: 405, type: 'validation' });
  });

  it('answers OPTIONS with 200 and the comma-separated method list', async () => {
    const cases: [string, string][] = [
      ['/servers/', 'GET,POST,PUT,DELETE'],
      [`/servers/${randomUUID()}/`, 'GET,PUT,DELETE'],
      ['/servers/schema/', 'GET'],
      ['/profile/', 'GET,PUT'],
      ['/capabilities/', 'GET'],
    ];
    for (const [path, methods] of cases) {
      const res = await t.alice.request('OPTIONS', path);
      expect(res.status, path).toBe(200);
      expect(res.text).toBe(methods);
      expect(res.headers.get('allow')?.split(',')).toEqual(
        expect.arrayContaining(methods.split(',')),
      );
    }
  });
});

describe('request bodies', () => {
  const bad: [string, string | Uint8Array][] = [
    ['malformed JSON', '{"name": "x", '],
    ['trailing garbage', '{"name": "x"} {'],
    ['single quotes', "{'name': 'x'}"],
    [
      'invalid UTF-8',
      Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    ],
    [
      'overlong UTF-8',
      Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
    ],
    [
      'a lone surrogate encoded in UTF-8',
      Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    ],
    [
      '\\u0000 in a string',
      '{"name": "a\\u0000b", "cpu": 1000, "mem": 536870912, "vnc_password": "x"}',
    ],
    ['\\u0000 in a key', '{"name": "a", "me\\u0000ta": {}}'],
    ['\\u0000 in a nested meta value', '{"name": "a", "meta": {"k": "v\\u0000"}}'],
    ['a raw NUL byte', '{"name": "a\u0000b"}'],
    ['10,000 nested lists', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['10,000 nested objects', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`],
    [
      'a nested meta 10,000 deep',
      `{"name":"a","meta":${'{"a":'.repeat(10_000)}"x"${'}'.repeat(10_000)}}`,
    ],
  ];

  it('rejects bad bodies with 400 in the CloudSigma format and changes nothing', async () => {
    const server = await createServer(t.alice, { name: 'body-target' });
    const before = await t.app.store.fingerprint();
    for (const [label, raw] of bad) {
      for (const [method, path] of [
        ['POST', '/servers/'],
        ['PUT', `/servers/${server.uuid}/`],
        ['POST', '/drives/'],
        ['PUT', '/profile/'],
        ['DELETE', '/servers/'],
      ] as const) {
        const res = await t.alice.request(method, path, { raw });
        expect(res.status, `${label}: ${method} ${path}: ${res.text}`).toBe(400);
        expectApiError(res, { status: 400, type: 'validation' });
      }
    }
    expect(await t.app.store.fingerprint()).toBe(before);
    expect((await t.alice.get(`/servers/${server.uuid}/`)).json.name).toBe('body-target');
  });

  it('rejects a body over the limit (Content-Length or chunked) with 413 and changes nothing', async () => {
    const small = await startTestApp({ bodyLimit: 2048 });
    try {
      const before = await small.app.store.fingerprint();
      const big = JSON.stringify(serverBody({ name: 'x', meta: { k: 'y'.repeat(4096) } }));
      const res = await small.alice.request('POST', '/servers/', { raw: big });
      expectApiError(res, { status: 413, type: 'validation', point: null });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);

      const chunked = await rawRequest(small.origin, {
        method: 'POST',
        path: '/api/2.0/servers/',
        headers: {
          authorization: basicAuth(ALICE.email, ALICE.password),
          'content-type': 'application/json',
        },
        body: big,
        chunked: true,
      });
      expect(chunked.headers['transfer-encoding']).toBeUndefined();
      expectApiError(asResponse(chunked), { status: 413, type: 'validation' });
      expect(await small.app.store.fingerprint()).toBe(before);

      // Just under the limit still works.
      const fits = await small.alice.post('/servers/', serverBody({ name: 'fits' }));
      expect(fits.status).toBe(201);
    } finally {
      await small.close();
    }
  });

  it('refuses a body not declared JSON with 415 (no cross-site form posts), and reads an empty body as no body', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      const res = await t.alice.request('POST', '/servers/', {
        raw: JSON.stringify(serverBody({ name: 'text-plain' })),
        headers: { 'content-type': type },
      });
      expectApiError(res, { status: 415, type: 'validation' });
    }
    const login = await t.anonymous.request('POST', '/accounts/action/?do=login', {
      raw: 'username=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectApiError(login, { status: 415, type: 'validation' });
    const declared = await t.alice.request('POST', '/servers/', {
      raw: JSON.stringify(serverBody({ name: 'declared' })),
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });
    expect(declared.status, declared.text).toBe(201);
    expect((await t.alice.get('/servers/?name=text-plain')).json.meta.total_count).toBe(0);
    const none = await t.alice.request('POST', '/servers/', { raw: '' });
    expectApiError(none, { status: 400, type: 'validation' });
    const blank = await t.alice.request('POST', '/servers/', { raw: '  \n ' });
    expectApiError(blank, { status: 400, type: 'validation' });
  });
});

describe('content negotiation and headers', () => {
  it('answers 406 to Accept: application/xml and to ?format=xml', async () => {
    for (const accept of ['application/xml', 'text/xml', 'text/html', 'application/json;q=0']) {
      const res = await t.alice.get('/servers/', { headers: { accept } });
      expectApiError(res, { status: 406, type: 'validation' });
    }
    const xml = await t.alice.get('/servers/?format=xml');
    expectApiError(xml, { status: 406, type: 'validation' });
    const both = await t.alice.get('/servers/?format=xml', {
      headers: { accept: 'application/json' },
    });
    expectApiError(both, { status: 406, type: 'validation' });
  });

  it('serves JSON for */*, application/json, a browser Accept and ?format=json', async () => {
    for (const accept of [
      '*/*',
      'application/json',
      'application/json; charset=utf-8',
      'application/xml, application/json',
      'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
    ]) {
      const res = await t.alice.get('/servers/', { headers: { accept } });
      expectJson(res);
      expect(res.json.meta).toBeDefined();
    }
    const format = await t.alice.get('/servers/?format=json', {
      headers: { accept: 'application/xml' },
    });
    expectJson(format);
    // The last of a repeated parameter wins.
    const repeated = await t.alice.get('/servers/?format=xml&format=json');
    expectJson(repeated);
  });

  it('sets a distinct X-REQUEST-ID on every response, success or error', async () => {
    const responses = [
      await t.alice.get('/servers/'),
      await t.alice.get('/servers/'),
      await t.anonymous.get('/servers/'),
      await t.alice.get(`/servers/${randomUUID()}/`),
      await t.alice.delete('/profile/'),
      await t.alice.request('POST', '/servers/', { raw: '{' }),
      await t.alice.get('/servers/', { headers: { accept: 'application/xml' } }),
      await t.alice.request('OPTIONS', '/servers/'),
      await t.anonymous.get('/healthz'),
      await t.anonymous.get('/nothing'),
    ];
    const ids = responses.map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('labels JSON as application/json; charset=utf-8 and 204s as empty', async () => {
    for (const path of ['/servers/', '/profile/', '/capabilities/', '/servers/schema/']) {
      expectJson(await t.alice.get(path));
    }
    const drive = await createDrive(t.alice);
    const del = await t.alice.delete(`/drives/${drive.uuid}/`);
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
  });

  it('compresses with gzip when asked, and only then', async () => {
    const auth = basicAuth(ALICE.email, ALICE.password);
    const gz = await rawRequest(t.origin, {
      method: 'GET',
      path: '/api/2.0/capabilities/',
      headers: { authorization: auth, 'accept-encoding': 'gzip' },
    });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-type']).toBe(JSON_CONTENT_TYPE);
    expect(gz.body[0]).toBe(0x1f);
    expect(gz.body[1]).toBe(0x8b);
    const unzipped = JSON.parse(gunzipSync(gz.body).toString('utf8'));

    const plain = await rawRequest(t.origin, {
      method: 'GET',
      path: '/api/2.0/capabilities/',
      headers: { authorization: auth },
    });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(unzipped).toEqual(JSON.parse(plain.body.toString('utf8')));
    expect(unzipped.drives).toBeDefined();
  });
});

describe('lists', () => {
  let l: TestApp;
  const uuids: string[] = [];
  beforeAll(async () => {
    l = await startTestApp();
    const objects = Array.from({ length: 25 }, (_, i) =>
      serverBody({ name: `srv-${String(i).padStart(2, '0')}` }),
    );
    const res = await l.alice.post('/servers/', { objects });
    expect(res.status).toBe(201);
    for (const o of res.json.objects as { uuid: string }[]) uuids.push(o.uuid);
  });
  afterAll(() => l.close());

  it('wraps objects in {meta: {limit, offset, total_count}, objects} with a default limit of 20', async () => {
    const res = await l.alice.get('/servers/');
    expectJson(res);
    expect(Object.keys(res.json).sort()).toEqual(['meta', 'objects']);
    expect(res.json.meta).toEqual({ limit: 20, offset: 0, total_count: 25 });
    expect(res.json.objects).toHaveLength(20);
    expect(names(res)[0]).toBe('srv-00');
    const detail = await l.alice.get('/servers/detail/');
    expect(detail.json.meta).toEqual({ limit: 20, offset: 0, total_count: 25 });
    expect(detail.json.objects[0].cpu).toBe(1000);
  });

  it('returns everything with limit=0 and pages with offset', async () => {
    const all = await l.alice.get('/servers/?limit=0');
    expect(all.json.meta).toEqual({ limit: 0, offset: 0, total_count: 25 });
    expect((all.json.objects as { uuid: string }[]).map((o) => o.uuid)).toEqual(uuids);

    const tail = await l.alice.get('/servers/?offset=20');
    expect(tail.json.meta).toEqual({ limit: 20, offset: 20, total_count: 25 });
    expect((tail.json.objects as { uuid: string }[]).map((o) => o.uuid)).toEqual(uuids.slice(20));

    const page = await l.alice.get('/servers/?limit=5&offset=3');
    expect(page.json.meta).toEqual({ limit: 5, offset: 3, total_count: 25 });
    expect((page.json.objects as { uuid: string }[]).map((o) => o.uuid)).toEqual(uuids.slice(3, 8));

    const past = await l.alice.get('/servers/?offset=100');
    expect(past.json).toEqual({ meta: { limit: 20, offset: 100, total_count: 25 }, objects: [] });
  });

  it('rejects a bad limit or offset with 400 naming the parameter', async () => {
    for (const value of ['-1', 'abc', '1.5', '1e3', '99999999999999999999']) {
      expectApiError(await l.alice.get(`/servers/?limit=${value}`), {
        status: 400,
        type: 'validation',
        point: 'limit',
      });
      expectApiError(await l.alice.get(`/drives/?offset=${value}`), {
        status: 400,
        type: 'validation',
        point: 'offset',
      });
    }
  });

  it('orders by name and -name', async () => {
    const asc = await l.alice.get('/servers/?order_by=name&limit=3');
    expect(names(asc)).toEqual(['srv-00', 'srv-01', 'srv-02']);
    const desc = await l.alice.get('/servers/?order_by=-name&limit=3');
    expect(names(desc)).toEqual(['srv-24', 'srv-23', 'srv-22']);
    const unknown = await l.alice.get('/servers/?order_by=cpu&limit=2');
    expect(unknown.status).toBe(200);
    expect(names(unknown)).toEqual(['srv-00', 'srv-01']);
  });
});

describe('filters', () => {
  let f: TestApp;
  const byName = new Map<string, string>();
  const NAMES = ['Alpha', 'alpha', 'ÄBC-x', 'beta,gamma', 'beta', 'gamma', 'delta', 'a\\b'];
  beforeAll(async () => {
    f = await startTestApp();
    const res = await f.alice.post('/servers/', {
      objects: NAMES.map((name) => serverBody({ name })),
    });
    expect(res.status).toBe(201);
    for (const o of res.json.objects as { uuid: string; name: string }[])
      byName.set(o.name, o.uuid);
    await f.bob.post('/servers/', serverBody({ name: 'alpha' }));
  });
  afterAll(() => f.close());

  async function found(query: string): Promise<string[]> {
    const res = await f.alice.get(`/servers/?limit=0&${query}`);
    expect(res.status, res.text).toBe(200);
    expect(res.json.meta.total_count).toBe(res.json.objects.length);
    return names(res).sort();
  }

  it('matches name exactly, with commas as OR and \\, as a literal comma', async () => {
    expect(await found('name=alpha')).toEqual(['alpha']);
    expect(await found('name=alpha,beta')).toEqual(['alpha', 'beta']);
    expect(await found(`name=${encodeURIComponent('beta\\,gamma')}`)).toEqual(['beta,gamma']);
    expect(await found(`name=${encodeURIComponent('a\\\\b')}`)).toEqual(['a\\b']);
    expect(await found('name=nothing')).toEqual([]);
  });

  it('matches name__contains and name__icontains case-insensitively and Unicode-aware', async () => {
    expect(await found('name__contains=ALP')).toEqual(['Alpha', 'alpha']);
    expect(await found('name__icontains=ALP')).toEqual(['Alpha', 'alpha']);
    expect(await found(`name__contains=${encodeURIComponent('äb')}`)).toEqual(['ÄBC-x']);
    expect(await found(`name__icontains=${encodeURIComponent('äB')}`)).toEqual(['ÄBC-x']);
    expect(await found('name__contains=elt,amm')).toEqual(['beta,gamma', 'delta', 'gamma']);
  });

  it('ANDs separate parameters (also a repeated one)', async () => {
    expect(await found('name__contains=a&name__contains=l')).toEqual(['Alpha', 'alpha', 'delta']);
    expect(await found('name__contains=a&name__contains=l&name__contains=p')).toEqual([
      'Alpha',
      'alpha',
    ]);
    const alpha = byName.get('alpha')!;
    const beta = byName.get('beta')!;
    expect(await found(`uuid=${alpha},${beta}`)).toEqual(['alpha', 'beta']);
    expect(await found(`uuid=${alpha},${beta}&name=beta`)).toEqual(['beta']);
    expect(await found(`uuid=${alpha}&name=beta`)).toEqual([]);
  });

  it('ignores unknown parameters', async () => {
    expect(await found('foo=bar&name__in=x&cpu=5')).toEqual([...NAMES].sort());
  });

  it('filters drives too', async () => {
    await f.alice.post('/drives/', {
      objects: [driveBody({ name: 'disk-one' }), driveBody({ name: 'Disk-Two' })],
    });
    const res = await f.alice.get('/drives/?name__contains=DISK-t');
    expect(res.json.meta.total_count).toBe(1);
    expect(Object.keys(res.json.objects[0]).sort()).toEqual([
      'owner',
      'resource_uri',
      'status',
      'uuid',
    ]);
    const detail = await f.alice.get('/drives/detail/?name=disk-one');
    expect(detail.json.objects.map((d: { name: string }) => d.name)).toEqual(['disk-one']);
  });

  it('projects fields= on lists and on single objects', async () => {
    const list = await f.alice.get('/servers/detail/?fields=name,uuid,nosuchfield&name=alpha');
    expect(list.json.meta.total_count).toBe(1);
    expect(list.json.objects).toEqual([{ name: 'alpha', uuid: byName.get('alpha') }]);
    const one = await f.alice.get(`/servers/${byName.get('beta')}/?fields=cpu,status`);
    expect(one.json).toEqual({ cpu: 1000, status: 'stopped' });
    const drives = await f.alice.get('/drives/?fields=status&limit=0');
    expect(drives.json.objects).toEqual([{ status: 'unmounted' }, { status: 'unmounted' }]);
  });
});

describe('create', () => {
  it('accepts {objects: [...]}, a bare list and a bare object, always answering 201 {objects}', async () => {
    const bodies: [unknown, number][] = [
      [{ objects: [serverBody({ name: 'wrapped' })] }, 1],
      [[serverBody({ name: 'bare-list' })], 1],
      [serverBody({ name: 'bare-object' }), 1],
      [{ objects: [serverBody({ name: 'two-a' }), serverBody({ name: 'two-b' })] }, 2],
      [[serverBody({ name: 'list-a' }), serverBody({ name: 'list-b' })], 2],
    ];
    for (const [body, count] of bodies) {
      const res = await t.alice.post('/servers/', body);
      expectJson(res, 201);
      expect(Object.keys(res.json)).toEqual(['objects']);
      expect(res.json.objects).toHaveLength(count);
      const created = res.json.objects as { uuid: string; name: string }[];
      for (const o of created) {
        expect(o.uuid).toMatch(UUID_RE);
        const got = await t.alice.get(`/servers/${o.uuid}/`);
        expect(got.json).toEqual(o);
      }
      if (count === 1) {
        expect(res.headers.get('location')).toBe(
          `${t.origin}/api/2.0/servers/${created[0]!.uuid}/`,
        );
      } else {
        expect(res.headers.get('location')).toBeNull();
      }
    }
  });

  it('creates nothing when one object of a bulk create is invalid', async () => {
    const before = await t.app.store.fingerprint();
    const servers = await t.alice.post('/servers/', {
      objects: [serverBody({ name: 'ok-1' }), serverBody({ name: 'ok-2' }), { name: 'no-cpu' }],
    });
    expectApiError(servers, { status: 400, type: 'validation' });
    const drives = await t.alice.post('/drives/', [
      driveBody({ name: 'ok' }),
      driveBody({ name: 'bad', media: 'floppy' }),
    ]);
    expectApiError(drives, { status: 400, type: 'validation', point: 'media' });
    const empty = await t.alice.post('/servers/', { objects: [] });
    expectApiError(empty, { status: 400, type: 'validation', point: 'objects' });
    const scalar = await t.alice.post('/servers/', 42);
    expectApiError(scalar, { status: 400, type: 'validation' });
    expect(await t.app.store.fingerprint()).toBe(before);

    // A failure found only inside the transaction (the second server mounts the first one's
    // disk) rolls back the first server and its mount too.
    const disk = await createDrive(t.alice, { name: 'bulk-disk' });
    const afterDisk = await t.app.store.fingerprint();
    const attach = { drives: [{ drive: disk.uuid, device: 'virtio', dev_channel: '0:0' }] };
    const mounted = await t.alice.post('/servers/', {
      objects: [
        serverBody({ name: 'first', ...attach }),
        serverBody({ name: 'second', ...attach }),
      ],
    });
    expectApiError(mounted, { status: 400, type: 'validation', point: 'drives' });
    expect(await t.app.store.fingerprint()).toBe(afterDisk);
    expect((await t.alice.get(`/drives/${disk.uuid}/`)).json.mounted_on).toEqual([]);
  });
});

describe('references', () => {
  it('accepts a bare uuid, {uuid}, {resource_uri}, a fuller object and a URI; emits {resource_uri, uuid}', async () => {
    const drives = await Promise.all([1, 2, 3, 4, 5, 6].map(() => createDrive(t.alice)));
    const d = drives.map((x) => x.uuid);
    const uri = (u: string) => `/api/2.0/drives/${u}/`;
    const refs: unknown[] = [
      d[0],
      { uuid: d[1] },
      { resource_uri: uri(d[2]!) },
      { uuid: d[3], name: 'ignored', size: 1, status: 'creating', resource_uri: uri(d[3]!) },
      uri(d[4]!),
      `${t.origin}${uri(d[5]!)}`,
    ];
    const server = await createServer(t.alice, {
      drives: refs.map((drive, i) => ({ drive, device: 'virtio', dev_channel: `0:${i}` })),
    });
    const attached = server.drives as { drive: unknown }[];
    expect(attached.map((a) => a.drive)).toEqual(d.map((u) => ({ resource_uri: uri(u), uuid: u })));
    for (const a of attached)
      expect(Object.keys(a.drive as object).sort()).toEqual(['resource_uri', 'uuid']);
    expect(server.owner).toEqual({
      resource_uri: `/api/2.0/user/${(await t.alice.get('/profile/')).json.uuid}/`,
      uuid: (await t.alice.get('/profile/')).json.uuid,
    });
    const drive = await t.alice.get(`/drives/${d[0]}/`);
    expect(drive.json.mounted_on).toEqual([
      { resource_uri: `/api/2.0/servers/${server.uuid}/`, uuid: server.uuid },
    ]);
    expect(drive.json.status).toBe('mounted');

    // The same forms in a PUT; the order of the request is kept.
    const put = await t.alice.put(`/servers/${server.uuid}/`, {
      drives: [
        { drive: { resource_uri: uri(d[5]!) }, device: 'ide', dev_channel: '0:0' },
        { drive: d[0], device: 'virtio', dev_channel: '0:1' },
      ],
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json.drives.map((a: { drive: unknown }) => a.drive)).toEqual([
      { resource_uri: uri(d[5]!), uuid: d[5] },
      { resource_uri: uri(d[0]!), uuid: d[0] },
    ]);
  });

  it('rejects a URI of another resource kind or a malformed reference with 400 naming the field', async () => {
    const drive = await createDrive(t.alice);
    const before = await t.app.store.fingerprint();
    for (const ref of [`/api/2.0/servers/${drive.uuid}/`, '/not/a/uri/', '', 42, { name: 'x' }]) {
      const res = await t.alice.post(
        '/servers/',
        serverBody({ drives: [{ drive: ref, device: 'virtio', dev_channel: '0:0' }] }),
      );
      expectApiError(res, { status: 400, type: 'validation', point: 'drives.0.drive' });
    }
    expect(await t.app.store.fingerprint()).toBe(before);
  });
});

describe('PUT', () => {
  it('merges at the top level: omitted fields keep their value, meta is replaced whole', async () => {
    const server = await createServer(t.alice, {
      name: 'merge',
      meta: { a: '1', b: '2' },
      nics: [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }],
    });
    const renamed = await t.alice.put(`/servers/${server.uuid}/`, { name: 'merged' });
    expectJson(renamed);
    expect(renamed.json).toEqual({ ...server, name: 'merged' });

    const meta = await t.alice.put(`/servers/${server.uuid}/`, { meta: { c: '3' } });
    expect(meta.json.meta).toEqual({ c: '3' });
    expect(meta.json.name).toBe('merged');
    expect(meta.json.nics).toEqual(server.nics);

    const nics = await t.alice.put(`/servers/${server.uuid}/`, { nics: [] });
    expect(nics.json.nics).toEqual([]);
    expect(nics.json.meta).toEqual({ c: '3' });
    expect((await t.alice.get(`/servers/${server.uuid}/`)).json).toEqual(nics.json);
  });

  it('replaces the drives list whole and unmounts what was left out', async () => {
    const [d1, d2, d3] = await Promise.all([1, 2, 3].map(() => createDrive(t.alice)));
    const server = await createServer(t.alice, {
      drives: [
        { drive: d1!.uuid, device: 'virtio', dev_channel: '0:0' },
        { drive: d2!.uuid, device: 'virtio', dev_channel: '0:1' },
      ],
    });
    const put = await t.alice.put(`/servers/${server.uuid}/`, {
      drives: [{ drive: d3!.uuid, device: 'virtio', dev_channel: '0:5' }],
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json.drives.map((a: { drive: { uuid: string } }) => a.drive.uuid)).toEqual([
      d3!.uuid,
    ]);
    for (const [d, status] of [
      [d1!, 'unmounted'],
      [d2!, 'unmounted'],
      [d3!, 'mounted'],
    ] as const) {
      expect((await t.alice.get(`/drives/${d.uuid}/`)).json.status).toBe(status);
    }
  });

  it('ignores read-only fields and a body uuid that differs from the URL', async () => {
    const target = await createServer(t.alice, { name: 'target' });
    const other = await createServer(t.alice, { name: 'other' });
    const bobUuid = (await t.bob.get('/profile/')).json.uuid as string;
    const res = await t.alice.put(`/servers/${target.uuid}/`, {
      ...target,
      uuid: other.uuid,
      resource_uri: `/api/2.0/servers/${other.uuid}/`,
      owner: { uuid: bobUuid, resource_uri: `/api/2.0/user/${bobUuid}/` },
      status: 'running',
      runtime: { active_since: '2020-01-01T00:00:00+00:00', nics: [] },
      jobs: [{ uuid: randomUUID() }],
      grantees: [{ user: bobUuid }],
      permissions: ['EDIT'],
      name: 'target-renamed',
    });
    expectJson(res);
    expect(res.json).toEqual({ ...target, name: 'target-renamed' });
    expect((await t.alice.get(`/servers/${other.uuid}/`)).json).toEqual(other);
    expect((await t.bob.get('/servers/?limit=0')).json.objects).toEqual([]);

    const drive = await createDrive(t.alice, { name: 'ro-drive' });
    const dput = await t.alice.put(`/drives/${drive.uuid}/`, {
      uuid: randomUUID(),
      status: 'mounted',
      mounted_on: [{ uuid: target.uuid }],
      owner: bobUuid,
      runtime: { storage_type: 'magnetic' },
      snapshots: [randomUUID()],
      resource_uri: '/api/2.0/drives/zzz/',
      name: 'ro-drive-2',
    });
    expectJson(dput);
    expect(dput.json).toEqual({ ...drive, name: 'ro-drive-2' });
  });

  it('answers 400 to a PUT body that is not an object, changing nothing', async () => {
    const server = await createServer(t.alice);
    const before = await t.app.store.fingerprint();
    for (const body of [[], [{ name: 'x' }], 'x', 1, null]) {
      expectApiError(await t.alice.put(`/servers/${server.uuid}/`, body), {
        status: 400,
        type: 'validation',
      });
    }
    expectApiError(await t.alice.put(`/servers/${server.uuid}/`, { cpu: 'fast' }), {
      status: 400,
      type: 'validation',
      point: 'cpu',
    });
    expect(await t.app.store.fingerprint()).toBe(before);
  });
});

describe('bulk DELETE', () => {
  for (const kind of ['servers', 'drives'] as const) {
    it(`deletes several ${kind} at once, or none if one uuid is unknown`, async () => {
      const create = kind === 'servers' ? createServer : createDrive;
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => create(t.alice)));
      const ok = await t.alice.delete(`/${kind}/`, {
        objects: [{ uuid: a!.uuid }, { uuid: b!.uuid }],
      });
      expect(ok.status, ok.text).toBe(204);
      expect(ok.text).toBe('');
      expect((await t.alice.get(`/${kind}/${a!.uuid}/`)).status).toBe(404);
      expect((await t.alice.get(`/${kind}/${b!.uuid}/`)).status).toBe(404);
      expect((await t.alice.get(`/${kind}/${c!.uuid}/`)).status).toBe(200);

      const before = await t.app.store.fingerprint();
      const missing = randomUUID();
      const res = await t.alice.delete(`/${kind}/`, {
        objects: [{ uuid: c!.uuid }, { uuid: missing }],
      });
      expectApiError(res, { status: 404, type: 'notexist', point: null, message: missing });
      expect(JSON.parse(res.text)).toEqual([
        {
          error_point: null,
          error_type: 'notexist',
          error_message: `Object with uuid ${missing} does not exist`,
        },
      ]);
      expect(await t.app.store.fingerprint()).toBe(before);
      expect((await t.alice.get(`/${kind}/${c!.uuid}/`)).status).toBe(200);

      expectApiError(await t.alice.delete(`/${kind}/`, { objects: [{ name: 'x' }] }), {
        status: 400,
        type: 'validation',
        point: 'objects.0.uuid',
      });
      expectApiError(await t.alice.delete(`/${kind}/`), { status: 400, type: 'validation' });
      expect(await t.app.store.fingerprint()).toBe(before);
    });
  }

  it('detaches drives deleted in bulk from their servers', async () => {
    const [d1, d2] = await Promise.all([1, 2].map(() => createDrive(t.alice)));
    const server = await createServer(t.alice, {
      drives: [
        { drive: d1!.uuid, device: 'virtio', dev_channel: '0:0' },
        { drive: d2!.uuid, device: 'virtio', dev_channel: '0:1' },
      ],
    });
    expect((await t.alice.delete('/drives/', { objects: [{ uuid: d1!.uuid }] })).status).toBe(204);
    const after = await t.alice.get(`/servers/${server.uuid}/`);
    expect(after.json.drives.map((a: { drive: { uuid: string } }) => a.drive.uuid)).toEqual([
      d2!.uuid,
    ]);
  });
});

describe('singletons', () => {
  it('GET /profile/ shows the account; PUT changes writable fields and ignores read-only ones', async () => {
    const profile = await t.alice.get('/profile/');
    expectJson(profile);
    expect(profile.json.email).toBe(ALICE.email);
    expect(profile.json.uuid).toMatch(UUID_RE);
    expect(profile.json.state).toBe('REGULAR');

    const put = await t.alice.put('/profile/', {
      first_name: 'Alice',
      company: 'Wonderland',
      meta: { color: 'blue' },
      clone_naming: 'COUNTER',
      email: 'mallory@example.com',
      uuid: randomUUID(),
      state: 'VIP',
      signup_time: '2000-01-01T00:00:00+00:00',
      currency: 'XXX',
    });
    expectJson(put);
    expect(put.json).toEqual({
      ...profile.json,
      first_name: 'Alice',
      company: 'Wonderland',
      meta: { color: 'blue' },
      clone_naming: 'COUNTER',
    });
    expect((await t.alice.get('/profile/')).json).toEqual(put.json);
    // Alice still logs in with her email; bob's profile is his own.
    const bob = await t.bob.get('/profile/');
    expect(bob.json.email).toBe(BOB.email);
    expect(bob.json.first_name).toBe('');
    expect(bob.json.uuid).not.toBe(profile.json.uuid);

    const before = await t.app.store.fingerprint();
    expectApiError(await t.alice.put('/profile/', { clone_naming: 'SOMETIMES' }), {
      status: 400,
      type: 'validation',
      point: 'clone_naming',
    });
    expect(await t.app.store.fingerprint()).toBe(before);
  });

  it('GET /balance/ answers the configured balance', async () => {
    const res = await t.alice.get('/balance/');
    expectJson(res);
    expect(res.json).toEqual({ balance: '10000.00', credit_limit: null, currency: 'EUR' });
  });

  it('GET /locations/ answers one location in the list envelope, at the address used', async () => {
    const res = await t.alice.get('/locations/');
    expectJson(res);
    expect(res.json.meta).toEqual({ limit: 0, offset: 0, total_count: 1 });
    expect(res.json.objects).toHaveLength(1);
    expect(res.json.objects[0].api_endpoint).toBe(`${t.origin}/api/2.0/`);
    expect(res.json.objects[0].id).toBe('SIGMALITE');
  });

  // The repository's copy of the recorded fixtures (test/fixtures/cloudsigma).
  const fixture = join(
    process.env.SIGMALITE_FIXTURES ??
      fileURLToPath(new URL('../fixtures/cloudsigma', import.meta.url)),
    'response_capabilities',
  );
  it('GET /capabilities/ equals the response_capabilities fixture by default', async () => {
    const text = readFileSync(fixture, 'utf8');
    const expected = JSON.parse(text.slice(text.indexOf('\n{') + 1)) as unknown;
    const res = await t.alice.get('/capabilities/');
    expectJson(res);
    expect(res.json).toEqual(expected);
  });
});
