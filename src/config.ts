/**
 * The one typed configuration. Every option is declared once below: its flag, environment
 * variable, type, default and help. Precedence: flags > environment (SIGMALITE_*) > the
 * configuration file (`--config`, TOML, the same keys in snake_case) > defaults.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_HOST, driverProblem } from './drivers/registry.js';
import { HOST_NAME, type NamedHost } from './engine/hosts.js';

export interface Config {
  /** The TOML configuration file read under the environment and the flags. */
  config: string | undefined;
  host: string;
  port: number;
  /** Directory of the SQLite file. */
  data: string;
  /** Keep the SQLite database in memory (nothing survives a restart). */
  memory: boolean;
  /** A PostgreSQL URL (`postgres://...`): the shared store instead of SQLite. */
  store: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  bodyLimit: number;
  defaultCpuType: string;
  /** A JSON file replacing the default capabilities. */
  capabilities: string | undefined;
  /** A JSON file replacing the built-in library drive catalog (`/libdrives/`). */
  library: string | undefined;
  publicUrl: string | undefined;
  logLevel: string;
  /** The balance every account starts with. */
  balance: string;
  /**
   * Offer HTTP Digest and keep each account's HA1 (an unsalted MD5 that is as good as the
   * password to Digest): off by default, and HA1s stored earlier are dropped at a start without it.
   */
  digest: boolean;
  /** The compute and storage drivers (`drivers/registry.ts`): `simulated` or `libvirt`. */
  driver: string;
  /**
   * The hypervisor hosts this process serves, comma-separated: it runs only their tasks; `*`:
   * every host of the registry, following `sigmalite host add|remove` while it runs.
   */
  hosts: string;
  /**
   * The hosts the configuration file declares (`[[hypervisor]]` tables): written to the host
   * registry at start. Not an option: there is no flag or variable for it.
   */
  hypervisors: NamedHost[];
  /** Seconds between two reconciliations of this process's hosts with the store. */
  reconcileInterval: number;
  /** The simulated hypervisor's transition times: `PRESET[,name=ms...]`. */
  transitions: string;
  /** Whether simulated guests power off on an ACPI shutdown. */
  guestAcpi: boolean;
  /** Seconds an ACPI shutdown waits for the guest before the server is `running` again. */
  acpiTimeout: number;
  /** Where running servers' context ports are exposed as unix sockets `<uuid>.sock`. */
  contextDir: string | undefined;
  /** Seconds an image upload may go without a byte before its drive is deleted. */
  uploadTimeout: number;
  /** Image upload bodies slower than this many bytes a second are cut (0: no floor). */
  uploadMinRate: number;
  /** The libvirt driver's connection URI. */
  libvirtUri: string;
  /** The libvirt storage pool sigmalite's drives are volumes of. */
  libvirtPool: string;
  /** The libvirt network public NICs join, and its bridge. */
  libvirtNetwork: string;
  libvirtBridge: string;
  /** Whether the public network is NATed to the outside (false: isolated). */
  libvirtNat: boolean;
  /** `auto`, `kvm` or `tcg`. */
  libvirtAccelerator: string;
  /** The address guests' serial ports connect to; default `--host`'s when it is one address. */
  serialHost: string | undefined;
  /** Addresses DHCP NICs get while their server runs (IPv4 CIDR). */
  dynamicPool: string;
  /** Addresses `ip` subscriptions hand out: CIDR, or FIRST-LAST/PREFIX. */
  ipPool: string;
  /** The 802.1Q tags of the VLANs `vlan` subscriptions hand out: FIRST-LAST. */
  vlanTags: string;
  /** The nameservers IPs show, comma-separated. */
  nameservers: string;
  /** Refuse (402) what the balance cannot pay for. */
  enforceBilling: boolean;
  /** Accounts to create or update at start: `email:password[,...]` (SIGMALITE_USERS). */
  users: string | undefined;
  /** Serve the test-control API under `/_sigmalite/` (docs/control.md). */
  control: boolean;
  /** The control API's bearer token (SIGMALITE_CONTROL_TOKEN); generated when unset. */
  controlToken: string | undefined;
  /** Makes uuids, MACs, passwords and addresses reproducible (snapshot tests). */
  seed: number | undefined;
  /** A JSON file of accounts and objects loaded at start (idempotent; docs/seeding.md). */
  seedFile: string | undefined;
  /** Reject unknown body fields instead of ignoring (and logging) them. */
  strict: boolean;
  /** Login attempts per account a minute (reserved before the password is checked). */
  loginLimit: number;
  /** Login attempts per client address (IPv6: per /64) a minute. */
  loginLimitPerAddress: number;
  /** Seconds a client has to send a request's headers. */
  headerTimeout: number;
  /** Seconds a client has to send a request's body. */
  bodyTimeout: number;
  /** Bytes a second a request body must average after its first 10 seconds. */
  minBodyRate: number;
  /** Open connections in total. */
  maxConnections: number;
  /** Open connections per client address (IPv6: per /64). */
  maxConnectionsPerAddress: number;
  /** Items in any list of a request body (objects of a bulk request among them). */
  maxRequestItems: number;
  /** Characters in any string of a request body. */
  maxString: number;
  /** Objects one account may own of each kind: `N`, and `KIND=N` overrides, comma-separated. */
  maxObjectsPerAccount: string;
  /** Keypairs one request may have sigmalite generate (those sent without `public_key`). */
  maxGeneratedKeys: number;
  /** SQLite's `synchronous`: `FULL` survives a power loss, `NORMAL` only a process crash. */
  sqliteSynchronous: string;
  /** Websocket event streams one account may hold open. */
  maxStreamsPerAccount: number;
  /** Other origins browser pages may open event streams from with cookies, comma-separated. */
  allowedOrigins: string | undefined;

  // Tunnels (issue 12, item 3).
  /** VNC and console tunnels (and web-console websockets) one account may hold open. */
  maxTunnelsPerAccount: number;
  /** VNC and console tunnels this process holds open, all accounts together. */
  maxTunnels: number;
  /** Seconds a tunnel may go without a connected client before it is closed (0: never). */
  tunnelIdleTimeout: number;
}

