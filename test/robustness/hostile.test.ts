/**
 * Thousands of generated malformed or hostile requests per store, through a real socket. For
 * every answer: never a 5xx; every error is `application/json; charset=utf-8` with the CloudSigma
 * body `[{error_point, error_type, error_message}]`; and a rejected request leaves the store
 * exactly as it was (`Store.fingerprint()` before and after). Requests are generated from a seeded
 * PRNG, so a failure names a case that the next run sends again.
 *
 * The fixtures (servers with drives attached, free drives, another account's objects) give the
 * updates and deletes real targets; every request against them is one the API must refuse, and
 * at the end they are compared with their state before the fuzz.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldDef, Fields } from '../../src/model/fields.js';
import { DRIVES } from '../../src/resources/drives/model.js';
import { SERVERS } from '../../src/resources/servers/model.js';
import { fold } from '../../src/store/types.js';
import { ALICE, BOB, startTestApp, type TestApp, type User } from '../support/app.js';
import { TEST_STORE } from '../support/stores.js';
import {
  errorBodyProblem,
  firstErrorType,
  JSON_TYPE,
  Rng,
  send,
  sendBytes,
  type WireResponse,
} from './wire.js';

const VICTIM: User = { email: 'victim@example.com', password: 'victim-secret' };
const BODY_LIMIT = 64 * 1024;
const SEED = 0x5eed_2026;
const API = '/api/2.0';

type Who = 'alice' | 'bob' | 'victim' | 'none';

interface Case {
  category: string;
  label: string;
  method: string;
  /** Absolute path and query as sent. */
  path: string;
  body?: string | Buffer;
  /** Content-Type sent with a body; null sends none. Default `application/json`. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** Whose Basic credentials (default alice); ignored when `headers` has an Authorization. */
  as?: Who;
  /** The whole request as bytes over node:net (for what node:http refuses to send). */
  raw?: Buffer;
  /** The statuses that are right; any non-5xx when omitted. */
  expect?: readonly number[];
  /** The first error's `error_type` when the answer is an error. */
  errorType?: string;
  /** A further check of a 2xx answer: a problem, or undefined. */
  check?: (res: WireResponse) => string | undefined;
  /** The server may close the connection without answering (CONNECT, which Node hands off). */
  mayDrop?: boolean;
  /** The content type of a 2xx answer, when it is not JSON (the console's page). */
  pageType?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are walked freely in checks.
type Obj = Record<string, any>;

interface Fixtures {
  /** alice: disk attached to s1 only. */
  dA: string;
  /** alice: disk with allow_multimount, attached to s1 and s2. */
  dM: string;
  /** alice: free disk whose name has SQL wildcards. */
  dB: string;
  /** alice: free cdrom. */
  dC: string;
  s1: string;
  s2: string;
  s1Macs: string[];
  s2Macs: string[];
  bobDrive: string;
  bobServer: string;
  victimServer: string;
  /** The victim's live session. */
  session: { id: string; csrf: string };
  /** A Digest nonce and opaque from a real challenge. */
  digest: { nonce: string; opaque: string };
  /** GET representations before the fuzz. */
  before: Map<string, string>;
}

let t: TestApp;
let fx: Fixtures;
let lastFingerprint = '';
const authHeader = (u: User) =>
  `Basic ${Buffer.from(`${u.email}:${u.password}`).toString('base64')}`;
const AUTH: Record<Exclude<Who, 'none'>, string> = {
  alice: authHeader(ALICE),
  bob: authHeader(BOB),
  victim: authHeader(VICTIM),
};

interface Tally {
  requests: number;
  accepted: number;
  statuses: Map<number, number>;
}
const tallies = new Map<string, Tally>();
const timings = new Map<string, number>();

// --- sending and judging -------------------------------------------------------------------

async function execute(c: Case): Promise<WireResponse | null> {
  if (c.raw) return sendBytes(t.origin, c.raw);
  const headers: Record<string, string> = { ...c.headers };
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  const who = c.as ?? 'alice';
  if (who !== 'none' && !has('authorization')) headers.authorization = AUTH[who];
  let body: Buffer | undefined;
  if (c.body !== undefined) {
    body = typeof c.body === 'string' ? Buffer.from(c.body, 'utf8') : c.body;
    if (c.contentType !== null && !has('content-type')) {
      headers['content-type'] = c.contentType ?? 'application/json';
    }
  }
  return send(t.origin, { method: c.method, path: c.path, headers, body });
}

function judge(c: Case, res: WireResponse | null, storeChanged: boolean): string | undefined {
  if (res === null) return c.mayDrop ? undefined : 'the connection closed without an answer';
  const text = () => res.body.toString('utf8').slice(0, 300);
  if (res.status >= 500) return `${res.status} ${text()}`;
  if (res.status < 200 || (res.status >= 300 && res.status < 400)) {
    return `unexpected status ${res.status}`;
  }
  if (c.expect && !c.expect.includes(res.status)) {
    return `status ${res.status}, expected ${c.expect.join('|')}: ${text()}`;
  }
  if (res.status >= 400) {
    const problem = errorBodyProblem(res, c.method);
    if (problem) return `${res.status} error body: ${problem}`;
    if (c.errorType && c.method !== 'HEAD' && firstErrorType(res) !== c.errorType) {
      return `error_type ${firstErrorType(res)}, expected ${c.errorType}: ${text()}`;
    }
    if (storeChanged) return `rejected (${res.status}) but the store changed: ${text()}`;
    return undefined;
  }
  if (res.status !== 204 && c.method !== 'HEAD') {
    const expected =
      c.pageType ?? (c.method === 'OPTIONS' ? 'text/plain; charset=utf-8' : JSON_TYPE);
    if (res.headers['content-type'] !== expected) {
      return `${res.status} with content-type ${res.headers['content-type']}`;
    }
  }
  return c.check?.(res);
}

/** Sends the cases one at a time; returns every problem found. */
async function run(cases: readonly Case[]): Promise<string[]> {
  const problems: string[] = [];
  for (const c of cases) {
    const started = performance.now();
    let res: WireResponse | null;
    try {
      res = await execute(c);
    } catch (e) {
      problems.push(`${describeCase(c)}: request failed: ${(e as Error).message}`);
      lastFingerprint = await t.app.store.fingerprint();
      continue;
    }
    const fingerprint = await t.app.store.fingerprint();
    const problem = judge(c, res, fingerprint !== lastFingerprint);
    lastFingerprint = fingerprint;
    if (problem) problems.push(`${describeCase(c)}: ${problem}`);
    const tally = tallies.get(c.category) ?? { requests: 0, accepted: 0, statuses: new Map() };
    tally.requests++;
    const status = res?.status ?? 0;
    if (status >= 200 && status < 300) tally.accepted++;
    tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
    tallies.set(c.category, tally);
    timings.set(c.category, (timings.get(c.category) ?? 0) + performance.now() - started);
  }
  return problems;
}

function describeCase(c: Case): string {
  const path = c.raw ? c.raw.toString('latin1').split('\r\n')[0]! : `${c.method} ${c.path}`;
  return `[${c.category}] ${c.label} | ${path.slice(0, 160)}`;
}

async function runCategory(cases: readonly Case[], minimum: number): Promise<void> {
  expect(cases.length).toBeGreaterThanOrEqual(minimum);
  const problems = await run(cases);
  expect(problems.slice(0, 25), `${problems.length} of ${cases.length} requests`).toEqual([]);
}

// --- bodies ------------------------------------------------------------------------------

const validServer = (extra: Obj = {}): Obj => ({
  name: 'fuzz',
  cpu: 1000,
  mem: 536870912,
  vnc_password: 'fuzzpass',
  ...extra,
});
const validDrive = (extra: Obj = {}): Obj => ({
  name: 'fuzz',
  size: 1073741824,
  media: 'disk',
  ...extra,
});

/** A POST body in one of the three accepted shapes. */
function shaped(rng: Rng, text: string): string {
  switch (rng.int(3)) {
    case 0:
      return `{"objects":[${text}]}`;
    case 1:
      return `[${text}]`;
    default:
      return text;
  }
}

// --- hostile values per field declaration ------------------------------------------------

const STRINGS = ['"abc"', '"12abc"', '""', '" "', '"1.5"', '"1e3"', '"NaN"', '"-"', '"0x10"'];
const NUMBERS = [
  '1.5',
  '-1',
  '0',
  '-0',
  '0.5',
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '9007199254740993',
  '-9007199254740993',
  '1e-7',
];
const OTHERS = ['true', 'false', '{}', '{"a":1}', '[]', '[1,"a"]', '[[]]', 'null'];
const BAD_REFS = [
  '""',
  '"/api/2.0/servers/x/"',
  '"/api/2.0/drives/%E0/"',
  '"/api/2.0/drives/%zz/"',
  '"/etc/passwd"',
  '"../../x/"',
  '"http://evil.example/api/2.0/drives/x/"',
  '{"uuid":""}',
  '{"uuid":5}',
  '{"resource_uri":"/api/2.0/drives/%E0%A4%A/"}',
  '{"resource_uri":5}',
];
/** Free-text string fields: any string is a valid value, so only non-strings are hostile. */
const STRINGS_VALID_FOR = new Set(['name', 'vnc_password', 'allocation_pool', 'model']);

/** JSON texts that `def` must refuse. */
function hostileValues(name: string, def: FieldDef): string[] {
  const nonNull = (values: string[]) =>
    def.nullable ? values.filter((v) => v !== 'null') : values;
  if (def.type === 'related') {
    if (def.fields && def.shape === 'many') {
      return nonNull([
        ...STRINGS,
        ...NUMBERS,
        ...OTHERS.filter((v) => v !== '[]'),
        '[1]',
        '["x"]',
        '[null]',
        '[true]',
      ]);
    }
    if (def.fields) {
      return nonNull([...STRINGS, ...NUMBERS, ...OTHERS.filter((v) => !v.startsWith('{'))]);
    }
    if (def.shape === 'many') {
      return nonNull([
        ...STRINGS,
        ...NUMBERS,
        ...OTHERS.filter((v) => v !== '[]'),
        '[1]',
        '[null]',
        '[{}]',
        '["x"]',
      ]);
    }
    return nonNull([...STRINGS, ...NUMBERS, ...OTHERS, ...BAD_REFS]);
  }
  switch (def.type) {
    case 'string': {
      const strings =
        def.choices || !STRINGS_VALID_FOR.has(name) ? [...STRINGS, '"\\u00e9"', '"amd "'] : [];
      if (name === 'vnc_password') strings.push('""');
      return nonNull([...strings, ...NUMBERS, ...OTHERS]);
    }
    case 'integer':
      return nonNull([...STRINGS, ...NUMBERS, ...OTHERS]);
    case 'boolean':
      return nonNull([
        ...STRINGS,
        '"true"',
        '"false"',
        '1',
        ...NUMBERS,
        ...OTHERS.filter((v) => v !== 'true' && v !== 'false'),
      ]);
    case 'dict':
      return nonNull([
        ...STRINGS,
        ...NUMBERS,
        ...OTHERS.filter((v) => v !== '{}'),
        '{"a":null}',
        '{"a":{}}',
        '{"a":[]}',
        '{"a":true}',
        '{"a":1.5}',
        `{"${'k'.repeat(33)}":"v"}`,
        `{"${'\u00e9'.repeat(33)}":"v"}`,
      ]);
    case 'list':
      return nonNull([
        ...STRINGS,
        ...NUMBERS,
        ...OTHERS.filter((v) => v !== '[]'),
        '[null]',
        '[{}]',
        ...(def.choices ? ['["hdd"]', '["SSD"]'] : []),
      ]);
    default:
      return nonNull([...NUMBERS, ...OTHERS]);
  }
}

interface Spot {
  /** Where in the body, e.g. `['drives', 0, 'device']`. */
  path: (string | number)[];
  value: string;
}

/**
 * Every (writable field, hostile value) of a declaration, nested fields included: a nested field
 * is reached through `templates` (a valid item for the list or object it lives in).
 */
function spots(fields: Fields, templates: Record<string, Obj>, prefix: (string | number)[] = []) {
  const out: Spot[] = [];
  for (const [name, def] of Object.entries(fields)) {
    if (def.readonly) continue;
    for (const value of hostileValues(name, def)) out.push({ path: [...prefix, name], value });
    const template = templates[name];
    if (def.fields && template) {
      const inner = def.shape === 'many' ? [...prefix, name, 0] : [...prefix, name];
      for (const spot of spots(def.fields, templates, inner)) {
        out.push({ path: spot.path, value: spot.value });
      }
    }
  }
  return out;
}

/**
 * The JSON text of `base` with every spot's raw value put in place, the nested containers filled
 * from the templates. A spot inside a container another spot replaced is dropped.
 */
function applySpots(base: Obj, list: readonly Spot[], templates: Record<string, Obj>): string {
  const body = structuredClone(base);
  const values: string[] = [];
  for (const spot of list) {
    let at: unknown = body;
    for (let i = 0; i < spot.path.length - 1 && at !== undefined; i++) {
      const container = at as Obj;
      const key = spot.path[i]!;
      const next = spot.path[i + 1]!;
      if (container[key] === undefined) {
        const template = structuredClone(templates[key as string] ?? {});
        container[key] = typeof next === 'number' ? [template] : template;
      }
      const inner: unknown = container[key];
      at = inner !== null && typeof inner === 'object' ? inner : undefined;
    }
    if (at === undefined) continue;
    (at as Obj)[spot.path[spot.path.length - 1]!] = `\u0001HOSTILE${values.length}\u0001`;
    values.push(spot.value);
  }
  let text = JSON.stringify(body);
  values.forEach((value, i) => {
    text = text.replace(`"\\u0001HOSTILE${i}\\u0001"`, () => value);
  });
  return text;
}

function applySpot(base: Obj, spot: Spot, templates: Record<string, Obj>): string {
  return applySpots(base, [spot], templates);
}

