/**
 * The composition root: builds the store, accounts, resources and HTTP server from a `Config`.
 * No module keeps state of its own, so several apps can run in one process.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type Credentials, ensureAccounts, parseUsers } from './accounts/service.js';
import type { Config } from './config.js';
import {
  CONTROL_TASK_HANDLERS,
  Control,
  type ControlHandle,
  installControl,
} from './control/index.js';
import { openApiRoute } from './docs/openapi-route.js';
import { type MachineTable, SimulatedCompute } from './drivers/compute/simulated/driver.js';
import { SimulatedStorage } from './drivers/storage/simulated/driver.js';
import { parseTransitions } from './drivers/transitions.js';
import { ControlledClock } from './engine/clock.js';
import { Engine } from './engine/engine.js';
import { IpPool } from './engine/ippool.js';
import { reconcile } from './engine/reconcile.js';
import { SNAPSHOT_TASK_HANDLERS } from './engine/snapshots.js';
import { TASK_HANDLERS } from './engine/tasks.js';
import type { RouteSpec } from './http/api.js';
import { Authenticator } from './http/auth.js';
import { installEvents } from './http/events.js';
import { buildHttpServer } from './http/server.js';
import { LogDestination } from './log-destination.js';
import { Metrics } from './metrics.js';
import { cryptoRandom } from './model/random.js';
import { API_PREFIX } from './model/refs.js';
import { accountRoutes } from './resources/accounts/routes.js';
import { aclRoutes } from './resources/acls/routes.js';
import { balanceRoutes } from './resources/balance/routes.js';
import { billingRoutes } from './resources/billing/routes.js';
import { subscriptionTaskHandlers } from './resources/billing/subscriptions.js';
import { DEFAULT_CAPABILITIES } from './resources/capabilities/default.js';
import { capabilitiesRoutes } from './resources/capabilities/routes.js';
import type { Capabilities } from './resources/capabilities/types.js';
import { cloudStatusRoutes } from './resources/cloudstatus/routes.js';
import { globalContextRoutes } from './resources/context/global.js';
import { ServerContexts } from './resources/context/service.js';
import { readRoutes } from './resources/crud.js';
import { driveActionRoutes } from './resources/drives/actions.js';
import { driveRoutes } from './resources/drives/routes.js';
import type { ResourceEnv } from './resources/env.js';
import { eventSharedViews, eventUri } from './resources/events.js';
import { JOBS } from './resources/jobs/model.js';
import { keypairRoutes } from './resources/keypairs/routes.js';
import { installLibrary, loadLibrary } from './resources/libdrives/catalog.js';
import { libdriveRoutes } from './resources/libdrives/routes.js';
import { locationRoutes } from './resources/locations/routes.js';
import { auditRecorder } from './resources/logs/audit.js';
import { logRoutes } from './resources/logs/routes.js';
import { networkRoutes } from './resources/networking/routes.js';
import { networkSettings } from './resources/networking/settings.js';
import { profileRoutes } from './resources/profile/routes.js';
import { serverActionRoutes, tunnelTarget } from './resources/servers/actions.js';
import { serverExtraRoutes } from './resources/servers/groups.js';
import { serverRoutes } from './resources/servers/routes.js';
import { snapshotRoutes } from './resources/snapshots/routes.js';
import { tagRoutes } from './resources/tags/routes.js';
import { usageRoutes } from './resources/usage/routes.js';
import { readSeedFile } from './seed/file.js';
import { loadSeed, type SeedProgress } from './seed/load.js';
import { startRandom } from './seed/random.js';
import { prepareDataDir } from './store/data-dir.js';
import { PostgresStore } from './store/postgres/store.js';
import { SqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/types.js';
import { installConsole } from './webconsole/install.js';

export interface App {
  /** `http(s)://HOST:PORT/api/2.0/` */
  url: string;
  store: Store;
  http: FastifyInstance;
  /** Accounts created at start with a generated password (to be printed once). */
  generatedUsers: Credentials[];
  engine: Engine;
  clock: ControlledClock;
  compute: SimulatedCompute;
  /** Changes the simulated transition times (`--transitions` syntax). */
  setTransitions(spec: string): void;
  /** The test-control API (`--control`), with its token; undefined without it. */
  control: ControlHandle | undefined;
  /** The API's routes (below `/api/2.0`): the support matrix and OpenAPI are made from them. */
  routes: readonly RouteSpec[];
  metrics: Metrics;
  /** Everything back to a fresh start, accounts kept (as `POST /_sigmalite/reset`). */
  reset(): Promise<void>;
  /** Servers' contexts and their serial protocol (docs/context.md), for drivers and tests. */
  contexts: ServerContexts;
  close(): Promise<void>;
}

