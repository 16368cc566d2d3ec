/** Commits reach other processes as notifications on the schema's channel (`LISTEN`). */
import type { CommittedChange } from '../types.js';

/** PostgreSQL's limit on a notification's payload is 8000 bytes; some room is kept. */
const NOTIFY_MAX_BYTES = 7500;

/**
 * Notification payloads (PostgreSQL caps one at 8000 bytes): changes without the rendered
 * objects, which listeners in other processes read when they need them, in chunks.
 */
export function notificationPayloads(from: string, changes: readonly CommittedChange[]): string[] {
  const slim = changes.map((change) =>
    change.op === 'put'
      ? { op: change.op, kind: change.kind, uuid: change.uuid, owner: change.owner }
      : change,
  );
  // Changes are small (a removal may name its grantees): as many as fit in a payload.
  const payloads: string[] = [];
  const head = `{"from":${JSON.stringify(from)},"changes":[`;
  let batch: string[] = [];
  let size = head.length;
  for (const change of slim) {
    const text = JSON.stringify(change);
    if (batch.length > 0 && size + text.length + 3 > NOTIFY_MAX_BYTES) {
      payloads.push(`${head}${batch.join(',')}]}`);
      batch = [];
      size = head.length;
    }
    batch.push(text);
    size += text.length + 1;
  }
  if (batch.length > 0) payloads.push(`${head}${batch.join(',')}]}`);
  return payloads;
}

/** A notification as processes send and hear it. */
export interface Note {
  from: string;
  changes: CommittedChange[];
  /** Accounts whose credentials changed (their cached versions go). */
  accounts?: string[];
  /** Grants were written (the caches' "anything granted to this account" answers go). */
  grants?: true;
  /** Everything changed (a restore, an account removed with what it owned): caches start again. */
  all?: true;
}

/** The note of a credential change. */
export function accountNote(from: string, account: string): string {
  return JSON.stringify({ from, changes: [], accounts: [account] } satisfies Note);
}

/** The note that drops every process's read cache. */
export function everythingNote(from: string): string {
  return JSON.stringify({ from, changes: [], all: true } satisfies Note);
}

/** The note of a transaction that wrote grants. */
export function grantsNote(from: string): string {
  return JSON.stringify({ from, changes: [], grants: true } satisfies Note);
}
