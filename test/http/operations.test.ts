/**
 * What operators see, through a real socket: `/readyz`, `/metrics` (a registry per app), one log
 * line per request with the `X-REQUEST-ID`, unknown fields ignored and logged (lenient) or refused
 * (`--strict`), and the trace log with its secrets redacted.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  serverBody,
  startTestApp,
  type TestApp,
  type TestAppOptions,
} from '../support/app.js';

const apps: TestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((t) => t.close()));
});

async function start(options: TestAppOptions = {}): Promise<TestApp> {
  const t = await startTestApp(options);
  apps.push(t);
  return t;
}

/** An app whose log lines (parsed) are collected in `lines`. */
async function logged(level: string, options: TestAppOptions = {}) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const t = await start({ ...options, logger: pino({ level }, sink) });
  return { t, lines };
}

/** Log lines are written when the answer has gone: wait until the one for `requestId` is in. */
async function lineFor(lines: Record<string, unknown>[], requestId: string, msg = 'request') {
  for (let i = 0; i < 100; i++) {
    const line = lines.find((l) => l.request_id === requestId && l.msg === msg);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no "${msg}" line for request ${requestId}`);
}

async function text(t: TestApp, path: string) {
  const response = await fetch(t.origin + path);
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    body: await response.text(),
  };
}

/** The value of one sample of the exposition, or undefined. */
function sample(
  exposition: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    const got = Object.fromEntries(
      inside.split(/,(?=[a-z_]+=")/).map((pair) => {
        const eq = pair.indexOf('=');
        return [pair.slice(0, eq), JSON.parse(pair.slice(eq + 1)) as string];
      }),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

describe('/readyz', () => {
  it('is ready when the store answers and the engine runs, and says what is not', async () => {
    const t = await start();
    const ready = await text(t, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({
      status: 'ready',
      checks: { store: 'ok', engine: 'ok' },
    });
    await t.app.engine.stop();
    const stopped = await text(t, '/readyz');
    expect(stopped.status).toBe(503);
    expect(JSON.parse(stopped.body)).toEqual({
      status: 'not ready',
      checks: { store: 'ok', engine: 'stopped' },
    });
    await t.app.engine.start();
  });

  it('is not ready when the store cannot be reached', async () => {
    const t = await start();
    const { store } = t.app;
    const ping = store.ping.bind(store);
    store.ping = async () => {
      throw new Error('connection refused');
    };
    try {
      const answer = await text(t, '/readyz');
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body).checks.store).toBe('unreachable: connection refused');
    } finally {
      store.ping = ping;
    }
    expect((await text(t, '/healthz')).status).toBe(200);
  });
});

describe('/metrics', () => {
  it('counts requests by route and status, objects by kind and status, tasks and driver calls', async () => {
    const t = await start();
    const created = await t.alice.post('/servers/', { objects: [serverBody()] });
    expect(created.status).toBe(201);
    await t.alice.get('/servers/nope/');
    const uuid = created.json.objects[0].uuid;
    expect((await t.alice.post(`/servers/${uuid}/action/?do=start`, {})).status).toBe(202);

    const metrics = await text(t, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = metrics.body;
    expect(
      sample(m, 'sigmalite_http_requests_total', {
        method: 'POST',
        route: '/servers/',
        status: '201',
      }),
    ).toBe(1);
    expect(
      sample(m, 'sigmalite_http_requests_total', {
        method: 'GET',
        route: '/servers/:uuid/',
        status: '404',
      }),
    ).toBe(1);
    expect(
      sample(m, 'sigmalite_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/servers/:uuid/action/',
      }),
    ).toBe(1);
    expect(sample(m, 'sigmalite_objects', { kind: 'servers', status: 'running' })).toBe(1);
    expect(sample(m, 'sigmalite_tasks', { state: 'queued' })).toBe(0);
    expect(sample(m, 'sigmalite_tasks', { state: 'running' })).toBe(0);
    expect(
      sample(m, 'sigmalite_driver_operations_total', {
        driver: 'compute',
        operation: 'start',
        outcome: 'ok',
      }),
    ).toBe(1);
    // Requests outside the API (this scrape, /healthz) are not API routes.
    expect(m).not.toContain('route="/metrics"');
  });

  it('keeps one registry per app: two apps in one process count apart', async () => {
    const [a, b] = [await start(), await start()];
    await a.alice.post('/servers/', { objects: [serverBody()] });
    await a.alice.post('/servers/', { objects: [serverBody()] });
    await b.alice.post('/servers/', { objects: [serverBody()] });
    const count = async (t: TestApp) =>
      sample((await text(t, '/metrics')).body, 'sigmalite_http_requests_total', {
        method: 'POST',
        route: '/servers/',
        status: '201',
      });
    expect(await count(a)).toBe(2);
    expect(await count(b)).toBe(1);
  });
});

describe('request log', () => {
  it('writes one line per request with the X-REQUEST-ID, account, method, path, status and time', async () => {
    const { t, lines } = await logged('info');
    const res = await t.alice.get('/servers/?limit=1');
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const line = await lineFor(lines, id);
    expect(line).toMatchObject({
      level: 30,
      request_id: id,
      account: ALICE.email,
      method: 'GET',
      path: '/api/2.0/servers/?limit=1',
      status: 200,
    });
    expect(typeof line.ms).toBe('number');
    // A stranger's request is logged too, without an account.
    const denied = await t.anonymous.get('/servers/');
    const deniedLine = await lineFor(lines, denied.headers.get('x-request-id')!);
    expect(deniedLine).toMatchObject({ status: 401 });
    expect(deniedLine.account).toBeUndefined();
  });

  it('does not write bodies below level trace', async () => {
    const { t, lines } = await logged('debug');
    const res = await t.alice.post('/servers/', {
      objects: [serverBody({ vnc_password: 'hunter22' })],
    });
    await lineFor(lines, res.headers.get('x-request-id')!);
    expect(JSON.stringify(lines)).not.toContain('hunter22');
    expect(lines.some((l) => l.msg === 'request trace')).toBe(false);
  });
});

describe('trace log', () => {
  it('logs headers and bodies with passwords, VNC passwords, private keys, cookies and credentials redacted', async () => {
    const { t, lines } = await logged('trace');
    const res = await t.alice.post(
      '/servers/',
      { objects: [serverBody({ name: 'traced', vnc_password: 'hunter22' })] },
      { headers: { cookie: 'sessionid=sekrit-cookie' } },
    );
    expect(res.status).toBe(201);
    const trace = await lineFor(lines, res.headers.get('x-request-id')!, 'request trace');
    expect(trace.level).toBe(10);
    expect(trace.request_body).toMatchObject({
      objects: [{ name: 'traced', vnc_password: '[redacted]' }],
    });
    expect(trace.response_body).toMatchObject({
      objects: [{ name: 'traced', vnc_password: '[redacted]' }],
    });
    expect(trace.request_headers).toMatchObject({
      authorization: '[redacted]',
      cookie: '[redacted]',
    });

    const key = await t.alice.post('/keypairs/', {
      objects: [{ name: 'k', algorithm_type: 'ed25519' }],
    });
    expect(key.status).toBe(201);
    const keyTrace = await lineFor(lines, key.headers.get('x-request-id')!, 'request trace');
    expect(keyTrace.response_body).toMatchObject({ objects: [{ private_key: '[redacted]' }] });

    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: ALICE.email,
      password: ALICE.password,
    });
    expect(login.status).toBe(200);
    const loginTrace = await lineFor(lines, login.headers.get('x-request-id')!, 'request trace');
    expect(loginTrace.request_body).toMatchObject({ password: '[redacted]' });
    expect(loginTrace.response_headers).toMatchObject({ 'set-cookie': '[redacted]' });

    const all = JSON.stringify(lines);
    for (const secret of ['hunter22', 'sekrit-cookie', ALICE.password, 'PRIVATE KEY']) {
      expect(all).not.toContain(secret);
    }
  });
});

describe('unknown query parameters', () => {
  it('are ignored by lists and named in the log line', async () => {
    const { t, lines } = await logged('info');
    const res = await t.alice.get('/servers/?limit=5&nmae=typo&name=x&cpu=5');
    expect(res.status).toBe(200);
    const line = await lineFor(lines, res.headers.get('x-request-id')!);
    expect(line.ignored_parameters).toEqual(['nmae', 'cpu']);
    const clean = await t.alice.get('/servers/?limit=5&name__icontains=x');
    expect(
      (await lineFor(lines, clean.headers.get('x-request-id')!)).ignored_parameters,
    ).toBeUndefined();
  });

  it("name a server clone's avoid, which it accepts and ignores (drives have no location yet)", async () => {
    const { t, lines } = await logged('info');
    const server = (await t.alice.post('/servers/', serverBody())).json.objects[0].uuid as string;
    const clone = await t.alice.post(`/servers/${server}/action/?do=clone&avoid=${server}`, {});
    expect(clone.status, clone.text).toBe(202);
    const line = await lineFor(lines, clone.headers.get('x-request-id')!);
    expect(line.ignored_parameters).toEqual(['avoid']);
    // A start's avoid is read, not ignored.
    const start = await t.alice.post(`/servers/${server}/action/?do=start&avoid=${server}`);
    expect(start.status, start.text).toBe(202);
    expect(
      (await lineFor(lines, start.headers.get('x-request-id')!)).ignored_parameters,
    ).toBeUndefined();
  });
});

describe('unknown fields', () => {
  it('are ignored and logged by default', async () => {
    const { t, lines } = await logged('info');
    const res = await t.alice.post('/servers/', {
      objects: [serverBody({ colour: 'blue', nics: [{ ip_v4_conf: { conf: 'dhcp' }, speed: 9 }] })],
    });
    expect(res.status).toBe(201);
    expect(res.json.objects[0].colour).toBeUndefined();
    const line = await lineFor(lines, res.headers.get('x-request-id')!);
    expect(line.ignored_fields).toEqual(['objects.0.colour', 'objects.0.nics.0.speed']);
  });

  it('are refused with --strict, each named, and nothing is written', async () => {
    const t = await start({ strict: true });
    const before = await t.app.store.fingerprint();
    const res = await t.alice.post('/servers/', {
      objects: [
        serverBody(),
        serverBody({ colour: 'blue', nics: [{ ip_v4_conf: { conf: 'dhcp' }, speed: 9 }] }),
      ],
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual([
      {
        error_point: 'objects.1.colour',
        error_type: 'validation',
        error_message: 'Unknown field "objects.1.colour" (--strict)',
      },
      {
        error_point: 'objects.1.nics.0.speed',
        error_type: 'validation',
        error_message: 'Unknown field "objects.1.nics.0.speed" (--strict)',
      },
    ]);
    expect(await t.app.store.fingerprint()).toBe(before);

    const created = await t.alice.post('/servers/', serverBody());
    expect(created.status).toBe(201);
    const uuid = created.json.objects[0].uuid;
    const put = await t.alice.put(`/servers/${uuid}/`, {
      ...created.json.objects[0],
      colour: 'red',
    });
    expect(put.status).toBe(400);
    expect(put.json[0].error_point).toBe('colour');
    const profile = await t.alice.put('/profile/', { favourite_colour: 'x' });
    expect(profile.status).toBe(400);
    expect(profile.json[0].error_point).toBe('favourite_colour');
  });

  it('--strict still takes back what a GET gave (read-only fields are known)', async () => {
    const t = await start({ strict: true });
    const created = await t.alice.post('/servers/', serverBody());
    const uuid = created.json.objects[0].uuid;
    const got = await t.alice.get(`/servers/${uuid}/`);
    const put = await t.alice.put(`/servers/${uuid}/`, { ...got.json, name: 'renamed' });
    expect(put.status).toBe(200);
    expect(put.json.name).toBe('renamed');
  });
});
