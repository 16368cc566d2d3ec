/**
 * Loading a seed file at start (docs/seeding.md): its accounts, then, in one transaction, the
 * library with the file's library drives, and each account's IPs, VLANs, drives and servers,
 * through the same services (and so the same rules) as the API. What exists is left as it is;
 * a bad entry stops the start and leaves the store as it was.
 */
import { AccountError, type AccountOptions, createAccount } from '../accounts/service.js';
import { ConfigError } from '../config.js';
import { ApiError, ApiErrors } from '../errors.js';
import type { BillingSettings } from '../resources/billing/ledger.js';
import { purchase } from '../resources/billing/subscriptions.js';
import { DRIVES } from '../resources/drives/model.js';
import { insertDrive, newDrive } from '../resources/drives/service.js';
import type { ResourceEnv } from '../resources/env.js';
import { syncLibrary } from '../resources/libdrives/catalog.js';
import type { LibdriveDoc } from '../resources/libdrives/model.js';
import { IPS, type IpDoc, VLANS } from '../resources/networking/model.js';
import { type NetworkSettings, updateIp, updateVlan } from '../resources/networking/service.js';
import { SERVERS } from '../resources/servers/model.js';
import { insertServer, newServer } from '../resources/servers/service.js';
import type { WriteTx } from '../store/types.js';
import {
  type SeedAccount,
  type SeedEntry,
  type SeedFile,
  type SeedIp,
  type SeedObject,
  type SeedVlan,
  seedError,
} from './file.js';

/** Progress of long work (the CLI's `progressReporter` fits); the app alone reports nothing. */
export interface SeedProgress {
  update(stage: string, done: number, total: number): void;
  finish(): void;
}

export interface SeedDeps {
  env: ResourceEnv;
  net: NetworkSettings;
  billing: BillingSettings;
  accounts: AccountOptions;
  /** The library catalog in force (`--library`); the file's library drives are added to it. */
  library: readonly LibdriveDoc[];
  progress?: SeedProgress;
}

export interface SeedResult {
  /** Entries that made something (an account, an object, or IPs of a `count`). */
  created: number;
  /** Entries whose object was already there, left as it is. */
  existing: number;
}

const STAGE = 'seeding';
/** Tries of the transaction: another process may be seeding the same PostgreSQL database. */
const ATTEMPTS = 3;

/**
 * Loads `seed`: creates its missing accounts, then in one transaction makes the store's library
 * the catalog plus the file's entries and creates each account's missing objects. When that
 * fails, the accounts it created are removed again, so a bad file leaves nothing behind.
 */
export async function loadSeed(seed: SeedFile, deps: SeedDeps): Promise<SeedResult> {
  const library = withFileLibrary(seed, deps.library);
  const total = seed.accounts.reduce(
    (sum, a) => sum + 1 + a.ips.length + a.vlans.length + a.drives.length + a.servers.length,
    0,
  );
  const result: SeedResult = { created: 0, existing: 0 };
  const step = (created: boolean) => {
    if (created) result.created++;
    else result.existing++;
    deps.progress?.update(STAGE, result.created + result.existing, total);
  };
  const { store } = deps.env;
  const owners = new Map<SeedAccount, string>();
  const createdAccounts: string[] = [];
  try {
    for (const account of seed.accounts) {
      const existing = await store.accounts.byEmail(account.email);
      if (existing) owners.set(account, existing.uuid);
      else {
        const made = await createSeedAccount(deps, account);
        owners.set(account, made.uuid);
        if (made.created) createdAccounts.push(made.uuid);
      }
      step(!existing);
    }
    const accountSteps = { ...result };
    for (let attempt = 1; ; attempt++) {
      try {
        await store.write(async (tx) => {
          // The store runs this again after a conflict: count from the accounts again.
          Object.assign(result, accountSteps);
          await syncLibrary(tx, library);
          for (const account of seed.accounts) {
            const loader = new AccountLoader(seed.source, deps, tx, owners.get(account)!, step);
            await loader.load(account);
          }
        });
        break;
      } catch (e) {
        if (e instanceof ConfigError || attempt >= ATTEMPTS) throw e;
      }
    }
  } catch (e) {
    for (const uuid of createdAccounts) await store.accounts.remove(uuid);
    throw e;
  } finally {
    deps.progress?.finish();
  }
  return result;
}