export interface OptionSpec {
  key: keyof Config;
  /** The long flag without dashes; a boolean flag takes no value (`no-x` sets `x` false). */
  flag: string;
  env: string;
  type: 'string' | 'integer' | 'boolean';
  /** Placeholder for the value in help texts. */
  arg?: string;
  help: string;
  /** Not a flag (secrets and lists come from the environment only). */
  envOnly?: boolean;
  /** How the default reads in the docs, when the value itself depends on the machine. */
  defaultText?: string;
}

export function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'sigmalite');
}

export const DEFAULTS: Config = {
  config: undefined,
  host: '127.0.0.1',
  port: 4780,
  data: defaultDataDir(),
  memory: false,
  store: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  bodyLimit: 10 * 1024 * 1024,
  defaultCpuType: 'amd',
  capabilities: undefined,
  library: undefined,
  publicUrl: undefined,
  logLevel: 'info',
  balance: '10000.00',
  digest: false,
  driver: 'simulated',
  hosts: DEFAULT_HOST,
  hypervisors: [],
  reconcileInterval: 30,
  transitions: 'default',
  guestAcpi: true,
  acpiTimeout: 60,
  contextDir: undefined,
  uploadTimeout: 3600,
  uploadMinRate: 1024,
  libvirtUri: 'qemu:///system',
  libvirtPool: 'sigmalite',
  libvirtNetwork: 'sigmalite-public',
  libvirtBridge: 'slpub0',
  libvirtNat: true,
  libvirtAccelerator: 'auto',
  serialHost: undefined,
  dynamicPool: '198.18.0.0/15',
  ipPool: '198.51.100.0/24',
  vlanTags: '2-4094',
  nameservers: '1.1.1.1,8.8.8.8',
  enforceBilling: false,
  users: undefined,
  control: false,
  controlToken: undefined,
  seed: undefined,
  seedFile: undefined,
  strict: false,
  loginLimit: 10,
  loginLimitPerAddress: 60,
  headerTimeout: 20,
  bodyTimeout: 300,
  minBodyRate: 1024,
  maxConnections: 8192,
  maxConnectionsPerAddress: 256,
  maxRequestItems: 1000,
  maxString: 65_536,
  maxObjectsPerAccount: '200000',
  maxGeneratedKeys: 10,
  sqliteSynchronous: 'FULL',
  maxStreamsPerAccount: 16,
  allowedOrigins: undefined,

  maxTunnelsPerAccount: 64,
  maxTunnels: 1024,
  tunnelIdleTimeout: 600,
};