function serverTemplates(): Record<string, Obj> {
  return {
    drives: { drive: fx.dB, device: 'virtio', dev_channel: '0:5' },
    nics: { model: 'virtio', ip_v4_conf: { conf: 'dhcp' } },
    ip_v4_conf: { conf: 'dhcp' },
    ip_v6_conf: { conf: 'dhcp' },
    gpus: { model: 'x' },
    epcs: { size: 1024 },
  };
}

function driveTemplates(): Record<string, Obj> {
  return { licenses: { license: 'x', amount: 1 } };
}

// --- fixtures -----------------------------------------------------------------------------

async function api(method: string, path: string, body?: unknown, who: Who = 'alice') {
  const res = await execute({
    category: 'setup',
    label: 'setup',
    method,
    path: API + path,
    as: who,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res) throw new Error(`${method} ${path}: no answer`);
  const text = res.body.toString('utf8');
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Obj) : {} };
}

async function created(path: string, body: unknown, who: Who = 'alice'): Promise<Obj> {
  const res = await api('POST', path, body, who);
  if (res.status !== 201)
    throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.objects[0] as Obj;
}

async function createFixtures(): Promise<Fixtures> {
  const dA = (await created('/drives/', validDrive({ name: 'fx attached' }))).uuid as string;
  const dM = (await created('/drives/', validDrive({ name: 'fx multi', allow_multimount: true })))
    .uuid as string;
  const dB = (await created('/drives/', validDrive({ name: 'fx free a%b_c\\d' }))).uuid as string;
  const dC = (await created('/drives/', validDrive({ name: 'fx cdrom', media: 'cdrom' })))
    .uuid as string;
  const s1 = await created(
    '/servers/',
    validServer({
      name: 'fx s1',
      meta: { a: 'b' },
      drives: [
        { drive: dA, device: 'virtio', dev_channel: '0:0', boot_order: 1 },
        { drive: dM, device: 'virtio', dev_channel: '0:1' },
      ],
      nics: [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }, { model: 'e1000' }],
    }),
  );
  const s2 = await created(
    '/servers/',
    validServer({
      name: 'fx s2 100%_done',
      drives: [{ drive: dM, device: 'ide', dev_channel: '0:0' }],
      nics: [{ ip_v4_conf: { conf: 'manual' } }],
    }),
  );
  const bobDrive = (await created('/drives/', validDrive({ name: 'bob drive' }), 'bob'))
    .uuid as string;
  const bobServer = (
    await created(
      '/servers/',
      validServer({
        name: 'bob server',
        drives: [{ drive: bobDrive, device: 'virtio', dev_channel: '0:0' }],
      }),
      'bob',
    )
  ).uuid as string;
  const victimServer = (await created('/servers/', validServer({ name: 'victim' }), 'victim'))
    .uuid as string;

  const login = await send(t.origin, {
    method: 'POST',
    path: `${API}/accounts/action/?do=login`,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ username: VICTIM.email, password: VICTIM.password })),
  });
  expect(login.status).toBe(200);
  const cookies = login.headers['set-cookie'] ?? '';
  const session = {
    id: /sessionid=([^;]+)/.exec(cookies)?.[1] ?? '',
    csrf: /csrftoken=([^;]+)/.exec(cookies)?.[1] ?? '',
  };
  expect(session.id).not.toBe('');

  const challenge = await send(t.origin, { method: 'GET', path: `${API}/servers/`, headers: {} });
  const www = challenge.headers['www-authenticate'] ?? '';
  const digest = {
    nonce: /nonce="([^"]+)"/.exec(www)?.[1] ?? 'none',
    opaque: /opaque="([^"]+)"/.exec(www)?.[1] ?? 'none',
  };

  const before = new Map<string, string>();
  for (const [who, kind, uuid] of [
    ['alice', 'servers', s1.uuid],
    ['alice', 'servers', s2.uuid],
    ['alice', 'drives', dA],
    ['alice', 'drives', dM],
    ['alice', 'drives', dB],
    ['alice', 'drives', dC],
    ['bob', 'servers', bobServer],
    ['bob', 'drives', bobDrive],
    ['victim', 'servers', victimServer],
  ] as const) {
    const res = await api('GET', `/${kind}/${uuid}/`, undefined, who);
    before.set(uuid as string, JSON.stringify(res.json));
  }
  return {
    dA,
    dM,
    dB,
    dC,
    s1: s1.uuid as string,
    s2: s2.uuid as string,
    s1Macs: (s1.nics as Obj[]).map((n) => n.mac as string),
    s2Macs: (s2.nics as Obj[]).map((n) => n.mac as string),
    bobDrive,
    bobServer,
    victimServer,
    session,
    digest,
    before,
  };
}

const parse = (res: WireResponse): Obj => JSON.parse(res.body.toString('utf8')) as Obj;

// --- categories ---------------------------------------------------------------------------

const V400 = { expect: [400], errorType: 'validation' } as const;
/** A body not declared JSON is refused with 415 (issue 12: no cross-site form posts). */
const V400_OR_415 = { expect: [400, 415], errorType: 'validation' } as const;

/** Wrong types for every writable server and drive field, nested ones included. */
function wrongTypes(rng: Rng): Case[] {
  const cases: Case[] = [];
  const st = serverTemplates();
  for (const spot of spots(SERVERS.fields, st)) {
    const label = `servers ${spot.path.join('.')}=${spot.value}`;
    cases.push({
      category: 'types',
      label,
      method: 'POST',
      path: `${API}/servers/`,
      body: shaped(rng, applySpot(validServer(), spot, st)),
      ...V400,
    });
    const put = applySpot({}, spot, st);
    cases.push(
      rng.bool(0.8)
        ? {
            category: 'types',
            label,
            method: 'PUT',
            path: `${API}/servers/${fx.s2}/`,
            body: put,
            ...V400,
          }
        : {
            category: 'types',
            label,
            method: 'PUT',
            path: `${API}/servers/`,
            body: `{"objects":[${put.replace(/^\{/, `{"uuid":"${fx.s2}",`)}]}`,
            ...V400,
          },
    );
  }
  const dt = driveTemplates();
  for (const spot of spots(DRIVES.fields, dt)) {
    const label = `drives ${spot.path.join('.')}=${spot.value}`;
    cases.push({
      category: 'types',
      label,
      method: 'POST',
      path: `${API}/drives/`,
      body: shaped(rng, applySpot(validDrive(), spot, dt)),
      ...V400,
    });
    cases.push({
      category: 'types',
      label,
      method: 'PUT',
      path: `${API}/drives/${fx.dB}/`,
      body: applySpot({}, spot, dt),
      ...V400,
    });
  }
  return cases;
}

/** Read-only fields with hostile values: ignored silently (200), and they do not change. */
function readOnlyFields(): Case[] {
  const cases: Case[] = [];
  const values = ['"abc"', '5', '-1', 'true', 'null', '{"a":1}', '[1,2]', '[]', '{}', '1e400'];
  for (const [kind, fields, uuid] of [
    ['servers', SERVERS.fields, fx.s2],
    ['drives', DRIVES.fields, fx.dB],
  ] as const) {
    const before = JSON.parse(fx.before.get(uuid)!) as Obj;
    for (const [name, def] of Object.entries(fields)) {
      if (!def.readonly) continue;
      for (const value of values) {
        cases.push({
          category: 'readonly',
          label: `${kind} ${name}=${value}`,
          method: 'PUT',
          path: `${API}/${kind}/${uuid}/`,
          body: `{"${name}":${value}}`,
          expect: [200],
          check: (res) => {
            const after = parse(res);
            if (!(name in before)) return name in after ? `${name} appeared` : undefined;
            return JSON.stringify(after[name]) === JSON.stringify(before[name])
              ? undefined
              : `${name} changed to ${JSON.stringify(after[name])}`;
          },
        });
      }
    }
  }
  return cases;
}

/** Required fields left out, empty and odd-shaped bodies, partial bulks. */
function missing(): Case[] {
  const cases: Case[] = [];
  const subsets = <T>(items: readonly T[]): T[][] =>
    Array.from({ length: 2 ** items.length - 1 }, (_, mask) =>
      items.filter((_, i) => ((mask + 1) >> i) & 1),
    );
  for (const [kind, required, base] of [
    ['servers', ['name', 'cpu', 'mem', 'vnc_password'], validServer()],
    ['drives', ['name', 'size', 'media'], validDrive()],
  ] as const) {
    const shapes = [
      (x: string) => `{"objects":[${x}]}`,
      (x: string) => `[${x}]`,
      (x: string) => x,
      (x: string) => `{"objects":[${JSON.stringify(base)},${x}]}`,
    ];
    for (const gone of subsets(required)) {
      const body = { ...base } as Obj;
      for (const name of gone) delete body[name];
      for (const shape of shapes) {
        cases.push({
          category: 'missing',
          label: `${kind} without ${gone.join(',')}`,
          method: 'POST',
          path: `${API}/${kind}/`,
          body: shape(JSON.stringify(body)),
          ...V400,
        });
      }
    }
  }
  for (const gone of subsets(['drive', 'device', 'dev_channel'])) {
    const attachment: Obj = { drive: fx.dB, device: 'virtio', dev_channel: '0:3' };
    for (const name of gone) delete attachment[name];
    for (const [method, path, body] of [
      ['POST', `${API}/servers/`, validServer({ drives: [attachment] })],
      ['PUT', `${API}/servers/${fx.s2}/`, { drives: [attachment] }],
    ] as const) {
      cases.push({
        category: 'missing',
        label: `attachment without ${gone.join(',')}`,
        method,
        path,
        body: JSON.stringify(body),
        ...V400,
      });
    }
  }
  for (const [label, body] of [
    ['gpu without model', validServer({ gpus: [{}] })],
    ['epc without size', validServer({ epcs: [{}] })],
    ['nic ip conf empty list', validServer({ nics: [{ ip_v4_conf: [] }] })],
  ] as const) {
    cases.push({
      category: 'missing',
      label,
      method: 'POST',
      path: `${API}/servers/`,
      body: JSON.stringify(body),
      ...V400,
    });
  }
  cases.push({
    category: 'missing',
    label: 'license without license',
    method: 'POST',
    path: `${API}/drives/`,
    body: JSON.stringify(validDrive({ licenses: [{ amount: 1 }] })),
    ...V400,
  });
  const empties = [
    '',
    ' ',
    '{}',
    '[]',
    '{"objects":[]}',
    '{"objects":null}',
    '{"objects":{}}',
    '{"objects":"x"}',
    '{"objects":[null]}',
    '{"objects":[1]}',
    '{"objects":[[]]}',
    'null',
    '0',
    '"x"',
    'true',
    '[null]',
    '[[]]',
  ];
  for (const body of empties) {
    for (const [method, path] of [
      ['POST', `${API}/servers/`],
      ['POST', `${API}/drives/`],
      ['PUT', `${API}/servers/`],
      ['DELETE', `${API}/servers/`],
      ['DELETE', `${API}/drives/`],
    ] as const) {
      // `{}` is a bare object: a server without any field, refused too.
      cases.push({ category: 'missing', label: `body ${body}`, method, path, body, ...V400 });
    }
    if (body !== '' && body !== ' ' && body !== '{}' && !body.startsWith('{"objects"')) {
      for (const path of [
        `${API}/servers/${fx.s2}/`,
        `${API}/drives/${fx.dB}/`,
        `${API}/profile/`,
      ]) {
        cases.push({
          category: 'missing',
          label: `body ${body}`,
          method: 'PUT',
          path,
          body,
          ...V400,
        });
      }
    }
  }
  return cases;
}

const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  ' ',
  'k'.repeat(2000),
  '\u202e\u200f',
  '\u{1f984}',
  'objects',
  'NAME',
  'name ',
  '$where',
  "'; DROP TABLE objects; --",
];

