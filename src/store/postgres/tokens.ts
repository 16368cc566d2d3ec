/** API tokens in PostgreSQL (`api_tokens`): hashes only, looked up by hash on every Bearer request. */
import type pg from 'pg';
import { type ApiToken, type TokenRepo, type TokenRow, toToken } from '../types.js';

export class PgTokens implements TokenRepo {
  constructor(private readonly pool: pg.Pool) {}

  async create(token: ApiToken): Promise<void> {
    await this.pool.query(
      'INSERT INTO api_tokens (id, account, hash, name, created_at) VALUES ($1, $2, $3, $4, $5)',
      [token.id, token.account, token.hash, token.name, token.createdAt],
    );
  }

  async accountOf(hash: string): Promise<{ uuid: string; email: string } | undefined> {
    const { rows } = await this.pool.query<{ uuid: string; email: string }>(
      'SELECT a.uuid, a.email FROM api_tokens t JOIN accounts a ON a.uuid = t.account WHERE t.hash = $1',
      [hash],
    );
    return rows[0];
  }

  async list(account: string): Promise<ApiToken[]> {
    const { rows } = await this.pool.query<TokenRow>(
      'SELECT * FROM api_tokens WHERE account = $1 ORDER BY created_at, id COLLATE "C"',
      [account],
    );
    return rows.map(toToken);
  }

  async remove(account: string, id: string): Promise<boolean> {
    const result = await this.pool.query('DELETE FROM api_tokens WHERE account = $1 AND id = $2', [
      account,
      id,
    ]);
    return (result.rowCount ?? 0) > 0;
  }
}
