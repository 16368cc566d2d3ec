import { errors } from '../../errors.js';
import type { ApiContext, RouteSpec } from '../../http/api.js';
import { readInput, unknownFields } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import { renderSchema } from '../../model/schema.js';
import type { Store } from '../../store/types.js';
import { parseDoc, toRecord, toUpdate } from '../common.js';
import type { ResourceEnv } from '../env.js';
import { newProfile, PROFILE, type ProfileDoc, profileKind } from './model.js';

/** The profile's record, created on first use if the account predates it. */
async function profileJson(store: Store, ctx: ApiContext): Promise<string> {
  const record = await store.get(ctx.principal.uuid);
  if (record?.kind === 'profile') return record.detail;
  return store.write(async (tx) => {
    const again = await tx.get(ctx.principal.uuid);
    if (again) return again.detail;
    const fresh = toRecord(
      profileKind,
      newProfile(ctx.principal.uuid, ctx.principal.email, new Date().toISOString()),
    );
    await tx.insert(fresh);
    return fresh.detail;
  });
}

export function profileRoutes(env: ResourceEnv): RouteSpec[] {
  return [
    {
      path: '/profile/',
      resource: { def: PROFILE, as: 'object' },
      handlers: {
        GET: async (ctx) => ({ type: 'object', json: await profileJson(env.store, ctx) }),
        PUT: async (ctx) => {
          if (!isPlainObject(ctx.body)) throw errors.invalid(null, 'Expected a JSON object');
          ctx.noteUnknownFields(unknownFields(PROFILE.fields, ctx.body));
          const { values } = readInput(PROFILE.fields, ctx.body, { requireAll: false });
          await profileJson(env.store, ctx);
          const json = await env.store.write(async (tx) => {
            const record = (await tx.get(ctx.principal.uuid))!;
            const doc = { ...parseDoc<ProfileDoc>(record), ...values } as ProfileDoc;
            const updated = toUpdate(profileKind, record, doc);
            await tx.update(updated);
            return updated.detail;
          });
          return { type: 'object', json };
        },
      },
    },
    {
      path: '/profile/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(PROFILE) }) },
    },
  ];
}
