/**
 * The OpenAPI 3.1 document (`/api/2.0/openapi.json`), generated from the route table and the same
 * resource declarations that read requests and render `/schema/`, so that it cannot drift from
 * either. Collection routes follow the API's conventions: `/{kind}/` lists (plain view) and
 * creates, `/{kind}/detail/` lists (full view), `/{kind}/schema/`, `/{kind}/{uuid}/`,
 * `/{kind}/{uuid}/action/`.
 */
import type { Method, RouteResource, RouteSpec } from '../http/api.js';
import type { FieldDef, Fields, ResourceDef } from '../model/fields.js';
import { API_PREFIX } from '../model/refs.js';

type Schema = Record<string, unknown>;

const LINK: Schema = {
  type: 'object',
  properties: { resource_uri: { type: 'string' }, uuid: { type: 'string' } },
  required: ['resource_uri', 'uuid'],
};

const ERROR: Schema = {
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

/** Whether a field may be null in what the API renders (most references and optional values). */
function nullable(field: FieldDef): boolean {
  return (
    field.nullable === true ||
    field.default === null ||
    (field.type === 'related' && field.shape !== 'many')
  );
}

function orNull(schema: Schema, field: FieldDef): Schema {
  return nullable(field) ? { anyOf: [schema, { type: 'null' }] } : schema;
}

/** The JSON Schema of one field as the API renders it (output) or reads it (input). */
export function fieldSchema(field: FieldDef, mode: 'output' | 'input'): Schema {
  const doc = { description: field.help, ...(field.readonly ? { readOnly: true } : {}) };
  if (field.type === 'related') {
    let item: Schema;
    if (field.fields) item = objectSchema(field.fields, mode, false);
    else if (mode === 'output') item = LINK;
    else
      item = {
        anyOf: [
          { type: 'string' },
          {
            type: 'object',
            properties: { uuid: { type: 'string' }, resource_uri: { type: 'string' } },
          },
        ],
      };
    if (field.shape === 'many') return { type: 'array', items: item, ...doc };
    return { ...orNull(item, field), ...doc };
  }
  let schema: Schema;
  switch (field.type) {
    case 'integer':
      schema = { type: 'integer' };
      break;
    case 'boolean':
      schema = { type: 'boolean' };
      break;
    case 'dict':
      schema = { type: 'object' };
      break;
    case 'list':
      schema = { type: 'array', ...(field.choices ? { items: { enum: [...field.choices] } } : {}) };
      break;
    case 'decimal':
      schema = mode === 'input' ? { type: ['string', 'number'] } : { type: 'string' };
      break;
    case 'datetime':
      schema = { type: 'string' };
      break;
    default:
      schema = { type: 'string', ...(field.choices ? { enum: [...field.choices] } : {}) };
  }
  if (field.type === 'integer' && mode === 'input') schema = { type: ['integer', 'string'] };
  return { ...orNull(schema, field), ...doc };
}

function objectSchema(fields: Fields, mode: 'output' | 'input', top: boolean): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(fields)) {
    if (mode === 'input' && field.readonly) continue;
    properties[name] = fieldSchema(field, mode);
    if (mode === 'input' && top && field.required && !field.optionalOnInput) required.push(name);
  }
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}

