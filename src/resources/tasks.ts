/**
 * Every task type the resources give the engine, in one place (the handlers are beside their
 * resources: `servers/lifecycle.ts`, `drives/lifecycle.ts`, `snapshots/lifecycle.ts`,
 * `billing/subscriptions.ts`; the test control's in `control/tasks.ts`).
 */
export const TASKS = {
  serverStart: 'server.start',
  serverStop: 'server.stop',
  serverShutdown: 'server.shutdown',
  serverRestart: 'server.restart',
  serverClone: 'server.clone',
  serverForget: 'server.forget',
  driveCreate: 'drive.create',
  driveResize: 'drive.resize',
  driveClone: 'drive.clone',
  driveRemove: 'drive.remove',
  snapshotCreate: 'snapshot.create',
  snapshotClone: 'snapshot.clone',
  policyApply: 'policy.apply',
  subscriptionEnd: 'subscription.end',
} as const;
