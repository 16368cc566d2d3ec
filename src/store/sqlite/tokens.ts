/** API tokens in SQLite (`api_tokens`): hashes only, looked up by hash on every Bearer request. */
import type { Statement } from 'better-sqlite3';
import { type ApiToken, type TokenRepo, type TokenRow, toToken } from '../types.js';

/** What the tokens need of the SQLite store (its statements, under its lock). */
export interface SqliteAccess {
  statement(sql: string): Statement;
  locked<T>(fn: () => T): Promise<T>;
}

export class SqliteTokens implements TokenRepo {
  constructor(private readonly store: SqliteAccess) {}

  create(token: ApiToken): Promise<void> {
    return this.store.locked(() => {
      this.store
        .statement(
          'INSERT INTO api_tokens (id, account, hash, name, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(token.id, token.account, token.hash, token.name, token.createdAt);
    });
  }

  async accountOf(hash: string): Promise<{ uuid: string; email: string } | undefined> {
    return this.store
      .statement(
        'SELECT a.uuid, a.email FROM api_tokens t JOIN accounts a ON a.uuid = t.account WHERE t.hash = ?',
      )
      .get(hash) as { uuid: string; email: string } | undefined;
  }

  async list(account: string): Promise<ApiToken[]> {
    const rows = this.store
      .statement('SELECT * FROM api_tokens WHERE account = ? ORDER BY created_at, id')
      .all(account) as TokenRow[];
    return rows.map(toToken);
  }

  remove(account: string, id: string): Promise<boolean> {
    return this.store.locked(
      () =>
        this.store.statement('DELETE FROM api_tokens WHERE account = ? AND id = ?').run(account, id)
          .changes > 0,
    );
  }
}
