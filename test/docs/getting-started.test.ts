/**
 * docs/getting-started.md, run: the fenced blocks right after a `<!-- test: NAME -->` comment are
 * extracted from the markdown and run as they are, in the order of the page, against the built
 * server started as a child process with a fresh home directory:
 *
 * 1. the server starts as `npm start` would (default data directory under HOME; here on a free
 *    port, with `--transitions fast`) and prints the account it made;
 * 2. the `curl` blocks, joined into one script, run with `bash -e -o pipefail` and the variables
 *    the page exports (`SIGMALITE`, `EMAIL`, `PASSWORD`);
 * 3. the `tls-init` block runs (`npx sigmalite tls init ...`, from the repository's root);
 * 4. the server starts again on the same data with the certificate `tls init` printed (the
 *    page's `npm start -- --tls-cert ... --tls-key ...`);
 * 5. the `libcloud` block runs with /usr/bin/python3 and `EMAIL`, `PASSWORD` and `SSL_CERT_FILE`
 *    (the `ca` path `tls init` printed).
 *
 * The only textual substitution: `port=4780` in the libcloud block becomes the server's port
 * (4780 would collide with a server the developer runs). Children get a minimal environment
 * (PATH, HOME and the page's variables), so no proxy or CA setting of ours leaks in.
 *
 * The libcloud step is skipped, with a message, when `/usr/bin/python3 -c 'import libcloud'`
 * fails, except when `CI` or `SIGMALITE_REQUIRE_CLIENTS` is set: there it must run.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  basic,
  killAll,
  LISTENING,
  lines,
  ROOT,
  type Server,
  startServer,
  USER_LINE,
} from '../cli/process.js';

const PAGE = join(ROOT, 'docs', 'getting-started.md');
const PYTHON = '/usr/bin/python3';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;

const required = Boolean(process.env.CI || process.env.SIGMALITE_REQUIRE_CLIENTS);
const probe = spawnSync(PYTHON, ['-c', 'import libcloud'], { cwd: tmpdir(), encoding: 'utf8' });
const libcloudAvailable = probe.status === 0;
if (!libcloudAvailable && !required) {
  console.warn(
    `getting-started libcloud snippet skipped: \`${PYTHON} -c 'import libcloud'\` failed (${
      probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)
    }); install it with \`apt-get install python3-libcloud\``,
  );
}

interface Snippet {
  name: string;
  lang: string;
  code: string;
  /** 1-based line of the marker, for messages. */
  line: number;
}

/**
 * The blocks marked `<!-- test: NAME -->` (the marker alone on its line, the fence on the next).
 * A marker that no fenced block follows is an error, so a marker cannot silently stop testing.
 */
function markedSnippets(markdown: string): Snippet[] {
  const all = markdown.split('\n');
  const snippets: Snippet[] = [];
  for (const [i, text] of all.entries()) {
    const marker = /^<!-- test: ([a-z0-9-]+) -->$/.exec(text.trim());
    if (!marker) {
      if (text.trim().startsWith('<!-- test'))
        throw new Error(`line ${i + 1}: malformed marker: ${text}`);
      continue;
    }
    const fence = /^```(\w*)$/.exec(all[i + 1] ?? '');
    if (!fence) throw new Error(`line ${i + 1}: no fenced block right after ${text}`);
    const end = all.findIndex((l, j) => j > i + 1 && l === '```');
    if (end < 0) throw new Error(`line ${i + 2}: the fenced block is not closed`);
    snippets.push({
      name: marker[1]!,
      lang: fence[1]!,
      code: `${all.slice(i + 2, end).join('\n')}\n`,
      line: i + 1,
    });
  }
  return snippets;
}

