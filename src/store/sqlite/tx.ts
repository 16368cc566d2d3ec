/**
 * A SQLite transaction's reads and writes (`ReadTx`, `WriteTx`). One instance serves the store:
 * the store's FIFO lock decides whose transaction it is.
 */
import { ConflictError, errors } from '../../errors.js';
import { accountRemoval } from '../tables.js';
import {
  fold,
  type Grant,
  type ListPage,
  type ListQuery,
  LOG_KINDS,
  type NewRecord,
  type ObjectRecord,
  type Task,
  type WriteTx,
} from '../types.js';
import type { CachedObject } from './cache.js';
import { RECORD_COLUMNS, type Row, type SqliteAccess, taskRow } from './common.js';
import { cachedObject, listPage } from './lists.js';

export class SqliteTx implements WriteTx {
  constructor(private readonly store: SqliteAccess) {}

  getSync(uuid: string): ObjectRecord | undefined {
    return this.store.statement(`SELECT ${RECORD_COLUMNS} FROM objects WHERE uuid = ?`).get(uuid) as
      | Row
      | undefined;
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    return this.getSync(uuid);
  }

  /** One object's rendered forms, from the cache when it may answer (not inside a write). */
  cachedObject(uuid: string): CachedObject | undefined {
    return cachedObject(this.store, uuid);
  }

  async getMany(uuids: readonly string[]): Promise<ObjectRecord[]> {
    const out: ObjectRecord[] = [];
    for (const uuid of new Set(uuids)) {
      const record = this.getSync(uuid);
      if (record) out.push(record);
    }
    return out;
  }

  async list(query: ListQuery): Promise<ListPage> {
    return listPage(this.store, query);
  }

  async claimHolder(namespace: string, value: string): Promise<string | undefined> {
    return this.store
      .statement('SELECT holder FROM claims WHERE namespace = ? AND value = ?')
      .pluck()
      .get(namespace, value) as string | undefined;
  }

  async insert(record: NewRecord): Promise<void> {
    this.insertSync(record);
  }

  insertSync(record: NewRecord): void {
    if (LOG_KINDS.includes(record.kind)) {
      this.store
        .statement(
          `INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.kind,
          record.uuid,
          record.owner,
          record.name,
          record.status,
          record.doc,
          record.detail,
          // The audit log has no list fields: its list form is the detail, read from there.
          '',
        );
    } else {
      this.store
        .statement(
          `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
           VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
        )
        .run(
          record.kind,
          record.uuid,
          record.owner,
          record.name,
          fold(record.name),
          record.status,
          record.doc,
          record.detail,
          record.summary,
        );
    }
    const quota = record.owner === null ? undefined : this.store.quotas.get(record.kind);
    if (quota === undefined) {
      this.store
        .statement(
          `INSERT INTO object_counts (owner, kind, n) VALUES (?, ?, 1)
           ON CONFLICT (owner, kind) DO UPDATE SET n = n + 1`,
        )
        .run(record.owner ?? '', record.kind);
    } else {
      const count = this.store
        .statement(
          `INSERT INTO object_counts (owner, kind, n) VALUES (?, ?, 1)
           ON CONFLICT (owner, kind) DO UPDATE SET n = n + 1 RETURNING n`,
        )
        .pluck()
        .get(record.owner, record.kind) as number;
      // The caller's transaction (its savepoint) rolls the insert back.
      if (count > quota) throw errors.quotaExceeded(record.kind, quota);
    }
    this.store.changes.push({ op: 'put', record, inserted: true });
  }

