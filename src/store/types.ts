/**
 * The store interface. Every implementation (SQLite, PostgreSQL) passes the same behaviour suite
 * (`store/behaviour.ts`). Nothing above this interface knows which one runs.
 *
 * A resource object is a record: indexed columns for what is looked up, filtered or ordered, the
 * internal document, and its two rendered representations (detail and list), written in the same
 * transaction as the document so reads splice bytes instead of serialising.
 */

export interface ObjectRecord {
  kind: string;
  uuid: string;
  /** Account uuid; null for objects that belong to the cloud (library drives). */
  owner: string | null;
  name: string;
  status: string | null;
  /** Optimistic concurrency: an update must carry the version it read. */
  version: number;
  doc: string;
  detail: string;
  summary: string;
}

export type NewRecord = Omit<ObjectRecord, 'version'>;

/** Rendered JSON as stored: text, or its UTF-8 bytes when a store keeps them encoded. */
export type Rendered = string | Buffer;

export interface DetailView extends Pick<ObjectRecord, 'kind' | 'uuid' | 'owner'> {
  detail: Rendered;
}

/** `tag`: objects carrying any of the tag uuids (a `tag` link). */
export type FilterColumn = 'uuid' | 'name' | 'status' | 'tag';

/** Values are ORed; filters are ANDed. `contains` is case-insensitive and Unicode-aware. */
export interface Filter {
  column: FilterColumn;
  op: 'exact' | 'contains';
  values: readonly string[];
}

export interface ListQuery {
  kind: string;
  owner: string | null;
  /** Also the objects granted to this account (sharing). */
  sharedWith?: string;
  /** With `sharedWith`: only objects whose grant includes this permission (`LIST`). */
  sharedPermission?: string;
  filters: readonly Filter[];
  order?: { column: 'uuid' | 'name'; descending: boolean };
  /** 0 means everything. */
  limit: number;
  offset: number;
  view: 'detail' | 'summary';
  /**
   * The caller sends the items as they are, comma-separated: a store may then answer `joined`
   * instead of `items` (SQLite keeps the join of an unfiltered list's page, or of all of it, until
   * the list changes).
   */
  joined?: boolean;
  /**
   * Aborted when nobody waits for the answer any more (its client went away): a long list stops
   * being read, with the signal's reason thrown.
   */
  signal?: AbortSignal;
}

export interface ListPage {
  total: number;
  /** Rendered JSON of each object, in order (none when `joined` is set). */
  items: Rendered[];
  /** With `ListQuery.joined`: every item's JSON, comma-separated, in order. */
  joined?: Buffer;
  /**
   * With `sharedWith`, when an item is another account's: the permissions granted on it, by
   * index (undefined or a hole for the caller's own objects).
   */
  grants?: (string[] | undefined)[];
}

/**
 * A unit of work the lifecycle engine must finish (boot a server, copy a drive). It is written in
 * the same transaction as the status it finishes (`starting`, `cloning_dst`), so a crash can
 * never leave a status without the work that ends it.
 */
export interface Task {
  id: string;
  type: string;
  /** The object the task finishes; tasks of one target run one at a time. */
  target: string;
  /** JSON. */
  payload: string;
  /** Clock milliseconds: not before then. */
  dueAt: number;
  /**
   * The host whose process must run it (a server's hypervisor host); absent or null for host-less
   * work (a subscription's end, a drive on shared storage), which any process may run.
   */
  host?: string | null;
}

/** Which tasks a process may lease: those of the hosts it serves (and host-less ones). */
export interface LeaseScope {
  hosts: readonly string[];
}

/** What a committed transaction changed, for events and the engine. */
export type CommittedChange =
  /** `detail` is absent when the change came from another process (PostgreSQL). */
  | { op: 'put'; kind: string; uuid: string; owner: string | null; detail?: string }
  | {
      op: 'remove';
      kind: string;
      uuid: string;
      owner: string | null;
      /** The accounts it was shared with (granted anything) when it went, when known. */
      grantees?: readonly string[];
    }
  | { op: 'task' };

