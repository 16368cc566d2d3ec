/**
 * The seed file (`--seed-file`, docs/seeding.md): read and checked as a whole before anything is
 * written. What can be checked without the store is checked here (shape, keys, uuids, what
 * identifies each object, repeats); the API's own rules run when it is loaded (`load.ts`).
 */
import { readFileSync } from 'node:fs';
import { AccountError, checkEmail } from '../accounts/service.js';
import { ConfigError } from '../config.js';
import type { Fields } from '../model/fields.js';
import { unknownFields } from '../model/input.js';
import { isPlainObject } from '../model/json.js';
import { checkMeta } from '../resources/common.js';
import { DRIVES } from '../resources/drives/model.js';
import { parseLibrary } from '../resources/libdrives/catalog.js';
import type { LibdriveDoc } from '../resources/libdrives/model.js';
import { parseIpv4 } from '../resources/networking/pool.js';
import { SERVERS } from '../resources/servers/model.js';

/** Where an entry is in the file (`accounts.0.drives.1`) and how a message names it. */
export interface SeedEntry {
  at: string;
  /** ` ("name")`, ` (email)`, or empty. */
  label: string;
}

export interface SeedFile {
  /** `--seed-file PATH`: how messages name the file. */
  source: string;
  library: LibdriveDoc[];
  accounts: SeedAccount[];
}

export interface SeedAccount extends SeedEntry {
  email: string;
  password: string;
  ips: SeedIp[];
  vlans: SeedVlan[];
  drives: SeedObject[];
  servers: SeedObject[];
}

/** A drive or a server: the API's POST body, and what identifies it at the next start. */
export interface SeedObject extends SeedEntry {
  /** The file's uuid (lower case); without one the object is known by its name. */
  uuid: string | undefined;
  name: string | undefined;
  body: Record<string, unknown>;
}

/** How an IP or a VLAN is bought: a subscription of `period`, renewed when `autoRenew`. */
export interface SeedSubscription extends SeedEntry {
  period: string;
  autoRenew: boolean;
  meta: Record<string, string> | undefined;
}

/** An address of the IP pool, or `count` addresses, whichever are free. */
export interface SeedIp extends SeedSubscription {
  address: string | undefined;
  count: number;
}

/** A VLAN known by its uuid or, without one, by its `meta.name`. */
export interface SeedVlan extends SeedSubscription {
  uuid: string | undefined;
  name: string | undefined;
}

/** What an IP or VLAN subscription is bought for when the entry does not say. */
export const DEFAULT_PERIOD = '1 year';
/** At most this many addresses in one `count` entry (one purchase's limit). */
export const MAX_COUNT = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const TOP_KEYS = new Set(['library', 'accounts']);
const ACCOUNT_KEYS = new Set(['email', 'password', 'ips', 'vlans', 'drives', 'servers']);
const SUBSCRIPTION_KEYS = ['meta', 'period', 'auto_renew'];
const IP_KEYS = new Set(['address', 'count', ...SUBSCRIPTION_KEYS]);
const VLAN_KEYS = new Set(['uuid', ...SUBSCRIPTION_KEYS]);

/** Reads and checks `--seed-file FILE`. Throws `ConfigError` naming the entry and the key. */
export function readSeedFile(file: string): SeedFile {
  const source = `--seed-file ${file}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${source}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${source}: not JSON: ${(e as Error).message}`);
  }
  return parseSeed(json, source);
}

/** The error of one key of one entry: `SOURCE: accounts.0.drives.1 ("data"): "size": MESSAGE`. */
export function seedError(
  source: string,
  entry: SeedEntry,
  key: string | null,
  message: string,
): ConfigError {
  return new ConfigError(
    `${source}: ${entry.at}${entry.label}: ${key === null ? '' : `"${key}": `}${message}`,
  );
}

