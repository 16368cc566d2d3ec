/**
 * Reading what an operator declares of a hypervisor host, from the configuration file's
 * `[[hypervisor]]` tables and from `sigmalite host add`'s flags alike: one set of rules, one set of
 * messages. Keys are the file's (snake_case); the CLI maps its flags onto them.
 */
import { isIP } from 'node:net';
import { HOST_NAME, type HostRecord, type NamedHost } from './hosts.js';

/** A declaration that cannot be: the message names the key and what is wrong. */
export class HostInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostInputError';
  }
}

type FieldKind = 'uri' | 'name' | 'bridge' | 'path' | 'address' | 'mhz' | 'size' | 'boolean';

/**
 * The declarable keys: the record field each fills, how its value is read, what it means and
 * what its absence means (the configuration reference and `host add --help` show these).
 */
export const HOST_KEYS = {
  uri: {
    field: 'uri',
    kind: 'uri',
    help: "libvirt's URI for the host (`qemu+tls://h1/system`, `qemu+ssh://...`)",
    absent: '`--libvirt-uri`',
  },
  mhz: {
    field: 'mhz',
    kind: 'mhz',
    help: 'the CPU capacity servers may take, MHz of all its cores',
    absent: 'as the host reports',
  },
  memory: {
    field: 'memory',
    kind: 'size',
    help: 'the memory servers may take: bytes, or a size such as `16G` (K, M, G, T: powers of 1024)',
    absent: 'as the host reports',
  },
  pool: {
    field: 'pool',
    kind: 'name',
    help: 'the libvirt storage pool of drives',
    absent: '`--libvirt-pool`',
  },
  pool_path: {
    field: 'poolPath',
    kind: 'path',
    help: "the pool's directory on the host (absolute)",
    absent: '`DATA/libvirt/pool`',
  },
  shared_pool: {
    field: 'sharedPool',
    kind: 'boolean',
    help: "the pool's directory is shared storage that the hosts naming the same pool path reach",
    absent: 'not shared',
  },
  network: {
    field: 'network',
    kind: 'name',
    help: 'the libvirt network public NICs join',
    absent: '`--libvirt-network`',
  },
  bridge: {
    field: 'bridge',
    kind: 'bridge',
    help: "that network's Linux bridge (at most 15 characters)",
    absent: '`--libvirt-bridge`',
  },
  vnc_listen: {
    field: 'vncListen',
    kind: 'address',
    help: "an IP address of the host, reachable from sigmalite, where its machines' VNC servers listen on TCP (ports from 5900)",
    absent: 'unix sockets in `DATA/libvirt/sockets` (a host on this machine)',
  },
} as const satisfies Record<
  string,
  { field: keyof HostRecord; kind: FieldKind; help: string; absent: string }
>;

export type HostKey = keyof typeof HOST_KEYS;

const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * A size in bytes: an integer, or a number with a binary unit (`512M`, `16G`, `1.5T`; `K`, `M`,
 * `G`, `T`, optionally followed by `iB` or `B`). Undefined when `text` is none.
 */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') {
    return Number.isSafeInteger(text) && text > 0 ? text : undefined;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|B)?\s*$/i.exec(text);
  if (!match) return undefined;
  const bytes = Number(match[1]) * (match[2] ? UNITS[match[2].toUpperCase()]! : 1);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** Bytes as the shortest exact size (`16G`, `1536M`), or the number itself. */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K']) {
    const size = UNITS[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

function problem(source: string, key: string, what: string): HostInputError {
  return new HostInputError(`${source}: "${key}" must be ${what}`);
}

/** One declared value, read into the record field's type. */
function readValue(source: string, key: HostKey, value: unknown): HostRecord[keyof HostRecord] {
  const { kind } = HOST_KEYS[key];
  switch (kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw problem(source, key, 'true or false');
      return value;
    case 'mhz':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
        throw problem(source, key, 'a positive whole number of MHz');
      }
      return value;
    case 'size': {
      const bytes =
        typeof value === 'string' || typeof value === 'number' ? parseSize(value) : undefined;
      if (bytes === undefined) {
        throw problem(source, key, 'a positive number of bytes, or a size such as "16G"');
      }
      return bytes;
    }
    default:
      break;
  }
  if (typeof value !== 'string' || value === '' || /[\s\p{Cc}]/u.test(value)) {
    throw problem(source, key, 'a non-empty string without spaces');
  }
  if (kind === 'uri' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw problem(source, key, 'a libvirt URI such as qemu+tls://h1/system');
  }
  if (kind === 'bridge' && value.length > 15) {
    throw problem(source, key, 'a Linux bridge name (at most 15 characters)');
  }
  if (kind === 'path' && !value.startsWith('/')) throw problem(source, key, 'an absolute path');
  // libvirt listens on an address, not a name it would resolve on the host; and sigmalite
  // connects to it, so "every address" (0.0.0.0, ::) names none it could reach.
  if (kind === 'address' && (isIP(value) === 0 || /^(0\.0\.0\.0|[:0]+)$/.test(value))) {
    throw problem(source, key, 'an IPv4 or IPv6 address of the host (not 0.0.0.0 or ::)');
  }
  return value;
}

/** `name` as a host name, or the error saying why not. */
export function checkHostName(source: string, name: unknown): string {
  if (typeof name !== 'string' || !HOST_NAME.test(name)) {
    throw new HostInputError(
      `${source}: ${typeof name === 'string' ? `"${name}"` : 'the name'} is no host name (letters, digits, dots and dashes, at most 63)`,
    );
  }
  return name;
}

/**
 * The fields `values` declares (file keys; keys absent or undefined are not declared). An
 * unknown key is an error naming it and the keys there are.
 */
export function readHostFields(source: string, values: Record<string, unknown>): HostRecord {
  const record: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(HOST_KEYS, key)) {
      throw new HostInputError(
        `${source}: unknown key "${key}" (keys: name, ${Object.keys(HOST_KEYS).join(', ')})`,
      );
    }
    const hostKey = key as HostKey;
    record[HOST_KEYS[hostKey].field] = readValue(source, hostKey, value);
  }
  return record as HostRecord;
}

/**
 * The configuration file's hosts: a list of tables, each with a `name` and declared fields;
 * names unique. `source` names the file.
 */
export function readHostTables(source: string, value: unknown): NamedHost[] {
  if (!Array.isArray(value)) {
    throw new HostInputError(`${source}: "hypervisor" must be tables ([[hypervisor]])`);
  }
  const hosts: NamedHost[] = [];
  for (const [i, table] of value.entries()) {
    const where = `${source}: [[hypervisor]] ${i + 1}`;
    if (typeof table !== 'object' || table === null || Array.isArray(table)) {
      throw new HostInputError(`${where} is no table`);
    }
    const { name, ...fields } = table as Record<string, unknown>;
    if (name === undefined) throw new HostInputError(`${where} has no "name"`);
    const host = checkHostName(where, name);
    if (hosts.some((other) => other.name === host)) {
      throw new HostInputError(`${source}: the hypervisor "${host}" is declared twice`);
    }
    hosts.push({ name: host, ...readHostFields(`${where} (${host})`, fields) });
  }
  return hosts;
}
