/**
 * `npm run bench`: sigmalite against a bare-Fastify baseline, each in its own process, with the
 * load generator (autocannon) in this third process. Scenarios, alternated baseline/sigmalite,
 * several rounds, median ratios:
 *   get      GET /servers/{uuid}/                                  requests/s vs baseline
 *   list     GET /servers/detail/?limit=20 with 10,000 servers      requests/s vs baseline
 *   create   POST /servers/ (one server)                            requests/s vs a bare insert
 *   listall  GET /servers/detail/?limit=0 over 10,000 servers       mean latency vs baseline
 *   listgz   the same with Accept-Encoding: gzip, one client,       its latency (decompression
 *            sequential requests                                    included) vs the baseline's
 *                                                                   uncompressed bytes
 * Ends with one line `bench: get=R list=R create=R listall=R listgz=R`.
 * BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS and BENCH_SERVERS override the defaults;
 * BENCH_SIGMALITE_ARGS adds flags to sigmalite's command line (e.g. `--log-level warn`);
 * BENCH_SCENARIOS (e.g. `create,listall`) runs only those scenarios.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SERVERS = Number(process.env.BENCH_SERVERS ?? 10_000);
const USER = 'bench@sigmalite.local';
const PASSWORD = 'bench-password';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
/** Creates go to an account of their own, so the 10,000-server account stays as it is. */
const CREATOR = 'bench-create@sigmalite.local';
const CREATOR_AUTH = `Basic ${Buffer.from(`${CREATOR}:${PASSWORD}`).toString('base64')}`;
const root = new URL('..', import.meta.url).pathname;

const serverDefinition = (name: string) => ({
  name,
  cpu: 2000,
  mem: 1073741824,
  vnc_password: 'benchmark',
  meta: { purpose: 'benchmark', team: 'sigmalite' },
  nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
});

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Spawns a process and waits for the stdout line matching `pattern`; returns its first group. */
function start(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  pattern: RegExp,
): Promise<string> {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) =>
      reject(new Error(`${command} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

async function request(url: string, init: RequestInit = {}): Promise<string> {
  const response = await fetch(url, {
    ...init,
    headers: { authorization: AUTH, 'content-type': 'application/json', ...init.headers },
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${text.slice(0, 200)}`);
  return text;
}

interface Scenario {
  name: 'get' | 'list' | 'create' | 'listall' | 'listgz';
  path: string;
  method: 'GET' | 'POST';
  body?: string;
  /**
   * Requests per second (higher is better), mean latency under load (lower is better), or the
   * median latency one client sees over CLIENT_REQUESTS requests made one after the other.
   */
  measure: 'throughput' | 'latency' | 'client';
  /** Accept-Encoding sigmalite is asked with (the baseline never compresses). */
  encoding?: string;
  target: number;
  auth?: string;
}

/** Requests per `client` measurement (after one to warm up); the median is taken. */
const CLIENT_REQUESTS = 7;

/**
 * The latency one client observes, body read and decompressed (Node's fetch decodes gzip), in
 * milliseconds: the median of CLIENT_REQUESTS requests on one keep-alive connection.
 */
async function clientLatency(url: string, encoding: string | undefined): Promise<number> {
  const once = async () => {
    const start = performance.now();
    const response = await fetch(url, {
      headers: { authorization: AUTH, 'accept-encoding': encoding ?? 'identity' },
    });
    const body = await response.arrayBuffer();
    const ms = performance.now() - start;
    if (!response.ok || body.byteLength === 0) throw new Error(`${url}: ${response.status}`);
    if (encoding && response.headers.get('content-encoding') !== 'gzip') {
      throw new Error(`${url}: no gzip answer`);
    }
    return ms;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < CLIENT_REQUESTS; i++) times.push(await once());
  return median(times);
}

