/** `GET /logs/` (newest first, list conventions, `?uuid=` the target) and `/logs/schema/`. */
import type { ApiContext, ApiResult, RouteSpec } from '../../http/api.js';
import { all, readPaging, splitValues } from '../../http/query.js';
import { renderSchema } from '../../model/schema.js';
import type { Filter, ListPage, ListQuery, ReadTx, Store } from '../../store/types.js';
import { LOG_KIND, LOGS } from './model.js';

export function logRoutes(env: { store: Store }): RouteSpec[] {
  const list = async (ctx: ApiContext): Promise<ApiResult> => {
    const paging = readPaging(ctx.query, LOGS.defaultLimit ?? 20);
    // `uuid` names the object acted on, which the entry's record keeps as its name.
    const filters: Filter[] = all(ctx.query, 'uuid').map((text) => ({
      column: 'name',
      op: 'exact',
      values: splitValues(text),
    }));
    const page = await env.store.read((tx) =>
      newestFirst(
        (query) => tx.list(query),
        { kind: LOG_KIND, owner: ctx.principal.uuid, filters, view: 'detail' },
        paging,
      ),
    );
    return { type: 'list', total: page.total, ...paging, items: page.items };
  };
  return [
    { path: '/logs/', handlers: { GET: list }, resource: { def: LOGS, as: 'list' } },
    {
      path: '/logs/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(LOGS) }) },
    },
  ];
}

/**
 * A page of the newest entries first. The store lists in creation order; the page is the
 * matching window from the end, reversed (the total first, then the window, in one transaction).
 */
async function newestFirst(
  list: ReadTx['list'],
  base: Omit<ListQuery, 'limit' | 'offset'>,
  paging: { limit: number; offset: number },
): Promise<ListPage> {
  const { total } = await list({ ...base, limit: 1, offset: 0 });
  const end = total - paging.offset;
  if (end <= 0) return { total, items: [] };
  const start = paging.limit === 0 ? 0 : Math.max(0, end - paging.limit);
  const page = await list({ ...base, limit: end - start, offset: start });
  return { total, items: [...page.items].reverse() };
}
