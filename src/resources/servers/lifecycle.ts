/**
 * Servers' part of the engine: the tasks that end `starting`, `stopping` and `cloning` through
 * the compute driver of the server's host, what a failed start ends in, what a machine's own
 * state change (an event) does to its server, and the periodic reconciliation of the servers of
 * this process's hosts. Every handler is idempotent: after a crash it runs again from the start,
 * and statuses tell it what is already done.
 */
import { randomUUID } from 'node:crypto';
import type { MachineCounters, MachineSpec } from '../../drivers/compute/types.js';
import type {
  EngineContext,
  EngineModule,
  HostEventHandler,
  MachineEventHandler,
  ReconcileStep,
  TaskHandler,
} from '../../engine/engine.js';
import { listHosts } from '../../engine/hosts.js';
import { hostOf } from '../../engine/placement.js';
import type { Random } from '../../model/random.js';
import { resourceUri } from '../../model/refs.js';
import type { ReadTx, Task, WriteTx } from '../../store/types.js';
import { parseDoc, toRecord } from '../common.js';
import { driveIn, dropTask, finishCopy, updateJob } from '../drives/lifecycle.js';
import { type JobDoc, jobKind, newJob } from '../jobs/model.js';
import { libraryMedia } from '../libdrives/model.js';
import { appendLog } from '../logs/model.js';
import { DYNAMIC_IPS, type IpPool, reserveAddresses } from '../networking/ippool.js';
import { type PolicyDoc, policyKind } from '../networking/model.js';
import { recordDynamicAddresses, releaseDynamicAddresses } from '../networking/service.js';
import { isoTime, type Loaded, loadDrive, loadJob, loadServer, saveServer } from '../objects.js';
import { TASKS } from '../tasks.js';
import type { AttachmentDoc, DriveIo, NicDoc, NicIo, ServerDoc } from './model.js';
import type { ForgetPayload } from './placement.js';

/** A host's own `policy.apply` task names its policy (its target is the policy at the host). */
interface PolicyApplyPayload {
  policy?: string;
}

export interface ShutdownPayload {
  timeoutMs: number;
}

export interface ServerClonePayload {
  source: string;
  job: string;
  /** The disks to copy, each with its drive_clone child job. */
  copies: { source: string; target: string; job: string }[];
}

/** What servers' tasks need besides the engine's context. */
export interface ServerLifecycleDeps {
  /** Where DHCP NICs get their address while their server runs. */
  ips: IpPool;
  random: Random;
}

/** Server statuses a machine should be behind (or be made to stop). */
const LIVE_SERVER_STATUSES = ['starting', 'running', 'stopping', 'cloning', 'unavailable'];

/** The host a task's server is on (tasks written before hosts existed carry none). */
async function hostFor(ctx: EngineContext, task: Task): Promise<string> {
  return task.host ?? (await ctx.store.read((tx) => hostOf(tx, task.target)));
}

/** Removes the task and, if the object is still in `status`, applies `finish` to it. */
async function finishServer(
  ctx: EngineContext,
  task: Task,
  statuses: readonly string[],
  finish: (tx: WriteTx, server: Loaded<ServerDoc>) => Promise<void>,
): Promise<void> {
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    const server = await loadServer(tx, task.target);
    if (!server || !statuses.includes(server.doc.status)) return;
    await finish(tx, server);
    await saveServer(tx, server);
  });
}

/** Whether server `uuid` exists and is placed on `host`. */
async function placedOn(ctx: EngineContext, uuid: string, host: string): Promise<boolean> {
  return ctx.store.read(
    async (tx) => (await tx.get(uuid)) !== undefined && (await hostOf(tx, uuid)) === host,
  );
}

async function serverIn(ctx: EngineContext, uuid: string, statuses: readonly string[]) {
  return ctx.store.read(async (tx) => {
    const server = await loadServer(tx, uuid);
    return server && statuses.includes(server.doc.status) ? server : undefined;
  });
}

async function firewallPolicy(tx: ReadTx, uuid: string | null) {
  if (uuid === null) return null;
  const record = await tx.get(uuid);
  if (record?.kind !== policyKind.def.kind) return null;
  const policy = parseDoc<PolicyDoc>(record);
  return {
    uuid,
    rules: policy.rules.map((rule) => ({
      action: rule.action,
      direction: rule.direction,
      protocol: rule.ip_proto,
      srcIp: rule.src_ip,
      srcPort: rule.src_port,
      dstIp: rule.dst_ip,
      dstPort: rule.dst_port,
    })),
  };
}

