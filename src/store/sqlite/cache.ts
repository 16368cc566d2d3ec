/**
 * The SQLite store's read cache: rendered objects, the ordered uuids of each (owner, kind) list,
 * and accounts' credential versions, so that the hot reads (GET of one object, an unfiltered list
 * page, the credential check of a cached login) do not run SQL.
 *
 * It is exact, not eventually consistent: this process's own writes are applied after their
 * COMMIT, and a commit by any other connection (a `sigmalite user` command, another process on
 * the same file) bumps SQLite's `data_version`, which is checked before the cache answers, at most
 * once per event-loop turn; a bump drops everything.
 */
import type { ObjectRecord } from '../types.js';

/**
 * An object's rendered forms, sent as UTF-8 bytes. They are encoded when first read, not when
 * written: most objects a busy writer creates are not read before they change again.
 */
export class CachedObject {
  private detailForm: string | Buffer;
  private summaryForm: string | Buffer;

  constructor(
    readonly kind: string,
    readonly uuid: string,
    readonly owner: string | null,
    detail: string,
    summary: string,
  ) {
    this.detailForm = detail;
    this.summaryForm = summary;
  }

  get detail(): Buffer {
    if (typeof this.detailForm === 'string') this.detailForm = Buffer.from(this.detailForm);
    return this.detailForm;
  }

  get summary(): Buffer {
    if (typeof this.summaryForm === 'string') this.summaryForm = Buffer.from(this.summaryForm);
    return this.summaryForm;
  }
}

export type Change =
  | {
      op: 'put';
      record: Pick<ObjectRecord, 'kind' | 'uuid' | 'owner' | 'detail' | 'summary'>;
      inserted: boolean;
    }
  | {
      op: 'remove';
      record: Pick<ObjectRecord, 'kind' | 'uuid' | 'owner'>;
      /** The accounts it was shared with, for their event streams. */
      grantees?: readonly string[];
    };

export class ReadCache {
  private readonly objects = new Map<string, CachedObject>();
  /** `owner\0kind` -> every uuid of that list, in creation order. */
  private readonly lists = new Map<string, string[]>();
  /**
   * `owner\0kind` -> window (view, offset, limit) -> those items of the list, comma-separated:
   * a page is joined once, not per request (a whole list of thousands too). Dropped when anything
   * in the list changes; the least recently joined list's first when over the limits below.
   */
  private readonly joinedLists = new Map<string, Map<string, Buffer>>();
  private joinedBytes = 0;
  private joinedCount = 0;
  private readonly creds = new Map<string, number>();
  /** Whether anything is granted to an account (lists of accounts without grants skip sharing). */
  private readonly grantees = new Map<string, boolean>();
  private version: number | undefined;
  private checkedThisTurn = false;
  /** Moves on whenever anything cached is changed or dropped (a long read checks it). */
  epoch = 0;

  constructor(
    /** Reads SQLite's `PRAGMA data_version`. */
    private readonly dataVersion: () => number,
    private readonly maxObjects = 100_000,
  ) {}

  /** Drops everything if another connection committed since the last check. */
  validate(): void {
    if (this.checkedThisTurn) return;
    this.checkedThisTurn = true;
    setImmediate(() => {
      this.checkedThisTurn = false;
    });
    const now = this.dataVersion();
    if (this.version !== now) {
      this.clear();
      this.version = now;
    }
  }

  clear(): void {
    this.epoch++;
    this.objects.clear();
    this.lists.clear();
    this.joinedLists.clear();
    this.joinedBytes = 0;
    this.joinedCount = 0;
    this.creds.clear();
    this.grantees.clear();
  }

  object(uuid: string): CachedObject | undefined {
    return this.objects.get(uuid);
  }

  rememberObject(object: CachedObject): void {
    if (this.objects.size >= this.maxObjects) {
      // Oldest first; a forgotten object is read from SQLite again when asked for.
      const oldest = this.objects.keys().next().value;
      if (oldest !== undefined) this.objects.delete(oldest);
    }
    this.objects.set(object.uuid, object);
  }

