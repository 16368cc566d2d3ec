/**
 * Every endpoint and action of the CloudSigma REST API 2.0 that we know of (the Servers page and
 * `api-reference.md`), written down once. The support matrix (`docs/support.md`) compares it with
 * the route table, so what sigmalite serves is never described by hand; the HTTP layer uses it to
 * tell "a CloudSigma endpoint sigmalite does not implement" from "no such path".
 */
import type { Method } from '../http/api.js';

export interface CloudSigmaEndpoint {
  /** Below `/api/2.0`, with `{id}` for a path parameter. */
  path: string;
  methods: readonly Method[];
  /** For `.../action/` endpoints: the `do=` values CloudSigma accepts. */
  actions?: readonly string[];
  /** The area of the API, for grouping in the docs. */
  area: string;
}

const SCHEMA: readonly Method[] = ['GET'];
const READ: readonly Method[] = ['GET'];
const CRUD_LIST: readonly Method[] = ['GET', 'POST', 'DELETE'];
const CRUD_ONE: readonly Method[] = ['GET', 'PUT', 'DELETE'];

/** A listable resource: list, detail list, one object and its schema. */
function resource(
  area: string,
  name: string,
  list: readonly Method[],
  one: readonly Method[],
  detail: readonly Method[] = ['GET'],
): CloudSigmaEndpoint[] {
  return [
    { area, path: `/${name}/`, methods: list },
    { area, path: `/${name}/detail/`, methods: detail },
    { area, path: `/${name}/{id}/`, methods: one },
    { area, path: `/${name}/schema/`, methods: SCHEMA },
  ];
}

function action(area: string, path: string, actions: readonly string[]): CloudSigmaEndpoint {
  return { area, path, methods: ['POST'], actions };
}