export const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'config',
    flag: 'config',
    env: 'SIGMALITE_CONFIG',
    type: 'string',
    arg: 'FILE',
    help: 'A TOML file of options (the keys below in snake_case); the environment and flags win over it',
  },
  {
    key: 'host',
    flag: 'host',
    env: 'SIGMALITE_HOST',
    type: 'string',
    arg: 'ADDRESS',
    help: 'Address to listen on',
  },
  {
    key: 'port',
    flag: 'port',
    env: 'SIGMALITE_PORT',
    type: 'integer',
    arg: 'PORT',
    help: 'Port to listen on (0: a free port)',
  },
  {
    key: 'data',
    flag: 'data',
    env: 'SIGMALITE_DATA',
    type: 'string',
    arg: 'DIR',
    help: 'Directory of the SQLite database (sigmalite.db)',
    defaultText: '$XDG_DATA_HOME/sigmalite, else ~/.local/share/sigmalite',
  },
  {
    key: 'memory',
    flag: 'memory',
    env: 'SIGMALITE_MEMORY',
    type: 'boolean',
    help: 'Keep the database in memory',
  },
  {
    key: 'store',
    flag: 'store',
    env: 'SIGMALITE_STORE',
    type: 'string',
    arg: 'URL',
    help: 'PostgreSQL URL (postgres://...) of a shared store instead of SQLite',
  },
  {
    key: 'tlsCert',
    flag: 'tls-cert',
    env: 'SIGMALITE_TLS_CERT',
    type: 'string',
    arg: 'FILE',
    help: 'Serve HTTPS with this PEM certificate (with --tls-key)',
  },
  {
    key: 'tlsKey',
    flag: 'tls-key',
    env: 'SIGMALITE_TLS_KEY',
    type: 'string',
    arg: 'FILE',
    help: 'The PEM private key of --tls-cert',
  },
  {
    key: 'publicUrl',
    flag: 'public-url',
    env: 'SIGMALITE_PUBLIC_URL',
    type: 'string',
    arg: 'URL',
    help: 'Scheme and host clients reach the API at (Location headers, /locations/, vnc_url); default: the request Host',
  },
  {
    key: 'bodyLimit',
    flag: 'body-limit',
    env: 'SIGMALITE_BODY_LIMIT',
    type: 'integer',
    arg: 'BYTES',
    help: 'Largest request body accepted',
  },
  {
    key: 'defaultCpuType',
    flag: 'default-cpu-type',
    env: 'SIGMALITE_DEFAULT_CPU_TYPE',
    type: 'string',
    arg: 'TYPE',
    help: 'cpu_type of servers created without one',
  },
  {
    key: 'capabilities',
    flag: 'capabilities',
    env: 'SIGMALITE_CAPABILITIES',
    type: 'string',
    arg: 'FILE',
    help: 'JSON file replacing the default /capabilities/',
  },
  {
    key: 'library',
    flag: 'library',
    env: 'SIGMALITE_LIBRARY',
    type: 'string',
    arg: 'FILE',
    help: 'JSON catalog of the library drives (/libdrives/), loaded at start (docs/library.md)',
    defaultText: 'a built-in catalog of four images (two disks, two cdroms)',
  },
  {
    key: 'balance',
    flag: 'balance',
    env: 'SIGMALITE_BALANCE',
    type: 'string',
    arg: 'DECIMAL',
    help: 'Balance every account starts with (/balance/); purchases take from it',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'SIGMALITE_LOG_LEVEL',
    type: 'string',
    arg: 'LEVEL',
    help: 'trace, debug, info, warn, error, fatal or silent',
  },
  {
    key: 'driver',
    flag: 'driver',
    env: 'SIGMALITE_DRIVER',
    type: 'string',
    arg: 'NAME',
    help: 'The compute and storage drivers: simulated, or libvirt (real virtual machines, docs/libvirt.md)',
  },
  {
    key: 'hosts',
    flag: 'hosts',
    env: 'SIGMALITE_HOSTS',
    type: 'string',
    arg: 'NAMES',
    help: "The hypervisor hosts this process serves, comma-separated: it runs their servers' tasks and reconciles them (several processes on one PostgreSQL each serve their own); * serves every host of the registry ([[hypervisor]] tables, sigmalite host add), following adds and removes while it runs",
  },
  {
    key: 'reconcileInterval',
    flag: 'reconcile-interval',
    env: 'SIGMALITE_RECONCILE_INTERVAL',
    type: 'integer',
    arg: 'SECONDS',
    help: "How often the servers of this process's hosts are reconciled with what their hypervisors run (0: only at start)",
  },
  {
    key: 'transitions',
    flag: 'transitions',
    env: 'SIGMALITE_TRANSITIONS',
    type: 'string',
    arg: 'SPEC',
    help: 'Simulated transition times: PRESET[,NAME=MS...]; presets default, instant, fast, slow; names start, stop, shutdown, create, resize, clone, snapshot',
  },
  {
    key: 'guestAcpi',
    flag: 'no-guest-acpi',
    env: 'SIGMALITE_GUEST_ACPI',
    type: 'boolean',
    help: 'Simulated guests ignore ACPI shutdown requests (SIGMALITE_GUEST_ACPI=false)',
  },
  {
    key: 'acpiTimeout',
    flag: 'acpi-timeout',
    env: 'SIGMALITE_ACPI_TIMEOUT',
    type: 'integer',
    arg: 'SECONDS',
    help: 'How long an ACPI shutdown waits for the guest before the server is running again',
  },
  {
    key: 'contextDir',
    flag: 'context-dir',
    env: 'SIGMALITE_CONTEXT_DIR',
    type: 'string',
    arg: 'DIR',
    help: "Expose each running server's context serial port as a unix socket DIR/<uuid>.sock (docs/context.md), for guest-side tools through a pty",
  },
  {
    key: 'uploadTimeout',
    flag: 'upload-timeout',
    env: 'SIGMALITE_UPLOAD_TIMEOUT',
    type: 'integer',
    arg: 'SECONDS',
    help: 'How long an image upload may go without receiving a byte before it is given up and its drive deleted',
  },
  {
    key: 'uploadMinRate',
    flag: 'upload-min-rate',
    env: 'SIGMALITE_UPLOAD_MIN_RATE',
    type: 'integer',
    arg: 'BYTES',
    help: 'Image upload and chunk bodies slower than this many bytes a second (over 10 s) are cut; 0 for no floor',
  },
  {
    key: 'libvirtUri',
    flag: 'libvirt-uri',
    env: 'SIGMALITE_LIBVIRT_URI',
    type: 'string',
    arg: 'URI',
    help: 'The libvirt host of --driver libvirt (qemu:///system, qemu+ssh://host/system, ...)',
  },
  {
    key: 'libvirtPool',
    flag: 'libvirt-pool',
    env: 'SIGMALITE_LIBVIRT_POOL',
    type: 'string',
    arg: 'NAME',
    help: 'The libvirt storage pool of drives, made on DATA/libvirt/pool if absent',
  },
  {
    key: 'libvirtNetwork',
    flag: 'libvirt-network',
    env: 'SIGMALITE_LIBVIRT_NETWORK',
    type: 'string',
    arg: 'NAME',
    help: 'The libvirt network public NICs join, made over --dynamic-pool if absent',
  },
  {
    key: 'libvirtBridge',
    flag: 'libvirt-bridge',
    env: 'SIGMALITE_LIBVIRT_BRIDGE',
    type: 'string',
    arg: 'NAME',
    help: "The public network's Linux bridge (at most 15 characters)",
  },
  {
    key: 'libvirtNat',
    flag: 'no-libvirt-nat',
    env: 'SIGMALITE_LIBVIRT_NAT',
    type: 'boolean',
    help: 'The public network is isolated (guests reach each other and this machine only) instead of NATed',
  },
  {
    key: 'libvirtAccelerator',
    flag: 'libvirt-accelerator',
    env: 'SIGMALITE_LIBVIRT_ACCELERATOR',
    type: 'string',
    arg: 'auto|kvm|tcg',
    help: 'What runs libvirt guests: auto boots a test guest under KVM and falls back to TCG',
  },
  {
    key: 'serialHost',
    flag: 'serial-host',
    env: 'SIGMALITE_SERIAL_HOST',
    type: 'string',
    arg: 'ADDRESS',
    help: "The address guests' console and context ports connect to (an address the libvirt host reaches)",
    defaultText: '--host, or 127.0.0.1 when --host is a wildcard',
  },
  {
    key: 'dynamicPool',
    flag: 'dynamic-pool',
    env: 'SIGMALITE_DYNAMIC_POOL',
    type: 'string',
    arg: 'CIDR',
    help: "IPv4 network DHCP NICs get their address from while their server runs (the default is reserved, not routed, and public to clients, as CloudSigma's DHCP addresses are; docs/differences.md)",
  },
  {
    key: 'ipPool',
    flag: 'ip-pool',
    env: 'SIGMALITE_IP_POOL',
    type: 'string',
    arg: 'RANGE',
    help: 'Addresses ip subscriptions hand out (/ips/): a CIDR (its hosts after the gateway) or FIRST-LAST/PREFIX; apart from --dynamic-pool',
  },
  {
    key: 'vlanTags',
    flag: 'vlan-tags',
    env: 'SIGMALITE_VLAN_TAGS',
    type: 'string',
    arg: 'FIRST-LAST',
    help: '802.1Q tags of the VLANs vlan subscriptions hand out (/vlans/); one VLAN per tag',
  },
  {
    key: 'nameservers',
    flag: 'nameservers',
    env: 'SIGMALITE_NAMESERVERS',
    type: 'string',
    arg: 'LIST',
    help: 'Nameserver addresses IPs show, comma-separated',
  },
  {
    key: 'enforceBilling',
    flag: 'enforce-billing',
    env: 'SIGMALITE_ENFORCE_BILLING',
    type: 'boolean',
    help: 'Refuse with 402 what the balance cannot pay: subscriptions, and starts without funds for 5 days of burst usage',
  },
  {
    key: 'users',
    flag: 'users',
    env: 'SIGMALITE_USERS',
    type: 'string',
    envOnly: true,
    help: 'Accounts to create or update at start: email:password[,email:password...]',
  },
  {
    key: 'control',
    flag: 'control',
    env: 'SIGMALITE_CONTROL',
    type: 'boolean',
    help: 'Serve the test-control API under /_sigmalite/ (bearer token SIGMALITE_CONTROL_TOKEN, generated and printed on stderr if unset)',
  },
  {
    key: 'controlToken',
    flag: 'control-token',
    env: 'SIGMALITE_CONTROL_TOKEN',
    type: 'string',
    envOnly: true,
    help: 'The bearer token of the test-control API',
  },
  {
    key: 'seed',
    flag: 'seed',
    env: 'SIGMALITE_SEED',
    type: 'integer',
    arg: 'N',
    help: 'Make generated uuids, MACs, passwords and addresses reproducible (for snapshot tests; never in production; secrets such as session ids stay random)',
  },
  {
    key: 'seedFile',
    flag: 'seed-file',
    env: 'SIGMALITE_SEED_FILE',
    type: 'string',
    arg: 'FILE',
    help: 'A JSON file of accounts, library drives, IPs, VLANs, servers and drives loaded at start (idempotent; docs/seeding.md)',
  },
  {
    key: 'strict',
    flag: 'strict',
    env: 'SIGMALITE_STRICT',
    type: 'boolean',
    help: "Reject unknown body fields (400 validation, one error per field, naming it); by default they are ignored and named in the request's log line, as unknown list query parameters always are",
  },
  {
    key: 'loginLimit',
    flag: 'login-limit',
    env: 'SIGMALITE_LOGIN_LIMIT',
    type: 'integer',
    arg: 'N',
    help: 'Login attempts (Basic, Digest, do=login) per account a minute, counted before the password is checked; beyond it 429 with Retry-After (verified credentials and sessions keep working)',
  },
  {
    key: 'loginLimitPerAddress',
    flag: 'login-limit-per-address',
    env: 'SIGMALITE_LOGIN_LIMIT_PER_ADDRESS',
    type: 'integer',
    arg: 'N',
    help: 'Login attempts (API tokens included) per client address a minute (IPv6: per /64); beyond it 429 with Retry-After',
  },
  {
    key: 'headerTimeout',
    flag: 'header-timeout',
    env: 'SIGMALITE_HEADER_TIMEOUT',
    type: 'integer',
    arg: 'SECONDS',
    help: "Time a client has to send a request's headers; then the connection closes (408)",
  },
  {
    key: 'bodyTimeout',
    flag: 'body-timeout',
    env: 'SIGMALITE_BODY_TIMEOUT',
    type: 'integer',
    arg: 'SECONDS',
    help: "Time a client has to send a request's body; then 408 and the connection closes (not the image upload routes, which bound themselves)",
  },
  {
    key: 'minBodyRate',
    flag: 'min-body-rate',
    env: 'SIGMALITE_MIN_BODY_RATE',
    type: 'integer',
    arg: 'BYTES',
    help: 'Bytes a second a request body must average once 10 seconds have passed; slower: 408 and the connection closes',
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    env: 'SIGMALITE_MAX_CONNECTIONS',
    type: 'integer',
    arg: 'N',
    help: 'Open connections in total; more are answered 503 and closed',
  },
  {
    key: 'maxConnectionsPerAddress',
    flag: 'max-connections-per-address',
    env: 'SIGMALITE_MAX_CONNECTIONS_PER_ADDRESS',
    type: 'integer',
    arg: 'N',
    help: 'Open connections per client address (IPv6: per /64); more are answered 429 and closed',
  },
  {
    key: 'maxRequestItems',
    flag: 'max-request-items',
    env: 'SIGMALITE_MAX_REQUEST_ITEMS',
    type: 'integer',
    arg: 'N',
    help: 'Items in any list of a request body: objects of a bulk create, update or delete, subscriptions, NICs, drives... (more: 400)',
  },
  {
    key: 'maxString',
    flag: 'max-string',
    env: 'SIGMALITE_MAX_STRING',
    type: 'integer',
    arg: 'CHARS',
    help: 'Characters in any string of a request body, keys included (more: 400)',
  },
  {
    key: 'maxObjectsPerAccount',
    flag: 'max-objects-per-account',
    env: 'SIGMALITE_MAX_OBJECTS_PER_ACCOUNT',
    type: 'string',
    arg: 'N[,KIND=N...]',
    help: 'Objects one account may own of each kind (servers, drives, snapshots, tags, keypairs, acls, fwpolicies, subscriptions); KIND=N sets one kind, e.g. 200000,tags=5000 (more: 403)',
  },
  {
    key: 'maxGeneratedKeys',
    flag: 'max-generated-keys',
    env: 'SIGMALITE_MAX_GENERATED_KEYS',
    type: 'integer',
    arg: 'N',
    help: 'Keypairs one request may ask sigmalite to generate (sent without public_key; each is an RSA key generation) (more: 400)',
  },
  {
    key: 'sqliteSynchronous',
    flag: 'sqlite-synchronous',
    env: 'SIGMALITE_SQLITE_SYNCHRONOUS',
    type: 'string',
    arg: 'FULL|NORMAL',
    help: 'SQLite durability: FULL loses nothing acknowledged, power loss included; NORMAL is faster and survives a process crash, but a power loss may take the last commits',
  },
  {
    key: 'maxStreamsPerAccount',
    flag: 'max-streams-per-account',
    env: 'SIGMALITE_MAX_STREAMS_PER_ACCOUNT',
    type: 'integer',
    arg: 'N',
    help: 'Websocket event streams one account may hold open at once (more: 429)',
  },
  {
    key: 'allowedOrigins',
    flag: 'allowed-origins',
    env: 'SIGMALITE_ALLOWED_ORIGINS',
    type: 'string',
    arg: 'LIST',
    help: "Origins (https://host[:port], comma-separated) whose pages may open event streams and console websockets, or upload and download images, with a browser's credentials, besides the API's own origin; others get 403",
  },

  {
    key: 'maxTunnelsPerAccount',
    flag: 'max-tunnels-per-account',
    env: 'SIGMALITE_MAX_TUNNELS_PER_ACCOUNT',
    type: 'integer',
    arg: 'N',
    help: 'VNC and console tunnels one account may hold open at once (more: 429); also its web-console websockets',
  },
  {
    key: 'maxTunnels',
    flag: 'max-tunnels',
    env: 'SIGMALITE_MAX_TUNNELS',
    type: 'integer',
    arg: 'N',
    help: 'VNC and console tunnels this process holds open, all accounts together (more: 503)',
  },
  {
    key: 'tunnelIdleTimeout',
    flag: 'tunnel-idle-timeout',
    env: 'SIGMALITE_TUNNEL_IDLE_TIMEOUT',
    type: 'integer',
    arg: 'SECONDS',
    help: 'A VNC or console tunnel with no client connected for this long is closed, as close_vnc or close_console would (0: never)',
  },
  {
    key: 'digest',
    flag: 'digest',
    env: 'SIGMALITE_DIGEST',
    type: 'boolean',
    help: "Offer HTTP Digest authentication. It keeps an unsalted MD5 of every account's password (HA1, set at its next password change or creation), which a stolen database turns into logins: off by default; a start without it drops every stored HA1",
  },
];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads one option's text (from a flag or the environment) into its type. */
export function parseOption(
  spec: OptionSpec,
  text: string | boolean,
  source: string,
): Config[keyof Config] {
  if (spec.type === 'boolean') {
    if (typeof text === 'boolean') return text;
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off|)$/i.test(text)) return false;
    throw new ConfigError(`${source}: expected a boolean, got "${text}"`);
  }
  if (typeof text === 'boolean') throw new ConfigError(`${source}: a value is required`);
  if (spec.type === 'integer') {
    if (!/^\d+$/.test(text))
      throw new ConfigError(`${source}: expected a non-negative integer, got "${text}"`);
    return Number(text);
  }
  return text;
}