/** Unknown fields: they never crash, and they never make a bad body acceptable. */
function unknownFields(rng: Rng): Case[] {
  const cases: Case[] = [];
  const values = ['1', '"x"', 'null', '{"__proto__":{"polluted":1}}', '[1,{}]', 'true', '1e400'];
  for (const key of ODD_KEYS) {
    for (const value of values) {
      const server = validServer() as Obj;
      delete server[rng.pick(['name', 'cpu', 'mem', 'vnc_password'])];
      const text = JSON.stringify(server).replace(/^\{/, `{${JSON.stringify(key)}:${value},`);
      cases.push({
        category: 'unknown',
        label: `servers missing a field, extra ${key.slice(0, 20)}=${value}`,
        method: 'POST',
        path: `${API}/servers/`,
        body: shaped(rng, text),
        ...V400,
      });
      const drive = JSON.stringify(validDrive({ size: -1 })).replace(
        /^\{/,
        `{${JSON.stringify(key)}:${value},`,
      );
      cases.push({
        category: 'unknown',
        label: `drives bad size, extra ${key.slice(0, 20)}=${value}`,
        method: 'POST',
        path: `${API}/drives/`,
        body: drive,
        ...V400,
      });
    }
    // Alone, unknown keys are ignored: the object does not change and no key appears.
    cases.push({
      category: 'unknown',
      label: `PUT only unknown ${key.slice(0, 20)}`,
      method: 'PUT',
      path: `${API}/drives/${fx.dB}/`,
      body: `{${JSON.stringify(key)}:{"__proto__":{"polluted":1}}}`,
      expect: [200],
      check: (res) => {
        const body = parse(res);
        if (({} as Obj).polluted !== undefined) return 'Object.prototype polluted';
        const before = JSON.parse(fx.before.get(fx.dB)!) as Obj;
        return JSON.stringify(body) === JSON.stringify(before) ? undefined : 'drive changed';
      },
    });
  }
  return cases;
}

/** Bodies over the limit (with a length and chunked), deep nesting, very wide bodies. */
function hugeAndDeep(): Case[] {
  const cases: Case[] = [];
  const big = (size: number) => {
    const server = JSON.stringify(validServer());
    const count = Math.ceil(size / (server.length + 1));
    return `{"objects":[${Array(count).fill(server).join(',')}]}`;
  };
  for (const size of [BODY_LIMIT + 1, BODY_LIMIT + 100, BODY_LIMIT * 2, BODY_LIMIT * 3]) {
    for (const path of [`${API}/servers/`, `${API}/drives/`, `${API}/servers/${fx.s2}/`]) {
      const method = path.endsWith(`${fx.s2}/`) ? 'PUT' : 'POST';
      cases.push({
        category: 'huge',
        label: `${size} bytes`,
        method,
        path,
        body: big(size),
        expect: [413],
        errorType: 'validation',
      });
      cases.push({
        category: 'huge',
        label: `${size} bytes chunked`,
        method,
        path,
        body: big(size),
        headers: { 'transfer-encoding': 'chunked' },
        expect: [413],
        errorType: 'validation',
      });
    }
    cases.push({
      category: 'huge',
      label: `${size} bytes name`,
      method: 'PUT',
      path: `${API}/servers/${fx.s1}/`,
      body: JSON.stringify({ name: 'n'.repeat(size) }),
      expect: [413],
    });
  }
  // Under the limit but far over every field limit.
  cases.push({
    category: 'huge',
    label: 'name of 60000 characters',
    method: 'PUT',
    path: `${API}/servers/${fx.s1}/`,
    body: JSON.stringify({ name: 'n'.repeat(60_000) }),
    ...V400,
  });
  for (const depth of [63, 64, 65, 100, 1000, 10_000, 30_000]) {
    const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const objects = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const variants: [string, string, boolean][] = [
      [`arrays ${depth} deep`, arrays, false],
      [`objects ${depth} deep`, objects, false],
      [`unclosed ${depth} deep`, '['.repeat(depth), true],
      [`name of arrays ${depth} deep`, `{"name":${arrays}}`, true],
      [`name of objects ${depth} deep`, `{"name":${objects}}`, true],
      [
        `meta ${depth} deep`,
        JSON.stringify(validServer({ meta: {} })).replace('{}', objects),
        true,
      ],
    ];
    for (const [label, body, anywhere] of variants) {
      if (body.length > BODY_LIMIT) continue;
      for (const [method, path] of [
        ['POST', `${API}/servers/`],
        ['PUT', `${API}/servers/${fx.s1}/`],
        ['DELETE', `${API}/drives/`],
      ] as const) {
        // A bare deep object is a PUT of unknown keys (ignored): only wrapped ones go to PUT.
        if (method === 'PUT' && !anywhere) continue;
        cases.push({ category: 'deep', label, method, path, body, ...V400 });
      }
    }
  }
  const wide: [string, string][] = [
    [
      '10000 numbers as requirements',
      JSON.stringify(validServer({ requirements: Array(10_000).fill(1) })),
    ],
    [
      '3000 unknown keys, no name',
      JSON.stringify(
        Object.fromEntries([
          ...Object.entries(validServer({ name: undefined })),
          ...Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]),
        ]),
      ),
    ],
    [
      '300 servers then an invalid one',
      `{"objects":[${Array(300).fill(JSON.stringify(validServer())).join(',')},{"name":"x"}]}`,
    ],
    [
      '200 servers then one attaching a missing drive',
      `{"objects":[${Array(200).fill(JSON.stringify(validServer())).join(',')},${JSON.stringify(
        validServer({ drives: [{ drive: 'missing', device: 'virtio', dev_channel: '0:0' }] }),
      )}]}`,
    ],
    [
      '1000 meta keys, one value a number',
      JSON.stringify(
        validServer({
          meta: Object.fromEntries(
            Array.from({ length: 1000 }, (_, i) => [`k${i}`, i === 999 ? 1 : 'v']),
          ),
        }),
      ),
    ],
    [
      '500 NICs with a bad model',
      JSON.stringify(validServer({ nics: Array(500).fill({ model: 'x' }) })),
    ],
  ];
  for (const [label, body] of wide) {
    cases.push({ category: 'huge', label, method: 'POST', path: `${API}/servers/`, body, ...V400 });
  }
  return cases;
}

const BAD_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80],
  [0xbf],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xe9],
  [0xc3],
];

/** Invalid UTF-8 in bodies (inside strings, keys and structure), in paths, queries and headers. */
function invalidUtf8(rng: Rng): Case[] {
  const cases: Case[] = [];
  const MARK = 'Z\u0002Z';
  const targets: [string, string, (mark: string) => Obj | unknown[]][] = [
    ['POST', `${API}/servers/`, (m) => validServer({ name: `a${m}b` })],
    ['POST', `${API}/servers/`, (m) => validServer({ vnc_password: m })],
    ['POST', `${API}/servers/`, (m) => validServer({ meta: { [m]: 'v' } })],
    ['POST', `${API}/servers/`, (m) => validServer({ meta: { k: m } })],
    ['POST', `${API}/servers/`, (m) => ({ ...validServer(), [m]: 1 })],
    ['POST', `${API}/drives/`, (m) => validDrive({ name: m })],
    ['PUT', `${API}/servers/${fx.s2}/`, (m) => ({ name: m })],
    [
      'PUT',
      `${API}/servers/${fx.s2}/`,
      (m) => ({ drives: [{ drive: fx.dB, device: 'virtio', dev_channel: `0:${m}` }] }),
    ],
    ['PUT', `${API}/drives/${fx.dB}/`, (m) => ({ meta: { m } })],
    ['PUT', `${API}/profile/`, (m) => ({ first_name: m })],
    ['PUT', `${API}/servers/`, (m) => ({ objects: [{ uuid: fx.s2, name: m }] })],
    ['DELETE', `${API}/servers/`, (m) => ({ objects: [{ uuid: `${fx.s2}${m}` }] })],
    ['POST', `${API}/accounts/action/?do=login`, (m) => ({ username: m, password: 'x' })],
  ];
  for (const [method, path, make] of targets) {
    for (const bad of BAD_UTF8) {
      const text = JSON.stringify(make(MARK));
      const [head, tail] = text.split(JSON.stringify(MARK).slice(1, -1));
      const body = Buffer.concat([Buffer.from(head!), Buffer.from(bad), Buffer.from(tail ?? '')]);
      cases.push({
        category: 'utf8',
        label: `bytes ${bad.map((b) => b.toString(16)).join(' ')}`,
        method,
        path,
        body,
        as: path.includes('login') ? 'none' : 'alice',
        ...V400,
      });
    }
  }
  // Random bytes over a valid body: structure and strings broken anywhere.
  for (let i = 0; i < 60; i++) {
    const base = Buffer.from(JSON.stringify(validServer({ name: 'a'.repeat(rng.int(20)) })));
    const at = rng.int(base.length);
    const bad = rng.pick(BAD_UTF8);
    cases.push({
      category: 'utf8',
      label: `bytes at ${at}`,
      method: 'POST',
      path: `${API}/servers/`,
      body: Buffer.concat([base.subarray(0, at), Buffer.from(bad), base.subarray(at)]),
      ...V400,
    });
  }
  // UTF-16 and a BOM before an invalid body.
  for (const [label, body] of [
    [
      'UTF-16LE with BOM',
      Buffer.concat([
        Buffer.from([0xff, 0xfe]),
        Buffer.from(JSON.stringify(validServer()), 'utf16le'),
      ]),
    ],
    ['UTF-16LE without BOM', Buffer.from(JSON.stringify(validServer()), 'utf16le')],
    [
      'UTF-8 BOM before an invalid server',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"name":"x"}')]),
    ],
    [
      'two BOMs',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), Buffer.from('{}')]),
    ],
  ] as const) {
    cases.push({ category: 'utf8', label, method: 'POST', path: `${API}/servers/`, body, ...V400 });
  }
  // Percent-encoded invalid UTF-8 in paths and queries.
  for (const enc of ['%ff', '%c0%80', '%ed%a0%80', '%e2%82', '%f8%88%80%80%80', '%80']) {
    for (const path of [
      `${API}/servers/${enc}/`,
      `${API}/drives/${fx.dB}${enc}/`,
      `${API}/servers/?name=${enc}`,
      `${API}/servers/detail/?name__contains=${enc}`,
      `${API}/drives/?uuid=${enc}`,
      `${API}/servers/?limit=${enc}`,
      `${API}/servers/?${enc}=1`,
      `${API}/${enc}/`,
    ]) {
      cases.push({
        category: 'utf8',
        label: `encoded ${enc}`,
        method: 'GET',
        path,
        expect: [200, 400, 404],
      });
    }
    cases.push({
      category: 'utf8',
      label: `encoded ${enc} in a PUT path`,
      method: 'PUT',
      path: `${API}/servers/${fx.s2}${enc}/`,
      body: '{"name":"x"}',
      expect: [400, 404],
    });
  }
  // Raw bytes where node:http will not put them: the request line and header names.
  const auth = AUTH.alice;
  for (const bad of BAD_UTF8.slice(0, 8)) {
    const b = Buffer.from(bad);
    cases.push({
      category: 'utf8',
      label: 'raw bytes in the path',
      method: 'GET',
      path: '',
      raw: Buffer.concat([
        Buffer.from(`GET ${API}/servers/`),
        b,
        Buffer.from(`/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`),
      ]),
      ...V400,
    });
    cases.push({
      category: 'utf8',
      label: 'raw bytes in a header value',
      method: 'GET',
      path: '',
      raw: Buffer.concat([
        Buffer.from(
          `GET ${API}/servers/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nX-Odd: a`,
        ),
        b,
        Buffer.from('b\r\nConnection: close\r\n\r\n'),
      ]),
      expect: [200, 400],
    });
    cases.push({
      category: 'utf8',
      label: 'raw bytes in the Authorization header',
      method: 'GET',
      path: '',
      raw: Buffer.concat([
        Buffer.from(`GET ${API}/servers/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic `),
        b,
        Buffer.from('\r\nConnection: close\r\n\r\n'),
      ]),
      expect: [400, 401],
    });
    cases.push({
      category: 'utf8',
      label: 'raw bytes in a header name',
      method: 'GET',
      path: '',
      raw: Buffer.concat([
        Buffer.from(`GET ${API}/servers/ HTTP/1.1\r\nHost: x\r\nX-`),
        b,
        Buffer.from(`: 1\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`),
      ]),
      ...V400,
    });
  }
  return cases;
}

/** `\0` anywhere: escaped in JSON strings and keys, raw in bodies, encoded in paths and queries. */
function nul(): Case[] {
  const cases: Case[] = [];
  const N = '\u0000';
  const bodies: [string, string, unknown][] = [
    ['POST', `${API}/servers/`, validServer({ name: N })],
    ['POST', `${API}/servers/`, validServer({ name: `a${N}b` })],
    ['POST', `${API}/servers/`, validServer({ vnc_password: `pw${N}` })],
    ['POST', `${API}/servers/`, validServer({ meta: { [`k${N}`]: 'v' } })],
    ['POST', `${API}/servers/`, validServer({ meta: { k: N } })],
    ['POST', `${API}/servers/`, { ...validServer(), [N]: 1 }],
    ['POST', `${API}/servers/`, { ...validServer(), [`name${N}`]: 'x' }],
    ['POST', `${API}/servers/`, { objects: [validServer({ cpu_type: `amd${N}` })] }],
    ['POST', `${API}/servers/`, { [`objects${N}`]: [validServer()] }],
    ['POST', `${API}/servers/`, validServer({ cpu: `1000${N}` })],
    ['POST', `${API}/servers/`, validServer({ requirements: [N] })],
    ['POST', `${API}/servers/`, validServer({ nics: [{ mac: `22:00${N}` }] })],
    ['POST', `${API}/servers/`, validServer({ nics: [{ ip_v4_conf: { conf: `dhcp${N}` } }] })],
    [
      'POST',
      `${API}/servers/`,
      validServer({ drives: [{ drive: `${fx.dB}${N}`, device: 'virtio', dev_channel: '0:0' }] }),
    ],
    [
      'POST',
      `${API}/servers/`,
      validServer({ drives: [{ drive: fx.dB, device: 'virtio', dev_channel: `0:0${N}` }] }),
    ],
    ['POST', `${API}/servers/`, validServer({ deep: { a: [{ [N]: 1 }] } })],
    ['POST', `${API}/drives/`, validDrive({ name: N })],
    ['POST', `${API}/drives/`, validDrive({ media: `disk${N}` })],
    ['POST', `${API}/drives/`, validDrive({ storage_type: `dssd${N}` })],
    ['PUT', `${API}/servers/${fx.s2}/`, { name: N }],
    ['PUT', `${API}/servers/${fx.s2}/`, { meta: { [N]: N } }],
    ['PUT', `${API}/servers/${fx.s1}/`, { nics: [{ mac: `${fx.s1Macs[0]}${N}` }] }],
    ['PUT', `${API}/drives/${fx.dB}/`, { name: `x${N}` }],
    ['PUT', `${API}/profile/`, { first_name: N }],
    ['PUT', `${API}/servers/`, { objects: [{ uuid: `${fx.s2}${N}` }] }],
    ['DELETE', `${API}/servers/`, { objects: [{ uuid: `${fx.s2}${N}` }] }],
    ['DELETE', `${API}/servers/`, { objects: [`${fx.s2}${N}`] }],
    ['DELETE', `${API}/drives/`, { objects: [{ uuid: fx.dB, [N]: 1 }] }],
    [
      'POST',
      `${API}/accounts/action/?do=login`,
      { username: `${VICTIM.email}${N}`, password: 'x' },
    ],
    ['POST', `${API}/accounts/action/?do=login`, { username: VICTIM.email, password: `${N}` }],
  ];
  for (const [method, path, body] of bodies) {
    const text = JSON.stringify(body);
    cases.push({ category: 'nul', label: 'escaped', method, path, body: text, ...V400 });
    // The same with a raw NUL byte in the JSON text (invalid JSON).
    cases.push({
      category: 'nul',
      label: 'raw byte',
      method,
      path,
      body: Buffer.from(text.replaceAll('\\u0000', '\u0000')),
      ...V400,
    });
  }
  for (const path of [
    `${API}/servers/%00/`,
    `${API}/servers/${fx.s1}%00/`,
    `${API}/drives/%00${fx.dB}/`,
    `${API}/servers/?name=%00`,
    `${API}/servers/?name=a,%00`,
    `${API}/servers/detail/?name__contains=%00`,
    `${API}/servers/?name__icontains=x%00`,
    `${API}/drives/?uuid=%00`,
    `${API}/drives/detail/?uuid=${fx.dB}%00`,
    `${API}/servers/?%00=1`,
    `${API}/servers/?name%00=1`,
    `${API}/servers/?order_by=name%00`,
    `${API}/servers/?fields=uuid%00`,
    `${API}/servers/?limit=1%00`,
    `${API}/servers/${fx.s1}/?fields=%00`,
  ]) {
    cases.push({ category: 'nul', label: 'encoded in the URL', method: 'GET', path, ...V400 });
    cases.push({
      category: 'nul',
      label: 'encoded in the URL (DELETE)',
      method: 'DELETE',
      path: path.replace('/?', '/?recurse=bogus&'),
      expect: [400, 404, 405],
    });
  }
  cases.push({
    category: 'nul',
    label: 'encoded in a PUT path',
    method: 'PUT',
    path: `${API}/servers/${fx.s2}%00/`,
    body: '{"name":"x"}',
    ...V400,
  });
  for (const creds of [
    `a${N}b:pw`,
    `${VICTIM.email}${N}:${VICTIM.password}`,
    `${VICTIM.email}:${N}`,
  ]) {
    cases.push({
      category: 'nul',
      label: 'in Basic credentials',
      method: 'GET',
      path: `${API}/servers/`,
      headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}` },
      expect: [401, 429],
      errorType: 'permission',
    });
  }
  cases.push({
    category: 'nul',
    label: 'raw byte in the request line',
    method: 'GET',
    path: '',
    raw: Buffer.from(`GET ${API}/servers/\u0000/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ...V400,
  });
  cases.push({
    category: 'nul',
    label: 'raw byte in a header',
    method: 'GET',
    path: '',
    raw: Buffer.from(
      `GET ${API}/servers/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.alice}\u0000\r\nConnection: close\r\n\r\n`,
    ),
    ...V400,
  });
  return cases;
}

