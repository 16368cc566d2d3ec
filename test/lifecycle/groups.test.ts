/**
 * Availability groups (api-reference.md §2.5): `/servers/availability_groups/` lists groups of
 * running servers that share a host, `/servers/availability_groups/{uuid}/` the group of one
 * server (with itself; `[]` when it does not run); the same for drives on storage hosts. One host
 * runs everything here, so there is at most one group, of the caller's objects only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrive, createServer, expectError } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { action, get } from './support.js';

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startTestApp();
  alice = t.alice;
});
afterAll(() => t.close());

const sorted = (uuids: string[]) => [...uuids].sort();

describe('server availability groups', () => {
  it('groups the running servers; a stopped server is in no group', async () => {
    expect(await get(alice, '/servers/availability_groups/')).toEqual([]);
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => createServer(alice)));
    const stopped = c!.uuid;
    const bobs = await createServer(t.bob);
    for (const uuid of [a!.uuid, b!.uuid]) {
      expect((await alice.post(action(uuid, 'start'), {})).status).toBe(202);
    }
    expect((await t.bob.post(action(bobs.uuid, 'start'), {})).status).toBe(202);

    const groups = (await get(alice, '/servers/availability_groups/')) as unknown as string[][];
    expect(groups).toHaveLength(1);
    expect(sorted(groups[0]!)).toEqual(sorted([a!.uuid, b!.uuid]));

    const ofA = (await get(
      alice,
      `/servers/availability_groups/${a!.uuid}/`,
    )) as unknown as string[];
    expect(sorted(ofA)).toEqual(sorted([a!.uuid, b!.uuid]));
    expect(await get(alice, `/servers/availability_groups/${stopped}/`)).toEqual([]);

    // Bob sees his own group only, and not alice's servers.
    expect(await get(t.bob, '/servers/availability_groups/')).toEqual([[bobs.uuid]]);
    expectError(await t.bob.get(`/servers/availability_groups/${a!.uuid}/`), 404, 'notexist', null);

    // Stopping takes a server out of the group.
    await alice.post(action(b!.uuid, 'stop'));
    expect(await get(alice, '/servers/availability_groups/')).toEqual([[a!.uuid]]);
    expect(await get(alice, `/servers/availability_groups/${b!.uuid}/`)).toEqual([]);
    await alice.post(action(a!.uuid, 'stop'));
    expect(await get(alice, '/servers/availability_groups/')).toEqual([]);
  });

  it('answers 404 for a missing server', async () => {
    expectError(
      await alice.get('/servers/availability_groups/472835d5-2bbb-4d87-9d08-7364bc373692/'),
      404,
      'notexist',
      null,
    );
  });
});

describe('drive availability groups', () => {
  it('groups the caller’s drives, with the queried drive in its own group', async () => {
    const fresh = await startTestApp();
    try {
      expect(await get(fresh.alice, '/drives/availability_groups/')).toEqual([]);
      const d1 = await createDrive(fresh.alice, { name: 'one' });
      const d2 = await createDrive(fresh.alice, { name: 'two', media: 'cdrom' });
      const bobs = await createDrive(fresh.bob);
      const groups = (await get(
        fresh.alice,
        '/drives/availability_groups/',
      )) as unknown as string[][];
      expect(groups).toHaveLength(1);
      expect(sorted(groups[0]!)).toEqual(sorted([d1.uuid, d2.uuid]));
      const ofD1 = (await get(
        fresh.alice,
        `/drives/availability_groups/${d1.uuid}/`,
      )) as unknown as string[];
      expect(ofD1).toContain(d1.uuid);
      expect(ofD1).not.toContain(bobs.uuid);
      expect(await get(fresh.bob, '/drives/availability_groups/')).toEqual([[bobs.uuid]]);
      expectError(
        await fresh.bob.get(`/drives/availability_groups/${d1.uuid}/`),
        404,
        'notexist',
        null,
      );
      expectError(
        await fresh.alice.get('/drives/availability_groups/472835d5-2bbb-4d87-9d08-7364bc373692/'),
        404,
        'notexist',
        null,
      );
    } finally {
      await fresh.close();
    }
  });

  it('are reachable without the trailing slash and refuse writes (405)', async () => {
    expect((await alice.get('/servers/availability_groups')).status).toBe(200);
    expect((await alice.get('/drives/availability_groups')).status).toBe(200);
    expect((await alice.post('/servers/availability_groups/', {})).status).toBe(405);
    expect((await alice.delete('/drives/availability_groups/')).status).toBe(405);
  });
});
