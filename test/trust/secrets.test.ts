/** Secrets in the audit log (issue 12 item 6c). */
import pino from 'pino';
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

describe('a start on a non-loopback address', () => {
  it('warns without --public-url that URLs follow the Host header', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, {
      write: (line: string) => lines.push(line),
    } as unknown as pino.DestinationStream);
    const t = await startTestApp({ host: '0.0.0.0', logger });
    await t.close();
    expect(lines.join('')).toContain('without --public-url');
    lines.length = 0;
    const quiet = await startTestApp({ logger });
    await quiet.close();
    expect(lines.join('')).not.toContain('without --public-url');
  });
});
