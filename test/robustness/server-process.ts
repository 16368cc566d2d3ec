/**
 * The built `sigmalite serve` as a child process for the crash tests: started on port 0, waited
 * for until it prints `sigmalite listening on URL`, its `sigmalite user EMAIL PASSWORD` lines read,
 * and killed by its own pid (SIGKILL for a crash, SIGTERM for a clean stop).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'bin.js');

const LISTENING = /^sigmalite listening on (https?:\/\/127\.0\.0\.1:\d+)\/api\/2\.0\/$/m;
const USER_LINE = /^sigmalite user (\S+) (\S+)$/gm;

export interface ServerProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT` (`https://` with `--tls-cert`) */
  origin: string;
  /** The accounts it printed (only those it generated). */
  users: { email: string; password: string }[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
}

/** Every child started here and not yet gone. */
const live = new Set<ChildProcess>();

/** A start that failed because `dist/` was being rebuilt by another test file at that moment. */
const BUILD_RACE = /SyntaxError|ERR_MODULE_NOT_FOUND|Cannot find module|does not provide an export/;

/**
 * `sigmalite serve ARGS` with only `env` from SIGMALITE_* (not the test runner's settings). Other
 * test files run `npm run build` too: a start that read a half-written `dist/` file is retried.
 */
export async function startServe(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(args, env, timeoutMs);
    } catch (e) {
      if (attempt >= 3 || !BUILD_RACE.test((e as Error).message)) throw e;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }
}

function startOnce(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('SIGMALITE_')) childEnv[key] = value;
  }
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: ROOT,
    env: { ...childEnv, SIGMALITE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no listening line in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = LISTENING.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      const users = [...stdout.matchAll(USER_LINE)].map(([, email, password]) => ({
        email: email!,
        password: password!,
      }));
      resolve({
        child,
        origin: match[1]!,
        users,
        stdout: () => stdout,
        stderr: () => stderr,
        exited,
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before listening\n${stdout}\n${stderr}`));
    });
  });
}

/** Sends `signal` to the process and waits until it is gone. */
export async function stopProcess(
  server: ServerProcess,
  signal: NodeJS.Signals,
): Promise<number | string> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
  return server.exited;
}

/** SIGKILLs every child started here that is still running (afterAll). */
export async function killLeftovers(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
