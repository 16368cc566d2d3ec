/**
 * Reads a state dump as it arrives, without holding it whole: the top-level object's members one
 * by one, and the elements of its arrays (the tables' rows) one by one. This splits the text at
 * the structure's boundaries, minding strings and nesting, and `JSON.parse` parses each piece:
 * a token-by-token streaming parser in JavaScript was ten times slower on dumps (rows are small
 * JSON objects, and `JSON.parse` is native).
 */

/** A member of the dump's top-level object: a value, or (for an array) its start and elements. */
export type DumpEntry =
  | { type: 'value'; key: string; value: unknown }
  | { type: 'array'; key: string }
  | { type: 'element'; key: string; index: number; value: unknown };

/** The text is not JSON (or not a JSON object at the top). */
export class DumpSyntaxError extends Error {}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const BOM = [0xef, 0xbb, 0xbf];

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

type State =
  | 'start'
  | 'key-or-end'
  | 'colon'
  | 'value'
  | 'after-value'
  | 'element-or-end'
  | 'after-element'
  | 'end';

/** The members and elements of the JSON object `chunks` make up, in order. */
export async function* dumpEntries(chunks: AsyncIterable<Buffer>): AsyncGenerator<DumpEntry> {
  let state: State = 'start';
  let first = true;
  let key = '';
  let index = 0;
  /** The piece being read (a key, a value or an element), across chunks. */
  let parts: Buffer[] = [];
  let reading = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** A number, true, false or null: ends at the first byte that cannot be in it. */
  let bare = false;
  /** Where the piece being read belongs. */
  let target: 'key' | 'value' | 'element' = 'value';
  /** How many bytes of a byte order mark (EF BB BF) the document began with. */
  let bom = 0;

  const parse = (): unknown => {
    const text = Buffer.concat(parts).toString('utf8');
    parts = [];
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new DumpSyntaxError((e as Error).message);
    }
  };
  const unexpected = (byte: number): never => {
    throw new DumpSyntaxError(`Unexpected ${describe(byte)} (${where(state)})`);
  };

  for await (const chunk of chunks) {
    let i = 0;
    let start = reading ? i : -1;
    const out: DumpEntry[] = [];
    for (; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (reading) {
        // Inside a piece: find where it ends.
        let ends = false;
        let endsBefore = false;
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) {
            inString = false;
            if (depth === 0) ends = true;
          }
        } else if (bare) {
          if (isSpace(byte) || byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
            endsBefore = true;
          }
        } else if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
        else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) ends = true;
        }
        if (!ends && !endsBefore) continue;
        parts.push(chunk.subarray(start, endsBefore ? i : i + 1));
        reading = false;
        bare = false;
        start = -1;
        const value = parse();
        if (target === 'key') {
          key = value as string;
          state = 'colon';
        } else if (target === 'value') {
          out.push({ type: 'value', key, value });
          state = 'after-value';
        } else {
          out.push({ type: 'element', key, index: index++, value });
          state = 'after-element';
        }
        if (!endsBefore) continue;
      }
      if (state === 'start' && bom < 3 && byte === BOM[bom] && (bom > 0 || i === 0)) {
        bom++;
        continue;
      }
      if (isSpace(byte)) continue;
      switch (state) {
        case 'start':
          if (byte !== OPEN_BRACE) unexpected(byte);
          state = 'key-or-end';
          first = true;
          break;
        case 'key-or-end':
          if (byte === CLOSE_BRACE && first) state = 'end';
          else if (byte === QUOTE) {
            reading = true;
            start = i;
            target = 'key';
            inString = true;
            escaped = false;
            bare = false;
            depth = 0;
          } else unexpected(byte);
          break;
        case 'colon':
          if (byte !== COLON) unexpected(byte);
          state = 'value';
          break;
        case 'value':
          if (byte === OPEN_BRACKET) {
            out.push({ type: 'array', key });
            state = 'element-or-end';
            first = true;
            index = 0;
          } else {
            startPiece(byte, 'value');
            start = i;
          }
          break;
        case 'after-value':
          if (byte === COMMA) {
            state = 'key-or-end';
            first = false;
          } else if (byte === CLOSE_BRACE) state = 'end';
          else unexpected(byte);
          break;
        case 'element-or-end':
          if (byte === CLOSE_BRACKET && first) state = 'after-value';
          else {
            startPiece(byte, 'element');
            start = i;
          }
          break;
        case 'after-element':
          if (byte === COMMA) {
            state = 'element-or-end';
            first = false;
          } else if (byte === CLOSE_BRACKET) state = 'after-value';
          else unexpected(byte);
          break;
        case 'end':
          unexpected(byte);
      }
    }
    if (reading) parts.push(chunk.subarray(start));
    yield* out;
  }
  if (state !== 'end') {
    throw new DumpSyntaxError(`Unexpected end of the document (${where(state)})`);
  }

  function startPiece(byte: number, into: 'value' | 'element'): void {
    if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte === COMMA || byte === COLON) {
      unexpected(byte);
    }
    reading = true;
    target = into;
    depth = byte === OPEN_BRACE || byte === OPEN_BRACKET ? 1 : 0;
    inString = byte === QUOTE;
    escaped = false;
    bare = !inString && depth === 0;
  }
}

function describe(byte: number): string {
  return byte >= 0x20 && byte < 0x7f
    ? `"${String.fromCharCode(byte)}"`
    : `byte 0x${byte.toString(16)}`;
}

function where(state: State): string {
  switch (state) {
    case 'start':
      return 'a JSON object was expected';
    case 'key-or-end':
      return 'a key or "}" was expected';
    case 'colon':
      return 'a ":" was expected after a key';
    case 'value':
      return 'a value was expected';
    case 'after-value':
      return 'a "," or "}" was expected';
    case 'element-or-end':
      return 'a value or "]" was expected';
    case 'after-element':
      return 'a "," or "]" was expected';
    case 'end':
      return 'nothing was expected after the object';
  }
}
