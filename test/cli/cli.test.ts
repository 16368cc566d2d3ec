/**
 * The CLI contract (README "CLI contract"), on the built `sigmalite`: what `serve` prints on stdout
 * and nothing else, accounts from SIGMALITE_USERS, `sigmalite user ...` on the data directory of a
 * running server, a password change seen by the running server on the very next request,
 * `npm start`, and TLS.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  cliTestFile,
  get,
  LISTENING,
  lines,
  runCli,
  type Server,
  startServer,
  USER_LINE,
} from './process.js';

const execFileAsync = promisify(execFile);
const GENERATED_PASSWORD = /^[A-Za-z0-9]{16}$/;

const tempDir = cliTestFile('sigmalite-cli-');

/** The account the credentials prove, or the status when they do not. */
async function whoami(server: Server, email: string, password: string): Promise<string | number> {
  const res = await get(server, '/api/2.0/profile/', [email, password]);
  if (res.status !== 200) return res.status;
  return (JSON.parse(res.body) as { email: string }).email;
}

/** Stops a server and asserts it shut down cleanly. */
async function stop(server: Server): Promise<void> {
  expect(await server.stop()).toBe(0);
}

describe('sigmalite serve', () => {
  it('prints the generated user line then the listening line, nothing else; logs go to stderr', async () => {
    const data = tempDir();
    const server = await startServer(['--port', '0', '--data', data], {
      env: { XDG_DATA_HOME: tempDir() },
    });
    expect(server.scheme).toBe('http');
    const health = await get(server, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });

    const [userLine, listeningLine] = lines(server.stdout());
    const [, email, password] = USER_LINE.exec(userLine ?? '') ?? [];
    expect(email).toBe('admin@sigmalite.local');
    expect(password).toMatch(GENERATED_PASSWORD);
    expect(listeningLine).toMatch(LISTENING);
    expect(await whoami(server, email!, password!)).toBe('admin@sigmalite.local');
    expect(await whoami(server, email!, `${password}x`)).toBe(401);
    expect(readdirSync(data)).toContain('sigmalite.db');

    await stop(server);
    expect(lines(server.stdout())).toEqual([userLine, listeningLine]);
    // Logs are JSON lines on stderr.
    const logs = lines(server.stderr()).filter((l) => l.startsWith('{'));
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) expect(JSON.parse(log)).toHaveProperty('level');
    expect(server.stderr()).not.toContain(password);

    // A second start on the same data: no user line; the account is still there.
    const again = await startServer(['--port', '0', '--data', data]);
    expect(lines(again.stdout())).toEqual([expect.stringMatching(LISTENING)]);
    expect(await whoami(again, email!, password!)).toBe('admin@sigmalite.local');
    await stop(again);
    expect(lines(again.stdout())).toHaveLength(1);
  });

  it('creates the SIGMALITE_USERS accounts, and updates the password of an existing one', async () => {
    const data = tempDir();
    const first = await startServer(['--port', '0', '--data', data], {
      env: { SIGMALITE_USERS: 'a@x.io:pw1,b@x.io:pw2' },
    });
    expect(lines(first.stdout())).toEqual([expect.stringMatching(LISTENING)]);
    expect(await whoami(first, 'a@x.io', 'pw1')).toBe('a@x.io');
    expect(await whoami(first, 'b@x.io', 'pw2')).toBe('b@x.io');
    expect(await whoami(first, 'a@x.io', 'pw2')).toBe(401);
    await stop(first);

    const second = await startServer(['--port', '0', '--data', data], {
      env: { SIGMALITE_USERS: 'a@x.io:pw3' },
    });
    expect(lines(second.stdout())).toEqual([expect.stringMatching(LISTENING)]);
    expect(await whoami(second, 'a@x.io', 'pw3')).toBe('a@x.io');
    expect(await whoami(second, 'a@x.io', 'pw1')).toBe(401);
    expect(await whoami(second, 'b@x.io', 'pw2')).toBe('b@x.io');
    await stop(second);

    const list = await runCli(['user', 'list', '--data', data]);
    expect(list.code).toBe(0);
    expect(lines(list.stdout).map((l) => l.split(' ')[1])).toEqual(['a@x.io', 'b@x.io']);
  });

  it('keeps everything in memory with --memory', async () => {
    const home = tempDir();
    const server = await startServer(['--port', '0', '--memory'], {
      env: { XDG_DATA_HOME: home },
    });
    const [userLine, listeningLine] = lines(server.stdout());
    const [, email, password] = USER_LINE.exec(userLine ?? '') ?? [];
    expect(listeningLine).toMatch(LISTENING);
    expect(await whoami(server, email!, password!)).toBe('admin@sigmalite.local');
    const created = await fetch(`${server.origin}/api/2.0/drives/`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'm', size: 1073741824, media: 'disk' }),
    });
    expect(created.status).toBe(201);
    await stop(server);
    expect(lines(server.stdout())).toHaveLength(2);
    // Nothing was written to the default data directory.
    expect(readdirSync(home)).toEqual([]);

    // SIGMALITE_MEMORY and SIGMALITE_USERS from the environment.
    const fromEnv = await startServer(['--port', '0'], {
      env: { XDG_DATA_HOME: home, SIGMALITE_MEMORY: '1', SIGMALITE_USERS: 'm@x.io:pw' },
    });
    expect(lines(fromEnv.stdout())).toEqual([expect.stringMatching(LISTENING)]);
    expect(await whoami(fromEnv, 'm@x.io', 'pw')).toBe('m@x.io');
    await stop(fromEnv);
    expect(readdirSync(home)).toEqual([]);
  });

  it('refuses bad options with a message on stderr and exit code 2', async () => {
    const badPort = await runCli(['serve', '--port', 'eighty', '--memory']);
    expect(badPort.code).toBe(2);
    expect(badPort.stdout).toBe('');
    expect(badPort.stderr).toContain('--port');
    const halfTls = await runCli(['serve', '--port', '0', '--memory', '--tls-cert', 'c.pem']);
    expect(halfTls.code).toBe(2);
    expect(halfTls.stdout).toBe('');
    expect(halfTls.stderr).toBe('sigmalite: --tls-cert and --tls-key go together\n');
  });
});