const ODD_TEXT = [
  '\u200f\u202eevil\u202c',
  '\u{1f984}\u{1f468}\u200d\u{1f469}\u200d\u{1f467}',
  'e\u0301'.repeat(100),
  '\ufeffbom',
  '\ufb01 \u0130 \u0131 \u00df \u1e9e',
  'Z\u0351\u0364\u0350\u0363\u0367\u036c\u0349a\u0344\u0363l\u036fg\u0369o',
  '\u{10ffff}\u{e0001}\u{fffe}',
  '\u2028\u2029',
  '\t\n\r\u000b\u000c',
  '\u0085\u00a0\u1680\u3000',
  '\u{1f984}'.repeat(255),
  'a'.repeat(255),
  '',
];

/** `text` without lone surrogates (which no URL can carry). */
function wellFormed(text: string): string {
  return [...text].filter((ch) => !(ch.length === 1 && ch >= '\ud800' && ch <= '\udfff')).join('');
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

/** Odd Unicode: kept byte for byte where it is allowed, refused by length where it is too long. */
function unicode(): Case[] {
  const cases: Case[] = [];
  const roundTrip = (field: string, sent: unknown) => (res: WireResponse) => {
    const got = parse(res)[field];
    return canon(got) === canon(sent)
      ? undefined
      : `${field} came back as ${JSON.stringify(got)?.slice(0, 80)}`;
  };
  const texts = [
    ...ODD_TEXT,
    // Lone and reversed surrogates, escaped in JSON (the UTF-8 of the body is valid): refused.
    '\ud800',
    '\udfff',
    '\udc00\ud800',
    'a\ud800b',
  ];
  for (const text of texts) {
    const valid = text.isWellFormed();
    cases.push({
      category: 'unicode',
      label: `name ${JSON.stringify(text).slice(0, 30)}`,
      method: 'PUT',
      path: `${API}/servers/${fx.s2}/`,
      body: JSON.stringify({ name: text }),
      expect: valid ? [200] : [400],
      ...(valid ? { check: roundTrip('name', text) } : {}),
    });
    const meta = { [text.slice(0, 32)]: text, plain: text };
    const metaKeyLength = [...text.slice(0, 32)].length;
    const metaValid = valid && text.slice(0, 32).isWellFormed() && metaKeyLength <= 32;
    cases.push({
      category: 'unicode',
      label: `meta ${JSON.stringify(text).slice(0, 30)}`,
      method: 'PUT',
      path: `${API}/servers/${fx.s2}/`,
      body: JSON.stringify({ meta }),
      expect: metaValid ? [200] : [400],
      ...(metaValid ? { check: roundTrip('meta', meta) } : {}),
    });
    cases.push({
      category: 'unicode',
      label: `filter ${JSON.stringify(text).slice(0, 30)}`,
      method: 'GET',
      path: `${API}/servers/detail/?name__contains=${encodeURIComponent(wellFormed(text.slice(0, 50)))}`,
      expect: [200, 400],
    });
  }
  for (const [label, name, status] of [
    ['256 letters', 'a'.repeat(256), 400],
    ['256 emoji', '\u{1f984}'.repeat(256), 400],
    ['255 combining marks after one letter', `e${'\u0301'.repeat(254)}`, 200],
    ['256 combining marks after one letter', `e${'\u0301'.repeat(255)}`, 400],
    ['1000 RTL marks', '\u200f'.repeat(1000), 400],
  ] as const) {
    cases.push({
      category: 'unicode',
      label,
      method: 'PUT',
      path: `${API}/servers/${fx.s2}/`,
      body: JSON.stringify({ name }),
      expect: [status],
      ...(status === 200 ? { check: roundTrip('name', name) } : {}),
    });
    cases.push({
      category: 'unicode',
      label: `drive ${label}`,
      method: 'POST',
      path: `${API}/drives/`,
      body: JSON.stringify(validDrive({ name, size: status === 200 ? -1 : 1073741824 })),
      expect: [400],
    });
  }
  for (const [label, key, status] of [
    ['32 emoji key', '\u{1f984}'.repeat(32), 200],
    ['33 emoji key', '\u{1f984}'.repeat(33), 400],
    ['33 letter key', 'k'.repeat(33), 400],
    ['32 letter key', 'k'.repeat(32), 200],
    ['33 combining key', `e${'\u0301'.repeat(32)}`, 400],
    ['decomposed key', 'e\u0301', 200],
    ['precomposed key', '\u00e9', 200],
    ['key __proto__', '__proto__', 200],
    ['key constructor', 'constructor', 200],
  ] as const) {
    const meta = { [key]: 'v', other: 'w' };
    const body = `{"meta":{${JSON.stringify(key)}:"v","other":"w"}}`;
    for (const [path, field] of [
      [`${API}/servers/${fx.s2}/`, 'meta'],
      [`${API}/profile/`, 'meta'],
    ] as const) {
      cases.push({
        category: 'unicode',
        label,
        method: 'PUT',
        path,
        body,
        expect: [status],
        ...(status === 200
          ? {
              check: (res: WireResponse) => {
                const got = parse(res)[field] as Obj;
                return Object.keys(got).sort().join('|') === Object.keys(meta).sort().join('|') &&
                  Object.hasOwn(got, key) &&
                  got[key] === 'v'
                  ? undefined
                  : `meta came back as ${JSON.stringify(got)} (keys ${Object.keys(got).join('|')})`;
              },
            }
          : {}),
      });
    }
  }
  return cases;
}

const SQL = [
  "'; DROP TABLE objects; --",
  "' OR '1'='1",
  '" OR 1=1 --',
  "'); DELETE FROM accounts; --",
  '%',
  '_',
  '\\',
  '%%',
  '\\%',
  '\\_',
  '%_%',
  '*',
  '?',
  '$1',
  ':name',
  '1; SELECT pg_sleep(5)',
  "' UNION SELECT detail FROM objects --",
  '\\\\',
  ',',
  '\\,',
  'a,b\\,c',
];

/** SQL-like text in names, meta, filters, paths, references and credentials. */
function sqlLike(): Case[] {
  const cases: Case[] = [];
  const names = (res: WireResponse) => (parse(res).objects as Obj[]).map((o) => o.name as string);
  for (const text of SQL) {
    cases.push({
      category: 'sql',
      label: `name ${text}`,
      method: 'PUT',
      path: `${API}/servers/${fx.s2}/`,
      body: JSON.stringify({ name: `fx s2 ${text}`, meta: { [text.slice(0, 32)]: text } }),
      expect: [200],
      check: (res) => (parse(res).name === `fx s2 ${text}` ? undefined : 'name not kept'),
    });
    const q = encodeURIComponent(text);
    for (const kind of ['servers', 'drives']) {
      // contains: every result contains the text (no wildcard matches everything).
      const needles = splitFilter(text).map(fold);
      cases.push({
        category: 'sql',
        label: `contains ${text}`,
        method: 'GET',
        path: `${API}/${kind}/detail/?limit=0&name__contains=${q}`,
        expect: [200],
        check: (res) => {
          const bad = names(res).filter((n) => !needles.some((needle) => fold(n).includes(needle)));
          return bad.length === 0 ? undefined : `matched ${JSON.stringify(bad)}`;
        },
      });
      const exact = splitFilter(text);
      cases.push({
        category: 'sql',
        label: `exact ${text}`,
        method: 'GET',
        path: `${API}/${kind}/detail/?limit=0&name=${q}`,
        expect: [200],
        check: (res) => {
          const bad = names(res).filter((n) => !exact.includes(n));
          return bad.length === 0 ? undefined : `matched ${JSON.stringify(bad)}`;
        },
      });
      cases.push({
        category: 'sql',
        label: `uuid ${text}`,
        method: 'GET',
        path: `${API}/${kind}/?uuid=${q}`,
        expect: [200],
        check: (res) => ((parse(res).objects as Obj[]).length === 0 ? undefined : 'matched'),
      });
      for (const param of ['order_by', 'fields', 'limit', 'offset', 'tag']) {
        cases.push({
          category: 'sql',
          label: `${param} ${text}`,
          method: 'GET',
          path: `${API}/${kind}/?${param}=${q}`,
          expect: [200, 400],
        });
      }
      cases.push({
        category: 'sql',
        label: `path ${text}`,
        method: 'GET',
        path: `${API}/${kind}/${q}/`,
        expect: [400, 404],
      });
      cases.push({
        category: 'sql',
        label: `DELETE path ${text}`,
        method: 'DELETE',
        path: `${API}/${kind}/${q}/`,
        expect: [400, 404],
      });
      cases.push({
        category: 'sql',
        label: `bulk DELETE ${text}`,
        method: 'DELETE',
        path: `${API}/${kind}/`,
        body: JSON.stringify({
          objects: [{ uuid: kind === 'servers' ? fx.s2 : fx.dB }, { uuid: text }],
        }),
        expect: [400, 404],
      });
    }
    cases.push({
      category: 'sql',
      label: `drive reference ${text}`,
      method: 'PUT',
      path: `${API}/servers/${fx.s2}/`,
      body: JSON.stringify({ drives: [{ drive: text, device: 'virtio', dev_channel: '0:0' }] }),
      ...V400,
    });
    cases.push({
      category: 'sql',
      label: `Basic email ${text}`,
      method: 'GET',
      path: `${API}/servers/`,
      headers: { authorization: `Basic ${Buffer.from(`${text}:x`).toString('base64')}` },
      expect: [401, 429],
    });
    cases.push({
      category: 'sql',
      label: `login ${text}`,
      method: 'POST',
      path: `${API}/accounts/action/?do=login`,
      as: 'none',
      body: JSON.stringify({ username: text, password: text }),
      expect: [400, 401, 429],
    });
  }
  return cases;
}

/** The values of a filter parameter as the API splits them (`,` separates, `\,` and `\\` escape). */
function splitFilter(text: string): string[] {
  const values: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const next = text[i + 1];
    if (ch === '\\' && (next === ',' || next === '\\')) {
      current += next;
      i++;
    } else if (ch === ',') {
      values.push(current);
      current = '';
    } else current += ch;
  }
  values.push(current);
  return values;
}

