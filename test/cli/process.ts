/**
 * Child processes for the CLI tests: the built `sigmalite` (or `npm start`) as a server that is
 * waited for until it prints its listening line, one-shot commands, and HTTP(S) requests to them.
 * Every process started here is tracked, so a test file can kill what is left in `afterEach`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'bin.js');

export const LISTENING = /^sigmalite listening on (https?):\/\/127\.0\.0\.1:(\d+)\/api\/2\.0\/$/;
export const USER_LINE = /^sigmalite user (\S+) (\S+)$/;

/** Children still running, and whether each leads its own process group (`npm start`). */
const live = new Map<ChildProcess, boolean>();

function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // The group may outlive its leader (npm gone, node still running): signal it regardless.
    if (live.get(child) && child.pid !== undefined) process.kill(-child.pid, signal);
    else if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  } catch {
    // already gone
  }
}

/** Whether every process holding the child's stdio has gone (`close` was emitted). */
const closed = new WeakSet<ChildProcess>();

/**
 * The environment of a child: ours without any SIGMALITE_* setting, nor the npm settings an outer
 * npm passes down (`npm test --loglevel=warn` would otherwise override the project's .npmrc in
 * `npm start`), plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('SIGMALITE_') && !key.toLowerCase().startsWith('npm_config_')) {
      env[key] = value;
    }
  }
  return { ...env, ...extra };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sigmalite ARGS` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.set(child, false);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      closed.add(child);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Server {
  child: ChildProcess;
  /** `http(s)://127.0.0.1:PORT` */
  origin: string;
  scheme: 'http' | 'https';
  /** Everything printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM (to the process group when detached); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Run `npm start -- ARGS` instead of the built CLI. */
  npm?: boolean;
  timeoutMs?: number;
}

/** Starts `sigmalite serve ARGS` (or `npm start -- ARGS`) and waits for its listening line. */
export function startServer(args: string[], options: StartOptions = {}): Promise<Server> {
  const child = options.npm
    ? spawn('npm', ['start', '--', ...args], {
        cwd: ROOT,
        env: childEnv(options.env),
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group: npm runs a shell that runs node; stop() signals all of them.
        detached: true,
      })
    : spawn(process.execPath, [BIN, 'serve', ...args], {
        cwd: ROOT,
        env: childEnv(options.env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  live.set(child, options.npm === true);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => {
    // `close`, not `exit`: it waits for every process holding stdout (npm's node grandchild).
    child.on('close', (code, signal) => {
      closed.add(child);
      live.delete(child);
      resolve(code ?? (signal ? -1 : null));
    });
  });
  const signal = (name: NodeJS.Signals) => signalChild(child, name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal('SIGKILL');
      reject(
        new Error(`no listening line within the timeout\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, options.timeoutMs ?? 60_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => LISTENING.test(l));
      if (!line) return;
      clearTimeout(timer);
      const [, scheme, port] = LISTENING.exec(line)!;
      resolve({
        child,
        origin: `${scheme}://127.0.0.1:${port}`,
        scheme: scheme as 'http' | 'https',
        stdout: () => stdout,
        stderr: () => stderr,
        stop: () => {
          signal('SIGTERM');
          return exited;
        },
      });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(`exited with ${code} before listening\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    });
  });
}

/**
 * A test file's hooks: what a test left running is killed after it; returns a maker of scratch
 * directories (`prefix` and a random suffix, under the system's temporary directory), removed
 * after the file with every child still running.
 */
export function cliTestFile(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(killAll, 30_000);
  afterAll(async () => {
    await killAll();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }, 30_000);
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}

/** Kills every child still running (SIGKILL to stragglers after a grace period). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...live.keys()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (closed.has(child)) {
            live.delete(child);
            resolve();
            return;
          }
          const force = setTimeout(() => signalChild(child, 'SIGKILL'), 5_000);
          child.once('close', () => {
            clearTimeout(force);
            live.delete(child);
            resolve();
          });
          signalChild(child, 'SIGTERM');
        }),
    ),
  );
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export function basic(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
}

/** GET `path` on a server, with Basic credentials when given; HTTPS accepts self-signed certs. */
export function get(
  server: Pick<Server, 'origin' | 'scheme'>,
  path: string,
  credentials?: [string, string],
): Promise<HttpAnswer> {
  const headers: Record<string, string> = {};
  if (credentials) headers.authorization = basic(...credentials);
  if (server.scheme === 'http') {
    return fetch(server.origin + path, { headers }).then(async (res) => ({
      status: res.status,
      body: await res.text(),
    }));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      server.origin + path,
      { method: 'GET', headers, rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The lines printed on stdout (without the final empty one). */
export function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}
