/**
 * Conformance cases for networking and billing (api-reference.md §4, §5.4, §5.5): IPs, VLANs,
 * firewall policies, NICs on VLANs and static IPs, subscriptions and the billing collections.
 * IPs and VLANs come from subscriptions, so the setups buy them; the address pool is set per case
 * (`ipPool`) so that the address the dump shows is the one handed out.
 */
import { expect } from 'vitest';
import type { Client } from '../../support/app.js';
import type { Adjustment, Json } from '../fixtures.js';
import { compareBodies, formatMismatches, loadFixture } from '../fixtures.js';
import type { Case } from '../table.js';

// biome-ignore lint/suspicious/noExplicitAny: answers are read freely by the setups and checks.
type Answer = Record<string, any>;

// --- helpers (through the API only) ----------------------------------------------------------

async function call(
  client: Client,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  expected: number,
  body?: unknown,
): Promise<Answer> {
  const res = await client.request(method, path, { body });
  if (res.status !== expected)
    throw new Error(`setup ${method} ${path}: ${res.status} ${res.text}`);
  return res.json as Answer;
}

/** Buys one subscription (`ip`, `vlan`, ...) and returns it. */
async function subscribe(client: Client, resource: string, extra: Answer = {}): Promise<Answer> {
  const bought = await call(client, 'POST', '/subscriptions/', 201, {
    objects: [{ amount: 1, period: '1 month', resource, ...extra }],
  });
  return bought.objects[0];
}

async function newServer(client: Client, fields: Answer): Promise<Answer> {
  const body = { cpu: 1000, mem: 536870912, vnc_password: 'testserver', ...fields };
  return (await call(client, 'POST', '/servers/', 201, { objects: [body] })).objects[0];
}

async function newPolicy(client: Client, fields: Answer = {}): Promise<string> {
  return (await call(client, 'POST', '/fwpolicies/', 201, { objects: [fields] })).objects[0].uuid;
}

function bodyOf(name: string, side: 'request' | 'response' = 'request'): Answer {
  return loadFixture(name)[side].body as Answer;
}

/** Compares our objects by shape with the first object of a dump (lists whose values are ours). */
function expectShapeOf(fixture: Json, ours: unknown): void {
  const one = { objects: [fixture] };
  expect(formatMismatches(compareBodies(one, { objects: ours }))).toEqual([]);
}

// --- shared reasons --------------------------------------------------------------------------

const SUBSCRIPTION_ID =
  "subscription ids are this cloud's own counter (integer-like, from 1); the dump's account had bought thousands";
const GRANTEES_READONLY: Adjustment[] = ['grantees', 'permissions'].map((field) => ({
  type: 'expect',
  path: `fields.${field}.readonly`,
  value: true,
  reason: `we treat ${field} as read-only (api-reference.md §1.14); the dump's schema says writable: an open question`,
}));
const POLICY_ACLS =
  'grantees and permissions on every resource (§5.10); the legacy policy dumps predate them';
const POLICY_ACL_KEYS = (prefix: string): Adjustment[] =>
  ['grantees', 'permissions'].map((field) => ({
    type: 'extra',
    path: `${prefix}${field}`,
    reason: POLICY_ACLS,
  }));
const PRICE = "prices are our catalogue's (EUR, /pricing/), not the recording cloud's";
const FREE_SUBSCRIPTIONS =
  "ours get /discount/'s 1-year discount; the dump's subscriptions were free (price 0E-20), no discount recorded (null)";
const PERIOD_NOW =
  'the period is end_time - start_time of a purchase made now (Python timedelta text); the dump was bought at another hour';
const NEWER_SUBSCRIPTION_KEYS = (prefix: string): Adjustment[] =>
  ['discounts', 'free_tier', 'was_billed'].map((field) => ({
    type: 'extra',
    path: `${prefix}${field}`,
    reason:
      'newer subscription field (response_subscription_list and the schema have it); this older dump lacks it',
  }));

/** The IP of ip_get/ip_update (gateway 185.12.6.1, a /24), and the dump's nameservers. */
const IP_CONFIG = {
  ipPool: '185.12.6.183-185.12.6.183/24',
  nameservers: '69.194.139.62,178.22.66.167,178.22.71.56',
};
/** The static IP of the NIC dumps. */
const NIC_IP_CONFIG = { ipPool: '94.26.101.182-94.26.101.190/24' };

