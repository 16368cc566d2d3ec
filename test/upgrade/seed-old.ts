/**
 * Seeds a store through the API of the version it runs in, and records that version's answers.
 * `make-fixtures.sh` copies this file into a worktree of an old commit and runs it there (its
 * imports then resolve to that commit's code), once on SQLite and once on PostgreSQL:
 *
 *   tsx test/upgrade/seed-old.ts sqlite DIR          # a data directory
 *   tsx test/upgrade/seed-old.ts postgres URL        # a database (schema public)
 *
 * and writes the answers (`Answers`) as JSON on stdout. `upgrade.test.ts` opens the store with
 * today's code and asks the same questions.
 */

import type { Config } from '../../src/config.js';
import { attach, createDrive, createServer, getObject, type Obj } from '../support/api.js';
import { ALICE, BOB, type Client, startTestApp } from '../support/app.js';
import { type Answers, ASKED_COLLECTIONS, ASKED_SINGLES } from './questions.js';

/** A public key made once with ssh-keygen (its private half was thrown away). */
const PUBLIC_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJW/4EXRQGks3Oes6mJUp76G9E6uexUVaCajLAIw3HtP fixture';

async function ok(res: Promise<{ status: number; text: string; json: Obj }>, status: number) {
  const r = await res;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text}`);
  return r.json as Obj;
}

/** Objects of every kind, with references between them, updates and a removal. */
async function seed(alice: Client, bob: Client): Promise<void> {
  await ok(
    alice.put('/profile/', { first_name: 'Alice', last_name: 'Upgrade', company: 'A&Co' }),
    200,
  );
  // IPs and a VLAN come from subscriptions.
  await ok(alice.post('/subscriptions/', { resource: 'ip', amount: 2, period: '1 month' }), 201);
  await ok(alice.post('/subscriptions/', { resource: 'vlan', amount: 1, period: '1 month' }), 201);
  const ips = (await getObject(alice, '/ips/detail/')).objects as Obj[];
  const vlan = ((await getObject(alice, '/vlans/detail/')).objects as Obj[])[0]!;
  await ok(alice.put(`/vlans/${vlan.uuid}/`, { meta: { description: 'backend' } }), 200);
  await ok(alice.put(`/ips/${ips[0]!.uuid}/`, { meta: { role: 'public web' } }), 200);

  const tags = (
    await ok(alice.post('/tags/', { objects: [{ name: 'web' }, { name: 'shared' }] }), 201)
  ).objects as Obj[];
  const [web, shared] = [tags[0]!, tags[1]!];

  const policy = (
    await ok(
      alice.post('/fwpolicies/', {
        objects: [
          {
            name: 'ssh only',
            rules: [
              { action: 'accept', direction: 'in', ip_proto: 'tcp', dst_port: '22' },
              { action: 'drop', direction: 'in' },
            ],
          },
        ],
      }),
      201,
    )
  ).objects[0] as Obj;

  await ok(
    alice.post('/keypairs/', { objects: [{ name: 'deploy', public_key: PUBLIC_KEY }] }),
    201,
  );

  const boot = await createDrive(alice, {
    name: 'boot',
    size: 2 * 1024 ** 3,
    tags: [web.uuid],
    meta: { os: 'linux', ünïcode: 'välue ✓' },
  });
  const data = await createDrive(alice, { name: 'data', tags: [shared.uuid] });
  const scratch = await createDrive(alice, { name: 'scratch' });
  await ok(alice.delete(`/drives/${scratch.uuid}/`), 204);
  await ok(alice.put(`/drives/${data.uuid}/`, { ...data, name: 'data (renamed)' }), 200);
  await ok(alice.post('/snapshots/', { drive: boot.uuid, name: 'before upgrade' }), 201);

  // A library drive cloned into the account, and a drive clone: both leave jobs.
  const libdrive = ((await getObject(alice, '/libdrives/?limit=1')).objects as Obj[])[0]!;
  await ok(
    alice.post(`/libdrives/${libdrive.uuid}/action/?do=clone`, { name: 'from library' }),
    202,
  );
  await ok(alice.post(`/drives/${data.uuid}/action/?do=clone`, { name: 'data copy' }), 202);

  const server = await createServer(alice, {
    name: 'web-1',
    cpu: 2000,
    smp: 2,
    mem: 1024 ** 3,
    tags: [web.uuid],
    meta: { ssh_public_key: PUBLIC_KEY },
    drives: [attach(boot.uuid, 'virtio', '0:0', 1), attach(data.uuid, 'virtio', '0:1')],
    nics: [
      {
        model: 'virtio',
        ip_v4_conf: { conf: 'static', ip: ips[0]!.uuid },
        firewall_policy: policy.uuid,
      },
      { model: 'e1000', ip_v4_conf: { conf: 'dhcp' } },
      { model: 'virtio', vlan: vlan.uuid },
    ],
  });
  await ok(alice.post(`/servers/${server.uuid}/action/?do=start`), 202);
  const stopped = await createServer(alice, { name: 'db-1', cpu: 1000, mem: 512 * 1024 ** 2 });
  await ok(alice.post(`/servers/${stopped.uuid}/action/?do=clone`, { name: 'db-2' }), 202);

  // Sharing: Bob may list and edit what carries the tag `shared`.
  await ok(
    alice.post('/acls/', {
      objects: [
        {
          name: 'for bob',
          grantees: [{ email: BOB.email }],
          rules: [{ permission: 'LIST' }, { permission: 'EDIT' }],
          tags: [shared.uuid],
        },
      ],
    }),
    201,
  );

  const bobs = await createDrive(bob, { name: 'bob drive' });
  await createServer(bob, {
    name: 'bob server',
    drives: [attach(bobs.uuid, 'ide', '0:0', 1)],
    nics: [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }],
  });
  // A rejected request is in the audit log too.
  await ok(bob.post('/servers/', { objects: [{ name: 'no cpu' }] }), 400);
  // A session (cookie login).
  await ok(
    alice.post('/accounts/action/?do=login', { username: ALICE.email, password: ALICE.password }),
    200,
  );
}

async function answers(clients: Record<string, Client>): Promise<Answers> {
  const out: Answers = {};
  for (const [who, client] of Object.entries(clients)) {
    const mine: Answers[string] = {};
    const ask = async (path: string) => {
      const res = await client.get(path);
      mine[path] = { status: res.status, body: res.json as unknown };
      return res.json as Obj;
    };
    for (const collection of ASKED_COLLECTIONS) {
      const list = await ask(`/${collection}/detail/?limit=0`);
      await ask(`/${collection}/?limit=0`);
      for (const object of (list.objects ?? []) as Obj[]) {
        // Subscriptions are addressed by id, everything else by uuid.
        const id = (collection === 'subscriptions' ? object.id : object.uuid) as string;
        await ask(`/${collection}/${id}/`);
      }
    }
    for (const path of ASKED_SINGLES) await ask(path);
    out[who] = mine;
  }
  return out;
}

async function main(): Promise<void> {
  const [engine, where] = process.argv.slice(2);
  // What a real start opens: a data directory, or a PostgreSQL URL (schema public).
  const store: Partial<Config> =
    engine === 'sqlite' && where
      ? { memory: false, data: where }
      : engine === 'postgres' && where
        ? { memory: false, store: where }
        : usage();
  // A fixed seed: the fixtures' uuids, MACs and keys stay the same when they are made again.
  const t = await startTestApp({ ...store, seed: 14 });
  try {
    await seed(t.alice, t.bob);
    await t.app.engine.settled();
    process.stdout.write(
      `${JSON.stringify(await answers({ alice: t.alice, bob: t.bob }), null, 1)}\n`,
    );
  } finally {
    await t.close(); // closes the store too
  }
}

function usage(): never {
  throw new Error('usage: seed-old.ts sqlite DIR | postgres URL');
}

await main();
// The old version may leave a handle open (a listening connection): the answers are out.
process.exit(0);
