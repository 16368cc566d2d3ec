/**
 * The audit log's ear on the API: an outcome listener (`http/api.ts`) that turns each request
 * that acts or changes something into entries, success or error, appended to the store once the
 * handler is done (committed before the answer goes out). GETs write nothing.
 *
 * Entries name CloudSigma's actions: `create`, `update`, `delete` per object (bulk requests give
 * one entry per object), `start_send`, `stop_send`, `shutdown_ACPI_send` for power actions the
 * engine then finishes (`boot`, `stop`: `engine/tasks.ts`), `clone_src` and `clone_dst` for a
 * clone, `upload` for an image upload or chunk, and the `do=` name for any other action.
 */

import type { Clock } from '../../engine/clock.js';
import { actionName } from '../../http/actions.js';
import type { ApiOutcome, ApiResult, OutcomeListener } from '../../http/api.js';
import { withoutSecrets } from '../../http/redact.js';
import { isPlainObject } from '../../model/json.js';
import type { Random } from '../../model/random.js';
import type { Store } from '../../store/types.js';
import { pythonJson } from '../context/pyjson.js';
import { type LogEntry, logRecord, newLog } from './model.js';

/** Requests that are about the session, not the account's resources. */
const UNLOGGED = new Set(['accounts', 'logs']);

/** Collections whose one URL is the object (a POST there replaces it). */
const SINGLETONS = new Set(['profile', 'global_context']);

const CATEGORIES: Record<string, string> = {
  acls: 'ACLs',
  fwpolicies: 'Firewall policies',
  global_context: 'Global context',
  initupload: 'Drives',
  ips: 'IPs',
  libdrives: 'Library drives',
  vlans: 'VLANs',
};

/** Power actions the API only starts: the engine's entry says when they are done. */
const SENT: Record<string, string> = {
  start: 'start_send',
  stop: 'stop_send',
  shutdown: 'shutdown_ACPI_send',
  restart: 'restart_send',
};

/** `details` longer than this are cut: a PUT of a whole server is kilobytes. */
export const DETAILS_MAX = 4096;

export function auditRecorder(env: {
  store: Store;
  clock: Clock;
  random: Random;
}): OutcomeListener {
  return (outcome) => {
    if (outcome.ctx.method === 'GET') return undefined;
    const entries = entriesOf(outcome);
    if (entries.length === 0) return undefined;
    return env.store.append(entries.map((entry) => logRecord(newLog(env, entry))));
  };
}

/** What one request is, as audit entries. */
export function entriesOf(outcome: ApiOutcome): LogEntry[] {
  const { ctx, route, result, error } = outcome;
  const segments = route.split('/').filter((s) => s !== '');
  const kind = segments[0];
  if (kind === undefined || UNLOGGED.has(kind)) return [];
  const base = {
    owner: ctx.principal.uuid,
    category: categoryOf(kind),
    ...(error ? { error: { type: error.type, point: error.point, message: error.message } } : {}),
  };
  const target = ctx.params.uuid ?? '';
  // An object the caller cannot see is no target: a foreign uuid is logged as a missing one is.
  const missing = error?.type === 'notexist';
  const entry = (action: string, uuid: string, details = ''): LogEntry => ({
    ...base,
    action,
    target: missing ? '' : uuid,
    details,
  });

  if (segments.at(-1) === 'action') {
    const name = actionName(ctx.query) ?? '';
    if (name === 'clone') {
      const copy = result ? uuidsOf(result)[0] : undefined;
      return [entry('clone_src', target), ...(copy ? [entry('clone_dst', copy)] : [])];
    }
    return [entry(SENT[name] ?? name, target)];
  }
  if (SINGLETONS.has(kind)) return [entry('update', '', details(ctx.body))];
  // Image uploads (`/drives/upload/[name]`, a chunk to `/drives/{uuid}/upload/`): `upload` of the
  // drive, whose uuid a raw upload answers.
  if (kind === 'drives' && (segments[1] === 'upload' || segments[2] === 'upload')) {
    const created = result ? uuidsOf(result)[0] : undefined;
    return [entry('upload', ctx.params.uuid ?? created ?? '')];
  }

  const onCollection = segments.length === 1;
  switch (ctx.method) {
    case 'POST': {
      if (!onCollection) return [entry('create', target, details(ctx.body))];
      const items = itemsOf(ctx.body);
      const created = result ? uuidsOf(result) : [];
      return items.map((item, i) => entry('create', created[i] ?? '', details(item)));
    }
    case 'PUT':
      if (!onCollection) return [entry('update', target, details(ctx.body))];
      return itemsOf(ctx.body).map((item) =>
        entry('update', isPlainObject(item) ? String(item.uuid ?? '') : '', details(item)),
      );
    case 'DELETE':
      if (!onCollection) return [entry('delete', target)];
      return itemsOf(ctx.body).map((item) =>
        entry(
          'delete',
          typeof item === 'string' ? item : isPlainObject(item) ? String(item.uuid ?? '') : '',
        ),
      );
    default:
      return [];
  }
}

function categoryOf(kind: string): string {
  return CATEGORIES[kind] ?? `${kind[0]!.toUpperCase()}${kind.slice(1).replaceAll('_', ' ')}`;
}

/** The objects of a body, in the shapes POST, bulk PUT and bulk DELETE take (at least one). */
function itemsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body.length > 0 ? body : [undefined];
  if (isPlainObject(body) && Array.isArray(body.objects)) {
    return body.objects.length > 0 ? body.objects : [undefined];
  }
  return [body];
}

/** The uuids of the objects an answer carries (`{"objects": [...]}` or one object). */
function uuidsOf(result: ApiResult): readonly string[] {
  if (result.type === 'object' && result.uuids) return result.uuids;
  if (result.type === 'raw') return result.uuids ?? [];
  let body: unknown;
  try {
    if (result.type === 'object') body = JSON.parse(result.json.toString());
    else if (result.type === 'value') body = result.body;
  } catch {
    return [];
  }
  const objects = isPlainObject(body) && Array.isArray(body.objects) ? body.objects : [body];
  return objects.flatMap((o) => (isPlainObject(o) && typeof o.uuid === 'string' ? [o.uuid] : []));
}

function details(value: unknown): string {
  if (value === undefined) return '';
  // No secret-named key at any depth (vnc_password, private_key, passwords, tokens): the audit
  // log is kept for ever and shown to the account.
  const text = pythonJson(withoutSecrets(value));
  return text.length > DETAILS_MAX ? text.slice(0, DETAILS_MAX) : text;
}
