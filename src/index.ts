/**
 * The package's public API, for embedding sigmalite in a test suite or another program
 * (docs/in-process.md).
 */
import type { Credentials } from './accounts/service.js';
import { type App, createApp } from './app.js';
import { type Config, DEFAULTS } from './config.js';

export { type App, createApp } from './app.js';
export { type Config, DEFAULTS, resolveConfig } from './config.js';

export interface SigmaliteOptions {
  /** Accounts to create; none: one generated account (`admin@sigmalite.local`). */
  users?: readonly Credentials[];
  /** How long simulated transitions take (`--transitions` syntax); default `fast`. */
  transitions?: string;
  /** Reproducible uuids, MACs, passwords and addresses (`--seed`). */
  seed?: number;
  /** A seed file loaded at start (`--seed-file`, docs/seeding.md). */
  seedFile?: string;
  /** Serve the test-control API under `/_sigmalite/` (its token is `control.token`). */
  control?: boolean;
  /** Anything else of the configuration (docs/configuration.md), over the options above. */
  config?: Partial<Config>;
}

export interface Sigmalite {
  /** `http://127.0.0.1:PORT/api/2.0/` */
  url: string;
  /** The accounts, with their passwords. */
  users: Credentials[];
  /** The control API's bearer token, when `control` is on. */
  controlToken: string | undefined;
  /** Everything back to a fresh start; the accounts stay (as `POST /_sigmalite/reset`). */
  reset(): Promise<void>;
  close(): Promise<void>;
  /** The app itself, for what the above does not cover. */
  app: App;
}

/**
 * Starts sigmalite in this process on a free port of 127.0.0.1 with an in-memory store and
 * silent logs. Instances share nothing: start as many as you like.
 */
export async function startSigmalite(options: SigmaliteOptions = {}): Promise<Sigmalite> {
  const config: Config = {
    ...DEFAULTS,
    host: '127.0.0.1',
    port: 0,
    memory: true,
    logLevel: 'silent',
    transitions: options.transitions ?? 'fast',
    seed: options.seed,
    seedFile: options.seedFile,
    control: options.control ?? false,
    ...options.config,
  };
  const app = await createApp(config, options.users ? { users: options.users } : {});
  return {
    url: app.url,
    users: options.users ? options.users.map((u) => ({ ...u })) : app.generatedUsers,
    controlToken: app.control?.token,
    reset: () => app.reset(),
    close: () => app.close(),
    app,
  };
}
