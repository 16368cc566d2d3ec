/**
 * The support matrix (docs/support.md) against the running server: the committed page is what
 * the route table renders, every endpoint it calls supported answers its methods, and every one
 * it calls not implemented answers the one documented error.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathShape } from '../../src/docs/cloudsigma-endpoints.js';
import { renderSupportMatrix, supportOf } from '../../src/docs/support.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

/** A concrete path for an endpoint pattern (`/servers/{id}/` → `/servers/<uuid>/`). */
const concrete = (path: string) =>
  pathShape(path).replaceAll('{}', '5f1c2d2e-0000-4000-8000-000000000000');

describe('support matrix', () => {
  it('docs/support.md is what the route table renders (run `npm run docs`)', () => {
    const committed = readFileSync(new URL('../../docs/support.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderSupportMatrix(t.app.routes));
  });

  it('every endpoint called supported or partial answers OPTIONS with its methods', async () => {
    for (const row of supportOf(t.app.routes)) {
      if (row.level === 'not implemented') continue;
      const res = await t.alice.request('OPTIONS', concrete(row.endpoint.path));
      expect(res.status, row.endpoint.path).toBe(200);
      const allowed = (res.headers.get('allow') ?? '').split(',');
      const served = row.endpoint.methods.filter((m) => !row.missingMethods.includes(m));
      for (const method of served) expect(allowed, row.endpoint.path).toContain(method);
    }
  });

  it('every endpoint called not implemented answers the one documented error', async () => {
    const rows = supportOf(t.app.routes).filter((r) => r.level === 'not implemented');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const path = concrete(row.endpoint.path);
      for (const method of row.endpoint.methods) {
        const res = await t.alice.request(method, path, method === 'GET' ? {} : { body: {} });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(res.json).toEqual([
          {
            error_point: null,
            error_type: 'notexist',
            error_message: `Not implemented by sigmalite: /api/2.0${path} (see docs/support.md)`,
          },
        ]);
      }
    }
  });

  it('a path that is no CloudSigma endpoint still answers "not found"', async () => {
    const res = await t.alice.get('/no-such-thing/');
    expect(res.status).toBe(404);
    expect(res.json[0].error_message).toMatch(/was not found on this server/);
  });

  it('an action CloudSigma has and sigmalite does not is refused like an unknown action', async () => {
    const drive = await t.alice.post('/drives/', {
      objects: [{ name: 'd', size: 1073741824, media: 'disk' }],
    });
    const uuid = drive.json.objects[0].uuid;
    const res = await t.alice.post(`/drives/${uuid}/action/?do=set_scheduler`, {});
    expect(res.status).toBe(400);
    expect(res.json[0]).toMatchObject({ error_type: 'validation', error_point: 'do' });
  });
});
