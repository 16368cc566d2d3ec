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

describe('[[hypervisor]] tables', () => {
  it('declare hosts: names, libvirt fields, capacity in MHz and memory as bytes or a size', () => {
    const path = file(
      [
        'hosts = "*"',
        '[[hypervisor]]',
        'name = "h1"',
        'uri = "qemu+tls://h1/system"',
        'mhz = 20000',
        'memory = "16G"',
        'pool = "sigmalite"',
        'pool_path = "/srv/pool"',
        'shared_pool = true',
        'network = "pub"',
        'bridge = "slpub1"',
        '[[hypervisor]]',
        'name = "h2"',
        'memory = 1073741824',
        '',
      ].join('\n'),
    );
    const values = readConfigFile(path);
    expect(values.hypervisors).toEqual([
      {
        name: 'h1',
        uri: 'qemu+tls://h1/system',
        mhz: 20000,
        memory: 16 * 2 ** 30,
        pool: 'sigmalite',
        poolPath: '/srv/pool',
        sharedPool: true,
        network: 'pub',
        bridge: 'slpub1',
      },
      { name: 'h2', memory: 2 ** 30 },
    ]);
    const config = resolveConfig({}, {}, values);
    expect(config.hosts).toBe('*');
    expect(config.hypervisors).toHaveLength(2);
    expect(DEFAULTS.hypervisors).toEqual([]);
  });

  it('refuse unknown keys, bad names, repeated names and bad values, naming them', () => {
    const table = (hosts: unknown) => () => configFromTable({ hypervisor: hosts }, 'x.toml');
    expect(table([{ name: 'h1', url: 'qemu:///system' }])).toThrow(
      /x\.toml: \[\[hypervisor\]\] 1 \(h1\): unknown key "url" \(keys: name, uri, mhz/,
    );
    expect(table([{ uri: 'qemu:///system' }])).toThrow(/\[\[hypervisor\]\] 1 has no "name"/);
    expect(table([{ name: 'h 1' }])).toThrow(/"h 1" is no host name/);
    expect(table([{ name: 'h1' }, { name: 'h1' }])).toThrow(/"h1" is declared twice/);
    expect(table([{ name: 'h1', mhz: -5 }])).toThrow(/"mhz" must be a positive whole number/);
    expect(table([{ name: 'h1', memory: '16 apples' }])).toThrow(/"memory" must be a positive/);
    expect(table([{ name: 'h1', uri: 'h1' }])).toThrow(/"uri" must be a libvirt URI/);
    expect(table([{ name: 'h1', bridge: 'a-very-long-bridge' }])).toThrow(/at most 15/);
    expect(table([{ name: 'h1', shared_pool: 'yes' }])).toThrow(/"shared_pool" must be true/);
    expect(table([{ name: 'h1', pool_path: 'pool' }])).toThrow(/"pool_path" must be an absolute/);
    expect(table({ name: 'h1' })).toThrow(/"hypervisor" must be tables/);
    for (const bad of [table([{ name: 'h1', url: 'x' }]), table({})]) {
      expect(bad).toThrow(ConfigError);
    }
  });

  it('are no flag: --hosts takes * alone, or names', () => {
    expect(resolveConfig({ hosts: '*' }, {}).hosts).toBe('*');
    expect(() => resolveConfig({ hosts: 'h1,*' }, {})).toThrow(/nor \* alone/);
  });
});