/**
 * Builds the configuration: defaults, then the configuration file's values (already read, see
 * config-file.ts), then the environment, then flags.
 */
export function resolveConfig(
  flags: Partial<Record<keyof Config, string | boolean>>,
  env: NodeJS.ProcessEnv = process.env,
  file: Partial<Config> = {},
): Config {
  const config: Config = { ...DEFAULTS, ...file };
  const target = config as unknown as Record<string, unknown>;
  for (const spec of OPTIONS) {
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '')
      target[spec.key] = parseOption(spec, fromEnv, spec.env);
    const fromFlag = flags[spec.key];
    if (fromFlag !== undefined && !spec.envOnly)
      target[spec.key] = parseOption(spec, fromFlag, `--${spec.flag}`);
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together');
  }
  if (config.store !== undefined && !/^postgres(ql)?:\/\//.test(config.store)) {
    throw new ConfigError(`--store: expected a postgres:// URL, got "${config.store}"`);
  }
  if (config.store !== undefined && config.memory)
    throw new ConfigError('--store and --memory exclude each other');
  config.sqliteSynchronous = config.sqliteSynchronous.toUpperCase();
  if (config.sqliteSynchronous !== 'FULL' && config.sqliteSynchronous !== 'NORMAL') {
    throw new ConfigError(
      `--sqlite-synchronous: expected FULL or NORMAL, got "${config.sqliteSynchronous}"`,
    );
  }
  if (config.port > 65535) throw new ConfigError(`--port: ${config.port} is not a port`);
  if (config.publicUrl !== undefined) config.publicUrl = publicOrigin(config.publicUrl);
  const driver = driverProblem(config.driver);
  if (driver) throw new ConfigError(`--driver: ${driver}`);
  if (!['auto', 'kvm', 'tcg'].includes(config.libvirtAccelerator)) {
    throw new ConfigError(
      `--libvirt-accelerator: "${config.libvirtAccelerator}" is none of auto, kvm, tcg`,
    );
  }
  if (!servesEveryHost(config.hosts)) parseHosts(config.hosts);
  return config;
}

