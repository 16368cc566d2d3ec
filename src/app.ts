/**
 * The composition root: builds the store, accounts, resources and HTTP server from a `Config`.
 * No module keeps state of its own, so several apps can run in one process.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type Credentials, ensureAccounts, parseUsers } from './accounts/service.js';
import type { Config } from './config.js';
import { parseHosts, servesEveryHost } from './config.js';
import { Control, type ControlHandle, controlLifecycle, installControl } from './control/index.js';
import { openApiRoute } from './docs/openapi-route.js';
import { ContextSockets } from './drivers/compute/simulated/context-sockets.js';
import type { MachineTable, SimulatedHost } from './drivers/compute/simulated/driver.js';
import type { DriverProbe } from './drivers/compute/types.js';
import type { LibvirtSettings } from './drivers/libvirt-settings.js';
import { createDrivers, type Drivers } from './drivers/registry.js';
import { FileImageStore } from './drivers/storage/simulated/image-files.js';
import { parseTransitions } from './drivers/transitions.js';
import { ControlledClock } from './engine/clock.js';
import { Engine } from './engine/engine.js';
import { declareHosts, everyRegisteredHost } from './engine/host-declarations.js';
import { HostWatch } from './engine/host-watch.js';
import { listHosts } from './engine/hosts.js';
import type { RouteSpec } from './http/api.js';
import { Authenticator } from './http/auth.js';
import { installEvents } from './http/events.js';
import { parseAllowedOrigins } from './http/origin.js';
import { buildHttpServer } from './http/server.js';
import { LogDestination } from './log-destination.js';
import { Metrics } from './metrics.js';
import { cryptoRandom } from './model/random.js';
import { API_PREFIX } from './model/refs.js';
import { DEFAULT_CAPABILITIES } from './resources/capabilities/default.js';
import type { Capabilities } from './resources/capabilities/types.js';
import { ServerContexts } from './resources/context/service.js';
import { Uploads } from './resources/drives/uploads.js';
import type { ResourceEnv } from './resources/env.js';
import { eventSharedViews, eventUri } from './resources/events.js';
import { installLibrary, loadCatalog } from './resources/libdrives/catalog.js';
import { auditRecorder } from './resources/logs/audit.js';
import type { ModuleEnv } from './resources/module.js';
import { RESOURCE_MODULES } from './resources/modules.js';
import { IpPool } from './resources/networking/ippool.js';
import { networkSettings } from './resources/networking/settings.js';
import { HttpsOnlyAccounts } from './resources/profile/https-only.js';
import { parseQuotas } from './resources/quotas.js';
import { tunnelTarget } from './resources/servers/actions.js';
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
  /**
   * The first simulated host this process serves: its machines and test controls (reading it
   * throws under another driver).
   */
  compute: SimulatedHost;
  /** The drivers this process runs machines and drives with. */
  drivers: Drivers;
  /** What the drivers found they can do (also in `/readyz` and the start log). */
  probe: DriverProbe;
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
  /** The hosts this process serves now (with `--hosts '*'` it follows the registry). */
  hosts: readonly string[];
  /** With `--hosts '*'`: what follows the registry (`refresh()` reads it at once). */
  hostWatch: HostWatch | undefined;
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

/** Where guests' serial ports connect to by default: `--host`, unless it is a wildcard. */
function serialHostFor(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}

/**
 * Ready when the store answers a real query and the engine runs; with what the drivers can do and
 * the hosts served now (a host down leaves the process ready: it serves the others and the API).
 */
async function readiness(
  store: Store,
  engine: Engine,
  probe: DriverProbe,
): Promise<{
  ready: boolean;
  checks: Record<string, string>;
  drivers: DriverProbe;
  hosts: Record<string, string>;
}> {
  const checks: Record<string, string> = {};
  try {
    await store.ping();
    checks.store = 'ok';
  } catch (e) {
    checks.store = `unreachable: ${(e as Error).message}`;
  }
  checks.engine = engine.state === 'running' ? 'ok' : engine.state;
  return {
    ready: Object.values(checks).every((v) => v === 'ok'),
    checks,
    drivers: probe,
    hosts: engine.hostStates(),
  };
}