/** Dot segments, encoded slashes, long paths, wrong kinds, ids that are not uuids. */
function paths(): Case[] {
  const cases: Case[] = [];
  const s1 = fx.s1;
  const list = [
    `${API}/servers/../drives/`,
    `${API}/servers/%2e%2e/drives/`,
    `${API}/servers/%2E%2E/`,
    `${API}/servers/.%2e/`,
    `${API}/servers/%2f/`,
    `${API}/servers/${s1}%2f/`,
    `${API}/servers%2f${s1}/`,
    `${API}/servers/${s1}%2fextra/`,
    `${API}/servers/%5c${s1}/`,
    `${API}/%73ervers/${s1}/`,
    `${API}/servers/${s1}/../`,
    `${API}/servers/${s1}/./`,
    `${API}/servers/./${s1}/`,
    `${API}/servers/${s1}//`,
    `${API}/servers/${s1}/extra/`,
    `${API}/servers/${s1}/extra/more/`,
    `${API}/servers/${s1}/action/`,
    `${API}/servers/${s1}/action/?do=start`,
    `${API}/servers/${s1}/action/?do=%00`,
    `${API}/servers/action/?do=delete`,
    `${API}/servers/${'a'.repeat(5000)}/`,
    `${API}/servers/${'a'.repeat(501)}/`,
    `${API}/servers/${'%41'.repeat(600)}/`,
    `${API}/${'x/'.repeat(3000)}`,
    `${API}/servers/${'../'.repeat(500)}`,
    `${API}/servers/${'%2e%2e%2f'.repeat(100)}`,
    `${API}/servers/${s1.toUpperCase()}/`,
    `${API}/servers/${s1}x/`,
    `${API}/servers/%20${s1}/`,
    `${API}/servers/${s1}%20/`,
    `${API}/servers/{${s1}}/`,
    `${API}/servers/${s1.replaceAll('-', '')}/`,
    `${API}/servers/${fx.dB}/`,
    `${API}/drives/${s1}/`,
    `${API}/servers/${fx.bobServer}/`,
    `${API}/drives/${fx.bobDrive}/`,
    `${API}/servers/00000000-0000-0000-0000-000000000000/`,
    `${API}/servers/not-a-uuid/`,
    `${API}/servers/-1/`,
    `${API}/servers/1e9/`,
    `${API}/servers/%/`,
    `${API}/servers/%zz/`,
    `${API}/servers/%2/`,
    `${API}/servers/;/`,
    `${API}/servers/;jsessionid=1/`,
    `${API}/servers/*/`,
    `${API}/servers/~/`,
    `${API}/servers/detail/extra/`,
    `${API}/servers/schema/${s1}/`,
    `${API}/servers/detail/${s1}/`,
    `${API}/unknown/`,
    `${API}/ips/`,
    `${API}/vlans/${s1}/`,
    `${API}/tags/`,
    `${API}/`,
    API,
    '/api/',
    '/api/2.1/servers/',
    '/API/2.0/servers/',
    `${API}/Servers/`,
    `${API}/SERVERS/${s1}/`,
    `${API}/profile/${s1}/`,
    `${API}/profile/../servers/`,
    `${API}/healthz/`,
    `/healthz/../api/2.0/servers/${s1}/`,
    `${API}/servers/.`,
    `${API}/servers/${s1}/;`,
    `${API}/servers/\\..\\`,
    `${API}/capabilities/${s1}/`,
    `${API}/accounts/`,
    `${API}/accounts/${s1}/`,
    `${API}/accounts/action/`,
    `${API}/user/${s1}/`,
    `//api/2.0/servers/${s1}/`,
    `${API}///servers///${s1}///`,
    '/',
    '*',
    `http://evil.example${API}/servers/${s1}/`,
  ];
  const bad = '{"cpu":"abc"';
  for (const path of list) {
    cases.push({
      category: 'paths',
      label: 'GET',
      method: 'GET',
      path,
      expect: [200, 400, 404, 405],
    });
    for (const method of ['PUT', 'POST', 'DELETE']) {
      cases.push({
        category: 'paths',
        label: `${method} with a broken body`,
        method,
        path,
        body: bad,
        expect: [400, 404, 405, 413],
      });
    }
    cases.push({
      category: 'paths',
      label: 'DELETE with a bad recurse',
      method: 'DELETE',
      path: `${path}${path.includes('?') ? '&' : '?'}recurse=everything`,
      expect: [400, 404, 405],
    });
  }
  // The origin-form is the only one node:http sends; absolute-form and oddities go raw.
  for (const target of [
    `http://127.0.0.1${API}/servers/${s1}/`,
    `${API}/servers/${s1}/#fragment`,
    `${API}/servers/ ${s1}/`,
    `${API}/servers/${s1}\t/`,
    `${API}/servers/\u007f/`,
    'servers/',
    '',
  ]) {
    cases.push({
      category: 'paths',
      label: 'raw request target',
      method: 'DELETE',
      path: '',
      raw: Buffer.from(
        `DELETE ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.alice}\r\nContent-Type: application/json\r\nContent-Length: ${bad.length}\r\nConnection: close\r\n\r\n${bad}`,
        'latin1',
      ),
      expect: [400, 404],
    });
  }
  return cases;
}

/** Odd query strings on the lists and the objects. */
function queries(): Case[] {
  const cases: Case[] = [];
  const params = [
    'limit=-1',
    'limit=abc',
    'limit=1.5',
    'limit=1e9',
    'offset=1e9',
    'offset=-5',
    'limit=99999999999999999999',
    'offset=99999999999999999999',
    'limit=',
    'limit=0',
    'limit=%201',
    'limit=%2B1',
    'limit=0x10',
    'limit=1&limit=abc',
    'limit=abc&limit=1',
    'limit[]=1',
    'limit[0]=1',
    'limit.a=1',
    'offset=1000000000',
    'limit=1&offset=1&limit=2&offset=2',
    'fields=',
    'fields=,,,,',
    'fields=__proto__',
    'fields=constructor,toString',
    'fields=uuid,uuid,uuid',
    `fields=${'a,'.repeat(2000)}`,
    'order_by=',
    'order_by=-',
    'order_by=--name',
    'order_by=name;drop',
    'order_by=cpu',
    'order_by=-uuid&order_by=name',
    'format=xml',
    'format=json',
    'format=',
    'format=JSON',
    'format=json&format=xml',
    'name=a,b,c',
    'name=,,,,',
    'uuid=,,',
    `name=${'n'.repeat(5000)}`,
    `name__contains=${'%25'.repeat(1000)}`,
    'tag=x',
    'tag__name=x',
    'status=x',
    'status=stopped',
    'name__in=a',
    'name__gt=a',
    'name__regex=.*',
    'do=x',
    'recurse=all_drives',
    Array(1000).fill('a=1').join('&'),
    Array(50).fill('name__contains=fx').join('&'),
    'a=1;b=2',
    '&&&',
    '=',
    '==',
    'name==x',
    '%3D=%3D',
    '?name=x',
    '__proto__[polluted]=1',
    'constructor[prototype][polluted]=1',
    '__proto__=1',
    'format=json&__proto__=x',
    'format=json&constructor=1',
    'toString=1&format=json',
    'hasOwnProperty=1&format=json',
  ];
  const targets = [
    `${API}/servers/`,
    `${API}/servers/detail/`,
    `${API}/drives/`,
    `${API}/drives/detail/`,
    `${API}/servers/${fx.s1}/`,
    `${API}/profile/`,
  ];
  for (const param of params) {
    for (const target of targets) {
      cases.push({
        category: 'query',
        label: param.slice(0, 40),
        method: 'GET',
        path: `${target}?${param}`,
        expect: [200, 400, 406],
        check: () => (({}) as Obj).polluted === undefined ? undefined : 'Object.prototype polluted',
      });
    }
  }
  // Past the fast path of Accept the query is read a second time: still no prototype keys.
  for (const param of ['__proto__=1', 'constructor=1', 'toString=x&valueOf=y', '__proto__[a]=1']) {
    cases.push({
      category: 'query',
      label: `${param} with a long Accept`,
      method: 'GET',
      path: `${API}/servers/?${param}`,
      headers: { accept: 'text/html, application/json;q=0.9' },
      expect: [200],
    });
  }
  for (const [param, status] of [
    ['limit=-1', 400],
    ['limit=abc', 400],
    ['offset=1e9', 400],
    ['limit=99999999999999999999', 400],
    ['format=xml', 406],
    ['limit=1&limit=abc', 400],
  ] as const) {
    cases.push({
      category: 'query',
      label: `${param} is refused`,
      method: 'GET',
      path: `${API}/servers/?${param}`,
      expect: [status],
    });
  }
  return cases;
}

function digestHeader(fields: Record<string, string>): string {
  return `Digest ${Object.entries(fields)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}`;
}

