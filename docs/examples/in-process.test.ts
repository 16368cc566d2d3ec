/**
 * The example of docs/in-process.md, run by the test suite: two sigmalite instances in one
 * process, isolated from each other, reset between tests.
 */
import { type Sigmalite, startSigmalite } from 'sigmalite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

let cloudA: Sigmalite;
let cloudB: Sigmalite;

beforeAll(async () => {
  // Same account name and password in both: only the instance tells them apart.
  const users = [{ email: 'ci@example.com', password: 'ci-password' }];
  [cloudA, cloudB] = await Promise.all([startSigmalite({ users }), startSigmalite({ users })]);
});

afterAll(async () => {
  await Promise.all([cloudA.close(), cloudB.close()]);
});

beforeEach(async () => {
  await Promise.all([cloudA.reset(), cloudB.reset()]);
});

/** The parts of the API's answers this example reads. */
interface Body {
  objects: { uuid: string }[];
  meta: { total_count: number };
  status: string;
}

/** A CloudSigma API call with the instance's first account. */
async function api(cloud: Sigmalite, method: string, path: string, body?: unknown) {
  const { email, password } = cloud.users[0]!;
  const response = await fetch(new URL(path, cloud.url), {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Body };
}

const server = { name: 'web', cpu: 1000, mem: 536870912, vnc_password: 'secret' };

describe('two in-process instances', () => {
  it('keep their own state', async () => {
    const created = await api(cloudA, 'POST', 'servers/', { objects: [server] });
    expect(created.status).toBe(201);
    const uuid = created.json.objects[0]!.uuid;

    expect((await api(cloudA, 'GET', 'servers/')).json.meta.total_count).toBe(1);
    expect((await api(cloudB, 'GET', 'servers/')).json.meta.total_count).toBe(0);
    expect((await api(cloudB, 'GET', `servers/${uuid}/`)).status).toBe(404);
  });

  it('start from nothing again after reset()', async () => {
    expect((await api(cloudA, 'GET', 'servers/')).json.meta.total_count).toBe(0);
  });

  it('run servers through their lifecycle', async () => {
    const created = await api(cloudA, 'POST', 'servers/', { objects: [server] });
    const uuid = created.json.objects[0]!.uuid;
    expect((await api(cloudA, 'POST', `servers/${uuid}/action/?do=start`, {})).status).toBe(202);
    let status = 'starting';
    for (let i = 0; i < 100 && status !== 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await api(cloudA, 'GET', `servers/${uuid}/`)).json.status;
    }
    expect(status).toBe('running');
  });
});
