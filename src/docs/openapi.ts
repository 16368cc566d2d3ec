/**
 * The OpenAPI 3.1 document (`/api/2.0/openapi.json`), generated from the route table and the same
 * resource declarations that read requests and render `/schema/`, so that it cannot drift from
 * either (`docs/openapi.md`). Collection routes follow the API's conventions: `/{kind}/` lists
 * (plain view) and creates, `/{kind}/detail/` lists (full view), `/{kind}/schema/`,
 * `/{kind}/{uuid}/`, `/{kind}/{uuid}/action/`.
 *
 * Response schemas describe what the API renders: a field is nullable only where it may render
 * null (`FieldDef.nullable`, or `output.nullable`), references are `{resource_uri, uuid}` links,
 * lists of references are arrays. Objects list no `required` keys and allow others: `fields=`
 * leaves keys out, and CloudSigma adds fields over time.
 */
import { actionNamesOf } from '../http/actions.js';
import type { ActionAnswer, Method, RouteSpec } from '../http/api.js';
import type { FieldDef, Fields, ResourceDef } from '../model/fields.js';
import { API_PREFIX } from '../model/refs.js';

type Schema = Record<string, unknown>;
type Mode = 'output' | 'input';

/** A reference as the API renders it. */
const LINK: Schema = {
  type: 'object',
  properties: { resource_uri: { type: 'string' }, uuid: { type: 'string' } },
  required: ['resource_uri', 'uuid'],
};

/** A reference as the API reads it: a uuid, a resource URI, or an object with either. */
const REFERENCE_INPUT: Schema = {
  anyOf: [
    { type: 'string' },
    {
      type: 'object',
      properties: { uuid: { type: 'string' }, resource_uri: { type: 'string' } },
    },
  ],
};

/** CloudSigma's error answer (`http/errors.ts`), as the `Error` component. */
const ERROR_SCHEMA: Schema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      error_point: { type: ['string', 'null'] },
      error_type: {
        enum: [
          'validation',
          'notexist',
          'backend',
          'permission',
          'database',
          'concurrency',
          'billing',
          'payment',
        ],
      },
      error_message: { type: 'string' },
    },
    required: ['error_point', 'error_type', 'error_message'],
  },
};

/** The name of a resource kind's component schema: `servers` -> `Servers`. */
export function schemaName(kind: string): string {
  return kind
    .split(/[^a-z0-9]+/i)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

const component = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const ERROR = component('Error');

/** `schema` or null: a `type` list where there is one (scalars, objects, arrays), else `anyOf`. */
function orNull(schema: Schema): Schema {
  const type = schema.type;
  if (type === undefined) return { anyOf: [schema, { type: 'null' }] };
  const out: Schema = { ...schema, type: [...(Array.isArray(type) ? type : [type]), 'null'] };
  if (Array.isArray(schema.enum)) out.enum = [...schema.enum, null];
  return out;
}

/** Whether the API may render (`output`) or accepts (`input`) null for `field`. */
function isNullable(field: FieldDef, mode: Mode): boolean {
  const accepted = field.nullable === true;
  return mode === 'input' ? accepted : (field.output?.nullable ?? accepted);
}

/** The JSON Schema of one field as the API renders it (output) or reads it (input). */
export function fieldSchema(field: FieldDef, mode: Mode): Schema {
  const doc = { description: field.help, ...(field.readonly ? { readOnly: true } : {}) };
  const schema = valueSchema(field, mode);
  return { ...(isNullable(field, mode) ? orNull(schema) : schema), ...doc };
}

function valueSchema(field: FieldDef, mode: Mode): Schema {
  const output = mode === 'output' ? field.output : undefined;
  const choices = field.choices ?? output?.choices;
  switch (field.type) {
    case 'related': {
      const item = relatedSchema(field, mode);
      return field.shape === 'many' ? { type: 'array', items: item } : item;
    }
    case 'integer':
      // Numeric strings are read as integers (pycloudsigma sends `size` as a string).
      return mode === 'input' ? { type: ['integer', 'string'] } : { type: 'integer' };
    case 'decimal':
      // Rendered as a string, to keep its digits.
      return mode === 'input' ? { type: ['string', 'number'] } : { type: 'string' };
    case 'boolean':
      return { type: 'boolean' };
    case 'dict':
      if (output?.fields) return objectSchema(output.fields, mode, false);
      if (output?.values) {
        return { type: 'object', additionalProperties: objectSchema(output.values, mode, false) };
      }
      return { type: 'object' };
    case 'list': {
      const items = choices
        ? { enum: [...choices] }
        : output?.kind
          ? component(schemaName(output.kind))
          : output?.fields
            ? objectSchema(output.fields, mode, false)
            : undefined;
      return { type: 'array', ...(items ? { items } : {}) };
    }
    case 'datetime':
      return { type: 'string' };
    case 'string':
      return { type: 'string', ...(choices ? { enum: [...choices] } : {}) };
  }
}

/** A related field's object (each item's, with `shape: 'many'`). */
function relatedSchema(field: FieldDef, mode: Mode): Schema {
  if (field.fields) return objectSchema(field.fields, mode, false);
  if (mode === 'input') return REFERENCE_INPUT;
  if (field.output?.kind) return component(schemaName(field.output.kind));
  if (field.output?.fields) return objectSchema(field.output.fields, mode, false);
  return LINK;
}

/**
 * An object of `fields`. Input leaves read-only fields out and requires what a create requires
 * (nested objects are always read whole: their required fields always are).
 */
function objectSchema(fields: Fields, mode: Mode, top: boolean, create = true): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(fields)) {
    if (mode === 'input' && field.readonly) continue;
    properties[name] = fieldSchema(field, mode);
    const enforced = !top || create;
    if (mode === 'input' && enforced && field.required && !field.optionalOnInput) {
      required.push(name);
    }
  }
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}

