/**
 * The configuration file (`--config FILE`, TOML): the same keys as the options (`data`,
 * `transitions`, `dynamic_pool`... in snake_case), flags and environment over it, and the
 * hypervisor hosts (`[[hypervisor]]` tables, `engine/host-input.ts`). An unknown key is an error
 * naming it.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { type Config, ConfigError, OPTIONS, type OptionSpec } from './config.js';
import { HostInputError, readHostTables } from './engine/host-input.js';

/**
 * The file key of the hosts' tables. Not `host`: that is the listen address's key, and TOML
 * cannot hold `host = "..."` and `[[host]]` in one file.
 */
export const HYPERVISOR_KEY = 'hypervisor';

/** The file key of an option: its config key in snake_case (`dynamicPool` → `dynamic_pool`). */
export function fileKey(spec: OptionSpec): string {
  return spec.key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The file `--config` (or SIGMALITE_CONFIG) names, read; nothing when neither is given. */
export function configFileValues(
  flags: Partial<Record<keyof Config, string | boolean>>,
  env: NodeJS.ProcessEnv,
): Partial<Config> {
  const flag = flags.config;
  const path = typeof flag === 'string' ? flag : env.SIGMALITE_CONFIG || undefined;
  return path === undefined ? {} : readConfigFile(path);
}

export function readConfigFile(path: string): Partial<Config> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config: cannot read ${path}: ${(e as Error).message}`);
  }
  let table: Record<string, unknown>;
  try {
    table = parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`--config: ${path} is not valid TOML: ${(e as Error).message}`);
  }
  return configFromTable(table, path);
}

export function configFromTable(table: Record<string, unknown>, source: string): Partial<Config> {
  const byKey = new Map(
    OPTIONS.filter((spec) => spec.key !== 'config').map((spec) => [fileKey(spec), spec]),
  );
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(table)) {
    if (key === HYPERVISOR_KEY) {
      try {
        out.hypervisors = readHostTables(source, value);
      } catch (e) {
        if (e instanceof HostInputError) throw new ConfigError(e.message);
        throw e;
      }
      continue;
    }
    const spec = key === 'config' ? undefined : byKey.get(key);
    if (!spec) {
      throw new ConfigError(
        `${source}: unknown key "${key}" (keys: ${[...byKey.keys(), HYPERVISOR_KEY].join(', ')})`,
      );
    }
    const ok =
      spec.type === 'boolean'
        ? typeof value === 'boolean'
        : spec.type === 'integer'
          ? typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
          : typeof value === 'string';
    if (!ok)
      throw new ConfigError(
        `${source}: "${key}" must be ${spec.type === 'integer' ? 'an' : 'a'} ${spec.type}`,
      );
    out[spec.key] = value;
  }
  return out as Partial<Config>;
}
