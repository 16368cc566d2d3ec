/**
 * The composition root: builds the store, accounts, resources and HTTP server from a `Config`.
 * No module keeps state of its own, so several apps can run in one process.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type Credentials, ensureAccounts, parseUsers } from './accounts/service.js';
import type { Config } from './config.js';
import type { RouteSpec } from './http/api.js';
import { Authenticator } from './http/auth.js';
import { buildHttpServer } from './http/server.js';
import { cryptoRandom } from './model/random.js';
import { API_PREFIX } from './model/refs.js';
import { accountRoutes } from './resources/accounts/routes.js';
import { balanceRoutes } from './resources/balance/routes.js';
import { DEFAULT_CAPABILITIES } from './resources/capabilities/default.js';
import { capabilitiesRoutes } from './resources/capabilities/routes.js';
import type { Capabilities } from './resources/capabilities/types.js';
import { driveRoutes } from './resources/drives/routes.js';
import type { ResourceEnv } from './resources/env.js';
import { locationRoutes } from './resources/locations/routes.js';
import { profileRoutes } from './resources/profile/routes.js';
import { serverRoutes } from './resources/servers/routes.js';
import { PostgresStore } from './store/postgres/store.js';
import { SqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/types.js';

export interface App {
  /** `http(s)://HOST:PORT/api/2.0/` */
  url: string;
  store: Store;
  http: FastifyInstance;
  /** Accounts created at start with a generated password (to be printed once). */
  generatedUsers: Credentials[];
  close(): Promise<void>;
}

export interface AppOverrides {
  logger?: Logger;
  /** A store opened by the caller (tests give each app a PostgreSQL schema of its own). */
  store?: Store;
}

export const DB_FILE = 'sigmalite.db';

export async function openStore(config: Pick<Config, 'memory' | 'data' | 'store'>): Promise<Store> {
  if (config.store) return PostgresStore.open({ url: config.store });
  if (config.memory) return new SqliteStore({ path: ':memory:' });
  mkdirSync(config.data, { recursive: true });
  return new SqliteStore({ path: join(config.data, DB_FILE) });
}

export function loadCapabilities(file: string | undefined): Capabilities {
  if (!file) return DEFAULT_CAPABILITIES;
  return JSON.parse(readFileSync(file, 'utf8')) as Capabilities;
}

export function createLogger(level: string): Logger {
  return pino({ level }, pino.destination({ fd: 2, sync: false }));
}

export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const store = overrides.store ?? (await openStore(config));
  try {
    const accountOptions = { digest: config.digest };
    if (!config.digest) await store.accounts.clearDigest();
    const generatedUsers = await ensureAccounts(
      store,
      parseUsers(config.users ?? ''),
      accountOptions,
    );
    const env: ResourceEnv = {
      store,
      capabilities: loadCapabilities(config.capabilities),
      defaultCpuType: config.defaultCpuType,
      random: cryptoRandom,
      now: () => new Date(),
    };
    const authenticator = new Authenticator(store, { digest: config.digest });
    const routes: RouteSpec[] = [
      ...accountRoutes(authenticator),
      ...serverRoutes(env),
      ...driveRoutes(env),
      ...profileRoutes(env),
      ...balanceRoutes({ ...env, balance: config.balance }),
      ...capabilitiesRoutes(env),
      ...locationRoutes({ id: 'SIGMALITE', displayName: 'sigmalite', countryCode: 'ZZ' }),
    ];
    const http = await buildHttpServer({
      routes,
      authenticator,
      logger,
      bodyLimit: config.bodyLimit,
      publicUrl: config.publicUrl,
      https:
        config.tlsCert && config.tlsKey
          ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
          : undefined,
    });
    await http.listen({ host: config.host, port: config.port });
    const address = http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const scheme = config.tlsCert ? 'https' : 'http';
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `${scheme}://${host}:${port}${API_PREFIX}/`,
      store,
      http,
      generatedUsers,
      close: async () => {
        await http.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
