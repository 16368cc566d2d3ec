/**
 * The fixture side of the conformance suite: a parser for the raw HTTP dumps in
 * `shared/spec/fixtures/` (recorded from the real API by pycloudsigma's acceptance tests) and a
 * comparator that checks one of our responses against a recorded one with the rules of
 * api-reference.md ("Conformance tests against fixtures/"):
 *
 * - every key of the fixture's objects is present in ours, recursively, with the same JSON type;
 * - extra keys in ours only from a per-resource allowlist (newer fields older dumps lack) or a
 *   per-fixture adjustment;
 * - scalar values equal, except ids (uuids, also inside strings such as `resource_uri`, and MAC
 *   addresses), which must be ids of the same kind that correspond one to one (a fixture id always
 *   stands for the same id of ours, and the other way round), and timestamps, which must be
 *   timestamps;
 * - lists item by item when their lengths match; a list of objects whose length differs is
 *   compared by shape, each of our items against the fixture's first;
 * - per-fixture adjustments, each with a one-line reason, for what the recorded value cannot or
 *   should not decide (`ignore`, `order`, `expect`, `extra`, `absent`). An adjustment that matches
 *   nothing, or that is not needed because the values agree, is itself reported, so the lists stay
 *   true as the server grows.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Json } from '../../src/model/json.js';

export type { Json };

/**
 * `SIGMALITE_FIXTURES`, or the repository's copy of `shared/spec/fixtures` (`test/fixtures/
 * cloudsigma/`, so that a clone anywhere runs the conformance suite).
 */
export const FIXTURES_DIR =
  process.env.SIGMALITE_FIXTURES ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/cloudsigma');

// ---------------------------------------------------------------------------------------------
// Parsing

export interface HttpMessage {
  /** The file name, e.g. `request_server_create_full`. */
  file: string;
  startLine: string;
  /** Header lines in file order, names as written. */
  headers: [string, string][];
  /** The body as written, trimmed; `''` when there is none. */
  bodyText: string;
  /** The parsed body (after repairs, see `repairs`); undefined when empty or beyond repair. */
  body: Json | undefined;
  /** What the tolerant JSON reader had to fix (api-reference.md §7 lists the broken bodies). */
  repairs: string[];
  /** Why the body could not be read, when it could not. */
  bodyError?: string;
}

export interface FixtureRequest extends HttpMessage {
  method: string;
  /** Path and query as written, e.g. `/api/2.0/drives/?fields=uuid,status&limit=0`. */
  target: string;
  path: string;
  query: URLSearchParams;
}

export interface FixtureResponse extends HttpMessage {
  status: number;
  reason: string;
}

export interface FixturePair {
  name: string;
  request: FixtureRequest;
  response: FixtureResponse;
}

/** A few dumps (backup schedulers, usage) omit the HTTP version. */
const REQUEST_LINE = /^([A-Z]+) (\S+)(?: HTTP\/\d\.\d)?$/;
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/;
const HEADER_LINE = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+):[ \t]*(.*)$/;

/** Splits a dump into start line, headers and body; a body may follow the headers directly. */
function splitMessage(file: string, text: string): HttpMessage {
  const lines = text.split(/\r?\n/);
  const startLine = (lines[0] ?? '').trim();
  const headers: [string, string][] = [];
  let i = 1;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      break;
    }
    const match = HEADER_LINE.exec(line);
    // `response_capabilities` has no blank line: the first line that is no header starts the body.
    if (!match) break;
    headers.push([match[1]!, match[2]!.trim()]);
  }
  const bodyText = lines.slice(i).join('\n').trim();
  const message: HttpMessage = { file, startLine, headers, bodyText, body: undefined, repairs: [] };
  if (bodyText === '') return message;
  try {
    const { value, repairs } = parseLenientJson(bodyText);
    message.body = value;
    message.repairs = repairs;
  } catch (e) {
    message.bodyError = e instanceof Error ? e.message : String(e);
  }
  return message;
}

export function parseRequest(file: string, text: string): FixtureRequest {
  const message = splitMessage(file, text);
  const match = REQUEST_LINE.exec(message.startLine);
  if (!match) throw new Error(`${file}: not a request line: ${JSON.stringify(message.startLine)}`);
  const target = match[2]!;
  const q = target.indexOf('?');
  return {
    ...message,
    method: match[1]!,
    target,
    path: q < 0 ? target : target.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
  };
}

