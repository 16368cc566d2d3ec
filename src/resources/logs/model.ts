/**
 * The audit log (`/logs/`, api-reference.md §5): one entry per API action or change and per
 * lifecycle step the engine completes, with its outcome. Entries are objects of kind `logs`
 * owned by the account; the record's `name` column holds the target's uuid (so `?uuid=` filters
 * on it) and `status` the action. The store's `fingerprint()` leaves them out: a rejected request
 * changes no state, yet it is logged.
 */
import type { Clock } from '../../engine/clock.js';
import type { ResourceDef } from '../../model/fields.js';
import type { Random } from '../../model/random.js';
import type { NewRecord, WriteTx } from '../../store/types.js';
import { userLink } from '../common.js';

export const LOG_KIND = 'logs';

export interface LogDoc {
  /** The record's own key (never shown: `uuid` is the target). */
  id: string;
  owner: string;
  actor: string;
  action: string;
  category: string;
  details: string;
  success: boolean;
  error_type: string | null;
  error_point: string | null;
  error_message: string;
  /** `2014-06-05 09:40:29.833850+00:00`, as the recorded entries. */
  timestamp: string;
  /** The uuid of the object acted on; `''` when there is none. */
  target: string;
}

const field = (
  type: 'string' | 'related' | 'boolean',
  help: string,
  required: boolean,
  defaultValue: boolean | null = null,
) => ({ type, help, default: defaultValue, readonly: false, required });

/** As `response_audit_log_schema` shows it (fields not read-only, though nothing writes them). */
export const LOGS: ResourceDef = {
  kind: LOG_KIND,
  allowedListMethods: ['get'],
  allowedDetailMethods: [],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  fields: {
    action: field('string', 'Name of the executed action', true),
    actor: field('related', 'User who executed action.', false),
    category: field('string', 'Category the action belongs to.', true),
    details: field('string', 'Details about the executed action.', false),
    error_message: field('string', 'Error message, if applicable.', false),
    // Null when the action succeeded.
    error_point: {
      ...field('string', 'The field that caused the error, if applicable.', false),
      output: { nullable: true },
    },
    error_type: {
      ...field('string', 'Type of error, if applicable.', false),
      output: { nullable: true },
    },
    success: field('boolean', 'Whether the action was successful.', true, true),
    timestamp: field('string', 'Time when entry was added.', true),
    uuid: field(
      'string',
      'The uuid of resource the action is executed on. Can be empty, meaning no resource is referenced.',
      false,
    ),
  },
};

export function renderLog(entry: LogDoc): Record<string, unknown> {
  return {
    action: entry.action,
    actor: userLink(entry.actor),
    category: entry.category,
    details: entry.details,
    error_message: entry.error_message,
    error_point: entry.error_point,
    error_type: entry.error_type,
    success: entry.success,
    timestamp: entry.timestamp,
    uuid: entry.target,
  };
}

/** What an entry says; who, when and its key are filled in by `appendLog`. */
export interface LogEntry {
  owner: string;
  /** Who acted (the engine acts for the owner). */
  actor?: string;
  category: string;
  action: string;
  target: string;
  details?: string;
  error?: { type: string; point: string | null; message: string };
}

/** Writes one entry inside `tx` (the engine's, so it commits with the step it records). */
export async function appendLog(
  tx: WriteTx,
  deps: { clock: Clock; random: Random },
  entry: LogEntry,
): Promise<void> {
  await tx.insert(logRecord(newLog(deps, entry)));
}

export function newLog(deps: { clock: Clock; random: Random }, entry: LogEntry): LogDoc {
  return {
    id: deps.random.uuid(),
    owner: entry.owner,
    actor: entry.actor ?? entry.owner,
    action: entry.action,
    category: entry.category,
    details: entry.details ?? '',
    success: entry.error === undefined,
    error_type: entry.error?.type ?? null,
    error_point: entry.error?.point ?? null,
    error_message: entry.error?.message ?? '',
    timestamp: logTime(deps.clock.now()),
    target: entry.target,
  };
}

export function logRecord(entry: LogDoc): NewRecord {
  // `renderLog` writes its keys in canonical (sorted) order, so the native serialiser gives the
  // canonical bytes, faster (model.test.ts holds it to that); every request writes an entry.
  const detail = JSON.stringify(renderLog(entry));
  return {
    kind: LOG_KIND,
    uuid: entry.id,
    owner: entry.owner,
    name: entry.target,
    status: entry.action,
    doc: JSON.stringify(entry),
    detail,
    summary: detail,
  };
}

/** `YYYY-MM-DD HH:MM:SS.ffffff+00:00` (microseconds, as the recorded entries). */
export function logTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000+00:00`;
}