describe('sigmalite user', () => {
  it('adds, lists, changes and removes accounts while a server runs on the same data', async () => {
    const data = tempDir();
    const server = await startServer(['--port', '0', '--data', data], {
      env: { SIGMALITE_USERS: 'a@x.io:pw-a' },
    });

    const add = await runCli(['user', 'add', 'c@x.io', 'pw-c', '--data', data]);
    expect(add).toEqual({
      code: 0,
      stdout: 'sigmalite user c@x.io (password as given)\n',
      stderr: '',
    });
    expect(await whoami(server, 'c@x.io', 'pw-c')).toBe('c@x.io');

    const generated = await runCli(['user', 'add', 'd@x.io', '--data', data]);
    expect(generated.code).toBe(0);
    const [, dEmail, dPassword] = USER_LINE.exec(lines(generated.stdout)[0] ?? '') ?? [];
    expect(lines(generated.stdout)).toHaveLength(1);
    expect(dEmail).toBe('d@x.io');
    expect(dPassword).toMatch(GENERATED_PASSWORD);
    expect(await whoami(server, 'd@x.io', dPassword!)).toBe('d@x.io');

    const list = await runCli(['user', 'list', '--data', data]);
    expect(list.code).toBe(0);
    const entries = lines(list.stdout).map((l) => l.split(' '));
    expect(entries.map((e) => e[1])).toEqual(['a@x.io', 'c@x.io', 'd@x.io']);
    for (const entry of entries) {
      expect(entry).toHaveLength(2);
      expect(entry[0]).toMatch(/^[0-9a-f-]{36}$/);
    }
    const profile = await get(server, '/api/2.0/profile/', ['a@x.io', 'pw-a']);
    expect(JSON.parse(profile.body).uuid).toBe(entries[0]![0]);

    const passwd = await runCli(['user', 'passwd', 'd@x.io', '--data', data]);
    expect(passwd.code).toBe(0);
    const [, , newPassword] = USER_LINE.exec(lines(passwd.stdout)[0] ?? '') ?? [];
    expect(newPassword).toMatch(GENERATED_PASSWORD);
    expect(newPassword).not.toBe(dPassword);
    expect(await whoami(server, 'd@x.io', dPassword!)).toBe(401);
    expect(await whoami(server, 'd@x.io', newPassword!)).toBe('d@x.io');

    const given = await runCli(['user', 'passwd', 'c@x.io', 'pw-c2', '--data', data]);
    expect(given).toEqual({
      code: 0,
      stdout: 'sigmalite user c@x.io (password as given)\n',
      stderr: '',
    });
    expect(await whoami(server, 'c@x.io', 'pw-c2')).toBe('c@x.io');

    const remove = await runCli(['user', 'remove', 'c@x.io', '--data', data]);
    expect(remove).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await whoami(server, 'c@x.io', 'pw-c2')).toBe(401);
    const after = await runCli(['user', 'list', '--data', data]);
    expect(lines(after.stdout).map((l) => l.split(' ')[1])).toEqual(['a@x.io', 'd@x.io']);

    await stop(server);
    expect(lines(server.stdout())).toEqual([expect.stringMatching(LISTENING)]);
  });

  it('removes what an account owns with it', async () => {
    const data = tempDir();
    const server = await startServer(['--port', '0', '--data', data], {
      env: { SIGMALITE_USERS: 'a@x.io:pw-a,b@x.io:pw-b' },
    });
    const auth = `Basic ${Buffer.from('b@x.io:pw-b').toString('base64')}`;
    const created = await fetch(`${server.origin}/api/2.0/servers/`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 's', cpu: 1000, mem: 536870912, vnc_password: 'pw' }),
    });
    expect(created.status).toBe(201);
    const owner = ((await created.json()) as { objects: { owner: { uuid: string } }[] }).objects[0]!
      .owner.uuid;
    const owned = () => {
      const db = new Database(join(data, 'sigmalite.db'), { readonly: true });
      try {
        return db.prepare('SELECT count(*) FROM objects WHERE owner = ?').pluck().get(owner);
      } finally {
        db.close();
      }
    };
    expect(owned()).toBeGreaterThan(0);
    expect((await runCli(['user', 'remove', 'b@x.io', '--data', data])).code).toBe(0);
    expect(owned()).toBe(0);
    expect(await whoami(server, 'b@x.io', 'pw-b')).toBe(401);
    expect(await whoami(server, 'a@x.io', 'pw-a')).toBe('a@x.io');
    await stop(server);
  });

  it('reports mistakes on stderr with exit code 2', async () => {
    const data = tempDir();
    expect((await runCli(['user', 'add', 'a@x.io', 'pw', '--data', data])).code).toBe(0);
    const cases: [string[], string][] = [
      [['user', 'add', 'a@x.io', 'pw'], 'sigmalite: an account with email a@x.io already exists\n'],
      [
        ['user', 'add', 'not an email', 'pw'],
        'sigmalite: "not an email" is not an email address (no spaces or ":")\n',
      ],
      [['user', 'add', 'e@x.io', ''], 'sigmalite: the password cannot be empty\n'],
      [['user', 'passwd', 'nobody@x.io', 'pw'], 'sigmalite: no account with email nobody@x.io\n'],
      [['user', 'remove', 'nobody@x.io'], 'sigmalite: no account with email nobody@x.io\n'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli([...args, '--data', data]);
      expect({ args, ...result }).toEqual({ args, code: 2, stdout: '', stderr: message });
    }
    const list = await runCli(['user', 'list', '--data', data]);
    expect(lines(list.stdout).map((l) => l.split(' ')[1])).toEqual(['a@x.io']);
  });
});

