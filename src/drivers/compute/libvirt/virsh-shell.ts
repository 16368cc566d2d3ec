/**
 * One long-lived interactive `virsh -c URI` per libvirt host, fed commands over stdin: a command
 * costs about 0.3 ms this way against 18 ms for a `virsh` spawned per call
 * (../shared/notes/libvirt.md), and the process reconnects by itself after a daemon restart.
 *
 * Commands run one at a time, first come first served. Each is followed by two `echo` commands
 * whose output marks where its answer ends: one on stdout and one on stderr (`echo --err`), since
 * the two pipes are read independently and virsh writes a command's errors to stderr. Interactive
 * virsh echoes each line it reads after its prompt (`virsh # list`); those echoes are cut off.
 *
 * Every command has a timeout (a hung libvirtd otherwise keeps a plain virsh waiting forever).
 * When it expires the process is killed and the command fails; the next command starts a new
 * process. A process that dies on its own is replaced the same way.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandLine, isNotFound, VirshError, VirshTimeoutError } from './virsh-command.js';

/** What runs virsh commands: the interactive shell, or a stand-in in unit tests. */
export interface VirshRunner {
  /** Runs `args` (the command name first); answers its standard output. */
  run(args: readonly string[], options?: { timeoutMs?: number }): Promise<string>;
  /** Writes `content` to a file of its own, runs `args(path)`, removes the file. */
  runWithFile(
    content: string,
    args: (path: string) => readonly string[],
    options?: { timeoutMs?: number },
  ): Promise<string>;
}

export interface VirshShellOptions {
  /** `qemu:///system`, `qemu+tls://host/system`, ... */
  uri: string;
  /** Per command unless the command says otherwise; default 30 s. */
  timeoutMs?: number;
  /** The virsh executable; default `virsh` from the PATH. */
  binary?: string;
  /**
   * Keepalive interval (s) and missed answers before virsh gives a connection up; default 5, 3.
   * null: none (for drivers without keepalive, such as libvirt's `test:///default`).
   */
  keepalive?: { intervalS: number; count: number } | null;
  /**
   * Told of what virsh reports outside any command's answer: a lost connection
   * (`Disconnected from qemu:///system due to end of file`), a process killed after a timeout.
   */
  onNotice?: (message: string) => void;
}

interface Job {
  line: string;
  timeoutMs: number;
  resolve: (stdout: string) => void;
  reject: (error: Error) => void;
}

interface Running {
  job: Job;
  /** What ends its stdout and its stderr. */
  outMark: string;
  errMark: string;
  /** The marker commands as virsh echoes them. */
  outEcho: string;
  errEcho: string;
  timer: NodeJS.Timeout;
}

interface Process {
  child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
}