export interface ReadTx {
  get(uuid: string): Promise<ObjectRecord | undefined>;
  getMany(uuids: readonly string[]): Promise<ObjectRecord[]>;
  list(query: ListQuery): Promise<ListPage>;
  /** Who holds a unique value (a MAC address, an IP) in a namespace. */
  claimHolder(namespace: string, value: string): Promise<string | undefined>;
  /** Objects of `kind` in any of `statuses`, of one owner or (undefined) of every owner. */
  byStatus(kind: string, statuses: readonly string[], owner?: string): Promise<ObjectRecord[]>;
  /** Every value `holder` holds in `namespace`. */
  claimsOf(namespace: string, holder: string): Promise<string[]>;
  /** Targets `source` links to (the tags an object carries), in target order. */
  linksFrom(kind: string, source: string): Promise<string[]>;
  /** Sources linking to `target` (the objects carrying a tag), in creation order. */
  linksTo(kind: string, target: string): Promise<string[]>;
  /** What other accounts may do with `object`. */
  grantsOf(object: string): Promise<Grant[]>;
  /** What `grantee` may do with `object` (undefined: nothing, not even see it). */
  grantFor(object: string, grantee: string): Promise<string[] | undefined>;
  tasksOf(target: string): Promise<Task[]>;
  /** Internal state of a component (the simulated hypervisor's machines), by key. */
  getState(namespace: string, key: string): Promise<string | undefined>;
  listState(namespace: string): Promise<{ key: string; value: string }[]>;
}

export interface WriteTx extends ReadTx {
  insert(record: NewRecord): Promise<void>;
  /** Writes `record` if the stored version is still `record.version`; else throws ConflictError. */
  update(record: ObjectRecord): Promise<void>;
  remove(record: ObjectRecord): Promise<void>;
  /** Claims a unique value for `holder`; false if another holder has it. */
  claim(namespace: string, value: string, holder: string): Promise<boolean>;
  /** Releases every value `holder` holds in `namespace`. */
  releaseAll(namespace: string, holder: string): Promise<void>;
  /** Replaces the targets `source` links to. */
  setLinks(kind: string, source: string, targets: readonly string[]): Promise<void>;
  /** Replaces what other accounts may do with `object`. */
  setGrants(object: string, grants: readonly Omit<Grant, 'object'>[]): Promise<void>;
  addTask(task: Task): Promise<void>;
  removeTask(id: string): Promise<void>;
  putState(namespace: string, key: string, value: string): Promise<void>;
  deleteState(namespace: string, key: string): Promise<void>;
  /**
   * Removes every object of `owner` with what hangs on them: the claims they hold, the tasks that
   * target them and component state kept under their uuids (test control: reset one account).
   * The account itself stays. Returns the removed objects, in creation order.
   */
  removeOwned(owner: string): Promise<Pick<ObjectRecord, 'kind' | 'uuid'>[]>;
}

export interface Account {
  uuid: string;
  email: string;
  /** `scrypt$N$r$p$salt$hash`, base64 parts. */
  passwordHash: string;
  /** MD5(email:users:password) for HTTP Digest; null when Digest is turned off. */
  ha1: string | null;
  /** Bumped by every credential change; cached logins compare it on every hit. */
  credVersion: number;
  createdAt: string;
}

export interface AccountRepo {
  /** Throws `DuplicateEmailError` if the email is taken. */
  create(account: Account): Promise<void>;
  byEmail(email: string): Promise<Account | undefined>;
  byUuid(uuid: string): Promise<Account | undefined>;
  credVersion(uuid: string): Promise<number | undefined>;
  list(): Promise<Account[]>;
  count(): Promise<number>;
  /** Also ends the account's sessions: a changed password takes effect everywhere. */
  setPassword(uuid: string, passwordHash: string, ha1: string | null): Promise<void>;
  /** Forgets every Digest HA1 (`--no-digest`). */
  clearDigest(): Promise<void>;
  /** Removes the account, its sessions, API tokens and everything it owns, in one transaction. */
  remove(uuid: string): Promise<void>;
}

