import type pg from 'pg';

/** PostgreSQL schema, applied in order under an advisory lock (several processes may start at once). */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE objects (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL,
    owner TEXT,
    name TEXT COLLATE "C" NOT NULL,
    name_fold TEXT NOT NULL,
    status TEXT,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    detail TEXT NOT NULL,
    summary TEXT NOT NULL
  );
  CREATE UNIQUE INDEX objects_uuid ON objects(uuid);
  CREATE INDEX objects_owner_kind_seq ON objects(owner, kind, seq);
  CREATE INDEX objects_owner_kind_name ON objects(owner, kind, name);
  CREATE TABLE object_counts (
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (owner, kind)
  );
  CREATE TABLE claims (
    namespace TEXT NOT NULL,
    value TEXT NOT NULL,
    holder TEXT NOT NULL,
    PRIMARY KEY (namespace, value)
  );
  CREATE INDEX claims_holder ON claims(namespace, holder);
  CREATE TABLE accounts (
    uuid TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    ha1 TEXT,
    cred_version INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
  `
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX sessions_account ON sessions(account);
  `,
  `
  CREATE TABLE tasks (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    -- The advisory-lock key of the process holding the lease (see PostgresStore.leaseTasks).
    lease_key INTEGER
  );
  CREATE INDEX tasks_due ON tasks(due_at, seq);
  CREATE INDEX objects_kind_status ON objects(kind, status);
  CREATE INDEX tasks_target ON tasks(target);
  CREATE TABLE component_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
  );
  `,
  `
  CREATE TABLE links (
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (kind, source, target)
  );
  CREATE INDEX links_target ON links(kind, target);
  CREATE TABLE grants (
    object TEXT NOT NULL,
    grantee TEXT NOT NULL,
    permissions TEXT NOT NULL,
    PRIMARY KEY (object, grantee)
  );
  CREATE INDEX grants_grantee ON grants(grantee, object);
  `,
  // API tokens (`sigmalite token`): the hash of each token, never the token.
  `
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX api_tokens_account ON api_tokens(account, created_at);
  `,
  // Jobs list newest change first: their name column holds last_modified (resources/jobs).
  `
  UPDATE objects SET name = to_char(
      ((doc::json)->>'last_modified')::timestamptz AT TIME ZONE 'UTC',
      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    WHERE kind = 'jobs';
  UPDATE objects SET name_fold = lower(name) WHERE kind = 'jobs';
  `,
  // The log kinds (LOG_KINDS) move to a table of their own, as in SQLite: entries are appended on
  // every write request and never changed, and the objects table's indexes (random uuids, names)
  // need not carry them. One catalogue of tables (store/tables.ts) then serves both stores.
  `
  CREATE TABLE log_entries (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL,
    owner TEXT,
    name TEXT COLLATE "C" NOT NULL,
    status TEXT,
    doc TEXT NOT NULL,
    detail TEXT NOT NULL,
    summary TEXT NOT NULL
  );
  CREATE INDEX log_entries_owner_kind_seq ON log_entries(owner, kind, seq);
  INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
    SELECT kind, uuid, owner, name, status, doc, detail, '' FROM objects
    WHERE kind IN ('logs') ORDER BY seq;
  DELETE FROM objects WHERE kind IN ('logs');
  `,
  // Tasks carry the host whose process must run them (null: any process).
  `
  ALTER TABLE tasks ADD COLUMN host TEXT;
  `,
  // What several API processes' authentication shares (auth-state.ts): secrets, Digest nonce
  // counts (until their nonce expires) and the login throttle's fixed-size bucket tables.
  `
  CREATE TABLE shared_secrets (
    name TEXT PRIMARY KEY,
    secret BYTEA NOT NULL
  );
  CREATE TABLE digest_nonces (
    nonce TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX digest_nonces_expiry ON digest_nonces(expires_at);
  CREATE TABLE login_buckets (
    bucket TEXT NOT NULL,
    slot INTEGER NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    before DOUBLE PRECISION NOT NULL,
    stamp DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (bucket, slot)
  );
  `,
];

/** The advisory lock migrations run under (and an exclusive opener holds). */
export const MIGRATION_LOCK = 7_421_133;

/** Brings `schema` to the latest migration, under the migration lock. */
export async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL)');
      const { rows } = await client.query<{ v: number | null }>(
        'SELECT max(version) AS v FROM schema_migrations',
      );
      const current = rows[0]?.v ?? 0;
      for (let i = current; i < POSTGRES_MIGRATIONS.length; i++) {
        await client.query('BEGIN');
        await client.query(POSTGRES_MIGRATIONS[i]!);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        await client.query('COMMIT');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}
