import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, OPTIONS, resolveConfig } from './config.js';
import { configFileValues, configFromTable, fileKey, readConfigFile } from './config-file.js';

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sigmalite-config-')), 'sigmalite.toml');
  writeFileSync(path, text);
  return path;
}

describe('configuration file', () => {
  it('has a key for every option but itself, in snake_case', () => {
    expect(fileKey(OPTIONS.find((o) => o.key === 'dynamicPool')!)).toBe('dynamic_pool');
    expect(fileKey(OPTIONS.find((o) => o.key === 'seedFile')!)).toBe('seed_file');
  });

  it('reads typed values', () => {
    const path = file(
      'port = 0\ntransitions = "fast"\ncontrol = true\ndynamic_pool = "10.9.0.0/16"\n',
    );
    expect(readConfigFile(path)).toEqual({
      port: 0,
      transitions: 'fast',
      control: true,
      dynamicPool: '10.9.0.0/16',
    });
  });

  it('ranks flags over the environment over the file over the defaults', () => {
    const values = { port: 1111, transitions: 'slow', host: '127.0.0.2' };
    const env = { SIGMALITE_PORT: '2222', SIGMALITE_TRANSITIONS: 'fast' };
    const config = resolveConfig({ port: '3333' }, env, values);
    expect(config.port).toBe(3333);
    expect(config.transitions).toBe('fast');
    expect(config.host).toBe('127.0.0.2');
    expect(config.acpiTimeout).toBe(DEFAULTS.acpiTimeout);
  });

  it('refuses an unknown key, naming it', () => {
    expect(() => configFromTable({ prot: 4780 }, 'x.toml')).toThrow(/unknown key "prot"/);
    expect(() => configFromTable({ config: 'other.toml' }, 'x.toml')).toThrow(
      /unknown key "config"/,
    );
  });

  it('refuses a value of the wrong type, naming the key', () => {
    expect(() => configFromTable({ port: '4780' }, 'x.toml')).toThrow(/"port" must be an integer/);
    expect(() => configFromTable({ control: 'yes' }, 'x.toml')).toThrow(
      /"control" must be a boolean/,
    );
  });

  it('says which file is unreadable or not TOML', () => {
    expect(() => readConfigFile('/nonexistent/sigmalite.toml')).toThrow(ConfigError);
    expect(() => readConfigFile(file('port = = 1'))).toThrow(/is not valid TOML/);
  });

  it('is named by --config, else by SIGMALITE_CONFIG', () => {
    const a = file('port = 1\n');
    const b = file('port = 2\n');
    expect(configFileValues({ config: a }, { SIGMALITE_CONFIG: b })).toEqual({ port: 1 });
    expect(configFileValues({}, { SIGMALITE_CONFIG: b })).toEqual({ port: 2 });
    expect(configFileValues({}, {})).toEqual({});
  });
});