/** Bad credentials of every kind, against the victim account (throttled after 10: 429). */
function badAuth(rng: Rng): Case[] {
  const cases: Case[] = [];
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
  const v = VICTIM.email;
  const realDigest = {
    username: v,
    realm: 'users',
    nonce: fx.digest.nonce,
    uri: `${API}/servers/`,
    response: '0'.repeat(32),
    qop: 'auth',
    nc: '00000001',
    cnonce: 'abc',
    opaque: fx.digest.opaque,
  };
  const headers = [
    'Basic',
    'Basic ',
    'Basic !!!not-base64!!!',
    'Basic ====',
    `Basic ${b64('no-colon-here')}`,
    `Basic ${b64(v)}`,
    `Basic ${b64(':')}`,
    `Basic ${b64(`:${VICTIM.password}`)}`,
    `Basic ${b64(`${v}:`)}`,
    `Basic ${b64(`${v}:wrong`)}`,
    `Basic ${b64(`${v.toUpperCase()}:wrong`)}`,
    `Basic ${b64(`${v}:${VICTIM.password} `)}`,
    `Basic ${b64(`${v}::${VICTIM.password}`)}`,
    `Basic  ${b64(`${v}:wrong`)}`,
    `basic ${b64(`${v}:wrong`)}`,
    `BASIC ${b64(`${v}:wrong`)}`,
    `Basic ${b64(`${v}:wrong`)} trailing`,
    `Basic ${b64(`${v}:wrong`)}, Basic ${b64(`${v}:wrong2`)}`,
    `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0xc3, 0x28]))}`,
    `Basic ${b64(`${v}:${'p'.repeat(7000)}`)}`,
    `Basic ${'A'.repeat(10_240)}`,
    `Basic ${b64(`${'u'.repeat(5000)}@x:pw`)}`,
    `Basic ${b64('nobody@example.com:pw')}`,
    'Bearer x',
    `Bearer ${'x'.repeat(10_240)}`,
    'Bearer',
    'Token abc',
    'Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCqKCAUAEggE8',
    'NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==',
    'AWS4-HMAC-SHA256 Credential=x',
    'x',
    ' ',
    ',',
    'Digest',
    'Digest ',
    'Digest username=',
    `Digest username="${v}"`,
    'Digest username="unterminated',
    'Digest a=b,,,,,c=d',
    `Digest ${'a=b, '.repeat(1000)}`,
    digestHeader({ ...realDigest, nonce: 'garbage' }),
    digestHeader({ ...realDigest, nonce: '1:2:3' }),
    digestHeader({ ...realDigest, nonce: `${Date.now()}:00:${'0'.repeat(32)}` }),
    digestHeader({ ...realDigest, nonce: ':::::' }),
    digestHeader({ ...realDigest, nonce: 'x'.repeat(5000) }),
    digestHeader(realDigest),
    digestHeader({ ...realDigest, uri: '/elsewhere/' }),
    digestHeader({ ...realDigest, nc: 'zz' }),
    digestHeader({ ...realDigest, nc: '-1' }),
    digestHeader({ ...realDigest, qop: 'auth-int' }),
    digestHeader({ ...realDigest, algorithm: 'SHA-256' }),
    digestHeader({ ...realDigest, realm: 'other' }),
    digestHeader({ ...realDigest, username: 'nobody@example.com' }),
    digestHeader({ ...realDigest, response: 'not-hex' }),
    digestHeader({ ...realDigest, response: '' }),
    digestHeader({ ...realDigest, opaque: 'wrong' }),
    `${digestHeader(realDigest)}, ${digestHeader(realDigest)}`,
    `Digest ${b64(`${v}:wrong`)}`,
  ];
  const targets: [string, string, string | undefined][] = [
    ['GET', `${API}/servers/`, undefined],
    ['GET', `${API}/servers/${fx.victimServer}/`, undefined],
    ['POST', `${API}/servers/`, JSON.stringify(validServer())],
    ['PUT', `${API}/servers/${fx.victimServer}/`, '{"name":"hijacked"}'],
    ['DELETE', `${API}/servers/${fx.victimServer}/`, undefined],
    ['GET', `${API}/profile/`, undefined],
  ];
  for (const authorization of headers) {
    for (const [method, path, body] of rng.sample(targets, 3)) {
      cases.push({
        category: 'auth',
        label: `Authorization ${authorization.slice(0, 40)}`,
        method,
        path,
        headers: { authorization },
        ...(body === undefined ? {} : { body }),
        expect: [401, 429],
        errorType: 'permission',
      });
    }
  }
  // No credentials at all, on every route that needs them.
  for (const [method, path, body] of targets) {
    cases.push({
      category: 'auth',
      label: 'no credentials',
      method,
      path,
      as: 'none',
      ...(body === undefined ? {} : { body }),
      expect: [401],
      errorType: 'permission',
    });
  }
  // Sessions: garbage cookies, and the victim's real session without (or with a wrong) CSRF token.
  const { id, csrf } = fx.session;
  const sessionCases: [string, Record<string, string>, readonly number[]][] = [
    ['garbage session', { cookie: 'sessionid=garbage' }, [401]],
    ['empty session', { cookie: 'sessionid=' }, [401]],
    ['NUL session', { cookie: 'sessionid=%00' }, [401]],
    ['bad cookie syntax', { cookie: 'sessionid' }, [401]],
    ['cookie soup', { cookie: '=;=;;sessionid="unterminated; a=%' }, [401]],
    ['10 KB cookie', { cookie: `sessionid=${'s'.repeat(10_240)}` }, [401]],
    ['session, no CSRF token', { cookie: `sessionid=${id}; csrftoken=${csrf}` }, [403]],
    ['session, wrong CSRF token', { cookie: `sessionid=${id}`, 'x-csrftoken': 'wrong' }, [403]],
    ['session, empty CSRF token', { cookie: `sessionid=${id}`, 'x-csrftoken': '' }, [403]],
    [
      'session, CSRF token with junk',
      { cookie: `sessionid=${id}`, 'x-csrftoken': `${csrf}x` },
      [403],
    ],
    [
      'session, CSRF token of 10 KB',
      { cookie: `sessionid=${id}`, 'x-csrftoken': 'c'.repeat(10_240) },
      [403],
    ],
    ['two sessions', { cookie: `sessionid=garbage; sessionid=${id}` }, [401, 403]],
  ];
  for (const [label, extra, statuses] of sessionCases) {
    for (const [method, path, body] of targets) {
      if (method === 'GET' && statuses.includes(403)) continue;
      cases.push({
        category: 'auth',
        label,
        method,
        path,
        as: 'none',
        headers: extra,
        ...(body === undefined ? {} : { body }),
        expect: statuses,
        errorType: 'permission',
      });
    }
  }
  // With a valid session and token, a hostile body is still a 400 and nothing changes.
  cases.push({
    category: 'auth',
    label: 'session with token, hostile body',
    method: 'PUT',
    path: `${API}/servers/${fx.victimServer}/`,
    as: 'none',
    headers: { cookie: `sessionid=${id}`, 'x-csrftoken': csrf },
    body: '{"cpu":"abc"}',
    ...V400,
  });
  // The login action with hostile bodies and parameters.
  const logins: [string, string, readonly number[]][] = [
    ['do=login', JSON.stringify({ username: v, password: 'wrong' }), [401, 429]],
    ['do=login', JSON.stringify({ username: v.toUpperCase(), password: 'wrong' }), [401, 429]],
    ['do=login', JSON.stringify({ username: v, password: 'p'.repeat(20_000) }), [401, 429]],
    ['do=login', JSON.stringify({ username: 'u'.repeat(20_000), password: 'x' }), [401, 429]],
    ['do=login', JSON.stringify({ username: 5, password: 'x' }), [400]],
    ['do=login', JSON.stringify({ username: v, password: null }), [400]],
    ['do=login', JSON.stringify({ username: v, password: ['x'] }), [400]],
    ['do=login', JSON.stringify({ username: v }), [400]],
    ['do=login', JSON.stringify({ username: '', password: 'x' }), [400]],
    ['do=login', JSON.stringify({ username: { $ne: null }, password: { $ne: null } }), [400]],
    ['do=login', JSON.stringify([{ username: v, password: VICTIM.password }]), [400]],
    ['do=login', '"x"', [400]],
    ['do=login', '', [400]],
    ['do=login', '{"username":', [400]],
    ['do=LOGIN', JSON.stringify({ username: v, password: VICTIM.password }), [400]],
    ['do=', JSON.stringify({ username: v, password: VICTIM.password }), [400]],
    ['', JSON.stringify({ username: v, password: VICTIM.password }), [400]],
    ['do=login&do=nothing', JSON.stringify({ username: v, password: VICTIM.password }), [400]],
    ['do=logout', '{}', [401]],
    ['do=check_login', '{}', [401]],
    ['do=authenticate_asynchronous', '{}', [400, 401]],
    ['do=__proto__', '{}', [400]],
    ['do=constructor', '{}', [400]],
    ['do=toString', '{}', [400]],
  ];
  for (const [query, body, statuses] of logins) {
    cases.push({
      category: 'auth',
      label: `login ${query} ${body.slice(0, 40)}`,
      method: 'POST',
      path: `${API}/accounts/action/${query ? `?${query}` : ''}`,
      as: 'none',
      body,
      expect: statuses,
    });
  }
  // Header sizes: 10 KB passes the parser (and still needs valid credentials); 20 KB does not.
  cases.push({
    category: 'auth',
    label: '10 KB junk header, no credentials',
    method: 'GET',
    path: `${API}/servers/`,
    as: 'none',
    headers: { 'x-junk': 'j'.repeat(10_240) },
    expect: [401],
  });
  cases.push({
    category: 'auth',
    label: '10 KB junk header, valid credentials',
    method: 'GET',
    path: `${API}/servers/`,
    headers: { 'x-junk': 'j'.repeat(10_240) },
    expect: [200],
  });
  for (const size of [20_000, 70_000]) {
    cases.push({
      category: 'auth',
      label: `${size} byte header`,
      method: 'GET',
      path: '',
      raw: Buffer.from(
        `GET ${API}/servers/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.alice}\r\nX-Junk: ${'j'.repeat(size)}\r\nConnection: close\r\n\r\n`,
      ),
      expect: [431],
      errorType: 'validation',
    });
  }
  cases.push({
    category: 'auth',
    label: '500 headers',
    method: 'GET',
    path: `${API}/servers/`,
    headers: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-h${i}`, 'v'])),
    expect: [200, 400, 431],
  });
  return cases;
}

/** Methods a route does not have, methods no route has, and methods Node does not know. */
function methods(): Case[] {
  const cases: Case[] = [];
  const paths = [
    `${API}/servers/`,
    `${API}/servers/detail/`,
    `${API}/servers/schema/`,
    `${API}/servers/${fx.s1}/`,
    `${API}/drives/${fx.dA}/`,
    `${API}/drives/detail/`,
    `${API}/profile/`,
    `${API}/profile/schema/`,
    `${API}/balance/`,
    `${API}/capabilities/`,
    `${API}/locations/`,
    `${API}/accounts/action/?do=login`,
    '/healthz',
    `${API}/`,
    `${API}/nothing/`,
  ];
  const body = JSON.stringify({ name: 'patched', cpu: 2000 });
  const broken = '{"cpu":"abc"}';
  for (const path of paths) {
    for (const method of [
      'PATCH',
      'TRACE',
      'PROPFIND',
      'PROPPATCH',
      'MKCOL',
      'COPY',
      'MOVE',
      'LOCK',
      'UNLOCK',
      'SEARCH',
      'PURGE',
      'REPORT',
      'MKACTIVITY',
      'CHECKOUT',
      'MERGE',
      'M-SEARCH',
      'NOTIFY',
      'SUBSCRIBE',
      'UNSUBSCRIBE',
      'LINK',
      'UNLINK',
      'BIND',
      'REBIND',
      'UNBIND',
      'ACL',
      'QUERY',
    ]) {
      cases.push({
        category: 'methods',
        label: method,
        method,
        path,
        body,
        expect: [400, 404, 405],
      });
    }
    cases.push({
      category: 'methods',
      label: 'OPTIONS',
      method: 'OPTIONS',
      path,
      expect: [200, 401, 404],
    });
    cases.push({
      category: 'methods',
      label: 'HEAD',
      method: 'HEAD',
      path,
      expect: [200, 401, 404, 405],
    });
  }
  for (const [method, path] of [
    ['DELETE', `${API}/profile/`],
    ['POST', `${API}/profile/`],
    ['DELETE', `${API}/servers/detail/`],
    ['POST', `${API}/servers/detail/`],
    ['PUT', `${API}/servers/schema/`],
    ['POST', `${API}/servers/${fx.s1}/`],
    ['POST', `${API}/drives/${fx.dA}/`],
    ['PUT', `${API}/balance/`],
    ['DELETE', `${API}/capabilities/`],
    ['GET', `${API}/accounts/action/?do=login`],
    ['DELETE', `${API}/accounts/action/?do=logout`],
    ['POST', '/healthz'],
  ] as const) {
    cases.push({
      category: 'methods',
      label: `${method} not allowed`,
      method,
      path,
      body,
      expect: [404, 405],
    });
  }
  // Methods llhttp refuses, and CONNECT (Node hands the socket over; nobody takes it).
  for (const method of [
    'FOO',
    'get',
    'GETS',
    'G\tET',
    'GET GET',
    '',
    'POST\u0000',
    'PUT'.repeat(1000),
  ]) {
    cases.push({
      category: 'methods',
      label: `raw method ${JSON.stringify(method).slice(0, 20)}`,
      method: 'GET',
      path: '',
      raw: Buffer.from(
        `${method} ${API}/servers/${fx.s1}/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.alice}\r\nContent-Length: ${broken.length}\r\nConnection: close\r\n\r\n${broken}`,
      ),
      expect: [400],
    });
  }
  for (const version of ['HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'HTTPS/1.1', 'HTTP/1.1 extra', '']) {
    cases.push({
      category: 'methods',
      label: `version ${version}`,
      method: 'PUT',
      path: '',
      raw: Buffer.from(
        `PUT ${API}/servers/${fx.s1}/ ${version}\r\nHost: x\r\nAuthorization: ${AUTH.alice}\r\nContent-Length: ${broken.length}\r\nConnection: close\r\n\r\n${broken}`,
      ),
      // 415: the body is not declared JSON (HTTP/2.0 and /0.9 are read as HTTP/1.1).
      expect: [400, 415, 505],
    });
  }
  for (const [label, head] of [
    ['Content-Length and chunked', 'Content-Length: 5\r\nTransfer-Encoding: chunked'],
    ['two Content-Lengths', `Content-Length: ${broken.length}\r\nContent-Length: 3`],
    ['negative Content-Length', 'Content-Length: -1'],
    ['Content-Length not a number', 'Content-Length: abc'],
    ['bad chunk size', 'Transfer-Encoding: chunked'],
    ['Transfer-Encoding gzip', 'Transfer-Encoding: gzip'],
    ['header without colon', 'NoColonHere'],
    ['folded header', 'X-A: 1\r\n  folded'],
  ] as const) {
    cases.push({
      category: 'methods',
      label,
      method: 'PUT',
      path: '',
      raw: Buffer.from(
        `PUT ${API}/servers/${fx.s1}/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.alice}\r\nContent-Type: application/json\r\n${head}\r\nConnection: close\r\n\r\nzz\r\n${broken}`,
      ),
      expect: [400, 501],
    });
  }
  cases.push({
    category: 'methods',
    label: 'CONNECT',
    method: 'CONNECT',
    path: '',
    raw: Buffer.from(`CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n`),
    mayDrop: true,
    expect: [400, 404, 405],
  });
  return cases;
}

/** Content types, encodings and Accept values. */
function contentTypes(): Case[] {
  const cases: Case[] = [];
  const invalidServer = JSON.stringify({ name: 'ct', cpu: 1000, mem: 536870912 });
  const types = [
    'text/plain',
    'text/html',
    'application/xml',
    'text/xml',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/octet-stream',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json;;;',
    'application/json, text/plain',
    'application/',
    '/json',
    ';',
    'a/b/c',
    '*/*',
    'application/json; charset="utf-8"; boundary=1',
    'APPLICATION/JSON',
    `application/${'x'.repeat(5000)}`,
    'application/vnd.api+json',
    'image/png',
  ];
  for (const type of types) {
    cases.push({
      category: 'content-type',
      label: type.slice(0, 40),
      method: 'POST',
      path: `${API}/servers/`,
      body: invalidServer,
      contentType: type,
      ...V400_OR_415,
    });
  }
  for (const [label, type, body] of [
    ['XML', 'application/xml', '<objects><server><name>x</name><cpu>1000</cpu></server></objects>'],
    ['form', 'application/x-www-form-urlencoded', 'name=x&cpu=1000&mem=536870912&vnc_password=x'],
    [
      'multipart',
      'multipart/form-data; boundary=xyz',
      '--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--xyz--\r\n',
    ],
    ['YAML', 'application/yaml', 'name: x\ncpu: 1000\n'],
    ['no type, form', null, 'name=x'],
    ['no type, XML', null, '<x/>'],
    ['JSON with comments', 'application/json', '{"name":"x", /* c */ "cpu":1000}'],
    ['JSON5', 'application/json', "{name:'x',cpu:1000,}"],
    ['trailing garbage', 'application/json', `${JSON.stringify(validServer())} garbage`],
    [
      'two documents',
      'application/json',
      `${JSON.stringify(validServer())}${JSON.stringify(validServer())}`,
    ],
    ['NaN', 'application/json', JSON.stringify(validServer()).replace('1000', 'NaN')],
    ['Infinity', 'application/json', JSON.stringify(validServer()).replace('1000', 'Infinity')],
    ['hex number', 'application/json', JSON.stringify(validServer()).replace('1000', '0x3e8')],
    ['leading zeros', 'application/json', JSON.stringify(validServer()).replace('1000', '01000')],
    ['single quotes', 'application/json', JSON.stringify(validServer()).replaceAll('"', "'")],
  ] as const) {
    for (const [method, path] of [
      ['POST', `${API}/servers/`],
      ['PUT', `${API}/servers/${fx.s1}/`],
    ] as const) {
      cases.push({
        category: 'content-type',
        label,
        method,
        path,
        body,
        contentType: type,
        ...V400_OR_415,
      });
    }
  }
  const bomb = gzipSync(Buffer.from(`{"name":"${' '.repeat(BODY_LIMIT * 4)}"}`));
  for (const [label, encoding, body, statuses] of [
    ['gzip garbage', 'gzip', Buffer.from('not gzip'), [400]],
    ['deflate garbage', 'deflate', Buffer.from('not deflate'), [400]],
    ['br garbage', 'br', Buffer.from('not br'), [400]],
    ['unknown encoding', 'x-unknown', Buffer.from(invalidServer), [400, 415]],
    ['gzip of an invalid server', 'gzip', gzipSync(invalidServer), [400]],
    ['gzip bomb over the limit', 'gzip', bomb, [400, 413]],
    ['truncated gzip', 'gzip', gzipSync(invalidServer).subarray(0, 20), [400]],
    ['gzip twice, declared once', 'gzip', gzipSync(gzipSync(invalidServer)), [400]],
    ['gzip, gzip', 'gzip, gzip', gzipSync(invalidServer), [400, 415]],
  ] as const) {
    cases.push({
      category: 'content-type',
      label,
      method: 'POST',
      path: `${API}/servers/`,
      headers: { 'content-encoding': encoding },
      body,
      expect: statuses,
    });
  }
  for (const accept of [
    'application/xml',
    'text/html',
    '*/*;q=0',
    'application/json;q=0',
    'application/json;q=abc',
    'text/*',
    `application/${'x'.repeat(5000)}`,
    ',,,,',
    ';q=1',
    'image/png, text/xml',
  ]) {
    for (const [method, path, body] of [
      ['GET', `${API}/servers/`, undefined],
      ['PUT', `${API}/servers/${fx.s1}/`, '{"name":"accept"}'],
      ['DELETE', `${API}/servers/${fx.s1}/`, undefined],
    ] as const) {
      cases.push({
        category: 'content-type',
        label: `Accept ${accept.slice(0, 30)}`,
        method,
        path,
        headers: { accept },
        ...(body === undefined ? {} : { body }),
        expect: [406],
      });
    }
  }
  return cases;
}

/** Bodies on GET, HEAD and OPTIONS. */
function getBodies(): Case[] {
  const cases: Case[] = [];
  const bodies: [string, string | Buffer][] = [
    ['invalid JSON', '{x'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
    ['NUL', '{"a":"\\u0000"}'],
    ['deep', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['a valid server', JSON.stringify(validServer())],
    ['over the limit', 'x'.repeat(BODY_LIMIT + 10)],
    ['a delete', JSON.stringify({ objects: [{ uuid: fx.s2 }] })],
  ];
  for (const [label, body] of bodies) {
    for (const path of [
      `${API}/servers/`,
      `${API}/servers/detail/`,
      `${API}/servers/${fx.s1}/`,
      `${API}/drives/${fx.dB}/`,
      `${API}/profile/`,
    ]) {
      for (const method of ['GET', 'HEAD', 'OPTIONS']) {
        cases.push({
          category: 'get-body',
          label,
          method,
          path,
          body,
          expect: [200, 400, 413],
        });
      }
    }
  }
  return cases;
}

/** Refusals against the fixtures: bad NICs, bad attachments, bad meta, partial bulks, isolation. */
function targets(rng: Rng): Case[] {
  const cases: Case[] = [];
  const s1 = `${API}/servers/${fx.s1}/`;
  const s2 = `${API}/servers/${fx.s2}/`;
  const put = (label: string, path: string, body: unknown, statuses: readonly number[] = [400]) =>
    cases.push({
      category: 'targets',
      label,
      method: 'PUT',
      path,
      body: JSON.stringify(body),
      expect: statuses,
    });
  // NICs with MACs the server does not have.
  const macs = [
    '22:00:00:00:00:00',
    'ff:ff:ff:ff:ff:ff',
    '00:00:00:00:00:00',
    'not-a-mac',
    '',
    '22:00:00:00:00',
    '22:00:00:00:00:00:00',
    fx.s2Macs[0]!,
    `${fx.s1Macs[0]} `,
    fx.s1Macs[0]!.replaceAll(':', '-'),
    fx.s1Macs[0]!.replaceAll(':', ''),
    '%',
  ];
  for (const mac of macs) {
    put(`nic with MAC ${mac}`, s1, { nics: [{ mac }] });
    put(`nics keeping one, adding MAC ${mac}`, s1, { nics: [{ mac: fx.s1Macs[0] }, { mac }] });
  }
  put('the same MAC twice', s1, { nics: [{ mac: fx.s1Macs[0] }, { mac: fx.s1Macs[0] }] });
  put('the same MAC twice, case differs', s1, {
    nics: [{ mac: fx.s1Macs[0] }, { mac: fx.s1Macs[0]!.toUpperCase() }],
  });
  put('a NIC with a VLAN', s1, { nics: [{ vlan: 'x' }] });
  put('a NIC with a static IP', s1, { nics: [{ ip_v4_conf: { conf: 'static', ip: '1.2.3.4' } }] });
  put('a static conf without IP', s1, { nics: [{ ip_v4_conf: { conf: 'static' } }] });
  put('a NIC with a firewall policy', s1, { nics: [{ firewall_policy: 'x' }] });
  put('NIC boot order clashing with a drive', s1, {
    nics: [{ mac: fx.s1Macs[0], boot_order: 1 }],
  });
  // Attachments that must be refused.
  const attachment = (drive: string, extra: Obj = {}) => ({
    drive,
    device: 'virtio',
    dev_channel: '0:0',
    ...extra,
  });
  const keep = [attachment(fx.dA), attachment(fx.dM, { dev_channel: '0:1' })];
  const badAttachments: [string, Obj[]][] = [
    ['a missing drive', [attachment('00000000-0000-4000-8000-000000000000')]],
    ["bob's drive", [attachment(fx.bobDrive)]],
    ['a server as drive', [attachment(fx.s2)]],
    ['the same drive twice', [attachment(fx.dB), attachment(fx.dB, { dev_channel: '0:2' })]],
    ['the same channel twice', [attachment(fx.dA), attachment(fx.dM)]],
    ['device scsi', [attachment(fx.dA, { device: 'scsi' })]],
    ['device IDE', [attachment(fx.dA, { device: 'IDE' })]],
    ['ide 2:0', [attachment(fx.dA, { device: 'ide', dev_channel: '2:0' })]],
    ['ide 0:2', [attachment(fx.dA, { device: 'ide', dev_channel: '0:2' })]],
    ['virtio 0:6', [attachment(fx.dA, { dev_channel: '0:6' })]],
    ['virtio 171:0', [attachment(fx.dA, { dev_channel: '171:0' })]],
    ['channel 99999:0', [attachment(fx.dA, { dev_channel: '99999:0' })]],
    ['channel -1:0', [attachment(fx.dA, { dev_channel: '-1:0' })]],
    ['channel a:b', [attachment(fx.dA, { dev_channel: 'a:b' })]],
    ['channel 0:0:0', [attachment(fx.dA, { dev_channel: '0:0:0' })]],
    ['channel " 0:0"', [attachment(fx.dA, { dev_channel: ' 0:0' })]],
    ['channel empty', [attachment(fx.dA, { dev_channel: '' })]],
    ['channel 0', [attachment(fx.dA, { dev_channel: '0' })]],
    ['boot order 0', [attachment(fx.dA, { boot_order: 0 })]],
    ['boot order -1', [attachment(fx.dA, { boot_order: -1 })]],
    ['boot order 1.5', [attachment(fx.dA, { boot_order: 1.5 })]],
    [
      'boot order twice',
      [
        attachment(fx.dA, { boot_order: 1 }),
        attachment(fx.dM, { dev_channel: '0:1', boot_order: 1 }),
      ],
    ],
    ['kept, then a missing drive', [...keep, attachment('missing', { dev_channel: '0:2' })]],
    ['kept, then a cdrom on a used channel', [...keep, attachment(fx.dC, { dev_channel: '0:1' })]],
    ['a drive uuid as a URI of servers', [attachment(`/api/2.0/servers/${fx.dB}/`)]],
    ['a drive uuid as a bad URI', [attachment(`/api/2.0/drives/${fx.dB}/x/`)]],
    ['a drive as an object without uuid', [{ ...attachment(fx.dB), drive: { name: 'x' } }]],
  ];
  for (const [label, drives] of badAttachments) {
    put(`S1 drives: ${label}`, s1, { drives });
    put(`S2 drives: ${label}`, s2, { drives });
  }
  // A disk without multimount that S1 has, onto S2 (the decision table: 400 on `drives`).
  put('S1 disk onto S2', s2, { drives: [attachment(fx.dA)] });
  put('S1 disk onto S2, keeping S2 drives', s2, {
    drives: [attachment(fx.dM, { device: 'ide' }), attachment(fx.dA, { dev_channel: '0:3' })],
  });
  // Meta that must be refused.
  for (const meta of [
    { a: 1 },
    { a: null },
    { a: true },
    { a: {} },
    { a: [] },
    { a: 1.5 },
    { [`${'k'.repeat(33)}`]: 'v' },
    { [`${'\u{1f984}'.repeat(33)}`]: 'v' },
    { ok: 'v', bad: 2 },
  ]) {
    put(`S1 meta ${JSON.stringify(meta).slice(0, 40)}`, s1, { meta });
    put(`dB meta ${JSON.stringify(meta).slice(0, 40)}`, `${API}/drives/${fx.dB}/`, { meta });
  }
  for (const meta of ['x', [], ['a'], 5]) put(`S1 meta as ${JSON.stringify(meta)}`, s1, { meta });
  // Drive rule violations.
  const dB = `${API}/drives/${fx.dB}/`;
  for (const [label, body] of [
    ['shrink', { size: 536870912 }],
    ['shrink by one', { size: 1073741823 }],
    ['grow past the maximum', { size: 1e15 }],
    ['storage type change', { storage_type: 'nvme' }],
    ['storage type unknown', { storage_type: 'magnetic' }],
    ['media floppy', { media: 'floppy' }],
    ['affinities hdd', { affinities: ['hdd'] }],
    ['iops 0', { iops: 0 }],
    ['iops too high', { iops: 10_000_000 }],
    ['tags', { tags: ['x'] }],
    ['licenses', { licenses: [{ license: 'x' }] }],
  ] as const) {
    put(`dB ${label}`, dB, body);
  }
  put('multimount off while on two servers', `${API}/drives/${fx.dM}/`, {
    allow_multimount: false,
  });
  // Server rule violations.
  for (const [label, body] of [
    ['cpu 1', { cpu: 1 }],
    ['cpu too high', { cpu: 10_000_000 }],
    ['mem 1', { mem: 1 }],
    ['smp 0', { smp: 0 }],
    ['smp 33', { smp: 33 }],
    ['cpu per core too low', { cpu: 1000, smp: 8 }],
    ['cpu_type sparc', { cpu_type: 'sparc_t4' }],
    ['hypervisor solaris', { hypervisor: 'solaris-kz' }],
    ['empty vnc password', { vnc_password: '' }],
    ['tags', { tags: ['x'] }],
    ['pubkeys', { pubkeys: ['x'] }],
    ['gpus', { gpus: [{ model: 'x' }] }],
    ['epcs', { epcs: [{ size: 1 }] }],
    ['requirements not strings', { requirements: [1] }],
  ] as const) {
    put(`S1 ${label}`, s1, body);
  }
  // Bulks that fail part-way: nothing of them may stay.
  const good = validServer({ name: 'bulk good' });
  for (const [label, objects, statuses] of [
    ['valid then invalid', [good, { name: 'x' }], [400]],
    [
      'valid then a missing drive (fails inside the transaction)',
      [good, validServer({ drives: [attachment('missing')] })],
      [400],
    ],
    [
      'two servers taking the same free disk',
      [validServer({ drives: [attachment(fx.dB)] }), validServer({ drives: [attachment(fx.dB)] })],
      [400],
    ],
    [
      'a server taking the disk S1 has',
      [good, validServer({ drives: [attachment(fx.dA)] })],
      [400],
    ],
    [
      "a server taking bob's disk",
      [good, validServer({ drives: [attachment(fx.bobDrive)] })],
      [400],
    ],
    [
      'a NIC with a MAC on a new server',
      [good, validServer({ nics: [{ mac: fx.s1Macs[0] }] })],
      [400],
    ],
  ] as const) {
    cases.push({
      category: 'targets',
      label: `bulk POST: ${label}`,
      method: 'POST',
      path: `${API}/servers/`,
      body: JSON.stringify({ objects }),
      expect: statuses,
    });
  }
  cases.push({
    category: 'targets',
    label: 'bulk POST drives: valid then invalid',
    method: 'POST',
    path: `${API}/drives/`,
    body: JSON.stringify({ objects: [validDrive(), validDrive({ size: 1 })] }),
    ...V400,
  });
  for (const [label, objects, statuses] of [
    [
      'S2 renamed, then a missing uuid',
      [{ uuid: fx.s2, name: 'bulk' }, { uuid: 'missing' }],
      [404],
    ],
    [
      'S2 renamed, then S1 with bad cpu',
      [
        { uuid: fx.s2, name: 'bulk' },
        { uuid: fx.s1, cpu: 'abc' },
      ],
      [400],
    ],
    ['S2 renamed, then no uuid', [{ uuid: fx.s2, name: 'bulk' }, { name: 'x' }], [400]],
    [
      "S2 renamed, then bob's server",
      [
        { uuid: fx.s2, name: 'bulk' },
        { uuid: fx.bobServer, name: 'x' },
      ],
      [404],
    ],
    [
      'S2 renamed, then a drive uuid',
      [
        { uuid: fx.s2, name: 'bulk' },
        { uuid: fx.dB, name: 'x' },
      ],
      [404],
    ],
    [
      'S2 takes the free disk, then S1 takes it too',
      [
        { uuid: fx.s2, drives: [attachment(fx.dB)] },
        { uuid: fx.s1, drives: [...keep, attachment(fx.dB, { dev_channel: '0:2' })] },
      ],
      [400],
    ],
  ] as const) {
    cases.push({
      category: 'targets',
      label: `bulk PUT: ${label}`,
      method: 'PUT',
      path: `${API}/servers/`,
      body: JSON.stringify({ objects }),
      expect: statuses,
    });
  }
  for (const [kind, objects, statuses] of [
    ['servers', [fx.s2, 'missing'], [404]],
    ['servers', [fx.s2, fx.bobServer], [404]],
    ['servers', [fx.s2, fx.dB], [404]],
    ['servers', [{ uuid: fx.s2 }, { uuid: 5 }], [400]],
    ['servers', [{ uuid: fx.s2 }, {}], [400]],
    ['servers', [{ uuid: fx.s2 }, ''], [400]],
    ['drives', [fx.dB, 'missing'], [404]],
    ['drives', [fx.dB, fx.s1], [404]],
    ['drives', [fx.dA, fx.bobDrive], [404]],
  ] as const) {
    cases.push({
      category: 'targets',
      label: `bulk DELETE ${kind}: ${JSON.stringify(objects).slice(0, 60)}`,
      method: 'DELETE',
      path: `${API}/${kind}/`,
      body: JSON.stringify({ objects }),
      expect: statuses,
    });
  }
  for (const recurse of ['bogus', 'ALL_DRIVES', 'all_drives,disks', '%00', 'disks%20']) {
    cases.push({
      category: 'targets',
      label: `DELETE S1 recurse=${recurse}`,
      method: 'DELETE',
      path: `${s1}?recurse=${recurse}`,
      expect: [400],
    });
  }
  // Bob against alice's objects: the same answer as for a missing object, and nothing changes.
  for (const [method, path, body] of [
    ['GET', s1, undefined],
    ['PUT', s1, { name: 'bob was here' }],
    ['DELETE', s1, undefined],
    ['DELETE', `${API}/drives/${fx.dA}/`, undefined],
    ['PUT', `${API}/drives/${fx.dB}/`, { name: 'bob was here' }],
    ['PUT', `${API}/servers/`, { objects: [{ uuid: fx.s2, name: 'bob' }] }],
    ['DELETE', `${API}/servers/`, { objects: [{ uuid: fx.s2 }] }],
    ['DELETE', `${API}/drives/`, { objects: [fx.dB] }],
    ['PUT', `${API}/servers/${fx.bobServer}/`, { drives: [attachment(fx.dB)] }],
    ['POST', `${API}/servers/`, validServer({ drives: [attachment(fx.dB)] })],
  ] as const) {
    cases.push({
      category: 'targets',
      label: `bob ${method}`,
      method,
      path,
      as: 'bob',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      expect: [400, 404],
    });
  }
  // Random combinations of the refusals above over S1 and S2.
  const refusals: Obj[] = [
    ...badAttachments.map(([, drives]) => ({ drives })),
    ...macs.filter((mac) => mac !== fx.s2Macs[0]).map((mac) => ({ nics: [{ mac }] })),
    { meta: { a: 1 } },
    { cpu: 'abc' },
    { smp: 0 },
  ];
  for (let i = 0; i < 120; i++) {
    const body = { ...rng.pick(refusals), name: `combo ${i}` } as Obj;
    put(`combination ${i}`, rng.bool() ? s1 : s2, body);
  }
  return cases;
}

/** Bodies with several hostile values at once (from the per-field lists), in random shapes. */
function mutations(rng: Rng, count: number): Case[] {
  const cases: Case[] = [];
  const st = serverTemplates();
  const dt = driveTemplates();
  const serverSpots = spots(SERVERS.fields, st);
  const driveSpots = spots(DRIVES.fields, dt);
  for (let i = 0; i < count; i++) {
    const isServer = rng.bool(0.7);
    const pool = isServer ? serverSpots : driveSpots;
    const templates = isServer ? st : dt;
    const picked = rng.sample(pool, 1 + rng.int(3));
    const create = rng.bool();
    let text = applySpots(
      create ? (isServer ? validServer() : validDrive()) : {},
      picked,
      templates,
    );
    if (rng.bool(0.3)) {
      text = text.replace(/^\{/, `{${JSON.stringify(rng.pick(ODD_KEYS))}:${rng.pick(OTHERS)},`);
    }
    const kind = isServer ? 'servers' : 'drives';
    const target = isServer ? fx.s2 : fx.dB;
    const label = picked.map((s) => `${s.path.join('.')}=${s.value}`).join(' ');
    cases.push(
      create
        ? {
            category: 'mutations',
            label,
            method: 'POST',
            path: `${API}/${kind}/`,
            body: shaped(rng, text),
            ...V400,
          }
        : {
            category: 'mutations',
            label,
            method: 'PUT',
            path: `${API}/${kind}/${target}/`,
            body: text,
            ...V400,
          },
    );
  }
  return cases;
}

/**
 * The web console's routes (docs/web-console.md): its token route with hostile bodies, servers of
 * other accounts, stopped servers and every credential problem; its websocket paths with hostile
 * tokens, servers, kinds and malformed upgrades (refused before the upgrade, in the API's error
 * format); its page with path tricks and other methods.
 */
function consoleRoutes(rng: Rng): Case[] {
  const cases: Case[] = [];
  const tokens = '/console/tokens/';
  const fresh = '0f0e0d0c-0b0a-4908-8706-050403020100';
  const refused = { expect: [400, 403, 404] } as const;
  const post = (label: string, body: string | Buffer, extra: Partial<Case> = {}) =>
    cases.push({
      category: 'console',
      label,
      method: 'POST',
      path: tokens,
      body,
      ...refused,
      ...extra,
    });
  for (const body of [
    '',
    '{',
    '[]',
    '[{}]',
    '"screen"',
    '1',
    'null',
    'true',
    '{}',
    `[{"server":"${fx.s1}","kind":"screen"}]`,
    `{"objects":[{"server":"${fx.s1}","kind":"screen"}]}`,
  ]) {
    post(`body ${body.slice(0, 30)}`, body, { expect: [400], errorType: 'validation' });
  }
  post('invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), V400);
  const hostile = [
    ...STRINGS,
    ...NUMBERS,
    ...OTHERS,
    ...BAD_REFS,
    JSON.stringify('a'.repeat(5000)),
    JSON.stringify(`${fx.s1}\u0000`),
    JSON.stringify(fx.s1.toUpperCase()),
    JSON.stringify(`${fx.s1}/`),
    JSON.stringify(`/api/2.0/servers/${fx.s1}/`),
    JSON.stringify({ uuid: fx.s1 }),
    '"\ud800"',
  ];
  for (const value of hostile) {
    for (const kind of ['screen', 'serial']) {
      post(`server=${value.slice(0, 40)}`, `{"server":${value},"kind":"${kind}"}`, {
        ...V400,
      });
    }
    post(`kind=${value.slice(0, 40)}`, `{"server":"${fx.s1}","kind":${value}}`, V400);
  }
  for (const kind of ['SCREEN', 'vnc', 'console', 'screen ', '', 'serial\u0000']) {
    post(`kind ${kind}`, `{"server":"${fx.s1}","kind":"${kind}"}`, V400);
  }
  // Well-formed, but not the caller's to open.
  for (const [label, server, as] of [
    ["bob's server", fx.bobServer, 'alice'],
    ["the victim's server", fx.victimServer, 'alice'],
    ["alice's server, as bob", fx.s1, 'bob'],
    ['a fresh uuid', fresh, 'alice'],
  ] as const) {
    for (const kind of ['screen', 'serial']) {
      post(`${label} ${kind}`, JSON.stringify({ server, kind }), {
        as,
        expect: [404],
        errorType: 'notexist',
      });
    }
  }
  for (const kind of ['screen', 'serial']) {
    // s1 is stopped: as open_vnc and open_console, 403.
    post(`stopped ${kind}`, JSON.stringify({ server: fx.s1, kind }), {
      expect: [403],
      errorType: 'permission',
    });
    const body = JSON.stringify({ server: fx.victimServer, kind });
    post('no credentials', body, { as: 'none', expect: [401], errorType: 'permission' });
    // 429 once the victim's failed logins of other categories throttle it.
    post('wrong password', body, {
      headers: { authorization: `Basic ${Buffer.from(`${VICTIM.email}:nope`).toString('base64')}` },
      expect: [401, 429],
    });
    post('session without CSRF', body, {
      as: 'none',
      headers: { cookie: `sessionid=${fx.session.id}` },
      expect: [403],
      errorType: 'permission',
    });
    post('session with a wrong CSRF token', body, {
      as: 'none',
      headers: { cookie: `sessionid=${fx.session.id}`, 'x-csrftoken': 'x'.repeat(64) },
      expect: [403],
    });
    // The victim's own stopped server, with its session: refused as stopped, nothing issued.
    post('session, stopped server', body, {
      as: 'none',
      headers: { cookie: `sessionid=${fx.session.id}`, 'x-csrftoken': fx.session.csrf },
      expect: [403],
    });
  }

  // Websocket upgrades: refused before they happen.
  const upgrade = (path: string, extra: string[] = [], method = 'GET') =>
    Buffer.from(
      [
        `${method} ${path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        ...extra,
        '',
        '',
      ].join('\r\n'),
      'latin1',
    );
  const tokenValues = [
    '',
    'x',
    'A'.repeat(43),
    'A'.repeat(5000),
    '%00',
    '%ff%fe',
    '..%2f..%2f',
    'token%20with%20space',
    '%F0%9F%92%A9',
    `${'a'.repeat(42)}%0d%0aSet-Cookie:%20x=1`,
  ];
  for (let i = 0; i < 60; i++) {
    const kind = rng.pick(['screen', 'serial', 'keyboard', 'SCREEN', '', '..']);
    const server = rng.pick([fx.s1, fx.bobServer, fresh, 'x', '', fx.s1.toUpperCase(), '%00']);
    const token = rng.pick(tokenValues);
    const query = rng.pick([`?token=${token}`, `?token=${token}&token=x`, '', `?t=${token}`]);
    const path = `/console/ws/${kind}/${server}/${query}`;
    cases.push({
      category: 'console',
      label: `upgrade ${kind} ${server.slice(0, 8)} ${token.slice(0, 12)}`,
      method: 'GET',
      path,
      raw: upgrade(path),
      expect: [400, 403, 404],
    });
  }
  const good = `/console/ws/screen/${fx.s1}/?token=${'A'.repeat(43)}`;
  for (const [label, raw] of [
    [
      'no key',
      upgrade(good)
        .toString('latin1')
        .replace(/Sec-WebSocket-Key: [^\r]+\r\n/, ''),
    ],
    ['bad key', upgrade(good).toString('latin1').replace('dGhlIHNhbXBsZSBub25jZQ==', 'short')],
    ['version 8', upgrade(good).toString('latin1').replace('Version: 13', 'Version: 8')],
    ['POST', upgrade(good, [], 'POST').toString('latin1')],
    ['h2c', upgrade(good).toString('latin1').replace('Upgrade: websocket', 'Upgrade: h2c')],
  ] as const) {
    cases.push({
      category: 'console',
      label: `malformed upgrade: ${label}`,
      method: 'GET',
      path: good,
      raw: Buffer.from(raw, 'latin1'),
      expect: [400, 405],
    });
  }

  // The page: only files of the build, only read.
  for (const path of [
    // (`/console` redirects to `/console/`: test/console/static.test.ts.)
    '/console/',
    '/console/index.html',
    '/console/../package.json',
    '/console/%2e%2e/package.json',
    '/console/assets/..%2f..%2fpackage.json',
    '/console/assets/%00',
    '/console/assets/x.js%00.png',
    `/console/${'a/'.repeat(300)}`,
    '/console//assets',
    '/console/ws/screen/x',
    '/console/tokens/',
    '/console/index.html?x=%00',
    '/console/.vite/manifest.json',
    '/console/src/main.tsx',
  ]) {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH']) {
      const page = /^\/console\/(index\.html)?(\?|$)/.test(path);
      cases.push({
        category: 'console',
        label: `page ${method} ${path.slice(0, 40)}`,
        method,
        path,
        expect: page && (method === 'GET' || method === 'HEAD') ? [200] : [400, 404, 405],
        pageType: 'text/html; charset=utf-8',
      });
    }
  }
  return cases;
}

