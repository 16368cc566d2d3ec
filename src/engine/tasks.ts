/**
 * The engine's task handlers: each finishes one asynchronous status through the drivers, then
 * writes the stable status and removes its task in one transaction. Every handler is idempotent:
 * after a crash it runs again from the start, and statuses tell it what is already done.
 */
import type { MachineSpec } from '../drivers/compute/types.js';
import type { DriveDoc, DriveStatus } from '../resources/drives/model.js';
import { settledStatus } from '../resources/drives/model.js';
import type { JobDoc } from '../resources/jobs/model.js';
import { libraryMedia } from '../resources/libdrives/model.js';
import { appendLog } from '../resources/logs/model.js';
import {
  recordDynamicAddresses,
  releaseDynamicAddresses,
} from '../resources/networking/service.js';
import type { NicDoc, ServerDoc } from '../resources/servers/model.js';
import type { ReadTx, Task, WriteTx } from '../store/types.js';
import type { EngineContext, TaskHandler } from './engine.js';
import { reserveAddresses } from './ippool.js';
import {
  isoTime,
  type Loaded,
  loadDrive,
  loadJob,
  loadServer,
  saveDrive,
  saveJob,
  saveServer,
} from './objects.js';
import { copiesFrom } from './reconcile.js';

export const TASKS = {
  serverStart: 'server.start',
  serverStop: 'server.stop',
  serverShutdown: 'server.shutdown',
  serverRestart: 'server.restart',
  serverClone: 'server.clone',
  driveCreate: 'drive.create',
  driveResize: 'drive.resize',
  driveClone: 'drive.clone',
} as const;

export interface ShutdownPayload {
  timeoutMs: number;
}

export interface DriveClonePayload {
  source: string;
  job: string;
}

