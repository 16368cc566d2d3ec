/**
 * The networking resources (api-reference.md §4.2-§4.4): IPs, VLANs and firewall policies, their
 * declarations (which drive input and `/schema/`), stored documents and renderings.
 */
import type { FieldDef, OutputDef, ResourceDef } from '../../model/fields.js';
import { link, resourceUri } from '../../model/refs.js';
import { type DocKind, fields, userLink } from '../common.js';

/** `{"id": 7273, "resource_uri": "/api/2.0/subscriptions/7273/"}`: subscriptions link by id. */
export function subscriptionLink(id: string): { id: number; resource_uri: string } {
  return { id: Number(id), resource_uri: resourceUri('subscriptions', id) };
}

const TAG_FILTERING = { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' };

/** A subscription reference as rendered (`subscriptionLink`): null for what none bought. */
const SUBSCRIPTION_OUTPUT: OutputDef = {
  nullable: true,
  fields: {
    id: { type: 'integer', help: 'Id of the subscription' },
    resource_uri: { type: 'string', help: 'URI of the subscription' },
  },
};

// --- IPs -----------------------------------------------------------------------------------

export interface IpDoc {
  /** The address. */
  uuid: string;
  owner: string;
  /** The subscription that bought it; null for a dynamic address of a running server. */
  subscription: string | null;
  /** The server whose NIC uses it (a static configuration, or the DHCP lease of a dynamic one). */
  server: string | null;
  gateway: string;
  netmask: number;
  nameservers: string[];
  meta: Record<string, string>;
  tags: string[];
}

export const IPS: ResourceDef = {
  kind: 'ips',
  allowedListMethods: 'get',
  allowedDetailMethods: ['get', 'put'],
  listFields: ['owner', 'resource_uri', 'server', 'uuid'],
  filtering: TAG_FILTERING,
  fields: {
    gateway: {
      type: 'string',
      help: 'Gateway IP',
      default: null,
      readonly: true,
      required: true,
    },
    grantees: fields.grantees(),
    meta: fields.meta('User defined meta information'),
    nameservers: { type: 'list', help: 'Nameserver IPs', default: null, readonly: true },
    netmask: { type: 'integer', help: 'IP netmask', default: null, readonly: true, required: true },
    owner: fields.owner('IP owner', false),
    permissions: fields.permissions(),
    resource_uri: fields.resourceUri(),
    server: {
      type: 'related',
      help: 'Reference to server using that IP',
      readonly: true,
      output: { nullable: true },
    },
    subscription: {
      type: 'related',
      help: 'Subscription, related to this IP',
      default: null,
      readonly: true,
      output: SUBSCRIPTION_OUTPUT,
    },
    tags: fields.tags(),
    uuid: fields.uuid('IP UUID, in this case, the actual IP'),
  },
};

export const ipKind: DocKind<IpDoc> = {
  def: IPS,
  uuid: (d) => d.uuid,
  owner: (d) => d.owner,
  // The name filter looks at the name a client gave in meta (CloudSigma's UI names IPs there).
  name: (d) => d.meta.name ?? '',
  // Internal: `/currentusage/` counts the subscribed ones.
  status: (d) => (d.subscription === null ? 'dynamic' : 'subscribed'),
  render: (d) => ({
    gateway: d.gateway,
    grantees: [],
    meta: d.meta,
    nameservers: d.nameservers,
    netmask: d.netmask,
    owner: userLink(d.owner),
    permissions: [],
    resource_uri: resourceUri('ips', d.uuid),
    server: d.server === null ? null : link('servers', d.server),
    subscription: d.subscription === null ? null : subscriptionLink(d.subscription),
    tags: d.tags.map((uuid) => link('tags', uuid)),
    uuid: d.uuid,
  }),
};

// --- VLANs ---------------------------------------------------------------------------------

export interface VlanDoc {
  uuid: string;
  owner: string;
  subscription: string | null;
  /** Servers with a NIC on the VLAN, in the order they joined. */
  servers: string[];
  /** The 802.1Q tag it holds (`--vlan-tags`); for drivers, not shown (CloudSigma shows null). */
  tag: number;
  meta: Record<string, string>;
  tags: string[];
}

export const VLANS: ResourceDef = {
  kind: 'vlans',
  allowedListMethods: 'get',
  allowedDetailMethods: ['get', 'put'],
  listFields: ['owner', 'resource_uri', 'uuid'],
  filtering: TAG_FILTERING,
  fields: {
    // Not shown (CloudSigma shows null too).
    bottom_vlan_tag: {
      type: 'integer',
      help: 'Integer data. Ex: 2673',
      default: null,
      readonly: true,
      output: { nullable: true },
    },
    grantees: fields.grantees(),
    meta: fields.meta('User defined meta information'),
    owner: fields.owner('VLAN owner', false),
    permissions: fields.permissions(),
    resource_uri: fields.resourceUri(),
    servers: {
      type: 'related',
      help: 'Servers in this VLAN',
      default: [],
      readonly: true,
      shape: 'many',
    },
    subscription: {
      type: 'related',
      help: 'Subscription related to this VLAN',
      default: null,
      readonly: true,
      output: SUBSCRIPTION_OUTPUT,
    },
    tags: fields.tags(),
    uuid: fields.uuid('VLAN UUID'),
  },
};

export const vlanKind: DocKind<VlanDoc> = {
  def: VLANS,
  uuid: (d) => d.uuid,
  owner: (d) => d.owner,
  name: (d) => d.meta.name ?? '',
  status: () => 'subscribed',
  render: (d) => ({
    bottom_vlan_tag: null,
    grantees: [],
    meta: d.meta,
    owner: userLink(d.owner),
    permissions: [],
    resource_uri: resourceUri('vlans', d.uuid),
    servers: d.servers.map((uuid) => link('servers', uuid)),
    subscription: d.subscription === null ? null : subscriptionLink(d.subscription),
    tags: d.tags.map((uuid) => link('tags', uuid)),
    uuid: d.uuid,
  }),
};

// --- Firewall policies ---------------------------------------------------------------------

export const RULE_ACTIONS = ['drop', 'accept'] as const;
export const RULE_DIRECTIONS = ['in', 'out', 'both'] as const;
export const RULE_PROTOCOLS = ['tcp', 'udp'] as const;

export interface FirewallRule {
  action: (typeof RULE_ACTIONS)[number];
  direction: (typeof RULE_DIRECTIONS)[number];
  ip_proto: (typeof RULE_PROTOCOLS)[number] | null;
  src_ip: string | null;
  src_port: string | null;
  dst_ip: string | null;
  dst_port: string | null;
  comment: string | null;
}

export interface PolicyDoc {
  uuid: string;
  owner: string;
  name: string | null;
  meta: Record<string, string>;
  rules: FirewallRule[];
  /** Servers with a NIC under the policy, in the order they took it. */
  servers: string[];
  tags: string[];
}

export const POLICY_NAME_MAX = 255;
export const RULE_COMMENT_MAX = 255;

const ruleText = (help: string, extra: Partial<FieldDef> = {}): FieldDef => ({
  type: 'string',
  help,
  default: null,
  nullable: true,
  ...extra,
});

export const FWPOLICIES: ResourceDef = {
  kind: 'fwpolicies',
  allowedListMethods: ['get', 'put', 'delete', 'post'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  listFields: ['meta', 'name', 'owner', 'resource_uri', 'uuid'],
  filtering: TAG_FILTERING,
  fields: {
    grantees: fields.grantees(),
    meta: fields.meta('User assigned meta information for this policy'),
    name: {
      type: 'string',
      help: 'Human readable name of the firewall policy',
      default: null,
      nullable: true,
      maxLength: POLICY_NAME_MAX,
    },
    owner: fields.owner('Owner of the policy', false),
    permissions: fields.permissions(),
    resource_uri: fields.resourceUri(),
    rules: {
      type: 'related',
      help: 'List of rules to be applied for this policy',
      default: [],
      shape: 'many',
      fields: {
        action: {
          type: 'string',
          help: 'Action to be taken',
          default: null,
          required: true,
          choices: RULE_ACTIONS,
        },
        comment: ruleText('Optional rule comment', { maxLength: RULE_COMMENT_MAX }),
        direction: {
          type: 'string',
          help: 'Packet direction',
          default: null,
          required: true,
          choices: RULE_DIRECTIONS,
        },
        dst_ip: ruleText('Destination IP address'),
        dst_port: ruleText('Destination port'),
        ip_proto: ruleText('IP protocol', { choices: RULE_PROTOCOLS }),
        src_ip: ruleText('Source IP address'),
        src_port: ruleText('Source port'),
      },
    },
    servers: {
      type: 'related',
      help: 'Servers which have nics with this policy applied',
      default: [],
      readonly: true,
      shape: 'many',
    },
    tags: fields.tags(),
    uuid: fields.uuid('UUID of the policy'),
  },
};

export const policyKind: DocKind<PolicyDoc> = {
  def: FWPOLICIES,
  uuid: (d) => d.uuid,
  owner: (d) => d.owner,
  name: (d) => d.name ?? '',
  status: () => null,
  render: (d) => ({
    grantees: [],
    meta: d.meta,
    name: d.name,
    owner: userLink(d.owner),
    permissions: [],
    resource_uri: resourceUri('fwpolicies', d.uuid),
    rules: d.rules,
    servers: d.servers.map((uuid) => link('servers', uuid)),
    tags: d.tags.map((uuid) => link('tags', uuid)),
    uuid: d.uuid,
  }),
};