export interface AppOverrides {
  logger?: Logger;
  /** A store opened by the caller (tests give each app a PostgreSQL schema of its own). */
  store?: Store;
  /** Where loading `--seed-file` reports its progress (the CLI's bar); silent without. */
  progress?: SeedProgress;
  /** Accounts to create, instead of `config.users` (passwords may hold any character). */
  users?: readonly Credentials[];
}

export const DB_FILE = 'sigmalite.db';

/** The configured store; a server's SQLite file checkpoints in the background (`checkpointer.ts`). */
export async function openStore(
  config: Pick<Config, 'memory' | 'data' | 'store'> & Partial<Pick<Config, 'sqliteSynchronous'>>,
  server = false,
  warn: (message: string) => void = (message) => process.stderr.write(`warning: ${message}\n`),
): Promise<Store> {
  if (config.store) return PostgresStore.open({ url: config.store });
  if (config.memory) return new SqliteStore({ path: ':memory:' });
  const path = join(config.data, DB_FILE);
  for (const warning of prepareDataDir(config.data, path)) warn(warning);
  return new SqliteStore({
    path,
    backgroundCheckpoints: server,
    synchronous: config.sqliteSynchronous === 'NORMAL' ? 'NORMAL' : 'FULL',
  });
}

/** A namespace of the store's component state, as the simulated hypervisor keeps its machines. */
function stateTable(store: Store, namespace: string): MachineTable {
  return {
    get: (key) => store.read((tx) => tx.getState(namespace, key)),
    put: (key, value) => store.write((tx) => tx.putState(namespace, key, value)),
    delete: (key) => store.write((tx) => tx.deleteState(namespace, key)),
    list: () => store.read((tx) => tx.listState(namespace)),
  };
}

export function loadCapabilities(file: string | undefined): Capabilities {
  if (!file) return DEFAULT_CAPABILITIES;
  return JSON.parse(readFileSync(file, 'utf8')) as Capabilities;
}

/** Ready when the store answers a real query and the engine runs. */
async function readiness(
  store: Store,
  engine: Engine,
): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  try {
    await store.ping();
    checks.store = 'ok';
  } catch (e) {
    checks.store = `unreachable: ${(e as Error).message}`;
  }
  checks.engine = engine.state === 'running' ? 'ok' : engine.state;
  return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
}