export function parseResponse(file: string, text: string): FixtureResponse {
  const message = splitMessage(file, text);
  const match = STATUS_LINE.exec(message.startLine);
  if (!match) throw new Error(`${file}: not a status line: ${JSON.stringify(message.startLine)}`);
  return { ...message, status: Number(match[1]), reason: match[2] ?? '' };
}

export function headerOf(message: HttpMessage, name: string): string | undefined {
  const lower = name.toLowerCase();
  return message.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

export function loadFixture(name: string, dir = FIXTURES_DIR): FixturePair {
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  return {
    name,
    request: parseRequest(`request_${name}`, read(`request_${name}`)),
    response: parseResponse(`response_${name}`, read(`response_${name}`)),
  };
}

/** The names `X` for which both `request_X` and `response_X` exist. */
export function fixtureNames(dir = FIXTURES_DIR): string[] {
  if (!existsSync(dir)) return [];
  const files = new Set(readdirSync(dir));
  return [...files]
    .filter((f) => f.startsWith('request_') && files.has(`response_${f.slice(8)}`))
    .map((f) => f.slice(8))
    .sort();
}

/**
 * JSON.parse, and if that fails a repair pass for the ways the dumps are broken: `#` comments,
 * single-quoted strings, trailing commas, and missing closing brackets (a `}` that arrives while
 * a `[` is open closes the list first; brackets still open at the end are closed). Throws if the
 * result still is not JSON.
 */
export function parseLenientJson(text: string): { value: Json; repairs: string[] } {
  try {
    return { value: JSON.parse(text) as Json, repairs: [] };
  } catch (first) {
    const { text: repaired, repairs } = repairJson(text);
    try {
      return { value: JSON.parse(repaired) as Json, repairs };
    } catch (second) {
      throw new Error(
        `not JSON (${(first as Error).message}); after repairs [${repairs.join('; ')}]: ${(second as Error).message}`,
      );
    }
  }
}

function repairJson(text: string): { text: string; repairs: string[] } {
  const repairs: string[] = [];
  const stack: ('{' | '[')[] = [];
  let out = '';
  const closer = (open: '{' | '[') => (open === '{' ? '}' : ']');
  const dropTrailingComma = () => {
    const trimmed = out.replace(/\s+$/, '');
    if (trimmed.endsWith(',')) {
      out = trimmed.slice(0, -1);
      repairs.push('removed a trailing comma');
    }
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      // Copy the string literal whole, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (ch === "'") {
      // A Python-style single-quoted string (response_vmware_servers_list).
      let j = i + 1;
      let content = '';
      while (j < text.length && text[j] !== "'") {
        content += text[j] === '\\' ? text[++j] : text[j];
        j++;
      }
      out += JSON.stringify(content);
      repairs.push(`rewrote a single-quoted string: '${content}'`);
      i = j;
    } else if (ch === '#') {
      const end = text.indexOf('\n', i);
      repairs.push(`removed a comment: ${text.slice(i, end < 0 ? undefined : end).trim()}`);
      i = end < 0 ? text.length : end - 1;
    } else if (ch === '{' || ch === '[') {
      stack.push(ch);
      out += ch;
    } else if (ch === '}' || ch === ']') {
      const open = ch === '}' ? '{' : '[';
      dropTrailingComma();
      while (stack.length > 0 && stack[stack.length - 1] !== open) {
        const missing = closer(stack.pop()!);
        out += missing;
        repairs.push(`inserted a missing "${missing}" before "${ch}"`);
      }
      if (stack.length === 0) {
        repairs.push(`dropped an unmatched "${ch}"`);
        continue;
      }
      stack.pop();
      out += ch;
    } else {
      out += ch;
    }
  }
  while (stack.length > 0) {
    dropTrailingComma();
    const missing = closer(stack.pop()!);
    out += missing;
    repairs.push(`closed an unclosed bracket with "${missing}" at the end`);
  }
  return { text: out, repairs };
}

// ---------------------------------------------------------------------------------------------
// Ids

const UUID_SOURCE = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UUID_GLOBAL = new RegExp(UUID_SOURCE, 'gi');
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;
/** ISO 8601 as the API writes it (`T` or a space between date and time; fraction; offset). */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

/** The uuids inside a string, in order. */
export function uuidsIn(text: string): string[] {
  return text.match(UUID_GLOBAL) ?? [];
}

