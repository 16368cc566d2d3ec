/**
 * Export and import of the whole state as one JSON document (`GET`/`PUT /_sigmalite/state`, and
 * later `sigmalite export` / `sigmalite import`). The format belongs to no store: a dump of a
 * SQLite store imports into an empty PostgreSQL one and gives back the same state.
 *
 * Every row of the store is in it: accounts (with their password hashes: a dump is a secret),
 * sessions, API tokens (hashes), objects (with their versions and rendered forms, exactly as stored), claims, tasks
 * and component state (the simulated hypervisor's machines). Stored JSON text appears as JSON
 * values, and is written back byte for byte as the resources wrote it.
 */
import { canonicalJson, isPlainObject, type Json } from '../model/json.js';
import { SNAPSHOT_BATCH } from '../store/snapshot.js';
import {
  type Claim,
  type Grant,
  type LinkRow,
  SNAPSHOT_TABLES,
  type SnapshotBatch,
  type SnapshotTable,
  type StateEntry,
  type Store,
  type StoreSnapshot,
} from '../store/types.js';
import { dumpEntries } from './dump-reader.js';

export const DUMP_FORMAT = 'sigmalite-state';
export const DUMP_VERSION = 1;

export interface DumpAccount {
  uuid: string;
  email: string;
  password_hash: string;
  ha1: string | null;
  cred_version: number;
  created_at: string;
}

export interface DumpSession {
  id_hash: string;
  account: string;
  csrf_token: string;
  /** Milliseconds since the epoch (real time). */
  expires_at: number;
}

export interface DumpToken {
  id: string;
  account: string;
  /** SHA-256 of the token (the token itself is never kept). */
  hash: string;
  name: string;
  created_at: string;
}

export interface DumpObject {
  kind: string;
  uuid: string;
  owner: string | null;
  name: string;
  status: string | null;
  version: number;
  /** The internal document. */
  doc: { [key: string]: Json };
  /** What a GET of the object answers. */
  detail: { [key: string]: Json };
  /** What a list answers for it. */
  summary: { [key: string]: Json };
}

export interface DumpTask {
  id: string;
  type: string;
  target: string;
  payload: Json;
  /** Milliseconds since the epoch, on the engine's clock. */
  due_at: number;
  /** The host whose process runs it; absent for host-less tasks (and in older dumps). */
  host?: string;
}

export interface StateDump {
  format: typeof DUMP_FORMAT;
  version: typeof DUMP_VERSION;
  /**
   * The engine's clock when the dump was taken (milliseconds since the epoch), or null when no
   * clock ran. Task due times and machine transitions are times of that clock.
   */
  clock_time: number | null;
  accounts: DumpAccount[];
  sessions: DumpSession[];
  /** API tokens (hashes); absent in dumps of versions before tokens. */
  tokens: DumpToken[];
  /** In creation order (lists show objects in that order). */
  objects: DumpObject[];
  claims: Claim[];
  /** In creation order. */
  tasks: DumpTask[];
  state: StateEntry[];
  /** Relations between objects (tags); absent in dumps of versions before sharing. */
  links: LinkRow[];
  grants: Grant[];
}

export interface ExportOptions {
  /** The engine's clock now (see `StateDump.clock_time`). */
  clockTime?: number;
}

/**
 * How a store row becomes a dump row, for each table (export); `toSnapshot` does the reverse.
 * Stored JSON text becomes JSON values.
 */
