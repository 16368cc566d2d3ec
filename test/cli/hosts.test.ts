import { describe, expect, it } from 'vitest';
import { basic, cliTestFile, lines, runCli, type Server, startServer } from './process.js';

const tempDir = cliTestFile('sigmalite-hosts-');

const USER: [string, string] = ['a@x.io', 'pw-a'];

async function api(server: Server, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.origin}/api/2.0${path}`, {
    method,
    headers: { authorization: basic(...USER), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function waitStatus(server: Server, uuid: string, status: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await api(server, 'GET', `/servers/${uuid}/`);
    if (res.json?.status === status) return;
    if (Date.now() > deadline) throw new Error(`${uuid} is ${res.json?.status}, not ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `host list`'s lines, each as its name and its `key=value` fields. */
async function hostList(data: string): Promise<Record<string, Record<string, string>>> {
  const list = await runCli(['host', 'list', '--data', data]);
  expect(list.code, list.stderr).toBe(0);
  const hosts: Record<string, Record<string, string>> = {};
  for (const line of lines(list.stdout)) {
    const [name, ...fields] = line.split(' ');
    hosts[name!] = Object.fromEntries(fields.map((f) => f.split('=', 2) as [string, string]));
  }
  return hosts;
}

describe('sigmalite host', () => {
  it("manages the hosts a --hosts '*' server serves while it runs", async () => {
    const data = tempDir();
    const server = await startServer(
      ['--port', '0', '--data', data, '--hosts', '*', '--transitions', 'instant'],
      { env: { SIGMALITE_USERS: USER.join(':') } },
    );
    // An empty registry: the server serves `local`, registered.
    expect(Object.keys(await hostList(data))).toEqual(['local']);

    const add = await runCli([
      'host',
      'add',
      'h2',
      '--uri',
      'qemu+ssh://h2/system',
      '--mhz',
      '20000',
      '--memory',
      '16G',
      '--data',
      data,
    ]);
    expect(add).toEqual({ code: 0, stdout: '', stderr: 'sigmalite host: added h2\n' });
    const change = await runCli([
      'host',
      'add',
      'h2',
      '--pool',
      'fast',
      '--vnc-listen',
      '10.0.0.2',
      '--data',
      data,
    ]);
    expect(change.stderr).toBe('sigmalite host: changed h2\n');
    expect((await hostList(data)).h2).toEqual({
      uri: 'qemu+ssh://h2/system',
      mhz: '20000',
      memory: '16G',
      pool: 'fast',
      vnc_listen: '10.0.0.2',
      drained: 'no',
      state: 'unknown',
      since: '-',
      servers: '0',
    });

    // With local drained, a server started now is placed on h2, which the server runs.
    expect((await runCli(['host', 'drain', 'local', '--data', data])).code).toBe(0);
    const created = await api(server, 'POST', '/servers/', {
      name: 's1',
      cpu: 1000,
      mem: 536870912,
      vnc_password: 'secret-vnc',
    });
    expect(created.status).toBe(201);
    const onH2 = created.json.objects[0].uuid as string;
    expect((await api(server, 'POST', `/servers/${onH2}/action/?do=start`)).status).toBe(202);
    await waitStatus(server, onH2, 'running');
    expect((await hostList(data)).h2?.servers).toBe('1');
    expect((await runCli(['host', 'drain', 'local', '--undo', '--data', data])).code).toBe(0);

    const refused = await runCli(['host', 'remove', 'h2', '--data', data]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `sigmalite host remove: 1 server is on h2 and not stopped (${onH2}): stop it first\n`,
    );
    expect(Object.keys(await hostList(data))).toEqual(['h2', 'local']);

    expect((await runCli(['host', 'drain', 'h2', '--data', data])).code).toBe(0);
    expect((await hostList(data)).h2?.drained).toBe('yes');
    expect((await runCli(['host', 'drain', 'h2', '--undo', '--data', data])).code).toBe(0);
    expect((await hostList(data)).h2?.drained).toBe('no');

    expect((await api(server, 'POST', `/servers/${onH2}/action/?do=stop`)).status).toBe(202);
    await waitStatus(server, onH2, 'stopped');
    const removed = await runCli(['host', 'remove', 'h2', '--data', data]);
    expect(removed).toEqual({
      code: 0,
      stdout: '',
      stderr: 'sigmalite host: removed h2 (1 stopped server will start elsewhere)\n',
    });
    expect(Object.keys(await hostList(data))).toEqual(['local']);
    // It starts again, on a host that is served.
    expect((await api(server, 'POST', `/servers/${onH2}/action/?do=start`)).status).toBe(202);
    await waitStatus(server, onH2, 'running');
    expect(await server.stop()).toBe(0);
  }, 60_000);

  it('reports mistakes on stderr with exit code 2', async () => {
    const data = tempDir();
    const cases: [string[], RegExp][] = [
      [['add', 'bad name'], /"bad name" is no host name/],
      [['add', 'h1', '--mhz', 'lots'], /--mhz: "lots" is no whole number/],
      [['add', 'h1', '--memory', '16X'], /"memory" must be a positive number of bytes/],
      [['add', 'h1', '--uri', 'h1'], /"uri" must be a libvirt URI/],
      [['add', 'h1', '--colour', 'red'], /unknown option '--colour'/],
      [['add', 'h1', '--vnc-listen', 'h1.example.com'], /"vnc_listen" must be an IPv4 or IPv6/],
      [['remove', 'nowhere'], /there is no host "nowhere" in the registry/],
      [['drain', 'nowhere'], /there is no host "nowhere" in the registry/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['host', ...args, '--data', data]);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
    }
    // Nothing was written.
    expect(lines((await runCli(['host', 'list', '--data', data])).stdout)).toEqual([]);
  });
});