export function isMac(text: string): boolean {
  return MAC.test(text);
}

/** A fixture id → our id map, as a setup returns it (uuids and MACs). */
export type IdMap = Map<string, string>;

/**
 * Replaces every fixture id of `map` inside `value` (strings, keys untouched) by ours: the
 * request path and body are rewritten with it before they are sent.
 */
export function rewriteIds<T extends Json | string>(value: T, map: ReadonlyMap<string, string>): T {
  if (map.size === 0) return value;
  const keys = [...map.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const pattern = new RegExp(keys.join('|'), 'gi');
  const lookup = new Map([...map].map(([k, v]) => [k.toLowerCase(), v]));
  const visit = (v: Json): Json => {
    if (typeof v === 'string') return v.replace(pattern, (m) => lookup.get(m.toLowerCase()) ?? m);
    if (Array.isArray(v)) return v.map(visit);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, visit(item)]));
    }
    return v;
  };
  return visit(value) as T;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Comparison

/** A key our objects of one resource may carry though the fixtures lack it, and why. */
export interface AllowedField {
  /** Relative to the resource object; `*` matches any list index, e.g. `nics.*.firewall_policy`. */
  path: string;
  reason: string;
}

/**
 * A per-fixture exception. `path` is absolute in the response body (`objects.0.status`); `*`
 * matches any one segment (a list index or a key).
 */
export type Adjustment =
  /** The value (and its type) is not compared; the key must still be there. */
  | { type: 'ignore'; path: string; reason: string }
  /** A list whose order is not compared: both sides are sorted by these keys first. */
  | { type: 'order'; path: string; by: string[]; reason: string }
  /** A documented difference: ours must equal `value` (the key may be absent from the fixture). */
  | { type: 'expect'; path: string; value: Json; reason: string }
  /** A key ours may have that this fixture lacks. */
  | { type: 'extra'; path: string; reason: string }
  /** A fixture key we do not emit, deliberately. */
  | { type: 'absent'; path: string; reason: string };

export interface CompareOptions {
  /** The resource allowlist; applied to each resource object (the body, or each `objects.*`). */
  allow?: readonly AllowedField[];
  adjustments?: readonly Adjustment[];
  /** Fixture id → our id, known from the setup; other ids are paired on first sight. */
  ids?: ReadonlyMap<string, string>;
}

export interface Mismatch {
  path: string;
  message: string;
}

type Mode = 'value' | 'shape';

/** Compares our parsed body with the fixture's. Returns every difference found. */
export function compareBodies(
  fixture: Json,
  ours: unknown,
  options: CompareOptions = {},
): Mismatch[] {
  return new Comparison(fixture, options).run(ours);
}

export function formatMismatches(mismatches: readonly Mismatch[]): string[] {
  return mismatches.map((m) => `${m.path || '(body)'}: ${m.message}`);
}

class Comparison {
  private readonly mismatches: Mismatch[] = [];
  private readonly used = new Set<Adjustment>();
  private readonly adjustments: readonly Adjustment[];
  private readonly allow: string[][];
  /** Ids known from the setup, lower-case on both sides. */
  private readonly seeded = new Map<string, string>();
  private readonly seededOurs = new Map<string, string>();
  private readonly bound = new Map<string, string>();
  private readonly boundOurs = new Map<string, string>();

  constructor(
    private readonly fixture: Json,
    options: CompareOptions,
  ) {
    this.adjustments = options.adjustments ?? [];
    for (const a of this.adjustments) {
      if (!a.reason.trim() || a.reason.includes('\n')) {
        throw new Error(`adjustment ${a.type} ${a.path} needs a one-line reason`);
      }
    }
    const roots =
      isObject(fixture) && Array.isArray(fixture.objects) ? [['objects', '*']] : [[] as string[]];
    this.allow = (options.allow ?? []).flatMap((field) =>
      roots.map((root) => [...root, ...field.path.split('.')]),
    );
    for (const [theirs, mine] of options.ids ?? []) {
      this.seeded.set(theirs.toLowerCase(), mine.toLowerCase());
      this.seededOurs.set(mine.toLowerCase(), theirs.toLowerCase());
    }
  }

  run(ours: unknown): Mismatch[] {
    this.walk(this.fixture, ours, [], 'value');
    for (const a of this.adjustments) {
      if (!this.used.has(a)) {
        this.fail(a.path, `adjustment "${a.type}" matched nothing; remove it (${a.reason})`);
      }
    }
    return this.mismatches;
  }