const IP_SUBSCRIPTION: Adjustment[] = [
  { type: 'ignore', path: 'subscription.id', reason: SUBSCRIPTION_ID },
  { type: 'ignore', path: 'subscription.resource_uri', reason: SUBSCRIPTION_ID },
];
const EACH_SUBSCRIPTION = (prefix: string): Adjustment[] => [
  { type: 'ignore', path: `${prefix}subscription.id`, reason: SUBSCRIPTION_ID },
  { type: 'ignore', path: `${prefix}subscription.resource_uri`, reason: SUBSCRIPTION_ID },
];

/**
 * The VLAN dumps name one VLAN in the request and another in the response (recorded in separate
 * runs, api-reference.md §7): both stand for ours.
 */
function sameVlan(ours: string): Record<string, string> {
  return { '96537817-f4b6-496b-a861-e74192d3ccb0': ours, [NIC_VLAN]: ours };
}

/** The server of the NIC dumps (server_add_*_nic, server_change_nic_to_static...). */
const NIC_SERVER = '3b3616df-16dc-4a49-bfca-5c2192e1f089';
const NIC_VLAN = '10619300-edda-42ba-91e0-7e3df0689d00';
const STATIC_MAC = '22:cd:d0:81:97:c8';
const VLAN_MAC = '22:25:57:2a:dc:cc';

/**
 * The account of the NIC dumps after server_add_private_nic's successors: an IP and a VLAN
 * bought, the server with a DHCP NIC (e1000) and a NIC on the VLAN (`staticIp`: the first NIC
 * already static on the IP).
 */
async function nicAccount(alice: Client, staticIp: boolean): Promise<Record<string, string>> {
  const ip = (await subscribe(alice, 'ip')).subscribed_object as string;
  const vlan = (await subscribe(alice, 'vlan')).subscribed_object as string;
  const server = await newServer(alice, {
    name: 'testServerAcc',
    nics: [
      {
        model: 'e1000',
        ip_v4_conf: staticIp ? { conf: 'static', ip } : { conf: 'dhcp' },
      },
      { vlan },
    ],
  });
  return {
    [NIC_SERVER]: server.uuid,
    [NIC_VLAN]: vlan,
    [STATIC_MAC]: server.nics[0].mac,
    [VLAN_MAC]: server.nics[1].mac,
  };
}

