/**
 * Subscriptions (api-reference.md §5.5, subscriptions.rst): purchases priced from the catalogue and
 * charged to the balance, the start/end/period table and noon rounding, `ip`/`vlan` amounts,
 * extend, auto_renew, the calculator, grouped chains, list filters, the end of a chain (renewed,
 * or expired with its IP or VLAN taken away), and balance enforcement (402) behind its option.
 * The clock is stopped at a known noon so that prices and times are exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, expectError, getObject, type Obj } from '../support/api.js';
import { type Client, serverBody, startTestApp, type TestApp } from '../support/app.js';
import { act, buy } from './support.js';

const NOON = Date.parse('2030-01-01T12:00:00Z');
const DAY = 86_400_000;

/** An app whose clock stands still at `at` (instant transitions: the engine still settles). */
async function appAt(at: number, options: Parameters<typeof startTestApp>[0] = {}) {
  const t = await startTestApp(options);
  t.app.clock.setScale(0);
  t.app.clock.set(at);
  return t;
}

/** Moves the clock and lets the engine run what came due (a chain's end). */
async function travel(t: TestApp, ms: number): Promise<void> {
  t.app.clock.advance(ms);
  await t.app.engine.settled();
}

async function balance(client: Client): Promise<string> {
  return (await getObject(client, '/balance/')).balance;
}

