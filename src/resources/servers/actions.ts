/**
 * `POST /servers/{uuid}/action/?do=...` (api-reference.md §2.3): power actions write the new
 * status and the task that finishes it in one transaction and answer 202; tunnels open at once;
 * clone copies the definition and its disks. Wrong-state actions answer 403 with CloudSigma's
 * messages, whose state names are internal ones (`started` for running).
 */

import { hostOf } from '../../engine/placement.js';
import { errors } from '../../errors.js';
import { actionList, dispatchAction } from '../../http/actions.js';
import type { ApiContext, ApiResult, RouteSpec } from '../../http/api.js';
import type { ObjectRecord, Store, WriteTx } from '../../store/types.js';
import type { Permission } from '../acls/access.js';
import { checkStartFunds } from '../billing/usage.js';
import { loadVisible, parseDoc, toUpdate } from '../common.js';
import type { ResourceEnv } from '../env.js';
import { addTask } from '../lifecycle.js';
import { checkStillAttachable } from '../mounts.js';
import { PoolExhaustedError, reserveAddresses } from '../networking/ippool.js';
import { TASKS } from '../tasks.js';
import { cloneServer } from './clone.js';
import { SERVERS, type ServerDoc, type ServerStatus, serverKind } from './model.js';
import { beginPlacement, placeStart } from './placement.js';
import { wrongState } from './states.js';

interface PowerAction {
  from: ServerStatus;
  to: ServerStatus;
  task: string;
  /** What an account the server is shared with needs (api-reference.md §5.10). */
  permission: Permission;
  payload?: (env: ResourceEnv) => unknown;
}

const POWER: Record<string, PowerAction> = {
  start: { from: 'stopped', to: 'starting', task: TASKS.serverStart, permission: 'START' },
  stop: { from: 'running', to: 'stopping', task: TASKS.serverStop, permission: 'STOP' },
  shutdown: {
    from: 'running',
    to: 'stopping',
    task: TASKS.serverShutdown,
    permission: 'STOP',
    payload: (env) => ({ timeoutMs: env.acpiTimeoutMs }),
  },
  restart: { from: 'running', to: 'stopping', task: TASKS.serverRestart, permission: 'STOP' },
};

const accepted = (action: string, uuid: string, extra: Record<string, string> = {}): ApiResult => ({
  type: 'value',
  status: 202,
  body: { action, result: 'success', uuid, ...extra },
});

async function powerAction(env: ResourceEnv, ctx: ApiContext, action: string, power: PowerAction) {
  const uuid = ctx.params.uuid!;
  await env.store.write(async (tx) => {
    const record = await loadVisible(tx, 'servers', uuid, ctx, power.permission);
    const server = parseDoc<ServerDoc>(record);
    if (server.status !== power.from) throw wrongState(action, server.status);
    // A start goes to a host chosen now; the other actions to the host the server runs on.
    const host =
      action === 'start' ? await acceptStart(env, tx, ctx, record, server) : await hostOf(tx, uuid);
    server.status = power.to;
    await tx.update(toUpdate(serverKind, record, server));
    await addTask(env, tx, power.task, uuid, power.payload?.(env) ?? {}, host);
  });
  return accepted(action, uuid);
}

/**
 * What a start checks and reserves before it is accepted, and the host it chooses (best effort
 * away from the servers `avoid` names: api-reference.md §2.5).
 */
async function acceptStart(
  env: ResourceEnv,
  tx: WriteTx,
  ctx: ApiContext,
  record: ObjectRecord,
  server: ServerDoc,
): Promise<string> {
  const hosts = await beginPlacement(tx);
  await checkStillAttachable(tx, record.owner ?? '', server.drives);
  await reserveStartAddresses(env, tx, server);
  if (env.billing) await checkStartFunds(tx, env.billing, server, env.clock.now());
  return placeStart(tx, hosts, {
    server,
    caller: ctx.principal.uuid,
    avoid: actionList(ctx.query, 'avoid'),
  });
}

