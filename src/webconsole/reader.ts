/**
 * Reading a handshake off a stream before the stream is piped on: exact byte counts and lines,
 * leaving whatever follows in the stream for the pipe. A stream that ends or fails first makes
 * the read fail.
 */
import type { Readable } from 'node:stream';

export class StreamClosedError extends Error {
  constructor(what: string) {
    super(`${what} closed the connection`);
    this.name = 'StreamClosedError';
  }
}

/** Waits until the stream may have more to read; fails if it ends, closes or errors. */
function more(stream: Readable, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onReadable = () => done();
    const onEnd = () => done(new StreamClosedError(what));
    const onError = (error: Error) => done(error);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
  });
}

/** Exactly `n` bytes. */
export async function readBytes(stream: Readable, n: number, what: string): Promise<Buffer> {
  for (;;) {
    if (stream.destroyed || stream.readableEnded) throw new StreamClosedError(what);
    const chunk = stream.read(n) as Buffer | null;
    // An ended stream hands over what is left, even if that is less.
    if (chunk !== null && chunk.length < n) throw new StreamClosedError(what);
    if (chunk !== null) return chunk;
    await more(stream, what);
  }
}

/** One line, ended by `\n` (a `\r` before it is dropped), of at most `max` bytes. */
export async function readLine(stream: Readable, max: number, what: string): Promise<string> {
  let line = Buffer.alloc(0);
  for (;;) {
    if (stream.destroyed || stream.readableEnded) throw new StreamClosedError(what);
    const chunk = stream.read() as Buffer | null;
    if (chunk === null) {
      await more(stream, what);
      continue;
    }
    const end = chunk.indexOf(0x0a);
    if (end < 0) {
      line = Buffer.concat([line, chunk]);
      if (line.length > max) throw new Error(`${what} sent a line longer than ${max} bytes`);
      continue;
    }
    // What follows the line stays for the next reader.
    if (end + 1 < chunk.length) stream.unshift(chunk.subarray(end + 1));
    line = Buffer.concat([line, chunk.subarray(0, end)]);
    if (line.length > max) throw new Error(`${what} sent a line longer than ${max} bytes`);
    return line.toString('utf8').replace(/\r$/, '');
  }
}
