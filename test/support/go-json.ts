/**
 * What Go's `encoding/json` does when a Go client (CloudSigma's Go SDK, the Terraform provider)
 * decodes an answer into its typed structs: a value of the wrong JSON type is an error
 * (`json: cannot unmarshal string into Go struct field ... of type bool`), null leaves the zero
 * value, unknown keys are ignored, and keys match field names without regard to case. Tests
 * decode sigmalite's answers with the SDK's types through this, as the SDK would.
 */

export type GoType =
  | 'bool'
  | 'int'
  | 'string'
  | { slice: GoType }
  | { struct: Record<string, GoType> }
  | { map: GoType };

export class GoUnmarshalError extends Error {}

/** The Go value `value` decodes to as `type` (zero values filled in), or a GoUnmarshalError. */
export function goDecode(type: GoType, value: unknown, field = '(root)'): unknown {
  if (value === null) return zero(type);
  const refuse = (): never => {
    throw new GoUnmarshalError(
      `json: cannot unmarshal ${jsonKind(value)} into Go struct field ${field} of type ${goName(type)}`,
    );
  };
  if (type === 'bool') return typeof value === 'boolean' ? value : refuse();
  if (type === 'string') return typeof value === 'string' ? value : refuse();
  if (type === 'int') {
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : refuse();
  }
  if ('slice' in type) {
    if (!Array.isArray(value)) return refuse();
    return value.map((item, i) => goDecode(type.slice, item, `${field}[${i}]`));
  }
  if (typeof value !== 'object' || Array.isArray(value)) return refuse();
  const entries = Object.entries(value as Record<string, unknown>);
  if ('map' in type) {
    return Object.fromEntries(
      entries.map(([key, item]) => [key, goDecode(type.map, item, `${field}.${key}`)]),
    );
  }
  const out = zero(type) as Record<string, unknown>;
  for (const [key, item] of entries) {
    const name = Object.keys(type.struct).find((f) => f.toLowerCase() === key.toLowerCase());
    if (name !== undefined) out[name] = goDecode(type.struct[name]!, item, `${field}.${name}`);
  }
  return out;
}

function zero(type: GoType): unknown {
  if (type === 'bool') return false;
  if (type === 'int') return 0;
  if (type === 'string') return '';
  if ('slice' in type || 'map' in type) return null;
  return Object.fromEntries(Object.entries(type.struct).map(([name, t]) => [name, zero(t)]));
}

function goName(type: GoType): string {
  if (typeof type === 'string') return type;
  if ('slice' in type) return `[]${goName(type.slice)}`;
  if ('map' in type) return `map[string]${goName(type.map)}`;
  return 'struct';
}

function jsonKind(value: unknown): string {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string') return 'string';
  return Array.isArray(value) ? 'array' : 'object';
}
