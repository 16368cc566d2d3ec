/**
 * What a resource folder contributes to the app: its routes (below `/api/2.0`) and its part of
 * the engine (task handlers, failure states, machine events, reconciliation). Each folder exports
 * one `ResourceModule` from its `module.ts`; `modules.ts` lists them and `app.ts` composes them.
 * Declarations (`model/fields.ts`) reach the schema, OpenAPI and the docs through the routes that
 * name them (`RouteSpec.resource`).
 */
import type { EngineModule } from '../engine/engine.js';
import type { RouteSpec } from '../http/api.js';
import type { Authenticator } from '../http/auth.js';
import type { Random } from '../model/random.js';
import type { BillingSettings } from './billing/ledger.js';
import type { ResourceEnv } from './env.js';
import type { IpPool } from './networking/ippool.js';
import type { NetworkSettings } from './networking/service.js';

/** What the composition root gives every module's routes. */
export interface ModuleEnv extends ResourceEnv {
  billing: BillingSettings;
  net: NetworkSettings;
  /** Credentials and sessions (the accounts routes change passwords, issue tokens). */
  authenticator: Authenticator;
}

/** What a module's part of the engine is built from (before the engine exists). */
export interface EngineDeps {
  ips: IpPool;
  random: Random;
  net: NetworkSettings;
  billing: BillingSettings;
}

export interface ResourceModule {
  name: string;
  /** Its routes, in the order they are matched (more specific paths first). */
  routes?(env: ModuleEnv): RouteSpec[];
  /** Its part of the engine. */
  engine?(deps: EngineDeps): EngineModule;
}
