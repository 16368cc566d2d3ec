/**
 * The server's screen with noVNC. The bridge authenticates to the VNC server itself, so the page
 * never sees the server's VNC password; noVNC is offered security type None.
 */
import RFB from '@novnc/novnc';
import { useEffect, useRef, useState } from 'preact/hooks';
import { tunnelUrl } from './tunnel';
import { Errors, TunnelState } from './ui';

export function Screen({ server }: { server: string }) {
  const target = useRef<HTMLElement>(null);
  const [state, setState] = useState('connecting');
  const [error, setError] = useState<unknown>(undefined);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let rfb: RFB | undefined;
    let live = true;
    setState('connecting');
    setError(undefined);
    tunnelUrl(server, 'screen').then(
      (url) => {
        if (!live || !target.current) return;
        rfb = new RFB(target.current, url);
        rfb.scaleViewport = true;
        rfb.background = '#222';
        rfb.addEventListener('connect', () => setState('connected'));
        rfb.addEventListener('securityfailure', (event) => {
          const detail = (event as CustomEvent<{ reason?: string }>).detail;
          setError(new Error(detail.reason ?? 'the screen refused the connection'));
        });
        rfb.addEventListener('disconnect', () => {
          // noVNC refuses a second disconnect of the same object.
          rfb = undefined;
          if (live) setState('disconnected');
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
      rfb?.disconnect();
    };
  }, [server, attempt]);

  return (
    <div class="screen-panel">
      <TunnelState title="Screen" state={state} onReconnect={() => setAttempt((n) => n + 1)} />
      <Errors error={error} />
      <section class="screen" ref={target} aria-label="Server screen" />
    </div>
  );
}
