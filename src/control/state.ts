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
import type { Claim, Grant, LinkRow, StateEntry, Store, StoreSnapshot } from '../store/types.js';

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

/** The whole state of `store`, read in one transaction. */
export async function exportState(store: Store, options: ExportOptions = {}): Promise<StateDump> {
  const snapshot = await store.snapshot();
  return {
    format: DUMP_FORMAT,
    version: DUMP_VERSION,
    clock_time: options.clockTime ?? null,
    accounts: snapshot.accounts.map((a) => ({
      uuid: a.uuid,
      email: a.email,
      password_hash: a.passwordHash,
      ha1: a.ha1,
      cred_version: a.credVersion,
      created_at: a.createdAt,
    })),
    sessions: snapshot.sessions.map((s) => ({
      id_hash: s.idHash,
      account: s.account,
      csrf_token: s.csrfToken,
      expires_at: s.expiresAt,
    })),
    tokens: snapshot.tokens.map((t) => ({
      id: t.id,
      account: t.account,
      hash: t.hash,
      name: t.name,
      created_at: t.createdAt,
    })),
    objects: snapshot.objects.map((o) => ({
      kind: o.kind,
      uuid: o.uuid,
      owner: o.owner,
      name: o.name,
      status: o.status,
      version: o.version,
      doc: JSON.parse(o.doc) as DumpObject['doc'],
      detail: JSON.parse(o.detail) as DumpObject['detail'],
      summary: JSON.parse(o.summary) as DumpObject['summary'],
    })),
    claims: snapshot.claims.map((c) => ({
      namespace: c.namespace,
      value: c.value,
      holder: c.holder,
    })),
    tasks: snapshot.tasks.map((t) => ({
      id: t.id,
      type: t.type,
      target: t.target,
      payload: JSON.parse(t.payload) as Json,
      due_at: t.dueAt,
    })),
    state: snapshot.state.map((e) => ({ namespace: e.namespace, key: e.key, value: e.value })),
    links: snapshot.links.map((l) => ({ kind: l.kind, source: l.source, target: l.target })),
    grants: snapshot.grants.map((g) => ({
      object: g.object,
      grantee: g.grantee,
      permissions: [...g.permissions],
    })),
  };
}

/** The tables of a dump, in the order a dump lists them. */
const TABLES = [
  'accounts',
  'sessions',
  'tokens',
  'objects',
  'claims',
  'tasks',
  'state',
  'links',
  'grants',
] as const satisfies readonly (keyof StateDump)[];

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
  yield `{"format":${JSON.stringify(dump.format)},"version":${JSON.stringify(dump.version)},"clock_time":${JSON.stringify(dump.clock_time)}`;
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