const TO_DUMP: { [T in SnapshotTable]: (row: StoreSnapshot[T][number]) => unknown } = {
  accounts: (a) => ({
    uuid: a.uuid,
    email: a.email,
    password_hash: a.passwordHash,
    ha1: a.ha1,
    cred_version: a.credVersion,
    created_at: a.createdAt,
  }),
  sessions: (s) => ({
    id_hash: s.idHash,
    account: s.account,
    csrf_token: s.csrfToken,
    expires_at: s.expiresAt,
  }),
  tokens: (t) => ({
    id: t.id,
    account: t.account,
    hash: t.hash,
    name: t.name,
    created_at: t.createdAt,
  }),
  objects: (o) => ({
    kind: o.kind,
    uuid: o.uuid,
    owner: o.owner,
    name: o.name,
    status: o.status,
    version: o.version,
    doc: JSON.parse(o.doc) as DumpObject['doc'],
    detail: JSON.parse(o.detail) as DumpObject['detail'],
    summary: JSON.parse(o.summary) as DumpObject['summary'],
  }),
  claims: (c) => ({ namespace: c.namespace, value: c.value, holder: c.holder }),
  tasks: (t) => ({
    id: t.id,
    type: t.type,
    target: t.target,
    payload: JSON.parse(t.payload) as Json,
    due_at: t.dueAt,
    // Only when set: dumps of host-less tasks read as before hosts existed.
    ...(t.host ? { host: t.host } : {}),
  }),
  state: (e) => ({ namespace: e.namespace, key: e.key, value: e.value }),
  links: (l) => ({ kind: l.kind, source: l.source, target: l.target }),
  grants: (g) => ({ object: g.object, grantee: g.grantee, permissions: [...g.permissions] }),
};

function toDumpRows(batch: SnapshotBatch): unknown[] {
  const convert = TO_DUMP[batch.table] as (row: unknown) => unknown;
  return (batch.rows as unknown[]).map(convert);
}

/** The whole state of `store`, read in one transaction. */
export async function exportState(store: Store, options: ExportOptions = {}): Promise<StateDump> {
  const snapshot = await store.snapshot();
  const dump: Record<string, unknown> = {
    format: DUMP_FORMAT,
    version: DUMP_VERSION,
    clock_time: options.clockTime ?? null,
  };
  for (const table of SNAPSHOT_TABLES) {
    dump[table] = toDumpRows({ table, rows: snapshot[table] } as SnapshotBatch);
  }
  return dump as unknown as StateDump;
}

/** What an export wrote: rows per table. */
export type DumpCounts = Readonly<Record<SnapshotTable, number>>;

/**
 * The whole state of `store` as a dump's text (the text `dumpText` makes of `exportState`'s dump,
 * byte for byte), from one consistent read, a batch of rows at a time: the state is never held
 * whole (`sigmalite export`). `write` is awaited before the next batch is read.
 */
export async function writeDump(
  store: Store,
  write: (text: string) => Promise<void>,
  options: ExportOptions & { onRows?: (done: number, total: number) => void } = {},
): Promise<DumpCounts> {
  return store.readSnapshot(async ({ counts, batches }) => {
    const total = SNAPSHOT_TABLES.reduce((n, table) => n + counts[table], 0);
    let written = 0;
    await write(dumpHead(options.clockTime ?? null));
    const iterator = batches()[Symbol.asyncIterator]();
    let next = await iterator.next();
    for (const table of SNAPSHOT_TABLES) {
      if (counts[table] === 0) {
        await write(`,\n${JSON.stringify(table)}:[]`);
        continue;
      }
      let done = 0;
      while (done < counts[table]) {
        if (next.done || next.value.table !== table) {
          throw new Error(
            `the snapshot's ${table} did not hold the ${counts[table]} rows it counted`,
          );
        }
        const rows = toDumpRows(next.value).map((row) => JSON.stringify(row));
        const head = done === 0 ? `,\n${JSON.stringify(table)}:[\n` : ',\n';
        done += rows.length;
        await write(head + rows.join(',\n') + (done >= counts[table] ? '\n]' : ''));
        written += rows.length;
        options.onRows?.(written, total);
        next = await iterator.next();
      }
    }
    await write('}\n');
    if (total === 0) options.onRows?.(0, 0);
    return counts;
  });
}

function dumpHead(clockTime: number | null): string {
  return `{"format":${JSON.stringify(DUMP_FORMAT)},"version":${JSON.stringify(DUMP_VERSION)},"clock_time":${JSON.stringify(clockTime)}`;
}

/** The tables of a dump, in the order a dump lists them: the store's snapshot tables. */
const TABLES = SNAPSHOT_TABLES;