/** The catalog and the file's library drives; a uuid in both is an error. */
function withFileLibrary(seed: SeedFile, catalog: readonly LibdriveDoc[]): LibdriveDoc[] {
  const inCatalog = new Set(catalog.map((doc) => doc.uuid));
  seed.library.forEach((doc, i) => {
    if (inCatalog.has(doc.uuid)) {
      throw seedError(
        seed.source,
        { at: `library.${i}`, label: ` (${JSON.stringify(doc.name)})` },
        'uuid',
        `${doc.uuid} is already in the library catalog`,
      );
    }
  });
  return [...catalog, ...seed.library];
}

async function createSeedAccount(
  deps: SeedDeps,
  account: SeedAccount,
): Promise<{ uuid: string; created: boolean }> {
  const { store } = deps.env;
  const credentials = { email: account.email, password: account.password };
  try {
    return { uuid: (await createAccount(store, credentials, deps.accounts)).uuid, created: true };
  } catch (e) {
    // Another process seeding the same database was first (a duplicate email).
    const other =
      e instanceof AccountError ? await store.accounts.byEmail(account.email) : undefined;
    if (other) return { uuid: other.uuid, created: false };
    throw e;
  }
}

/** An API error of an entry as a start error that names the entry and the field. */
function entryError(source: string, entry: SeedEntry, e: unknown): unknown {
  if (!(e instanceof ApiError)) return e;
  const all = e instanceof ApiErrors ? e.errors : [e];
  const [first, ...rest] = all;
  const more = rest.map((r) => `; ${r.point === null ? '' : `"${r.point}": `}${r.message}`);
  return seedError(source, entry, first!.point, `${first!.message}${more.join('')}`);
}

/** One account's objects, inside the seed's transaction. */
class AccountLoader {
  constructor(
    private readonly source: string,
    private readonly deps: SeedDeps,
    private readonly tx: WriteTx,
    private readonly owner: string,
    private readonly step: (created: boolean) => void,
  ) {}

  async load(account: SeedAccount): Promise<void> {
    for (const ip of account.ips) {
      if (ip.address !== undefined) await this.entry(ip, () => this.address(ip, ip.address!));
    }
    // Counts come after the addresses: they top the account's subscribed IPs up to the number
    // of addresses the file gives, named or counted.
    let missing =
      account.ips.reduce((sum, ip) => sum + ip.count, 0) -
      (await this.tx.byStatus(IPS.kind, ['subscribed'], this.owner)).length;
    for (const ip of account.ips) {
      if (ip.address !== undefined) continue;
      const buy = Math.min(ip.count, Math.max(0, missing));
      missing -= buy;
      await this.entry(ip, () => this.addresses(ip, buy));
    }
    for (const vlan of account.vlans) await this.entry(vlan, () => this.vlan(vlan));
    for (const drive of account.drives) await this.entry(drive, () => this.drive(drive));
    for (const server of account.servers) await this.entry(server, () => this.server(server));
  }

  /** Runs one entry's work; it answers whether it created something. */
  private async entry(entry: SeedEntry, work: () => Promise<boolean>): Promise<void> {
    let created: boolean;
    try {
      created = await work();
    } catch (e) {
      throw entryError(this.source, entry, e);
    }
    this.step(created);
  }

  private fail(entry: SeedEntry, key: string, message: string): never {
    throw seedError(this.source, entry, key, message);
  }

