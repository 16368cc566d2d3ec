/**
 * `--config FILE` on the built `sigmalite serve`: the file's keys apply, the environment and flags
 * win over them, and an unknown key stops the start naming it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get, killAll, runCli, startServer } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'sigmalite-config-cli-'));
afterEach(killAll, 30_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('sigmalite serve --config', () => {
  it('takes options from the file, under the environment and the flags', async () => {
    const path = configFile(
      'sigmalite.toml',
      [
        'port = 1', // the flag below wins
        'memory = true',
        'transitions = "instant"',
        'users = "file@example.com:file-password"',
        'dynamic_pool = "10.77.0.0/24"',
        'log_level = "warn"',
      ].join('\n'),
    );
    const server = await startServer(['--config', path, '--port', '0'], {
      // The environment wins over the file's dynamic pool.
      env: { SIGMALITE_DYNAMIC_POOL: '10.88.0.0/24' },
    });
    const profile = await get(server, '/api/2.0/profile/', ['file@example.com', 'file-password']);
    expect(profile.status).toBe(200);
    // No generated account: the file named one.
    expect(server.stdout()).not.toMatch(/sigmalite user/);

    const auth = ['file@example.com', 'file-password'] as [string, string];
    const created = await fetch(`${server.origin}/api/2.0/servers/`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(auth.join(':')).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        name: 's',
        cpu: 1000,
        mem: 536870912,
        vnc_password: 'secretpw',
        nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
      }),
    });
    const uuid = ((await created.json()) as { objects: { uuid: string }[] }).objects[0]!.uuid;
    await fetch(`${server.origin}/api/2.0/servers/${uuid}/action/?do=start`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(auth.join(':')).toString('base64')}` },
    });
    let address: string | undefined;
    for (let i = 0; i < 50 && !address; i++) {
      const got = JSON.parse((await get(server, `/api/2.0/servers/${uuid}/`, auth)).body);
      address = got.runtime?.nics?.[0]?.ip_v4?.uuid;
      if (!address) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(address).toMatch(/^10\.88\.0\./);
    // log_level = "warn": no request lines on stderr.
    expect(server.stderr()).not.toContain('"msg":"request"');
    expect(await server.stop()).toBe(0);
  });

  it('is also named by SIGMALITE_CONFIG', async () => {
    const path = configFile('env.toml', 'memory = true\nusers = "env@example.com:env-password"\n');
    const server = await startServer(['--port', '0'], { env: { SIGMALITE_CONFIG: path } });
    expect(
      (await get(server, '/api/2.0/profile/', ['env@example.com', 'env-password'])).status,
    ).toBe(200);
    expect(await server.stop()).toBe(0);
  });

  it('stops the start on an unknown key, naming it (exit 2)', async () => {
    const path = configFile('bad.toml', 'memory = true\nprot = 4780\n');
    const result = await runCli(['serve', '--config', path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/unknown key "prot"/);
  });

  it('stops the start on a file that is not TOML or not there (exit 2)', async () => {
    const bad = await runCli(['serve', '--config', configFile('broken.toml', 'port = = 1')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not valid TOML/);
    const missing = await runCli(['serve', '--config', join(dir, 'missing.toml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read/);
  });
});