/** How many rows a dump holds, all tables together (what progress counts). */
export function dumpRowCount(dump: StateDump): number {
  return TABLES.reduce((n, table) => n + dump[table].length, 0);
}

/** Rows per piece of `dumpText`. */
const PIECE_ROWS = 256;

/**
 * A dump as JSON text, in pieces to write one after another (`sigmalite export`): one row a
 * line, so that a backup diffs and greps well. `JSON.parse` of the whole gives the dump back, the
 * same as `JSON.stringify(dump)` would. `onRows(done, total)` is called after each piece is taken.
 */
export function* dumpText(
  dump: StateDump,
  onRows?: (done: number, total: number) => void,
): Generator<string, void, undefined> {
  const total = dumpRowCount(dump);
  let done = 0;
  yield dumpHead(dump.clock_time);
  for (const table of TABLES) {
    const rows: readonly unknown[] = dump[table];
    if (rows.length === 0) {
      yield `,\n${JSON.stringify(table)}:[]`;
      continue;
    }
    for (let i = 0; i < rows.length; i += PIECE_ROWS) {
      const piece = rows.slice(i, i + PIECE_ROWS).map((row) => JSON.stringify(row));
      const head = i === 0 ? `,\n${JSON.stringify(table)}:[\n` : ',\n';
      const tail = i + PIECE_ROWS >= rows.length ? '\n]' : '';
      yield head + piece.join(',\n') + tail;
      done += piece.length;
      onRows?.(done, total);
    }
  }
  yield '}\n';
}

/** What an import brought in. */
export interface ImportSummary {
  clock_time: number | null;
  accounts: number;
  sessions: number;
  tokens: number;
  objects: number;
  claims: number;
  tasks: number;
  state: number;
}

export interface ImportOptions {
  /**
   * Progress: `done` of `total` rows converted for the store (after the dump is checked), every
   * few hundred rows and at the end; then the store's write, one transaction (`write`: 0 of 1
   * before it, 1 of 1 after).
   */
  onProgress?: (stage: 'prepare' | 'write', done: number, total: number) => void;
}

/**
 * Replaces everything `store` holds with a dump, in one transaction (checked first with
 * `parseDump`: a bad dump changes nothing). Moving the clock and restarting the engine around it
 * is the caller's business.
 */
export async function importState(
  store: Store,
  dump: unknown,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const valid = parseDump(dump);
  const { onProgress } = options;
  const snapshot = toSnapshot(
    valid,
    onProgress && ((done, total) => onProgress('prepare', done, total)),
  );
  onProgress?.('write', 0, 1);
  await store.restore(snapshot);
  onProgress?.('write', 1, 1);
  return {
    clock_time: valid.clock_time,
    accounts: valid.accounts.length,
    sessions: valid.sessions.length,
    tokens: valid.tokens.length,
    objects: valid.objects.length,
    claims: valid.claims.length,
    tasks: valid.tasks.length,
    state: valid.state.length,
  };
}

/**
 * How a (checked) dump row becomes a store row, for each table. Objects as the resources write
 * them (resources/common.ts toRecord): the document with JSON.stringify, the rendered forms
 * canonical. Both are stable under parse and write again.
 */
const FROM_DUMP: { [T in SnapshotTable]: (row: never) => StoreSnapshot[T][number] } = {
  accounts: (a: DumpAccount) => ({
    uuid: a.uuid,
    email: a.email,
    passwordHash: a.password_hash,
    ha1: a.ha1,
    credVersion: a.cred_version,
    createdAt: a.created_at,
  }),
  sessions: (s: DumpSession) => ({
    idHash: s.id_hash,
    account: s.account,
    csrfToken: s.csrf_token,
    expiresAt: s.expires_at,
  }),
  tokens: (t: DumpToken) => ({
    id: t.id,
    account: t.account,
    hash: t.hash,
    name: t.name,
    createdAt: t.created_at,
  }),
  objects: (o: DumpObject) => ({
    kind: o.kind,
    uuid: o.uuid,
    owner: o.owner,
    name: o.name,
    status: o.status,
    version: o.version,
    doc: JSON.stringify(o.doc),
    detail: canonicalJson(o.detail),
    summary: canonicalJson(o.summary),
  }),
  claims: (c: Claim) => c,
  tasks: (t: DumpTask) => ({
    id: t.id,
    type: t.type,
    target: t.target,
    payload: JSON.stringify(t.payload),
    dueAt: t.due_at,
    ...(t.host === undefined ? {} : { host: t.host }),
  }),
  state: (e: StateEntry) => e,
  links: (l: LinkRow) => l,
  grants: (g: Grant) => g,
};

