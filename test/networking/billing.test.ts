/**
 * The read-only billing collections and the account's money (api-reference.md §5.4, §5.5):
 * `/pricing/`, `/discount/`, `/licenses/`, `/ledger/`, `/balance/` per account, and what
 * `/currentusage/` shows once subscriptions are bought (subscribed, using, burst; IPs and VLANs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrive, createServer, expectError, getObject, type Obj } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { act, buy } from './support.js';

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startTestApp();
  alice = t.alice;
});
afterAll(() => t.close());

describe('the catalogue', () => {
  it('/pricing/ lists every price (default limit 0) with the burst levels', async () => {
    const pricing = await getObject(alice, '/pricing/');
    expect(pricing.meta.limit).toBe(0);
    expect(pricing.objects.length).toBe(pricing.meta.total_count);
    const dssd = pricing.objects.find((p: Obj) => p.resource === 'dssd');
    expect(dssd).toEqual({
      currency: 'EUR',
      id: dssd.id,
      level: 1,
      multiplier: 2783138807808000,
      price: '0.21000000000000000000',
      resource: 'dssd',
      unit: 'GB/month',
    });
    const resources = pricing.objects.map((p: Obj) => p.resource);
    for (const r of ['cpu', 'mem', 'ip', 'vlan', 'tx', 'msft_p73_04837_core']) {
      expect(resources).toContain(r);
    }
    expect(pricing.current).toEqual(Object.fromEntries(resources.map((r: string) => [r, 1])));
    expect(pricing.next).toEqual(pricing.current);
    expect((await getObject(alice, '/pricing/?limit=2&offset=1')).objects).toEqual(
      pricing.objects.slice(1, 3),
    );
    expect((await getObject(alice, '/pricing/?level=2')).objects).toEqual([]);
    expect((await getObject(alice, '/pricing/?level=1')).meta.total_count).toBe(
      pricing.meta.total_count,
    );
  });

  it('/discount/ and /licenses/ list their catalogues; a license by id', async () => {
    const discount = await getObject(alice, '/discount/');
    expect(discount.objects.map((d: Obj) => d.period)).toEqual([
      '3 months',
      '6 months',
      '1 year',
      '2 years',
      '3 years',
    ]);
    const licenses = await getObject(alice, '/licenses/');
    expect(licenses.meta).toEqual({ limit: 20, offset: 0, total_count: 4 });
    const windows = licenses.objects.find((l: Obj) => l.name === 'msft_p73_04837_core');
    expect(windows).toMatchObject({ burstable: true, type: 'instance', user_metric: 'smp' });
    expect(await getObject(alice, windows.resource_uri)).toEqual(windows);
    expectError(await alice.get('/licenses/99/'), 404, 'notexist', null);
    // A license can be subscribed to by name.
    const bought = await buy(alice, { resource: 'msft_p73_04837_core', amount: 2 });
    expect(bought.objects[0]).toMatchObject({ resource: 'msft_p73_04837_core', amount: '2' });
  });

  it('answers model-resource schemas (blank, nullable, unique)', async () => {
    const ledger = await getObject(alice, '/ledger/schema/');
    expect(ledger.filtering).toEqual({ billing_cycle: 1, time: 1 });
    expect(ledger.fields.amount).toEqual({
      blank: false,
      default: 0,
      help_text: 'Amount of the operation, positive for debits, negative for credits',
      nullable: false,
      readonly: false,
      type: 'decimal',
      unique: false,
    });
    expect((await getObject(alice, '/pricing/schema/')).default_limit).toBe(0);
    expect((await getObject(alice, '/discount/schema/')).default_limit).toBe(0);
    expect((await getObject(alice, '/licenses/schema/')).fields.name.unique).toBe(true);
  });

  it('is read-only (405)', async () => {
    for (const path of ['/pricing/', '/discount/', '/licenses/', '/ledger/', '/balance/']) {
      expect((await alice.post(path, {})).status, path).toBe(405);
    }
  });
});

describe("an account's money", () => {
  let ledger: Obj[];

  it('the ledger lists its charges newest first; one by id; none of another account', async () => {
    await buy(alice, { resource: 'ip' });
    await buy(alice, { resource: 'vlan' });
    const list = await getObject(alice, '/ledger/');
    ledger = list.objects;
    expect(list.meta.total_count).toBe(3);
    expect(ledger.map((e) => Number(e.id))).toEqual(
      ledger.map((e) => Number(e.id)).sort((a, b) => b - a),
    );
    // Each entry takes from the balance the previous one left.
    expect(ledger[0]!.initial).toBe(ledger[1]!.end);
    expect(ledger[1]!.initial).toBe(ledger[2]!.end);
    expect(ledger[2]!.initial).toBe('10000.00000000000000000000');
    expect(await getObject(alice, `/ledger/${ledger[0]!.id}/`)).toEqual(ledger[0]);
    expectError(await t.bob.get(`/ledger/${ledger[0]!.id}/`), 404, 'notexist', null);
    expect((await getObject(t.bob, '/ledger/')).objects).toEqual([]);
    expect((await getObject(alice, '/ledger/?limit=1&offset=2')).objects).toEqual([ledger[2]]);
  });

  it('filters the ledger by time', async () => {
    const time = ledger[0]!.time as string;
    expect(
      (await getObject(alice, `/ledger/?time__lte=${encodeURIComponent(time)}`)).meta.total_count,
    ).toBe(3);
    expect(
      (await getObject(alice, `/ledger/?time__gt=${encodeURIComponent(time)}`)).meta.total_count,
    ).toBe(0);
    expect((await getObject(alice, '/ledger/?billing_cycle=null')).meta.total_count).toBe(3);
    expectError(await alice.get('/ledger/?time__gt=yesterday'), 400, 'validation', 'time__gt');
  });

  it('/balance/ and /currentusage/ show what is left, per account', async () => {
    const left = ledger[0]!.end;
    expect(await getObject(alice, '/balance/')).toEqual({
      balance: left,
      credit_limit: null,
      currency: 'EUR',
    });
    expect((await getObject(alice, '/currentusage/')).balance).toEqual({
      balance: left,
      currency: 'EUR',
    });
    expect((await getObject(t.bob, '/balance/')).balance).toBe('10000.00');
  });
});

describe('/currentusage/', () => {
  it('shows subscriptions as subscribed, and the use beyond them as burst', async () => {
    const app = await startTestApp({ defaultCpuType: 'amd' });
    try {
      const bob = app.bob;
      await buy(bob, { resource: 'cpu', amount: 1500 });
      await buy(bob, { resource: 'mem', amount: 1073741824 });
      await buy(bob, { resource: 'dssd', amount: 2147483648 });
      await buy(bob, { resource: 'ip', amount: 2 });
      await buy(bob, { resource: 'vlan' });
      const server = await createServer(bob, { cpu: 2000, mem: 536870912 });
      await act(bob, server.uuid, 'start');
      await createDrive(bob, { size: 3221225472 });
      const { usage } = await getObject(bob, '/currentusage/');
      expect(usage.cpu).toEqual({ burst: 500, subscribed: 1500, using: 2000 });
      expect(usage.amd_cpu).toEqual({ burst: 500, subscribed: 1500, using: 2000 });
      expect(usage.mem).toEqual({ burst: 0, subscribed: 1073741824, using: 536870912 });
      expect(usage.dssd).toEqual({ burst: 1073741824, subscribed: 2147483648, using: 3221225472 });
      expect(usage.ip).toEqual({ burst: 0, subscribed: 2, using: 2 });
      expect(usage.vlan).toEqual({ burst: 0, subscribed: 1, using: 1 });
      for (const key of ['intel_cpu', 'sparc_t4_cpu', 'vlan_ecx', 'msft_7jq_00341', 'sms', 'tx']) {
        expect(usage[key], key).toEqual({ burst: 0, subscribed: 0, using: 0 });
      }
    } finally {
      await app.close();
    }
  });
});
