/**
 * `sigmalite host add|list|remove|drain` (docs/operations.md, several hosts): the host registry
 * in the store, also while servers run on it. A process started with `--hosts '*'` follows what
 * these commands change within a second (`engine/host-watch.ts`).
 *
 * Stdout carries only `host list`'s lines; messages go to stderr. Exit 2 for what the command
 * line asked wrongly (a bad value, an unknown host), 1 for what was refused or failed.
 */
import { type Command, Option } from 'commander';
import { openStore } from '../app.js';
import { ConfigError } from '../config.js';
import {
  checkHostName,
  formatSize,
  HOST_KEYS,
  HostInputError,
  type HostKey,
  readHostFields,
} from '../engine/host-input.js';
import {
  getHost,
  type HostRecord,
  type HostStatus,
  hostStatuses,
  listHosts,
  type NamedHost,
  putHost,
} from '../engine/hosts.js';
import { busyServersByHost, HostInUseError, releaseHost } from '../resources/servers/host-use.js';
import type { Store } from '../store/types.js';
import { dataOption, placeOf, storeOption, UsageError, usageExit } from './state-commands.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const say = (line: string) => process.stderr.write(`${line}\n`);

/** The store the `--data`/`--store` options (or the environment, or the config file) name. */
async function withStore<T>(command: Command, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(placeOf(command).config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Errors become one line on stderr and an exit code, never a stack. */
function reported<A extends unknown[]>(name: string, run: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await run(...args);
    } catch (e) {
      say(`sigmalite host ${name}: ${e instanceof Error ? e.message : String(e)}`);
      const usage =
        e instanceof UsageError ||
        e instanceof ConfigError ||
        e instanceof HostInputError ||
        (e instanceof HostInUseError && e.unknown);
      process.exitCode = usage ? 2 : 1;
    }
  };
}

/** The flags of `host add`, by the declaration key each sets (their meaning: `HOST_KEYS`). */
const FLAGS: Record<HostKey, { flag: string; number?: true; toggle?: true }> = {
  uri: { flag: '--uri <URI>' },
  mhz: { flag: '--mhz <N>', number: true },
  memory: { flag: '--memory <SIZE>' },
  pool: { flag: '--pool <NAME>' },
  pool_path: { flag: '--pool-path <DIR>' },
  shared_pool: { flag: '--shared-pool', toggle: true },
  network: { flag: '--network <NAME>' },
  bridge: { flag: '--bridge <NAME>' },
  vnc_listen: { flag: '--vnc-listen <ADDRESS>' },
};

/** A key's meaning as a flag's help: without the docs' backquotes, with its default. */
function flagHelp(key: HostKey): string {
  const { help, absent } = HOST_KEYS[key];
  const text = `${help[0]!.toUpperCase()}${help.slice(1)} (default: ${absent})`;
  return text.replaceAll('`', '');
}

/** `host add`'s options as declaration keys and values (the file's, so one reader checks both). */
function declaredBy(options: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(FLAGS) as [HostKey, (typeof FLAGS)[HostKey]][]) {
    const value = options[HOST_KEYS[key].field];
    if (value === undefined) continue;
    if (spec.number && typeof value === 'string') {
      if (!/^\d+$/.test(value)) throw new UsageError(`--mhz: "${value}" is no whole number`);
      values[key] = Number(value);
    } else values[key] = value;
  }
  return values;
}

async function add(name: string, options: Record<string, unknown>, command: Command) {
  const host = checkHostName('host add', name);
  const declared = readHostFields('host add', declaredBy(options));
  await withStore(command, async (store) => {
    const created = await store.write(async (tx) => {
      const stored = await getHost(tx, host);
      await putHost(tx, host, { ...stored, ...declared });
      return stored === undefined;
    });
    say(`sigmalite host: ${created ? 'added' : 'changed'} ${host}`);
  });
}

function capacityOf(
  host: HostRecord,
  status: HostStatus | undefined,
  key: 'mhz' | 'memory',
): string {
  const show = key === 'memory' ? formatSize : String;
  if (host[key] !== undefined) return show(host[key]);
  const reported = status?.[key];
  return reported === undefined ? '-' : `${show(reported)}(reported)`;
}

/** The host's other declared settings (pool, network, `vnc_listen`...), as `key=value`. */
function declaredSettings(host: NamedHost): string[] {
  const shown: HostKey[] = ['pool', 'pool_path', 'shared_pool', 'network', 'bridge', 'vnc_listen'];
  return shown.flatMap((key) => {
    const value = host[HOST_KEYS[key].field];
    if (value === undefined) return [];
    return [`${key}=${typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value)}`];
  });
}

