/**
 * Reads a client's JSON object against a resource declaration: type checks with CloudSigma's
 * coercions (numeric strings for integers), choices, references reduced to ids, nested objects.
 * Read-only and unknown keys are dropped (clients PUT back what they GET); the unknown ones are
 * reported so a strict mode can refuse them.
 */
import { ApiError, ApiErrors, errors } from '../errors.js';
import type { FieldDef, Fields } from './fields.js';
import { isPlainObject } from './json.js';
import { readRef } from './refs.js';

export interface ReadOptions {
  /** Enforce `required` (a create); a PUT merges first and checks the result itself. */
  requireAll: boolean;
  /**
   * Give each top-level field the client left out its declared default (a create), so that a
   * resource does not repeat them; `dynamicDefault` fields stay out. (The values' keys then come
   * defaults first: read them by name.)
   */
  defaults?: boolean;
}

export interface ReadResult {
  values: Record<string, unknown>;
  unknown: string[];
}

/** Reads the writable fields of `body`. Throws one `ApiErrors` listing every bad field. */
export function readInput(
  fields: Fields,
  body: unknown,
  options: ReadOptions,
  pointPrefix = '',
): ReadResult {
  const problems: ApiError[] = [];
  const unknown: string[] = [];
  const values = readObject(fields, body, options, pointPrefix, problems, unknown);
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new ApiErrors(problems);
  return { values, unknown };
}

/**
 * The keys of `body` that no declaration knows, as points (`nics.0.colour`), without reading
 * anything else: `--strict` refuses them, lenient mode logs them.
 */
export function unknownFields(fields: Fields, body: unknown, prefix = ''): string[] {
  if (!isPlainObject(body)) return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    const def = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (!def) {
      out.push(prefix + key);
    } else if (def.type === 'related' && def.fields && !def.readonly) {
      const items = def.shape === 'many' && Array.isArray(value) ? value : [value];
      items.forEach((item, i) => {
        const point = def.shape === 'many' ? `${prefix}${key}.${i}.` : `${prefix}${key}.`;
        out.push(...unknownFields(def.fields!, item, point));
      });
    }
  }
  return out;
}

function readObject(
  fields: Fields,
  body: unknown,
  options: ReadOptions,
  prefix: string,
  problems: ApiError[],
  unknown: string[],
): Record<string, unknown> {
  if (!isPlainObject(body)) {
    problems.push(errors.expectedObject(prefix === '' ? null : prefix.slice(0, -1)));
    return {};
  }
  const plan = planOf(fields);
  // With defaults, the object starts as a copy of the declared ones (one shape, copied at once)
  // instead of growing a field at a time: adding some thirty keys one by one to a server's
  // values was a tenth of a create.
  const out: Record<string, unknown> = options.defaults ? { ...plan.defaults } : {};
  for (const key of Object.keys(body)) {
    if (!(key in fields)) unknown.push(prefix + key);
  }
  for (const [name, def] of plan.writable) {
    const point = prefix + name;
    const present = Object.hasOwn(body, name);
    if (!present) {
      if (options.requireAll && def.required && !def.optionalOnInput) {
        problems.push(errors.required(point));
      }
      // A list or object default is the document's own, not the declaration's.
      if (options.defaults && plan.copied.has(name)) out[name] = copyJson(def.default);
      continue;
    }
    try {
      out[name] = readValue(def, body[name], point, problems, unknown);
    } catch (e) {
      if (e instanceof ApiError) problems.push(e);
      else throw e;
    }
  }
  return out;
}

/** What reading needs of a declaration, worked out once per declaration, not per request. */
interface ReadPlan {
  /** The fields a client may write, in declaration order. */
  writable: readonly [string, FieldDef][];
  /** The declared defaults reading applies (`ReadOptions.defaults`), in declaration order. */
  defaults: Readonly<Record<string, unknown>>;
  /** Those of them that are lists or objects, copied for each document (empty lists too). */
  copied: ReadonlySet<string>;
}

const plans = new WeakMap<Fields, ReadPlan>();