/** The output properties of a list's extra envelope keys. */
function envelopeOf(fields: Fields | undefined): Record<string, Schema> {
  return fields ? (objectSchema(fields, 'output', false).properties as Record<string, Schema>) : {};
}

function listOf(item: Schema, envelope?: Fields): Schema {
  return {
    type: 'object',
    properties: {
      ...envelopeOf(envelope),
      meta: {
        type: 'object',
        properties: {
          limit: { type: 'integer' },
          offset: { type: 'integer' },
          total_count: { type: 'integer' },
        },
        required: ['limit', 'offset', 'total_count'],
      },
      objects: { type: 'array', items: item },
    },
    required: ['meta', 'objects'],
  };
}

/** `{"objects": [...]}`, as creates, bulk updates and some actions answer. */
function objectsOf(item: Schema, envelope?: Fields): Schema {
  return {
    type: 'object',
    properties: { ...envelopeOf(envelope), objects: { type: 'array', items: item } },
    required: ['objects'],
  };
}

/** A write body: `{"objects": [...]}`, a bare list, or one bare object. */
function bodyOf(item: Schema): Schema {
  return { anyOf: [objectsOf(item), { type: 'array', items: item }, item] };
}

const LIST_PARAMETERS = [
  {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 0 },
    description: 'Page size; 0 is everything (default 20)',
  },
  { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0 } },
  {
    name: 'fields',
    in: 'query',
    schema: { type: 'string' },
    description: 'Comma-separated keys to keep (the others are left out of each object)',
  },
  { name: 'order_by', in: 'query', schema: { type: 'string' } },
];