describe('sigmalite token', () => {
  const TOKEN_LINE = /^sigmalite token ([0-9a-f]{12}) (sigmalite_[A-Za-z0-9_-]{43})$/;
  const withToken = (server: Server, token: string) =>
    fetch(`${server.origin}/api/2.0/profile/`, { headers: { authorization: `Bearer ${token}` } });

  it('issues, lists and revokes tokens while a server runs on the same data (Done-when)', async () => {
    const data = tempDir();
    const server = await startServer(['--port', '0', '--data', data], {
      env: { SIGMALITE_USERS: 'a@x.io:pw-a,b@x.io:pw-b' },
    });
    const create = await runCli([
      'token',
      'create',
      'a@x.io',
      '--name',
      'terraform',
      '--data',
      data,
    ]);
    expect(create.code, create.stderr).toBe(0);
    expect(create.stderr).toBe('');
    const [, id, token] = TOKEN_LINE.exec(lines(create.stdout)[0] ?? '') ?? [];
    expect(lines(create.stdout)).toHaveLength(1);
    const second = await runCli(['token', 'create', 'a@x.io', '--data', data]);
    const [, secondId] = TOKEN_LINE.exec(lines(second.stdout)[0] ?? '') ?? [];

    const profile = await withToken(server, token!);
    expect(profile.status).toBe(200);
    expect(((await profile.json()) as { email: string }).email).toBe('a@x.io');

    // The list shows ids, times and names, never a token.
    const list = await runCli(['token', 'list', 'a@x.io', '--data', data]);
    expect(list.code).toBe(0);
    const entries = lines(list.stdout);
    expect(entries).toEqual([
      expect.stringMatching(new RegExp(`^${id} \\d{4}-\\d\\d-\\d\\dT\\S+Z terraform$`)),
      expect.stringMatching(new RegExp(`^${secondId} \\S+Z$`)),
    ]);
    expect(list.stdout).not.toContain('sigmalite_');
    expect((await runCli(['token', 'list', 'b@x.io', '--data', data])).stdout).toBe('');
    // Stored as a hash only.
    const db = new Database(join(data, 'sigmalite.db'), { readonly: true });
    try {
      expect(JSON.stringify(db.prepare('SELECT * FROM api_tokens').all())).not.toContain(token);
    } finally {
      db.close();
    }

    expect(await runCli(['token', 'revoke', 'a@x.io', id!, '--data', data])).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
    expect((await withToken(server, token!)).status).toBe(401);
    expect(lines((await runCli(['token', 'list', 'a@x.io', '--data', data])).stdout)).toHaveLength(
      1,
    );

    await stop(server);
    expect(lines(server.stdout())).toEqual([expect.stringMatching(LISTENING)]);
  });

  it('reports mistakes on stderr with exit code 2', async () => {
    const data = tempDir();
    expect((await runCli(['user', 'add', 'a@x.io', 'pw', '--data', data])).code).toBe(0);
    expect((await runCli(['user', 'add', 'b@x.io', 'pw', '--data', data])).code).toBe(0);
    const bobs = await runCli(['token', 'create', 'b@x.io', '--data', data]);
    const [, bobId] = TOKEN_LINE.exec(lines(bobs.stdout)[0] ?? '') ?? [];
    const cases: [string[], string][] = [
      [['token', 'create', 'nobody@x.io'], 'sigmalite: no account with email nobody@x.io\n'],
      [['token', 'list', 'nobody@x.io'], 'sigmalite: no account with email nobody@x.io\n'],
      [
        ['token', 'revoke', 'a@x.io', bobId!],
        `sigmalite: a@x.io has no token ${bobId} (sigmalite token list a@x.io)\n`,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await runCli([...args, '--data', data]);
      expect({ args, ...result }).toEqual({ args, code: 2, stdout: '', stderr: message });
    }
    expect(lines((await runCli(['token', 'list', 'b@x.io', '--data', data])).stdout)).toHaveLength(
      1,
    );
  });
});

describe('a password change while the server runs (Done-when)', () => {
  it('refuses the old password and accepts the new one on the very next requests', async () => {
    const data = tempDir();
    const server = await startServer(['--port', '0', '--data', data], {
      env: { SIGMALITE_USERS: 'a@x.io:old-password' },
    });
    // Verified logins are cached: make sure the old one is.
    for (let i = 0; i < 3; i++)
      expect(await whoami(server, 'a@x.io', 'old-password')).toBe('a@x.io');
    expect(await whoami(server, 'a@x.io', 'new-password')).toBe(401);

    const passwd = await runCli(['user', 'passwd', 'a@x.io', 'new-password', '--data', data]);
    expect(passwd.code).toBe(0);

    expect(await whoami(server, 'a@x.io', 'old-password')).toBe(401);
    expect(await whoami(server, 'a@x.io', 'new-password')).toBe('a@x.io');
    expect(await whoami(server, 'a@x.io', 'old-password')).toBe(401);
    expect(await whoami(server, 'a@x.io', 'new-password')).toBe('a@x.io');
    // Concurrent requests agree too.
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        whoami(server, 'a@x.io', i % 2 === 0 ? 'old-password' : 'new-password'),
      ),
    );
    expect(answers).toEqual([401, 'a@x.io', 401, 'a@x.io', 401, 'a@x.io']);

    // And back: the cached new login is dropped as soon as the password changes again.
    expect((await runCli(['user', 'passwd', 'a@x.io', 'old-password', '--data', data])).code).toBe(
      0,
    );
    expect(await whoami(server, 'a@x.io', 'new-password')).toBe(401);
    expect(await whoami(server, 'a@x.io', 'old-password')).toBe('a@x.io');
    await stop(server);
  });
});

