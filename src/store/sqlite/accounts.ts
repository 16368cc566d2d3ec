/** Accounts and login sessions in SQLite. */
import type Database from 'better-sqlite3';
import { accountRemoval } from '../tables.js';
import {
  type Account,
  type AccountRepo,
  DuplicateEmailError,
  type Session,
  type SessionRepo,
} from '../types.js';
import type { SqliteAccess } from './common.js';

export interface AccountRow {
  uuid: string;
  email: string;
  password_hash: string;
  ha1: string | null;
  cred_version: number;
  created_at: string;
}

export class SqliteAccounts implements AccountRepo {
  constructor(private readonly store: SqliteAccess) {}

  private s(sql: string): Database.Statement {
    return this.store.statement(sql);
  }

  create(account: Account): Promise<void> {
    return this.store.locked(() => {
      const taken = this.s('SELECT 1 FROM accounts WHERE email = ?').get(account.email);
      if (taken) throw new DuplicateEmailError(account.email);
      this.s(
        `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(
        account.uuid,
        account.email,
        account.passwordHash,
        account.ha1,
        account.credVersion,
        account.createdAt,
      );
    });
  }

  async byEmail(email: string): Promise<Account | undefined> {
    return toAccount(this.s('SELECT * FROM accounts WHERE email = ?').get(email) as AccountRow);
  }

  async byUuid(uuid: string): Promise<Account | undefined> {
    return toAccount(this.s('SELECT * FROM accounts WHERE uuid = ?').get(uuid) as AccountRow);
  }

  async credVersion(uuid: string): Promise<number | undefined> {
    const { cache } = this.store;
    cache.validate();
    const cached = cache.credVersion(uuid);
    if (cached !== undefined) return cached;
    const version = this.s('SELECT cred_version FROM accounts WHERE uuid = ?').pluck().get(uuid) as
      | number
      | undefined;
    if (version !== undefined) cache.rememberCredVersion(uuid, version);
    return version;
  }

  async list(): Promise<Account[]> {
    const rows = this.s('SELECT * FROM accounts ORDER BY created_at, email').all() as AccountRow[];
    return rows.map((row) => toAccount(row)!);
  }

  async count(): Promise<number> {
    return this.s('SELECT count(*) FROM accounts').pluck().get() as number;
  }

  setPassword(uuid: string, passwordHash: string, ha1: string | null): Promise<void> {
    return this.store.locked(() => {
      this.s(
        'UPDATE accounts SET password_hash = ?, ha1 = ?, cred_version = cred_version + 1 WHERE uuid = ?',
      ).run(passwordHash, ha1, uuid);
      this.s('DELETE FROM sessions WHERE account = ?').run(uuid);
      this.store.cache.forgetAccount(uuid);
    });
  }

  clearDigest(): Promise<void> {
    return this.store.locked(() => {
      this.s('UPDATE accounts SET ha1 = NULL WHERE ha1 IS NOT NULL').run();
    });
  }

  remove(uuid: string): Promise<void> {
    return this.store.locked(() => {
      for (const sql of accountRemoval(':account')) this.s(sql).run({ account: uuid });
      this.store.cache.clear();
    });
  }
}

export interface SessionRow {
  id_hash: string;
  account: string;
  csrf_token: string;
  expires_at: number;
}

export class SqliteSessions implements SessionRepo {
  constructor(private readonly store: SqliteAccess) {}

  create(session: Session): Promise<void> {
    return this.store.locked(() => {
      this.store.statement('DELETE FROM sessions WHERE expires_at <= ?').run(Date.now());
      this.store
        .statement(
          'INSERT INTO sessions (id_hash, account, csrf_token, expires_at) VALUES (?, ?, ?, ?)',
        )
        .run(session.idHash, session.account, session.csrfToken, session.expiresAt);
    });
  }

  async get(idHash: string, now: number): Promise<Session | undefined> {
    const row = this.store
      .statement('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?')
      .get(idHash, now) as SessionRow | undefined;
    return row && toSession(row);
  }

  remove(idHash: string): Promise<void> {
    return this.store.locked(() => {
      this.store.statement('DELETE FROM sessions WHERE id_hash = ?').run(idHash);
    });
  }

  take(idHash: string, now: number): Promise<Session | undefined> {
    return this.store.locked(() => {
      const row = this.store
        .statement('DELETE FROM sessions WHERE id_hash = ? RETURNING *')
        .get(idHash) as SessionRow | undefined;
      return row && row.expires_at > now ? toSession(row) : undefined;
    });
  }
}

export function toSession(row: SessionRow): Session {
  return {
    idHash: row.id_hash,
    account: row.account,
    csrfToken: row.csrf_token,
    expiresAt: row.expires_at,
  };
}

export function toAccount(row: AccountRow | undefined): Account | undefined {
  if (!row) return undefined;
  return {
    uuid: row.uuid,
    email: row.email,
    passwordHash: row.password_hash,
    ha1: row.ha1,
    credVersion: row.cred_version,
    createdAt: row.created_at,
  };
}
