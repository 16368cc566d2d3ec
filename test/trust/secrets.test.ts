/** Secrets in the audit log (issue 12 item 6c). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverBody, startTestApp, type TestApp } from '../support/app.js';

describe('the audit log', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('keeps no secret-named field, nested ones included', async () => {
    const created = await t.alice.post('/servers/', {
      objects: [serverBody({ name: 'audited', vnc_password: 'vnc-SECRET-1' })],
    });
    expect(created.status).toBe(201);
    const uuid = created.json.objects[0].uuid;
    expect(
      (await t.alice.put(`/servers/${uuid}/`, serverBody({ vnc_password: 'vnc-SECRET-2' }))).status,
    ).toBe(200);
    const logs = await t.alice.get('/logs/?limit=0');
    expect(logs.status).toBe(200);
    expect(logs.text).toContain('audited');
    expect(logs.text).not.toContain('vnc-SECRET');
    expect(logs.text).not.toContain('vnc_password');
  });
});
