/**
 * JSON as CloudSigma's Python backend writes it (`json.dumps` defaults): `", "` and `": "`
 * separators, `ensure_ascii` (so a context line is pure ASCII, which guest tools such as cloud-init
 * decode as ASCII), and floats that keep their `.0`. Used for the server context's serial answers
 * and the audit log's `details`.
 */

/** A number Python holds as a float: `0.0`, not `0`. */
export class PyFloat {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) return pythonFloat(value.value);
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
      return pythonString(value);
    case 'object': {
      // Loops, not entries/map/join: the audit log renders every request's body with this.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ', ';
          out += pythonJson(value[i]);
        }
        return `${out}]`;
      }
      const source = value as Record<string, unknown>;
      let out = '{';
      for (const key in source) {
        if (!Object.hasOwn(source, key)) continue;
        const item = source[key];
        if (item === undefined) continue;
        if (out.length > 1) out += ', ';
        out += `${pythonString(key)}: ${pythonJson(item)}`;
      }
      return `${out}}`;
    }
    default:
      return 'null';
  }
}

function pythonFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : n < 0 ? '-Infinity' : 'NaN';
  const text = String(n);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** Printable ASCII but `"` and `\\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal with every character outside printable ASCII escaped. */
export function pythonString(text: string): string {
  // Most strings need no escape: checked without a callback per match.
  if (PLAIN.test(text)) return `"${text}"`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes.
  const escaped = text.replace(/["\\\u0000-\u001f\u007f-\uffff]/g, (ch) => {
    return ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `"${escaped}"`;
}