function toSnapshot(
  dump: StateDump,
  onRows?: (done: number, total: number) => void,
): StoreSnapshot {
  const total = dumpRowCount(dump);
  let done = 0;
  if (total === 0) onRows?.(0, 0);
  const snapshot: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const convert = FROM_DUMP[table] as (row: unknown) => unknown;
    snapshot[table] = (dump[table] as unknown[]).map((row) => {
      const converted = convert(row);
      done++;
      // Every PIECE_ROWS rows and at the end.
      if (onRows && (done % PIECE_ROWS === 0 || done === total)) onRows(done, total);
      return converted;
    });
  }
  return snapshot as unknown as StoreSnapshot;
}

/** Checks a dump read as it arrives (`sigmalite import`'s first pass): nothing is kept of it. */
export async function checkDumpStream(chunks: AsyncIterable<Buffer>): Promise<DumpSummary> {
  const checker = new DumpChecker();
  for await (const entry of dumpEntries(chunks)) {
    if (entry.type === 'value') checker.value(entry.key, entry.value);
    else if (entry.type === 'array') checker.array(entry.key);
    else checker.element(entry.key, entry.index, entry.value);
  }
  return checker.end();
}

/**
 * Replaces everything `store` holds with a dump read as it arrives, which `checkDumpStream`
 * passed: its rows go to the store a batch at a time, in one transaction (`sigmalite import`'s
 * second pass). `onRows(done, total)` after each batch, `total` from the check.
 */
export async function restoreDumpStream(
  store: Store,
  chunks: AsyncIterable<Buffer>,
  summary: DumpSummary,
  onRows?: (done: number, total: number) => void,
): Promise<void> {
  const total = TABLES.reduce((n, table) => n + summary.rows[table], 0);
  let done = 0;
  async function* batches(): AsyncGenerator<SnapshotBatch> {
    let table: SnapshotTable | undefined;
    let rows: unknown[] = [];
    const flush = () => {
      const batch = { table, rows } as SnapshotBatch;
      done += rows.length;
      rows = [];
      return batch;
    };
    for await (const entry of dumpEntries(chunks)) {
      if (entry.type !== 'element' || !Object.hasOwn(FROM_DUMP, entry.key)) continue;
      const key = entry.key as SnapshotTable;
      if (key !== table && rows.length > 0) yield flush();
      table = key;
      rows.push((FROM_DUMP[key] as (row: unknown) => unknown)(entry.value));
      if (rows.length === SNAPSHOT_BATCH) {
        yield flush();
        onRows?.(done, total);
      }
    }
    if (rows.length > 0) yield flush();
    onRows?.(done, total);
  }
  await store.restoreFrom(batches());
}

/** A dump that cannot be imported; `point` names the offending place (`objects.3.uuid`). */
export class DumpError extends Error {
  constructor(
    readonly point: string | null,
    /** The message without the point. */
    readonly reason: string,
  ) {
    super(point === null ? reason : `${point}: ${reason}`);
    this.name = 'DumpError';
  }
}

/** `string?`: a string, or absent (a field later versions added). */
type FieldType = 'string' | 'string?' | 'string|null' | 'integer' | 'object' | 'json';