/** `--hosts` to serve every host of the registry, as it changes. */
export const EVERY_HOST = '*';

export function servesEveryHost(text: string): boolean {
  return text.trim() === EVERY_HOST;
}

/** `--hosts` as a list: names of letters, digits, dots and dashes, at least one, no repeats. */
export function parseHosts(text: string): string[] {
  const hosts = text.split(',').map((host) => host.trim());
  for (const host of hosts) {
    if (!HOST_NAME.test(host)) {
      throw new ConfigError(
        `--hosts: "${host}" is no host name (letters, digits, dots and dashes, at most 63), nor * alone (every host)`,
      );
    }
  }
  if (new Set(hosts).size !== hosts.length) throw new ConfigError('--hosts: a host is named twice');
  return hosts;
}

/**
 * `--public-url` as the origin the API renders (`https://host[:port]`): an http(s) URL whose path
 * is empty, `/` or the API's `/api/2.0/` (what clients' `api_endpoint` holds).
 */
export function publicOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--public-url: expected an http:// or https:// URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`--public-url: expected an http:// or https:// URL, got "${text}"`);
  }
  if (!/^\/(api\/2\.0\/?)?$/.test(url.pathname) || url.search || url.hash || url.username) {
    throw new ConfigError(
      `--public-url: give the scheme, host and port only (as in https://zrh.cloudsigma.com), got "${text}"`,
    );
  }
  return url.origin;
}
