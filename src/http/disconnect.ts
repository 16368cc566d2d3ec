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
    else res.once('close', closed);
    return signal;
  };
}
