/**
 * The control API exists only with --control, answers only to its bearer token, and stays out of
 * the CloudSigma API's way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { expectError } from '../support/api.js';
import { ALICE, startTestApp, type TestApp } from '../support/app.js';
import { ControlClient, controlOf } from '../support/control.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('control API access', () => {
  it('answers 404 everywhere under /_sigmalite/ without --control, token or not', async () => {
    t = await startTestApp();
    expect(t.app.control).toBeUndefined();
    for (const token of [null, 'anything']) {
      const client = new ControlClient(t.origin, token);
      for (const [method, path] of [
        ['GET', ''],
        ['GET', 'clock'],
        ['POST', 'reset'],
        ['GET', 'state'],
        ['PUT', 'state'],
      ] as const) {
        const res = await client.request(method, path, method === 'GET' ? undefined : {});
        expectError(res, 404, 'notexist', null);
      }
    }
    // The API itself is untouched.
    expect((await t.alice.get('/servers/')).status).toBe(200);
  });

  it('wants the bearer token: 401 without it (or with other credentials), 403 with a wrong one', async () => {
    t = await startTestApp({ control: true, controlToken: 'the-secret-token' });
    expect(t.app.control).toMatchObject({ token: 'the-secret-token', generatedToken: false });
    const none = await new ControlClient(t.origin, null).get('clock');
    expectError(none, 401, 'permission', null);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="sigmalite-control"');
    // An API account's credentials are not the control token.
    const basic = await fetch(`${t.origin}/_sigmalite/clock`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`,
      },
    });
    expect(basic.status).toBe(401);
    for (const wrong of ['the-secret-tokem', 'the-secret-token-and-more', 'x']) {
      const res = await new ControlClient(t.origin, wrong).get('clock');
      expectError(res, 403, 'permission', null);
    }
    // Unknown control paths ask for the token too before they say 404.
    expectError(
      await new ControlClient(t.origin, null).get('nothing/here'),
      401,
      'permission',
      null,
    );
    const control = controlOf(t);
    expect((await control.get('clock')).status).toBe(200);
    expect((await control.get('clock/')).status).toBe(200);
    expectError(await control.get('nothing/here'), 404, 'notexist', null);
    const patch = await control.request('PATCH', 'clock', {});
    expectError(patch, 405, 'validation', null);
    expect(patch.headers.get('allow')).toBe('GET,PUT');
    const index = await control.get('');
    expect(index.json.endpoints).toContain('POST /_sigmalite/reset');
    // The control token opens nothing of the CloudSigma API.
    const api = await fetch(`${t.origin}/api/2.0/servers/`, {
      headers: { authorization: 'Bearer the-secret-token' },
    });
    expect(api.status).toBe(401);
  });

  it('generates a token when none is configured', async () => {
    t = await startTestApp({ control: true });
    const handle = t.app.control!;
    expect(handle.generatedToken).toBe(true);
    expect(handle.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await controlOf(t).get('clock')).status).toBe(200);
  });

  it('refuses unknown keys and badly typed values in bodies', async () => {
    t = await startTestApp({ control: true });
    const control = controlOf(t);
    expectError(await control.put('clock', { scael: 0 }), 400, 'validation', 'scael');
    expectError(await control.put('clock', { scale: -1 }), 400, 'validation', 'scale');
    expectError(await control.put('clock', [1]), 400, 'validation', null);
    expectError(await control.post('clock/advance', {}), 400, 'validation', 'ms');
    expectError(await control.post('clock/advance', { ms: 1.5 }), 400, 'validation', 'ms');
    const raw = await fetch(`${t.origin}/_sigmalite/clock`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.app.control!.token}` },
      body: '{"scale":',
    });
    expect(raw.status).toBe(400);
  });
});

describe('control configuration', () => {
  it('reads --control and SIGMALITE_CONTROL, and the token from the environment only', () => {
    expect(resolveConfig({}, {}).control).toBe(false);
    expect(resolveConfig({ control: true }, {}).control).toBe(true);
    expect(resolveConfig({}, { SIGMALITE_CONTROL: 'yes' }).control).toBe(true);
    expect(resolveConfig({}, { SIGMALITE_CONTROL_TOKEN: 'tok' }).controlToken).toBe('tok');
    expect(resolveConfig({ controlToken: 'flag' }, {}).controlToken).toBeUndefined();
  });
});
