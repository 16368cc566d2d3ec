/** SQLite schema, applied in order; `PRAGMA user_version` records how far a file has come. */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE objects (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL,
    owner TEXT,
    name TEXT NOT NULL,
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
    n INTEGER NOT NULL,
    PRIMARY KEY (owner, kind)
  ) WITHOUT ROWID;
  CREATE TABLE claims (
    namespace TEXT NOT NULL,
    value TEXT NOT NULL,
    holder TEXT NOT NULL,
    PRIMARY KEY (namespace, value)
  ) WITHOUT ROWID;
  CREATE INDEX claims_holder ON claims(namespace, holder);
  CREATE TABLE accounts (
    uuid TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    ha1 TEXT,
    cred_version INTEGER NOT NULL,
    created_at TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX sessions_account ON sessions(account);
  `,
  `
  CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX tasks_due ON tasks(due_at, seq);
  CREATE INDEX objects_kind_status ON objects(kind, status);
  CREATE INDEX tasks_target ON tasks(target);
  CREATE TABLE component_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
  ) WITHOUT ROWID;
  `,
  `
  CREATE TABLE links (
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (kind, source, target)
  ) WITHOUT ROWID;
  CREATE INDEX links_target ON links(kind, target);
  CREATE TABLE grants (
    object TEXT NOT NULL,
    grantee TEXT NOT NULL,
    permissions TEXT NOT NULL,
    PRIMARY KEY (object, grantee)
  ) WITHOUT ROWID;
  CREATE INDEX grants_grantee ON grants(grantee, object);
  `,
  // The log kinds (LOG_KINDS) move to a table of their own: entries are appended on every write
  // request and never changed, and the objects table's indexes (keyed by random uuids and by
  // name) made each entry dirty several scattered pages that every commit then wrote out.
  `
  CREATE TABLE log_entries (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL,
    owner TEXT,
    name TEXT NOT NULL,
    status TEXT,
    doc TEXT NOT NULL,
    detail TEXT NOT NULL,
    summary TEXT NOT NULL
  );
  CREATE INDEX log_entries_owner_kind_seq ON log_entries(owner, kind, seq);
  INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
    SELECT kind, uuid, owner, name, status, doc, detail, summary FROM objects
    WHERE kind IN ('logs') ORDER BY seq;
  DELETE FROM objects WHERE kind IN ('logs');
  `,
  // API tokens (`sigmalite token`): the hash of each token, never the token.
  `
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX api_tokens_account ON api_tokens(account, created_at);
  `,
  // Jobs list newest change first: their name column holds last_modified (resources/jobs).
  `
  UPDATE objects SET name = strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(doc, '$.last_modified'))
    WHERE kind = 'jobs';
  UPDATE objects SET name_fold = lower(name) WHERE kind = 'jobs';
  `,
  // Tasks carry the host whose process must run them (null: any process).
  `
  ALTER TABLE tasks ADD COLUMN host TEXT;
  `,
];