/** The machine a server definition describes, with its drives, volumes and policies resolved. */
export async function machineSpec(
  ctx: EngineContext,
  tx: ReadTx,
  server: ServerDoc,
): Promise<MachineSpec> {
  const drives = [];
  for (const attachment of server.drives) {
    const drive = await loadDrive(tx, attachment.drive);
    drives.push({
      uuid: attachment.drive,
      volume: ctx.storage.volume(attachment.drive),
      device: attachment.device,
      devChannel: attachment.dev_channel,
      bootOrder: attachment.boot_order,
      // A library cdrom is attached by its own uuid (it is no drive of the account's).
      media: drive?.doc.media ?? (await libraryMedia(tx, attachment.drive)) ?? 'disk',
    });
  }
  // Reserved when the start was accepted, one per DHCP NIC in order.
  const leased = await tx.claimsOf(DYNAMIC_IPS, server.uuid);
  const nics = [];
  for (const nic of server.nics) {
    const conf = nic.ip_v4_conf?.conf ?? null;
    nics.push({
      mac: nic.mac,
      model: nic.model,
      bootOrder: nic.boot_order,
      network:
        nic.vlan === null ? { kind: 'public' as const } : { kind: 'vlan' as const, vlan: nic.vlan },
      ipv4:
        conf === 'static'
          ? (nic.ip_v4_conf?.ip ?? null)
          : conf === 'dhcp'
            ? (leased.shift() ?? null)
            : null,
      ipv4Conf: conf,
      firewallPolicy: await firewallPolicy(tx, nic.firewall_policy),
    });
  }
  return {
    uuid: server.uuid,
    name: server.name,
    cpuMhz: server.cpu,
    smp: server.smp,
    memBytes: server.mem,
    cpuType: server.cpu_type,
    cpuModel: server.cpu_model,
    socketsInsteadOfCores: server.cpus_instead_of_cores,
    enableNuma: server.enable_numa,
    hvRelaxed: server.hv_relaxed,
    hvTsc: server.hv_tsc,
    vncPassword: server.vnc_password,
    context: server.context,
    serial: { console: null, context: null },
    drives,
    nics,
  };
}

function driveIo(counters: MachineCounters | null, drive: string): DriveIo {
  const c = counters?.drives[drive];
  return {
    bytes_read: c?.bytesRead ?? 0,
    bytes_written: c?.bytesWritten ?? 0,
    count_flush: c?.countFlush ?? 0,
    count_read: c?.countRead ?? 0,
    count_written: c?.countWritten ?? 0,
    total_time_ns_flush: c?.totalTimeNsFlush ?? 0,
    total_time_ns_read: c?.totalTimeNsRead ?? 0,
    total_time_ns_write: c?.totalTimeNsWrite ?? 0,
  };
}

function nicIo(counters: MachineCounters | null, mac: string): NicIo {
  const c = counters?.nics[mac];
  return {
    bytes_recv: c?.bytesRecv ?? 0,
    bytes_sent: c?.bytesSent ?? 0,
    packets_recv: c?.packetsRecv ?? 0,
    packets_sent: c?.packetsSent ?? 0,
  };
}

/** Drives' and NICs' runtime counters as the host reports them (0 where it reports none). */
function withCounters(doc: ServerDoc, counters: MachineCounters | null): void {
  doc.nics = doc.nics.map((nic) =>
    nic.runtime ? { ...nic, runtime: { ...nic.runtime, io: nicIo(counters, nic.mac) } } : nic,
  );
  doc.drives = doc.drives.map(
    (attachment): AttachmentDoc => ({
      ...attachment,
      runtime: { io: driveIo(counters, attachment.drive) },
    }),
  );
}

