/**
 * `sigmalite export` and `sigmalite import` (docs/backup.md): the whole state as one JSON dump,
 * the format of the control API's `GET`/`PUT /_sigmalite/state` (`control/state.ts`), for backups
 * and for moving between SQLite and PostgreSQL.
 *
 * - export reads one consistent snapshot, so it is safe while servers run; it writes to a file
 *   through a temporary name (a failed export leaves no half backup) or to stdout.
 * - import checks the whole dump before it touches the store, refuses a store that holds anything
 *   unless `--replace`, and opens the store exclusive: it refuses while any other process has it
 *   open (a running server), and servers that start meanwhile wait.
 *
 * Stdout carries only the dump; messages and progress go to stderr. Exit 2 for what the command
 * line asked wrongly (options, paths, a non-empty store without --replace), 1 for what failed
 * (an invalid dump, a store unreachable or in use).
 */

import { once } from 'node:events';
import {
  constants,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  rmSync,
} from 'node:fs';
import { access, open, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { DB_FILE } from '../app.js';
import { type Config, ConfigError, resolveConfig } from '../config.js';
import { configFileValues } from '../config-file.js';
import { DumpSyntaxError } from '../control/dump-reader.js';
import {
  checkDumpStream,
  type DumpCounts,
  DumpError,
  type DumpSummary,
  restoreDumpStream,
  writeDump,
} from '../control/state.js';
import { prepareDataDir } from '../store/data-dir.js';
import { PostgresStore } from '../store/postgres/store.js';
import { SqliteStore } from '../store/sqlite/store.js';
import { type Store, StoreBusyError } from '../store/types.js';
import { progressReporter } from './progress.js';

/** The command line asked for something that cannot be (exit 2). */
export class UsageError extends Error {}

/** The work failed: a bad dump, a store unreachable or in use, a write that failed (exit 1). */
class StateError extends Error {}

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Where the state is: the store options of `user`, `export` and `import`. */
export interface Place {
  config: Pick<Config, 'data' | 'store' | 'memory'>;
  /** For messages: the SQLite file, or the PostgreSQL URL without its password. */
  label: string;
}

export function placeOf(command: Command): Place {
  const options = command.opts<{ data?: string; store?: string }>();
  if (options.data !== undefined && options.store !== undefined) {
    throw new UsageError('--data and --store exclude each other');
  }
  const flags: Partial<Record<keyof Config, string>> = {};
  if (options.data !== undefined) flags.data = options.data;
  if (options.store !== undefined) flags.store = options.store;
  const config = resolveConfig(flags, process.env, configFileValues(flags, process.env));
  if (config.memory) throw new UsageError('needs a data directory or --store, not --memory');
  const label = config.store ? redacted(config.store) : join(config.data, DB_FILE);
  return { config, label };
}

/** A PostgreSQL URL fit for a message: no password. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  }
}

/**
 * Opens the store of `place`. `exclusive`: alone (import). `mustExist`: a SQLite database must
 * already be there (export: an empty one made on the spot would be a misleading backup).
 */
async function openPlace(
  place: Place,
  { exclusive, mustExist }: { exclusive: boolean; mustExist: boolean },
): Promise<Store> {
  const { config, label } = place;
  try {
    if (config.store) return await PostgresStore.open({ url: config.store, exclusive });
    if (mustExist && !existsSync(label)) {
      throw new UsageError(`no sigmalite database in ${config.data} (${label} does not exist)`);
    }
    for (const warning of prepareDataDir(config.data, label)) {
      process.stderr.write(`warning: ${warning}\n`);
    }
    return new SqliteStore({ path: label, exclusive });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (e instanceof StoreBusyError) {
      throw new StateError(
        `${label}: ${e.message}; stop it first (a running server takes a dump by PUT /_sigmalite/state, docs/control.md)`,
      );
    }
    throw new StateError(`cannot open the store ${label}: ${messageOf(e)}`);
  }
}

function messageOf(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return messageOf(e.errors[0]);
  return e instanceof Error && e.message ? e.message : String(e);
}

/** "3 accounts, 120 objects, 4 tasks" */
function countsOf(accounts: number, objects: number, tasks: number): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
  return [n(accounts, 'account'), n(objects, 'object'), n(tasks, 'task')].join(', ');
}

