/**
 * Objects per account (issue 12 item 2): `--max-objects-per-account` holds each account to a
 * number of objects of each kind, names the number when it refuses, and a bulk create that would
 * pass it creates nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config.js';
import { parseQuotas, QUOTA_KINDS } from '../../src/resources/quotas.js';
import { driveBody, serverBody, startTestApp, type TestApp } from '../support/app.js';

describe('objects per account', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ maxObjectsPerAccount: '5,tags=3' });
  });
  afterAll(() => t.close());

  it('refuses the create past the quota with 403 permission naming the number, and keeps the rest', async () => {
    for (let i = 0; i < 3; i++)
      expect((await t.alice.post('/tags/', { name: `t${i}` })).status).toBe(201);
    const r = await t.alice.post('/tags/', { name: 'one too many' });
    expect(r.status).toBe(403);
    expect(r.json).toEqual([
      {
        error_point: null,
        error_type: 'permission',
        error_message: expect.stringContaining('at most 3 tags'),
      },
    ]);
    expect((await t.alice.get('/tags/')).json.meta.total_count).toBe(3);
    // Another account's quota is its own.
    expect((await t.bob.post('/tags/', { name: 'bob' })).status).toBe(201);
    // A deleted object frees its place.
    const first = (await t.alice.get('/tags/')).json.objects[0].uuid;
    expect((await t.alice.delete(`/tags/${first}/`)).status).toBe(204);
    expect((await t.alice.post('/tags/', { name: 'again' })).status).toBe(201);
  });

  it('creates nothing of a bulk create that would pass the quota', async () => {
    const servers = Array.from({ length: 6 }, (_, i) => serverBody({ name: `s${i}` }));
    const r = await t.alice.post('/servers/', { objects: servers });
    expect(r.status).toBe(403);
    expect(r.json[0].error_message).toContain('at most 5 servers');
    expect((await t.alice.get('/servers/')).json.meta.total_count).toBe(0);
    expect((await t.alice.post('/servers/', { objects: servers.slice(0, 5) })).status).toBe(201);
    expect((await t.alice.post('/servers/', serverBody())).status).toBe(403);
  });

  it('holds every kind to the default given without a kind', async () => {
    const drives = Array.from({ length: 6 }, (_, i) => driveBody({ name: `d${i}` }));
    expect((await t.bob.post('/drives/', { objects: drives })).status).toBe(403);
    expect((await t.bob.get('/drives/')).json.meta.total_count).toBe(0);
  });
});

describe('--max-objects-per-account', () => {
  it('defaults to 200,000 of every kind an account creates', () => {
    const quotas = parseQuotas(DEFAULTS.maxObjectsPerAccount);
    for (const kind of QUOTA_KINDS) expect(quotas.get(kind)).toBe(200_000);
  });

  it('refuses an unknown kind or a value that is not a number', () => {
    expect(() => parseQuotas('200000,widgets=3')).toThrow(/widgets/);
    expect(() => parseQuotas('lots')).toThrow(/lots/);
    expect(() => parseQuotas('servers=')).toThrow(/servers=/);
  });
});