function planOf(fields: Fields): ReadPlan {
  let plan = plans.get(fields);
  if (!plan) {
    const writable = Object.entries(fields).filter(([, def]) => !def.readonly);
    const entries: [string, unknown][] = [];
    const copied = new Set<string>();
    for (const [name, def] of writable) {
      const value = def.default;
      if (def.dynamicDefault || value === undefined || typeof value === 'symbol') continue;
      entries.push([name, value]);
      if (value !== null && typeof value === 'object') copied.add(name);
    }
    // Made at once, not a key at a time: an object grown key by key past a dozen keys becomes a
    // dictionary, and copying one of those is slower than the keys added one by one it replaces.
    plan = { writable, defaults: Object.fromEntries(entries), copied };
    plans.set(fields, plan);
  }
  return plan;
}

/** A deep copy of a JSON value (structuredClone costs several times more on these small ones). */
function copyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyJson);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value))
    out[key] = copyJson((value as Record<string, unknown>)[key]);
  return out;
}

function readValue(
  def: FieldDef,
  value: unknown,
  point: string,
  problems: ApiError[],
  unknown: string[],
): unknown {
  if (value === null) {
    if (def.nullable) return null;
    throw errors.invalid(point, 'This field cannot be null');
  }
  const read = readNonNull(def, value, point, problems, unknown);
  def.check?.(read, point);
  return read;
}

function readNonNull(
  def: FieldDef,
  value: unknown,
  point: string,
  problems: ApiError[],
  unknown: string[],
): unknown {
  if (def.type === 'related') {
    if (def.fields) {
      const nestedOptions = { requireAll: true };
      if (def.shape === 'many') {
        if (!Array.isArray(value)) throw errors.expectedList(point);
        return value.map((item, i) =>
          readObject(def.fields!, item, nestedOptions, `${point}.${i}.`, problems, unknown),
        );
      }
      return readObject(def.fields, value, nestedOptions, `${point}.`, problems, unknown);
    }
    if (def.shape === 'many') {
      if (!Array.isArray(value)) throw errors.invalid(point, 'Expected a list of references');
      return value.map((item, i) => readRef(item, def.ref, `${point}.${i}`));
    }
    return readRef(value, def.ref, point);
  }
  switch (def.type) {
    case 'string':
    case 'datetime':
      return readString(def, value, point);
    case 'integer':
      return readInteger(value, point);
    case 'decimal':
      return readDecimal(value, point);
    case 'boolean':
      if (typeof value !== 'boolean') throw errors.expectedBoolean(point);
      return value;
    case 'dict':
      if (!isPlainObject(value)) throw errors.invalid(point, 'Expected an object');
      return value;
    case 'list':
      if (!Array.isArray(value)) throw errors.expectedList(point);
      if (def.choices) {
        for (const item of value) {
          if (typeof item !== 'string' || !def.choices.includes(item)) {
            throw badChoice(point, item, def.choices);
          }
        }
      }
      return value;
  }
}

function readString(def: FieldDef, value: unknown, point: string): string {
  if (typeof value !== 'string') throw errors.expectedString(point);
  if (def.maxLength !== undefined && [...value].length > def.maxLength) {
    throw errors.invalid(point, `Ensure this value has at most ${def.maxLength} characters`);
  }
  if (def.choices && !def.choices.includes(value)) throw badChoice(point, value, def.choices);
  return value;
}

function badChoice(point: string, value: unknown, choices: readonly string[]): ApiError {
  return errors.invalid(
    point,
    `Value ${JSON.stringify(value)} is not a valid choice. Valid choices are: ${choices.join(', ')}`,
  );
}

const INTEGER_TEXT = /^\s*[-+]?\d+\s*$/;

/** Integers may come as JSON numbers or numeric strings (pycloudsigma sends `size` as a string). */
export function readInteger(value: unknown, point: string): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && INTEGER_TEXT.test(value)) n = Number(value);
  else throw errors.invalid(point, 'Expected an integer');
  if (!Number.isSafeInteger(n)) throw errors.invalid(point, 'Expected an integer');
  return n;
}

const DECIMAL_TEXT = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

function readDecimal(value: unknown, point: string): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && DECIMAL_TEXT.test(value)) return value.trim();
  throw errors.invalid(point, 'Expected a decimal number');
}