/** An output file, written under a temporary name and renamed into place when complete. */
async function openOutput(path: string) {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // A dump holds password hashes: readable by its owner only.
    handle = await open(temporary, 'wx', 0o600);
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${messageOf(e)}`);
  }
  let done = false;
  return {
    write: async (text: string) => {
      await handle.write(text);
    },
    /** The dump is whole: it goes into place. */
    async finish() {
      await handle.sync();
      await handle.close();
      await rename(temporary, path);
      done = true;
    },
    /** Removes the temporary file if the dump did not make it into place. */
    async discard() {
      if (done) return;
      await handle.close().catch(() => {});
      await unlink(temporary).catch(() => {});
    },
  };
}

async function runExport(options: { out?: string }, command: Command): Promise<void> {
  const place = placeOf(command);
  const target = options.out === undefined || options.out === '-' ? undefined : options.out;
  const output = target === undefined ? undefined : await openOutput(target);
  const progress = progressReporter(process.stderr, { unit: 'rows' });
  try {
    const store = await openPlace(place, { exclusive: false, mustExist: true });
    let counts: DumpCounts;
    try {
      // One read transaction, written out a batch at a time. No clock runs here: the dump's
      // tasks keep the due times the servers gave them.
      const write = output ? output.write : stdoutWriter();
      counts = await writeDump(store, write, {
        onRows: (done, total) => progress.update('sigmalite export', done, total),
      });
      await output?.finish();
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new StateError(`cannot write ${target ?? 'to stdout'}: ${messageOf(e)}`);
    } finally {
      await store.close();
    }
    progress.finish();
    const rows = Object.values(counts).reduce((n, count) => n + count, 0);
    say(
      `sigmalite export: ${countsOf(counts.accounts, counts.objects, counts.tasks)} (${rows} rows) from ${place.label}${target ? ` to ${target}` : ''}`,
    );
  } finally {
    progress.finish();
    await output?.discard();
  }
}

/** Writes to stdout, which stays open, minding backpressure and errors (a closed pipe). */
function stdoutWriter(): (text: string) => Promise<void> {
  let failure: Error | undefined;
  process.stdout.on('error', (e) => {
    failure = e;
  });
  return async (text) => {
    if (failure) throw failure;
    if (!process.stdout.write(text)) {
      await Promise.race([once(process.stdout, 'drain'), once(process.stdout, 'error')]);
    }
    if (failure) throw failure;
  };
}

/**
 * The dump `file` names (`-`: stdin) as a file that can be read twice: stdin is first copied to
 * a temporary file (mode 0600: a dump is a secret), removed by `done`.
 */
async function dumpFile(file: string): Promise<{ path: string; name: string; done(): void }> {
  if (file !== '-') {
    try {
      await access(file, constants.R_OK);
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${messageOf(e)}`);
    }
    return { path: file, name: file, done: () => {} };
  }
  if (process.stdin.isTTY)
    throw new UsageError('stdin is a terminal: pipe a dump in, or name a file');
  const dir = mkdtempSync(join(tmpdir(), 'sigmalite-import-'));
  const path = join(dir, 'dump.json');
  await pipeline(process.stdin, createWriteStream(path, { mode: 0o600 }));
  return { path, name: 'stdin', done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Checks a dump file without opening any store: every fault is one line. */
async function checkDump(path: string, name: string): Promise<DumpSummary> {
  try {
    return await checkDumpStream(createReadStream(path));
  } catch (e) {
    if (e instanceof DumpSyntaxError)
      throw new StateError(`${name} is not a JSON document: ${e.message}`);
    if (e instanceof DumpError)
      throw new StateError(`${name} is not a sigmalite state dump: ${e.message}`);
    throw new UsageError(`cannot read ${name}: ${messageOf(e)}`);
  }
}

async function runImport(
  file: string,
  options: { replace?: boolean },
  command: Command,
): Promise<void> {
  const place = placeOf(command);
  const input = await dumpFile(file);
  const progress = progressReporter(process.stderr, { unit: 'rows' });
  try {
    // The whole dump is checked before the store is even opened; then read again into it.
    const summary = await checkDump(input.path, input.name);
    const store = await openPlace(place, { exclusive: true, mustExist: false });
    try {
      if (!options.replace) {
        const accounts = await store.accounts.count();
        const stats = await store.stats();
        const objects = stats.objects.reduce((n, row) => n + row.count, 0);
        if (accounts + objects + stats.tasks > 0) {
          throw new UsageError(
            `${place.label} is not empty (${countsOf(accounts, objects, stats.tasks)}); --replace replaces everything it holds with the dump`,
          );
        }
      }
      await restoreDumpStream(store, createReadStream(input.path), summary, (done, total) =>
        progress.update('sigmalite import', done, total),
      );
    } finally {
      progress.finish();
      await store.close();
    }
    const { rows } = summary;
    say(
      `sigmalite import: ${countsOf(rows.accounts, rows.objects, rows.tasks)} imported into ${place.label}`,
    );
  } finally {
    progress.finish();
    input.done();
  }
}

/** Errors become one line on stderr and an exit code, never a stack. */
function reported<A extends unknown[]>(name: string, run: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await run(...args);
    } catch (e) {
      say(`sigmalite ${name}: ${messageOf(e)}`);
      process.exitCode = e instanceof UsageError || e instanceof ConfigError ? 2 : 1;
    }
  };
}

export const dataOption = () =>
  new Option('--data <DIR>', 'Directory of the SQLite database (env SIGMALITE_DATA)');
export const storeOption = () =>
  new Option('--store <URL>', 'PostgreSQL URL instead of SQLite (env SIGMALITE_STORE)');

/** Commander's own usage errors (a missing argument, an unknown option) exit 2 too. */
export const usageExit = (err: { exitCode: number }): never =>
  process.exit(err.exitCode === 0 ? 0 : 2);

/** Adds `export` and `import` to the command line. */
export function addStateCommands(program: Command): void {
  program
    .command('export')
    .description(
      'Write the whole state as JSON (docs/backup.md); safe while a server runs. Progress on stderr',
    )
    .option('-o, --out <FILE>', 'Write the dump to FILE (mode 0600) instead of stdout; - is stdout')
    .addOption(dataOption())
    .addOption(storeOption())
    .exitOverride(usageExit)
    .action(reported('export', runExport));
  program
    .command('import <file>')
    .description(
      'Load a dump made by export (FILE, or - for stdin) into a store no server uses; the store must be empty unless --replace',
    )
    .option('--replace', 'Replace everything the store holds (accounts included) with the dump')
    .addOption(dataOption())
    .addOption(storeOption())
    .exitOverride(usageExit)
    .action(reported('import', runImport));
}
