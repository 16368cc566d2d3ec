/**
 * The server's serial console with xterm.js: what is typed goes to the console as bytes, what the
 * console writes comes back as bytes (docs/console.md, through the console's websocket bridge).
 */
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { tunnelUrl } from './tunnel';
import { Errors, TunnelState } from './ui';

export function Serial({ server }: { server: string }) {
  const target = useRef<HTMLElement>(null);
  const [state, setState] = useState('connecting');
  const [error, setError] = useState<unknown>(undefined);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let live = true;
    let ws: WebSocket | undefined;
    const term = new Terminal({ convertEol: false, cursorBlink: true, rows: 24, cols: 80 });
    if (target.current) term.open(target.current);
    const encoder = new TextEncoder();
    const typed = term.onData((data) => {
      if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    setState('connecting');
    setError(undefined);
    tunnelUrl(server, 'serial').then(
      (url) => {
        if (!live) return;
        ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        ws.addEventListener('open', () => {
          setState('connected');
          term.focus();
        });
        ws.addEventListener('message', (event) => {
          if (event.data instanceof ArrayBuffer) term.write(new Uint8Array(event.data));
        });
        ws.addEventListener('close', (event) => {
          if (!live) return;
          setState('disconnected');
          if (event.code !== 1000 && event.reason) setError(new Error(event.reason));
          term.write(`\r\n[${event.reason || 'disconnected'}]\r\n`);
        });
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setState('disconnected');
      },
    );
    return () => {
      live = false;
      typed.dispose();
      ws?.close();
      term.dispose();
    };
  }, [server, attempt]);

  return (
    <div class="serial-panel">
      <TunnelState
        title="Serial console"
        state={state}
        onReconnect={() => setAttempt((n) => n + 1)}
      />
      <Errors error={error} />
      <section class="serial" ref={target} aria-label="Serial console" />
    </div>
  );
}