describe('buying', () => {
  let t: TestApp;
  let alice: Client;
  beforeAll(async () => {
    t = await appAt(NOON);
    alice = t.alice;
  });
  afterAll(() => t.close());

  it('prices from the catalogue, charges the balance and writes the ledger', async () => {
    const bought = await buy(alice, { resource: 'ip', amount: 1, period: '30 days' });
    const sub = bought.objects[0];
    expect(sub).toEqual({
      amount: '1',
      auto_renew: true,
      descendants: [],
      discount_amount: '0.00000000000000000000',
      discount_percent: '0',
      discounts: {},
      end_time: '2030-01-31T12:00:00+00:00',
      free_tier: false,
      id: sub.id,
      period: '30 days, 0:00:00',
      price: '4.00000000000000000000',
      remaining: '1',
      resource: 'ip',
      resource_uri: `/api/2.0/subscriptions/${sub.id}/`,
      start_time: '2030-01-01T12:00:00+00:00',
      status: 'active',
      subscribed_object: sub.subscribed_object,
      uuid: sub.uuid,
      was_billed: true,
    });
    expect(sub.id).toMatch(/^\d+$/);
    expect(bought.price).toBe('4.00000000000000000000');
    expect(await getObject(alice, `/subscriptions/${sub.id}/`)).toEqual(sub);
    expect(await balance(alice)).toBe('9996.00000000000000000000');
    const ledger = await getObject(alice, '/ledger/');
    expect(ledger.objects[0]).toMatchObject({
      amount: '4.00000000000000000000',
      initial: '10000.00000000000000000000',
      end: '9996.00000000000000000000',
      resource_amount: '1',
      billing_cycle: null,
      time: '2030-01-01T12:00:00+00:00',
    });
    expect(ledger.objects[0].reason).toContain(sub.subscribed_object);
    expect(await balance(t.bob)).toBe('10000.00');
  });

  it('takes the longest period discount of /discount/ (a year: 25%)', async () => {
    const bought = await buy(alice, { resource: 'cpu', amount: 2000, period: '1 year' });
    expect(bought.objects[0]).toMatchObject({
      amount: '2000',
      end_time: '2031-01-01T12:00:00+00:00',
      period: '365 days, 0:00:00',
      discount_percent: '0.2500000000',
      discounts: { period: '0.2500000000' },
      discount_amount: '33.45833333333333333333',
      price: '100.37500000000000000000',
    });
  });

  it('places a purchase in time by the table of subscriptions.rst, rounding to noon', async () => {
    const at = (start?: string, end?: string, period?: string) =>
      alice.post('/subscriptioncalculator/', {
        objects: [
          { resource: 'mem', amount: 1073741824, start_time: start, end_time: end, period },
        ],
      });
    const times = async (...args: Parameters<typeof at>) => {
      const res = await at(...args);
      expect(res.status, res.text).toBe(200);
      return [res.json.objects[0].start_time, res.json.objects[0].end_time];
    };
    // Period from now; end rounded up to the next noon.
    expect(await times(undefined, undefined, '1 month 2 days')).toEqual([
      '2030-01-01T12:00:00+00:00',
      '2030-02-03T12:00:00+00:00',
    ]);
    // From now until end_time (rounded up to noon).
    expect(await times(undefined, '2030-01-10T08:00:00Z')).toEqual([
      '2030-01-01T12:00:00+00:00',
      '2030-01-10T12:00:00+00:00',
    ]);
    // A future start rounds down to its previous noon; a past one is now.
    expect(await times('2030-02-05T15:30:00+00:00', undefined, '1 week')).toEqual([
      '2030-02-05T12:00:00+00:00',
      '2030-02-12T12:00:00+00:00',
    ]);
    expect(await times('2029-06-01T00:00:00Z', '2030-03-01T12:00:00Z')).toEqual([
      '2030-01-01T12:00:00+00:00',
      '2030-03-01T12:00:00+00:00',
    ]);
    // A period until end_time.
    expect(await times(undefined, '2030-05-01T12:00:00Z', '2 months')).toEqual([
      '2030-03-01T12:00:00+00:00',
      '2030-05-01T12:00:00+00:00',
    ]);
    // A month from January 31st ends on the last day of February.
    expect(await times('2030-01-31T12:00:00Z', undefined, '1 month')).toEqual([
      '2030-01-31T12:00:00+00:00',
      '2030-02-28T12:00:00+00:00',
    ]);
    for (const args of [
      ['2030-02-01T12:00:00Z', '2030-03-01T12:00:00Z', '1 month'],
      ['2030-02-01T12:00:00Z', undefined, undefined],
      [undefined, undefined, undefined],
    ] as const) {
      expectError(await at(...args), 400, 'validation', 'period');
    }
    expectError(await at(undefined, 'tomorrow'), 400, 'validation', 'end_time');
    expectError(await at(undefined, '2029-01-01T12:00:00Z'), 400, 'validation', 'end_time');
    // Transfer is not timed.
    const tx = await alice.post('/subscriptioncalculator/', {
      objects: [{ resource: 'tx', amount: 1073741824 * 10 }],
    });
    expect(tx.json.objects[0]).toMatchObject({ end_time: null, price: '0.50000000000000000000' });
  });

  it('makes N subscriptions of one for ip and vlan, at most 500 per request', async () => {
    const bought = await buy(alice, { resource: 'vlan', amount: 3 });
    expect(bought.objects.map((s: Obj) => s.amount)).toEqual(['1', '1', '1']);
    const vlans = bought.objects.map((s: Obj) => s.subscribed_object);
    expect(new Set(vlans).size).toBe(3);
    for (const uuid of vlans) expect((await getObject(alice, `/vlans/${uuid}/`)).uuid).toBe(uuid);
    // 31 days (to February 1st) at 12.00 a month, three times.
    expect(bought.objects.map((s: Obj) => s.price)).toEqual(
      bought.objects.map(() => '12.40000000000000000000'),
    );
    expect(bought.price).toBe('37.20000000000000000000');
    const before = (await getObject(alice, '/subscriptions/')).meta.total_count;
    expectError(
      await alice.post('/subscriptions/', {
        objects: [
          { resource: 'ip', amount: 300, period: '1 month' },
          { resource: 'ip', amount: 201, period: '1 month' },
        ],
      }),
      400,
      'validation',
      'objects',
    );
    expect((await getObject(alice, '/subscriptions/')).meta.total_count).toBe(before);
  });

  it('validates each purchase: resource, amount, period', async () => {
    const one = (item: Obj) => alice.post('/subscriptions/', { objects: [item] });
    const missing = expectError(
      await one({ amount: 1, period: '1 month' }),
      400,
      'validation',
      'resource',
    );
    expect(missing.error_message).toBe('This field is required');
    expectError(await one({ resource: 'gold', period: '1 month' }), 400, 'validation', 'resource');
    expectError(
      await one({ resource: 'ip', amount: 0, period: '1 month' }),
      400,
      'validation',
      'amount',
    );
    expectError(
      await one({ resource: 'ip', amount: 'x', period: '1 month' }),
      400,
      'validation',
      'amount',
    );
    expectError(await one({ resource: 'ip', period: 'fortnight' }), 400, 'validation', 'period');
    expectError(await one({ resource: 'ip', period: 5 }), 400, 'validation', 'period');
    expectError(
      await one({ resource: 'ip', period: '1 month', auto_renew: 'no' }),
      400,
      'validation',
      'auto_renew',
    );
    // hdd is the deprecated alias of dssd; amounts may be numeric strings.
    const hdd = await buy(alice, { resource: 'hdd', amount: '1073741824' });
    expect(hdd.objects[0]).toMatchObject({ resource: 'dssd', amount: '1073741824' });
  });
});

