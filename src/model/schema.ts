/** Renders a resource declaration as tastypie's `/schema/` document. */
import type { FieldDef, Fields, ResourceDef } from './fields.js';
import { NO_DEFAULT, RENDER_TIME } from './fields.js';
import type { JsonObject } from './json.js';

export function renderSchema(def: ResourceDef): JsonObject {
  const schema: JsonObject = {
    allowed_detail_http_methods: [...def.allowedDetailMethods],
    allowed_list_http_methods:
      typeof def.allowedListMethods === 'string'
        ? def.allowedListMethods
        : [...def.allowedListMethods],
    default_format: 'application/json',
    default_limit: def.defaultLimit ?? 20,
    fields: renderFields(def.fields, def.schemaOmitsRequired ?? false),
  };
  if (def.filtering) schema.filtering = { ...def.filtering };
  if (def.ordering) schema.ordering = [...def.ordering];
  return schema;
}

function renderFields(fields: Fields, omitRequired: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [name, field] of Object.entries(fields)) out[name] = renderField(field, omitRequired);
  return out;
}

function renderField(field: FieldDef, omitRequired: boolean): JsonObject {
  const out: JsonObject = {
    default:
      field.default === undefined || field.default === NO_DEFAULT
        ? NO_DEFAULT_TEXT
        : field.default === RENDER_TIME
          ? STARTED
          : field.default,
    help_text: field.help,
    readonly: field.readonly ?? false,
    type: field.type,
  };
  if (!omitRequired) out.required = field.required ?? false;
  if (field.choices && !field.schemaHidesChoices) out.choices = [...field.choices];
  if (field.fields) out.fields = renderFields(field.fields, omitRequired);
  if (field.schemaExtra) Object.assign(out, field.schemaExtra);
  return out;
}

const NO_DEFAULT_TEXT = 'No default provided.';

/**
 * What a `RENDER_TIME` default shows: tastypie renders the time of the request; this is the time
 * the process started, in the same form (Python's `isoformat()`: microseconds, `+00:00`), so that
 * the schema is the same from one answer to the next.
 */
const STARTED = new Date().toISOString().replace(/Z$/, '000+00:00');