export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  // JSON lines on stderr, written in batches (log-destination.ts).
  const logDestination = overrides.logger ? undefined : new LogDestination(2);
  const logger = overrides.logger ?? pino({ level: config.logLevel }, logDestination);
  let store: Store;
  try {
    store = overrides.store ?? (await openStore(config, true, (message) => logger.warn(message)));
  } catch (e) {
    logDestination?.close();
    throw e;
  }
  try {
    // --seed: reproducible ids, MACs, passwords and addresses (never secrets: those stay crypto).
    const random = config.seed === undefined ? cryptoRandom : await startRandom(store, config.seed);
    const accountOptions = { digest: config.digest, random };
    if (!config.digest) await store.accounts.clearDigest();
    // --seed-file: read and checked before anything is written (docs/seeding.md).
    const seed = config.seedFile === undefined ? undefined : readSeedFile(config.seedFile);
    const users = overrides.users ?? parseUsers(config.users ?? '');
    // With a seed file, accounts come after it (its accounts count: no admin is generated) and
    // the library is made in its transaction, so that a bad file writes nothing.
    let generatedUsers: Credentials[] = seed
      ? []
      : await ensureAccounts(store, users, accountOptions);
    // The library drives of the catalog (--library), made the store's at every start.
    const library = loadLibrary(config.library);
    if (!seed) await installLibrary(store, library);
    const clock = new ControlledClock();
    let transitions = parseTransitions(config.transitions);
    const setTransitions = (spec: string) => {
      transitions = parseTransitions(spec);
    };
    const machines = stateTable(store, 'sim.machines');
    const compute = new SimulatedCompute({
      clock,
      transitions: () => transitions,
      machines,
      tunnelHost: config.host,
      guestAcpi: config.guestAcpi,
    });
    const storage = new SimulatedStorage(clock, () => transitions);
    const net = networkSettings(config);
    const billing = { startingBalance: config.balance, enforce: config.enforceBilling };
    const ips = new IpPool(config.dynamicPool, net.nameservers);
    let engineRef: Engine | undefined;
    const metrics = new Metrics({
      store,
      runningTasks: () => engineRef?.running ?? 0,
    });
    const engine = new Engine(
      {
        store,
        clock,
        // The engine's driver calls are counted by operation and outcome (/metrics).
        compute: metrics.instrument(compute, 'compute'),
        storage: metrics.instrument(storage, 'storage'),
        logger,
        ips,
        random,
      },
      {
        ...TASK_HANDLERS,
        ...SNAPSHOT_TASK_HANDLERS,
        ...CONTROL_TASK_HANDLERS,
        ...subscriptionTaskHandlers({ net, billing }),
      },
      reconcile,
    );
    engineRef = engine;
    const env: ResourceEnv = {
      store,
      capabilities: loadCapabilities(config.capabilities),
      defaultCpuType: config.defaultCpuType,
      random,
      clock,
      tunnels: engine,
      ips,
      acpiTimeoutMs: config.acpiTimeout * 1000,
      billing,
    };
    if (seed) {
      // Before the engine starts: the seeded drives' tasks are then its first work.
      await loadSeed(seed, {
        env,
        net,
        billing,
        accounts: accountOptions,
        library,
        progress: overrides.progress,
      });
      generatedUsers = await ensureAccounts(store, users, accountOptions);
    }
    const authenticator = new Authenticator(store, {
      digest: config.digest,
      throttle: {
        perAccount: Math.max(1, config.loginLimit),
        perAddress: Math.max(1, config.loginLimitPerAddress),
        windowMs: 60_000,
      },
    });
    const routes: RouteSpec[] = [
      ...accountRoutes(authenticator),
      ...serverExtraRoutes(env),
      ...serverActionRoutes(env),
      ...serverRoutes(env),
      ...driveActionRoutes(env),
      ...driveRoutes(env),
      ...tagRoutes(env),
      ...aclRoutes(env),
      ...snapshotRoutes(env),
      ...libdriveRoutes(env),
      ...readRoutes(env, JOBS),
      ...keypairRoutes(env),
      ...globalContextRoutes(env),
      ...logRoutes(env),
      ...networkRoutes(env),
      ...billingRoutes({ ...env, net, billing }),
      ...usageRoutes({ ...env, billing }),
      ...profileRoutes(env),
      ...balanceRoutes({ ...env, billing }),
      ...capabilitiesRoutes(env),
      ...locationRoutes({ id: 'SIGMALITE', displayName: 'sigmalite', countryCode: 'ZZ' }),
      ...cloudStatusRoutes(),
    ];
    // The OpenAPI document describes the routes above, itself included.
    routes.push(openApiRoute(routes));
    const http = await buildHttpServer({
      routes,
      authenticator,
      logger,
      bodyLimit: config.bodyLimit,
      bodyLimits: {
        maxItems: Math.max(1, config.maxRequestItems),
        maxString: Math.max(1, config.maxString),
      },
      headersTimeoutMs: Math.max(1, config.headerTimeout) * 1000,
      connections: {
        perAddress: Math.max(1, config.maxConnectionsPerAddress),
        total: Math.max(1, config.maxConnections),
        bodyTimeoutMs: Math.max(1, config.bodyTimeout) * 1000,
        minBodyRate: config.minBodyRate,
        graceMs: 10_000,
      },
      publicUrl: config.publicUrl,
      strict: config.strict,
      operations: {
        readiness: () => readiness(store, engine),
        metrics: async () => ({ contentType: metrics.contentType, text: await metrics.text() }),
        observe: (method, route, status, seconds) =>
          metrics.observe(method, route, status, seconds),
      },
      // The audit log (/logs/): an entry for every request that acts or changes something.
      onOutcome: auditRecorder({ store, clock, random }),
      https:
        config.tlsCert && config.tlsKey
          ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
          : undefined,
    });
    // The web console (docs/web-console.md): its page, tokens and screen and serial bridges.
    const webConsole = installConsole(http, {
      authenticator,
      sessions: store.sessions,
      accounts: store.accounts,
      tunnels: engine,
      tunnelHost: config.host,
      target: async (principal, uuid, kind) => {
        const action = kind === 'screen' ? 'open_vnc' : 'open_console';
        const server = await tunnelTarget(store, { principal }, uuid, action);
        return { uuid: server.uuid, name: server.name, vncPassword: server.vnc_password };
      },
      logger,
    });
    // The websocket notification stream (docs/events.md).
    const events = await installEvents(http, {
      store,
      authenticator,
      uriOf: eventUri,
      sharedViews: eventSharedViews,
      maxPerAccount: Math.max(1, config.maxStreamsPerAccount),
      credentials: store.accounts,
      publicUrl: config.publicUrl,
      allowedOrigins: (config.allowedOrigins ?? '')
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o !== ''),
      logger,
      otherUpgrades: webConsole.upgrade,
    });
    // Test control: always there for in-process use (reset), served under /_sigmalite/ with
    // --control (docs/control.md).
    const controller = new Control({
      store,
      engine,
      clock,
      compute,
      random,
      transitions: config.transitions,
      setTransitions,
    });
    const control = config.control
      ? installControl(http, { control: controller, token: config.controlToken })
      : undefined;
    await engine.start();
    try {
      await http.listen({ host: config.host, port: config.port });
    } catch (e) {
      await webConsole.close();
      await events.close();
      await engine.stop();
      await compute.close();
      clock.dispose();
      throw e;
    }
    if (config.publicUrl === undefined && !isLoopback(config.host)) {
      logger.warn(
        `listening on ${config.host} without --public-url: Location headers, /locations/ and VNC URLs follow each request's Host header, which clients choose; set --public-url to the address clients should use`,
      );
    }
    const address = http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const scheme = config.tlsCert ? 'https' : 'http';
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `${scheme}://${host}:${port}${API_PREFIX}/`,
      store,
      http,
      generatedUsers,
      engine,
      clock,
      compute,
      setTransitions,
      control,
      routes,
      metrics,
      reset: () => controller.resetAll(),
      contexts: new ServerContexts({ store, ips }),
      close: async () => {
        await webConsole.close();
        await events.close();
        await closeWithin(http, SHUTDOWN_GRACE_MS);
        await engine.stop();
        await compute.close();
        clock.dispose();
        await store.close();
        logDestination?.close();
      },
    };
  } catch (e) {
    await store.close();
    logDestination?.close();
    throw e;
  }
}

/**
 * How long a shutdown waits for answers still being written: a client that stopped reading (a
 * big answer it never consumes) would otherwise hold `close()` open for ever.
 */
const SHUTDOWN_GRACE_MS = 5_000;

/** Fastify's graceful close, then every connection still open is cut once the grace has passed. */
async function closeWithin(http: FastifyInstance, graceMs: number): Promise<void> {
  const cut = setTimeout(() => http.server.closeAllConnections(), graceMs);
  cut.unref();
  try {
    await http.close();
  } finally {
    clearTimeout(cut);
  }
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