function toSnapshot(
  dump: StateDump,
  onRows?: (done: number, total: number) => void,
): StoreSnapshot {
  const total = dumpRowCount(dump);
  let done = 0;
  /** Counts `n` rows more; tells `onRows` every PIECE_ROWS rows and at the end. */
  const tick = (n: number) => {
    const before = done;
    done += n;
    if (
      onRows &&
      (Math.floor(done / PIECE_ROWS) > Math.floor(before / PIECE_ROWS) || done === total)
    )
      onRows(done, total);
  };
  /** `rows` converted, counted one by one (objects are the bulk of a dump). */
  const counted = <T, R>(rows: readonly T[], convert: (row: T) => R): R[] =>
    rows.map((row) => {
      const converted = convert(row);
      tick(1);
      return converted;
    });
  /** `rows` as they are, counted. */
  const kept = <T>(rows: T[]): T[] => {
    tick(rows.length);
    return rows;
  };
  if (total === 0) onRows?.(0, 0);
  return {
    accounts: counted(dump.accounts, (a) => ({
      uuid: a.uuid,
      email: a.email,
      passwordHash: a.password_hash,
      ha1: a.ha1,
      credVersion: a.cred_version,
      createdAt: a.created_at,
    })),
    sessions: counted(dump.sessions, (s) => ({
      idHash: s.id_hash,
      account: s.account,
      csrfToken: s.csrf_token,
      expiresAt: s.expires_at,
    })),
    tokens: counted(dump.tokens, (t) => ({
      id: t.id,
      account: t.account,
      hash: t.hash,
      name: t.name,
      createdAt: t.created_at,
    })),
    // As the resources write them (resources/common.ts toRecord): the document with
    // JSON.stringify, the rendered forms canonical. Both are stable under parse and write again.
    objects: counted(dump.objects, (o) => ({
      kind: o.kind,
      uuid: o.uuid,
      owner: o.owner,
      name: o.name,
      status: o.status,
      version: o.version,
      doc: JSON.stringify(o.doc),
      detail: canonicalJson(o.detail),
      summary: canonicalJson(o.summary),
    })),
    claims: kept(dump.claims),
    tasks: counted(dump.tasks, (t) => ({
      id: t.id,
      type: t.type,
      target: t.target,
      payload: JSON.stringify(t.payload),
      dueAt: t.due_at,
    })),
    state: kept(dump.state),
    links: kept(dump.links),
    grants: kept(dump.grants),
  };
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

type FieldType = 'string' | 'string|null' | 'integer' | 'object' | 'json';

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
  tasks: { id: 'string', type: 'string', target: 'string', payload: 'json', due_at: 'integer' },
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
  if (value.format !== DUMP_FORMAT) {
    throw new DumpError('format', `Expected "${DUMP_FORMAT}"`);
  }
  if (value.version !== DUMP_VERSION) {
    throw new DumpError(
      'version',
      `Unsupported version ${JSON.stringify(value.version)}; this sigmalite reads version ${DUMP_VERSION}`,
    );
  }
  const clock = value.clock_time;
  if (clock !== undefined && clock !== null && !Number.isSafeInteger(clock)) {
    throw new DumpError('clock_time', 'Expected milliseconds since the epoch, or null');
  }
  for (const key of Object.keys(value)) {
    if (!['format', 'version', 'clock_time', ...Object.keys(SHAPES)].includes(key)) {
      throw new DumpError(key, 'Unknown key');
    }
  }
  for (const [table, shape] of Object.entries(SHAPES) as [
    keyof typeof SHAPES,
    Record<string, FieldType>,
  ][]) {
    const rows = value[table] ?? (OPTIONAL_TABLES.has(table) ? [] : undefined);
    if (!Array.isArray(rows)) throw new DumpError(table, 'Expected a list');
    const seen = KEYS[table].map(() => new Set<string>());
    rows.forEach((row: unknown, i) => {
      const at = `${table}.${i}`;
      if (!isPlainObject(row)) throw new DumpError(at, 'Expected an object');
      for (const [field, type] of Object.entries(shape))
        checkField(row[field], type, `${at}.${field}`);
      for (const field of Object.keys(row)) {
        if (!Object.hasOwn(shape, field)) throw new DumpError(`${at}.${field}`, 'Unknown key');
      }
      KEYS[table].forEach((fields, k) => {
        const key = JSON.stringify(fields.map((field) => row[field]));
        if (seen[k]!.has(key)) {
          throw new DumpError(`${at}.${fields.join('+')}`, `Duplicate ${fields.join(' and ')}`);
        }
        seen[k]!.add(key);
      });
    });
  }
  // No store keeps NUL characters (PostgreSQL cannot); the API never accepts them either.
  if (JSON.stringify(value).includes('\\u0000')) {
    throw new DumpError(null, 'The NUL character (\\0) is not allowed anywhere in a dump');
  }
  return {
    ...(value as unknown as StateDump),
    tokens: (value.tokens as DumpToken[] | undefined) ?? [],
    links: (value.links as LinkRow[] | undefined) ?? [],
    grants: (value.grants as Grant[] | undefined) ?? [],
    clock_time: (clock as number | undefined) ?? null,
  };
}

function checkField(value: unknown, type: FieldType, point: string): void {
  const ok =
    type === 'string'
      ? typeof value === 'string'
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
      'string|null': 'a string or null',
      integer: 'an integer',
      object: 'a JSON object',
      json: 'a JSON value',
    }[type];
    throw new DumpError(point, `Expected ${expected}`);
  }
}
