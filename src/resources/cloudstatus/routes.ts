/**
 * `GET /cloud_status/`: the location's feature flags, which CloudSigma's Go SDK (and so the
 * Terraform provider) reads with strict types: booleans for the flags, `sso` a list of strings,
 * `free_tier` `{dssd, mem}` and `free_tier_monthly` `{tx}` objects of integers, or null. The
 * values say what sigmalite offers: accounts are made by operators (no signup, guests or trials),
 * there is no VMware, VPC, remote snapshots, host availability zones, single sign-on or free tier.
 */
import type { RouteSpec } from '../../http/api.js';
import type { FieldDef, ResourceDef } from '../../model/fields.js';

const flag = (help: string): FieldDef => ({ type: 'boolean', help, readonly: true });

/** What `/cloud_status/` answers, for the OpenAPI document (no `/schema/` is served). */
export const CLOUD_STATUS: ResourceDef = {
  kind: 'cloud_status',
  allowedListMethods: ['get'],
  allowedDetailMethods: [],
  fields: {
    free_tier: {
      type: 'related',
      help: 'What each account may use free of charge (null: no free tier)',
      readonly: true,
      output: { nullable: true },
      fields: {
        dssd: { type: 'integer', help: 'Bytes of dssd storage' },
        mem: { type: 'integer', help: 'Bytes of memory' },
      },
    },
    free_tier_monthly: {
      type: 'related',
      help: 'What each account may use free of charge per month (null: none)',
      readonly: true,
      output: { nullable: true },
      fields: { tx: { type: 'integer', help: 'Bytes of outbound traffic' } },
    },
    guest: flag('Whether guest accounts can be used'),
    host_availability_zones: flag('Whether servers can be placed in host availability zones'),
    remote_snapshots: flag('Whether drives can be snapshotted to another location'),
    signup: flag('Whether accounts can sign up through the API'),
    sso: {
      type: 'list',
      help: 'Single sign-on providers accounts can log in with',
      readonly: true,
    },
    trial: flag('Whether new accounts start as trials'),
    vmware: flag('Whether VMware servers are offered'),
    vpc: flag('Whether virtual private clouds are offered'),
  },
};

/** sigmalite's features, as CloudSigma names them. */
const STATUS = {
  free_tier: null,
  free_tier_monthly: null,
  guest: false,
  host_availability_zones: false,
  remote_snapshots: false,
  signup: false,
  sso: [],
  trial: false,
  vmware: false,
  vpc: false,
};

export function cloudStatusRoutes(): RouteSpec[] {
  return [
    {
      path: '/cloud_status/',
      resource: { def: CLOUD_STATUS, as: 'object' },
      handlers: { GET: async () => ({ type: 'value', body: STATUS }) },
    },
  ];
}