// --- the test -------------------------------------------------------------------------------

const started = performance.now();

beforeAll(async () => {
  t = await startTestApp({
    bodyLimit: BODY_LIMIT,
    digest: true,
    users: [ALICE, BOB, VICTIM].map((u) => `${u.email}:${u.password}`).join(','),
  });
  fx = await createFixtures();
  lastFingerprint = await t.app.store.fingerprint();
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe(`hostile requests (${TEST_STORE})`, () => {
  const rng = new Rng(SEED);
  const minutes = 60_000;

  it(
    'wrong types for every server and drive field',
    () => runCategory(wrongTypes(rng), 1500),
    minutes,
  );
  it(
    'read-only fields are ignored and unchanged',
    () => runCategory(readOnlyFields(), 100),
    minutes,
  );
  it('missing required fields and empty bodies', () => runCategory(missing(), 150), minutes);
  it('unknown fields', () => runCategory(unknownFields(rng), 150), minutes);
  it('random combinations of hostile values', () => runCategory(mutations(rng, 700), 700), minutes);
  it('huge and deeply nested bodies', () => runCategory(hugeAndDeep(), 60), minutes);
  it('invalid UTF-8', () => runCategory(invalidUtf8(rng), 250), minutes);
  it('NUL characters', () => runCategory(nul(), 90), minutes);
  it('odd Unicode', () => runCategory(unicode(), 75), minutes);
  it('SQL-like strings', () => runCategory(sqlLike(), 300), minutes);
  it('path tricks', () => runCategory(paths(), 300), minutes);
  it('odd query strings', () => runCategory(queries(), 300), minutes);
  it('bad credentials (victim account)', () => runCategory(badAuth(rng), 200), minutes);
  it('wrong methods and malformed HTTP', () => runCategory(methods(), 300), minutes);
  it('wrong content types, encodings and Accept', () => runCategory(contentTypes(), 80), minutes);
  it('bodies on GET, HEAD and OPTIONS', () => runCategory(getBodies(), 80), minutes);
  it('refusals against existing objects', () => runCategory(targets(rng), 250), minutes);
  it("the web console's routes", () => runCategory(consoleRoutes(rng), 250), minutes);

  it(
    'sent at least 5,000 requests, and the fixtures are as before',
    async () => {
      const rows = [...tallies.entries()].map(([category, tally]) => ({
        category,
        requests: tally.requests,
        accepted: tally.accepted,
        ms: Math.round(timings.get(category) ?? 0),
        statuses: [...tally.statuses.entries()]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}:${n}`)
          .join(' '),
      }));
      const total = rows.reduce((sum, row) => sum + row.requests, 0);
      console.log(
        `hostile requests on ${TEST_STORE}: ${total} in ${Math.round(performance.now() - started)} ms\n${rows
          .map(
            (r) =>
              `  ${r.category.padEnd(14)} ${String(r.requests).padStart(5)} accepted ${String(r.accepted).padStart(4)} ${String(r.ms).padStart(6)} ms  ${r.statuses}`,
          )
          .join('\n')}`,
      );
      expect(total).toBeGreaterThanOrEqual(5000);

      // Every object the fuzz was not allowed to change is exactly as it was.
      for (const [who, kind, uuid] of [
        ['alice', 'servers', fx.s1],
        ['alice', 'drives', fx.dA],
        ['alice', 'drives', fx.dM],
        ['alice', 'drives', fx.dB],
        ['alice', 'drives', fx.dC],
        ['bob', 'servers', fx.bobServer],
        ['bob', 'drives', fx.bobDrive],
        ['victim', 'servers', fx.victimServer],
      ] as const) {
        const res = await api('GET', `/${kind}/${uuid}/`, undefined, who);
        expect(JSON.stringify(res.json), `${kind} ${uuid}`).toBe(fx.before.get(uuid));
      }
      // S2 changed only by the accepted renames and meta updates.
      const s2 = (await api('GET', `/servers/${fx.s2}/`)).json;
      const s2Before = JSON.parse(fx.before.get(fx.s2)!) as Obj;
      expect({ ...s2, name: '', meta: {} }).toEqual({ ...s2Before, name: '', meta: {} });

      // The server-drive relation is consistent in both directions for every account.
      for (const who of ['alice', 'bob', 'victim'] as const) {
        const servers = (await api('GET', '/servers/detail/?limit=0', undefined, who)).json
          .objects as Obj[];
        const drives = (await api('GET', '/drives/detail/?limit=0', undefined, who)).json
          .objects as Obj[];
        const mounted = new Map(
          drives.map((d) => [d.uuid as string, (d.mounted_on as Obj[]).map((m) => m.uuid)]),
        );
        for (const server of servers) {
          for (const a of server.drives as Obj[]) {
            expect(mounted.get(a.drive.uuid), `${server.uuid} -> ${a.drive.uuid}`).toContain(
              server.uuid,
            );
          }
        }
        for (const drive of drives) {
          for (const m of drive.mounted_on as Obj[]) {
            const server = servers.find((s) => s.uuid === m.uuid);
            expect(
              (server?.drives as Obj[] | undefined)?.map((a) => a.drive.uuid),
              `${drive.uuid} <- ${m.uuid}`,
            ).toContain(drive.uuid);
          }
        }
      }
    },
    minutes,
  );
});