  /**
   * Whether the object of `uuid` already is this account's `kind`; an error when the uuid is
   * another object's.
   */
  private async exists(entry: SeedEntry, kind: string, uuid: string, key: string) {
    const record = await this.tx.get(uuid);
    if (!record) return false;
    if (record.kind !== kind || record.owner !== this.owner) {
      this.fail(entry, key, `${uuid} is already the uuid of another object`);
    }
    return true;
  }

  /** The uuid of this account's `kind` object named `name`, if there is one. */
  private async named(kind: string, name: string): Promise<string | undefined> {
    const page = await this.tx.list({
      kind,
      owner: this.owner,
      filters: [{ column: 'name', op: 'exact', values: [name] }],
      order: { column: 'uuid', descending: false },
      limit: 1,
      offset: 0,
      view: 'detail',
    });
    const first = page.items[0];
    return first === undefined
      ? undefined
      : (JSON.parse(first.toString()) as { uuid: string }).uuid;
  }

  private subscriptionEnv() {
    const { env, net, billing } = this.deps;
    return { net, billing, random: env.random, now: () => env.clock.now() };
  }

  private async buy(
    entry: SeedIp | SeedVlan,
    resource: 'ip' | 'vlan',
    amount: number,
    wanted: string | undefined,
  ): Promise<string[]> {
    const item = { resource, amount, period: entry.period, auto_renew: entry.autoRenew };
    const { objects } = await purchase(
      this.subscriptionEnv(),
      this.tx,
      this.owner,
      [item],
      [wanted],
    );
    const uuids = objects.map((o) => o.subscribed_object as string);
    if (entry.meta !== undefined) {
      for (const uuid of uuids) {
        const record = (await this.tx.get(uuid))!;
        const update = resource === 'ip' ? updateIp : updateVlan;
        await update(this.tx, record, { meta: entry.meta });
      }
    }
    return uuids;
  }

  private async address(entry: SeedIp, address: string): Promise<boolean> {
    const record = await this.tx.get(address);
    if (record) {
      const ip = JSON.parse(record.doc) as IpDoc;
      if (record.kind === IPS.kind && record.owner === this.owner && ip.subscription !== null) {
        return false;
      }
      this.fail(entry, 'address', `${address} is already another account's`);
    }
    await this.buy(entry, 'ip', 1, address);
    return true;
  }

  private async addresses(entry: SeedIp, count: number): Promise<boolean> {
    if (count === 0) return false;
    await this.buy(entry, 'ip', count, undefined);
    return true;
  }

  private async vlan(entry: SeedVlan): Promise<boolean> {
    if (entry.uuid !== undefined) {
      if (await this.exists(entry, VLANS.kind, entry.uuid, 'uuid')) return false;
    } else if ((await this.named(VLANS.kind, entry.name!)) !== undefined) return false;
    await this.buy(entry, 'vlan', 1, entry.uuid);
    return true;
  }

  /**
   * A drive, or a server: its body is checked every time (a mistake in the file shows at once),
   * and it is stored if it is not there yet.
   */
  private async found(entry: SeedObject, kind: string): Promise<string | undefined> {
    if (entry.uuid !== undefined) {
      return (await this.exists(entry, kind, entry.uuid, 'uuid')) ? entry.uuid : undefined;
    }
    return this.named(kind, entry.name!);
  }

  private async drive(entry: SeedObject): Promise<boolean> {
    const { env } = this.deps;
    const existing = await this.found(entry, DRIVES.kind);
    const doc = newDrive(env, this.owner, entry.body, existing ?? entry.uuid);
    if (existing !== undefined) return false;
    await insertDrive(env, this.tx, doc);
    return true;
  }

  private async server(entry: SeedObject): Promise<boolean> {
    const { env } = this.deps;
    const existing = await this.found(entry, SERVERS.kind);
    const draft = newServer(env, this.owner, entry.body, existing ?? entry.uuid);
    if (existing !== undefined) return false;
    await insertServer(env, this.tx, draft);
    return true;
  }
}
