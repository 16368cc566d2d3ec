/** Request limits (issue 12 item 2): objects per request, strings, lists and meta are bounded. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverBody, startTestApp, type TestApp } from '../support/app.js';

describe('request limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('refuses more than 1000 objects in one create, naming the limit, and creates none', async () => {
    const objects = Array.from({ length: 1001 }, (_, i) => ({ name: `t${i}` }));
    const r = await t.alice.post('/tags/', { objects });
    expect(r.status).toBe(400);
    expect(r.json).toEqual([
      {
        error_point: 'objects',
        error_type: 'validation',
        error_message: expect.stringContaining('at most 1000 items'),
      },
    ]);
    expect((await t.alice.get('/tags/')).json.meta.total_count).toBe(0);
    // A bare list and a bulk delete alike.
    expect((await t.alice.post('/tags/', objects)).status).toBe(400);
    const uuids = objects.map(() => ({ uuid: '00000000-0000-0000-0000-000000000000' }));
    expect((await t.alice.delete('/tags/', { objects: uuids })).status).toBe(400);
    // 1000 are fine.
    expect((await t.alice.post('/tags/', { objects: objects.slice(0, 1000) })).status).toBe(201);
  });

  it('refuses a 2 MB meta value with 400 validation (never 403)', async () => {
    const r = await t.alice.post('/servers/', serverBody({ meta: { big: 'x'.repeat(2_000_000) } }));
    expect(r.status).toBe(400);
    expect(r.json[0].error_type).toBe('validation');
    expect(r.json[0].error_message).toContain('65536');
  });

  it('refuses a meta over 262144 characters in all, naming the limit', async () => {
    const meta: Record<string, string> = {};
    for (let i = 0; i < 8; i++) meta[`k${i}`] = 'x'.repeat(60_000);
    const r = await t.alice.post('/servers/', serverBody({ meta }));
    expect(r.status).toBe(400);
    expect(r.json[0]).toEqual({
      error_point: 'meta',
      error_type: 'validation',
      error_message: expect.stringContaining('262144'),
    });
  });

  it('refuses a name longer than 65536 characters', async () => {
    const r = await t.alice.post('/tags/', { name: 'n'.repeat(70_000) });
    expect(r.status).toBe(400);
    expect(r.json[0].error_message).toContain('65536');
  });
});
