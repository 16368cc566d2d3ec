/**
 * The two halves of the screen bridge's RFB handshake (RFC 6143 §7.1-7.2).
 *
 * Upstream, towards the server's VNC tunnel, the bridge is a client that authenticates with the
 * server's `vnc_password` (VNC Authentication), so that the password never reaches the browser.
 * Downstream, towards noVNC in the page, it is a server that offers only security type None:
 * the browser proved who it is with a single-use token before its websocket opened. After both
 * handshakes the two streams are joined unchanged, starting with the browser's ClientInit.
 */
import type { Duplex } from 'node:stream';
import { vncResponse } from '../drivers/compute/simulated/rfb.js';
import { readBytes } from './reader.js';

const NONE = 1;
const VNC_AUTH = 2;
/** Longer failure reasons are cut (a reason is only shown to a person). */
const MAX_REASON = 1024;

/** A handshake that failed for a reason worth showing to the person at the screen. */
export class RfbHandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RfbHandshakeError';
  }
}

/** The minor version of `RFB 003.00N\n` as both sides agree on it: 8, 7, or 3 for anything else. */
function agreedMinor(version: Buffer, who: string): 3 | 7 | 8 {
  const match = /^RFB (\d{3})\.(\d{3})\n$/.exec(version.toString('latin1'));
  if (!match) throw new RfbHandshakeError(`${who} does not speak RFB`);
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major > 3 || minor >= 8) return 8;
  return minor === 7 ? 7 : 3;
}

const u32 = (value: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
};

async function readReason(stream: Duplex, who: string): Promise<string> {
  const length = (await readBytes(stream, 4, who)).readUInt32BE(0);
  if (length === 0) return 'no reason given';
  const text = await readBytes(stream, Math.min(length, MAX_REASON), who);
  return text.toString('utf8');
}

/**
 * Authenticates to a VNC server as a client; leaves `upstream` where the server waits for
 * ClientInit. Throws `RfbHandshakeError` for a refusal (wrong password, no common security type).
 */
export async function authenticateUpstream(upstream: Duplex, password: string): Promise<void> {
  const who = 'the VNC server';
  const minor = agreedMinor(await readBytes(upstream, 12, who), who);
  upstream.write(`RFB 003.00${minor}\n`);
  let type: number;
  if (minor === 3) {
    // 3.3: the server decides.
    type = (await readBytes(upstream, 4, who)).readUInt32BE(0);
    if (type === 0) throw new RfbHandshakeError(await readReason(upstream, who));
  } else {
    const count = (await readBytes(upstream, 1, who))[0]!;
    if (count === 0) throw new RfbHandshakeError(await readReason(upstream, who));
    const offered = [...(await readBytes(upstream, count, who))];
    type = offered.includes(VNC_AUTH) ? VNC_AUTH : offered.includes(NONE) ? NONE : 0;
    if (type === 0) {
      throw new RfbHandshakeError(`${who} offers no security type the bridge speaks`);
    }
    upstream.write(Buffer.from([type]));
  }
  if (type === VNC_AUTH) {
    upstream.write(vncResponse(password, await readBytes(upstream, 16, who)));
  } else if (type !== NONE) {
    throw new RfbHandshakeError(`${who} asks for security type ${type}, which the bridge lacks`);
  }
  // SecurityResult: always in 3.8, after VNC Authentication only in 3.3 and 3.7.
  if (type === VNC_AUTH || minor === 8) {
    if ((await readBytes(upstream, 4, who)).readUInt32BE(0) !== 0) {
      const reason = minor === 8 ? await readReason(upstream, who) : 'authentication failed';
      throw new RfbHandshakeError(`the VNC server refused the password: ${reason}`);
    }
  }
}

/** Sends the bridge's version to the browser and reads the one it answers. */
export async function greetViewer(viewer: Duplex): Promise<3 | 7 | 8> {
  viewer.write('RFB 003.008\n');
  return agreedMinor(await readBytes(viewer, 12, 'the viewer'), 'the viewer');
}

/** Offers security type None and completes it; the viewer's ClientInit comes next. */
export async function admitViewer(viewer: Duplex, minor: 3 | 7 | 8): Promise<void> {
  if (minor === 3) {
    viewer.write(u32(NONE));
    return;
  }
  viewer.write(Buffer.from([1, NONE]));
  const chosen = (await readBytes(viewer, 1, 'the viewer'))[0];
  if (chosen !== NONE) {
    const reason = Buffer.from('security type None is the only one offered');
    if (minor === 8) viewer.write(Buffer.concat([u32(1), u32(reason.length), reason]));
    throw new RfbHandshakeError(`the viewer chose security type ${chosen}`);
  }
  if (minor === 8) viewer.write(u32(0));
}

/** Tells the viewer why there will be no screen (noVNC shows the reason), before closing. */
export function refuseViewer(viewer: Duplex, minor: 3 | 7 | 8, reason: string): void {
  const text = Buffer.from(reason.slice(0, MAX_REASON));
  const head = minor === 3 ? u32(0) : Buffer.from([0]);
  viewer.write(Buffer.concat([head, u32(text.length), text]));
}
