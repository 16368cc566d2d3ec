/**
 * A PostgreSQL transaction's reads and writes (`ReadTx`, `WriteTx`); outside a write the same
 * class reads through the pool. Inside a write transaction every read locks its row.
 */
import { ConflictError, errors } from '../../errors.js';
import { accountRemoval } from '../tables.js';
import {
  type CommittedChange,
  fold,
  type Grant,
  type ListPage,
  type ListQuery,
  LOG_KINDS,
  type NewRecord,
  type ObjectQuotas,
  type ObjectRecord,
  type Task,
  type WriteTx,
} from '../types.js';
import { fromTaskRow, putChange, type Queryable, RECORD_COLUMNS, type TaskRow } from './common.js';
import { cachedListPage, type ListCache, listPage } from './lists.js';

export class PgTx implements WriteTx {
  constructor(
    private readonly db: Queryable,
    /** Inside a write transaction: reads lock their rows. */
    private readonly writing: boolean,
    /** What this transaction changes, for the commit listeners. */
    private readonly changes: CommittedChange[],
    /** The read cache, for the reader outside transactions. */
    private readonly cached?: ListCache,
    /** Objects per account, by kind (`Store.setQuotas`). */
    private readonly quotas: ObjectQuotas = new Map(),
  ) {}

  /** The transaction wrote grants (the caches' "anything granted" answers go). */
  grantsWritten = false;

  private get lock(): string {
    return this.writing ? ' FOR UPDATE' : '';
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    const { rows } = await this.db.query<ObjectRecord>(
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE uuid = $1${this.lock}`,
      [uuid],
    );
    return rows[0];
  }

  async getMany(uuids: readonly string[]): Promise<ObjectRecord[]> {
    if (uuids.length === 0) return [];
    const unique = [...new Set(uuids)];
    const { rows } = await this.db.query<ObjectRecord>(
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE uuid = ANY($1::text[]) ORDER BY seq${this.lock}`,
      [unique],
    );
    const byUuid = new Map(rows.map((row) => [row.uuid, row]));
    return unique.flatMap((uuid) => byUuid.get(uuid) ?? []);
  }

  async list(query: ListQuery): Promise<ListPage> {
    if (this.cached && !this.writing) {
      const page = await cachedListPage(this.db, query, this.cached);
      if (page) return page;
    }
    return listPage(this.db, query);
  }

