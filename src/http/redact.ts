/**
 * Secrets taken out of what trace logging writes: request and response bodies, and headers.
 * A secret's key stays in the line (so the log still says a password was sent), its value goes.
 */

export const REDACTED = '[redacted]';

/** Body keys whose values are secrets, wherever they appear in a document. */
const SECRET_KEYS = new Set([
  'password',
  'new_password',
  'old_password',
  'vnc_password',
  'private_key',
  'api_key',
  'secret',
  'token',
  'otp',
]);

/** Headers whose values are credentials. */
const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-csrftoken',
]);

/** Names that say a secret whatever they are prefixed or suffixed with (`admin_password`). */
const SECRET_PARTS = /password|passwd|secret|private_key|api_key|token/i;

/**
 * The longest name of SECRET_KEYS the pattern does not match (`otp`): only keys this short need
 * lower-casing for the set. Lower-casing every key of every audited body cost a create 1%.
 */
const SET_ONLY_LENGTH = Math.max(
  0,
  ...[...SECRET_KEYS].filter((key) => !SECRET_PARTS.test(key)).map((key) => key.length),
);

/** Whether a body key names a secret (`vnc_password`, `private_key`, `token`, ...). */
export function isSecretKey(key: string): boolean {
  return (
    SECRET_PARTS.test(key) || (key.length <= SET_ONLY_LENGTH && SECRET_KEYS.has(key.toLowerCase()))
  );
}

/** A copy of a JSON value with every secret's value replaced; the input is not changed. */
export function redactBody(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactBody);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = isSecretKey(key) && inner !== null ? REDACTED : redactBody(inner);
  }
  return out;
}

/** A copy of a JSON value without any secret-named key, at any depth (the audit log's details). */
export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (!isSecretKey(key)) out[key] = withoutSecrets(inner);
  }
  return out;
}

/** A copy of the headers with credential values replaced. */
export function redactHeaders(
  headers: Readonly<Record<string, string | string[] | number | undefined>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value;
  }
  return out;
}

/**
 * A response body as it is logged: parsed and redacted when it is JSON, otherwise its size only
 * (VNC and console bodies are JSON; nothing we serve that is not JSON is worth a log line).
 */
export function redactPayload(payload: unknown): unknown {
  const text = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
  if (typeof text !== 'string' || text.length === 0) return undefined;
  try {
    return redactBody(JSON.parse(text));
  } catch {
    return { bytes: Buffer.byteLength(text) };
  }
}
