/**
 * The context serial protocol (api-reference.md §5.9, docs/context.md). The guest writes
 * `<\n{path}\n>` (LF or CRLF); the host answers one line, `\n` and EOT (`\x04`):
 *
 * - an empty path: the whole context as single-line JSON;
 * - a path (`name`, `/meta/ssh_public_key`, `nics/0`; `/`-separated, integers index lists, the
 *   leading and trailing `/` optional): that part, as JSON if it is an object or a list, else the
 *   bare value: strings without quotes and with control characters backslash-escaped, `null` as
 *   an empty line. A path that names nothing answers an empty line too.
 *
 * Everything here is plain functions and streams: `serveContext` serves a real serial device
 * (a socket to QEMU's chardev), `contextChannel` is the guest's end in memory (tests).
 */
import { Duplex } from 'node:stream';
import { isPlainObject } from '../../model/json.js';
import { PyFloat, pythonJson, pythonString } from './pyjson.js';

export const EOT = '\x04';

/** A guest request never needs this much; what piles up without one is garbage. */
const MAX_PENDING = 64 * 1024;

/** The answer line (without `\n` and EOT) to `path` of `context` (undefined: no server). */
export function answerLine(context: unknown, path: string): string {
  if (context === undefined) return '';
  const found = lookup(context, path);
  if (!found.found) return '';
  return render(found.value);
}

/** What the host sends for a request: the line, `\n`, EOT. ASCII only. */
export function answerBytes(context: unknown, path: string): Buffer {
  return Buffer.from(`${answerLine(context, path)}\n${EOT}`, 'latin1');
}

export function lookup(context: unknown, path: string): { found: boolean; value?: unknown } {
  let current = context;
  for (const segment of path.split('/')) {
    if (segment === '') continue;
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(segment) || Number(segment) >= current.length) return { found: false };
      current = current[Number(segment)];
    } else if (isPlainObject(current) && !(current instanceof PyFloat)) {
      if (!Object.hasOwn(current, segment)) return { found: false };
      current = current[segment];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: current };
}

function render(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return pythonString(value).slice(1, -1);
  return pythonJson(value);
}

/**
 * Finds requests in what the guest writes: `<`, a newline (LF or CRLF), the path, a newline, `>`.
 * Bytes outside a request (a guest's stray echo, a half-written request it gave up) are skipped.
 */
export class RequestParser {
  private pending = Buffer.alloc(0);

  /** Feeds bytes; returns the paths of the requests they complete, in order. */
  push(chunk: Buffer | string): string[] {
    this.pending = Buffer.concat([
      this.pending,
      typeof chunk === 'string' ? Buffer.from(chunk) : chunk,
    ]);
    const paths: string[] = [];
    // latin1 keeps one character per byte, so indexes are byte offsets.
    const text = this.pending.toString('latin1');
    const request = /<\r?\n([^\n]*)\n>/g;
    let consumed = 0;
    for (let match = request.exec(text); match; match = request.exec(text)) {
      const path = match[1]!.endsWith('\r') ? match[1]!.slice(0, -1) : match[1]!;
      paths.push(Buffer.from(path, 'latin1').toString('utf8'));
      consumed = request.lastIndex;
    }
    // Keep what may still become a request: from the first `<` after the last one answered.
    const start = text.indexOf('<', consumed);
    let keep = start < 0 ? text.length : start;
    if (text.length - keep > MAX_PENDING) {
      // No path is that long: only a `<` among the last bytes may still start a request.
      const last = text.lastIndexOf('<');
      keep = last > keep && text.length - last <= MAX_PENDING ? last : text.length;
    }
    this.pending = this.pending.subarray(keep);
    return paths;
  }
}

/** Where a server's context comes from, read anew for every request. */
export type ContextSource = () => Promise<unknown>;

/** Answers each request in order; a source that fails answers an empty line. */
function responder(source: ContextSource, send: (bytes: Buffer) => void) {
  const parser = new RequestParser();
  let queue: Promise<void> = Promise.resolve();
  return {
    feed(chunk: Buffer | string): void {
      for (const path of parser.push(chunk)) {
        queue = queue.then(async () => {
          let context: unknown;
          try {
            context = await source();
          } catch {
            context = undefined;
          }
          send(answerBytes(context, path));
        });
      }
    },
    drained: () => queue,
  };
}

/**
 * Serves the protocol on a byte stream the guest's serial port is connected to (the QEMU driver:
 * a socket to the `context` chardev). Returns a function that stops serving.
 */
export function serveContext(port: Duplex, source: ContextSource): () => void {
  const { feed } = responder(source, (bytes) => {
    if (!port.destroyed && port.writable) port.write(bytes);
  });
  port.on('data', feed);
  return () => port.off('data', feed);
}

/**
 * The guest's end of a context serial port, in memory: what is written to it is what the guest
 * sends, what is read from it is what the host answers. Ending the writable side ends the
 * readable one once every request is answered.
 */
export function contextChannel(source: ContextSource): Duplex {
  const { feed, drained } = responder(source, (bytes) => channel.push(bytes));
  const channel = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      feed(chunk);
      callback();
    },
    final(callback) {
      drained().then(() => {
        channel.push(null);
        callback();
      }, callback);
    },
    read() {},
  });
  return channel;
}