function listOf(item: Schema): Schema {
  return {
    type: 'object',
    properties: {
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
    description: 'Comma-separated keys to keep',
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

/** The operation of `method` on `path`, described from the resource the route serves. */
function operation(
  path: string,
  method: Method,
  resource: RouteResource | undefined,
  isPublic: boolean,
): Operation {
  const def = resource?.def;
  const kind = path.split('/')[1] ?? '';
  const tags = [kind];
  const errors = {
    '400': json(ERROR, 'Validation error'),
    '401': json(ERROR, 'Not authenticated'),
    '403': json(ERROR, 'Not allowed'),
    '404': json(ERROR, 'No such object'),
  };
  const detail = def ? { $ref: `#/components/schemas/${schemaName(def)}` } : { type: 'object' };
  const summary = def?.listFields
    ? { $ref: `#/components/schemas/${schemaName(def)}List` }
    : detail;
  const input = def ? { $ref: `#/components/schemas/${schemaName(def)}Input` } : { type: 'object' };
  const base = { tags, ...(isPublic ? { security: [] } : {}) };
  const uuidParameter = { name: 'uuid', in: 'path', required: true, schema: { type: 'string' } };
  const parameters = path.includes('{uuid}') ? [uuidParameter] : [];
  if (path.endsWith('/action/')) {
    return {
      ...base,
      summary: `Action on ${path} (\`?do=...\`)`,
      parameters: [
        ...parameters,
        { name: 'do', in: 'query', required: true, schema: { type: 'string' } },
      ],
      requestBody: {
        required: false,
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      responses: { '200': json({}), '202': json({}, 'Accepted'), ...errors },
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
          parameters: LIST_PARAMETERS,
          responses: {
            '200': json(listOf(path.endsWith('/detail/') ? detail : summary)),
            ...errors,
          },
        };
      }
      return {
        ...base,
        summary: `Get ${path}`,
        parameters,
        responses: { '200': json(isObject ? detail : {}), ...errors },
      };
    case 'POST':
      return {
        ...base,
        summary: isList ? `Create ${kind} (one or many)` : `POST ${path}`,
        parameters,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: isList
                ? {
                    anyOf: [
                      { type: 'object', properties: { objects: { type: 'array', items: input } } },
                      { type: 'array', items: input },
                      input,
                    ],
                  }
                : { type: 'object' },
            },
          },
        },
        responses: isList
          ? {
              '201': json(
                { type: 'object', properties: { objects: { type: 'array', items: detail } } },
                'Created',
              ),
              ...errors,
            }
          : { '200': json({}), ...errors },
      };
    case 'PUT':
      return {
        ...base,
        summary: isObject ? `Update ${kind} (a top-level merge)` : `PUT ${path}`,
        parameters,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: isObject ? input : { type: 'object' } } },
        },
        responses: { '200': json(isObject ? detail : {}), ...errors },
      };
    case 'DELETE':
      return {
        ...base,
        summary: `Delete ${isList ? `several ${kind}` : path}`,
        parameters,
        responses: { '204': { description: 'Deleted' }, ...errors },
      };
  }
}

function schemaName(def: ResourceDef): string {
  return def.kind
    .split(/[^a-z0-9]+/i)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
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

export function buildOpenApi(routes: readonly RouteSpec[], info: OpenApiInfo) {
  const defs = [
    ...new Map(
      routes.flatMap((r) => (r.resource ? [[r.resource.def.kind, r.resource.def] as const] : [])),
    ).values(),
  ];
  const paths: Record<string, Record<string, Operation>> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    const entry: Record<string, Operation> = {};
    for (const method of Object.keys(route.handlers) as Method[]) {
      entry[method.toLowerCase()] = operation(path, method, route.resource, route.public === true);
    }
    paths[path] = { ...paths[path], ...entry };
  }
  const schemas: Record<string, Schema> = {};
  for (const def of defs) {
    const name = schemaName(def);
    schemas[name] = objectSchema(def.fields, 'output', true);
    schemas[`${name}Input`] = objectSchema(def.fields, 'input', true);
    if (def.listFields) {
      const full = objectSchema(def.fields, 'output', true) as {
        properties: Record<string, Schema>;
      };
      schemas[`${name}List`] = {
        type: 'object',
        properties: Object.fromEntries(
          def.listFields.map((key) => [key, full.properties[key] ?? {}]),
        ),
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'CloudSigma REST API 2.0 (sigmalite)',
      version: info.version,
      description:
        "Generated from sigmalite's resource declarations; see docs/ for what differs from CloudSigma.",
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
