import type { Clock } from '../engine/clock.js';
import type { Tunnels } from '../engine/engine.js';
import type { Random } from '../model/random.js';
import type { Store } from '../store/types.js';
import type { BillingSettings } from './billing/ledger.js';
import type { Capabilities } from './capabilities/types.js';
import type { IpPool } from './networking/ippool.js';

/** What resource services are given by the composition root (`app.ts`). */
export interface ResourceEnv {
  store: Store;
  capabilities: Capabilities;
  /** The `cpu_type` of a server created without one (a location's hosts decide it). */
  defaultCpuType: string;
  random: Random;
  /** The engine's clock: every timestamp and delay. */
  clock: Clock;
  /** VNC and console tunnels (through the engine, the only caller of drivers). */
  tunnels: Tunnels;
  /** Where DHCP NICs get their address while their server runs. */
  ips: IpPool;
  /** How long an ACPI shutdown waits for the guest before the server is `running` again. */
  acpiTimeoutMs: number;
  /** Keypairs one request may have generated (`--max-generated-keys`; default 10). */
  maxGeneratedKeys?: number;
  /** Balances and whether they are enforced (402 on a start the balance cannot pay for). */
  billing?: BillingSettings;
  /** `--allowed-origins`: pages of these origins may upload and download images too. */
  allowedOrigins?: readonly string[];
}
