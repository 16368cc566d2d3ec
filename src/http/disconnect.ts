/**
 * Whether the client still waits for its answer: work not yet committed (a long list being read,
 * a bulk create being prepared, keys being generated) stops once it went away.
 */
import type { ServerResponse } from 'node:http';
import { errors } from '../errors.js';

/**
 * The request's `clientSignal`: an AbortSignal aborted (with a 499 `clientClosed`) when the
 * connection closes before the answer is sent. Made on first call: most requests never ask.
 */
export function disconnectSignal(res: ServerResponse): () => AbortSignal {
  let signal: AbortSignal | undefined;
  return () => {
    if (signal) return signal;
    const controller = new AbortController();
    signal = controller.signal;
    const closed = () => {
      if (!res.writableFinished) controller.abort(errors.clientClosed());
    };
    if (res.closed) closed();
    else {
      // A client that sent its whole request and left: Node keeps the response open (half-open)
      // until it is written, so the end of what the client sends is the sign it went away.
      const socket = res.socket;
      socket?.once('end', closed);
      res.once('close', () => {
        socket?.off('end', closed);
        closed();
      });
    }
    return signal;
  };
}