/** A login session (`sessionid` cookie). Only a hash of the session id is stored. */
export interface Session {
  idHash: string;
  account: string;
  csrfToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface SessionRepo {
  create(session: Session): Promise<void>;
  /** The session if it exists and has not expired. */
  get(idHash: string, now: number): Promise<Session | undefined>;
  remove(idHash: string): Promise<void>;
  /**
   * Removes the row and answers it if it had not expired: of several processes taking one row at
   * once, exactly one gets it (single-use tokens).
   */
  take(idHash: string, now: number): Promise<Session | undefined>;
}

/**
 * An API token of an account (`sigmalite token create`), sent as `Authorization: Bearer TOKEN`.
 * Only a hash of the token is stored; the token itself is shown once, when it is made.
 */
export interface ApiToken {
  /** Names the token in lists and revocations (it is not the secret). */
  id: string;
  account: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  /** What the operator called it (may be empty). */
  name: string;
  createdAt: string;
}

/** An `api_tokens` row, as both stores keep it. */
export interface TokenRow {
  id: string;
  account: string;
  hash: string;
  name: string;
  created_at: string;
}

export function toToken(row: TokenRow): ApiToken {
  return {
    id: row.id,
    account: row.account,
    hash: row.hash,
    name: row.name,
    createdAt: row.created_at,
  };
}

export interface TokenRepo {
  create(token: ApiToken): Promise<void>;
  /** The account a token (by its hash) belongs to; undefined for no such token. */
  accountOf(hash: string): Promise<{ uuid: string; email: string } | undefined>;
  /** An account's tokens, oldest first. */
  list(account: string): Promise<ApiToken[]>;
  /** Revokes one of an account's tokens; false when it has none of that id. */
  remove(account: string, id: string): Promise<boolean>;
}

/**
 * What the authentication of several API processes on one store shares (PostgreSQL): named
 * secrets (the key that signs Digest nonces, the one that places names in throttle slots), the
 * highest Digest nonce count seen per nonce, and the login throttle's token buckets. A store one
 * process holds alone (SQLite) has none: that process's memory is the whole truth.
 */
export interface SharedAuthRepo {
  /** The random secret `name`: made by the first process that asks, the same for every process. */
  secret(name: string): Promise<Buffer>;
  /**
   * Records `count` for `nonce` if it is higher than the count recorded (atomically: of two
   * processes sending one count, one wins); false when it is not (a replay). The row lives until
   * `expiresAt` (milliseconds), after which the nonce is refused as stale anyway.
   */
  advanceNonce(nonce: string, count: number, expiresAt: number): Promise<boolean>;
  /**
   * Takes an attempt from token bucket `slot` of `bucket` (`limit` tokens refilled evenly over
   * `windowMs`) at `now` (milliseconds): the tokens there were before (under 1: none taken).
   */
  takeAttempt(
    bucket: string,
    slot: number,
    limit: number,
    windowMs: number,
    now: number,
  ): Promise<number>;
  /** Gives an attempt back to bucket `slot` of `bucket` (a login that succeeded). */
  giveAttempt(
    bucket: string,
    slot: number,
    limit: number,
    windowMs: number,
    now: number,
  ): Promise<void>;
}

/** A unique value held in a namespace (a MAC address, an IP). */
export interface Claim {
  namespace: string;
  value: string;
  holder: string;
}

/** A relation between two objects (`tag`: an object carries a tag). */
export interface LinkRow {
  kind: string;
  source: string;
  target: string;
}

/** What an account may do with an object it does not own (sharing through ACLs). */
export interface Grant {
  object: string;
  grantee: string;
  permissions: string[];
}

/** One key of a component's internal state. */
export interface StateEntry {
  namespace: string;
  key: string;
  value: string;
}

/**
 * Everything a store holds, as plain rows: what export and import (`control/state.ts`) move
 * between stores of any kind. Objects and tasks are in creation order. Derived data (list counts,
 * case folds) and task leases are not part of it: a restore rebuilds the first and frees the last.
 */
export interface StoreSnapshot {
  accounts: Account[];
  sessions: Session[];
  tokens: ApiToken[];
  objects: ObjectRecord[];
  claims: Claim[];
  tasks: Task[];
  state: StateEntry[];
  links: LinkRow[];
  grants: Grant[];
}

/** The tables of a snapshot, in the order dumps list them (and stores read and write them). */
export const SNAPSHOT_TABLES = [
  'accounts',
  'sessions',
  'tokens',
  'objects',
  'claims',
  'tasks',
  'state',
  'links',
  'grants',
] as const satisfies readonly (keyof StoreSnapshot)[];

export type SnapshotTable = (typeof SNAPSHOT_TABLES)[number];

/** Some rows of one table of a snapshot, in the table's order. */
export type SnapshotBatch = {
  [T in SnapshotTable]: { table: T; rows: StoreSnapshot[T] };
}[SnapshotTable];

/** A snapshot being read: how many rows each table has, and the rows, a batch at a time. */
export interface SnapshotReader {
  counts: Readonly<Record<SnapshotTable, number>>;
  /** Tables in SNAPSHOT_TABLES order; read once. */
  batches(): AsyncIterable<SnapshotBatch>;
}

/**
 * A store opened `exclusive` (an import) that another process has open: a running server, or a
 * command of another shell.
 */
export class StoreBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreBusyError';
  }
}