  list(owner: string | null, kind: string): string[] | undefined {
    return this.lists.get(listKey(owner, kind));
  }

  rememberList(owner: string | null, kind: string, uuids: string[]): void {
    this.lists.set(listKey(owner, kind), uuids);
  }

  joined(owner: string | null, kind: string, window: string): Buffer | undefined {
    return this.joinedLists.get(listKey(owner, kind))?.get(window);
  }

  rememberJoined(owner: string | null, kind: string, window: string, joined: Buffer): void {
    if (joined.length > JOINED_MAX_BYTES) return;
    const key = listKey(owner, kind);
    this.forgetJoined(key, window);
    while (
      this.joinedBytes + joined.length > JOINED_MAX_BYTES ||
      this.joinedCount >= JOINED_MAX_COUNT
    ) {
      const oldest = this.joinedLists.keys().next().value;
      if (oldest === undefined) break;
      this.forgetJoined(oldest);
    }
    const windows = this.joinedLists.get(key) ?? new Map<string, Buffer>();
    windows.set(window, joined);
    // Re-inserted: the list is now the newest.
    this.joinedLists.delete(key);
    this.joinedLists.set(key, windows);
    this.joinedBytes += joined.length;
    this.joinedCount++;
  }

  /** Every window of a list, or the one about to be replaced. */
  private forgetJoined(key: string, window?: string): void {
    const windows = this.joinedLists.get(key);
    if (!windows) return;
    for (const [name, joined] of windows) {
      if (window !== undefined && name !== window) continue;
      this.joinedBytes -= joined.length;
      this.joinedCount--;
      windows.delete(name);
    }
    if (windows.size === 0) this.joinedLists.delete(key);
  }

  credVersion(account: string): number | undefined {
    return this.creds.get(account);
  }

  rememberCredVersion(account: string, version: number): void {
    this.creds.set(account, version);
  }

  hasGrants(grantee: string): boolean | undefined {
    return this.grantees.get(grantee);
  }

  rememberHasGrants(grantee: string, granted: boolean): void {
    this.grantees.set(grantee, granted);
  }

  /** Grants were written: any account's answer may have changed. */
  forgetGrants(): void {
    this.grantees.clear();
  }

  forgetAccount(account: string): void {
    this.creds.delete(account);
  }

  /** This process's committed changes. */
  apply(changes: readonly Change[]): void {
    if (changes.length > 0) this.epoch++;
    for (const change of changes) {
      const { record } = change;
      const key = listKey(record.owner, record.kind);
      const list = this.lists.get(key);
      this.forgetJoined(key);
      if (change.op === 'put') {
        // A cached object is kept current; a new one is cached when first read. Caching what
        // is written (a stream of creates, audit entries) would hold every new object in the
        // heap, and every garbage collection would walk them.
        if (this.objects.has(record.uuid)) this.rememberObject(encoded(change.record));
        if (change.inserted) list?.push(record.uuid);
      } else {
        this.objects.delete(record.uuid);
        if (list) {
          const at = list.lastIndexOf(record.uuid);
          if (at >= 0) list.splice(at, 1);
        }
      }
    }
  }
}

/** The most bytes of joined windows kept (a list larger than this is joined per request). */
const JOINED_MAX_BYTES = 64 * 2 ** 20;
/** The most joined windows kept (pages of one item are small, and there can be many). */
const JOINED_MAX_COUNT = 4096;

function listKey(owner: string | null, kind: string): string {
  return `${owner ?? ''}\u0000${kind}`;
}

/** The cached form of a row or record. */
export function encoded(
  row: Pick<ObjectRecord, 'kind' | 'uuid' | 'owner' | 'detail' | 'summary'>,
): CachedObject {
  return new CachedObject(row.kind, row.uuid, row.owner, row.detail, row.summary);
}