/** `running`, with the runtime of the server, its NICs (addresses leased now) and its drives. */
async function markRunning(
  deps: ServerLifecycleDeps,
  tx: WriteTx,
  server: Loaded<ServerDoc>,
  activeSince: number,
  counters: MachineCounters | null,
): Promise<void> {
  const { doc } = server;
  // Reserved when the start was accepted (a restart reserves them again here).
  const dhcp = doc.nics.filter((nic) => nic.ip_v4_conf?.conf === 'dhcp').length;
  const addresses = await reserveAddresses(tx, deps.ips, doc.uuid, dhcp, deps.random);
  const nics: NicDoc[] = [];
  for (const nic of doc.nics) {
    let address: string | null = null;
    if (nic.ip_v4_conf?.conf === 'dhcp') address = addresses.shift() ?? null;
    else if (nic.ip_v4_conf?.conf === 'static') address = nic.ip_v4_conf.ip;
    nics.push({
      ...nic,
      runtime: {
        interface_type: nic.vlan === null ? 'public' : 'private',
        io: nicIo(counters, nic.mac),
        ip_v4: address,
        ip_v6: null,
      },
    });
  }
  doc.nics = nics;
  // `/ips/` lists the leased addresses while the server runs.
  await recordDynamicAddresses(tx, doc, deps.ips);
  withCounters(doc, counters);
  doc.runtime = { active_since: isoTime(activeSince) };
  doc.status = 'running';
}

/** `stopped`: no runtime, dynamic addresses released. */
export async function markStopped(tx: WriteTx, server: Loaded<ServerDoc>): Promise<void> {
  const { doc } = server;
  await releaseDynamicAddresses(tx, doc.uuid);
  doc.nics = doc.nics.map((nic) => ({ ...nic, runtime: null }));
  doc.drives = doc.drives.map((attachment) => ({ ...attachment, runtime: null }));
  doc.runtime = null;
  doc.status = 'stopped';
}

/** The audit log's entry for a step the engine completed, written with the step. */
function logStep(
  ctx: EngineContext,
  deps: ServerLifecycleDeps,
  tx: WriteTx,
  server: Loaded<ServerDoc>,
  action: 'boot' | 'stop',
  error?: Error,
): Promise<void> {
  const { owner, uuid } = server.doc;
  return appendLog(
    tx,
    { clock: ctx.clock, random: deps.random },
    {
      owner,
      category: 'Servers',
      action,
      target: uuid,
      ...(error ? { error: { type: 'backend', point: null, message: error.message } } : {}),
    },
  );
}

/**
 * Drives in a pool of another host's own move to the starting server's host first (per-host
 * pools; shared storage and the simulator have no `moveTo`, and a volume there is not touched).
 * A repeated start finds them moved.
 */
async function bringDrives(ctx: EngineContext, spec: MachineSpec, host: string): Promise<void> {
  const { storage } = ctx;
  if (!storage.moveTo) return;
  for (const drive of spec.drives) {
    const where = storage.locate ? await storage.locate(drive.uuid) : drive.volume;
    drive.volume =
      where.host === null || where.host === host ? where : await storage.moveTo(drive.uuid, host);
  }
}

