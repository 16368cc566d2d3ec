/** Accounts and login sessions in PostgreSQL. */
import type pg from 'pg';
import { accountRemoval } from '../tables.js';
import {
  type Account,
  type AccountRepo,
  DuplicateEmailError,
  type Session,
  type SessionRepo,
} from '../types.js';
import type { PgReadCache } from './cache.js';
import { inTransaction, pgCode, UNIQUE_VIOLATION } from './common.js';
import { accountNote, everythingNote } from './notify.js';

export interface AccountRow {
  uuid: string;
  email: string;
  password_hash: string;
  ha1: string | null;
  cred_version: number;
  created_at: string;
}

/** What accounts need of the store's read cache (see `cache.ts`). */
export interface AccountsCache {
  cache: PgReadCache;
  /** Whether the cache may answer now. */
  fresh(): Promise<boolean>;
  /** Sends a notification in the transaction `client` holds. */
  notify(client: pg.PoolClient, payload: string): Promise<void>;
  /** This process's notification token. */
  token: string;
}

export class PgAccounts implements AccountRepo {
  constructor(
    private readonly pool: pg.Pool,
    private readonly cached: AccountsCache,
  ) {}

  async create(account: Account): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          account.uuid,
          account.email,
          account.passwordHash,
          account.ha1,
          account.credVersion,
          account.createdAt,
        ],
      );
    } catch (e) {
      if (pgCode(e) === UNIQUE_VIOLATION) throw new DuplicateEmailError(account.email);
      throw e;
    }
  }

  private async one(sql: string, value: string): Promise<Account | undefined> {
    const { rows } = await this.pool.query<AccountRow>(sql, [value]);
    return rows[0] && toAccount(rows[0]);
  }

  byEmail(email: string): Promise<Account | undefined> {
    return this.one('SELECT * FROM accounts WHERE email = $1', email);
  }

  byUuid(uuid: string): Promise<Account | undefined> {
    return this.one('SELECT * FROM accounts WHERE uuid = $1', uuid);
  }

  /** From the read cache when it may answer: every cached login checks it on every request. */
  async credVersion(uuid: string): Promise<number | undefined> {
    const { cache } = this.cached;
    const fresh = await this.cached.fresh();
    if (fresh) {
      const hit = cache.credVersion(uuid);
      if (hit !== undefined) return hit;
    }
    const generation = cache.generation;
    const { rows } = await this.pool.query<{ cred_version: number }>(
      'SELECT cred_version FROM accounts WHERE uuid = $1',
      [uuid],
    );
    const version = rows[0]?.cred_version;
    if (fresh && version !== undefined) cache.rememberCredVersion(uuid, version, generation);
    return version;
  }

  async list(): Promise<Account[]> {
    const { rows } = await this.pool.query<AccountRow>(
      'SELECT * FROM accounts ORDER BY created_at, email',
    );
    return rows.map(toAccount);
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
    return Number(rows[0]?.n ?? 0);
  }

  async setPassword(uuid: string, passwordHash: string, ha1: string | null): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(
        'UPDATE accounts SET password_hash = $1, ha1 = $2, cred_version = cred_version + 1 WHERE uuid = $3',
        [passwordHash, ha1, uuid],
      );
      await client.query('DELETE FROM sessions WHERE account = $1', [uuid]);
      await this.cached.notify(client, accountNote(this.cached.token, uuid));
    });
    this.cached.cache.drop([], [uuid]);
  }

  async clearDigest(): Promise<void> {
    await this.pool.query('UPDATE accounts SET ha1 = NULL WHERE ha1 IS NOT NULL');
  }

  async remove(uuid: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      for (const sql of accountRemoval('$1')) await client.query(sql, [uuid]);
      // Its objects went too, unannounced: every process's read cache starts again.
      await this.cached.notify(client, everythingNote(this.cached.token));
    });
    this.cached.cache.clear();
  }
}

export class PgSessions implements SessionRepo {
  constructor(private readonly pool: pg.Pool) {}

  async create(session: Session): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE expires_at <= $1', [Date.now()]);
    await this.pool.query(
      'INSERT INTO sessions (id_hash, account, csrf_token, expires_at) VALUES ($1, $2, $3, $4)',
      [session.idHash, session.account, session.csrfToken, session.expiresAt],
    );
  }

  async get(idHash: string, now: number): Promise<Session | undefined> {
    const { rows } = await this.pool.query<PgSessionRow>(
      'SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2',
      [idHash, now],
    );
    return rows[0] && toPgSession(rows[0]);
  }

  async remove(idHash: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  }

  async take(idHash: string, now: number): Promise<Session | undefined> {
    // One DELETE: of concurrent takers, only the one whose DELETE removed the row sees it.
    const { rows } = await this.pool.query<PgSessionRow>(
      'DELETE FROM sessions WHERE id_hash = $1 RETURNING *',
      [idHash],
    );
    const row = rows[0];
    return row && Number(row.expires_at) > now ? toPgSession(row) : undefined;
  }
}

interface PgSessionRow {
  id_hash: string;
  account: string;
  csrf_token: string;
  expires_at: string;
}

function toPgSession(row: PgSessionRow): Session {
  return {
    idHash: row.id_hash,
    account: row.account,
    csrfToken: row.csrf_token,
    expiresAt: Number(row.expires_at),
  };
}

export function toAccount(row: AccountRow): Account {
  return {
    uuid: row.uuid,
    email: row.email,
    passwordHash: row.password_hash,
    ha1: row.ha1,
    credVersion: row.cred_version,
    createdAt: row.created_at,
  };
}