const SHAPES = {
  accounts: {
    uuid: 'string',
    email: 'string',
    password_hash: 'string',
    ha1: 'string|null',
    cred_version: 'integer',
    created_at: 'string',
  },
  sessions: { id_hash: 'string', account: 'string', csrf_token: 'string', expires_at: 'integer' },
  tokens: { id: 'string', account: 'string', hash: 'string', name: 'string', created_at: 'string' },
  objects: {
    kind: 'string',
    uuid: 'string',
    owner: 'string|null',
    name: 'string',
    status: 'string|null',
    version: 'integer',
    doc: 'object',
    detail: 'object',
    summary: 'object',
  },
  claims: { namespace: 'string', value: 'string', holder: 'string' },
  tasks: {
    id: 'string',
    type: 'string',
    target: 'string',
    payload: 'json',
    due_at: 'integer',
    host: 'string?',
  },
  state: { namespace: 'string', key: 'string', value: 'string' },
  links: { kind: 'string', source: 'string', target: 'string' },
  grants: { object: 'string', grantee: 'string', permissions: 'json' },
} as const satisfies Record<string, Record<string, FieldType>>;

/** Tables that dumps made before sharing (links, grants) or API tokens existed do not have. */
const OPTIONAL_TABLES = new Set<string>(['links', 'grants', 'tokens']);

/** What makes a row unique in its table. */
const KEYS: Record<keyof typeof SHAPES, readonly string[][]> = {
  accounts: [['uuid'], ['email']],
  sessions: [['id_hash']],
  tokens: [['id'], ['hash']],
  objects: [['uuid']],
  claims: [['namespace', 'value']],
  tasks: [['id']],
  state: [['namespace', 'key']],
  links: [['kind', 'source', 'target']],
  grants: [['object', 'grantee']],
};

/** Checks a parsed JSON value is an importable dump: format, version, every row's shape, keys. */
export function parseDump(value: unknown): StateDump {
  if (!isPlainObject(value)) throw new DumpError(null, 'A state dump is a JSON object');
  const checker = new DumpChecker();
  for (const [key, member] of Object.entries(value)) {
    if (!Array.isArray(member)) {
      checker.value(key, member);
      continue;
    }
    checker.array(key);
    member.forEach((row: unknown, index) => {
      checker.element(key, index, row);
    });
  }
  const { clock_time } = checker.end();
  return {
    ...(value as unknown as StateDump),
    tokens: (value.tokens as DumpToken[] | undefined) ?? [],
    links: (value.links as LinkRow[] | undefined) ?? [],
    grants: (value.grants as Grant[] | undefined) ?? [],
    clock_time,
  };
}

/** What a checked dump holds: its clock and how many rows of each table. */
export interface DumpSummary {
  clock_time: number | null;
  rows: Record<(typeof TABLES)[number], number>;
}

/**
 * Checks a dump as it is read, member by member and row by row (a parsed dump, or one read as it
 * arrives), and answers at the end with the first fault in the order a reader would look for
 * it: the format, the version, the clock, a key that is no table, then each table's rows in
 * table order, then a NUL anywhere. What it keeps is each row's key (to find duplicates).
 */
export class DumpChecker {
  private format: unknown = undefined;
  private version: unknown = undefined;
  private clock: unknown = undefined;
  private unknownKey: string | undefined;
  private readonly seen = new Set<string>();
  private readonly counts = Object.fromEntries(TABLES.map((t) => [t, 0])) as Record<
    (typeof TABLES)[number],
    number
  >;
  private readonly faults = new Map<string, DumpError>();
  private readonly keys = new Map<string, Set<string>[]>();
  private nul = false;

  /** A member that is not an array. */
  value(key: string, value: unknown): void {
    this.seen.add(key);
    if (key === 'format') {
      this.format = value;
      // A file of another kind: no need to read the rest.
      if (value !== DUMP_FORMAT) this.end();
    } else if (key === 'version') this.version = value;
    else if (key === 'clock_time') this.clock = value;
    else if (Object.hasOwn(SHAPES, key)) this.fault(key, new DumpError(key, 'Expected a list'));
    else this.unknownKey ??= key;
    if (typeof value === 'string' && value.includes('\0')) this.nul = true;
  }

