/**
 * What CloudSigma's Go SDK (the library the Terraform provider is built on) needs beyond the
 * resources: `GET /cloud_status/`, decoded with the SDK's own types (`cloudsigma/cloud_status.go`:
 * booleans, `sso []string`, `free_tier {dssd, mem int}`, `free_tier_monthly {tx int}`), and API
 * tokens sent as `Authorization: Bearer` (the provider's `CLOUDSIGMA_TOKEN`), accepted wherever
 * Basic is and refused once revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setPassword } from '../../src/accounts/service.js';
import { issueToken, listTokens, revokeToken } from '../../src/accounts/tokens.js';
import { expectError } from '../support/api.js';
import { ALICE, BOB, type Client, serverBody, startTestApp, type TestApp } from '../support/app.js';
import { type GoType, GoUnmarshalError, goDecode } from '../support/go-json.js';

/** The SDK's `CloudStatus` struct, its fields named by their json tags. */
const CLOUD_STATUS: GoType = {
  struct: {
    free_tier: { struct: { dssd: 'int', mem: 'int' } },
    free_tier_monthly: { struct: { tx: 'int' } },
    guest: 'bool',
    host_availability_zones: 'bool',
    remote_snapshots: 'bool',
    signup: 'bool',
    sso: { slice: 'string' },
    trial: 'bool',
    vmware: 'bool',
    vpc: 'bool',
  },
};

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('GET /cloud_status/', () => {
  it("answers the location's feature flags with the types the Go SDK decodes", async () => {
    const res = await t.alice.get('/cloud_status/');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      free_tier: null,
      free_tier_monthly: null,
      guest: false,
      host_availability_zones: false,
      remote_snapshots: false,
      signup: false,
      sso: [],
      trial: false,
      vmware: false,
      vpc: false,
    });
    expect(goDecode(CLOUD_STATUS, res.json)).toEqual({
      // Null free tiers decode to Go's zero values.
      free_tier: { dssd: 0, mem: 0 },
      free_tier_monthly: { tx: 0 },
      guest: false,
      host_availability_zones: false,
      remote_snapshots: false,
      signup: false,
      sso: [],
      trial: false,
      vmware: false,
      vpc: false,
    });
    // The decoding is as strict as Go's: a flag as a string, or a free tier of floats, fails.
    expect(() => goDecode(CLOUD_STATUS, { ...res.json, guest: 'false' })).toThrow(GoUnmarshalError);
    expect(() => goDecode(CLOUD_STATUS, { ...res.json, free_tier: { dssd: 1.5, mem: 0 } })).toThrow(
      /cannot unmarshal number into Go struct field .*dssd of type int/,
    );
    expect(goDecode(CLOUD_STATUS, { ...res.json, free_tier: { dssd: 2, mem: 3 } })).toMatchObject({
      free_tier: { dssd: 2, mem: 3 },
    });
  });

  it('needs credentials, like every route of the API', async () => {
    expectError(await t.anonymous.get('/cloud_status/'), 401, 'permission', null);
  });
});

describe('API tokens (Authorization: Bearer)', () => {
  const whoami = async (client: Client, token: string) => {
    const res = await client.get('/profile/', bearer(token));
    return res.status === 200 ? (res.json.email as string) : res.status;
  };

  it('are taken wherever Basic is, until revoked', async () => {
    const { id, token } = await issueToken(t.app.store, ALICE.email, 'terraform');
    expect(token).toMatch(/^sigmalite_[A-Za-z0-9_-]{43}$/);
    expect(await listTokens(t.app.store, ALICE.email)).toEqual([
      expect.objectContaining({ id, name: 'terraform' }),
    ]);
    // Reads, creates (answered before Fastify) and a PUT (through Fastify), as the token's account.
    expect(await whoami(t.anonymous, token)).toBe(ALICE.email);
    expect((await t.anonymous.get('/cloud_status/', bearer(token))).status).toBe(200);
    const created = await t.anonymous.post(
      '/servers/',
      serverBody({ name: 'by-token' }),
      bearer(token),
    );
    expect(created.status, created.text).toBe(201);
    const uuid = created.json.objects[0].uuid as string;
    expect((await t.alice.get(`/servers/${uuid}/`)).json.name).toBe('by-token');
    const renamed = await t.anonymous.put(
      `/servers/${uuid}/`,
      { ...serverBody(), name: 'renamed' },
      bearer(token),
    );
    expect(renamed.status, renamed.text).toBe(200);
    expectError(await t.bob.get(`/servers/${uuid}/`), 404, 'notexist', null);

    // Each token is its own account's; a wrong one is refused like a wrong password.
    const bobs = await issueToken(t.app.store, BOB.email);
    expect(await whoami(t.anonymous, bobs.token)).toBe(BOB.email);
    expectError(
      await t.anonymous.get(`/servers/${uuid}/`, bearer(bobs.token)),
      404,
      'notexist',
      null,
    );
    expect(await whoami(t.anonymous, `${token}x`)).toBe(401);
    expect(await whoami(t.anonymous, id)).toBe(401);
    const refused = await t.anonymous.get('/profile/', { headers: { authorization: 'Bearer' } });
    expectError(refused, 401, 'permission', null);

    // A new password leaves the token working; revoking it stops it on the next request.
    await setPassword(
      t.app.store,
      { email: ALICE.email, password: 'changed-secret' },
      { digest: true },
    );
    expect(await whoami(t.anonymous, token)).toBe(ALICE.email);
    await setPassword(t.app.store, ALICE, { digest: true });
    await revokeToken(t.app.store, ALICE.email, id);
    expect(await whoami(t.anonymous, token)).toBe(401);
    expectError(
      await t.anonymous.put(`/servers/${uuid}/`, { ...serverBody(), name: 'again' }, bearer(token)),
      401,
      'permission',
      null,
    );
    expect(await listTokens(t.app.store, ALICE.email)).toEqual([]);
    await expect(revokeToken(t.app.store, ALICE.email, bobs.id)).rejects.toThrow(/has no token/);
    expect(await whoami(t.anonymous, bobs.token)).toBe(BOB.email);
  });
});