  async claimHolder(namespace: string, value: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ holder: string }>(
      'SELECT holder FROM claims WHERE namespace = $1 AND value = $2',
      [namespace, value],
    );
    return rows[0]?.holder;
  }

  async insert(record: NewRecord): Promise<void> {
    if (LOG_KINDS.includes(record.kind)) {
      await this.db.query(
        `INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, '')`,
        // The audit log has no list fields: its list form is the detail, read from there.
        [
          record.kind,
          record.uuid,
          record.owner,
          record.name,
          record.status,
          record.doc,
          record.detail,
        ],
      );
    } else {
      await this.db.query(
        `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)`,
        [
          record.kind,
          record.uuid,
          record.owner,
          record.name,
          fold(record.name),
          record.status,
          record.doc,
          record.detail,
          record.summary,
        ],
      );
    }
    const quota = record.owner === null ? undefined : this.quotas.get(record.kind);
    // The upsert locks the account's count row until commit: concurrent creates of one account
    // count one after the other, so the quota holds across processes.
    const { rows } = await this.db.query<{ n: number }>(
      `INSERT INTO object_counts (owner, kind, n) VALUES ($1, $2, 1)
       ON CONFLICT (owner, kind) DO UPDATE SET n = object_counts.n + 1${quota === undefined ? '' : ' RETURNING n::integer AS n'}`,
      [record.owner ?? '', record.kind],
    );
    if (quota !== undefined && rows[0]!.n > quota) throw errors.quotaExceeded(record.kind, quota);
    this.changes.push(putChange(record));
  }

  async update(record: ObjectRecord): Promise<void> {
    const result = await this.db.query(
      `UPDATE objects SET name = $1, name_fold = $2, status = $3, version = version + 1,
         doc = $4, detail = $5, summary = $6
       WHERE uuid = $7 AND version = $8`,
      [
        record.name,
        fold(record.name),
        record.status,
        record.doc,
        record.detail,
        record.summary,
        record.uuid,
        record.version,
      ],
    );
    if (result.rowCount !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    this.changes.push(putChange(record));
  }

  async remove(record: ObjectRecord): Promise<void> {
    const result = await this.db.query('DELETE FROM objects WHERE uuid = $1 AND version = $2', [
      record.uuid,
      record.version,
    ]);
    if (result.rowCount !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    await this.db.query('UPDATE object_counts SET n = n - 1 WHERE owner = $1 AND kind = $2', [
      record.owner ?? '',
      record.kind,
    ]);
    await this.db.query('DELETE FROM links WHERE source = $1 OR target = $1', [record.uuid]);
    const granted = await this.db.query<{ grantee: string }>(
      'DELETE FROM grants WHERE object = $1 RETURNING grantee',
      [record.uuid],
    );
    const grantees = granted.rows.map((row) => row.grantee);
    this.changes.push({
      op: 'remove',
      kind: record.kind,
      uuid: record.uuid,
      owner: record.owner,
      ...(grantees.length > 0 ? { grantees } : {}),
    });
  }

  async linksFrom(kind: string, source: string): Promise<string[]> {
    const { rows } = await this.db.query<{ target: string }>(
      'SELECT target FROM links WHERE kind = $1 AND source = $2 ORDER BY target COLLATE "C"',
      [kind, source],
    );
    return rows.map((row) => row.target);
  }

  async linksTo(kind: string, target: string): Promise<string[]> {
    const { rows } = await this.db.query<{ source: string }>(
      `SELECT l.source FROM links l LEFT JOIN objects o ON o.uuid = l.source
       WHERE l.kind = $1 AND l.target = $2 ORDER BY o.seq, l.source COLLATE "C"`,
      [kind, target],
    );
    return rows.map((row) => row.source);
  }

  async setLinks(kind: string, source: string, targets: readonly string[]): Promise<void> {
    await this.db.query('DELETE FROM links WHERE kind = $1 AND source = $2', [kind, source]);
    if (targets.length === 0) return;
    await this.db.query(
      `INSERT INTO links (kind, source, target)
       SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING`,
      [kind, source, [...targets]],
    );
  }

  async grantsOf(object: string): Promise<Grant[]> {
    const { rows } = await this.db.query<{ object: string; grantee: string; permissions: string }>(
      'SELECT object, grantee, permissions FROM grants WHERE object = $1 ORDER BY grantee COLLATE "C"',
      [object],
    );
    return rows.map((row) => ({ ...row, permissions: JSON.parse(row.permissions) as string[] }));
  }

  async grantFor(object: string, grantee: string): Promise<string[] | undefined> {
    const { rows } = await this.db.query<{ permissions: string }>(
      'SELECT permissions FROM grants WHERE object = $1 AND grantee = $2',
      [object, grantee],
    );
    const text = rows[0]?.permissions;
    return text === undefined ? undefined : (JSON.parse(text) as string[]);
  }

  async setGrants(object: string, grants: readonly Omit<Grant, 'object'>[]): Promise<void> {
    this.grantsWritten = true;
    await this.db.query('DELETE FROM grants WHERE object = $1', [object]);
    for (const grant of grants) {
      await this.db.query('INSERT INTO grants (object, grantee, permissions) VALUES ($1, $2, $3)', [
        object,
        grant.grantee,
        JSON.stringify(grant.permissions),
      ]);
    }
  }

  async claim(namespace: string, value: string, holder: string): Promise<boolean> {
    await this.db.query(
      'INSERT INTO claims (namespace, value, holder) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [namespace, value, holder],
    );
    return (await this.claimHolder(namespace, value)) === holder;
  }

  async releaseAll(namespace: string, holder: string): Promise<void> {
    await this.db.query('DELETE FROM claims WHERE namespace = $1 AND holder = $2', [
      namespace,
      holder,
    ]);
  }

  async byStatus(
    kind: string,
    statuses: readonly string[],
    owner?: string,
  ): Promise<ObjectRecord[]> {
    if (statuses.length === 0) return [];
    const ownerClause = owner === undefined ? '' : ' AND owner = $3';
    const { rows } = await this.db.query<ObjectRecord>(
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE kind = $1 AND status = ANY($2::text[])${ownerClause} ORDER BY seq`,
      owner === undefined ? [kind, [...statuses]] : [kind, [...statuses], owner],
    );
    return rows;
  }

  async claimsOf(namespace: string, holder: string): Promise<string[]> {
    const { rows } = await this.db.query<{ value: string }>(
      'SELECT value FROM claims WHERE namespace = $1 AND holder = $2 ORDER BY value',
      [namespace, holder],
    );
    return rows.map((row) => row.value);
  }

  async tasksOf(target: string): Promise<Task[]> {
    const { rows } = await this.db.query<TaskRow>(
      'SELECT id, type, target, payload, due_at, host FROM tasks WHERE target = $1 ORDER BY seq',
      [target],
    );
    return rows.map(fromTaskRow);
  }

  async addTask(task: Task): Promise<void> {
    await this.db.query(
      'INSERT INTO tasks (id, type, target, payload, due_at, host) VALUES ($1, $2, $3, $4, $5, $6)',
      [task.id, task.type, task.target, task.payload, task.dueAt, task.host ?? null],
    );
    if (!this.changes.some((change) => change.op === 'task')) this.changes.push({ op: 'task' });
  }

  async removeTask(id: string): Promise<void> {
    await this.db.query('DELETE FROM tasks WHERE id = $1', [id]);
  }

  async getState(namespace: string, key: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ value: string }>(
      'SELECT value FROM component_state WHERE namespace = $1 AND key = $2',
      [namespace, key],
    );
    return rows[0]?.value;
  }

  async listState(namespace: string): Promise<{ key: string; value: string }[]> {
    const { rows } = await this.db.query<{ key: string; value: string }>(
      'SELECT key, value FROM component_state WHERE namespace = $1 ORDER BY key',
      [namespace],
    );
    return rows;
  }

  async putState(namespace: string, key: string, value: string): Promise<void> {
    await this.db.query(
      `INSERT INTO component_state (namespace, key, value) VALUES ($1, $2, $3)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value`,
      [namespace, key, value],
    );
  }

  async deleteState(namespace: string, key: string): Promise<void> {
    await this.db.query('DELETE FROM component_state WHERE namespace = $1 AND key = $2', [
      namespace,
      key,
    ]);
  }

  async removeOwned(owner: string): Promise<Pick<ObjectRecord, 'kind' | 'uuid'>[]> {
    const { rows: removed } = await this.db.query<{ kind: string; uuid: string }>(
      `SELECT kind, uuid FROM (
         SELECT kind, uuid, 0 AS log, seq FROM objects WHERE owner = $1
         UNION ALL SELECT kind, uuid, 1 AS log, seq FROM log_entries WHERE owner = $1
       ) owned ORDER BY log, seq`,
      [owner],
    );
    if (removed.length === 0) return [];
    for (const sql of accountRemoval('$1', true)) await this.db.query(sql, [owner]);
    for (const { kind, uuid } of removed) this.changes.push({ op: 'remove', kind, uuid, owner });
    return removed;
  }
}
