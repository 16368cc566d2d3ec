/**
 * `/currentusage/` (api-reference.md §5.4): what the account uses now. CPU and memory count from
 * the moment a start is accepted until the server is stopped, per `cpu` and per `<cpu_type>_cpu`;
 * drives count their size per storage type; addresses and VLANs their number.
 */
import type { RouteSpec } from '../../http/api.js';
import type { ResourceDef } from '../../model/fields.js';
import { renderSchema } from '../../model/schema.js';
import { parseDoc } from '../common.js';
import { DRIVE_STATUSES, type DriveDoc } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import type { ServerDoc, ServerStatus } from '../servers/model.js';

const USING: readonly ServerStatus[] = ['starting', 'running', 'stopping', 'paused', 'unavailable'];
/** Always reported, even at zero (clients read e.g. `intel_cpu`). */
const BASE_KEYS = [
  'cpu',
  'mem',
  'amd_cpu',
  'amd_mem',
  'intel_cpu',
  'intel_mem',
  'dssd',
  'ssd',
  'zadara',
  'nvme',
  'ip',
  'vlan',
  'tx',
  'sms',
];

export const CURRENT_USAGE: ResourceDef = {
  kind: 'currentusage',
  allowedListMethods: ['get'],
  allowedDetailMethods: [],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  fields: {
    balance: { type: 'related', help: 'The balance of the account', readonly: true },
    usage: { type: 'related', help: 'Current usage per resource', readonly: true },
  },
};

interface Usage {
  burst: number;
  subscribed: number;
  using: number;
}

export function usageRoutes(env: ResourceEnv & { balance: string }): RouteSpec[] {
  return [
    {
      path: '/currentusage/',
      handlers: {
        GET: async (ctx) => {
          const owner = ctx.principal.uuid;
          const usage: Record<string, Usage> = {};
          const add = (key: string, amount: number) => {
            const entry = usage[key] ?? { burst: 0, subscribed: 0, using: 0 };
            entry.using += amount;
            usage[key] = entry;
          };
          for (const key of BASE_KEYS) add(key, 0);
          const [servers, drives] = await env.store.read(async (tx) =>
            Promise.all([
              tx.byStatus('servers', USING, owner),
              tx.byStatus('drives', DRIVE_STATUSES, owner),
            ]),
          );
          for (const record of servers) {
            const server = parseDoc<ServerDoc>(record);
            add('cpu', server.cpu);
            add('mem', server.mem);
            add(`${server.cpu_type}_cpu`, server.cpu);
            add(`${server.cpu_type}_mem`, server.mem);
          }
          for (const record of drives) {
            const drive = parseDoc<DriveDoc>(record);
            add(drive.storage_type, drive.size);
          }
          return {
            type: 'value',
            body: { balance: { balance: env.balance, currency: 'EUR' }, usage },
          };
        },
      },
    },
    {
      path: '/currentusage/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(CURRENT_USAGE) }) },
    },
  ];
}
