/**
 * Generated keypairs (issue 12 item 6(d)): made on libuv's threads, not the event loop; at most
 * `--max-generated-keys` a request; none started once the client went away.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULTS } from '../../src/config.js';
import type * as ssh from '../../src/resources/keypairs/ssh.js';
import { ALICE, startTestApp, type TestApp } from '../support/app.js';

/** Every generation the app starts, each held back a while (a slow RSA key). */
const generations = vi.hoisted(() => ({ started: 0, delayMs: 0 }));
vi.mock('../../src/resources/keypairs/ssh.js', async (original) => {
  const real = await original<typeof import('../../src/resources/keypairs/ssh.js')>();
  return {
    ...real,
    generatePair: async (algorithm: 'rsa' | 'ed25519') => {
      generations.started++;
      await new Promise((resolve) => setTimeout(resolve, generations.delayMs));
      return real.generatePair(algorithm);
    },
  };
});

describe('generated keypairs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('generates an RSA pair while the event loop keeps turning', async () => {
    const real = await vi.importActual<typeof ssh>('../../src/resources/keypairs/ssh.js');
    let turns = 0;
    let generating = true;
    const turn = () => {
      turns++;
      if (generating) setImmediate(turn);
    };
    setImmediate(turn);
    const pair = await real.generatePair('rsa');
    generating = false;
    expect(pair.privateKey).toContain('BEGIN RSA PRIVATE KEY');
    expect(turns).toBeGreaterThan(1);
  });

  it(`refuses more than ${DEFAULTS.maxGeneratedKeys} to generate in one request, naming the number, and makes none`, async () => {
    expect(DEFAULTS.maxGeneratedKeys).toBe(10);
    generations.started = 0;
    const objects = Array.from({ length: 11 }, (_, i) => ({
      name: `k${i}`,
      algorithm_type: 'ed25519',
    }));
    const r = await t.alice.post('/keypairs/', { objects });
    expect(r.status).toBe(400);
    expect(r.json).toEqual([
      {
        error_point: 'objects',
        error_type: 'validation',
        error_message: expect.stringContaining('At most 10 keypairs'),
      },
    ]);
    expect(generations.started).toBe(0);
    expect((await t.alice.get('/keypairs/')).json.meta.total_count).toBe(0);
    // Keys the client gives do not count; ten to generate are fine.
    expect((await t.alice.post('/keypairs/', { objects: objects.slice(0, 10) })).status).toBe(201);
    expect(generations.started).toBe(10);
  });

  it('starts no further generation once the client went away, and stores none', async () => {
    const before = (await t.alice.get('/keypairs/')).json.meta.total_count;
    generations.started = 0;
    generations.delayMs = 100;
    const body = JSON.stringify({
      objects: Array.from({ length: 10 }, (_, i) => ({
        name: `gone${i}`,
        algorithm_type: 'ed25519',
      })),
    });
    const auth = Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64');
    await new Promise<void>((resolve) => {
      const req = request(`${t.origin}/api/2.0/keypairs/`, {
        method: 'POST',
        headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(body, () => setTimeout(() => req.destroy(), 150));
    });
    // Ten would take a second; wait that long and see that no more were started.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    generations.delayMs = 0;
    expect(generations.started).toBeGreaterThan(0);
    expect(generations.started).toBeLessThan(5);
    expect((await t.alice.get('/keypairs/')).json.meta.total_count).toBe(before);
  });
});