describe('npm start', () => {
  it('prints only sigmalite lines on stdout', async () => {
    const server = await startServer(['--port', '0', '--memory'], { npm: true });
    const health = await get(server, '/healthz');
    expect(health.status).toBe(200);
    const printed = lines(server.stdout());
    expect(printed).toHaveLength(2);
    const [, email, password] = USER_LINE.exec(printed[0] ?? '') ?? [];
    expect(email).toBe('admin@sigmalite.local');
    expect(printed[1]).toMatch(LISTENING);
    expect(await whoami(server, email!, password!)).toBe('admin@sigmalite.local');
    await server.stop();
    expect(lines(server.stdout())).toEqual(printed);
  });
});

describe('TLS', () => {
  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const dir = tempDir();
    const key = join(dir, 'k');
    const cert = join(dir, 'c');
    await execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
    ]);
    expect(existsSync(cert) && existsSync(key)).toBe(true);
    const server = await startServer([
      '--port',
      '0',
      '--memory',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
    ]);
    expect(server.scheme).toBe('https');
    expect(lines(server.stdout())[1]).toMatch(
      /^sigmalite listening on https:\/\/127\.0\.0\.1:\d+\/api\/2\.0\/$/,
    );
    const health = await get(server, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
    const [, email, password] = USER_LINE.exec(lines(server.stdout())[0] ?? '') ?? [];
    const profile = await get(server, '/api/2.0/profile/', [email!, password!]);
    expect(profile.status).toBe(200);
    expect(JSON.parse(profile.body).email).toBe('admin@sigmalite.local');
    // Plain HTTP on the TLS port gets no API answer.
    await expect(
      fetch(`http://127.0.0.1:${new URL(server.origin).port}/healthz`),
    ).rejects.toThrow();
    await stop(server);
  });
});
