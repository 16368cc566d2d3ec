/**
 * The API's websocket notification stream (docs/events.md): a frame for every change of the
 * account's objects, so that pages follow statuses without reloading. The `async_auth` cookie
 * comes from `authenticate_asynchronous` (with the session and its CSRF token); a dropped stream
 * is reopened with a fresh cookie, and listeners are told to re-read what they show.
 */
import { type Obj, post } from './api';

export interface Frame {
  resource_type: string;
  resource_uri: string;
  /** Absent for a deletion. */
  object?: Obj;
}

type Listener = (frame: Frame) => void;

const listeners = new Set<Listener>();
const reconnectListeners = new Set<() => void>();
let socket: WebSocket | undefined;
let stopped = true;
let retry: number | undefined;
let backoffMs = 500;

/** Hears every frame until the returned function is called. */
export function onFrame(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Hears every opening of the stream (frames may have been missed before it). */
export function onReconnect(listener: () => void): () => void {
  reconnectListeners.add(listener);
  return () => reconnectListeners.delete(listener);
}

/** Whether the stream is open now (the page shows it). */
export function connected(): boolean {
  return socket?.readyState === WebSocket.OPEN;
}

async function open(): Promise<void> {
  if (stopped) return;
  try {
    await post('/accounts/action/?do=authenticate_asynchronous', {});
  } catch {
    schedule();
    return;
  }
  if (stopped) return;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/websocket`);
  socket = ws;
  ws.addEventListener('open', () => {
    backoffMs = 500;
    document.documentElement.dataset.events = 'open';
    // Also at the first opening: a page that read its list before the stream was open may have
    // missed a change in between.
    for (const listener of reconnectListeners) listener();
  });
  ws.addEventListener('message', (event) => {
    if (typeof event.data !== 'string') return;
    let frame: Frame;
    try {
      frame = JSON.parse(event.data) as Frame;
    } catch {
      return;
    }
    for (const listener of listeners) listener(frame);
  });
  ws.addEventListener('close', () => {
    document.documentElement.dataset.events = 'closed';
    if (socket === ws) socket = undefined;
    schedule();
  });
}

function schedule(): void {
  if (stopped || retry !== undefined) return;
  retry = window.setTimeout(() => {
    retry = undefined;
    void open();
  }, backoffMs);
  backoffMs = Math.min(backoffMs * 2, 15_000);
}

export function startEvents(): void {
  if (!stopped) return;
  stopped = false;
  void open();
}

export function stopEvents(): void {
  stopped = true;
  if (retry !== undefined) window.clearTimeout(retry);
  retry = undefined;
  socket?.close();
  socket = undefined;
}
