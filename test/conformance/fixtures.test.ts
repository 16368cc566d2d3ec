/** The fixture parser and comparator on their own: what they accept, and that they can fail. */
import { describe, expect, it } from 'vitest';
import {
  type Adjustment,
  type CompareOptions,
  compareBodies,
  fixtureNames,
  formatMismatches,
  type Json,
  loadFixture,
  parseLenientJson,
  parseRequest,
  parseResponse,
  rewriteIds,
} from './fixtures.js';

const U1 = '0dacaaf7-1ba8-451d-b135-8848e76381ee';
const U2 = '3b3616df-16dc-4a49-bfca-5c2192e1f089';
const V1 = 'aaaaaaaa-1111-4111-8111-111111111111';
const V2 = 'bbbbbbbb-2222-4222-8222-222222222222';

function diff(fixture: Json, ours: unknown, options: CompareOptions = {}): string[] {
  return formatMismatches(compareBodies(fixture, ours, options));
}

describe('parsing dumps', () => {
  it('reads a request: method, target, path, query, headers, body', () => {
    const r = parseRequest(
      'request_x',
      'GET /api/2.0/drives/?fields=uuid,status&limit=0 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n\r\n',
    );
    expect(r).toMatchObject({
      method: 'GET',
      target: '/api/2.0/drives/?fields=uuid,status&limit=0',
      path: '/api/2.0/drives/',
      headers: [['Content-Type', 'application/json']],
      bodyText: '',
      body: undefined,
    });
    expect(r.query.get('fields')).toBe('uuid,status');
  });

  it('reads a response whose body follows the headers without a blank line', () => {
    const r = parseResponse('response_x', 'HTTP/1.1 200 OK\nContent-Type: a/b\n{\n  "a": 1\n}\n');
    expect(r).toMatchObject({ status: 200, reason: 'OK', body: { a: 1 }, repairs: [] });
    expect(r.headers).toEqual([['Content-Type', 'a/b']]);
  });

  it('reads a 204 without a body', () => {
    const r = parseResponse(
      'r',
      'HTTP/1.1 204 NO CONTENT\nContent-Type: text/html; charset=utf-8\n\n',
    );
    expect(r).toMatchObject({ status: 204, reason: 'NO CONTENT', body: undefined, bodyText: '' });
  });

  it('rejects what is not HTTP', () => {
    expect(() => parseRequest('r', 'python -c "print(1)"\n')).toThrow(/not a request line/);
    expect(() => parseResponse('r', '{}\n')).toThrow(/not a status line/);
  });

  it('repairs the broken bodies of api-reference.md §7', () => {
    expect(parseLenientJson('{"objects": [{"a": 1}\n}')).toEqual({
      value: { objects: [{ a: 1 }] },
      repairs: ['inserted a missing "]" before "}"'],
    });
    expect(parseLenientJson('{"t": "rsa" # or "ed25519"\n}').value).toEqual({ t: 'rsa' });
    expect(parseLenientJson('{"a": [1, 2,],}').value).toEqual({ a: [1, 2] });
    expect(parseLenientJson("{\"d\": [{'k': 'v\\'s'}]}").value).toEqual({ d: [{ k: "v's" }] });
    expect(parseLenientJson('{"a": "#,}]"').value).toEqual({ a: '#,}]' });
    expect(() => parseLenientJson('{"a": }')).toThrow(/not JSON/);
  });

  it('reads every HTTP dump of the servers and drives areas', () => {
    const names = fixtureNames().filter((n) => /server|drive/.test(n) && !/backup|context/.test(n));
    expect(names.length).toBeGreaterThan(80);
    for (const name of names) {
      const { request, response } = loadFixture(name);
      expect(request.bodyError, request.file).toBeUndefined();
      expect(response.bodyError, response.file).toBeUndefined();
      expect(response.status, response.file).toBeGreaterThanOrEqual(200);
    }
  });

  it('reads the special cases of §7 from the real files', () => {
    const capabilities = loadFixture('capabilities').response;
    expect(capabilities.headers).toEqual([['Content-Type', 'application/json; charset=utf-8']]);
    expect(capabilities.body).toMatchObject({ default_storage_type: 'dssd' });
    const storage = loadFixture('drive_storage_type').request;
    expect(storage.repairs).toEqual(['inserted a missing "]" before "}"']);
    expect(storage.body).toMatchObject({ objects: [{ storage_type: 'nvme' }] });
    expect(loadFixture('autogen_keypair_create').request.repairs).toHaveLength(1);
    expect(loadFixture('vmware_servers_list').response.bodyError).toBeUndefined();
  });
});