  private fail(path: string | string[], message: string): void {
    this.mismatches.push({ path: Array.isArray(path) ? path.join('.') : path, message });
  }

  private find<T extends Adjustment['type']>(
    type: T,
    path: string[],
  ): Extract<Adjustment, { type: T }> | undefined {
    const found = this.adjustments.find(
      (a) => a.type === type && matches(a.path.split('.'), path),
    ) as Extract<Adjustment, { type: T }> | undefined;
    if (found) this.used.add(found);
    return found;
  }

  private walk(f: Json, o: unknown, path: string[], mode: Mode): void {
    const ignore = this.find('ignore', path);
    if (ignore) {
      if (mode === 'value' && same(f, o)) {
        this.fail(path, `ignored, yet the values are equal; remove the entry (${ignore.reason})`);
      }
      return;
    }
    const expected = this.find('expect', path);
    if (expected) {
      this.checkExpected(expected, f, o, path);
      return;
    }
    const tf = jsonType(f);
    const to = jsonType(o);
    if (tf !== to) {
      this.fail(path, `expected ${tf} ${preview(f)}, got ${to} ${preview(o)}`);
      return;
    }
    if (Array.isArray(f)) {
      this.walkList(f, o as unknown[], path, mode);
    } else if (isObject(f)) {
      this.walkObject(f, o as Record<string, unknown>, path, mode);
    } else if (mode === 'value') {
      this.compareScalar(f, o, path);
    }
  }

  private checkExpected(
    a: Extract<Adjustment, { type: 'expect' }>,
    f: Json | undefined,
    o: unknown,
    path: string[],
  ): void {
    if (same(f, a.value)) {
      this.fail(path, `expected difference, yet the fixture has the same value (${a.reason})`);
    }
    if (!same(o, a.value)) {
      this.fail(path, `documented difference: expected ${preview(a.value)}, got ${preview(o)}`);
    }
  }

  private walkObject(
    f: Record<string, Json>,
    o: Record<string, unknown>,
    path: string[],
    mode: Mode,
  ): void {
    for (const [key, value] of Object.entries(f)) {
      const child = [...path, key];
      if (Object.hasOwn(o, key)) {
        this.walk(value, o[key], child, mode);
        continue;
      }
      const expected = this.find('expect', child);
      if (expected) this.checkExpected(expected, value, undefined, child);
      else if (!this.find('absent', child)) {
        this.fail(child, `missing (fixture has ${preview(value)})`);
      }
    }
    for (const key of Object.keys(o)) {
      if (Object.hasOwn(f, key)) continue;
      const child = [...path, key];
      const expected = this.find('expect', child);
      if (expected) this.checkExpected(expected, undefined, o[key], child);
      else if (this.find('extra', child)) continue;
      else if (!this.allow.some((pattern) => matches(pattern, child))) {
        this.fail(
          child,
          `unexpected key (not in the fixture nor the allowlist): ${preview(o[key])}`,
        );
      }
    }
  }

  private walkList(f: Json[], o: unknown[], path: string[], mode: Mode): void {
    const order = this.find('order', path);
    if (order) {
      f = sortBy(f, order.by);
      o = sortBy(o, order.by);
    }
    if (f.length === o.length) {
      for (const [i, item] of f.entries()) this.walk(item, o[i], [...path, String(i)], mode);
      return;
    }
    const first = f[0];
    const ofObjects = first !== undefined && (isObject(first) || Array.isArray(first));
    if (ofObjects && o.length === 0) {
      this.fail(path, `expected ${f.length} items like ${preview(first)}, got none`);
    }
    if (ofObjects || mode === 'shape') {
      // Each of ours against the fixture's first item, by shape (keys and types).
      if (first === undefined) return;
      for (const [i, item] of o.entries()) this.walk(first, item, [...path, String(i)], 'shape');
      return;
    }
    this.fail(path, `expected ${preview(f)}, got ${preview(o)}`);
  }