/** Lines virsh prints on its own when its connection drops; not a command's failure. */
const NOTICE = /^error: Disconnected from .* due to .*$/gm;
const PROMPT = /virsh [#>$] $/;

export class VirshShell implements VirshRunner {
  readonly uri: string;
  private readonly timeoutMs: number;
  private readonly binary: string;
  private readonly keepalive: { intervalS: number; count: number } | null;
  private readonly onNotice: (message: string) => void;
  /** Distinguishes this shell's markers from anything a command could print. */
  private readonly nonce = randomBytes(6).toString('hex');
  private sequence = 0;
  private readonly queue: Job[] = [];
  private running: Running | undefined;
  private process: Process | undefined;
  private closed = false;
  private fileDir: Promise<string> | undefined;
  private fileSequence = 0;

  constructor(options: VirshShellOptions) {
    this.uri = options.uri;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.binary = options.binary ?? 'virsh';
    this.keepalive =
      options.keepalive === undefined ? { intervalS: 5, count: 3 } : options.keepalive;
    this.onNotice = options.onNotice ?? (() => {});
  }

  /** The virsh process's id, while one runs. */
  get pid(): number | undefined {
    return this.process?.child.pid;
  }

  run(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<string> {
    if (this.closed) return Promise.reject(new VirshError('the virsh shell is closed'));
    let line: string;
    try {
      line = commandLine(args);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ line, timeoutMs: options.timeoutMs ?? this.timeoutMs, resolve, reject });
      this.next();
    });
  }

  async runWithFile(
    content: string,
    args: (path: string) => readonly string[],
    options: { timeoutMs?: number } = {},
  ): Promise<string> {
    this.fileDir ??= mkdtemp(join(tmpdir(), 'sigmalite-virsh-'));
    const path = join(await this.fileDir, `${++this.fileSequence}.xml`);
    await writeFile(path, content, { mode: 0o600 });
    try {
      return await this.run(args(path), options);
    } finally {
      await rm(path, { force: true });
    }
  }

  /** Fails what is queued, ends the process (killed if it does not exit within a second). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new VirshError('the virsh shell is closed'));
    if (this.running) this.finish(new VirshError('the virsh shell is closed'));
    const process = this.process;
    this.process = undefined;
    if (process) await stopProcess(process.child);
    if (this.fileDir) await rm(await this.fileDir, { recursive: true, force: true });
  }

  private next(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    const process = this.process ?? this.spawn();
    const n = ++this.sequence;
    // Quoted as two words, so that the echoed command line never contains the marker itself.
    const first = `__sigmalite_${this.nonce}`;
    const second = `${n}__`;
    const outEcho = `echo '${first}' '${second}'`;
    const errEcho = `echo --err '${first}' '${second}'`;
    this.running = {
      job,
      outMark: `${first} ${second}`,
      errMark: `error: ${first} ${second}\n`,
      outEcho,
      errEcho,
      timer: setTimeout(() => this.expire(), job.timeoutMs),
    };
    process.child.stdin.write(`${job.line}\n${errEcho}\n${outEcho}\n`);
  }

  private spawn(): Process {
    const keepalive = this.keepalive
      ? ['-k', `${this.keepalive.intervalS}`, '-K', `${this.keepalive.count}`]
      : ['-k', '0'];
    const child = spawn(this.binary, ['-q', ...keepalive, '-c', this.uri], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const process: Process = { child, stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      process.stdout += text;
      this.settle(process);
    });
    child.stderr.on('data', (text: string) => {
      process.stderr += text.replace(NOTICE, (notice) => {
        this.onNotice(notice.slice('error: '.length));
        return '';
      });
      this.settle(process);
    });
    // A write to a process that just died fails with EPIPE; its exit handler does the rest.
    child.stdin.on('error', () => {});
    child.on('error', (error) => this.lost(process, `virsh could not run: ${error.message}`));
    child.on('exit', (code, signal) => {
      // What virsh said before it went (it could not connect, say) tells why.
      const said = errorLines(process.stderr);
      this.lost(process, `virsh exited (${signal ?? `code ${code}`})${said ? `: ${said}` : ''}`);
    });
    this.process = process;
    return process;
  }

  /** Completes the running command once both of its markers arrived. */
  private settle(process: Process): void {
    const running = this.running;
    if (!running || process !== this.process) return;
    const outAt = process.stdout.indexOf(running.outMark);
    const errAt = process.stderr.indexOf(running.errMark);
    if (outAt < 0 || errAt < 0) return;
    const stdout = answer(process.stdout.slice(0, outAt), running);
    const stderr = process.stderr.slice(0, errAt);
    process.stdout = process.stdout.slice(outAt + running.outMark.length);
    process.stderr = process.stderr.slice(errAt + running.errMark.length);
    const errors = errorLines(stderr);
    this.finish(errors ? new VirshError(errors, running.job.line) : stdout);
  }

  private finish(outcome: string | Error): void {
    const running = this.running;
    if (!running) return;
    clearTimeout(running.timer);
    this.running = undefined;
    if (typeof outcome === 'string') running.job.resolve(outcome);
    else running.job.reject(outcome);
    this.next();
  }

  private expire(): void {
    const running = this.running;
    if (!running) return;
    const process = this.process;
    this.process = undefined;
    if (process) {
      this.onNotice(`killed virsh (pid ${process.child.pid}) after a command timed out`);
      process.child.kill('SIGKILL');
    }
    this.finish(new VirshTimeoutError(running.job.line, running.job.timeoutMs));
  }

  private lost(process: Process, reason: string): void {
    if (process !== this.process) return;
    this.process = undefined;
    if (this.running) this.finish(new VirshError(reason, this.running.job.line));
  }
}

/** `args`' answer, or null when libvirt says the object does not exist. */
export async function runUnlessMissing(
  virsh: VirshRunner,
  args: readonly string[],
): Promise<string | null> {
  try {
    return await virsh.run(args);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/**
 * Stops and removes a network or pool (`net-destroy`, `net-undefine` for instance); one that
 * does not exist or does not run is no error.
 */
export async function stopAndRemove(
  virsh: VirshRunner,
  commands: readonly [stop: string, remove: string],
  name: string,
): Promise<void> {
  for (const command of commands) {
    try {
      await virsh.run([command, name]);
    } catch (error) {
      if (!isNotFound(error) && !/not active/i.test((error as Error).message)) throw error;
    }
  }
}

/** virsh's `error: ` lines, without the prefix, one a line; empty for none. */
export function errorLines(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('error: '))
    .map((l) => l.slice('error: '.length))
    .join('\n');
}

/** A command's standard output without virsh's echo of the command and of the marker commands. */
function answer(text: string, running: Running): string {
  let output = text.replace(/^virsh [#>$] /, '');
  if (output.startsWith(`${running.job.line}\n`))
    output = output.slice(running.job.line.length + 1);
  for (const echo of [running.outEcho, running.errEcho]) {
    const at = output.lastIndexOf(`${echo}\n`);
    if (at >= 0) output = output.slice(0, at).replace(PROMPT, '');
  }
  return output;
}

/** Ends a child by closing its stdin; SIGKILL if it has not exited a second later. */
export function stopProcess(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin.end();
  });
}
