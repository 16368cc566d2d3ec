/**
 * The `sigmalite` command line. Stdout carries only the lines scripts depend on
 * (`sigmalite listening on URL`, `sigmalite user EMAIL PASSWORD`, `sigmalite token ID TOKEN`, the
 * lines of `user list` and `token list`); logs go to stderr.
 */
import { Command, Option } from 'commander';
import {
  AccountError,
  createAccount,
  generatePassword,
  removeAccount,
  setPassword,
} from '../accounts/service.js';
import { issueToken, listTokens, revokeToken } from '../accounts/tokens.js';
import { createApp, openStore } from '../app.js';
import { type Config, ConfigError, DEFAULTS, OPTIONS, resolveConfig } from '../config.js';
import { configFileValues } from '../config-file.js';
import type { Store } from '../store/types.js';
import { addHostCommands } from './host-command.js';
import { progressReporter } from './progress.js';
import { addStateCommands } from './state-commands.js';
import { addTlsCommands } from './tls-command.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

function addServeOptions(command: Command): Command {
  for (const spec of OPTIONS) {
    if (spec.envOnly) continue;
    const flag =
      spec.type === 'boolean' ? `--${spec.flag}` : `--${spec.flag} <${spec.arg ?? 'VALUE'}>`;
    const fallback = DEFAULTS[spec.key];
    const help = `${spec.help} (env ${spec.env}${fallback !== undefined && spec.type !== 'boolean' ? `; default ${fallback}` : ''})`;
    command.addOption(new Option(flag, help));
  }
  return command;
}

/** The flags given on the command line (not commander's defaults, so the environment applies). */
function flagsOf(command: Command): Partial<Record<keyof Config, string | boolean>> {
  const options = command.opts<Record<string, unknown>>();
  const flags: Partial<Record<keyof Config, string | boolean>> = {};
  for (const spec of OPTIONS) {
    if (command.getOptionValueSource(spec.key) !== 'cli') continue;
    const value = options[spec.key];
    if (typeof value === 'string' || typeof value === 'boolean') flags[spec.key] = value;
  }
  return flags;
}

/** Flags, then the environment, then the `--config` file, then the defaults. */
function configOf(command: Command): Config {
  const flags = flagsOf(command);
  return resolveConfig(flags, process.env, configFileValues(flags, process.env));
}

async function serve(command: Command): Promise<void> {
  const config = configOf(command);
  // Seeding many objects shows its progress on stderr (a bar on a terminal).
  const app = await createApp(config, { progress: progressReporter() });
  for (const user of app.generatedUsers) out(`sigmalite user ${user.email} ${user.password}`);
  // Not on stdout: that carries only the lines of the CLI contract.
  if (app.control?.generatedToken)
    process.stderr.write(`sigmalite control token ${app.control.token}\n`);
  out(`sigmalite listening on ${app.url}`);
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Runs `fn` on the store of the data directory a `user` or `token` command names. */
async function withStore(command: Command, fn: (store: Store, config: Config) => Promise<void>) {
  const config = configOf(command);
  if (config.memory)
    throw new ConfigError('user and token commands need a data directory, not --memory');
  const store = await openStore(config);
  try {
    await fn(store, config);
  } finally {
    await store.close();
  }
}

const dataOption = () =>
  new Option('--data <DIR>', 'Directory of the SQLite database (env SIGMALITE_DATA)');
const storeOption = () =>
  new Option('--store <URL>', 'PostgreSQL URL instead of SQLite (env SIGMALITE_STORE)');

export function buildCli(): Command {
  const program = new Command('sigmalite')
    .description('A self-hostable implementation of the CloudSigma REST API 2.0')
    .showHelpAfterError();

  addServeOptions(
    program.command('serve', { isDefault: true }).description('Run the API server'),
  ).action((_options: unknown, command: Command) => serve(command));

  const user = program.command('user').description('Manage accounts (also while a server runs)');
  user
    .command('add <email> [password]')
    .description('Create an account; prints a generated password if none is given')
    .addOption(dataOption())
    .addOption(storeOption())
    .action((email: string, password: string | undefined, _options: unknown, command: Command) =>
      withStore(command, async (store, config) => {
        const chosen = password ?? generatePassword();
        await createAccount(store, { email, password: chosen }, { digest: config.digest });
        out(`sigmalite user ${email} ${password === undefined ? chosen : '(password as given)'}`);
      }),
    );
  user
    .command('list')
    .description('List accounts: uuid and email')
    .addOption(dataOption())
    .addOption(storeOption())
    .action((_options: unknown, command: Command) =>
      withStore(command, async (store) => {
        for (const account of await store.accounts.list()) out(`${account.uuid} ${account.email}`);
      }),
    );
  user
    .command('passwd <email> [password]')
    .description('Change a password; prints a generated one if none is given')
    .addOption(dataOption())
    .addOption(storeOption())
    .action((email: string, password: string | undefined, _options: unknown, command: Command) =>
      withStore(command, async (store, config) => {
        const chosen = password ?? generatePassword();
        await setPassword(store, { email, password: chosen }, { digest: config.digest });
        out(`sigmalite user ${email} ${password === undefined ? chosen : '(password as given)'}`);
      }),
    );
  user
    .command('remove <email>')
    .description('Remove an account and everything it owns')
    .addOption(dataOption())
    .addOption(storeOption())
    .action((email: string, _options: unknown, command: Command) =>
      withStore(command, (store) => removeAccount(store, email)),
    );
  const token = program
    .command('token')
    .description('Manage API tokens (Authorization: Bearer TOKEN), also while a server runs');
  token
    .command('create <email>')
    .description('Issue a token for an account; prints its id and the token, shown only now')
    .option('--name <NAME>', 'What the token is for (shown by list)')
    .addOption(dataOption())
    .addOption(storeOption())
    .action((email: string, options: { name?: string }, command: Command) =>
      withStore(command, async (store) => {
        const issued = await issueToken(store, email, options.name ?? '');
        out(`sigmalite token ${issued.id} ${issued.token}`);
      }),
    );
  token
    .command('list <email>')
    .description("List an account's tokens: id, creation time and name (never the tokens)")
    .addOption(dataOption())
    .addOption(storeOption())
    .action((email: string, _options: unknown, command: Command) =>
      withStore(command, async (store) => {
        for (const t of await listTokens(store, email)) {
          out(`${t.id} ${t.createdAt}${t.name === '' ? '' : ` ${t.name}`}`);
        }
      }),
    );
  token
    .command('revoke <email> <id>')
    .description('Revoke a token: requests that send it get 401 from then on')
    .addOption(dataOption())
    .addOption(storeOption())
    .action((email: string, id: string, _options: unknown, command: Command) =>
      withStore(command, (store) => revokeToken(store, email, id)),
    );
  addTlsCommands(program);
  addStateCommands(program);
  addHostCommands(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildCli().parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof AccountError) {
      process.stderr.write(`sigmalite: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