describe('rewriting ids', () => {
  it('replaces mapped ids in strings, deeply, case-insensitively', () => {
    const map = new Map([
      [U1, V1],
      ['22:76:35:14:21:7b', '22:00:00:00:00:01'],
    ]);
    expect(rewriteIds(`/api/2.0/servers/${U1.toUpperCase()}/?x=1`, map)).toBe(
      `/api/2.0/servers/${V1}/?x=1`,
    );
    expect(
      rewriteIds({ drives: [{ drive: U1 }], nics: [{ mac: '22:76:35:14:21:7b' }], n: 1 }, map),
    ).toEqual({ drives: [{ drive: V1 }], nics: [{ mac: '22:00:00:00:00:01' }], n: 1 });
  });
});

describe('comparing bodies', () => {
  it('accepts an equal body', () => {
    expect(
      diff({ a: 1, b: [true, null], c: { d: 'x' } }, { a: 1, b: [true, null], c: { d: 'x' } }),
    ).toEqual([]);
  });

  it('reports missing keys, extra keys, other types and other values', () => {
    expect(
      diff({ a: 1, b: 'x', c: null, d: { e: 1 } }, { b: 'y', c: {}, d: { e: 1, f: 2 } }),
    ).toEqual([
      'a: missing (fixture has 1)',
      'b: expected "x", got "y"',
      'c: expected null null, got object {}',
      'd.f: unexpected key (not in the fixture nor the allowlist): 2',
    ]);
  });

  it('allows extra keys from the allowlist, on each resource object', () => {
    const allow = [
      { path: 'gpus', reason: 'r' },
      { path: 'nics.*.firewall_policy', reason: 'r' },
    ];
    const fixture = { objects: [{ nics: [{ mac: '22:00:00:00:00:01' }] }] };
    const ours = {
      objects: [{ gpus: [], nics: [{ mac: '22:00:00:00:00:02', firewall_policy: null }] }],
    };
    expect(diff(fixture, ours, { allow })).toEqual([]);
    expect(diff(fixture.objects[0]!, ours.objects[0], { allow })).toEqual([]);
    expect(diff(fixture, { objects: [{ ...ours.objects[0], other: 1 }] }, { allow })).toEqual([
      'objects.0.other: unexpected key (not in the fixture nor the allowlist): 1',
    ]);
  });

  it('pairs uuids one to one, also inside strings', () => {
    const fixture = { uuid: U1, resource_uri: `/api/2.0/servers/${U1}/`, owner: U2 };
    expect(diff(fixture, { uuid: V1, resource_uri: `/api/2.0/servers/${V1}/`, owner: V2 })).toEqual(
      [],
    );
    expect(diff(fixture, { uuid: V1, resource_uri: `/api/2.0/servers/${V2}/`, owner: V2 })).toEqual(
      [`resource_uri: fixture id ${U1} matched ${V1} before, now ${V2}`],
    );
    expect(diff({ a: U1, b: U2 }, { a: V1, b: V1 })).toEqual([
      `b: our id ${V1} already stands for fixture id ${U1}, not ${U2}`,
    ]);
    expect(diff({ r: `/api/2.0/servers/${U1}/` }, { r: `/api/2.0/drives/${V1}/` })).toEqual([
      `r: expected "/api/2.0/servers/${U1}/" (ids aside), got "/api/2.0/drives/${V1}/"`,
    ]);
    expect(diff({ uuid: U1 }, { uuid: 'not-a-uuid' })).toHaveLength(1);
  });

  it('holds ids known from the setup to their value', () => {
    const ids = new Map([[U1, V1]]);
    expect(diff({ uuid: U1 }, { uuid: V1 }, { ids })).toEqual([]);
    expect(diff({ uuid: U1 }, { uuid: V2 }, { ids })).toEqual([
      `uuid: fixture id ${U1} is ${V1} here (from the setup), got ${V2}`,
    ]);
    // A new id in the fixture must not be one the setup created for another fixture id.
    expect(diff({ uuid: U2 }, { uuid: V1 }, { ids })).toEqual([
      `uuid: our id ${V1} already stands for fixture id ${U1}, not ${U2}`,
    ]);
  });

  it('compares MAC addresses as ids and timestamps by form', () => {
    const macs = new Map([['22:25:57:2a:dc:cc', '22:00:00:00:00:01']]);
    expect(diff({ mac: '22:25:57:2a:dc:cc' }, { mac: '22:00:00:00:00:01' }, { ids: macs })).toEqual(
      [],
    );
    expect(
      diff({ mac: '22:25:57:2a:dc:cc' }, { mac: '22:00:00:00:00:02' }, { ids: macs }),
    ).toHaveLength(1);
    expect(diff({ mac: '22:25:57:2a:dc:cc' }, { mac: 'nope' })).toHaveLength(1);
    expect(
      diff({ t: '2014-08-25T14:34:33.868186+00:00' }, { t: '2026-01-01T00:00:00.000Z' }),
    ).toEqual([]);
    expect(diff({ t: '2015-03-19 07:41:24.231684' }, { t: 'yesterday' })).toHaveLength(1);
  });

  it('compares lists item by item, or by shape when the lengths differ', () => {
    expect(diff([1, 2], [2, 1])).toEqual(['0: expected 1, got 2', '1: expected 2, got 1']);
    expect(diff(['a', 'b'], ['a'])).toEqual(['(body): expected ["a","b"], got ["a"]']);
    const fixture = [
      { name: 'a', size: 1 },
      { name: 'b', size: 2 },
    ];
    expect(diff(fixture, [{ name: 'z', size: 9 }])).toEqual([]);
    expect(diff(fixture, [{ name: 'z' }])).toEqual(['0.size: missing (fixture has 1)']);
    expect(diff(fixture, [{ name: 1, size: 9 }])).toEqual([
      '0.name: expected string "a", got number 1',
    ]);
    expect(diff(fixture, [])).toEqual([
      '(body): expected 2 items like {"name":"a","size":1}, got none',
    ]);
  });

  describe('adjustments', () => {
    const run = (fixture: Json, ours: unknown, ...adjustments: Adjustment[]) =>
      diff(fixture, ours, { adjustments });

    it('ignore: skips value and type, keeps presence; flags itself when not needed', () => {
      const ignore: Adjustment = { type: 'ignore', path: 'objects.*.status', reason: 'r' };
      expect(
        run({ objects: [{ status: 'creating' }] }, { objects: [{ status: null }] }, ignore),
      ).toEqual([]);
      expect(run({ objects: [{ status: 'creating' }] }, { objects: [{}] }, ignore)).toEqual([
        'objects.0.status: missing (fixture has "creating")',
        'objects.*.status: adjustment "ignore" matched nothing; remove it (r)',
      ]);
      expect(run({ objects: [{ status: 'x' }] }, { objects: [{ status: 'x' }] }, ignore)).toEqual([
        'objects.0.status: ignored, yet the values are equal; remove the entry (r)',
      ]);
    });

    it('order: compares a list sorted by keys', () => {
      const order: Adjustment = { type: 'order', path: 'drives', by: ['device'], reason: 'r' };
      const fixture = { drives: [{ device: 'ide' }, { device: 'virtio' }] };
      const ours = { drives: [{ device: 'virtio' }, { device: 'ide' }] };
      expect(run(fixture, ours, order)).toEqual([]);
      expect(run(fixture, ours)).toHaveLength(2);
    });

    it('expect: our value is the documented one, and the fixture differs', () => {
      const expected: Adjustment = {
        type: 'expect',
        path: 'a.choices',
        value: ['x', 'y'],
        reason: 'r',
      };
      expect(run({ a: { choices: ['x'] } }, { a: { choices: ['x', 'y'] } }, expected)).toEqual([]);
      expect(run({ a: { choices: ['x'] } }, { a: { choices: ['x'] } }, expected)).toEqual([
        'a.choices: documented difference: expected ["x","y"], got ["x"]',
      ]);
      expect(run({ a: { choices: ['x', 'y'] } }, { a: { choices: ['x', 'y'] } }, expected)).toEqual(
        ['a.choices: expected difference, yet the fixture has the same value (r)'],
      );
      // A key the fixture lacks: ours must have it, with that value.
      expect(run({ a: {} }, { a: { choices: ['x', 'y'] } }, expected)).toEqual([]);
      expect(run({ a: {} }, { a: {} }, expected)).toEqual([
        'a.choices: adjustment "expect" matched nothing; remove it (r)',
      ]);
    });

    it('extra and absent: one key more, or one fewer, on purpose', () => {
      const extra: Adjustment = { type: 'extra', path: 'b', reason: 'r' };
      const absent: Adjustment = { type: 'absent', path: 'a', reason: 'r' };
      expect(run({ a: 1 }, { b: 2 }, extra, absent)).toEqual([]);
      expect(run({ a: 1 }, { a: 1 }, extra, absent)).toEqual([
        'b: adjustment "extra" matched nothing; remove it (r)',
        'a: adjustment "absent" matched nothing; remove it (r)',
      ]);
    });

    it('needs a one-line reason', () => {
      expect(() => run({}, {}, { type: 'ignore', path: 'a', reason: ' ' })).toThrow(/reason/);
    });
  });
});