interface Operation {
  summary: string;
  tags: string[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
  security?: unknown[];
}

function json(schema: Schema, description = 'OK') {
  return { description, content: { 'application/json': { schema } } };
}

const ERRORS = {
  '400': json(ERROR, 'Validation error'),
  '401': json(ERROR, 'Not authenticated'),
  '403': json(ERROR, 'Not allowed'),
  '404': json(ERROR, 'No such object'),
  default: json(ERROR, 'Another error (402 billing, 405, 500, 503 concurrency or capacity)'),
};

/** The schema of one action's answer. */
function answerSchema(answer: ActionAnswer): Schema {
  switch (answer.as) {
    case 'ack':
      return {
        type: 'object',
        properties: {
          action: { type: 'string' },
          result: { const: 'success' },
          uuid: { type: 'string' },
          ...Object.fromEntries((answer.extra ?? []).map((key) => [key, { type: 'string' }])),
        },
        required: ['action', 'result', 'uuid'],
      };
    case 'object':
      return component(schemaName(answer.def.kind));
    case 'objects':
      return objectsOf(component(schemaName(answer.def.kind)));
    case 'fields':
      return objectSchema(answer.fields, 'output', false);
  }
}

/**
 * The responses of an action route: per status, the answers of its actions (`anyOf` where they
 * differ: objects are open, so an acknowledgement could also pass for a server). Acknowledgements
 * of one route are one schema, `action` naming which.
 */
function actionResponses(
  answers: Readonly<Record<string, ActionAnswer>> | undefined,
): Record<string, unknown> {
  if (!answers) return { '200': json({}), '202': json({}, 'Accepted') };
  const byStatus = new Map<number, Map<string, { schema: Schema; names: string[] }>>();
  const acks = new Map<number, { names: string[]; extra: Set<string> }>();
  for (const [name, answer] of Object.entries(answers)) {
    const status = answer.status ?? 202;
    if (answer.as === 'ack') {
      const ack = acks.get(status) ?? { names: [], extra: new Set<string>() };
      ack.names.push(name);
      for (const key of answer.extra ?? []) ack.extra.add(key);
      acks.set(status, ack);
      continue;
    }
    const schema = answerSchema(answer);
    const key = JSON.stringify(schema);
    const group = byStatus.get(status) ?? new Map();
    const entry = group.get(key) ?? { schema, names: [] };
    entry.names.push(name);
    group.set(key, entry);
    byStatus.set(status, group);
  }
  for (const [status, ack] of acks) {
    const schema = answerSchema({ as: 'ack', extra: [...ack.extra] });
    const properties = schema.properties as Record<string, Schema>;
    properties.action = { enum: ack.names };
    const group = byStatus.get(status) ?? new Map();
    group.set('ack', { schema, names: ack.names });
    byStatus.set(status, group);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    const entries = [...group.values()];
    const schema =
      entries.length === 1 ? entries[0]!.schema : { anyOf: entries.map((e) => e.schema) };
    const description = entries.map((e) => e.names.join(', ')).join('; ');
    responses[String(status)] = json(schema, description);
  }
  return responses;
}

/** The operation of `method` on a route, described from the resource or actions it serves. */
function operation(route: RouteSpec, path: string, method: Method): Operation {
  const resource = route.resource;
  const def = resource?.def;
  const kind = path.split('/')[1] ?? '';
  const base = { tags: [kind], ...(route.public ? { security: [] } : {}) };
  const name = def ? schemaName(def.kind) : undefined;
  const detail = name ? component(name) : { type: 'object' };
  const summary = def?.listFields ? component(`${name}List`) : detail;
  const create = name ? component(`${name}Input`) : { type: 'object' };
  const update = name ? component(`${name}Update`) : { type: 'object' };
  const uuidParameter = { name: 'uuid', in: 'path', required: true, schema: { type: 'string' } };
  const parameters = path.includes('{uuid}') ? [uuidParameter] : [];
  if (path.endsWith('/action/')) {
    const names = actionNamesOf(route.handlers[method]);
    return {
      ...base,
      summary: `Action on ${path} (\`?do=...\`)`,
      parameters: [
        ...parameters,
        {
          name: 'do',
          in: 'query',
          required: true,
          schema: { type: 'string', ...(names ? { enum: [...names] } : {}) },
        },
      ],
      requestBody: {
        required: false,
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      responses: { ...actionResponses(route.actions), ...ERRORS },
    };
  }
  if (path.endsWith('/schema/')) {
    return {
      ...base,
      summary: `Schema of ${kind}`,
      responses: { '200': json({ type: 'object' }) },
    };
  }
  const isList = resource?.as === 'list';
  const isObject = resource?.as === 'object';
  switch (method) {
    case 'GET':
      if (isList) {
        return {
          ...base,
          summary: `List ${kind}`,
          parameters: [...parameters, ...LIST_PARAMETERS],
          responses: {
            '200': json(listOf(path.endsWith('/detail/') ? detail : summary, resource.envelope)),
            ...ERRORS,
          },
        };
      }
      return {
        ...base,
        summary: `Get ${path}`,
        parameters,
        responses: { '200': json(isObject ? detail : {}), ...ERRORS },
      };
    case 'POST':
      return {
        ...base,
        summary: isList ? `Create ${kind} (one or many)` : `POST ${path}`,
        parameters,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: isList ? bodyOf(create) : { type: 'object' } } },
        },
        responses: isList
          ? { '201': json(objectsOf(detail, resource.envelope), 'Created'), ...ERRORS }
          : { '200': json(isObject ? detail : {}), ...ERRORS },
      };
    case 'PUT': {
      // A PUT merges into what is stored: nothing is required at the top level.
      const item = isList
        ? { allOf: [update, { type: 'object', required: ['uuid'] }] }
        : isObject
          ? update
          : { type: 'object' };
      return {
        ...base,
        summary: isList
          ? `Update several ${kind}`
          : isObject
            ? `Update ${kind} (a top-level merge)`
            : `PUT ${path}`,
        parameters,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: isList ? bodyOf(item) : item } },
        },
        responses: {
          '200': json(isList ? objectsOf(detail) : isObject ? detail : {}),
          ...ERRORS,
        },
      };
    }
    case 'DELETE':
      return {
        ...base,
        summary: `Delete ${isList ? `several ${kind}` : path}`,
        parameters,
        ...(isList
          ? {
              requestBody: {
                required: true,
                content: {
                  'application/json': {
                    schema: bodyOf({
                      anyOf: [
                        { type: 'string' },
                        { type: 'object', properties: { uuid: { type: 'string' } } },
                      ],
                    }),
                  },
                },
              },
            }
          : {}),
        responses: { '204': { description: 'Deleted' }, ...ERRORS },
      };
  }
}

