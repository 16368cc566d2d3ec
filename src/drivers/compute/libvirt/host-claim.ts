/**
 * One libvirt host, one sigmalite without a shared store: two processes each with its own SQLite
 * file would both believe they own the host's domains (each reconciles, adopts and undefines them
 * by its own records) and fight over them. With PostgreSQL the processes coordinate through the
 * store's task leases, so no claim is taken then.
 *
 * The claim is a listening socket in Linux's abstract namespace, named by the libvirt host's
 * identity (its host name and the URI's path, `vm:/system`, hashed to fit a socket's name): the
 * kernel releases it the moment the process ends, however it ends (SIGKILL included), so a
 * crashed sigmalite never leaves a stale lock behind. It answers whoever connects with who holds
 * it, for the refusal's message. Its reach is one machine (one network namespace): two sigmalite
 * processes on different machines pointed at one remote libvirt host are not caught
 * (docs/libvirt.md).
 */
import { createHash } from 'node:crypto';
import { createConnection, createServer, type Server } from 'node:net';

export interface HostClaim {
  release(): Promise<void>;
}

/** Who holds a claim: told to a process that asks for the same host. */
export interface ClaimHolder {
  pid: number;
  dataDir: string;
}

export function claimAddress(hostId: string): string {
  return `\0sigmalite-libvirt-${createHash('sha256').update(hostId).digest('hex').slice(0, 32)}`;
}

/**
 * Claims the libvirt host `hostId` for this process, or throws naming the process that holds it.
 */
export async function claimLibvirtHost(
  hostId: string,
  uri: string,
  holder: ClaimHolder,
): Promise<HostClaim> {
  const address = claimAddress(hostId);
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${JSON.stringify(holder)}\n`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const other = await askHolder(address);
    const who = other ? ` (pid ${other.pid}, --data ${other.dataDir})` : '';
    throw new Error(
      `libvirt host ${hostId} (${uri}) is already driven by another sigmalite process${who}: two processes with stores of their own would fight over its domains; stop the other one, or share a PostgreSQL store (--store) between them`,
    );
  }
  // The claim must not keep the process alive by itself.
  server.unref();
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Reads who holds the claim at `address`; null when it cannot tell. */
function askHolder(address: string): Promise<ClaimHolder | null> {
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection(address);
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk.slice(0, 4096);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        const parsed = JSON.parse(text) as ClaimHolder;
        resolve(typeof parsed.pid === 'number' ? parsed : null);
      } catch {
        resolve(null);
      }
    });
  });
}