/** One line per host: its name, then `key=value` fields (`-`: not declared, not known). */
function listLine(
  host: NamedHost,
  status: HostStatus | undefined,
  servers: number,
  registered = true,
): string {
  const fields = [
    host.name,
    `uri=${host.uri ?? '-'}`,
    `mhz=${capacityOf(host, status, 'mhz')}`,
    `memory=${capacityOf(host, status, 'memory')}`,
    ...declaredSettings(host),
    `drained=${host.drained ? 'yes' : 'no'}`,
    `state=${status === undefined ? 'unknown' : status.up ? 'up' : 'down'}`,
    `since=${status === undefined ? '-' : new Date(status.since).toISOString()}`,
    `servers=${servers}`,
  ];
  if (!registered) fields.push('registered=no');
  return fields.join(' ');
}

async function list(_options: unknown, command: Command) {
  const lines = await withStore(command, (store) =>
    store.read(async (tx) => {
      const hosts = await listHosts(tx);
      const statuses = await hostStatuses(tx);
      const busy = await busyServersByHost(tx);
      const lines = hosts.map((host) =>
        listLine(host, statuses.get(host.name), busy.get(host.name)?.length ?? 0),
      );
      // Servers run on hosts the registry does not name (`local` of a single process).
      for (const [name, servers] of busy) {
        if (hosts.some((host) => host.name === name)) continue;
        lines.push(listLine({ name }, statuses.get(name), servers.length, false));
      }
      return lines;
    }),
  );
  for (const line of lines) out(line);
}

async function remove(name: string, _options: unknown, command: Command) {
  await withStore(command, async (store) => {
    const forgotten = await store.write((tx) => releaseHost(tx, name));
    say(
      `sigmalite host: removed ${name}${forgotten > 0 ? ` (${forgotten} stopped server${forgotten === 1 ? '' : 's'} will start elsewhere)` : ''}`,
    );
  });
}

async function drain(name: string, options: { undo?: boolean }, command: Command) {
  const drained = options.undo !== true;
  await withStore(command, async (store) => {
    await store.write(async (tx) => {
      const stored = await getHost(tx, name);
      if (!stored) throw new UsageError(`there is no host "${name}" in the registry`);
      const { drained: _was, ...rest } = stored;
      await putHost(tx, name, drained ? { ...rest, drained: true } : rest);
    });
    say(
      `sigmalite host: ${name} ${drained ? 'drained: no new server is placed there' : 'takes new servers again'}`,
    );
  });
}

/** Adds `host` and its subcommands to the command line. */
export function addHostCommands(program: Command): void {
  const host = program
    .command('host')
    .description(
      "Manage the hypervisor hosts' registry (also while servers run; --hosts '*' follows it)",
    );
  const addCommand = host
    .command('add <name>')
    .description('Add a host, or change the given fields of one')
    .exitOverride(usageExit);
  // Commander names each value as the record field it sets (`--pool-path` -> poolPath).
  for (const [key, spec] of Object.entries(FLAGS) as [HostKey, (typeof FLAGS)[HostKey]][]) {
    const help = flagHelp(key) + (spec.toggle ? `; ${spec.flag.replace('--', '--no-')}: not` : '');
    addCommand.addOption(new Option(spec.flag, help));
    if (spec.toggle) addCommand.addOption(new Option(spec.flag.replace('--', '--no-')).hideHelp());
  }
  addCommand.addOption(dataOption()).addOption(storeOption()).action(reported('add', add));
  host
    .command('list')
    .description(
      'List the hosts: name, uri, capacity, drained, up or down since when, servers not stopped there',
    )
    .addOption(dataOption())
    .addOption(storeOption())
    .exitOverride(usageExit)
    .action(reported('list', list));
  host
    .command('remove <name>')
    .description(
      "Remove a host (refused while a server there is not stopped; stopped servers' next start is elsewhere)",
    )
    .addOption(dataOption())
    .addOption(storeOption())
    .exitOverride(usageExit)
    .action(reported('remove', remove));
  host
    .command('drain <name>')
    .description('Place no new server on a host (those there stay); --undo takes that back')
    .option('--undo', 'The host takes new servers again')
    .addOption(dataOption())
    .addOption(storeOption())
    .exitOverride(usageExit)
    .action(reported('drain', drain));
}
