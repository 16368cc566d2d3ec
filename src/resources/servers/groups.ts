/**
 * Availability groups (api-reference.md §2.5) and `GET /servers/{uuid}/runtime/`. One host runs
 * every machine here, so all running servers form one group, and all drives one storage group.
 */
import type { RouteSpec } from '../../http/api.js';
import { loadVisible, parseDoc } from '../common.js';
import { DRIVE_STATUSES } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import type { ServerDoc } from './model.js';

export function serverExtraRoutes(env: ResourceEnv): RouteSpec[] {
  const runningOf = async (owner: string) =>
    (await env.store.read((tx) => tx.byStatus('servers', ['running'], owner))).map((r) => r.uuid);
  const drivesOf = async (owner: string) =>
    (await env.store.read((tx) => tx.byStatus('drives', DRIVE_STATUSES, owner))).map((r) => r.uuid);
  return [
    {
      path: '/servers/:uuid/runtime/',
      handlers: {
        GET: async (ctx) => {
          const record = await loadVisible(env.store, 'servers', ctx.params.uuid!, ctx);
          const detail = JSON.parse(record.detail) as { runtime: unknown };
          return { type: 'value', body: detail.runtime };
        },
      },
    },
    {
      path: '/servers/availability_groups/',
      handlers: {
        GET: async (ctx) => {
          const running = await runningOf(ctx.principal.uuid);
          return { type: 'value', body: running.length > 0 ? [running] : [] };
        },
      },
    },
    {
      path: '/servers/availability_groups/:uuid/',
      handlers: {
        GET: async (ctx) => {
          const server = parseDoc<ServerDoc>(
            await loadVisible(env.store, 'servers', ctx.params.uuid!, ctx),
          );
          return {
            type: 'value',
            body: server.status === 'running' ? await runningOf(ctx.principal.uuid) : [],
          };
        },
      },
    },
    {
      path: '/drives/availability_groups/',
      handlers: {
        GET: async (ctx) => {
          const drives = await drivesOf(ctx.principal.uuid);
          return { type: 'value', body: drives.length > 0 ? [drives] : [] };
        },
      },
    },
    {
      path: '/drives/availability_groups/:uuid/',
      handlers: {
        GET: async (ctx) => {
          await loadVisible(env.store, 'drives', ctx.params.uuid!, ctx);
          return { type: 'value', body: await drivesOf(ctx.principal.uuid) };
        },
      },
    },
  ];
}