function serverTasks(deps: ServerLifecycleDeps): Record<string, TaskHandler> {
  const serverStart: TaskHandler = async (task, ctx) => {
    const spec = await ctx.store.read(async (tx) => {
      const server = await loadServer(tx, task.target);
      return server?.doc.status === 'starting' ? machineSpec(ctx, tx, server.doc) : undefined;
    });
    if (!spec) return dropTask(ctx, task);
    const host = await hostFor(ctx, task);
    await bringDrives(ctx, spec, host);
    const { activeSince } = await ctx.compute.start(host, spec);
    const counters = await ctx.compute.counters(host, task.target);
    await finishServer(ctx, task, ['starting'], async (tx, server) => {
      await markRunning(deps, tx, server, activeSince, counters);
      await logStep(ctx, deps, tx, server, 'boot');
    });
  };

  const serverStop: TaskHandler = async (task, ctx) => {
    if (!(await serverIn(ctx, task.target, ['stopping']))) return dropTask(ctx, task);
    await ctx.compute.stop(await hostFor(ctx, task), task.target);
    await finishServer(ctx, task, ['stopping'], async (tx, server) => {
      await markStopped(tx, server);
      await logStep(ctx, deps, tx, server, 'stop');
    });
  };

  /** ACPI: `stopping`, then `stopped` if the guest powers off in time, else back to `running`. */
  const serverShutdown: TaskHandler = async (task, ctx) => {
    if (!(await serverIn(ctx, task.target, ['stopping']))) return dropTask(ctx, task);
    const { timeoutMs } = JSON.parse(task.payload) as ShutdownPayload;
    const off = await ctx.compute.shutdown(await hostFor(ctx, task), task.target, timeoutMs);
    await finishServer(ctx, task, ['stopping'], async (tx, server) => {
      if (off) {
        await markStopped(tx, server);
        await logStep(ctx, deps, tx, server, 'stop');
      } else server.doc.status = 'running';
    });
  };

  /** Stop then start: `stopping`, `starting`, `running` with a new `active_since`. */
  const serverRestart: TaskHandler = async (task, ctx) => {
    const before = await serverIn(ctx, task.target, ['stopping', 'starting']);
    if (!before) return dropTask(ctx, task);
    if (before.doc.status === 'stopping') {
      await ctx.compute.stop(await hostFor(ctx, task), task.target);
      await ctx.store.write(async (tx) => {
        const server = await loadServer(tx, task.target);
        if (server?.doc.status !== 'stopping') return;
        await markStopped(tx, server);
        server.doc.status = 'starting';
        await saveServer(tx, server);
      });
    }
    await serverStart(task, ctx);
  };

  /** Copies the clone's disks one after another, then the clone is `stopped` and its job done. */
  const serverClone: TaskHandler = async (task, ctx) => {
    const payload = JSON.parse(task.payload) as ServerClonePayload;
    if (!(await serverIn(ctx, task.target, ['cloning']))) return dropTask(ctx, task);
    for (const [i, copy] of payload.copies.entries()) {
      const target = await driveIn(ctx, copy.target, ['cloning_dst']);
      if (target) {
        await ctx.storage.clone(copy.source, copy.target, target.doc.size);
        await ctx.store.write(async (tx) => {
          await finishCopy(ctx, tx, copy);
          const done = i + 1;
          await updateJob(tx, payload.job, ctx.clock.now(), (job) => {
            job.progress = Math.floor((done * 100) / payload.copies.length);
          });
        });
      }
    }
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      const server = await loadServer(tx, task.target);
      if (server?.doc.status === 'cloning') {
        server.doc.status = 'stopped';
        await saveServer(tx, server);
      }
      const children: JobDoc[] = [];
      for (const copy of payload.copies) {
        const child = await loadJob(tx, copy.job);
        if (child) children.push(child.doc);
      }
      await updateJob(tx, payload.job, ctx.clock.now(), (job) => {
        job.state = 'success';
        job.progress = 100;
        job.children = children;
      });
    });
  };

  /**
   * A host forgets a server's machine: a deleted server's (it is stopped: deletion needs that),
   * or that of a server that started on another host (`placement.ts`, the payload names it). The
   * latter is kept if the server is placed on this host again, or if its machine runs here (the
   * server's own, or one reconciliation powers off): only a stopped definition goes.
   */
  const serverForget: TaskHandler = async (task, ctx) => {
    const host = await hostFor(ctx, task);
    const { machine } = JSON.parse(task.payload) as ForgetPayload;
    if (machine === undefined) {
      await ctx.compute.forget?.(host, task.target);
    } else if (!(await placedOn(ctx, machine, host))) {
      await ctx.compute.forget?.(host, machine, { onlyStopped: true });
    }
    await ctx.store.write((tx) => tx.removeTask(task.id));
  };

  /**
   * A policy's hosts follow it as it is now: its new rules reach the NICs running with it; a
   * deleted policy's filter goes. The task written with the change runs on every host of the
   * process that takes it, and hands each other registered host a task of its own (its process
   * applies it there, when that host is served again if none does now).
   */
  const policyApply: TaskHandler = async (task, ctx) => {
    const { policy: uuid = task.target } = JSON.parse(task.payload) as PolicyApplyPayload;
    const policy = await ctx.store.read((tx) => firewallPolicy(tx, uuid));
    const hosts = task.host ? [task.host] : [...ctx.compute.hosts];
    if (policy && ctx.compute.applyPolicy) {
      for (const host of hosts) await ctx.compute.applyPolicy(host, policy);
    } else if (!policy && ctx.compute.removePolicy) {
      for (const host of hosts) await ctx.compute.removePolicy(host, uuid);
    }
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      if (task.host) return;
      for (const { name } of await listHosts(tx)) {
        // A target per host, so that a host nobody serves holds up no other host's task. Of two
        // waiting there, the second has not begun (one target's tasks run in order): it will read
        // the policy as it is then, so a third would add nothing.
        const target = `${uuid}@${name}`;
        if (hosts.includes(name) || (await tx.tasksOf(target)).length >= 2) continue;
        await tx.addTask({
          id: randomUUID(),
          type: TASKS.policyApply,
          target,
          payload: JSON.stringify({ policy: uuid } satisfies PolicyApplyPayload),
          dueAt: ctx.clock.now(),
          host: name,
        });
      }
    });
  };

  return {
    [TASKS.serverStart]: serverStart,
    [TASKS.policyApply]: policyApply,
    [TASKS.serverForget]: serverForget,
    [TASKS.serverStop]: serverStop,
    [TASKS.serverShutdown]: serverShutdown,
    [TASKS.serverRestart]: serverRestart,
    [TASKS.serverClone]: serverClone,
  };
}