async function load(base: string, scenario: Scenario, side: string): Promise<number> {
  if (scenario.measure === 'client') {
    return clientLatency(
      base + scenario.path,
      side === 'sigmalite' ? scenario.encoding : undefined,
    );
  }
  const result = await autocannon({
    url: base + scenario.path,
    method: scenario.method,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: scenario.auth ?? AUTH, 'content-type': 'application/json' },
    body: scenario.body,
    timeout: 120,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${scenario.name} on ${base}: ${bad} failed requests`);
  return scenario.measure === 'throughput' ? result.requests.average : result.latency.average;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sigmalite-bench-'));
  try {
    const apiUrl = await start(
      process.execPath,
      [
        join(root, 'dist/cli/bin.js'),
        'serve',
        '--port',
        '0',
        '--data',
        join(dir, 'sigmalite'),
        ...(process.env.BENCH_SIGMALITE_ARGS ?? '').split(' ').filter(Boolean),
      ],
      { SIGMALITE_USERS: `${USER}:${PASSWORD},${CREATOR}:${PASSWORD}` },
      /^sigmalite listening on (\S+)$/,
    );
    const sigmalite = new URL(apiUrl).origin;
    process.stderr.write(`sigmalite at ${sigmalite}; creating ${SERVERS} servers...\n`);
    let first = '';
    for (let done = 0; done < SERVERS; done += 500) {
      const batch = Array.from({ length: Math.min(500, SERVERS - done) }, (_, i) =>
        serverDefinition(`bench-${done + i}`),
      );
      const created = JSON.parse(
        await request(`${sigmalite}/api/2.0/servers/`, {
          method: 'POST',
          body: JSON.stringify({ objects: batch }),
        }),
      ) as {
        objects: { uuid: string }[];
      };
      first ||= created.objects[0]!.uuid;
    }
    const createBody = JSON.stringify({ objects: [serverDefinition('bench-create')] });
    const bytes = {
      detail: await request(`${sigmalite}/api/2.0/servers/${first}/`),
      list: await request(`${sigmalite}/api/2.0/servers/detail/?limit=20`),
      listAll: await request(`${sigmalite}/api/2.0/servers/detail/?limit=0`),
      created: await request(`${sigmalite}/api/2.0/servers/`, {
        method: 'POST',
        body: createBody,
        headers: { authorization: CREATOR_AUTH },
      }),
    };
    const bytesFile = join(dir, 'bytes.json');
    writeFileSync(bytesFile, JSON.stringify(bytes));
    const baselineUrl = await start(
      process.execPath,
      [
        // tsx as a loader, not its CLI: one process, which the exit handler's kill really stops.
        '--import',
        'tsx',
        join(root, 'bench/baseline.ts'),
        bytesFile,
        join(dir, 'baseline.db'),
      ],
      {},
      /^baseline listening on (\S+)$/,
    );
    const scenarios: Scenario[] = [
      {
        name: 'get',
        path: `/api/2.0/servers/${first}/`,
        method: 'GET',
        measure: 'throughput',
        target: 0.5,
      },
      {
        name: 'list',
        path: '/api/2.0/servers/detail/?limit=20',
        method: 'GET',
        measure: 'throughput',
        target: 0.5,
      },
      {
        name: 'create',
        path: '/api/2.0/servers/',
        method: 'POST',
        body: createBody,
        measure: 'throughput',
        target: 0.5,
        auth: CREATOR_AUTH,
      },
      {
        name: 'listall',
        path: '/api/2.0/servers/detail/?limit=0',
        method: 'GET',
        measure: 'latency',
        target: 2,
      },
      {
        name: 'listgz',
        path: '/api/2.0/servers/detail/?limit=0',
        method: 'GET',
        measure: 'client',
        encoding: 'gzip',
        target: 1,
      },
    ];
    const only = process.env.BENCH_SCENARIOS?.split(',');
    if (only)
      scenarios.splice(0, scenarios.length, ...scenarios.filter((s) => only.includes(s.name)));
    const ratios: Record<string, number[]> = {};
    const rows: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const scenario of scenarios) {
        // Alternate which goes first, so warm-up and drift do not favour one side.
        const order = round % 2 === 1 ? ['baseline', 'sigmalite'] : ['sigmalite', 'baseline'];
        const values: Record<string, number> = {};
        for (const side of order)
          values[side] = await load(side === 'baseline' ? baselineUrl : sigmalite, scenario, side);
        const ratio = values.sigmalite! / values.baseline!;
        const seen = ratios[scenario.name] ?? [];
        seen.push(ratio);
        ratios[scenario.name] = seen;
        const unit = scenario.measure === 'throughput' ? 'req/s' : 'ms';
        const digits = scenario.measure === 'client' ? 2 : 1;
        const row = `round ${round} ${scenario.name.padEnd(8)} baseline ${values.baseline!.toFixed(digits)} ${unit}  sigmalite ${values.sigmalite!.toFixed(digits)} ${unit}  ratio ${ratio.toFixed(2)}`;
        rows.push(row);
        process.stderr.write(`${row}\n`);
      }
    }
    const summary = scenarios.map((s) => {
      const r = median(ratios[s.name]!);
      const ok = s.measure === 'throughput' ? r >= s.target : r <= s.target;
      return { name: s.name, ratio: r, ok, target: s.target, measure: s.measure };
    });
    process.stdout.write(
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}\n`,
    );
    process.stdout.write(
      `settings: ${CONNECTIONS} connections, ${SECONDS} s per measurement, ${ROUNDS} rounds, ${SERVERS} servers\n`,
    );
    for (const row of rows) process.stdout.write(`${row}\n`);
    for (const s of summary) {
      const goal =
        s.measure === 'throughput'
          ? `>= ${s.target} of baseline throughput`
          : s.measure === 'client'
            ? `<= ${s.target}x baseline latency, one client`
            : `<= ${s.target}x baseline latency`;
      process.stdout.write(
        `${s.name}: median ratio ${s.ratio.toFixed(2)} (target ${goal}) ${s.ok ? 'met' : 'MISSED'}\n`,
      );
    }
    process.stdout.write(
      `bench: ${summary.map((s) => `${s.name}=${s.ratio.toFixed(2)}`).join(' ')}\n`,
    );
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
