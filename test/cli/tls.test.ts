/**
 * `sigmalite tls init` and HTTPS through a real socket (docs/tls.md): the built CLI makes a CA and
 * a certificate for `zrh.cloudsigma.com` and `127.0.0.1`; the built server serves with it; a client
 * that resolves `zrh.cloudsigma.com` to 127.0.0.1 itself (instead of a hosts entry) and trusts only
 * that CA gets its answer, and one that trusts another CA fails verification. A second run in the
 * same directory keeps the CA.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { basic, cliTestFile, lines, runCli, startServer } from './process.js';

const USER = { email: 'tls@example.com', password: 'tls-secret' };
const NAME = 'zrh.cloudsigma.com';

const tempDir = cliTestFile('sigmalite-tls-');

/** The names `lookup` was asked for: proof that the request went by name. */
const looked: string[] = [];

/** Resolves every name to 127.0.0.1, as a hosts entry would. */
const toLoopback: LookupFunction = (hostname, options, callback) => {
  looked.push(hostname);
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTPS request that trusts only `ca` and resolves names to 127.0.0.1. */
function httpsRequest(
  url: string,
  ca: Buffer,
  options: { method?: string; auth?: boolean; body?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.auth !== false) headers.authorization = basic(USER.email, USER.password);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', ca, headers, lookup: toLoopback, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `tls init` output: its stdout lines as a map (`ca`, `cert`, `key` → path). */
function filesOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    lines(stdout).map((line) => {
      const space = line.indexOf(' ');
      return [line.slice(0, space), line.slice(space + 1)];
    }),
  );
}

describe('sigmalite tls init', () => {
  it('serves zrh.cloudsigma.com over HTTPS to a client that trusts only the generated CA', async () => {
    const dir = tempDir();
    const init = await runCli(['tls', 'init', '--dir', dir, NAME, '127.0.0.1']);
    expect(init.code, init.stderr).toBe(0);
    const files = filesOf(init.stdout);
    expect(files).toEqual({
      ca: join(dir, 'ca.pem'),
      cert: join(dir, 'server.pem'),
      key: join(dir, 'server-key.pem'),
    });
    expect(init.stderr).toContain('made a new CA');
    expect(init.stderr).toContain(`--tls-cert ${files.cert} --tls-key ${files.key}`);
    expect(statSync(files.key!).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o777).toBe(0o600);

    // A CA that signed nothing here: trusting it instead must fail.
    const otherDir = tempDir();
    const other = await runCli(['tls', 'init', '--dir', otherDir, NAME]);
    expect(other.code, other.stderr).toBe(0);

    const server = await startServer(
      ['--port', '0', '--memory', '--tls-cert', files.cert!, '--tls-key', files.key!],
      { env: { SIGMALITE_USERS: `${USER.email}:${USER.password}` } },
    );
    expect(server.scheme).toBe('https');
    const port = new URL(server.origin).port;
    const ca = readFileSync(files.ca!);

    const profile = await httpsRequest(`https://${NAME}:${port}/api/2.0/profile/`, ca);
    expect(profile.status, profile.body).toBe(200);
    expect(JSON.parse(profile.body)).toMatchObject({ email: USER.email });
    expect(looked).toContain(NAME);
    // Without credentials the TLS side is the same; the API asks for them.
    expect(
      (await httpsRequest(`https://${NAME}:${port}/api/2.0/profile/`, ca, { auth: false })).status,
    ).toBe(401);
    // The address is in the certificate too.
    expect((await httpsRequest(`https://127.0.0.1:${port}/api/2.0/profile/`, ca)).status).toBe(200);

    const stranger = readFileSync(join(otherDir, 'ca.pem'));
    await expect(
      httpsRequest(`https://${NAME}:${port}/api/2.0/profile/`, stranger),
    ).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    // A name the certificate does not carry fails too, with the right CA.
    await expect(
      httpsRequest(`https://fra.cloudsigma.com:${port}/api/2.0/profile/`, ca),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });

    expect(await server.stop()).toBe(0);
  }, 60_000);

  it('reuses the CA of the directory and signs the new certificate with it', async () => {
    const dir = tempDir();
    const first = await runCli(['tls', 'init', '--dir', dir, NAME]);
    expect(first.code, first.stderr).toBe(0);
    const ca = readFileSync(join(dir, 'ca.pem'));
    const caKey = readFileSync(join(dir, 'ca-key.pem'));
    const firstCert = readFileSync(join(dir, 'server.pem'));

    const second = await runCli(['tls', 'init', '--dir', dir, 'fra.cloudsigma.com', '::1']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('reused the CA');
    expect(readFileSync(join(dir, 'ca.pem'))).toEqual(ca);
    expect(readFileSync(join(dir, 'ca-key.pem'))).toEqual(caKey);

    const cert = new X509Certificate(readFileSync(join(dir, 'server.pem')));
    expect(cert.raw).not.toEqual(new X509Certificate(firstCert).raw);
    const authority = new X509Certificate(ca);
    expect(authority.ca).toBe(true);
    expect(cert.checkIssued(authority)).toBe(true);
    expect(cert.verify(authority.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:fra.cloudsigma.com, IP Address:0:0:0:0:0:0:0:1');
    expect(cert.issuer).toBe(authority.subject);

    // Each CA has a name of its own, so verifiers never mistake one for another.
    const otherDir = tempDir();
    expect((await runCli(['tls', 'init', '--dir', otherDir, NAME])).code).toBe(0);
    const other = new X509Certificate(readFileSync(join(otherDir, 'ca.pem')));
    expect(other.subject).toMatch(/^CN=sigmalite local CA [0-9a-f]{8}\nO=sigmalite$/);
    expect(other.subject).not.toBe(authority.subject);
  }, 60_000);

  it('writes to tls/ under the data directory by default', async () => {
    const data = tempDir();
    const byFlag = await runCli(['tls', 'init', '--data', data, 'localhost']);
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(filesOf(byFlag.stdout).ca).toBe(join(data, 'tls', 'ca.pem'));

    const byEnv = await runCli(['tls', 'init', 'localhost'], { SIGMALITE_DATA: data });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    expect(filesOf(byEnv.stdout).cert).toBe(join(data, 'tls', 'server.pem'));
    expect(byEnv.stderr).toContain('reused the CA');
  }, 60_000);

  it('refuses a URL where a host name belongs, and no host at all', async () => {
    const dir = tempDir();
    const url = await runCli(['tls', 'init', '--dir', dir, 'https://zrh.cloudsigma.com/']);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('"https://zrh.cloudsigma.com/" is not a host name');
    expect(existsSync(join(dir, 'ca.pem'))).toBe(false);

    const none = await runCli(['tls', 'init', '--dir', dir]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/missing required argument/);
    expect(url.stdout + none.stdout).toBe('');
  }, 30_000);
});