/**
 * A start that failed for good: the machine is powered off if anything of it runs, the server is
 * `stopped` again (its last stable status) with its addresses released, a `server_start` job in
 * `error` says why, and the audit log has a failed `boot`.
 */
function failedStart(deps: ServerLifecycleDeps) {
  return async (task: Task, error: Error, ctx: EngineContext): Promise<void> => {
    const host = await hostFor(ctx, task);
    await ctx.compute.kill(host, task.target).catch(() => {});
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      const server = await loadServer(tx, task.target);
      if (!server || !['starting', 'stopping'].includes(server.doc.status)) return;
      const now = ctx.clock.now();
      const job: JobDoc = {
        ...newJob(deps.random.uuid(), server.doc.owner, 'server_start', [], new Date(now)),
        state: 'error',
        error: error.message,
      };
      job.resources = [resourceUri('servers', server.doc.uuid)];
      await tx.insert(toRecord(jobKind, job));
      await markStopped(tx, server);
      server.doc.jobs = [...server.doc.jobs, job.uuid];
      await saveServer(tx, server);
      await logStep(ctx, deps, tx, server, 'boot', error);
    });
  };
}

/**
 * A stop (or ACPI shutdown) that failed for good: the server is `running` again (its last stable
 * status; the host still runs it as far as anyone knows), and the audit log has a failed `stop`.
 */
function failedStop(deps: ServerLifecycleDeps) {
  return async (task: Task, error: Error, ctx: EngineContext): Promise<void> => {
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      const server = await loadServer(tx, task.target);
      if (server?.doc.status !== 'stopping') return;
      server.doc.status = 'running';
      await saveServer(tx, server);
      await logStep(ctx, deps, tx, server, 'stop', error);
    });
  };
}

/**
 * A machine of this process's hosts stopped on its own (its guest powered off, its hypervisor
 * process died): its `running` server becomes `stopped`, unless a task is under way for it.
 */
const machineStopped: MachineEventHandler = async (event, ctx) => {
  if (event.state !== 'stopped' || event.reason === 'requested') return;
  // The event may be old news: a machine started again since runs.
  if ((await ctx.compute.status(event.host, event.uuid)).state !== 'stopped') return;
  await ctx.store.write(async (tx) => {
    const server = await loadServer(tx, event.uuid);
    if (server?.doc.status !== 'running') return;
    if ((await tx.tasksOf(event.uuid)).length > 0) return;
    if ((await hostOf(tx, event.uuid)) !== event.host) return;
    await markStopped(tx, server);
    ctx.logger.info(
      { server: event.uuid, host: event.host, reason: event.reason },
      'server stopped on its own',
    );
    await saveServer(tx, server);
  });
};

/**
 * Stored server statuses are made to agree with what this process's hosts run, for servers on
 * those hosts that no task is going to finish (the hypervisor is the authority on whether a
 * machine runs); running servers' counters follow the host's. Machines a host runs for no live
 * server of its own are powered off.
 */
const reconcileServers: ReconcileStep = async (ctx) => {
  await reconcileHosts(ctx, ctx.hosts);
};

/**
 * The reconciliation of the servers of `hosts` (those of this process that answer: a host that
 * does not is left alone, its servers `unavailable`, until it answers again).
 */