  async update(record: ObjectRecord): Promise<void> {
    const result = this.store
      .statement(
        `UPDATE objects SET name = ?, name_fold = ?, status = ?, version = version + 1,
           doc = ?, detail = ?, summary = ?
         WHERE uuid = ? AND version = ?`,
      )
      .run(
        record.name,
        fold(record.name),
        record.status,
        record.doc,
        record.detail,
        record.summary,
        record.uuid,
        record.version,
      );
    if (result.changes !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    this.store.changes.push({ op: 'put', record, inserted: false });
  }

  async remove(record: ObjectRecord): Promise<void> {
    const result = this.store
      .statement('DELETE FROM objects WHERE uuid = ? AND version = ?')
      .run(record.uuid, record.version);
    if (result.changes !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    this.store
      .statement('UPDATE object_counts SET n = n - 1 WHERE owner = ? AND kind = ?')
      .run(record.owner ?? '', record.kind);
    this.store
      .statement('DELETE FROM links WHERE source = ? OR target = ?')
      .run(record.uuid, record.uuid);
    const grantees = this.store
      .statement('DELETE FROM grants WHERE object = ? RETURNING grantee')
      .pluck()
      .all(record.uuid) as string[];
    this.store.changes.push({ op: 'remove', record, ...(grantees.length > 0 ? { grantees } : {}) });
  }

  async linksFrom(kind: string, source: string): Promise<string[]> {
    return this.store
      .statement('SELECT target FROM links WHERE kind = ? AND source = ? ORDER BY target')
      .pluck()
      .all(kind, source) as string[];
  }

  async linksTo(kind: string, target: string): Promise<string[]> {
    return this.store
      .statement(
        `SELECT l.source FROM links l LEFT JOIN objects o ON o.uuid = l.source
         WHERE l.kind = ? AND l.target = ? ORDER BY o.seq, l.source`,
      )
      .pluck()
      .all(kind, target) as string[];
  }

  async setLinks(kind: string, source: string, targets: readonly string[]): Promise<void> {
    this.store.statement('DELETE FROM links WHERE kind = ? AND source = ?').run(kind, source);
    const insert = this.store.statement(
      'INSERT INTO links (kind, source, target) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    for (const target of targets) insert.run(kind, source, target);
  }

  async grantsOf(object: string): Promise<Grant[]> {
    const rows = this.store
      .statement(
        'SELECT object, grantee, permissions FROM grants WHERE object = ? ORDER BY grantee',
      )
      .all(object) as { object: string; grantee: string; permissions: string }[];
    return rows.map((row) => ({ ...row, permissions: JSON.parse(row.permissions) as string[] }));
  }

  async grantFor(object: string, grantee: string): Promise<string[] | undefined> {
    const text = this.store
      .statement('SELECT permissions FROM grants WHERE object = ? AND grantee = ?')
      .pluck()
      .get(object, grantee) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as string[]);
  }

  async setGrants(object: string, grants: readonly Omit<Grant, 'object'>[]): Promise<void> {
    this.store.grantsWritten = true;
    this.store.statement('DELETE FROM grants WHERE object = ?').run(object);
    const insert = this.store.statement(
      'INSERT INTO grants (object, grantee, permissions) VALUES (?, ?, ?)',
    );
    for (const grant of grants)
      insert.run(object, grant.grantee, JSON.stringify(grant.permissions));
  }

  async claim(namespace: string, value: string, holder: string): Promise<boolean> {
    const { changes } = this.store
      .statement(
        'INSERT INTO claims (namespace, value, holder) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(namespace, value, holder);
    // Not inserted: taken already, by this holder (a claim again) or another.
    return changes === 1 || (await this.claimHolder(namespace, value)) === holder;
  }

  async releaseAll(namespace: string, holder: string): Promise<void> {
    this.store
      .statement('DELETE FROM claims WHERE namespace = ? AND holder = ?')
      .run(namespace, holder);
  }

  async byStatus(
    kind: string,
    statuses: readonly string[],
    owner?: string,
  ): Promise<ObjectRecord[]> {
    if (statuses.length === 0) return [];
    const ownerClause = owner === undefined ? '' : ' AND owner = ?';
    return this.store
      .statement(
        `SELECT ${RECORD_COLUMNS} FROM objects WHERE kind = ?${ownerClause} AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY seq`,
      )
      .all(kind, ...(owner === undefined ? [] : [owner]), ...statuses) as Row[];
  }

  async claimsOf(namespace: string, holder: string): Promise<string[]> {
    return this.store
      .statement('SELECT value FROM claims WHERE namespace = ? AND holder = ? ORDER BY value')
      .pluck()
      .all(namespace, holder) as string[];
  }

  async tasksOf(target: string): Promise<Task[]> {
    return this.store
      .statement(
        'SELECT id, type, target, payload, due_at AS dueAt, host FROM tasks WHERE target = ? ORDER BY seq',
      )
      .all(target)
      .map((row) => taskRow(row as Task));
  }

  async addTask(task: Task): Promise<void> {
    this.store
      .statement(
        'INSERT INTO tasks (id, type, target, payload, due_at, host) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(task.id, task.type, task.target, task.payload, task.dueAt, task.host ?? null);
    this.store.tasksAdded = true;
  }

  async removeTask(id: string): Promise<void> {
    this.store.statement('DELETE FROM tasks WHERE id = ?').run(id);
  }

  async getState(namespace: string, key: string): Promise<string | undefined> {
    return this.store
      .statement('SELECT value FROM component_state WHERE namespace = ? AND key = ?')
      .pluck()
      .get(namespace, key) as string | undefined;
  }

  async listState(namespace: string): Promise<{ key: string; value: string }[]> {
    return this.store
      .statement('SELECT key, value FROM component_state WHERE namespace = ? ORDER BY key')
      .all(namespace) as { key: string; value: string }[];
  }

  async putState(namespace: string, key: string, value: string): Promise<void> {
    this.store
      .statement(
        `INSERT INTO component_state (namespace, key, value) VALUES (?, ?, ?)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value`,
      )
      .run(namespace, key, value);
  }

  async deleteState(namespace: string, key: string): Promise<void> {
    this.store
      .statement('DELETE FROM component_state WHERE namespace = ? AND key = ?')
      .run(namespace, key);
  }

  async removeOwned(owner: string): Promise<Pick<ObjectRecord, 'kind' | 'uuid'>[]> {
    const removed = this.store
      .statement(
        `SELECT kind, uuid FROM (
           SELECT kind, uuid, 0 AS log, seq FROM objects WHERE owner = ?
           UNION ALL SELECT kind, uuid, 1 AS log, seq FROM log_entries WHERE owner = ?
         ) ORDER BY log, seq`,
      )
      .all(owner, owner) as Pick<ObjectRecord, 'kind' | 'uuid'>[];
    if (removed.length === 0) return [];
    for (const sql of accountRemoval(':account', true)) {
      this.store.statement(sql).run({ account: owner });
    }
    for (const { kind, uuid } of removed) {
      this.store.changes.push({ op: 'remove', record: { kind, uuid, owner } });
    }
    return removed;
  }
}
