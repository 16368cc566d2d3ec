/**
 * The field-description toolkit. A resource is declared once as a map of `FieldDef`s; that
 * declaration drives input reading (`model/input.ts`), `/schema/` output (`model/schema.ts`), the
 * OpenAPI document (`docs/openapi.ts`) and the docs.
 */
import type { Json } from './json.js';

export type FieldType =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'dict'
  | 'list'
  | 'related'
  | 'datetime'
  | 'decimal';

/** Rendered in `/schema/` as tastypie does: `"No default provided."`. */
export const NO_DEFAULT = Symbol('No default provided.');
/**
 * A default that is the time of the call (a Django `default=now`): tastypie's `/schema/` shows
 * the time the schema was rendered (`"2014-06-05T09:46:41.793232+00:00"`); ours shows the time
 * the process started, in that form.
 */
export const RENDER_TIME = Symbol('the time the schema is rendered');

export interface FieldDef {
  type: FieldType;
  help: string;
  /**
   * The default: what `/schema/` shows (omitted means `NO_DEFAULT`), and what reading a create
   * applies to a field the client left out (`ReadOptions.defaults`), unless `dynamicDefault`.
   */
  default?: Json | typeof NO_DEFAULT | typeof RENDER_TIME;
  /**
   * The value a create gets when the client leaves the field out depends on more than the
   * declaration (a server's `cpu_type` on the configuration, its `smp` on its `cpu`): reading
   * leaves it out and the resource computes it.
   */
  dynamicDefault?: boolean;
  readonly?: boolean;
  required?: boolean;
  /** Shown as `required` in the schema but generated when a client leaves it out (a NIC's mac). */
  optionalOnInput?: boolean;
  choices?: readonly string[];
  /**
   * `/schema/` leaves `choices` out, as tastypie does for a model field declared without them
   * whose values the API checks all the same (profile's `clone_naming`).
   */
  schemaHidesChoices?: boolean;
  /** Whether `null` is accepted on input. */
  nullable?: boolean;
  /** Nested fields of an embedded object (`shape: 'one'`) or of each list item (`shape: 'many'`). */
  fields?: Fields;
  shape?: 'one' | 'many';
  /** For references: the resource kind the uuid must belong to (`drives`, `vlans`, ...). */
  ref?: string;
  maxLength?: number;
  /** Extra keys rendered as they are in `/schema/` (tastypie model resources show these). */
  schemaExtra?: Record<string, Json>;
  /** A rule on the read value; throw an `ApiError` naming `point`. */
  check?: (value: unknown, point: string) => void;
  /** What the API renders, where the rest of the declaration does not say it (OpenAPI only). */
  output?: OutputDef;
}

/**
 * Facts about a field's rendered value that `/schema/` does not show and input does not read:
 * they make the OpenAPI document's response schemas (`docs/openapi.ts`) true to what is rendered.
 */
export interface OutputDef {
  /**
   * Whether the API may render null for it. Default: `nullable` (a field that accepts null
   * shows it); say `false` where null is accepted but never rendered, `true` for a value that is
   * null until known (a read-only one, or a reference that may be unset).
   */
  nullable?: boolean;
  /** The values it takes where the declaration has no `choices` (a status); for a list, each item's. */
  choices?: readonly string[];
  /** The rendered object's fields (each item's, for a list), where the declaration has none. */
  fields?: Fields;
  /** For a dict whose keys are free (a name per resource): each value's fields. */
  values?: Fields;
  /** The rendered object (each item's) is a whole object of this resource kind. */
  kind?: string;
}

export type Fields = Record<string, FieldDef>;

export interface ResourceDef {
  /** The URL segment and the store kind: `servers`, `drives`, ... */
  kind: string;
  fields: Fields;
  /** Keys of the plain list representation (`GET /{kind}/`); undefined means list == detail. */
  listFields?: readonly string[];
  /** As `/schema/` shows it (tastypie: `"exact"`, `1` for every lookup, or a list of lookups). */
  filtering?: Record<string, Json>;
  ordering?: readonly string[];
  /**
   * The store order of a list without `order_by` (default: creation order). Jobs list newest
   * change first (`-last_modified`, api-reference.md §5.7): their `name` column holds it.
   */
  defaultOrder?: { column: 'name'; descending: boolean };
  /** A bare string where tastypie renders one (`/ips/` and `/vlans/` show `"get"`). */
  allowedListMethods: readonly string[] | string;
  allowedDetailMethods: readonly string[];
  /** tastypie model resources (profile) render `blank/nullable/unique` instead of `required`. */
  schemaOmitsRequired?: boolean;
  defaultLimit?: number;
}
