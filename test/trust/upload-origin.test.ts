/**
 * Image uploads and downloads from a page of another origin (issue 12 item 7): refused, unless
 * the origin is the API's own or one of `--allowed-origins`; a client sending no Origin passes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, startTestApp, type TestApp } from '../support/app.js';

const basic = `Basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`;

describe('image routes and Origin', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ allowedOrigins: 'https://console.example' });
  });
  afterAll(() => t.close());

  async function upload(origin?: string): Promise<Response> {
    const response = await fetch(`${t.origin}/api/2.0/drives/upload/`, {
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/octet-stream',
        ...(origin ? { origin } : {}),
      },
      body: randomBytes(64 * 1024),
    });
    await t.app.engine.settled();
    return response;
  }

  const download = (uuid: string, origin?: string) =>
    fetch(`${t.origin}/api/2.0/drives/${uuid}/download/`, {
      headers: { authorization: basic, ...(origin ? { origin } : {}) },
    });

  it('refuses a foreign Origin and creates nothing; own, allowed and none pass', async () => {
    const count = async () => (await t.alice.get('/drives/')).json.meta.total_count as number;
    const before = await count();
    const foreign = await upload('https://evil.example');
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as unknown[])[0]).toEqual({
      error_point: null,
      error_type: 'permission',
      error_message: expect.stringContaining('https://evil.example may not upload'),
    });
    expect(await count()).toBe(before);
    const allowed = await upload('https://console.example');
    expect(allowed.status, await allowed.clone().text()).toBe(200);
    const uuid = await allowed.text();
    expect((await upload(t.origin)).status).toBe(200);
    expect((await upload()).status).toBe(200);
    const refused = await download(uuid, 'https://evil.example');
    expect(refused.status).toBe(403);
    await refused.arrayBuffer();
    const fine = await download(uuid, 'https://console.example');
    expect(fine.status).toBe(200);
    await fine.arrayBuffer();
  });
});
