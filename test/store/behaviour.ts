/**
 * The store behaviour suite: every Store implementation runs exactly these tests.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, ConflictError } from '../../src/errors.js';
import {
  type Account,
  DuplicateEmailError,
  type ListQuery,
  type NewRecord,
  type Rendered,
  type Store,
} from '../../src/store/types.js';

export function record(overrides: Partial<NewRecord> & { uuid: string }): NewRecord {
  const name = overrides.name ?? `name-${overrides.uuid}`;
  return {
    kind: 'servers',
    owner: 'owner-a',
    name,
    status: 'stopped',
    doc: JSON.stringify({ uuid: overrides.uuid, n: 0 }),
    detail: JSON.stringify({ uuid: overrides.uuid, name, detail: true }),
    summary: JSON.stringify({ uuid: overrides.uuid }),
    ...overrides,
  };
}

function account(uuid: string, email: string): Account {
  return {
    uuid,
    email,
    passwordHash: 'scrypt$x',
    ha1: null,
    credVersion: 1,
    createdAt: '2026-01-01T00:00:00Z',
  };
}

export function storeBehaviour(name: string, open: () => Promise<Store>): void {
  describe(`store behaviour: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('inserts and reads back records, with version 1', async () => {
      await store.write((tx) => tx.insert(record({ uuid: 'u1' })));
      const got = await store.get('u1');
      expect(got).toMatchObject({ kind: 'servers', uuid: 'u1', owner: 'owner-a', version: 1 });
      expect(await store.read((tx) => tx.get('nope'))).toBeUndefined();
      const view = await store.getDetail('u1');
      expect({ ...view, detail: view?.detail.toString() }).toEqual({
        kind: 'servers',
        uuid: 'u1',
        owner: 'owner-a',
        detail: JSON.stringify({ uuid: 'u1', name: 'name-u1', detail: true }),
      });
      expect(await store.getDetail('nope')).toBeUndefined();
      const many = await store.read((tx) => tx.getMany(['u1', 'nope', 'u1']));
      expect(many.map((r) => r.uuid)).toEqual(['u1']);
    });

    it('refuses a second object with the same uuid and keeps the first', async () => {
      await store.write((tx) => tx.insert(record({ uuid: 'dup', name: 'first' })));
      await expect(
        store.write((tx) => tx.insert(record({ uuid: 'dup', name: 'second' }))),
      ).rejects.toThrow();
      expect((await store.get('dup'))?.name).toBe('first');
    });

    it('rolls back every change of a failed transaction', async () => {
      const before = await store.fingerprint();
      await expect(
        store.write(async (tx) => {
          await tx.insert(record({ uuid: 'r1' }));
          await tx.claim('mac', '22:00:00:00:00:01', 'r1');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.get('r1')).toBeUndefined();
      expect(await store.fingerprint()).toBe(before);
    });

    it('isolates concurrent writes: a failing one rolls back alone', async () => {
      const results = await Promise.allSettled([
        store.write((tx) => tx.insert(record({ uuid: 'c1' }))),
        store.write(async (tx) => {
          await tx.insert(record({ uuid: 'c2' }));
          await tx.claim('mac', 'c2-mac', 'c2');
          throw new Error('second fails');
        }),
        store.write(async (tx) => {
          await tx.insert(record({ uuid: 'c3' }));
          return 'third';
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[2] as PromiseFulfilledResult<string>).value).toBe('third');
      expect(await store.get('c1')).toBeDefined();
      expect(await store.get('c2')).toBeUndefined();
      expect(await store.read((tx) => tx.claimHolder('mac', 'c2-mac'))).toBeUndefined();
      expect(await store.get('c3')).toBeDefined();
    });

    it('updates with an optimistic version and refuses a stale one', async () => {
      await store.write((tx) => tx.insert(record({ uuid: 'v1' })));
      const first = (await store.get('v1'))!;
      await store.write((tx) => tx.update({ ...first, name: 'renamed', status: 'running' }));
      const second = (await store.get('v1'))!;
      expect(second).toMatchObject({ name: 'renamed', status: 'running', version: 2 });
      // A stale version conflicts on every retry: the store gives up with 503 concurrency.
      const attempt = store.write((tx) => tx.update({ ...first, name: 'stale' }));
      await expect(attempt).rejects.toBeInstanceOf(ApiError);
      await expect(attempt).rejects.toMatchObject({ type: 'concurrency', status: 503 });
      expect((await store.get('v1'))!.name).toBe('renamed');
    });

    it('retries a transaction whose read-merge-write conflicted', async () => {
      await store.write((tx) => tx.insert(record({ uuid: 'retry' })));
      let calls = 0;
      await store.write(async (tx) => {
        calls++;
        const current = (await tx.get('retry'))!;
        if (calls === 1) throw new ConflictError();
        await tx.update({ ...current, name: 'done' });
      });
      expect(calls).toBe(2);
      expect((await store.get('retry'))!.name).toBe('done');
    });

    it('never loses an update when many writers race on one object', async () => {
      await store.write((tx) => tx.insert(record({ uuid: 'race' })));
      const bump = () =>
        store.write(async (tx) => {
          const current = (await tx.get('race'))!;
          const doc = JSON.parse(current.doc) as { n: number };
          await new Promise((resolve) => setImmediate(resolve));
          await tx.update({ ...current, doc: JSON.stringify({ ...doc, n: doc.n + 1 }) });
        });
      await Promise.all(Array.from({ length: 25 }, bump));
      const final = (await store.get('race'))!;
      expect(JSON.parse(final.doc).n).toBe(25);
      expect(final.version).toBe(26);
    });

    it('removes with a version check and keeps counts', async () => {
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 'd1' }));
        await tx.insert(record({ uuid: 'd2' }));
      });
      const page = () =>
        store.read((tx) =>
          tx.list({
            kind: 'servers',
            owner: 'owner-a',
            filters: [],
            limit: 20,
            offset: 0,
            view: 'summary',
          }),
        );
      expect((await page()).total).toBe(2);
      const d1 = (await store.get('d1'))!;
      await store.write((tx) => tx.remove(d1));
      expect(await store.get('d1')).toBeUndefined();
      expect((await page()).total).toBe(1);
      await expect(store.write((tx) => tx.remove(d1))).rejects.toMatchObject({
        type: 'concurrency',
      });
    });

    describe('lists', () => {
      beforeEach(async () => {
        await store.write(async (tx) => {
          const names = ['Alpha', 'beta', 'ÄBC-gamma', 'delta,comma', 'Epsilon'];
          for (const [i, n] of names.entries()) {
            await tx.insert(
              record({ uuid: `l${i}`, name: n, status: i % 2 === 0 ? 'stopped' : 'running' }),
            );
          }
          await tx.insert(record({ uuid: 'other', owner: 'owner-b', name: 'Alpha' }));
          await tx.insert(record({ uuid: 'drive', kind: 'drives', name: 'Alpha' }));
        });
      });
      const list = (
        overrides: Partial<Parameters<import('../../src/store/types.js').ReadTx['list']>[0]>,
      ) =>
        store.read((tx) =>
          tx.list({
            kind: 'servers',
            owner: 'owner-a',
            filters: [],
            limit: 20,
            offset: 0,
            view: 'summary',
            ...overrides,
          }),
        );
      const uuids = (items: Rendered[]) =>
        items.map((item) => (JSON.parse(item.toString()) as { uuid: string }).uuid);

      it('scopes by kind and owner, in creation order, with the chosen view', async () => {
        const page = await list({});
        expect(page.total).toBe(5);
        expect(uuids(page.items)).toEqual(['l0', 'l1', 'l2', 'l3', 'l4']);
        expect(JSON.parse(page.items[0]!.toString())).toEqual({ uuid: 'l0' });
        const detail = await list({ view: 'detail' });
        expect(JSON.parse(detail.items[0]!.toString())).toMatchObject({ detail: true });
      });

      it('pages with limit and offset; limit 0 is everything', async () => {
        const page = await list({ limit: 2, offset: 1 });
        expect(page.total).toBe(5);
        expect(uuids(page.items)).toEqual(['l1', 'l2']);
        expect(uuids((await list({ limit: 0, offset: 3 })).items)).toEqual(['l3', 'l4']);
      });

      it('answers a whole list asked joined with the same items, comma-separated or not', async () => {
        const items = (await list({ limit: 0 })).items.map(String);
        const asked = await list({ limit: 0, joined: true });
        expect(asked.total).toBe(5);
        const text = asked.joined ? String(asked.joined) : asked.items.map(String).join(',');
        expect(text).toBe(items.join(','));
        // Filtered: never joined.
        const filtered = await list({
          limit: 0,
          joined: true,
          filters: [{ column: 'name', op: 'exact', values: ['Alpha'] }],
        });
        expect(filtered.joined).toBeUndefined();
        expect(uuids(filtered.items)).toEqual(['l0']);
      });

      it('filters exact (ORed values) and contains (case-insensitive, Unicode), ANDed', async () => {
        const exact = await list({
          filters: [{ column: 'name', op: 'exact', values: ['Alpha', 'beta'] }],
        });
        expect(uuids(exact.items)).toEqual(['l0', 'l1']);
        expect(exact.total).toBe(2);
        const contains = await list({
          filters: [{ column: 'name', op: 'contains', values: ['äb'] }],
        });
        expect(uuids(contains.items)).toEqual(['l2']);
        const upper = await list({
          filters: [{ column: 'name', op: 'contains', values: ['ALP', 'EPS'] }],
        });
        expect(uuids(upper.items)).toEqual(['l0', 'l4']);
        const anded = await list({
          filters: [
            { column: 'name', op: 'contains', values: ['a'] },
            { column: 'status', op: 'exact', values: ['running'] },
          ],
        });
        expect(uuids(anded.items)).toEqual(['l1', 'l3']);
        const sqlish = await list({
          filters: [{ column: 'name', op: 'contains', values: ["%' OR 1=1 --"] }],
        });
        expect(sqlish.total).toBe(0);
        const percent = await list({
          filters: [{ column: 'name', op: 'contains', values: ['%'] }],
        });
        expect(percent.total).toBe(0);
      });

      it('finds objects of a kind by status across owners', async () => {
        const found = await store.read((tx) => tx.byStatus('servers', ['running']));
        expect(found.map((r) => r.uuid)).toEqual(['l1', 'l3']);
        expect(await store.read((tx) => tx.byStatus('servers', []))).toEqual([]);
      });

      it('orders by name or uuid, ascending or descending', async () => {
        const byName = await list({ order: { column: 'name', descending: false } });
        expect(uuids(byName.items)).toEqual(['l0', 'l4', 'l1', 'l3', 'l2']);
        const byUuidDesc = await list({ order: { column: 'uuid', descending: true } });
        expect(uuids(byUuidDesc.items)).toEqual(['l4', 'l3', 'l2', 'l1', 'l0']);
      });

      it('keeps links both ways and filters by tag (values ORed, filters ANDed)', async () => {
        await store.write(async (tx) => {
          await tx.setLinks('tag', 'l3', ['t2', 't1']);
          await tx.setLinks('tag', 'l1', ['t1']);
          await tx.setLinks('tag', 'l4', ['t2']);
          await tx.setLinks('tag', 'other', ['t1']);
        });
        expect(await store.read((tx) => tx.linksFrom('tag', 'l3'))).toEqual(['t1', 't2']);
        expect(await store.read((tx) => tx.linksTo('tag', 't1'))).toEqual(['l1', 'l3', 'other']);
        const tag = (values: string[]) => ({
          column: 'tag' as const,
          op: 'exact' as const,
          values,
        });
        expect(uuids((await list({ filters: [tag(['t1'])] })).items)).toEqual(['l1', 'l3']);
        expect(uuids((await list({ filters: [tag(['t1', 't2'])] })).items)).toEqual([
          'l1',
          'l3',
          'l4',
        ]);
        const both = await list({ filters: [tag(['t1']), tag(['t2'])] });
        expect({ total: both.total, uuids: uuids(both.items) }).toEqual({
          total: 1,
          uuids: ['l3'],
        });
        expect((await list({ filters: [tag([])] })).total).toBe(0);
        await store.write(async (tx) => tx.setLinks('tag', 'l3', []));
        expect(await store.read((tx) => tx.linksTo('tag', 't2'))).toEqual(['l4']);
        await store.write(async (tx) => tx.remove((await tx.get('l4'))!));
        expect(await store.read((tx) => tx.linksTo('tag', 't2'))).toEqual([]);
      });

      it('lists objects granted to an account beside its own, with their permissions', async () => {
        await store.write(async (tx) => {
          await tx.setGrants('l1', [{ grantee: 'owner-b', permissions: ['EDIT', 'LIST'] }]);
          await tx.setGrants('l3', [{ grantee: 'owner-b', permissions: ['START'] }]);
          await tx.setGrants('l4', [{ grantee: 'owner-c', permissions: ['LIST'] }]);
        });
        const shared = (overrides: Parameters<typeof list>[0]) =>
          list({ owner: 'owner-b', sharedWith: 'owner-b', ...overrides });
        const any = await shared({});
        expect({ total: any.total, uuids: uuids(any.items) }).toEqual({
          total: 3,
          uuids: ['l1', 'l3', 'other'],
        });
        expect(any.grants).toEqual([['EDIT', 'LIST'], ['START'], undefined]);
        const listable = await shared({ sharedPermission: 'LIST', view: 'detail' });
        expect(uuids(listable.items)).toEqual(['l1', 'other']);
        expect(JSON.parse(listable.items[0]!.toString())).toMatchObject({ detail: true });
        const paged = await shared({
          limit: 1,
          offset: 1,
          order: { column: 'uuid', descending: true },
        });
        expect({ total: paged.total, uuids: uuids(paged.items) }).toEqual({
          total: 3,
          uuids: ['l3'],
        });
        const filtered = await shared({
          filters: [{ column: 'name', op: 'contains', values: ['alpha', 'beta'] }],
        });
        expect(uuids(filtered.items)).toEqual(['l1', 'other']);
        // An account nothing is granted to: its own objects only, with no grants.
        const plain = await list({ sharedWith: 'owner-a' });
        expect(uuids(plain.items)).toEqual(['l0', 'l1', 'l2', 'l3', 'l4']);
        expect(plain.grants ?? []).toEqual([]);
        expect(await store.read((tx) => tx.grantFor('l1', 'owner-b'))).toEqual(['EDIT', 'LIST']);
        expect(await store.read((tx) => tx.grantFor('l1', 'owner-c'))).toBeUndefined();
        await store.write(async (tx) => tx.setGrants('l1', []));
        expect(await store.read((tx) => tx.grantsOf('l1'))).toEqual([]);
        await store.write(async (tx) => tx.remove((await tx.get('l3'))!));
        expect(uuids((await shared({})).items)).toEqual(['other']);
      });
    });

    it('claims unique values per namespace and releases them by holder', async () => {
      await store.write(async (tx) => {
        expect(await tx.claim('mac', 'm1', 'a')).toBe(true);
        expect(await tx.claim('mac', 'm1', 'a')).toBe(true);
        expect(await tx.claim('mac', 'm1', 'b')).toBe(false);
        expect(await tx.claim('ip', 'm1', 'b')).toBe(true);
        expect(await tx.claimHolder('mac', 'm1')).toBe('a');
        await tx.releaseAll('mac', 'a');
        expect(await tx.claimHolder('mac', 'm1')).toBeUndefined();
        expect(await tx.claimHolder('ip', 'm1')).toBe('b');
      });
    });

    it('keeps accounts: unique emails, credential versions, removal with everything owned', async () => {
      await store.accounts.create(account('acc-1', 'one@example.com'));
      await expect(
        store.accounts.create(account('acc-2', 'one@example.com')),
      ).rejects.toBeInstanceOf(DuplicateEmailError);
      await store.accounts.create(account('acc-2', 'two@example.com'));
      expect(await store.accounts.count()).toBe(2);
      expect((await store.accounts.byEmail('one@example.com'))?.uuid).toBe('acc-1');
      expect(await store.accounts.byEmail('ONE@example.com')).toBeUndefined();
      expect(await store.accounts.credVersion('acc-1')).toBe(1);
      await store.accounts.setPassword('acc-1', 'scrypt$y', 'ha1');
      expect(await store.accounts.credVersion('acc-1')).toBe(2);
      expect((await store.accounts.byUuid('acc-1'))?.ha1).toBe('ha1');
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 'owned', owner: 'acc-1' }));
        await tx.claim('mac', 'owned-mac', 'owned');
        await tx.insert(record({ uuid: 'kept', owner: 'acc-2' }));
      });
      await store.accounts.remove('acc-1');
      expect(await store.accounts.byUuid('acc-1')).toBeUndefined();
      expect(await store.get('owned')).toBeUndefined();
      expect(await store.get('kept')).toBeDefined();
      expect(await store.read((tx) => tx.claimHolder('mac', 'owned-mac'))).toBeUndefined();
      expect((await store.accounts.list()).map((a) => a.email)).toEqual(['two@example.com']);
    });

    it('removes an account with its audit log, and the tasks and state of what it owned', async () => {
      await store.accounts.create(account('acc-1', 'one@example.com'));
      await store.accounts.create(account('acc-2', 'two@example.com'));
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 'owned', owner: 'acc-1' }));
        await tx.insert(record({ uuid: 'kept', owner: 'acc-2' }));
        await tx.addTask({ id: 't1', type: 'x', target: 'owned', payload: '{}', dueAt: 0 });
        await tx.addTask({ id: 't2', type: 'x', target: 'kept', payload: '{}', dueAt: 0 });
        await tx.putState('vm', 'owned', 'running');
        await tx.putState('vm', 'kept', 'running');
      });
      const entry = (uuid: string, owner: string) =>
        record({ uuid, kind: 'logs', owner, status: 'create', summary: '' });
      await store.append([entry('l1', 'acc-1'), entry('l2', 'acc-2')]);
      await store.accounts.remove('acc-1');
      const logsOf = async (owner: string) =>
        store.read((tx) =>
          tx.list({ kind: 'logs', owner, filters: [], limit: 0, offset: 0, view: 'detail' }),
        );
      expect((await logsOf('acc-1')).total).toBe(0);
      expect((await logsOf('acc-1')).items).toEqual([]);
      expect((await logsOf('acc-2')).total).toBe(1);
      expect(await store.read((tx) => tx.tasksOf('owned'))).toEqual([]);
      expect(await store.read((tx) => tx.tasksOf('kept'))).toHaveLength(1);
      expect(await store.read((tx) => tx.getState('vm', 'owned'))).toBeUndefined();
      expect(await store.read((tx) => tx.getState('vm', 'kept'))).toBe('running');
      expect((await store.snapshot()).objects.map((o) => o.uuid)).toEqual(['kept', 'l2']);
    });

    it('keeps sessions until they expire, the password changes or the account goes', async () => {
      await store.accounts.create(account('acc-s', 's@example.com'));
      const now = Date.now();
      await store.sessions.create({
        idHash: 'h1',
        account: 'acc-s',
        csrfToken: 'c1',
        expiresAt: now + 60_000,
      });
      await store.sessions.create({
        idHash: 'h2',
        account: 'acc-s',
        csrfToken: 'c2',
        expiresAt: now + 60_000,
      });
      expect(await store.sessions.get('h1', now)).toEqual({
        idHash: 'h1',
        account: 'acc-s',
        csrfToken: 'c1',
        expiresAt: now + 60_000,
      });
      expect(await store.sessions.get('h1', now + 60_000)).toBeUndefined();
      await store.sessions.remove('h1');
      expect(await store.sessions.get('h1', now)).toBeUndefined();
      await store.accounts.setPassword('acc-s', 'scrypt$z', null);
      expect(await store.sessions.get('h2', now)).toBeUndefined();
      await store.sessions.create({
        idHash: 'h3',
        account: 'acc-s',
        csrfToken: 'c3',
        expiresAt: now + 60_000,
      });
      await store.accounts.remove('acc-s');
      expect(await store.sessions.get('h3', now)).toBeUndefined();
    });

    it('hands a session row to exactly one of several takers, and never an expired one', async () => {
      await store.accounts.create(account('acc-t', 't@example.com'));
      const now = Date.now();
      const row = { account: 'acc-t', csrfToken: '', expiresAt: now + 30_000 };
      await store.sessions.create({ ...row, idHash: 't1' });
      await store.sessions.create({ ...row, idHash: 't2' });
      const takers = await Promise.all(
        Array.from({ length: 8 }, () => store.sessions.take('t1', now)),
      );
      expect(takers.filter((taken) => taken !== undefined)).toEqual([{ ...row, idHash: 't1' }]);
      expect(await store.sessions.get('t1', now)).toBeUndefined();
      expect(await store.sessions.take('t1', now)).toBeUndefined();
      // Expired: gone all the same, and not answered.
      expect(await store.sessions.take('t2', now + 30_000)).toBeUndefined();
      expect(await store.sessions.get('t2', now)).toBeUndefined();
      expect(await store.sessions.take('nothing', now)).toBeUndefined();
    });

    it('keeps API tokens by hash: listed per account, revoked one by one, gone with the account', async () => {
      await store.accounts.create(account('acc-t', 't@example.com'));
      await store.accounts.create(account('acc-u', 'u@example.com'));
      const token = (id: string, owner: string, createdAt: string) => ({
        id,
        account: owner,
        hash: `hash-${id}`,
        name: `name ${id}`,
        createdAt,
      });
      await store.tokens.create(token('t2', 'acc-t', '2026-01-02T00:00:00Z'));
      await store.tokens.create(token('t1', 'acc-t', '2026-01-01T00:00:00Z'));
      await store.tokens.create(token('u1', 'acc-u', '2026-01-01T00:00:00Z'));
      await expect(
        store.tokens.create({ ...token('t3', 'acc-t', 'x'), hash: 'hash-t1' }),
      ).rejects.toThrow();
      expect(await store.tokens.accountOf('hash-t2')).toEqual({
        uuid: 'acc-t',
        email: 't@example.com',
      });
      expect(await store.tokens.accountOf('t2')).toBeUndefined();
      expect(await store.tokens.list('acc-t')).toEqual([
        token('t1', 'acc-t', '2026-01-01T00:00:00Z'),
        token('t2', 'acc-t', '2026-01-02T00:00:00Z'),
      ]);
      // Another account's token is not one's own to revoke.
      expect(await store.tokens.remove('acc-t', 'u1')).toBe(false);
      expect(await store.tokens.remove('acc-t', 't1')).toBe(true);
      expect(await store.tokens.remove('acc-t', 't1')).toBe(false);
      expect(await store.tokens.accountOf('hash-t1')).toBeUndefined();
      // A new password leaves tokens alone; the account's removal does not.
      await store.accounts.setPassword('acc-t', 'scrypt$z', null);
      expect(await store.tokens.accountOf('hash-t2')).toEqual({
        uuid: 'acc-t',
        email: 't@example.com',
      });
      await store.accounts.remove('acc-t');
      expect(await store.tokens.accountOf('hash-t2')).toBeUndefined();
      expect(await store.tokens.list('acc-t')).toEqual([]);
      expect(await store.tokens.list('acc-u')).toHaveLength(1);
    });

    it('forgets every Digest HA1 on demand', async () => {
      await store.accounts.create({ ...account('acc-d', 'd@example.com'), ha1: 'abc' });
      await store.accounts.clearDigest();
      expect((await store.accounts.byUuid('acc-d'))?.ha1).toBeNull();
    });

    it('appends records with the next commit, and lists a log kind in creation order', async () => {
      const log = (uuid: string, target: string, owner = 'owner-a') =>
        record({ uuid, kind: 'logs', owner, name: target, status: 'create', summary: '{}' });
      // Appends queued together with write jobs commit with them; each caller hears of its own.
      // (The second append waits for the first: concurrent transactions of PostgreSQL may
      // interleave their rows, so their relative order is not creation order.)
      const first = store.append([log('l1', 't1'), log('l2', 't2')]);
      const written = store.write(async (tx) => tx.insert(record({ uuid: 's1' })));
      await first;
      await Promise.all([written, store.append([log('l3', 't1'), log('l4', 't1', 'owner-b')])]);
      await store.write(async (tx) => tx.insert(log('l5', 't2')));
      const page = (query: Partial<ListQuery>) =>
        store.read((tx) =>
          tx.list({
            kind: 'logs',
            owner: 'owner-a',
            filters: [],
            limit: 0,
            offset: 0,
            view: 'detail',
            ...query,
          }),
        );
      const names = (items: readonly Rendered[]) =>
        items.map((item) => (JSON.parse(item.toString()) as { uuid: string }).uuid);
      const all = await page({});
      expect(all.total).toBe(4);
      expect(names(all.items)).toEqual(['l1', 'l2', 'l3', 'l5']);
      const second = await page({ limit: 2, offset: 1 });
      expect([second.total, names(second.items)]).toEqual([4, ['l2', 'l3']]);
      const t1 = await page({ filters: [{ column: 'name', op: 'exact', values: ['t1'] }] });
      expect([t1.total, names(t1.items)]).toEqual([2, ['l1', 'l3']]);
      // A snapshot restored elsewhere keeps them, and removing their owner removes them.
      const snapshot = await store.snapshot();
      expect(snapshot.objects.filter((o) => o.kind === 'logs').map((o) => o.uuid)).toEqual([
        'l1',
        'l2',
        'l3',
        'l4',
        'l5',
      ]);
      await store.restore(snapshot);
      expect(names((await page({})).items)).toEqual(['l1', 'l2', 'l3', 'l5']);
      const removed = await store.write((tx) => tx.removeOwned('owner-a'));
      expect(removed.map((r) => r.uuid).sort()).toEqual(['l1', 'l2', 'l3', 'l5', 's1']);
      expect(await page({})).toEqual({ total: 0, items: [] });
    });

    it('answers a ping from the database', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('counts objects by kind and status, and tasks, from the database', async () => {
      expect(await store.stats()).toEqual({ objects: [], tasks: 0 });
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 's1' }));
        await tx.insert(record({ uuid: 's2', status: 'running' }));
        await tx.insert(record({ uuid: 's3', status: 'running', owner: 'owner-b' }));
        await tx.insert(record({ uuid: 'd1', kind: 'drives', status: null }));
        await tx.addTask({ id: 't1', type: 'server.start', target: 's1', payload: '{}', dueAt: 1 });
        // The audit log: counted from the list counts, whatever its status column holds.
        await tx.insert(record({ uuid: 'l1', kind: 'logs', status: 'create' }));
        await tx.insert(record({ uuid: 'l2', kind: 'logs', status: 'start_send' }));
        await tx.insert(record({ uuid: 'l3', kind: 'logs', status: 'create', owner: 'owner-b' }));
        await tx.insert(record({ uuid: 'z1', kind: 'zones', status: 'ok' }));
      });
      expect(await store.stats()).toEqual({
        objects: [
          { kind: 'drives', status: null, count: 1 },
          { kind: 'logs', status: null, count: 3 },
          { kind: 'servers', status: 'running', count: 2 },
          { kind: 'servers', status: 'stopped', count: 1 },
          { kind: 'zones', status: 'ok', count: 1 },
        ],
        tasks: 1,
      });
    });

    it('keeps tasks, leases them once, and frees them when a lease runs out', async () => {
      const task = (id: string, dueAt: number, target = 'srv') => ({
        id,
        type: 'server.start',
        target,
        payload: '{"a":1}',
        dueAt,
      });
      await store.write(async (tx) => {
        await tx.addTask(task('t2', 2000));
        await tx.addTask(task('t1', 1000));
        await tx.addTask(task('t3', 9000, 'other'));
      });
      expect(await store.nextTaskDue()).toBe(1000);
      expect((await store.read((tx) => tx.tasksOf('srv'))).map((t) => t.id)).toEqual(['t2', 't1']);
      const far = Date.now() + 60_000;
      const leased = await store.leaseTasks('w1', 5000, far, 10);
      expect(leased).toEqual([task('t1', 1000), task('t2', 2000)]);
      // Leased tasks are not handed out again while the lease lives.
      expect(await store.leaseTasks('w2', 5000, far, 10)).toEqual([]);
      // Given up (lease 0), they are free for anyone.
      await store.renewLeases('w1', ['t2'], 0);
      expect((await store.leaseTasks('w2', 5000, far, 10)).map((t) => t.id)).toEqual(['t2']);
      await store.recoverLeases();
      const after = await store.leaseTasks('w3', 5000, far, 10);
      if (store.engine === 'sqlite') expect(after.map((t) => t.id)).toEqual(['t1', 't2']);
      else expect(after).toEqual([]);
      await store.write((tx) => tx.removeTask('t1'));
      expect((await store.read((tx) => tx.tasksOf('srv'))).map((t) => t.id)).toEqual(['t2']);
      expect(await store.leaseTasks('w4', 100_000, far, 10)).toEqual(
        store.engine === 'sqlite' ? [task('t3', 9000, 'other')] : [task('t3', 9000, 'other')],
      );
    });

    it("leases within a scope only its hosts' tasks, the first of each object", async () => {
      const task = (id: string, target: string, host?: string) => ({
        id,
        type: 'server.start',
        target,
        payload: '{}',
        dueAt: 10,
        ...(host === undefined ? {} : { host }),
      });
      await store.write(async (tx) => {
        await tx.addTask(task('a1', 'srv-a', 'host-a'));
        await tx.addTask(task('a2', 'srv-a', 'host-a'));
        await tx.addTask(task('b1', 'srv-b', 'host-b'));
        await tx.addTask(task('n1', 'sub-1'));
        await tx.addTask({ ...task('c1', 'srv-c', 'host-c'), dueAt: 5 });
      });
      // The earliest due: of every task, or of those a scope may lease.
      expect(await store.nextTaskDue()).toBe(5);
      expect(await store.nextTaskDue({ hosts: ['host-a'] })).toBe(10);
      expect(await store.nextTaskDue({ hosts: ['host-c'] })).toBe(5);
      expect((await store.read((tx) => tx.tasksOf('srv-a')))[0]).toEqual(
        task('a1', 'srv-a', 'host-a'),
      );
      const far = Date.now() + 60_000;
      const a = await store.leaseTasks('wa', 100, far, 10, { hosts: ['host-a'] });
      // host-a's process: its first task of srv-a (not the second yet) and the host-less one.
      expect(a.map((t) => t.id).sort()).toEqual(['a1', 'n1']);
      const b = await store.leaseTasks('wb', 100, far, 10, { hosts: ['host-b'] });
      expect(b).toEqual([task('b1', 'srv-b', 'host-b')]);
      // a2 waits for a1 even once a1's lease is given up, in any process of its host.
      await store.renewLeases('wa', ['a1'], 0);
      const again = await store.leaseTasks('wc', 100, far, 10, { hosts: ['host-a'] });
      expect(again.map((t) => t.id)).toEqual(['a1']);
      await store.write((tx) => tx.removeTask('a1'));
      const next = await store.leaseTasks('wc', 100, far, 10, { hosts: ['host-a', 'host-b'] });
      expect(next.map((t) => t.id)).toEqual(['a2']);
    });

    it("keeps components' state by namespace and key", async () => {
      await store.write(async (tx) => {
        await tx.putState('sim', 'b', '2');
        await tx.putState('sim', 'a', '1');
        await tx.putState('other', 'a', 'x');
        await tx.putState('sim', 'a', '1b');
      });
      expect(await store.read((tx) => tx.getState('sim', 'a'))).toBe('1b');
      expect(await store.read((tx) => tx.listState('sim'))).toEqual([
        { key: 'a', value: '1b' },
        { key: 'b', value: '2' },
      ]);
      await store.write((tx) => tx.deleteState('sim', 'a'));
      expect(await store.read((tx) => tx.getState('sim', 'a'))).toBeUndefined();
      expect(await store.read((tx) => tx.claimsOf('mac', 'nobody'))).toEqual([]);
    });

    it('tells commit listeners what each committed transaction changed, and nothing else', async () => {
      const seen: unknown[][] = [];
      const stop = store.onCommit((changes) => seen.push([...changes]));
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 'e1', detail: '{"e":1}' }));
        await tx.addTask({ id: 'te', type: 'x', target: 'e1', payload: '{}', dueAt: 0 });
      });
      await expect(
        store.write(async (tx) => {
          await tx.insert(record({ uuid: 'e2' }));
          throw new Error('rolled back');
        }),
      ).rejects.toThrow();
      await store.write(async (tx) => tx.remove((await tx.get('e1'))!));
      await new Promise((resolve) => setTimeout(resolve, 50));
      stop();
      expect(seen).toEqual([
        [
          { op: 'put', kind: 'servers', uuid: 'e1', owner: 'owner-a', detail: '{"e":1}' },
          { op: 'task' },
        ],
        [{ op: 'remove', kind: 'servers', uuid: 'e1', owner: 'owner-a' }],
      ]);
    });

    it('removes what one owner owns with its claims, tasks and state, and nothing else', async () => {
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 'o1', owner: 'acc-x' }));
        await tx.insert(record({ uuid: 'o2', owner: 'acc-x', kind: 'drives' }));
        await tx.insert(record({ uuid: 'k1', owner: 'acc-y' }));
        await tx.claim('mac', 'o1-mac', 'o1');
        await tx.claim('mac', 'k1-mac', 'k1');
        await tx.addTask({ id: 'to1', type: 't', target: 'o1', payload: '{}', dueAt: 0 });
        await tx.addTask({ id: 'tk1', type: 't', target: 'k1', payload: '{}', dueAt: 0 });
        await tx.putState('sim', 'o1', 'x');
        await tx.putState('sim', 'k1', 'y');
      });
      // Cached reads (SQLite) must forget them too.
      await store.getDetail('o2');
      const seen: unknown[] = [];
      const stop = store.onCommit((changes) => seen.push(...changes));
      const removed = await store.write((tx) => tx.removeOwned('acc-x'));
      expect(removed).toEqual([
        { kind: 'servers', uuid: 'o1' },
        { kind: 'drives', uuid: 'o2' },
      ]);
      expect(await store.get('o1')).toBeUndefined();
      expect(await store.getDetail('o2')).toBeUndefined();
      expect(await store.get('k1')).toBeDefined();
      const page = (owner: string) =>
        store.read((tx) =>
          tx.list({ kind: 'servers', owner, filters: [], limit: 0, offset: 0, view: 'summary' }),
        );
      expect((await page('acc-x')).total).toBe(0);
      expect((await page('acc-y')).total).toBe(1);
      expect(await store.read((tx) => tx.claimHolder('mac', 'o1-mac'))).toBeUndefined();
      expect(await store.read((tx) => tx.claimHolder('mac', 'k1-mac'))).toBe('k1');
      expect(await store.read((tx) => tx.tasksOf('o1'))).toEqual([]);
      expect(await store.read((tx) => tx.tasksOf('k1'))).toHaveLength(1);
      expect(await store.read((tx) => tx.listState('sim'))).toEqual([{ key: 'k1', value: 'y' }]);
      expect(await store.write((tx) => tx.removeOwned('acc-x'))).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      stop();
      expect(seen).toEqual([
        { op: 'remove', kind: 'servers', uuid: 'o1', owner: 'acc-x' },
        { op: 'remove', kind: 'drives', uuid: 'o2', owner: 'acc-x' },
      ]);
    });

    it('takes a snapshot of every row and restores it exactly, replacing what was there', async () => {
      await store.accounts.create(account('acc-1', 'one@example.com'));
      await store.accounts.create({ ...account('acc-2', 'two@example.com'), ha1: 'h' });
      await store.sessions.create({
        idHash: 'sess',
        account: 'acc-1',
        csrfToken: 'c',
        expiresAt: Date.now() + 60_000,
      });
      await store.tokens.create({
        id: 'tok',
        account: 'acc-1',
        hash: 'tok-hash',
        name: 'ci',
        createdAt: '2026-01-03T00:00:00Z',
      });
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 's1', owner: 'acc-1', name: 'Ünïcode ✓' }));
        await tx.insert(record({ uuid: 's2', owner: 'acc-1', status: null }));
        await tx.insert(record({ uuid: 'lib', owner: null, kind: 'libdrives' }));
        await tx.claim('mac', 'B-mac', 's1');
        await tx.claim('mac', 'a-mac', 's2');
        await tx.addTask({ id: 'ta', type: 't', target: 's1', payload: '{"x":1}', dueAt: 5 });
        await tx.addTask({ id: 'tb', type: 't', target: 's2', payload: '{}', dueAt: 1 });
        await tx.putState('sim', 's1', '{"state":"running"}');
        await tx.putState('Sim', 'a', 'z');
      });
      const s1 = (await store.get('s1'))!;
      await store.write((tx) => tx.update({ ...s1, name: 'renamed' }));
      // A leased task comes back free.
      await store.leaseTasks('w', 10, Date.now() + 60_000, 1);
      const snapshot = await store.snapshot();
      expect(snapshot.objects.map((o) => [o.uuid, o.version])).toEqual([
        ['s1', 2],
        ['s2', 1],
        ['lib', 1],
      ]);
      expect(snapshot.tasks).toEqual([
        { id: 'ta', type: 't', target: 's1', payload: '{"x":1}', dueAt: 5 },
        { id: 'tb', type: 't', target: 's2', payload: '{}', dueAt: 1 },
      ]);
      expect(snapshot.claims.map((c) => c.value)).toEqual(['B-mac', 'a-mac']);
      expect(snapshot.state.map((e) => `${e.namespace}/${e.key}`)).toEqual(['Sim/a', 'sim/s1']);
      expect(snapshot.accounts.map((a) => a.uuid)).toEqual(['acc-1', 'acc-2']);
      expect(snapshot.sessions).toHaveLength(1);
      expect(snapshot.tokens.map((t) => t.id)).toEqual(['tok']);
      const fingerprint = await store.fingerprint();

      // Something else entirely, then the snapshot again.
      await store.accounts.create(account('acc-3', 'three@example.com'));
      await store.write(async (tx) => {
        await tx.insert(record({ uuid: 'gone', owner: 'acc-1' }));
        await tx.removeTask('ta');
      });
      await store.getDetail('gone');
      const seen: unknown[] = [];
      const stop = store.onCommit((changes) => seen.push(...changes));
      await store.restore(snapshot);
      expect(await store.fingerprint()).toBe(fingerprint);
      expect(await store.snapshot()).toEqual(snapshot);
      expect(await store.getDetail('gone')).toBeUndefined();
      expect((await store.getDetail('s1'))?.detail.toString()).toBe(s1.detail);
      expect(await store.accounts.byEmail('three@example.com')).toBeUndefined();
      expect((await store.accounts.byUuid('acc-2'))?.ha1).toBe('h');
      expect(await store.sessions.get('sess', Date.now())).toBeDefined();
      expect(await store.tokens.accountOf('tok-hash')).toMatchObject({ uuid: 'acc-1' });
      const page = await store.read((tx) =>
        tx.list({
          kind: 'servers',
          owner: 'acc-1',
          filters: [{ column: 'name', op: 'contains', values: ['RENAMED'] }],
          limit: 0,
          offset: 0,
          view: 'summary',
        }),
      );
      expect(page.total).toBe(1);
      const all = await store.read((tx) =>
        tx.list({
          kind: 'servers',
          owner: 'acc-1',
          filters: [],
          limit: 0,
          offset: 0,
          view: 'summary',
        }),
      );
      expect(all.total).toBe(2);
      const leased = await store.leaseTasks('w2', 10, Date.now() + 60_000, 10);
      expect(leased.map((t) => t.id)).toEqual(['tb', 'ta']);
      // Versions survive: an update must carry the restored one.
      await store.write(async (tx) => tx.update({ ...(await tx.get('s1'))!, name: 'again' }));
      expect((await store.get('s1'))?.version).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 50));
      stop();
      expect(seen.slice(0, 4)).toEqual([
        { op: 'remove', kind: 'servers', uuid: 's1', owner: 'acc-1' },
        { op: 'remove', kind: 'servers', uuid: 's2', owner: 'acc-1' },
        { op: 'remove', kind: 'libdrives', uuid: 'lib', owner: null },
        { op: 'remove', kind: 'servers', uuid: 'gone', owner: 'acc-1' },
      ]);
      expect(seen.slice(4, 8)).toMatchObject([
        { op: 'put', uuid: 's1' },
        { op: 'put', uuid: 's2' },
        { op: 'put', uuid: 'lib' },
        { op: 'task' },
      ]);

      // An empty snapshot empties the store.
      await store.restore({
        links: [],
        grants: [],
        accounts: [],
        sessions: [],
        tokens: [],
        objects: [],
        claims: [],
        tasks: [],
        state: [],
      });
      expect(await store.accounts.count()).toBe(0);
      expect(await store.get('s1')).toBeUndefined();
      expect(await store.nextTaskDue()).toBeUndefined();
    });

    it('reads a snapshot a batch at a time, and restores from batches or not at all', async () => {
      await store.accounts.create(account('acc-b', 'b@example.com'));
      await store.write(async (tx) => {
        for (let i = 0; i < 1203; i++) {
          await tx.insert(record({ uuid: `b-${String(i).padStart(4, '0')}`, owner: 'acc-b' }));
        }
        await tx.claim('mac', 'm1', 'b-0000');
      });
      const whole = await store.snapshot();
      const seen: { table: string; size: number }[] = [];
      const read = await store.readSnapshot(async (reader) => {
        expect(reader.counts).toMatchObject({ accounts: 1, objects: 1203, claims: 1, tasks: 0 });
        const rows: Record<string, unknown[]> = {};
        for await (const batch of reader.batches()) {
          seen.push({ table: batch.table, size: batch.rows.length });
          rows[batch.table] = [...(rows[batch.table] ?? []), ...batch.rows];
        }
        return rows;
      });
      // Batches of at most 500 rows, tables in dump order, rows as snapshot() gives them.
      expect(seen).toEqual([
        { table: 'accounts', size: 1 },
        { table: 'objects', size: 500 },
        { table: 'objects', size: 500 },
        { table: 'objects', size: 203 },
        { table: 'claims', size: 1 },
      ]);
      expect(read.objects).toEqual(whole.objects);
      const fingerprint = await store.fingerprint();

      // Reading the batches fails half way: nothing changed.
      async function* failing() {
        yield { table: 'accounts' as const, rows: [] };
        yield { table: 'objects' as const, rows: whole.objects.slice(0, 10) };
        throw new Error('the dump ends here');
      }
      await expect(store.restoreFrom(failing())).rejects.toThrow('the dump ends here');
      expect(await store.fingerprint()).toBe(fingerprint);
      expect(await store.get('b-0500')).toBeDefined();

      // From batches: the same as restore() of the whole.
      async function* half() {
        yield { table: 'accounts' as const, rows: whole.accounts };
        yield { table: 'objects' as const, rows: whole.objects.slice(0, 600) };
      }
      await store.restoreFrom(half());
      expect((await store.snapshot()).objects).toHaveLength(600);
      expect(await store.get('b-0700')).toBeUndefined();
      await store.restore(whole);
      expect(await store.fingerprint()).toBe(fingerprint);
    });

    it('has a fingerprint that changes with any write and only then', async () => {
      const empty = await store.fingerprint();
      expect(await store.fingerprint()).toBe(empty);
      await store.write((tx) => tx.insert(record({ uuid: 'f1' })));
      const one = await store.fingerprint();
      expect(one).not.toBe(empty);
      const r = (await store.get('f1'))!;
      await store.write((tx) => tx.update({ ...r, detail: '{"changed":true}' }));
      expect(await store.fingerprint()).not.toBe(one);
    });
  });
}