export interface OpenApiInfo {
  version: string;
  /** The server URL clients use (`https://host/api/2.0`). */
  server?: string;
}

/** The OpenAPI path of a route: `/servers/:uuid/` becomes `/servers/{uuid}/`. */
export function openApiPath(routePath: string): string {
  return routePath.replace(/:([a-z_]+)/g, '{$1}');
}

/** The resource declarations the routes serve or answer with. */
function declarationsOf(routes: readonly RouteSpec[]): ResourceDef[] {
  const defs = new Map<string, ResourceDef>();
  for (const route of routes) {
    if (route.resource) defs.set(route.resource.def.kind, route.resource.def);
    for (const answer of Object.values(route.actions ?? {})) {
      if (answer.as === 'object' || answer.as === 'objects') defs.set(answer.def.kind, answer.def);
    }
  }
  return [...defs.values()];
}

export function buildOpenApi(routes: readonly RouteSpec[], info: OpenApiInfo) {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    const entry: Record<string, Operation> = {};
    for (const method of Object.keys(route.handlers) as Method[]) {
      entry[method.toLowerCase()] = operation(route, path, method);
    }
    paths[path] = { ...paths[path], ...entry };
  }
  // Input schemas only for resources something writes.
  const referenced = JSON.stringify(paths);
  const used = (name: string) => referenced.includes(`"#/components/schemas/${name}"`);
  const schemas: Record<string, Schema> = { Error: ERROR_SCHEMA };
  for (const def of declarationsOf(routes)) {
    const name = schemaName(def.kind);
    const full = objectSchema(def.fields, 'output', true);
    schemas[name] = full;
    if (used(`${name}Input`)) schemas[`${name}Input`] = objectSchema(def.fields, 'input', true);
    if (used(`${name}Update`)) {
      schemas[`${name}Update`] = objectSchema(def.fields, 'input', true, false);
    }
    if (def.listFields) {
      const properties = full.properties as Record<string, Schema>;
      schemas[`${name}List`] = {
        type: 'object',
        properties: Object.fromEntries(def.listFields.map((key) => [key, properties[key] ?? {}])),
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'CloudSigma REST API 2.0 (sigmalite)',
      version: info.version,
      description:
        "Generated from sigmalite's resource declarations (docs/openapi.md); see docs/ for what differs from CloudSigma.",
    },
    servers: [{ url: info.server ?? API_PREFIX }],
    security: [{ basic: [] }, { digest: [] }, { session: [] }],
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic' },
        digest: { type: 'http', scheme: 'digest' },
        session: { type: 'apiKey', in: 'cookie', name: 'sessionid' },
      },
      schemas,
    },
    paths,
  };
}