  /** A member that is an array (its elements follow). */
  array(key: string): void {
    this.seen.add(key);
    if (!Object.hasOwn(SHAPES, key)) this.unknownKey ??= key;
  }

  element(key: string, index: number, row: unknown): void {
    if (!Object.hasOwn(SHAPES, key)) return;
    const table = key as keyof typeof SHAPES;
    this.counts[table]++;
    if (hasNul(row)) this.nul = true;
    if (this.faults.has(table)) return;
    try {
      this.checkRow(table, index, row);
    } catch (e) {
      if (!(e instanceof DumpError)) throw e;
      this.fault(table, e);
    }
  }

  /** The summary, or the first fault. */
  end(): DumpSummary {
    if (this.format !== DUMP_FORMAT) throw new DumpError('format', `Expected "${DUMP_FORMAT}"`);
    if (this.version !== DUMP_VERSION) {
      throw new DumpError(
        'version',
        `Unsupported version ${JSON.stringify(this.version)}; this sigmalite reads version ${DUMP_VERSION}`,
      );
    }
    const clock = this.clock;
    if (clock !== undefined && clock !== null && !Number.isSafeInteger(clock)) {
      throw new DumpError('clock_time', 'Expected milliseconds since the epoch, or null');
    }
    if (this.unknownKey !== undefined) throw new DumpError(this.unknownKey, 'Unknown key');
    for (const table of Object.keys(SHAPES)) {
      const fault = this.faults.get(table);
      if (fault) throw fault;
      if (!this.seen.has(table) && !OPTIONAL_TABLES.has(table)) {
        throw new DumpError(table, 'Expected a list');
      }
    }
    // No store keeps NUL characters (PostgreSQL cannot); the API never accepts them either.
    if (this.nul) {
      throw new DumpError(null, 'The NUL character (\\0) is not allowed anywhere in a dump');
    }
    return { clock_time: (clock as number | null | undefined) ?? null, rows: { ...this.counts } };
  }

  private fault(table: string, error: DumpError): void {
    if (!this.faults.has(table)) this.faults.set(table, error);
  }

  private checkRow(table: keyof typeof SHAPES, index: number, row: unknown): void {
    const at = `${table}.${index}`;
    const shape: Record<string, FieldType> = SHAPES[table];
    if (!isPlainObject(row)) throw new DumpError(at, 'Expected an object');
    for (const [field, type] of Object.entries(shape))
      checkField(row[field], type, `${at}.${field}`);
    for (const field of Object.keys(row)) {
      if (!Object.hasOwn(shape, field)) throw new DumpError(`${at}.${field}`, 'Unknown key');
    }
    let seen = this.keys.get(table);
    if (!seen) {
      seen = KEYS[table].map(() => new Set<string>());
      this.keys.set(table, seen);
    }
    KEYS[table].forEach((fields, k) => {
      const key = JSON.stringify(fields.map((field) => row[field]));
      if (seen[k]!.has(key)) {
        throw new DumpError(`${at}.${fields.join('+')}`, `Duplicate ${fields.join(' and ')}`);
      }
      seen[k]!.add(key);
    });
  }
}

/** Whether a parsed value holds a NUL character in any string (keys included). */
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(hasNul);
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value))
      if (key.includes('\0') || hasNul(item)) return true;
  }
  return false;
}

function checkField(value: unknown, type: FieldType, point: string): void {
  const ok =
    type === 'string'
      ? typeof value === 'string'
      : type === 'string?'
        ? value === undefined || typeof value === 'string'
        : type === 'string|null'
          ? value === null || typeof value === 'string'
          : type === 'integer'
            ? Number.isSafeInteger(value)
            : type === 'object'
              ? isPlainObject(value)
              : value !== undefined;
  if (!ok) {
    const expected = {
      string: 'a string',
      'string?': 'a string',
      'string|null': 'a string or null',
      integer: 'an integer',
      object: 'a JSON object',
      json: 'a JSON value',
    }[type];
    throw new DumpError(point, `Expected ${expected}`);
  }
}
