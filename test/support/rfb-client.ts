/**
 * A small RFB (VNC) client for tests against a real VNC server (QEMU's): the 3.8 handshake, VNC
 * Authentication with a password, and ServerInit. It answers what the server said: the security
 * result (0 accepted, 1 refused) and, when accepted, the screen's size and desktop name.
 */
import { connect, type NetConnectOpts } from 'node:net';
import { vncResponse } from '../../src/drivers/compute/simulated/rfb.js';

export interface RfbOutcome {
  version: string;
  securityTypes: number[];
  /** 0: authenticated; 1: refused. */
  securityResult: number;
  width?: number;
  height?: number;
  desktopName?: string;
}

/** Connects (`{ path }` for a unix socket, `{ host, port }` for TCP) and authenticates. */
export function rfbAuthenticate(
  where: NetConnectOpts,
  password: string,
  timeoutMs = 10_000,
): Promise<RfbOutcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(where);
    let buffer = Buffer.alloc(0);
    let stage: 'version' | 'types' | 'challenge' | 'result' | 'init' = 'version';
    const outcome: RfbOutcome = { version: '', securityTypes: [], securityResult: -1 };
    const timer = setTimeout(
      () => finish(new Error(`RFB: no answer at ${stage} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (result: RfbOutcome | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const take = (n: number): Buffer | undefined => {
      if (buffer.length < n) return undefined;
      const part = buffer.subarray(0, n);
      buffer = buffer.subarray(n);
      return part;
    };
    socket.on('error', (error) => finish(error));
    socket.on('data', (data) => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        if (stage === 'version') {
          const version = take(12);
          if (!version) return;
          outcome.version = version.toString('latin1').trim();
          socket.write('RFB 003.008\n');
          stage = 'types';
        } else if (stage === 'types') {
          if (buffer.length < 1 || buffer.length < 1 + buffer[0]!) return;
          const count = take(1)![0]!;
          outcome.securityTypes = [...take(count)!];
          if (!outcome.securityTypes.includes(2))
            return finish(new Error('RFB: no VNC authentication offered'));
          socket.write(Buffer.from([2]));
          stage = 'challenge';
        } else if (stage === 'challenge') {
          const challenge = take(16);
          if (!challenge) return;
          socket.write(vncResponse(password, challenge));
          stage = 'result';
        } else if (stage === 'result') {
          const result = take(4);
          if (!result) return;
          outcome.securityResult = result.readUInt32BE(0);
          if (outcome.securityResult !== 0) return finish(outcome);
          socket.write(Buffer.from([1])); // ClientInit: shared
          stage = 'init';
        } else {
          if (buffer.length < 24 || buffer.length < 24 + buffer.readUInt32BE(20)) return;
          outcome.width = buffer.readUInt16BE(0);
          outcome.height = buffer.readUInt16BE(2);
          outcome.desktopName = buffer.toString('utf8', 24, 24 + buffer.readUInt32BE(20));
          return finish(outcome);
        }
      }
    });
  });
}
