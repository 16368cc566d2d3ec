/**
 * An answer's body as the server keeps it: a string, bytes, or byte chunks sent one after the
 * other. Chunks let a whole list go out as the store keeps it (the envelope's head, the items
 * joined once and cached, the tail) without copying megabytes into one buffer per request.
 */
import type { Rendered } from '../store/types.js';

export type Body = Rendered | readonly Buffer[];

/** The body's length in bytes (its Content-Length). */
export function bodyLength(body: Body): number {
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (Buffer.isBuffer(body)) return body.length;
  let length = 0;
  for (const chunk of body) length += chunk.length;
  return length;
}

/** The body in one piece, for what needs one (Fastify's reply). */
export function flatBody(body: Body): Rendered {
  return typeof body === 'string' || Buffer.isBuffer(body) ? body : Buffer.concat(body);
}

/** The body as the pieces it is sent in. */
export function piecesOf(body: Body): readonly Buffer[] {
  if (typeof body === 'string') return [Buffer.from(body)];
  return Buffer.isBuffer(body) ? [body] : body;
}

export function isChunks(body: Body): body is readonly Buffer[] {
  return typeof body !== 'string' && !Buffer.isBuffer(body);
}