export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  // JSON lines on stderr, written in batches (log-destination.ts).
  const logDestination = overrides.logger ? undefined : new LogDestination(2);
  const logger = overrides.logger ?? pino({ level: config.logLevel }, logDestination);
  let store: Store;
  try {
    // Checked before the store opens: a bad value writes nothing.
    const quotas = parseQuotas(config.maxObjectsPerAccount);
    store = overrides.store ?? (await openStore(config, true, (message) => logger.warn(message)));
    store.setQuotas(quotas);
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
    const catalog = loadCatalog(config.library);
    const library = catalog.drives;
    if (!seed) await installLibrary(store, library);
    const clock = new ControlledClock();
    let transitions = parseTransitions(config.transitions);
    const setTransitions = (spec: string) => {
      transitions = parseTransitions(spec);
    };
    const net = networkSettings(config);
    const ips = new IpPool(config.dynamicPool, net.nameservers);
    const contexts = new ServerContexts({ store, ips });
    const contextPorts =
      config.contextDir === undefined
        ? undefined
        : new ContextSockets(
            config.contextDir,
            (server, port) => contexts.serve(server, port),
            (error) => logger.warn({ err: error }, 'context socket failed'),
          );
    // Uploaded images: under --data, or a directory of this process's when the store is in memory.
    const imagesDir = config.memory
      ? mkdtempSync(join(tmpdir(), 'sigmalite-images-'))
      : join(config.data, 'images');
    mkdirSync(imagesDir, { recursive: true });
    const fileImages = new FileImageStore(imagesDir);
    // The configuration's [[hypervisor]] tables are the registry's before any driver reads it.
    await declareHosts(store, config.hypervisors);
    const everyHost = servesEveryHost(config.hosts);
    // One live array: the drivers' start, the engine (leases, events, tunnels) and the watcher
    // of `--hosts '*'` (host-watch.ts), which changes it in place, all hold this one.
    const hosts: string[] = everyHost
      ? (await everyRegisteredHost(store)).map((host) => host.name)
      : parseHosts(config.hosts);
    // What the operator declared of each host (its libvirt URI, pool, network).
    const hostRecords = new Map(
      (await store.read((tx) => listHosts(tx))).map(({ name, ...record }) => [name, record]),
    );
    const drivers = await createDrivers(config.driver, {
      clock,
      hosts,
      hostRecords,
      state: (namespace) => stateTable(store, namespace),
      transitions: () => transitions,
      tunnelHost: config.host,
      guestAcpi: config.guestAcpi,
      contextPorts,
      images: fileImages,
      sharedStore: store instanceof PostgresStore,
      dataDir: config.data,
      libvirt: {
        uri: config.libvirtUri,
        pool: config.libvirtPool,
        network: config.libvirtNetwork,
        bridge: config.libvirtBridge,
        forward: config.libvirtNat ? 'nat' : 'isolated',
        accelerator: config.libvirtAccelerator as LibvirtSettings['accelerator'],
      },
      serialHost: config.serialHost ?? serialHostFor(config.host),
      publicNetwork: ips.dhcpNetwork,
      serveContext: (server, port) => contexts.serve(server, port),
      log: (level, context, message) => logger[level](context, message),
    });
    const { compute, storage, probe } = drivers;
    // A driver that keeps images itself (libvirt: in the drives' volumes) takes the uploads.
    const images = drivers.images ?? fileImages;
    // Library drives' images become their read-only volumes (libvirt; ignored by the simulator).
    for (const image of catalog.images) await storage.importBase?.(image.uuid, image.path);
    logger.info({ probe }, 'drivers ready');
    for (const host of probe.hosts) {
      if (host.warning) logger.warn({ host: host.name }, host.warning);
    }
    const simulated = drivers.simulated?.host(hosts[0]!);
    const billing = { startingBalance: config.balance, enforce: config.enforceBilling };
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
        hosts,
        // Other processes asked to open a tunnel here tell their clients this host.
        ...(config.publicUrl ? { tunnelAddress: new URL(config.publicUrl).hostname } : {}),
      },
      // What each resource contributes (task handlers, failure states, events, reconciliation),
      // and the test control's faults.
      [
        ...RESOURCE_MODULES.flatMap((module) =>
          module.engine ? [module.engine({ ips, random, net, billing })] : [],
        ),
        controlLifecycle(random),
      ],
      {
        reconcileIntervalMs: config.reconcileInterval * 1000,
        tunnels: {
          perAccount: Math.max(1, config.maxTunnelsPerAccount),
          total: Math.max(1, config.maxTunnels),
          idleMs: config.tunnelIdleTimeout * 1000,
        },
      },
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
      maxGeneratedKeys: config.maxGeneratedKeys,
      billing,
      allowedOrigins: parseAllowedOrigins(config.allowedOrigins),
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
    const uploads = new Uploads({
      ...env,
      images,
      uploads: { timeoutMs: config.uploadTimeout * 1000, minRate: config.uploadMinRate },
    });
    const removeImages = () => {
      if (config.memory) rmSync(imagesDir, { recursive: true, force: true });
    };
    const httpsOnly = new HttpsOnlyAccounts(store);
    const authenticator = new Authenticator(store, {
      digest: config.digest,
      httpsOnly: (account) => httpsOnly.required(account),
      throttle: {
        perAccount: Math.max(1, config.loginLimit),
        perAddress: Math.max(1, config.loginLimitPerAddress),
        windowMs: 60_000,
      },
    });
    await authenticator.start();
    const moduleEnv: ModuleEnv = { ...env, net, billing, authenticator, uploads };
    const routes: RouteSpec[] = RESOURCE_MODULES.flatMap(
      (module) => module.routes?.(moduleEnv) ?? [],
    );
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
        readiness: () => readiness(store, engine, probe),
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
    const allowedOrigins = env.allowedOrigins ?? [];
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
        return {
          uuid: server.uuid,
          name: server.name,
          vncPassword: server.vnc_password,
          account: principal.uuid,
        };
      },
      logger,
      publicUrl: config.publicUrl,
      allowedOrigins,
      maxSocketsPerAccount: Math.max(1, config.maxTunnelsPerAccount),
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
      allowedOrigins,
      logger,
      otherUpgrades: webConsole.upgrade,
    });
    // Test control: always there for in-process use (reset), served under /_sigmalite/ with
    // --control (docs/control.md).
    const controller = new Control({
      store,
      engine,
      clock,
      // Other drivers' guests are real: their ACPI behaviour is theirs.
      compute: simulated ?? { setGuestAcpi: () => {} },
      random,
      transitions: config.transitions,
      setTransitions,
    });
    const control = config.control
      ? installControl(http, { control: controller, token: config.controlToken })
      : undefined;
    await engine.start();
    uploads.start((err) => logger.error({ err }, 'upload sweep failed'));
    const hostWatch = everyHost
      ? new HostWatch({
          store,
          compute,
          served: hosts,
          logger,
          // New hosts' tasks are looked for, and their servers reconciled, at once.
          onChange: () => {
            engine.wake();
            void engine.reconcileNow();
          },
        })
      : undefined;
    hostWatch?.start();
    try {
      // Machines that kept running while sigmalite was down get their context ports back.
      await drivers.simulated?.restoreContextPorts();
      await http.listen({ host: config.host, port: config.port });
    } catch (e) {
      await hostWatch?.stop();
      await webConsole.close();
      await events.close();
      await uploads.stop();
      removeImages();
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
      get compute(): SimulatedHost {
        if (!simulated) throw new Error(`the ${drivers.name} driver has no simulated host`);
        return simulated;
      },
      drivers,
      probe,
      setTransitions,
      control,
      routes,
      metrics,
      reset: () => controller.resetAll(),
      contexts,
      hosts,
      hostWatch,
      close: async () => {
        await hostWatch?.stop();
        await webConsole.close();
        await events.close();
        await closeWithin(http, SHUTDOWN_GRACE_MS);
        await uploads.stop();
        removeImages();
        await engine.stop();
        await compute.close();
        clock.dispose();
        httpsOnly.close();
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