export interface ServerClonePayload {
  source: string;
  job: string;
  /** The disks to copy, each with its drive_clone child job. */
  copies: { source: string; target: string; job: string }[];
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

async function serverIn(ctx: EngineContext, uuid: string, statuses: readonly string[]) {
  return ctx.store.read(async (tx) => {
    const server = await loadServer(tx, uuid);
    return server && statuses.includes(server.doc.status) ? server : undefined;
  });
}

async function dropTask(ctx: EngineContext, task: Task): Promise<void> {
  await ctx.store.write((tx) => tx.removeTask(task.id));
}

/** The machine a server definition describes, with its drives resolved. */
async function machineSpec(tx: ReadTx, server: ServerDoc): Promise<MachineSpec> {
  const drives = [];
  for (const attachment of server.drives) {
    const drive = await loadDrive(tx, attachment.drive);
    drives.push({
      uuid: attachment.drive,
      device: attachment.device,
      devChannel: attachment.dev_channel,
      bootOrder: attachment.boot_order,
      // A library cdrom is attached by its own uuid (it is no drive of the account's).
      media: drive?.doc.media ?? (await libraryMedia(tx, attachment.drive)) ?? 'disk',
    });
  }
  return {
    uuid: server.uuid,
    name: server.name,
    cpu: server.cpu,
    mem: server.mem,
    smp: server.smp,
    vncPassword: server.vnc_password,
    context: server.context,
    drives,
    nics: server.nics.map((nic) => ({
      mac: nic.mac,
      model: nic.model,
      bootOrder: nic.boot_order,
      vlan: nic.vlan,
      ipv4: nic.ip_v4_conf?.conf === 'static' ? nic.ip_v4_conf.ip : null,
    })),
  };
}

const ZERO_NIC_IO = { bytes_recv: 0, bytes_sent: 0, packets_recv: 0, packets_sent: 0 };
const ZERO_DRIVE_IO = {
  bytes_read: 0,
  bytes_written: 0,
  count_flush: 0,
  count_read: 0,
  count_written: 0,
  total_time_ns_flush: 0,
  total_time_ns_read: 0,
  total_time_ns_write: 0,
};

/** `running`, with the runtime of the server, its NICs (addresses leased now) and its drives. */
async function markRunning(
  ctx: EngineContext,
  tx: WriteTx,
  server: Loaded<ServerDoc>,
  activeSince: number,
): Promise<void> {
  const { doc } = server;
  // Reserved when the start was accepted (a restart reserves them again here).
  const dhcp = doc.nics.filter((nic) => nic.ip_v4_conf?.conf === 'dhcp').length;
  const addresses = await reserveAddresses(tx, ctx.ips, doc.uuid, dhcp, ctx.random);
  const nics: NicDoc[] = [];
  for (const nic of doc.nics) {
    let address: string | null = null;
    if (nic.ip_v4_conf?.conf === 'dhcp') address = addresses.shift() ?? null;
    else if (nic.ip_v4_conf?.conf === 'static') address = nic.ip_v4_conf.ip;
    nics.push({
      ...nic,
      runtime: {
        interface_type: nic.vlan === null ? 'public' : 'private',
        io: { ...ZERO_NIC_IO },
        ip_v4: address,
        ip_v6: null,
      },
    });
  }
  doc.nics = nics;
  // `/ips/` lists the leased addresses while the server runs.
  await recordDynamicAddresses(tx, doc, ctx.ips);
  doc.drives = doc.drives.map((attachment) => ({
    ...attachment,
    runtime: { io: { ...ZERO_DRIVE_IO } },
  }));
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
  tx: WriteTx,
  server: Loaded<ServerDoc>,
  action: 'boot' | 'stop',
): Promise<void> {
  const { owner, uuid } = server.doc;
  return appendLog(tx, ctx, { owner, category: 'Servers', action, target: uuid });
}

const serverStart: TaskHandler = async (task, ctx) => {
  const spec = await ctx.store.read(async (tx) => {
    const server = await loadServer(tx, task.target);
    return server?.doc.status === 'starting' ? machineSpec(tx, server.doc) : undefined;
  });
  if (!spec) return dropTask(ctx, task);
  const { activeSince } = await ctx.compute.start(spec);
  await finishServer(ctx, task, ['starting'], async (tx, server) => {
    await markRunning(ctx, tx, server, activeSince);
    await logStep(ctx, tx, server, 'boot');
  });
};

const serverStop: TaskHandler = async (task, ctx) => {
  if (!(await serverIn(ctx, task.target, ['stopping']))) return dropTask(ctx, task);
  await ctx.compute.stop(task.target);
  await finishServer(ctx, task, ['stopping'], async (tx, server) => {
    await markStopped(tx, server);
    await logStep(ctx, tx, server, 'stop');
  });
};

/** ACPI: `stopping`, then `stopped` if the guest powers off in time, else back to `running`. */
const serverShutdown: TaskHandler = async (task, ctx) => {
  if (!(await serverIn(ctx, task.target, ['stopping']))) return dropTask(ctx, task);
  const { timeoutMs } = JSON.parse(task.payload) as ShutdownPayload;
  const off = await ctx.compute.shutdown(task.target, timeoutMs);
  await finishServer(ctx, task, ['stopping'], async (tx, server) => {
    if (off) {
      await markStopped(tx, server);
      await logStep(ctx, tx, server, 'stop');
    } else server.doc.status = 'running';
  });
};

/** Stop then start: `stopping`, `starting`, `running` with a new `active_since`. */
const serverRestart: TaskHandler = async (task, ctx) => {
  const before = await serverIn(ctx, task.target, ['stopping', 'starting']);
  if (!before) return dropTask(ctx, task);
  if (before.doc.status === 'stopping') {
    await ctx.compute.stop(task.target);
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

/** A drive's transitional status ends: back to `mounted`/`unmounted` by its attachments. */
function settle(drive: DriveDoc): void {
  drive.status = 'unmounted';
  drive.status = settledStatus(drive);
}

async function finishDrive(
  ctx: EngineContext,
  task: Task,
  statuses: readonly DriveStatus[],
): Promise<void> {
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    const drive = await loadDrive(tx, task.target);
    if (!drive || !statuses.includes(drive.doc.status)) return;
    settle(drive.doc);
    await saveDrive(tx, drive);
  });
}

async function driveIn(ctx: EngineContext, uuid: string, statuses: readonly DriveStatus[]) {
  return ctx.store.read(async (tx) => {
    const drive = await loadDrive(tx, uuid);
    return drive && statuses.includes(drive.doc.status) ? drive : undefined;
  });
}

const driveCreate: TaskHandler = async (task, ctx) => {
  const drive = await driveIn(ctx, task.target, ['creating']);
  if (!drive) return dropTask(ctx, task);
  await ctx.storage.create(drive.doc.uuid, drive.doc.size);
  await finishDrive(ctx, task, ['creating']);
};

const driveResize: TaskHandler = async (task, ctx) => {
  const drive = await driveIn(ctx, task.target, ['resizing']);
  if (!drive) return dropTask(ctx, task);
  await ctx.storage.resize(drive.doc.uuid, drive.doc.size);
  await finishDrive(ctx, task, ['resizing']);
};

/** Marks a job (and its copy inside its parent) finished or advanced. */
async function updateJob(
  tx: WriteTx,
  uuid: string,
  now: number,
  change: (job: JobDoc) => void,
): Promise<void> {
  const job = await loadJob(tx, uuid);
  if (!job) return;
  change(job.doc);
  job.doc.last_modified = isoTime(now);
  await saveJob(tx, job);
}

/** The copy is done: the new drive settles, the source goes back, the job succeeds. */
async function finishCopy(
  ctx: EngineContext,
  tx: WriteTx,
  copy: { source: string; target: string; job: string },
): Promise<void> {
  const now = ctx.clock.now();
  const target = await loadDrive(tx, copy.target);
  if (target?.doc.status === 'cloning_dst') {
    settle(target.doc);
    await saveDrive(tx, target);
  }
  const source = await loadDrive(tx, copy.source);
  // The source may feed several copies at once; it is back when the last one is done.
  if (source?.doc.status === 'cloning_src' && !(await copiesFrom(tx, copy.source, copy.target))) {
    settle(source.doc);
    await saveDrive(tx, source);
  }
  await updateJob(tx, copy.job, now, (job) => {
    job.state = 'success';
    job.progress = 100;
  });
}

const driveClone: TaskHandler = async (task, ctx) => {
  const payload = JSON.parse(task.payload) as DriveClonePayload;
  const target = await driveIn(ctx, task.target, ['cloning_dst']);
  if (!target) return dropTask(ctx, task);
  await ctx.storage.clone(payload.source, task.target, target.doc.size);
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    await finishCopy(ctx, tx, { source: payload.source, target: task.target, job: payload.job });
  });
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

export const TASK_HANDLERS: Record<string, TaskHandler> = {
  [TASKS.serverStart]: serverStart,
  [TASKS.serverStop]: serverStop,
  [TASKS.serverShutdown]: serverShutdown,
  [TASKS.serverRestart]: serverRestart,
  [TASKS.serverClone]: serverClone,
  [TASKS.driveCreate]: driveCreate,
  [TASKS.driveResize]: driveResize,
  [TASKS.driveClone]: driveClone,
};
