/**
 * Keypairs and pubkeys through real HTTP (api-reference.md §5.6): the three ways to create one,
 * key checks, PUT merge, delete, the read-only `/pubkeys/` mirror, servers' `pubkeys`, and other
 * accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKey, readPrivateKey } from '../../src/resources/keypairs/ssh.js';
import { loadFixture } from '../conformance/fixtures.js';
import { createServer, expectError, getObject, linkTo, type Obj, UUID } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  t = await startTestApp();
  alice = t.alice;
  bob = t.bob;
});
afterAll(() => t.close());

const first = (name: string, side: 'request' | 'response'): Obj => {
  const body = loadFixture(name)[side].body as Obj;
  return (body.objects ? body.objects[0] : body) as Obj;
};
const SELF_GEN = first('self_gen_keypair_create', 'response');
const PUB_ONLY = first('pub_key_only_keypair_create', 'response');
const AUTOGEN = first('autogen_keypair_create', 'response');

async function createKeypair(client: Client, definition: Obj): Promise<Obj> {
  const res = await client.post('/keypairs/', { objects: [definition] });
  if (res.status !== 201) throw new Error(`keypair create: ${res.status} ${res.text}`);
  return res.json.objects[0] as Obj;
}

const both = (name = 'both') => ({
  name,
  public_key: SELF_GEN.public_key,
  private_key: SELF_GEN.private_key,
});

describe('creating (POST /keypairs/)', () => {
  it('stores both keys as given, with the MD5 fingerprint and a Location', async () => {
    const res = await alice.post('/keypairs/', { objects: [both('test_pub')] });
    expect(res.status).toBe(201);
    const [keypair] = res.json.objects;
    expect(keypair).toEqual({
      fingerprint: SELF_GEN.fingerprint,
      grantees: [],
      meta: {},
      name: 'test_pub',
      permissions: [],
      private_key: SELF_GEN.private_key,
      public_key: SELF_GEN.public_key,
      resource_uri: `/api/2.0/keypairs/${keypair.uuid}/`,
      tags: [],
      uuid: expect.stringMatching(UUID),
    });
    expect(res.headers.get('location')).toBe(`${t.origin}/api/2.0/keypairs/${keypair.uuid}/`);
    expect(await getObject(alice, `/keypairs/${keypair.uuid}/`)).toEqual(keypair);
  });

  it('takes a public key alone (private_key null)', async () => {
    const keypair = await createKeypair(alice, {
      name: 'test_another_pub',
      public_key: PUB_ONLY.public_key,
      meta: { purpose: 'ci' },
    });
    expect(keypair).toMatchObject({
      private_key: null,
      public_key: PUB_ONLY.public_key,
      fingerprint: PUB_ONLY.fingerprint,
      meta: { purpose: 'ci' },
    });
  });

  it('takes a private key alone and derives its public half', async () => {
    const keypair = await createKeypair(alice, { name: 'priv', private_key: AUTOGEN.private_key });
    expect(keypair.public_key).toBe(AUTOGEN.public_key);
    expect(keypair.fingerprint).toBe(AUTOGEN.fingerprint);
    expect(keypair.private_key).toBe(AUTOGEN.private_key);
  });

  it.each([
    ['rsa', 'ssh-rsa', /^-----BEGIN RSA PRIVATE KEY-----\n/],
    ['ed25519', 'ssh-ed25519', /^-----BEGIN OPENSSH PRIVATE KEY-----\n/],
  ])('generates a pair for algorithm_type %s', async (algorithm, type, pem) => {
    const keypair = await createKeypair(alice, { name: 'test_name', algorithm_type: algorithm });
    expect(keypair.name).toBe('test_name');
    expect(keypair.private_key).toMatch(pem);
    expect(keypair.public_key.split(' ')[0]).toBe(type);
    const key = parsePublicKey(keypair.public_key);
    if (algorithm === 'rsa') expect(key.bits).toBe(2048);
    expect(readPrivateKey(keypair.private_key).publicBlob?.equals(key.blob)).toBe(true);
    expect(keypair.fingerprint).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/);
    expect(keypair).not.toHaveProperty('algorithm_type');
    // Two generations never give the same pair.
    const again = await createKeypair(alice, { name: 'again', algorithm_type: algorithm });
    expect(again.public_key).not.toBe(keypair.public_key);
  });

  it('generates an RSA pair for a name alone (the older API; libcloud create_key_pair)', async () => {
    const keypair = await createKeypair(alice, { name: 'named_only' });
    // The recorded autogen answer's shape, with keys of its own.
    expect(Object.keys(keypair).sort()).toEqual(Object.keys(AUTOGEN).sort());
    expect(keypair).toMatchObject({ name: 'named_only', grantees: [], meta: {}, tags: [] });
    expect(keypair.private_key).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    const key = parsePublicKey(keypair.public_key);
    expect(keypair.public_key.split(' ')[0]).toBe('ssh-rsa');
    expect(key.bits).toBe(2048);
    expect(readPrivateKey(keypair.private_key).publicBlob?.equals(key.blob)).toBe(true);
    expect(await getObject(alice, `/keypairs/${keypair.uuid}/`)).toEqual(keypair);
    // An empty object is a name-less one: a pair all the same.
    const nameless = await createKeypair(alice, {});
    expect(nameless.name).toBe('');
    expect(nameless.public_key).toMatch(/^ssh-rsa /);
  });

  it('ignores algorithm_type when keys are given', async () => {
    const keypair = await createKeypair(alice, {
      public_key: PUB_ONLY.public_key,
      algorithm_type: 'ed25519',
    });
    expect(keypair.public_key).toBe(PUB_ONLY.public_key);
    expect(keypair.name).toBe('');
  });

  it('creates several at once, all or nothing', async () => {
    const before = (await alice.get('/keypairs/?limit=0')).json.meta.total_count;
    const res = await alice.post('/keypairs/', [
      { name: 'one', public_key: PUB_ONLY.public_key },
      { name: 'two', public_key: 'ssh-rsa garbage' },
    ]);
    expectError(res, 400, 'validation', 'public_key');
    expect((await alice.get('/keypairs/?limit=0')).json.meta.total_count).toBe(before);
    const ok = await alice.post('/keypairs/', [
      { name: 'one', public_key: PUB_ONLY.public_key },
      { name: 'two', public_key: SELF_GEN.public_key },
    ]);
    expect(ok.status).toBe(201);
    expect(ok.json.objects.map((k: Obj) => k.name)).toEqual(['one', 'two']);
  });

  it.each([
    ['an unknown algorithm', { algorithm_type: 'dsa' }, 'algorithm_type'],
    ['a public key that is not one', { public_key: 'hello' }, 'public_key'],
    [
      'a public key of the wrong type',
      { public_key: `ssh-ed25519 ${SELF_GEN.public_key.split(' ')[1]}` },
      'public_key',
    ],
    [
      'a private key that is not one',
      { public_key: PUB_ONLY.public_key, private_key: 'hello' },
      'private_key',
    ],
    [
      'keys that are no pair',
      { public_key: PUB_ONLY.public_key, private_key: SELF_GEN.private_key },
      'private_key',
    ],
    ['a name that is not a string', { name: 5, public_key: PUB_ONLY.public_key }, 'name'],
    ['meta that is not flat', { public_key: PUB_ONLY.public_key, meta: { a: {} } }, 'meta'],
  ])('refuses %s (400, point %s)', async (_label, definition, point) => {
    expectError(
      await alice.post('/keypairs/', { objects: [definition] }),
      400,
      'validation',
      point,
    );
  });

  it('refuses RSA keys over 4096 bits', async () => {
    const string = (bytes: Buffer) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return Buffer.concat([length, bytes]);
    };
    const blob = Buffer.concat([
      string(Buffer.from('ssh-rsa')),
      string(Buffer.from([1, 0, 1])),
      string(Buffer.concat([Buffer.from([1]), Buffer.alloc(512, 0x5a)])),
    ]);
    const error = expectError(
      await alice.post('/keypairs/', { public_key: `ssh-rsa ${blob.toString('base64')}` }),
      400,
      'validation',
      'public_key',
    );
    expect(error.error_message).toMatch(/4096/);
  });
});

describe('reading, updating, deleting', () => {
  it('lists keypairs whole (list == detail) and filters by name', async () => {
    const app = await startTestApp();
    try {
      const a = await createKeypair(app.alice, both('ala'));
      const b = await createKeypair(app.alice, {
        name: 'test_name',
        public_key: PUB_ONLY.public_key,
      });
      const list = await app.alice.get('/keypairs/?limit=0');
      expect(list.json).toEqual({ meta: { limit: 0, offset: 0, total_count: 2 }, objects: [a, b] });
      expect((await app.alice.get('/keypairs/detail/')).json.objects).toEqual([a, b]);
      expect((await app.alice.get('/keypairs/?name=ala')).json.objects).toEqual([a]);
      expect((await app.alice.get('/keypairs/?name__contains=NAME')).json.objects).toEqual([b]);
      expect((await app.alice.get('/keypairs/?limit=1&offset=1')).json.objects).toEqual([b]);
    } finally {
      await app.close();
    }
  });

  it('PUT merges: the recorded update renames; echoed keys are kept', async () => {
    const created = await createKeypair(alice, both('test_name'));
    const res = await alice.put(`/keypairs/${created.uuid}/`, { ...created, name: 'new_name' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ...created, name: 'new_name' });
    const meta = await alice.put(`/keypairs/${created.uuid}/`, { meta: { a: 'b' } });
    expect(meta.json).toEqual({ ...created, name: 'new_name', meta: { a: 'b' } });
  });

  it('PUT of new key material is checked as on create', async () => {
    const created = await createKeypair(alice, both());
    expectError(
      await alice.put(`/keypairs/${created.uuid}/`, { public_key: PUB_ONLY.public_key }),
      400,
      'validation',
      'private_key',
    );
    expect(await getObject(alice, `/keypairs/${created.uuid}/`)).toEqual(created);
    // Dropping the private key, or replacing both, is fine.
    const dropped = await alice.put(`/keypairs/${created.uuid}/`, { private_key: null });
    expect(dropped.json).toMatchObject({ private_key: null, public_key: SELF_GEN.public_key });
    const replaced = await alice.put(`/keypairs/${created.uuid}/`, {
      public_key: AUTOGEN.public_key,
      private_key: AUTOGEN.private_key,
    });
    expect(replaced.json).toMatchObject({
      fingerprint: AUTOGEN.fingerprint,
      private_key: AUTOGEN.private_key,
    });
    expect((await getObject(alice, `/pubkeys/${created.uuid}/`)).fingerprint).toBe(
      AUTOGEN.fingerprint,
    );
  });

  it('DELETE answers 204 and the keypair is gone from both collections', async () => {
    const created = await createKeypair(alice, both());
    const res = await alice.delete(`/keypairs/${created.uuid}/`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectError(await alice.get(`/keypairs/${created.uuid}/`), 404, 'notexist', null);
    expectError(await alice.get(`/pubkeys/${created.uuid}/`), 404, 'notexist', null);
  });

  it('deletes several at once', async () => {
    const a = await createKeypair(alice, both());
    const b = await createKeypair(alice, both());
    expect((await alice.delete('/keypairs/', { objects: [{ uuid: a.uuid }, b.uuid] })).status).toBe(
      204,
    );
    for (const k of [a, b]) expect((await alice.get(`/keypairs/${k.uuid}/`)).status).toBe(404);
  });

  it('serves a schema', async () => {
    const schema = await getObject(alice, '/keypairs/schema/');
    expect(schema.allowed_list_http_methods).toEqual(['get', 'put', 'delete', 'post']);
    expect(Object.keys(schema.fields).sort()).toEqual([
      'algorithm_type',
      'fingerprint',
      'grantees',
      'meta',
      'name',
      'permissions',
      'private_key',
      'public_key',
      'resource_uri',
      'tags',
      'uuid',
    ]);
    expect(schema.fields.algorithm_type.choices).toEqual(['rsa', 'ed25519']);
    expect(schema.fields.fingerprint.readonly).toBe(true);
  });
});

describe('the pubkeys mirror (/pubkeys/)', () => {
  it('shows every keypair without its private key, with has_private_key', async () => {
    const app = await startTestApp();
    try {
      const full = await createKeypair(app.alice, both('test_pub'));
      const pub = await createKeypair(app.alice, {
        name: 'test_another_pub',
        public_key: PUB_ONLY.public_key,
      });
      const mirror = (k: Obj, hasPrivate: boolean) => {
        const { private_key: _, ...rest } = k;
        return {
          ...rest,
          has_private_key: hasPrivate,
          resource_uri: `/api/2.0/pubkeys/${k.uuid}/`,
        };
      };
      expect(await getObject(app.alice, `/pubkeys/${full.uuid}/`)).toEqual(mirror(full, true));
      expect(await getObject(app.alice, `/pubkeys/${pub.uuid}/`)).toEqual(mirror(pub, false));
      const list = await app.alice.get('/pubkeys/?limit=0');
      expect(list.json).toEqual({
        meta: { limit: 0, offset: 0, total_count: 2 },
        objects: [mirror(full, true), mirror(pub, false)],
      });
      expect((await app.alice.get('/pubkeys/?name=test_pub')).json.objects).toEqual([
        mirror(full, true),
      ]);
      expect(list.text).not.toContain('PRIVATE KEY');
      // A rename shows in the mirror at once.
      await app.alice.put(`/keypairs/${full.uuid}/`, { name: 'renamed' });
      expect((await getObject(app.alice, `/pubkeys/${full.uuid}/`)).name).toBe('renamed');
    } finally {
      await app.close();
    }
  });

  it('is read-only', async () => {
    const keypair = await createKeypair(alice, both());
    for (const [method, path] of [
      ['POST', '/pubkeys/'],
      ['PUT', `/pubkeys/${keypair.uuid}/`],
      ['DELETE', `/pubkeys/${keypair.uuid}/`],
    ] as const) {
      const res = await alice.request(method, path, { body: { name: 'x' } });
      expect(res.status, `${method} ${path}`).toBe(405);
    }
    const schema = await getObject(alice, '/pubkeys/schema/');
    expect(schema.allowed_list_http_methods).toEqual(['get']);
    expect(schema.fields).not.toHaveProperty('private_key');
    expect(schema.fields.has_private_key.type).toBe('boolean');
    expect(Object.values(schema.fields).every((f) => (f as Obj).readonly)).toBe(true);
  });
});

describe('other accounts', () => {
  it("never see or use another account's keypairs", async () => {
    const keypair = await createKeypair(alice, both());
    expectError(await bob.get(`/keypairs/${keypair.uuid}/`), 404, 'notexist', null);
    expectError(await bob.get(`/pubkeys/${keypair.uuid}/`), 404, 'notexist', null);
    expectError(await bob.put(`/keypairs/${keypair.uuid}/`, { name: 'x' }), 404, 'notexist', null);
    expectError(await bob.delete(`/keypairs/${keypair.uuid}/`), 404, 'notexist', null);
    const bobs = await bob.get('/pubkeys/?limit=0');
    expect(bobs.json.objects.map((k: Obj) => k.uuid)).not.toContain(keypair.uuid);
    expectError(
      await bob.post('/servers/', {
        objects: [
          { name: 's', cpu: 1000, mem: 536870912, vnc_password: 'x', pubkeys: [keypair.uuid] },
        ],
      }),
      400,
      'validation',
      'pubkeys.0',
    );
  });
});

describe('sharing (an ACL on a tag of the keypair)', () => {
  it('shows a shared keypair at /pubkeys/ only, never its private key', async () => {
    const tag = (await alice.post('/tags/', { objects: [{ name: 'shared-keys' }] })).json
      .objects[0];
    const keypair = await createKeypair(alice, { ...both('shared'), tags: [tag.uuid] });
    const acl = await alice.post('/acls/', {
      objects: [
        {
          name: 'keys for bob',
          grantees: [{ email: 'bob@example.com' }],
          rules: [{ permission: 'LIST' }, { permission: 'EDIT' }, { permission: 'DELETE' }],
          tags: [tag.uuid],
        },
      ],
    });
    expect(acl.status).toBe(201);
    const seen = await getObject(bob, `/pubkeys/${keypair.uuid}/`);
    expect(seen).toMatchObject({
      uuid: keypair.uuid,
      public_key: keypair.public_key,
      has_private_key: true,
      permissions: ['DELETE', 'EDIT', 'LIST'],
    });
    expect(seen).not.toHaveProperty('private_key');
    const listed = await bob.get('/pubkeys/?limit=0');
    expect(listed.json.objects.map((k: Obj) => k.uuid)).toContain(keypair.uuid);
    expect(listed.text).not.toContain('PRIVATE KEY');
    // /keypairs/ is the owner's alone, whatever the ACL grants.
    expectError(await bob.get(`/keypairs/${keypair.uuid}/`), 404, 'notexist', null);
    expect((await bob.get('/keypairs/?limit=0')).text).not.toContain(keypair.uuid);
    expectError(await bob.put(`/keypairs/${keypair.uuid}/`, { name: 'x' }), 404, 'notexist', null);
    expectError(
      await bob.put('/keypairs/', { objects: [{ uuid: keypair.uuid, name: 'x' }] }),
      404,
      'notexist',
      null,
    );
    expectError(await bob.delete(`/keypairs/${keypair.uuid}/`), 404, 'notexist', null);
    expectError(await bob.delete('/keypairs/', [keypair.uuid]), 404, 'notexist', null);
    expect((await getObject(alice, `/keypairs/${keypair.uuid}/`)).name).toBe('shared');

    // Bob may put it on his servers; their context shows it (without Alice's tags).
    const server = await createServer(bob, { pubkeys: [keypair.uuid] });
    expect(server.pubkeys).toEqual([linkTo('pubkeys', keypair.uuid)]);
    const context = await t.app.contexts.build(server.uuid);
    expect(context?.pubkeys).toEqual([
      {
        fingerprint: keypair.fingerprint,
        meta: {},
        name: 'shared',
        public_key: keypair.public_key,
        tags: [],
        uuid: keypair.uuid,
      },
    ]);
    // When Alice deletes it, it drops off Bob's server too.
    expect((await alice.delete(`/keypairs/${keypair.uuid}/`)).status).toBe(204);
    expect((await getObject(bob, `/servers/${server.uuid}/`)).pubkeys).toEqual([]);
  });
});

describe("servers' pubkeys", () => {
  it('attaches keypairs in every reference shape and links them as /pubkeys/', async () => {
    const a = await createKeypair(alice, both('a'));
    const b = await createKeypair(alice, { name: 'b', public_key: PUB_ONLY.public_key });
    const server = await createServer(alice, {
      pubkeys: [a.uuid, `/api/2.0/keypairs/${b.uuid}/`],
    });
    expect(server.pubkeys).toEqual([linkTo('pubkeys', a.uuid), linkTo('pubkeys', b.uuid)]);
    const res = await alice.put(`/servers/${server.uuid}/`, {
      pubkeys: [{ uuid: b.uuid, resource_uri: `/api/2.0/pubkeys/${b.uuid}/` }],
    });
    expect(res.status).toBe(200);
    expect(res.json.pubkeys).toEqual([linkTo('pubkeys', b.uuid)]);
  });

  it('refuses a missing keypair, naming its place', async () => {
    const a = await createKeypair(alice, both());
    expectError(
      await alice.post('/servers/', {
        objects: [
          {
            name: 's',
            cpu: 1000,
            mem: 536870912,
            vnc_password: 'x',
            pubkeys: [a.uuid, '00000000-0000-4000-8000-000000000000'],
          },
        ],
      }),
      400,
      'validation',
      'pubkeys.1',
    );
  });

  it('a deleted keypair drops off the servers that carry it', async () => {
    const a = await createKeypair(alice, both('a'));
    const b = await createKeypair(alice, both('b'));
    const one = await createServer(alice, { pubkeys: [a.uuid, b.uuid] });
    const two = await createServer(alice, { pubkeys: [a.uuid] });
    expect((await alice.delete(`/keypairs/${a.uuid}/`)).status).toBe(204);
    expect((await getObject(alice, `/servers/${one.uuid}/`)).pubkeys).toEqual([
      linkTo('pubkeys', b.uuid),
    ]);
    expect((await getObject(alice, `/servers/${two.uuid}/`)).pubkeys).toEqual([]);
    // And a server that is gone no longer holds on to a key.
    expect((await alice.delete(`/servers/${one.uuid}/`)).status).toBe(204);
    expect((await alice.delete(`/keypairs/${b.uuid}/`)).status).toBe(204);
  });
});

describe('tags', () => {
  it('keypairs carry tags like any resource', async () => {
    const tag = await alice.post('/tags/', { objects: [{ name: 'keys' }] });
    expect(tag.status).toBe(201);
    const tagUuid = tag.json.objects[0].uuid as string;
    const keypair = await createKeypair(alice, { ...both(), tags: [tagUuid] });
    expect(keypair.tags).toEqual([linkTo('tags', tagUuid)]);
    expect((await getObject(alice, `/pubkeys/${keypair.uuid}/`)).tags).toEqual([
      linkTo('tags', tagUuid),
    ]);
    const resources = (await getObject(alice, `/tags/${tagUuid}/`)).resources as Obj[];
    expect(resources.map((r) => r.uuid)).toContain(keypair.uuid);
    expectError(
      await alice.post('/keypairs/', { ...both(), tags: ['00000000-0000-4000-8000-000000000000'] }),
      400,
      'validation',
      'tags.0',
    );
  });
});