const page = readFileSync(PAGE, 'utf8');
const snippets = markedSnippets(page);
function snippetsNamed(name: string, lang: string): string {
  const found = snippets.filter((s) => s.name === name);
  if (found.length === 0) throw new Error(`no block marked "${name}" in ${PAGE}`);
  for (const s of found) {
    if (s.lang !== lang) throw new Error(`line ${s.line}: "${name}" is ${s.lang}, not ${lang}`);
  }
  return found.map((s) => s.code).join('\n');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (killed after `timeoutMs`), never rejecting. */
function run(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed: timeout)` : stderr });
      },
    );
  });
}

const explain = (what: string, r: Run) =>
  `${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** GET on the server with the account's credentials; HTTPS trusts `ca` only. */
function getJson(server: Server, path: string, auth: [string, string], ca?: Buffer) {
  const url = `${server.origin}/api/2.0${path}`;
  const headers = { authorization: basic(...auth) };
  if (server.scheme === 'http') {
    return fetch(url, { headers }).then((res) => res.json() as Promise<Record<string, unknown>>);
  }
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = request(url, { headers, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('docs/getting-started.md', () => {
  let work: string;
  let home: string;
  /** The environment `npm start` would have: a HOME of its own, default data directory. */
  let serverEnv: Record<string, string>;
  let account: [string, string];
  let tls: { ca: string; cert: string; key: string } | undefined;

  const base = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home });

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'sigmalite-getting-started-'));
    home = join(work, 'home');
    // `~/.local/share/sigmalite`, whatever XDG_DATA_HOME the test runner has.
    serverEnv = { HOME: home, XDG_DATA_HOME: join(home, '.local', 'share') };
  });

  afterAll(async () => {
    await killAll();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('marks the curl, tls-init and libcloud blocks, and tells the reader what to export', () => {
    expect([...new Set(snippets.map((s) => s.name))]).toEqual(['curl', 'tls-init', 'libcloud']);
    // The variables the test sets are the ones the page exports (with the port the server got).
    expect(page).toContain('export SIGMALITE=http://127.0.0.1:4780/api/2.0\n');
    expect(page).toContain('export EMAIL=admin@sigmalite.local\n');
    expect(page).toMatch(/^export PASSWORD=\S+$/m);
    expect(page).toContain('export SSL_CERT_FILE=~/.local/share/sigmalite/tls/ca.pem\n');
    // The restart with TLS uses the files tls init writes by default (checked in that step).
    expect(page).toContain('--tls-cert ~/.local/share/sigmalite/tls/server.pem');
    expect(page).toContain('--tls-key ~/.local/share/sigmalite/tls/server-key.pem');
  });

  it('runs the curl blocks: list, create, start, wait for running, stop, delete', async () => {
    const server = await startServer(['--port', '0', '--transitions', 'fast'], {
      env: serverEnv,
    });
    const [userLine, listening] = lines(server.stdout());
    expect(listening).toMatch(LISTENING);
    const [, email, password] = USER_LINE.exec(userLine ?? '') ?? [];
    expect(email).toBe('admin@sigmalite.local');
    account = [email!, password!];

    const script = join(work, 'curl.sh');
    writeFileSync(script, snippetsNamed('curl', 'sh'));
    const result = await run('bash', ['-e', '-o', 'pipefail', script], {
      cwd: work,
      env: {
        ...base(),
        SIGMALITE: `${server.origin}/api/2.0`,
        EMAIL: account[0],
        PASSWORD: account[1],
      },
      timeoutMs: 60_000,
    });
    expect(result.code, explain('the curl blocks', result)).toBe(0);
    // It echoed the uuid of the server it made, and deleted it again.
    expect(result.stdout).toMatch(new RegExp(`^${UUID.source}$`, 'm'));
    const left = await getJson(server, '/servers/', account);
    expect(left.meta).toMatchObject({ total_count: 0 });
    expect(server.stderr()).not.toMatch(/"level":(50|60)/);
    expect(await server.stop()).toBe(0);
  }, 90_000);

  it('runs the tls-init block: the files land where the page says', async () => {
    const script = join(work, 'tls-init.sh');
    writeFileSync(script, snippetsNamed('tls-init', 'sh'));
    const result = await run('bash', ['-e', '-o', 'pipefail', script], {
      cwd: ROOT,
      env: base(),
      timeoutMs: 60_000,
    });
    expect(result.code, explain('the tls-init block', result)).toBe(0);
    const dir = join(home, '.local', 'share', 'sigmalite', 'tls');
    expect(lines(result.stdout)).toEqual([
      `ca ${join(dir, 'ca.pem')}`,
      `cert ${join(dir, 'server.pem')}`,
      `key ${join(dir, 'server-key.pem')}`,
    ]);
    tls = {
      ca: join(dir, 'ca.pem'),
      cert: join(dir, 'server.pem'),
      key: join(dir, 'server-key.pem'),
    };
  }, 90_000);

  it.skipIf(!libcloudAvailable && !required)(
    'runs the libcloud block over HTTPS: sizes, images, a drive, a node made and destroyed',
    async () => {
      if (!libcloudAvailable) {
        throw new Error(
          `${PYTHON} -c 'import libcloud' failed in CI: .ci/run installs python3-libcloud\n${probe.stderr}`,
        );
      }
      if (!account || !tls) throw new Error('the curl and tls-init steps did not run');
      const server = await startServer(
        ['--port', '0', '--transitions', 'fast', '--tls-cert', tls.cert, '--tls-key', tls.key],
        { env: serverEnv },
      );
      expect(server.scheme).toBe('https');
      // The same data directory: the account from the first start, no new one.
      expect(server.stdout()).not.toMatch(/^sigmalite user /m);
      const port = new URL(server.origin).port;

      const code = snippetsNamed('libcloud', 'python');
      expect(code.split('port=4780').length - 1).toBe(1);
      const script = join(work, 'getting_started_libcloud.py');
      writeFileSync(script, code.replace('port=4780', `port=${port}`));
      const result = await run(PYTHON, [script], {
        cwd: work,
        env: { ...base(), EMAIL: account[0], PASSWORD: account[1], SSL_CERT_FILE: tls.ca },
        timeoutMs: 120_000,
      });
      expect(result.code, explain('the libcloud block', result)).toBe(0);
      expect(result.stdout).toMatch(/^sizes: .*'small-1'/m);
      expect(result.stdout).toMatch(/^images: \['.+/m);
      expect(result.stdout).toMatch(new RegExp(`^node: ${UUID.source} running$`, 'm'));
      expect(result.stdout).toMatch(/^left: \[\] \[\]$/m);

      const ca = readFileSync(tls.ca);
      expect((await getJson(server, '/servers/', account, ca)).meta).toMatchObject({
        total_count: 0,
      });
      expect((await getJson(server, '/drives/', account, ca)).meta).toMatchObject({
        total_count: 0,
      });
      expect(server.stderr()).not.toMatch(/"level":(50|60)/);
      expect(await server.stop()).toBe(0);
    },
    180_000,
  );
});
