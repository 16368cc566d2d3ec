import { errors } from '../errors.js';
import { isPlainObject } from './json.js';

export const API_PREFIX = '/api/2.0';

/** The link object every reference is emitted as. */
export interface Link {
  resource_uri: string;
  uuid: string;
}

export function link(kind: string, id: string): Link {
  return { resource_uri: `${API_PREFIX}/${kind}/${id}/`, uuid: id };
}

export function resourceUri(kind: string, id: string): string {
  return `${API_PREFIX}/${kind}/${id}/`;
}

/**
 * URIs of another kind a reference of `kind` may name: pubkeys are keypairs; a library drive
 * (`/libdrives/<uuid>/`) is a drive where drives are attached.
 */
const ALIASES: Readonly<Record<string, string>> = { pubkeys: 'keypairs', drives: 'libdrives' };

const URI_PATTERN = /^(?:https?:\/\/[^/]+)?\/api\/2\.0\/([a-z_]+)\/([^/]+)\/?$/;

/**
 * Reads a reference as clients send it: a bare id, a resource URI, or an object with `uuid`
 * (or only `resource_uri`). Extra keys of an object are ignored. Returns the id.
 */
export function readRef(value: unknown, kind: string | undefined, point: string): string {
  if (typeof value === 'string') return fromString(value, kind, point);
  if (isPlainObject(value)) {
    if (typeof value.uuid === 'string' && value.uuid !== '') return value.uuid;
    if (typeof value.resource_uri === 'string') return fromString(value.resource_uri, kind, point);
  }
  throw errors.invalid(
    point,
    'A reference must be a uuid, a resource URI, or an object with a "uuid" key',
  );
}

function fromString(value: string, kind: string | undefined, point: string): string {
  if (value === '') throw errors.invalid(point, 'A reference cannot be empty');
  if (!value.includes('/')) return value;
  const match = URI_PATTERN.exec(value);
  if (!match) throw errors.invalid(point, `"${value}" is not a resource URI of this API`);
  const [, uriKind, id] = match;
  if (kind !== undefined && uriKind !== kind && ALIASES[kind] !== uriKind) {
    throw errors.invalid(point, `"${value}" does not point to a ${kind} resource`);
  }
  try {
    return decodeURIComponent(id!);
  } catch {
    throw errors.invalid(point, `"${value}" is not a resource URI of this API`);
  }
}