async function reconcileHosts(ctx: EngineContext, hosts: readonly string[]): Promise<void> {
  const { store, compute, logger } = ctx;
  // A host the driver no longer serves (removed while running) is no one's to reconcile here.
  const answering = hosts.filter(
    (host) => compute.hosts.includes(host) && !ctx.hostsDown?.has(host),
  );
  if (answering.length === 0) return;
  const servers = await store.read((tx) => tx.byStatus('servers', LIVE_SERVER_STATUSES));
  const known = new Map<string, Set<string>>(answering.map((host) => [host, new Set()]));
  for (const record of servers) {
    const host = await store.read((tx) => hostOf(tx, record.uuid));
    const mine = known.get(host);
    if (!mine) continue;
    mine.add(record.uuid);
    if ((await store.read((tx) => tx.tasksOf(record.uuid))).length > 0) continue;
    const machine = await compute.status(host, record.uuid);
    const counters = machine.state === 'running' ? await compute.counters(host, record.uuid) : null;
    await store.write(async (tx) => {
      const server = await loadServer(tx, record.uuid);
      // Changed since the host was asked (a stop that ended meanwhile): the answer is stale.
      if (server?.record.version !== record.version) return;
      if ((await tx.tasksOf(record.uuid)).length > 0) return;
      const before = server.doc.status;
      if (machine.state === 'running') {
        if (before === 'running') {
          // Only a change is written: a host that reports no I/O costs no write.
          const was = JSON.stringify([server.doc.nics, server.doc.drives]);
          withCounters(server.doc, counters);
          if (JSON.stringify([server.doc.nics, server.doc.drives]) !== was) {
            await saveServer(tx, server);
          }
          return;
        }
        server.doc.status = 'running';
        server.doc.runtime ??= { active_since: isoTime(machine.since) };
      } else {
        if (before === 'running' && machine.state === 'paused') return;
        await markStopped(tx, server);
      }
      logger.warn(
        { server: server.doc.uuid, host, from: before, to: server.doc.status },
        'reconciled server',
      );
      await saveServer(tx, server);
    });
  }
  // Machines a host runs for servers that are gone or stopped: power them off.
  for (const [host, mine] of known) {
    for (const machine of await compute.machines(host)) {
      if (machine.state !== 'running' || mine.has(machine.uuid)) continue;
      // Started here since the live servers were read: it is live now (or its start under way).
      const now = await store.read(async (tx) => ({
        server: await tx.get(machine.uuid),
        tasks: (await tx.tasksOf(machine.uuid)).length,
        host: await hostOf(tx, machine.uuid),
      }));
      const live = now.tasks > 0 || LIVE_SERVER_STATUSES.includes(now.server?.status ?? '');
      if (live && now.host === host) continue;
      logger.warn({ server: machine.uuid, host }, 'reconcile: stopping a machine no server owns');
      await compute.stop(host, machine.uuid);
    }
  }
}

/** Statuses of servers whose machine a host that stops answering may still run. */
const RUNNING_STATUSES = ['running', 'starting'];

/**
 * A host of this process stopped answering: its `running` (and `starting`) servers become
 * `unavailable` (what runs there is unknown), except those with a task under way, which the task
 * ends (a start on a host that does not answer fails or retries as any start). When it answers
 * again the hypervisor is the authority: its servers are reconciled at once (a machine that ran
 * through the outage is `running` again with the same `active_since`; one that is gone
 * `stopped`).
 */
const hostChanged: HostEventHandler = async (event, ctx) => {
  if (event.up) {
    await reconcileHosts(ctx, [event.host]);
    return;
  }
  const servers = await ctx.store.read((tx) => tx.byStatus('servers', RUNNING_STATUSES));
  for (const record of servers) {
    await ctx.store.write(async (tx) => {
      const server = await loadServer(tx, record.uuid);
      if (!server || !RUNNING_STATUSES.includes(server.doc.status)) return;
      if ((await hostOf(tx, record.uuid)) !== event.host) return;
      if ((await tx.tasksOf(record.uuid)).length > 0) return;
      const before = server.doc.status;
      server.doc.status = 'unavailable';
      await saveServer(tx, server);
      ctx.logger.warn(
        { server: record.uuid, host: event.host, from: before, reason: event.reason },
        'server unavailable: its host does not answer',
      );
    });
  }
};

/** Servers' tasks, failure states, machine events and reconciliation, for the engine. */
export function serverLifecycle(deps: ServerLifecycleDeps): EngineModule {
  const tasks = serverTasks(deps);
  const failed = failedStart(deps);
  const stopFailed = failedStop(deps);
  return {
    name: 'servers',
    tasks: {
      ...tasks,
      [TASKS.serverStart]: { run: tasks[TASKS.serverStart]!, failed },
      [TASKS.serverRestart]: { run: tasks[TASKS.serverRestart]!, failed },
      [TASKS.serverStop]: { run: tasks[TASKS.serverStop]!, failed: stopFailed },
      [TASKS.serverShutdown]: { run: tasks[TASKS.serverShutdown]!, failed: stopFailed },
    },
    reconcile: reconcileServers,
    machineEvents: machineStopped,
    hostEvents: hostChanged,
  };
}