describe('chains: extend, auto_renew, calculator, grouped, filters', () => {
  let t: TestApp;
  let alice: Client;
  let ip: Obj;
  beforeAll(async () => {
    t = await appAt(Date.parse('2030-02-01T12:00:00Z'));
    alice = t.alice;
    ip = (await buy(alice, { resource: 'ip', period: '1 month' })).objects[0];
  });
  afterAll(() => t.close());

  it('the calculator prices an extension without buying it', async () => {
    const balanceBefore = await balance(alice);
    const calc = await alice.post(`/subscriptioncalculator/${ip.id}/action/?do=extend`, {});
    expect(calc.status, calc.text).toBe(200);
    // A month from March 1st: the period is parsed again at the new start.
    expect(calc.json).toEqual({
      amount: '1',
      discount_amount: '0.00000000000000000000',
      discount_percent: '0',
      discounts: {},
      end_time: '2030-04-01T12:00:00+00:00',
      free_tier: false,
      period: '31 days, 0:00:00',
      price: '4.13333333333333333333',
      resource: 'ip',
      start_time: '2030-03-01T12:00:00+00:00',
      was_billed: true,
    });
    const created = await alice.post('/subscriptioncalculator/', {
      objects: [{ resource: 'ip', amount: 2, period: '1 month' }],
    });
    expect(created.status).toBe(200);
    expect(created.json.objects).toHaveLength(2);
    expect(created.json.price).toBe('7.46666666666666666666');
    expect(await balance(alice)).toBe(balanceBefore);
    expect((await getObject(alice, '/subscriptions/')).meta.total_count).toBe(1);
    expect((await getObject(alice, '/ips/')).meta.total_count).toBe(1);
  });

  it('extend chains a subscription after the last of the chain and charges it (200)', async () => {
    const first = await alice.post(`/subscriptions/${ip.id}/action/?do=extend`, {});
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({
      resource: 'ip',
      start_time: '2030-03-01T12:00:00+00:00',
      end_time: '2030-04-01T12:00:00+00:00',
      price: '4.13333333333333333333',
      status: 'inactive',
      subscribed_object: ip.subscribed_object,
    });
    // Extending the first again extends the chain's last, for the period given.
    const second = await alice.post(`/subscriptions/${ip.id}/action/?do=extend`, {
      period: '2 months',
    });
    expect(second.json).toMatchObject({
      start_time: '2030-04-01T12:00:00+00:00',
      end_time: '2030-06-01T12:00:00+00:00',
    });
    const root = await getObject(alice, `/subscriptions/${ip.id}/`);
    expect(root.descendants).toEqual([
      { id: Number(first.json.id), resource_uri: `/api/2.0/subscriptions/${first.json.id}/` },
      { id: Number(second.json.id), resource_uri: `/api/2.0/subscriptions/${second.json.id}/` },
    ]);
    const third = await alice.post(`/subscriptions/${first.json.id}/action/?do=extend`, {
      end_time: '2030-06-20T09:00:00Z',
    });
    expect(third.json).toMatchObject({
      start_time: '2030-06-01T12:00:00+00:00',
      end_time: '2030-06-20T12:00:00+00:00',
    });
    // A chain grouped: the first subscription, ending when its last does.
    const grouped = await getObject(alice, '/groupedsubscriptions/');
    expect(grouped.objects).toHaveLength(1);
    expect(grouped.objects[0]).toMatchObject({
      id: ip.id,
      end_time: '2030-06-20T12:00:00+00:00',
      status: 'active',
    });
    expect(grouped.objects[0].descendants).toHaveLength(3);
    expectError(
      await alice.post(`/subscriptions/${ip.id}/action/?do=extend`, { period: 'soon' }),
      400,
      'validation',
      'period',
    );
  });

  it('auto_renew sets or toggles the flag of the whole chain', async () => {
    const off = await alice.post(`/subscriptions/${ip.id}/action/?do=auto_renew`, {
      auto_renew: false,
    });
    expect(off.status, off.text).toBe(200);
    expect(off.json.auto_renew).toBe(false);
    const all = await getObject(alice, '/subscriptions/?resource=ip');
    expect(all.objects.map((s: Obj) => s.auto_renew)).toEqual([false, false, false, false]);
    const toggled = await alice.post(`/subscriptions/${ip.id}/action/?do=auto_renew`);
    expect(toggled.json.auto_renew).toBe(true);
    expectError(
      await alice.post(`/subscriptions/${ip.id}/action/?do=auto_renew`, { auto_renew: 'yes' }),
      400,
      'validation',
      'auto_renew',
    );
    expectError(
      await alice.post(`/subscriptions/${ip.id}/action/?do=cancel`),
      400,
      'validation',
      'do',
    );
  });

  it('lists newest first with the total price; filters by status, resource and object', async () => {
    await buy(alice, { resource: 'cpu', amount: 1000 });
    const list = await getObject(alice, '/subscriptions/');
    const ids = list.objects.map((s: Obj) => Number(s.id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const sum = list.objects.reduce((total: number, s: Obj) => total + Number(s.price), 0);
    expect(Number(list.price)).toBeCloseTo(sum, 10);
    expect(list.meta).toEqual({ limit: 20, offset: 0, total_count: 5 });
    const status = async (value: string) =>
      (await getObject(alice, `/subscriptions/?status=${value}`)).objects.map((s: Obj) => s.status);
    expect(await status('active')).toEqual(['active', 'active']);
    expect(await status('inactive')).toEqual(['inactive', 'inactive', 'inactive']);
    expect(await status('notexpired')).toHaveLength(5);
    expect(await status('expired')).toEqual([]);
    expectError(await alice.get('/subscriptions/?status=soon'), 400, 'validation', 'status');
    expect((await getObject(alice, '/subscriptions/?resource=cpu,vlan')).meta.total_count).toBe(1);
    const byObject = await getObject(
      alice,
      `/subscriptions/?subscribed_object=${ip.subscribed_object}`,
    );
    expect(byObject.meta.total_count).toBe(4);
    expect((await getObject(alice, '/subscriptions/?limit=2&offset=1')).objects).toHaveLength(2);
  });

  it("keeps accounts apart: another account's subscription answers 404", async () => {
    expectError(await t.bob.get(`/subscriptions/${ip.id}/`), 404, 'notexist', null);
    expectError(
      await t.bob.post(`/subscriptions/${ip.id}/action/?do=extend`, {}),
      404,
      'notexist',
      null,
    );
    expectError(
      await t.bob.post(`/subscriptioncalculator/${ip.id}/action/?do=extend`, {}),
      404,
      'notexist',
      null,
    );
    expect((await getObject(t.bob, '/subscriptions/')).objects).toEqual([]);
    expectError(await alice.get('/subscriptions/999999/'), 404, 'notexist', null);
  });

  it('answers the schema as recorded', async () => {
    const schema = await getObject(alice, '/subscriptions/schema/');
    expect(schema.fields.amount).toMatchObject({ type: 'string', default: 1, nullable: false });
    expect(schema.filtering).toEqual({ subscribed_object: ['exact'] });
  });
});

describe('the end of a chain', () => {
  it('without auto_renew the IP and VLAN go; NICs fall back to DHCP and to no VLAN', async () => {
    // One address and one tag: what the expiry frees is what the next purchase gets.
    const t = await appAt(NOON, { ipPool: '198.51.100.7-198.51.100.7/24', vlanTags: '9-9' });
    try {
      const alice = t.alice;
      const [ip, vlan] = (
        await Promise.all([
          buy(alice, { resource: 'ip', period: '30 days', auto_renew: false }),
          buy(alice, { resource: 'vlan', period: '30 days', auto_renew: false }),
        ])
      ).map((b) => b.objects[0]) as [Obj, Obj];
      const server = await createServer(alice, {
        nics: [
          { ip_v4_conf: { conf: 'static', ip: ip.subscribed_object } },
          { vlan: vlan.subscribed_object },
        ],
      });
      await travel(t, 29 * DAY);
      expect((await getObject(alice, '/ips/')).meta.total_count).toBe(1);
      await travel(t, 2 * DAY);
      expectError(await alice.get(`/ips/${ip.subscribed_object}/`), 404, 'notexist', null);
      expectError(await alice.get(`/vlans/${vlan.subscribed_object}/`), 404, 'notexist', null);
      const after = await getObject(alice, `/servers/${server.uuid}/`);
      expect(after.nics.map((n: Obj) => [n.ip_v4_conf, n.vlan])).toEqual([
        [{ conf: 'dhcp', ip: null }, null],
        [null, null],
      ]);
      expect((await getObject(alice, `/subscriptions/${ip.id}/`)).status).toBe('expired');
      expect((await getObject(alice, '/currentusage/')).usage.ip).toEqual({
        burst: 0,
        subscribed: 0,
        using: 0,
      });
      // The address and the VLAN tag are free for the next purchases.
      const next = await buy(t.bob, { resource: 'ip' });
      expect(next.objects[0].subscribed_object).toBe(ip.subscribed_object);
      await buy(t.bob, { resource: 'vlan' });
    } finally {
      await t.close();
    }
  });

  it('with auto_renew a new subscription follows, charged, and the IP stays', async () => {
    const t = await appAt(NOON);
    try {
      const alice = t.alice;
      const ip = (await buy(alice, { resource: 'ip', period: '30 days' })).objects[0];
      await travel(t, 31 * DAY);
      const root = await getObject(alice, `/subscriptions/${ip.id}/`);
      expect(root.descendants).toHaveLength(1);
      const renewal = await getObject(alice, `/subscriptions/${root.descendants[0].id}/`);
      expect(renewal).toMatchObject({
        start_time: '2030-01-31T12:00:00+00:00',
        end_time: '2030-03-02T12:00:00+00:00',
        status: 'active',
      });
      expect((await getObject(alice, `/ips/${ip.subscribed_object}/`)).subscription).toEqual({
        id: Number(ip.id),
        resource_uri: `/api/2.0/subscriptions/${ip.id}/`,
      });
      expect(await balance(alice)).toBe('9992.00000000000000000000');
    } finally {
      await t.close();
    }
  });
});

describe('balance enforcement (--enforce-billing)', () => {
  it('is off by default: the balance may go below zero', async () => {
    const t = await appAt(NOON, { balance: '1.00' });
    try {
      await buy(t.alice, { resource: 'ip', period: '30 days' });
      expect(await balance(t.alice)).toBe('-3.00000000000000000000');
    } finally {
      await t.close();
    }
  });

  it('refuses with 402 what the balance cannot pay: purchases, extensions, starts', async () => {
    const t = await appAt(NOON, { balance: '14.00', enforceBilling: true });
    try {
      const alice = t.alice;
      // 1 GHz and 512 MiB for 30 days: 5.50 + 3.50.
      await buy(alice, { resource: 'cpu', amount: 1000, period: '30 days' });
      await buy(alice, { resource: 'mem', amount: 536870912, period: '30 days' });
      const ip = (await buy(alice, { resource: 'ip', period: '30 days' })).objects[0];
      expect(await balance(alice)).toBe('1.00000000000000000000');
      const refused = expectError(
        await alice.post('/subscriptions/', { objects: [{ resource: 'ip', period: '30 days' }] }),
        402,
        'billing',
        null,
      );
      expect(refused.error_message).toMatch(/Not enough funds/);
      expect((await getObject(alice, '/ips/')).meta.total_count).toBe(1);
      expectError(
        await alice.post(`/subscriptions/${ip.id}/action/?do=extend`, {}),
        402,
        'billing',
        null,
      );
      // The subscriptions cover one such server; a second needs 5 days of burst (1.50).
      const one = await createServer(alice);
      const two = await createServer(alice);
      await act(alice, one.uuid, 'start');
      expectError(
        await alice.post(`/servers/${two.uuid}/action/?do=start`, {}),
        402,
        'billing',
        null,
      );
      expect((await getObject(alice, `/servers/${two.uuid}/`)).status).toBe('stopped');
      expect(await balance(alice)).toBe('1.00000000000000000000');
      // A chain that cannot pay for its renewal expires.
      await travel(t, 31 * DAY);
      expectError(await alice.get(`/ips/${ip.subscribed_object}/`), 404, 'notexist', null);
      expect((await getObject(alice, `/subscriptions/${ip.id}/`)).descendants).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('lets a start through when the balance covers the burst', async () => {
    const t = await appAt(NOON, { balance: '2.00', enforceBilling: true });
    try {
      const server = await createServer(t.alice, serverBody());
      await act(t.alice, server.uuid, 'start');
      expect((await getObject(t.alice, `/servers/${server.uuid}/`)).runtime).not.toBeNull();
      expect(await balance(t.alice)).toBe('2.00');
    } finally {
      await t.close();
    }
  });
});