/** DHCP addresses are reserved when a start is accepted: a full pool answers 503 at once. */
async function reserveStartAddresses(
  env: ResourceEnv,
  tx: WriteTx,
  server: ServerDoc,
): Promise<void> {
  const dhcp = server.nics.filter((nic) => nic.ip_v4_conf?.conf === 'dhcp').length;
  try {
    await reserveAddresses(tx, env.ips, server.uuid, dhcp, env.random);
  } catch (e) {
    if (e instanceof PoolExhaustedError) throw errors.outOfCapacity(e.message);
    throw e;
  }
}

/** The server if the caller may see it and it runs; else 404 or 403. */
function runningServer(
  env: ResourceEnv,
  ctx: ApiContext,
  action: 'open_vnc' | 'open_console',
): Promise<ServerDoc> {
  return tunnelTarget(env.store, ctx, ctx.params.uuid!, action);
}

/**
 * A server whose tunnels (`open_vnc`, `open_console`, the web console's screen and serial
 * console) the caller may open: it sees the server with `OPEN_VNC` and the server runs; else
 * 404 or 403 as those actions answer.
 */
export async function tunnelTarget(
  store: Store,
  ctx: Pick<ApiContext, 'principal'>,
  uuid: string,
  action: 'open_vnc' | 'open_console',
): Promise<ServerDoc> {
  const record = await loadVisible(store, 'servers', uuid, ctx, 'OPEN_VNC');
  const server = parseDoc<ServerDoc>(record);
  if (server.status !== 'running') throw wrongState(action, server.status);
  return server;
}

/**
 * The host clients reach tunnels at: the API's own host name (a tunnel another process opened
 * names that process's host instead).
 */
function tunnelHost(ctx: ApiContext): string {
  return new URL(ctx.origin).hostname;
}

export function serverActionRoutes(env: ResourceEnv): RouteSpec[] {
  const actions: Record<string, (ctx: ApiContext) => Promise<ApiResult>> = {
    open_vnc: async (ctx) => {
      const server = await runningServer(env, ctx, 'open_vnc');
      const { port, host } = await env.tunnels.openVnc(
        server.uuid,
        server.vnc_password,
        server.name,
        ctx.principal.uuid,
      );
      return accepted('open_vnc', server.uuid, {
        vnc_url: `vnc://${host ?? tunnelHost(ctx)}:${port}`,
      });
    },
    close_vnc: async (ctx) => {
      await loadVisible(env.store, 'servers', ctx.params.uuid!, ctx, 'OPEN_VNC');
      await env.tunnels.closeVnc(ctx.params.uuid!);
      return accepted('close_vnc', ctx.params.uuid!);
    },
    open_console: async (ctx) => {
      const server = await runningServer(env, ctx, 'open_console');
      const { port, host } = await env.tunnels.openConsole(
        server.uuid,
        server.vnc_password,
        server.name,
        ctx.principal.uuid,
      );
      return accepted('open_console', server.uuid, {
        console_url: `csconsole://${host ?? tunnelHost(ctx)}:${port}`,
      });
    },
    close_console: async (ctx) => {
      await loadVisible(env.store, 'servers', ctx.params.uuid!, ctx, 'OPEN_VNC');
      await env.tunnels.closeConsole(ctx.params.uuid!);
      return accepted('close_console', ctx.params.uuid!);
    },
    clone: async (ctx) => {
      // Drives have no location yet, so there is nothing to keep the copies away from: the
      // request log says `avoid` was ignored.
      if (actionList(ctx.query, 'avoid').length > 0) ctx.noteIgnoredParameters(['avoid']);
      return { type: 'object', status: 202, json: await cloneServer(env, ctx) };
    },
  };
  for (const [name, power] of Object.entries(POWER)) {
    actions[name] = (ctx) => powerAction(env, ctx, name, power);
  }
  return [
    {
      path: '/servers/:uuid/action/',
      handlers: {
        POST: dispatchAction(actions),
      },
      actions: {
        ...Object.fromEntries(Object.keys(POWER).map((name) => [name, { as: 'ack' } as const])),
        open_vnc: { as: 'ack', extra: ['vnc_url'] },
        close_vnc: { as: 'ack' },
        open_console: { as: 'ack', extra: ['console_url'] },
        close_console: { as: 'ack' },
        clone: { as: 'object', def: SERVERS },
      },
    },
  ];
}
