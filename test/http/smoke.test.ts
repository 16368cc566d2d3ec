import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverBody, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('smoke', () => {
  it('creates and lists a server', async () => {
    const created = await t.alice.post('/servers/', { objects: [serverBody()] });
    expect(created.status).toBe(201);
    const list = await t.alice.get('/servers/');
    expect(list.json.meta.total_count).toBe(1);
    expect(Object.keys(list.json.objects[0]).sort()).toEqual([
      'name',
      'owner',
      'resource_uri',
      'runtime',
      'status',
      'uuid',
    ]);
  });
});