  private compareScalar(f: Json, o: unknown, path: string[]): void {
    if (typeof f !== 'string' || typeof o !== 'string') {
      if (f !== o) this.fail(path, `expected ${preview(f)}, got ${preview(o)}`);
      return;
    }
    const ids = uuidsIn(f);
    if (ids.length > 0) {
      const parts = f.split(UUID_GLOBAL).map(escapeRegExp);
      const pattern = new RegExp(`^${parts.join(`(${UUID_SOURCE})`)}$`, 'i');
      const match = pattern.exec(o);
      if (!match) {
        this.fail(path, `expected ${preview(f)} (ids aside), got ${preview(o)}`);
        return;
      }
      for (const [i, id] of ids.entries()) this.bind(id, match[i + 1]!, path);
      return;
    }
    if (isMac(f)) {
      if (!isMac(o))
        this.fail(path, `expected a MAC address like ${preview(f)}, got ${preview(o)}`);
      else this.bind(f, o, path);
      return;
    }
    if (TIMESTAMP.test(f)) {
      if (!TIMESTAMP.test(o))
        this.fail(path, `expected a timestamp like ${preview(f)}, got ${preview(o)}`);
      return;
    }
    if (f !== o) this.fail(path, `expected ${preview(f)}, got ${preview(o)}`);
  }

  /** Pairs a fixture id with ours: always the same partner, both ways. */
  private bind(theirs: string, mine: string, path: string[]): void {
    const t = theirs.toLowerCase();
    const m = mine.toLowerCase();
    const seeded = this.seeded.get(t);
    if (seeded !== undefined) {
      if (seeded !== m) {
        this.fail(path, `fixture id ${theirs} is ${seeded} here (from the setup), got ${mine}`);
      }
      return;
    }
    const previous = this.bound.get(t);
    if (previous !== undefined) {
      if (previous !== m) {
        this.fail(path, `fixture id ${theirs} matched ${previous} before, now ${mine}`);
      }
      return;
    }
    const seededFor = this.seededOurs.get(m);
    const boundFor = this.boundOurs.get(m);
    if (seededFor !== undefined || boundFor !== undefined) {
      this.fail(
        path,
        `our id ${mine} already stands for fixture id ${seededFor ?? boundFor}, not ${theirs}`,
      );
      return;
    }
    this.bound.set(t, m);
    this.boundOurs.set(m, t);
  }
}

function matches(pattern: readonly string[], path: readonly string[]): boolean {
  return pattern.length === path.length && pattern.every((p, i) => p === '*' || p === path[i]);
}

function sortBy<T>(items: readonly T[], keys: readonly string[]): T[] {
  const keyOf = (item: T) =>
    JSON.stringify(keys.map((k) => (isObject(item) ? (item as Record<string, unknown>)[k] : item)));
  return [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

/** Deep equality of JSON values, whatever the key order. */
function same(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value !== null && typeof value === 'object') {
      const source = value as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(source)
          .sort()
          .map((k) => [k, canonical(source[k])]),
      );
    }
    return value;
  };
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function jsonType(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? 'object' : typeof value;
}

function isObject(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Body-only fixtures

/** `libcloud/`: response bodies from Apache libcloud's CloudSigma 2.0 tests, without requests. */
export const BODY_FIXTURES_DIR = join(FIXTURES_DIR, 'libcloud');

/** The names of the body-only fixtures, as cases name them: `libcloud/X` for `libcloud/X.json`. */
export function bodyFixtureNames(dir = BODY_FIXTURES_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => `libcloud/${f.slice(0, -5)}`)
    .sort();
}

/** What a body-only fixture answers: the request a case sends for it, and the status. */
export interface BodyFixtureRequest {
  method: string;
  /** Path and query, e.g. `/api/2.0/servers/<uuid>/action/?do=start`. */
  target: string;
  body?: Json;
  status: number;
}

/**
 * A body-only fixture (`libcloud/X`) as a pair: the request and status its case names (what
 * libcloud's tests answer that body to), the recorded body, and the content type of every JSON
 * answer of the API.
 */
export function loadBodyFixture(
  name: string,
  request: BodyFixtureRequest,
  dir = FIXTURES_DIR,
): FixturePair {
  const body = readFileSync(join(dir, `${name}.json`), 'utf8');
  const sent = request.body === undefined ? '' : JSON.stringify(request.body);
  return {
    name,
    request: parseRequest(
      `${name} (request)`,
      `${request.method} ${request.target} HTTP/1.1\nContent-Type: application/json\n\n${sent}\n`,
    ),
    response: parseResponse(
      `${name}.json`,
      `HTTP/1.1 ${request.status} X\nContent-Type: application/json; charset=utf-8\n\n${body}`,
    ),
  };
}