export class DuplicateEmailError extends Error {
  constructor(email: string) {
    super(`an account with email ${email} already exists`);
    this.name = 'DuplicateEmailError';
  }
}

export interface StoreStats {
  objects: { kind: string; status: string | null; count: number }[];
  tasks: number;
}

/**
 * How many objects of a kind one account may own (`--max-objects-per-account`), by kind; kinds
 * not named are not limited here.
 */
export type ObjectQuotas = ReadonlyMap<string, number>;

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Sets the quotas every later insert is held to: an insert of an account's object of a limited
   * kind that takes the account past its quota throws a 403 `quotaExceeded`, so the transaction
   * (a whole bulk create) changes nothing. The count is the list counts' row, which the insert
   * updates anyway: no query of its own.
   */
  setQuotas(quotas: ObjectQuotas): void;
  readonly accounts: AccountRepo;
  readonly sessions: SessionRepo;
  readonly tokens: TokenRepo;
  /** Authentication state shared by every process on the store; absent for a store of one process. */
  readonly sharedAuth?: SharedAuthRepo;
  /** One object, outside any transaction. */
  get(uuid: string): Promise<ObjectRecord | undefined>;
  /** What a GET of one object needs, and no more (the hot path). */
  getDetail(uuid: string): Promise<DetailView | undefined>;
  read<T>(fn: (tx: ReadTx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction. On a version conflict the whole function is run again (3 times);
   * then it fails with a 503 `concurrency` error. `fn` must have no effects outside `tx`.
   */
  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T>;
  /**
   * Inserts new records that nothing reads back in the same request (the audit log's entries), as
   * `write` would but without a transaction function of their own: SQLite adds them to the next
   * group commit. Resolves once they are committed.
   */
  append(records: readonly NewRecord[]): Promise<void>;
  /**
   * Leases up to `limit` tasks due at `now` (clock time) that no live lease holds, to `worker`
   * until `leaseUntil` (real time, milliseconds): a worker that dies loses its tasks when the
   * lease runs out. Oldest first. With a `scope` (the engine's), only tasks of its hosts or of
   * none, and only the first task (in the order written) of each target that has no earlier
   * one left: the tasks of one object then run in order even across processes.
   */
  leaseTasks(
    worker: string,
    now: number,
    leaseUntil: number,
    limit: number,
    scope?: LeaseScope,
  ): Promise<Task[]>;
  /** Extends (or, with 0, gives up) `worker`'s leases on `ids`. */
  renewLeases(worker: string, ids: readonly string[], leaseUntil: number): Promise<void>;
  /**
   * Frees leases left by a previous run of this process at start. SQLite (one process per file)
   * frees them all; PostgreSQL leaves other processes' live leases alone (they expire).
   */
  recoverLeases(): Promise<void>;
  /**
   * When the earliest task is due (clock time), or undefined when there is none; with a `scope`,
   * of the tasks it may lease (its hosts' and host-less ones: another host's task waiting for a
   * process that serves it is not this process's to wait for).
   */
  nextTaskDue(scope?: LeaseScope): Promise<number | undefined>;
  /** Calls `listener` after every commit (of this process; PostgreSQL: of every process). */
  onCommit(listener: (changes: readonly CommittedChange[]) => void): () => void;
  /**
   * A cheap digest of every stored row: tests compare it before and after a rejected request.
   * Objects of the `LOG_KINDS` (the audit log) are left out.
   */
  fingerprint(): Promise<string>;
  /** Every row, read in one consistent transaction. */
  snapshot(): Promise<StoreSnapshot>;
  /**
   * Every row, read in one consistent transaction and handed to `consume` a batch at a time
   * (what `snapshot()` gives, without holding it whole: `sigmalite export`). The transaction
   * ends when `consume` settles; `consume` must not use the store meanwhile (SQLite: the store
   * is this reader's until then).
   */
  readSnapshot<T>(consume: (reader: SnapshotReader) => Promise<T>): Promise<T>;
  /**
   * How many objects there are of each kind and status, and tasks waiting; a real query on the
   * database (never a cache), so it also says the store is reachable (`/metrics`). The audit log
   * (`LOG_KINDS`, whose status column holds the action) is counted from the list counts, with a
   * null status: it grows with every request, and a scrape must not read all of it. The rest is
   * one index entry read per object: not for frequent probes.
   */
  stats(): Promise<StoreStats>;
  /**
   * A real query on the database that costs the same however much it holds: rejects when the store
   * cannot answer (`/readyz`, probed every few seconds).
   */
  ping(): Promise<void>;
  /**
   * Replaces everything the store holds with `snapshot`, in one transaction: object versions are
   * kept, list counts rebuilt, tasks unleased. Commit listeners hear the removal of every object
   * there was, the put of every object restored, and of tasks if there are any.
   */
  restore(snapshot: StoreSnapshot): Promise<void>;
  /**
   * `restore` from rows that arrive a batch at a time (tables in SNAPSHOT_TABLES order), in one
   * transaction: nothing changes if reading them fails. Commit listeners hear of the change only
   * when there are any to hear it (an import into a store no server uses has none).
   */
  restoreFrom(batches: AsyncIterable<SnapshotBatch>): Promise<void>;
  close(): Promise<void>;
}

/**
 * Kinds that log what happened rather than hold state: the audit log (`logs`), which records
 * rejected requests too. `fingerprint()` leaves them out.
 */
export const LOG_KINDS: readonly string[] = ['logs'];

/**
 * `stats()`'s query, one range of the `(kind, status)` index on each side of every log kind (an
 * inequality would read the log kinds' entries too).
 */
export function statsQuery(count: string): string {
  const kinds = [...LOG_KINDS].sort();
  const ranges = kinds.map((k, i) =>
    i === 0 ? `kind < '${k}'` : `kind > '${kinds[i - 1]}' AND kind < '${k}'`,
  );
  ranges.push(`kind > '${kinds.at(-1)}'`);
  return `${ranges
    .map(
      (range) =>
        `SELECT kind, status, ${count} AS count FROM objects WHERE ${range} GROUP BY kind, status`,
    )
    .join(' UNION ALL ')} ORDER BY kind, status`;
}

/** The log kinds' rows of `stats()`, from the list counts; none for a kind with no entries. */
export function logKindStats(
  counts: readonly { kind: string; n: number | null }[],
): StoreStats['objects'] {
  return counts
    .filter((row) => (row.n ?? 0) > 0)
    .map((row) => ({
      kind: row.kind,
      status: null,
      count: Number(row.n),
    }));
}

/** Rows of `stats()` in their order (kind, then status, nulls first as both stores sort them). */
export function sortStats(rows: StoreStats['objects']): StoreStats['objects'] {
  const order = (a: string | null, b: string | null): number => {
    if (a === b) return 0;
    if (a === null) return -1;
    if (b === null) return 1;
    return a < b ? -1 : 1;
  };
  return [...rows].sort((a, b) => order(a.kind, b.kind) || order(a.status, b.status));
}

/** `kind NOT IN (...)` for the fingerprint's queries (the kinds are constants, not input). */
export function fingerprintedKinds(): string {
  return `kind NOT IN (${LOG_KINDS.map((k) => `'${k}'`).join(', ')})`;
}

/** Case folding shared by every store for `contains` filters. */
export function fold(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

export const WRITE_RETRIES = 3;