export const cases: Case[] = [
  // --- IPs ---------------------------------------------------------------------------------
  {
    name: 'ip_get',
    config: IP_CONFIG,
    setup: async ({ alice }) => {
      await subscribe(alice, 'ip');
      return undefined;
    },
    adjust: IP_SUBSCRIPTION,
  },
  {
    name: 'ip_list',
    config: IP_CONFIG,
    setup: async ({ alice }) => {
      await subscribe(alice, 'ip');
      return undefined;
    },
  },
  {
    name: 'ip_list_detail',
    config: IP_CONFIG,
    setup: async ({ alice }) => {
      await subscribe(alice, 'ip');
      return undefined;
    },
    adjust: EACH_SUBSCRIPTION('objects.0.'),
  },
  {
    name: 'ip_update',
    config: IP_CONFIG,
    setup: async ({ alice }) => {
      await subscribe(alice, 'ip');
      return undefined;
    },
    adjust: IP_SUBSCRIPTION,
    check: async ({ alice }) => {
      const ip = await call(alice, 'GET', '/ips/185.12.6.183/', 200);
      expect(ip.meta).toEqual({ custom_field: 'some custom data', name: 'my ip' });
    },
  },
  { name: 'ip_schema', adjust: GRANTEES_READONLY },

  // --- VLANs -------------------------------------------------------------------------------
  {
    name: 'vlan_get',
    setup: async ({ alice }) => sameVlan((await subscribe(alice, 'vlan')).subscribed_object),
    adjust: IP_SUBSCRIPTION,
  },
  {
    name: 'vlan_list',
    setup: async ({ alice }) => {
      await subscribe(alice, 'vlan');
      return undefined;
    },
  },
  {
    name: 'vlan_list_detail',
    setup: async ({ alice }) => {
      await subscribe(alice, 'vlan');
      return undefined;
    },
    adjust: EACH_SUBSCRIPTION('objects.0.'),
  },
  {
    name: 'vlan_update',
    setup: async ({ alice }) => sameVlan((await subscribe(alice, 'vlan')).subscribed_object),
    adjust: IP_SUBSCRIPTION,
    check: async ({ alice, res }) => {
      const vlan = await call(alice, 'GET', `/vlans/${res.json.uuid}/`, 200);
      expect(vlan.meta).toEqual({ custom_field: 'some custom data', name: 'my vlan' });
    },
  },
  { name: 'vlan_schema', adjust: GRANTEES_READONLY },

  // --- NICs on VLANs and static IPs --------------------------------------------------------
  {
    name: 'server_add_private_nic',
    resource: 'servers',
    // A server without NICs gets one on the account's VLAN.
    setup: async ({ alice }) => ({
      [NIC_VLAN]: (await subscribe(alice, 'vlan')).subscribed_object,
      [NIC_SERVER]: (await newServer(alice, { name: 'testServerAcc' })).uuid,
    }),
    check: async ({ alice, ids }) => {
      const vlan = await call(alice, 'GET', `/vlans/${ids.get(NIC_VLAN)}/`, 200);
      expect(vlan.servers.map((s: Answer) => s.uuid)).toEqual([ids.get(NIC_SERVER)]);
    },
  },
  {
    name: 'server_get_two_nics',
    resource: 'servers',
    config: NIC_IP_CONFIG,
    setup: async ({ alice }) => nicAccount(alice, false),
  },
  {
    name: 'server_change_nic_to_static',
    resource: 'servers',
    config: NIC_IP_CONFIG,
    setup: async ({ alice }) => nicAccount(alice, false),
    check: async ({ alice, ids }) => {
      const ip = await call(alice, 'GET', '/ips/94.26.101.182/', 200);
      expect(ip.server?.uuid).toBe(ids.get(NIC_SERVER));
    },
  },
  {
    name: 'server_rearrange_nics',
    resource: 'servers',
    config: NIC_IP_CONFIG,
    setup: async ({ alice }) => nicAccount(alice, true),
    check: async ({ alice, ids }) => {
      // Reordering keeps every reference: the IP and the VLAN still name the server.
      const ip = await call(alice, 'GET', '/ips/94.26.101.182/', 200);
      expect(ip.server?.uuid).toBe(ids.get(NIC_SERVER));
      const vlan = await call(alice, 'GET', `/vlans/${ids.get(NIC_VLAN)}/`, 200);
      expect(vlan.servers.map((s: Answer) => s.uuid)).toEqual([ids.get(NIC_SERVER)]);
    },
  },

  // --- firewall policies -------------------------------------------------------------------
  {
    name: 'fwpolicy_create_minimal',
    adjust: POLICY_ACL_KEYS('objects.0.'),
  },
  {
    name: 'fwpolicy_create_full',
    adjust: POLICY_ACL_KEYS('objects.0.'),
  },
  {
    name: 'fwpolicy_list',
    // The dump lists the minimal policy, then the full one; ours lists in creation order.
    setup: async ({ alice }) => ({
      '1973b795-343c-421b-bd97-fa7471fc6491': await newPolicy(alice),
      'ffc71b41-4ce8-4eda-98f8-24c1bd808928': await newPolicy(
        alice,
        bodyOf('fwpolicy_create_full').objects[0],
      ),
    }),
  },
  {
    name: 'fwpolicy_list_detail',
    setup: async ({ alice }) => ({
      '1973b795-343c-421b-bd97-fa7471fc6491': await newPolicy(alice),
      'ffc71b41-4ce8-4eda-98f8-24c1bd808928': await newPolicy(
        alice,
        bodyOf('fwpolicy_create_full').objects[0],
      ),
    }),
    adjust: [...POLICY_ACL_KEYS('objects.*.')],
  },
  {
    name: 'fwpolicy_get',
    setup: async ({ alice }) => ({
      'ffc71b41-4ce8-4eda-98f8-24c1bd808928': await newPolicy(
        alice,
        bodyOf('fwpolicy_create_full').objects[0],
      ),
    }),
    adjust: POLICY_ACL_KEYS(''),
  },
  {
    name: 'fwpolicy_update',
    // The full policy; the PUT keeps its first rule only.
    setup: async ({ alice }) => ({
      'ffc71b41-4ce8-4eda-98f8-24c1bd808928': await newPolicy(
        alice,
        bodyOf('fwpolicy_create_full').objects[0],
      ),
    }),
    adjust: POLICY_ACL_KEYS(''),
  },
  {
    name: 'fwpolicy_delete',
    setup: async ({ alice }) => ({
      'ffc71b41-4ce8-4eda-98f8-24c1bd808928': await newPolicy(alice),
    }),
    check: async ({ alice, ids }) => {
      const uuid = ids.get('ffc71b41-4ce8-4eda-98f8-24c1bd808928');
      expect((await alice.get(`/fwpolicies/${uuid}/`)).status).toBe(404);
    },
  },
  {
    name: 'fwpolicy_server_attach',
    resource: 'servers',
    setup: async ({ alice }) => ({
      'abb98bcb-2d3c-4758-b59c-3094b54b5c9e': await newPolicy(alice),
    }),
    adjust: ['cpu_type', 'hypervisor', 'pubkeys'].map(
      (field): Adjustment => ({
        type: 'extra',
        path: `objects.0.${field}`,
        reason: 'this legacy dump predates the field; every other server dump has it',
      }),
    ),
    check: async ({ alice, ids, res }) => {
      const policy = await call(
        alice,
        'GET',
        `/fwpolicies/${ids.get('abb98bcb-2d3c-4758-b59c-3094b54b5c9e')}/`,
        200,
      );
      expect(policy.servers.map((s: Answer) => s.uuid)).toEqual([res.json.objects[0].uuid]);
    },
  },
  {
    name: 'fwpolicy_schema',
    adjust: [
      ...['grantees', 'permissions'].map(
        (field): Adjustment => ({
          type: 'expect',
          path: `fields.${field}`,
          value: {
            default: 'No default provided.',
            help_text: "A list of data. Ex: ['abc', 26.73, 8]",
            readonly: true,
            required: false,
            type: 'list',
          },
          reason: POLICY_ACLS,
        }),
      ),
    ],
  },

  // --- subscriptions -----------------------------------------------------------------------
  {
    name: 'subscription_create.json',
    adjust: [
      { type: 'ignore', path: 'objects.0.id', reason: SUBSCRIPTION_ID },
      { type: 'ignore', path: 'objects.0.resource_uri', reason: SUBSCRIPTION_ID },
      { type: 'ignore', path: 'objects.0.period', reason: PERIOD_NOW },
      { type: 'ignore', path: 'objects.0.price', reason: PRICE },
      { type: 'ignore', path: 'price', reason: PRICE },
      {
        type: 'expect',
        path: 'objects.0.discount_amount',
        value: '0.00000000000000000000',
        reason: 'money is written with 20 decimal places (as /pricing/ and the ledger write it)',
      },
      ...NEWER_SUBSCRIPTION_KEYS('objects.0.'),
    ],
    check: async ({ alice, res }) => {
      // Bought now, until the noon after a month (subscriptions.rst rounding).
      const sub = res.json.objects[0];
      expect(sub.end_time).toMatch(/T12:00:00\+00:00$/);
      const ledger = await call(alice, 'GET', '/ledger/', 200);
      expect(ledger.objects[0]).toMatchObject({ amount: sub.price, resource_amount: '30000' });
    },
  },
  {
    name: 'subscription_list',
    // The dump's five, bought oldest first (ours lists newest first, as the dump does); its IP.
    config: { ipPool: '94.26.101.195-94.26.101.195/24' },
    setup: async ({ alice }) => {
      const ids: Record<string, string> = {};
      const listed = (bodyOf('subscription_list', 'response').objects as Answer[]).reverse();
      for (const sub of listed) {
        const bought = await subscribe(alice, sub.resource, {
          amount: Number(sub.amount),
          period: '1 year',
        });
        ids[sub.uuid] = bought.uuid;
        if (sub.resource === 'vlan') ids[sub.subscribed_object] = bought.subscribed_object;
      }
      return ids;
    },
    adjust: [
      ...[0, 1, 2, 3, 4].flatMap((i): Adjustment[] => [
        { type: 'ignore', path: `objects.${i}.id`, reason: SUBSCRIPTION_ID },
        { type: 'ignore', path: `objects.${i}.resource_uri`, reason: SUBSCRIPTION_ID },
        { type: 'ignore', path: `objects.${i}.period`, reason: PERIOD_NOW },
        { type: 'ignore', path: `objects.${i}.price`, reason: PRICE },
        ...['discount_amount', 'discount_percent', 'discounts'].map(
          (field): Adjustment => ({
            type: 'ignore',
            path: `objects.${i}.${field}`,
            reason: FREE_SUBSCRIPTIONS,
          }),
        ),
      ]),
      { type: 'ignore', path: 'price', reason: PRICE },
    ],
  },
  { name: 'subscription_schema' },
  {
    name: 'subscriptioncalculator',
    adjust: [
      { type: 'ignore', path: 'objects.0.period', reason: PERIOD_NOW },
      { type: 'ignore', path: 'objects.0.price', reason: PRICE },
      { type: 'ignore', path: 'objects.0.discount_amount', reason: PRICE },
      { type: 'ignore', path: 'price', reason: PRICE },
    ],
  },
  {
    name: 'subscriptioncalculator_extend',
    // A year of 30 GiB of dssd; extending it prices the next year (with the 1-year discount).
    setup: async ({ alice }) => ({
      '7272': (await subscribe(alice, 'dssd', { amount: 32212254720, period: '1 year' })).id,
    }),
    adjust: [
      { type: 'ignore', path: 'price', reason: PRICE },
      { type: 'ignore', path: 'discount_amount', reason: PRICE },
      { type: 'ignore', path: 'start_time', reason: PERIOD_NOW },
    ],
  },

  // --- the catalogue and the account ---------------------------------------------------------
  {
    name: 'pricing_list',
    adjust: [
      {
        type: 'expect',
        path: 'meta.limit',
        value: 5,
        reason: 'we echo the limit asked for (?limit=5); the dump shows pricing default_limit 0',
      },
      { type: 'ignore', path: 'meta.total_count', reason: PRICE },
      { type: 'ignore', path: 'current', reason: PRICE },
      { type: 'ignore', path: 'next', reason: PRICE },
      { type: 'ignore', path: 'objects', reason: PRICE },
    ],
    check: async ({ res, fixture }) => {
      expect(res.json.objects).toHaveLength(5);
      expectShapeOf((fixture.response.body as Answer).objects[0], res.json.objects);
      for (const levels of [res.json.current, res.json.next]) {
        for (const price of res.json.objects) expect(levels[price.resource]).toBe(price.level);
      }
    },
  },
  { name: 'pricing_schema' },
  { name: 'discount_list' },
  { name: 'discount_schema' },
  {
    name: 'ledger_list',
    // A purchase, so that the ledger has an entry (the dump's first rows are burst charges).
    setup: async ({ alice }) => {
      await subscribe(alice, 'ip');
      return undefined;
    },
    adjust: [
      { type: 'ignore', path: 'meta.total_count', reason: 'our ledger holds our purchases' },
      ...['billing_cycle', 'human_interval', 'interval'].map(
        (field): Adjustment => ({
          type: 'ignore',
          path: `objects.*.${field}`,
          reason:
            "a purchase has no billing cycle (null, as the dump's payment rows); the dump's first row is a burst charge",
        }),
      ),
    ],
  },
  { name: 'ledger_schema' },
  { name: 'licenses_list' },
  { name: 'licenses_schema' },
  {
    name: 'currentusage_list',
    config: { balance: '155367.99237092264288897986', ipPool: '94.26.101.195-94.26.101.195/24' },
    setup: async ({ alice }) => {
      // What the dump's account holds: subscriptions, an IP, a VLAN, a 28 GiB dssd drive.
      for (const [resource, amount] of [
        ['cpu', 10000],
        ['mem', 17179869184],
        ['dssd', 32212254720],
        ['ip', 1],
        ['vlan', 1],
      ] as const) {
        await subscribe(alice, resource, { amount, period: '1 year' });
      }
      await call(alice, 'POST', '/drives/', 201, {
        objects: [{ name: 'disk', size: 30064771072, media: 'disk' }],
      });
      return undefined;
    },
    adjust: [
      {
        type: 'ignore',
        path: 'balance.balance',
        reason: 'the purchases of the setup were charged',
      },
      ...['intel_cpu', 'intel_mem', 'nvme'].map(
        (key): Adjustment => ({
          type: 'extra',
          path: `usage.${key}`,
          reason:
            "always reported (pycloudsigma reads intel_cpu); the dump's location had no such hosts",
        }),
      ),
    ],
  },
  { name: 'currentusage_schema' },
];
