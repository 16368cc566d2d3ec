/**
 * Authentication state several API processes share (`SharedAuthRepo`): each operation is one
 * statement, atomic on its row, so processes never need a transaction of their own for it.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { SharedAuthRepo } from '../types.js';

/** Expired nonce rows are deleted at most this often (by whichever call comes after). */
const NONCE_SWEEP_MS = 60_000;

/** A bucket's tokens at `$5` (now), refilled from its stamp: `limit` ($3) per `windowMs` ($4). */
const REFILLED =
  'LEAST($3::float8, b.tokens + GREATEST(0, $5::float8 - b.stamp) * $3::float8 / $4::float8)';

export class PgSharedAuth implements SharedAuthRepo {
  private lastSweep = 0;

  constructor(private readonly pool: pg.Pool) {}

  async secret(name: string): Promise<Buffer> {
    // Of processes racing to make it, the first insert wins and everyone reads the winner.
    await this.pool.query(
      'INSERT INTO shared_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, randomBytes(32)],
    );
    const { rows } = await this.pool.query<{ secret: Buffer }>(
      'SELECT secret FROM shared_secrets WHERE name = $1',
      [name],
    );
    return rows[0]!.secret;
  }

  async advanceNonce(nonce: string, count: number, expiresAt: number): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastSweep > NONCE_SWEEP_MS) {
      this.lastSweep = now;
      await this.pool.query('DELETE FROM digest_nonces WHERE expires_at < $1', [now]);
    }
    const { rowCount } = await this.pool.query(
      `INSERT INTO digest_nonces AS d (nonce, count, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (nonce) DO UPDATE SET count = EXCLUDED.count WHERE d.count < EXCLUDED.count`,
      [nonce, count, expiresAt],
    );
    return (rowCount ?? 0) > 0;
  }

  async takeAttempt(
    bucket: string,
    slot: number,
    limit: number,
    windowMs: number,
    now: number,
  ): Promise<number> {
    // `before` keeps what there was, so the answer says whether this call took one.
    const { rows } = await this.pool.query<{ before: number }>(
      `INSERT INTO login_buckets AS b (bucket, slot, tokens, before, stamp)
         VALUES ($1, $2, $3::float8 - 1, $3::float8, $5)
       ON CONFLICT (bucket, slot) DO UPDATE SET
         before = ${REFILLED},
         tokens = ${REFILLED} - CASE WHEN ${REFILLED} >= 1 THEN 1 ELSE 0 END,
         stamp = GREATEST(b.stamp, $5::float8)
       RETURNING before`,
      [bucket, slot, limit, windowMs, now],
    );
    return rows[0]!.before;
  }

  async giveAttempt(
    bucket: string,
    slot: number,
    limit: number,
    windowMs: number,
    now: number,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE login_buckets AS b SET tokens = LEAST($3::float8, ${REFILLED} + 1),
         stamp = GREATEST(b.stamp, $5::float8)
       WHERE bucket = $1 AND slot = $2`,
      [bucket, slot, limit, windowMs, now],
    );
  }
}
