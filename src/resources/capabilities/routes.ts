import type { RouteSpec } from '../../http/api.js';
import type { FieldDef, Fields, ResourceDef } from '../../model/fields.js';
import type { ResourceEnv } from '../env.js';
import { countSnapshots } from '../snapshots/service.js';

const range = (help: string): FieldDef => ({
  type: 'related',
  help,
  fields: {
    max: { type: 'integer', help: 'Largest value' },
    min: { type: 'integer', help: 'Smallest value' },
  },
});

const object = (help: string, fields: Fields): FieldDef => ({ type: 'related', help, fields });

/**
 * The parts of `/capabilities/` that validation reads (`types.ts`), for the OpenAPI document: the
 * rest is served as configured (`--capabilities`), and `/capabilities/schema/` is a short text.
 */
export const CAPABILITIES: ResourceDef = {
  kind: 'capabilities',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  fields: {
    default_storage_type: { type: 'string', help: 'Storage type of drives created without one' },
    drives: {
      type: 'dict',
      help: 'Limits per storage type',
      output: {
        values: {
          iops: object('IOPS limits', {
            base: { type: 'integer', help: 'IOPS without a limit set' },
            max: { type: 'integer', help: 'Largest IOPS limit' },
            min: { type: 'integer', help: 'Smallest IOPS limit' },
          }),
          size: range('Drive size in bytes'),
        },
      },
    },
    hosts: {
      type: 'dict',
      help: 'Limits per CPU type',
      output: {
        values: {
          cpu: range('CPU in MHz'),
          cpu_per_smp: range('CPU per core in MHz'),
          mem: range('Memory in bytes'),
          smp: range('Cores'),
        },
      },
    },
    hypervisors: { type: 'dict', help: 'Hypervisors and what they run' },
    snapshots: object('Snapshots: how many the caller has, and the limits', {
      current: { type: 'integer', help: "The caller's snapshots" },
      max: { type: 'integer', help: 'Most snapshots per account' },
      max_per_drive: { type: 'integer', help: 'Most snapshots per drive' },
    }),
  },
};

export function capabilitiesRoutes(env: ResourceEnv): RouteSpec[] {
  return [
    {
      path: '/capabilities/',
      resource: { def: CAPABILITIES, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const snapshots = env.capabilities.snapshots;
          if (!snapshots) return { type: 'value', body: env.capabilities };
          // `snapshots.current`: how many the caller has, against `max`.
          const current = await env.store.read((tx) => countSnapshots(tx, ctx.principal.uuid));
          return {
            type: 'value',
            body: { ...env.capabilities, snapshots: { ...snapshots, current } },
          };
        },
      },
    },
    {
      path: '/capabilities/schema/',
      handlers: {
        GET: async () => ({
          type: 'value',
          body: {
            allowed_methods: ['get'],
            help_text: 'Various API capabilities. Check documentation for reference',
          },
        }),
      },
    },
  ];
}