export const CLOUDSIGMA_ENDPOINTS: readonly CloudSigmaEndpoint[] = [
  ...resource('Servers', 'servers', CRUD_LIST, CRUD_ONE),
  action('Servers', '/servers/{id}/action/', [
    'start',
    'stop',
    'shutdown',
    'restart',
    'open_vnc',
    'close_vnc',
    'open_console',
    'close_console',
    'clone',
  ]),
  { area: 'Servers', path: '/servers/{id}/runtime/', methods: READ },
  { area: 'Servers', path: '/servers/availability_groups/', methods: READ },
  { area: 'Servers', path: '/servers/availability_groups/{id}/', methods: READ },

  ...resource('Drives', 'drives', CRUD_LIST, CRUD_ONE),
  action('Drives', '/drives/{id}/action/', ['clone', 'resize', 'set_scheduler', 'upload_chunk']),
  { area: 'Drives', path: '/drives/availability_groups/', methods: READ },
  { area: 'Drives', path: '/drives/availability_groups/{id}/', methods: READ },
  { area: 'Drives', path: '/drives/upload/', methods: ['POST'] },
  { area: 'Drives', path: '/drives/{id}/download/', methods: READ },
  { area: 'Drives', path: '/initupload/', methods: ['POST'] },
  { area: 'Drives', path: '/driveusers/', methods: READ },
  ...resource('Drives', 'snapshots', CRUD_LIST, CRUD_ONE),
  action('Drives', '/snapshots/{id}/action/', ['clone']),
  ...resource('Drives', 'libdrives', READ, READ),
  action('Drives', '/libdrives/{id}/action/', ['clone']),
  ...resource('Drives', 'remotesnapshots', CRUD_LIST, CRUD_ONE),
  ...resource('Drives', 'backupschedulers', CRUD_LIST, CRUD_ONE),

  ...resource('Networking', 'ips', READ, ['GET', 'PUT']),
  ...resource('Networking', 'vlans', READ, ['GET', 'PUT']),
  ...resource('Networking', 'fwpolicies', CRUD_LIST, CRUD_ONE),
  ...[
    'virtualrouters',
    'lans',
    'upstream',
    'ipaliases',
    'portforwards',
    'addressforwards',
    'routes',
    'tunnels',
    'vrfwpolicies',
    'vrfwfilters',
    'vpc',
    'nodes',
    'hostallocationpools',
    'hostavailabilityzones',
  ].flatMap((name) => resource('Networking (VPC, routers)', name, CRUD_LIST, CRUD_ONE)),

  // The tags schema allows no bulk PUT or DELETE on the list.
  ...resource('Account', 'tags', ['GET', 'POST'], CRUD_ONE),
  ...['servers', 'drives', 'ips', 'vlans', 'snapshots'].flatMap((kind): CloudSigmaEndpoint[] => [
    { area: 'Account', path: `/tags/{id}/${kind}/`, methods: READ },
    { area: 'Account', path: `/tags/{id}/${kind}/detail/`, methods: READ },
  ]),
  ...resource('Account', 'acls', CRUD_LIST, CRUD_ONE),
  ...resource('Account', 'keypairs', CRUD_LIST, CRUD_ONE),
  ...resource('Account', 'pubkeys', READ, READ),
  ...resource('Account', 'jobs', READ, READ),
  { area: 'Account', path: '/capabilities/', methods: READ },
  { area: 'Account', path: '/capabilities/schema/', methods: SCHEMA },
  { area: 'Account', path: '/profile/', methods: ['GET', 'PUT'] },
  { area: 'Account', path: '/profile/schema/', methods: SCHEMA },
  { area: 'Account', path: '/global_context/', methods: ['GET', 'POST'] },
  { area: 'Account', path: '/locations/', methods: READ },
  action('Account', '/accounts/action/', [
    'login',
    'logout',
    'check_login',
    'create',
    'authenticate_asynchronous',
  ]),
  { area: 'Account', path: '/logs/', methods: READ },
  { area: 'Account', path: '/logs/schema/', methods: SCHEMA },
  { area: 'Account', path: '/notification_contacts/', methods: CRUD_LIST },
  { area: 'Account', path: '/notification_contacts/{id}/', methods: CRUD_ONE },
  { area: 'Account', path: '/notification_preferences/', methods: ['GET', 'PUT'] },
  { area: 'Account', path: '/cloud_status/', methods: READ },
  ...resource('Account', 'vmware_servers', CRUD_LIST, CRUD_ONE),
  ...resource('Account', 'bservers', CRUD_LIST, CRUD_ONE),

  { area: 'Billing', path: '/balance/', methods: READ },
  { area: 'Billing', path: '/balance/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/currentusage/', methods: READ },
  { area: 'Billing', path: '/currentusage/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/subscriptions/', methods: ['GET', 'POST'] },
  { area: 'Billing', path: '/subscriptions/detail/', methods: READ },
  { area: 'Billing', path: '/subscriptions/{id}/', methods: READ },
  { area: 'Billing', path: '/subscriptions/schema/', methods: SCHEMA },
  action('Billing', '/subscriptions/{id}/action/', ['extend', 'auto_renew']),
  { area: 'Billing', path: '/groupedsubscriptions/', methods: READ },
  { area: 'Billing', path: '/subscriptioncalculator/', methods: ['POST'] },
  action('Billing', '/subscriptioncalculator/{id}/action/', ['extend']),
  { area: 'Billing', path: '/pricing/', methods: READ },
  { area: 'Billing', path: '/pricing/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/discount/', methods: READ },
  { area: 'Billing', path: '/discount/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/ledger/', methods: READ },
  { area: 'Billing', path: '/ledger/{id}/', methods: READ },
  { area: 'Billing', path: '/ledger/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/licenses/', methods: READ },
  { area: 'Billing', path: '/licenses/{id}/', methods: READ },
  { area: 'Billing', path: '/licenses/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/burstusage/', methods: READ },
  { area: 'Billing', path: '/burstusage/schema/', methods: SCHEMA },
  { area: 'Billing', path: '/dailyburstusage/', methods: READ },
  { area: 'Billing', path: '/usage/', methods: READ },
];

/** `/servers/:uuid/` and `/servers/{id}/` both become `/servers/{}/`. */
export function pathShape(path: string): string {
  return path.replace(/\/(?::[^/]+|\{[^/}]+\})(?=\/)/g, '/{}');
}

// Fixed segments win over parameters: `/servers/detail/` is not `/servers/{id}/`.
const SHAPES = [...CLOUDSIGMA_ENDPOINTS]
  .sort((a, b) => paramCount(a.path) - paramCount(b.path))
  .map((e) => ({
    endpoint: e,
    pattern: new RegExp(
      `^${pathShape(e.path)
        .split('{}')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+')}?$`,
    ),
  }));

function paramCount(path: string): number {
  return pathShape(path).split('{}').length - 1;
}

/** The CloudSigma endpoint a concrete path (below `/api/2.0`) names, if any. */
export function cloudSigmaEndpointOf(path: string): CloudSigmaEndpoint | undefined {
  return SHAPES.find((s) => s.pattern.test(path))?.endpoint;
}
