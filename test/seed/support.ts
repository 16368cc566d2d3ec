/**
 * Support for the seed tests: a store that outlives its app (a SQLite file, or a PostgreSQL schema
 * kept until the test disposes of it), apps started on it with a seed file, and seed files.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type App, createApp } from '../../src/app.js';
import { type Config, DEFAULTS } from '../../src/config.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { Client, type User } from '../support/app.js';
import { POSTGRES_URL } from '../support/postgres.js';
import { TEST_STORE } from '../support/stores.js';

/** A store that survives the apps started on it: each `open()` opens it again. */
export interface LastingStore {
  open(): Promise<Store>;
  /** Removes it for good (the file, or the schema). */
  dispose(): Promise<void>;
}

export function lastingStore(): LastingStore {
  if (TEST_STORE === 'postgres') {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    return {
      open: () => PostgresStore.open({ url: POSTGRES_URL, schema, poolSize: 4 }),
      dispose: async () => {
        const store = await PostgresStore.open({
          url: POSTGRES_URL,
          schema,
          dropSchemaOnClose: true,
        });
        await store.close();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sigmalite-seed-'));
  return {
    open: async () => new SqliteStore({ path: join(dir, 'sigmalite.db') }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

const tempDirs: string[] = [];

/** Writes `content` (JSON-encoded unless a string) to a new file; returns its path. */
export function seedFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigmalite-seedfile-'));
  tempDirs.push(dir);
  const file = join(dir, 'seed.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

export function removeSeedFiles(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface SeededApp {
  app: App;
  origin: string;
  /** A client with these credentials that waits for the engine after each write. */
  as(user: User): Client;
  close(): Promise<void>;
}

/** Starts an app on `store` (which it closes with it) on port 0, instant transitions. */
export async function startSeeded(store: Store, config: Partial<Config>): Promise<SeededApp> {
  const app = await createApp(
    { ...DEFAULTS, port: 0, transitions: 'instant', users: undefined, ...config },
    { logger: pino({ level: 'silent' }), store },
  );
  await app.engine.settled();
  const origin = new URL(app.url).origin;
  return {
    app,
    origin,
    as: (user) => new Client(origin, user, () => app.engine.settled()),
    close: () => app.close(),
  };
}
