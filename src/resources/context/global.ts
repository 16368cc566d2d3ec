/**
 * The global context (api-reference.md §5.9): one flat dict per account, shown to every server
 * in its context as `global_context`. `GET /global_context/` reads it; `POST` replaces it whole
 * and answers 200 with it. It is an object of kind `global_context` whose uuid is derived from the
 * account's, so there is at most one and an account reset takes it away with the rest.
 */
import { createHash } from 'node:crypto';
import { errors } from '../../errors.js';
import type { RouteSpec } from '../../http/api.js';
import { canonicalJson, isPlainObject } from '../../model/json.js';
import type { NewRecord, ReadTx, Store } from '../../store/types.js';

export const GLOBAL_CONTEXT_KIND = 'global_context';

export type GlobalContext = Record<string, string | number | boolean | null>;

/** The uuid of an account's global context: a fixed function of the account's uuid. */
export function globalContextId(account: string): string {
  const hex = createHash('sha256').update(`sigmalite:global_context:${account}`).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export async function readGlobalContext(tx: ReadTx, account: string): Promise<GlobalContext> {
  const record = await tx.get(globalContextId(account));
  if (record?.kind !== GLOBAL_CONTEXT_KIND || record.owner !== account) return {};
  return JSON.parse(record.doc) as GlobalContext;
}

/** Keys are as free as the guest's paths can name them; values are scalars (it is flat). */
export function checkGlobalContext(body: unknown): GlobalContext {
  if (!isPlainObject(body)) throw errors.invalid(null, 'The global context is a JSON object');
  for (const [key, value] of Object.entries(body)) {
    if (key === '' || key.includes('/')) {
      throw errors.invalid(key, 'Global context keys must be non-empty and contain no "/"');
    }
    if (value !== null && typeof value === 'object') {
      throw errors.invalid(
        key,
        'The global context is flat: values are strings, numbers, booleans or null',
      );
    }
  }
  return body as GlobalContext;
}

function globalContextRecord(account: string, context: GlobalContext): NewRecord {
  const detail = canonicalJson(context);
  return {
    kind: GLOBAL_CONTEXT_KIND,
    uuid: globalContextId(account),
    owner: account,
    name: '',
    status: null,
    doc: JSON.stringify(context),
    detail,
    summary: detail,
  };
}

export function globalContextRoutes(env: { store: Store }): RouteSpec[] {
  return [
    {
      path: '/global_context/',
      handlers: {
        GET: async (ctx) => {
          const view = await env.store.getDetail(globalContextId(ctx.principal.uuid));
          const mine = view?.kind === GLOBAL_CONTEXT_KIND && view.owner === ctx.principal.uuid;
          return { type: 'object', json: mine ? view.detail : '{}' };
        },
        POST: async (ctx) => {
          const context = checkGlobalContext(ctx.body);
          const account = ctx.principal.uuid;
          const record = globalContextRecord(account, context);
          await env.store.write(async (tx) => {
            // Two first POSTs at once: the second waits here for the first, then updates.
            await tx.claim(GLOBAL_CONTEXT_KIND, record.uuid, record.uuid);
            const stored = await tx.get(record.uuid);
            if (stored) await tx.update({ ...record, version: stored.version });
            else await tx.insert(record);
          });
          return { type: 'object', json: record.detail };
        },
      },
    },
  ];
}