/** Checks a parsed seed file. */
export function parseSeed(json: unknown, source: string): SeedFile {
  const top: SeedEntry = { at: '(top level)', label: '' };
  if (!isPlainObject(json)) throw seedError(source, top, null, 'expected a JSON object');
  for (const key of Object.keys(json)) {
    if (!TOP_KEYS.has(key)) {
      throw seedError(source, top, key, 'is not a seed file key (library, accounts)');
    }
  }
  const library =
    json.library === undefined ? [] : parseLibrary(json.library, `${source}: library`);
  const checker = new Checker(source);
  for (const doc of library) checker.uuid(doc.uuid, { at: 'library', label: '' }, 'uuid');
  const accounts = list(source, top, json, 'accounts').map((item, i) =>
    checker.account(item, `accounts.${i}`),
  );
  return { source, library, accounts };
}

function list(source: string, entry: SeedEntry, object: Record<string, unknown>, key: string) {
  const value = object[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw seedError(source, entry, key, 'must be a list');
  return value as unknown[];
}

/** The checks that span entries: uuids, addresses and emails appear once in the file. */
class Checker {
  private readonly uuids = new Map<string, string>();
  private readonly addresses = new Map<string, string>();
  private readonly emails = new Map<string, string>();

  constructor(private readonly source: string) {}

  private fail(entry: SeedEntry, key: string | null, message: string): never {
    throw seedError(this.source, entry, key, message);
  }

  private once(seen: Map<string, string>, value: string, entry: SeedEntry, key: string): void {
    const first = seen.get(value);
    if (first !== undefined) this.fail(entry, key, `${value} is also given at ${first}`);
    seen.set(value, entry.at);
  }

  uuid(value: string, entry: SeedEntry, key: string): void {
    this.once(this.uuids, value, entry, key);
  }

  account(item: unknown, at: string): SeedAccount {
    const where: SeedEntry = { at, label: '' };
    if (!isPlainObject(item)) this.fail(where, null, 'expected an object');
    const { email, password } = item;
    if (typeof email !== 'string') this.fail(where, 'email', 'is required (a string)');
    const entry: SeedEntry = { at, label: ` (${email})` };
    this.keys(item, ACCOUNT_KEYS, entry, 'an account key');
    try {
      checkEmail(email);
    } catch (e) {
      if (e instanceof AccountError) this.fail(entry, 'email', e.message);
      throw e;
    }
    this.once(this.emails, email, entry, 'email');
    if (typeof password !== 'string' || password === '') {
      this.fail(entry, 'password', 'is required (a string that is not empty)');
    }
    const pathOf = (kind: string, i: number) => `${at}.${kind}.${i}`;
    const objects = (kind: 'drives' | 'servers', fields: Fields) =>
      this.findable(
        list(this.source, entry, item, kind).map((value, i) =>
          this.object(value, pathOf(kind, i), fields),
        ),
        'name',
      );
    return {
      ...entry,
      email,
      password,
      ips: list(this.source, entry, item, 'ips').map((value, i) =>
        this.ip(value, pathOf('ips', i)),
      ),
      vlans: this.findable(
        list(this.source, entry, item, 'vlans').map((value, i) =>
          this.vlan(value, pathOf('vlans', i)),
        ),
        'meta.name',
      ),
      drives: objects('drives', DRIVES.fields),
      servers: objects('servers', SERVERS.fields),
    };
  }

  /**
   * An object without a uuid is found by its name at the next start: no other entry of its kind
   * in the account may have that name (one with a uuid would be taken for it).
   */
  private findable<E extends SeedEntry & { uuid?: string; name?: string }>(
    entries: E[],
    key: string,
  ): E[] {
    for (const entry of entries) {
      if (entry.uuid !== undefined || entry.name === undefined) continue;
      const other = entries.find((e) => e !== entry && e.name === entry.name);
      if (other) {
        this.fail(
          entry,
          key,
          `${entry.name} is also the name of ${other.at}; without a uuid, an object is found by its name`,
        );
      }
    }
    return entries;
  }

  private keys(item: Record<string, unknown>, known: Set<string>, entry: SeedEntry, what: string) {
    for (const key of Object.keys(item)) {
      if (!known.has(key)) this.fail(entry, key, `is not ${what}`);
    }
  }

  private fileUuid(item: Record<string, unknown>, entry: SeedEntry): string | undefined {
    if (item.uuid === undefined) return undefined;
    if (typeof item.uuid !== 'string' || !UUID.test(item.uuid)) {
      this.fail(entry, 'uuid', 'must be a uuid');
    }
    const uuid = item.uuid.toLowerCase();
    this.uuid(uuid, entry, 'uuid');
    return uuid;
  }

  /** A drive or a server: any key of the API's declaration (read-only ones are ignored). */
  private object(item: unknown, at: string, fields: Fields): SeedObject {
    if (!isPlainObject(item)) this.fail({ at, label: '' }, null, 'expected an object');
    const name = typeof item.name === 'string' ? item.name : undefined;
    const entry: SeedEntry = { at, label: name === undefined ? '' : ` (${JSON.stringify(name)})` };
    const unknown = unknownFields(fields, item);
    if (unknown.length > 0) this.fail(entry, unknown[0]!, 'is not a field of this resource');
    const uuid = this.fileUuid(item, entry);
    if (uuid === undefined) {
      // Without a uuid, the name is what finds it again at the next start.
      if (name === undefined || name === '') {
        this.fail(entry, 'name', 'is required: without a uuid, the name identifies the object');
      }
    }
    return { ...entry, uuid, name, body: item };
  }

  private subscription(item: Record<string, unknown>, entry: SeedEntry) {
    const { period, auto_renew, meta } = item;
    if (period !== undefined && (typeof period !== 'string' || period === '')) {
      this.fail(entry, 'period', 'must be a period such as "1 month" or "1 year"');
    }
    if (auto_renew !== undefined && typeof auto_renew !== 'boolean') {
      this.fail(entry, 'auto_renew', 'must be true or false');
    }
    if (meta !== undefined) {
      try {
        checkMeta(meta, 'meta');
      } catch (e) {
        this.fail(entry, 'meta', (e as Error).message);
      }
    }
    return {
      ...entry,
      period: (period as string | undefined) ?? DEFAULT_PERIOD,
      autoRenew: (auto_renew as boolean | undefined) ?? true,
      meta: meta as Record<string, string> | undefined,
    };
  }

  private ip(item: unknown, at: string): SeedIp {
    if (!isPlainObject(item)) this.fail({ at, label: '' }, null, 'expected an object');
    const { address, count } = item;
    const entry: SeedEntry = { at, label: typeof address === 'string' ? ` (${address})` : '' };
    this.keys(item, IP_KEYS, entry, 'an IP key (address or count, meta, period, auto_renew)');
    if ((address === undefined) === (count === undefined)) {
      this.fail(entry, null, 'give either "address" or "count"');
    }
    if (address !== undefined) {
      if (typeof address !== 'string' || parseIpv4(address) === undefined) {
        this.fail(entry, 'address', 'must be an IPv4 address of the IP pool (--ip-pool)');
      }
      this.once(this.addresses, address, entry, 'address');
    } else if (
      typeof count !== 'number' ||
      !Number.isSafeInteger(count) ||
      count < 1 ||
      count > MAX_COUNT
    ) {
      this.fail(entry, 'count', `must be an integer from 1 to ${MAX_COUNT}`);
    }
    return {
      ...this.subscription(item, entry),
      address: address as string | undefined,
      count: address === undefined ? (count as number) : 1,
    };
  }

  private vlan(item: unknown, at: string): SeedVlan {
    if (!isPlainObject(item)) this.fail({ at, label: '' }, null, 'expected an object');
    const meta = isPlainObject(item.meta) ? item.meta : {};
    const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
    const entry: SeedEntry = { at, label: name === undefined ? '' : ` (${JSON.stringify(name)})` };
    this.keys(item, VLAN_KEYS, entry, 'a VLAN key (uuid, meta, period, auto_renew)');
    const subscription = this.subscription(item, entry);
    const uuid = this.fileUuid(item, entry);
    if (uuid === undefined) {
      if (name === undefined) {
        this.fail(entry, 'uuid', 'is required, or a meta.name: one of them identifies the VLAN');
      }
    }
    return { ...subscription, uuid, name };
  }
}
