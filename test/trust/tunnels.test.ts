/** Tunnels under guessing (issue 12 item 5e): lockout, and a changed vnc_password closes them. */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

/** Sends a password line to a console tunnel; resolves with the first answer, or '' if refused. */
function tryConsole(port: number, password: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('\r\n')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.once('connect', () => socket.write(`${password}\r\n`));
  });
}

describe('tunnels', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  async function runningServer(password: string) {
    const server = await createServer(t.alice, { vnc_password: password });
    expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
    return server;
  }

  async function openConsole(uuid: string): Promise<number> {
    const r = await t.alice.post(`/servers/${uuid}/action/?do=open_console`);
    expect(r.status, r.text).toBe(202);
    return Number(/:(\d+)$/.exec(r.json.console_url)![1]);
  }

  it('refuses a console tunnel unchecked after 5 wrong passwords', async () => {
    const server = await runningServer('right-one');
    const port = await openConsole(server.uuid);
    for (let i = 0; i < 5; i++) {
      expect(await tryConsole(port, `wrong-${i}`)).toMatch(/authentication failed/);
    }
    expect(await tryConsole(port, 'right-one')).toMatch(/too many authentication failures/);
  });

  it('closes the tunnels of a server whose vnc_password changes', async () => {
    const server = await runningServer('old-password');
    const port = await openConsole(server.uuid);
    expect(await tryConsole(port, 'old-password')).toMatch(/^OK/);
    const put = await t.alice.put(`/servers/${server.uuid}/`, {
      ...server,
      vnc_password: 'new-password',
    });
    expect(put.status, put.text).toBe(200);
    expect(await tryConsole(port, 'old-password')).not.toMatch(/^OK/);
    const next = await openConsole(server.uuid);
    expect(await tryConsole(next, 'new-password')).toMatch(/^OK/);
  });
});

describe('out of file descriptors', () => {
  it('answers a clean 503 backend, never a 500', async () => {
    const t = await startTestApp();
    try {
      const server = await createServer(t.alice);
      expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
      const engine = t.app.engine as unknown as { openVnc: () => Promise<never> };
      engine.openVnc = async () => {
        throw Object.assign(new Error('listen EMFILE: too many open files'), { code: 'EMFILE' });
      };
      const r = await t.alice.post(`/servers/${server.uuid}/action/?do=open_vnc`);
      expect(r.status).toBe(503);
      expect(r.json).toEqual([
        { error_point: null, error_type: 'backend', error_message: expect.any(String) },
      ]);
      expect(r.headers.get('retry-after')).toBe('5');
    } finally {
      await t.close();
    }
  });
});
