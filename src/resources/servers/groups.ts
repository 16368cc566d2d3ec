/**
 * Availability groups (api-reference.md §2.5) and `GET /servers/{uuid}/runtime/`. A server
 * group is the caller's running servers on one host (`engine/placement.ts`); a drive group the
 * caller's drives on one storage location (for now one storage every host reaches, so one group).
 */
import { hostOf, storageLocations } from '../../engine/placement.js';
import type { RouteSpec } from '../../http/api.js';
import type { ReadTx } from '../../store/types.js';
import { loadVisible, parseDoc } from '../common.js';
import { DRIVE_STATUSES } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import type { ServerDoc } from './model.js';

/** Uuids grouped by location: groups in the order of their locations' names, members in order. */
function grouped(locations: ReadonlyMap<string, string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const location of [...new Set(locations.values())].sort()) groups.set(location, []);
  for (const [uuid, location] of locations) groups.get(location)!.push(uuid);
  return groups;
}

/** The host of each running server of `owner`, in creation order. */
async function runningServerHosts(tx: ReadTx, owner: string): Promise<Map<string, string>> {
  const hosts = new Map<string, string>();
  for (const record of await tx.byStatus('servers', ['running'], owner)) {
    hosts.set(record.uuid, await hostOf(tx, record.uuid));
  }
  return hosts;
}

/** The storage location of each drive of `owner`, in creation order. */
async function driveLocations(tx: ReadTx, owner: string): Promise<Map<string, string>> {
  const drives = (await tx.byStatus('drives', DRIVE_STATUSES, owner)).map((r) => r.uuid);
  return storageLocations(tx, drives);
}

export function serverExtraRoutes(env: ResourceEnv): RouteSpec[] {
  const serverGroups = (owner: string) =>
    env.store.read(async (tx) => grouped(await runningServerHosts(tx, owner)));
  const driveGroups = (owner: string) =>
    env.store.read(async (tx) => grouped(await driveLocations(tx, owner)));
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
        GET: async (ctx) => ({
          type: 'value',
          body: [...(await serverGroups(ctx.principal.uuid)).values()],
        }),
      },
    },
    {
      path: '/servers/availability_groups/:uuid/',
      handlers: {
        GET: async (ctx) => {
          const server = parseDoc<ServerDoc>(
            await loadVisible(env.store, 'servers', ctx.params.uuid!, ctx),
          );
          if (server.status !== 'running') return { type: 'value', body: [] };
          const groups = await serverGroups(ctx.principal.uuid);
          const group = [...groups.values()].find((uuids) => uuids.includes(server.uuid));
          return { type: 'value', body: group ?? [] };
        },
      },
    },
    {
      path: '/drives/availability_groups/',
      handlers: {
        GET: async (ctx) => ({
          type: 'value',
          body: [...(await driveGroups(ctx.principal.uuid)).values()],
        }),
      },
    },
    {
      path: '/drives/availability_groups/:uuid/',
      handlers: {
        GET: async (ctx) => {
          await loadVisible(env.store, 'drives', ctx.params.uuid!, ctx);
          const groups = await driveGroups(ctx.principal.uuid);
          const group = [...groups.values()].find((uuids) => uuids.includes(ctx.params.uuid!));
          return { type: 'value', body: group ?? [] };
        },
      },
    },
  ];
}
