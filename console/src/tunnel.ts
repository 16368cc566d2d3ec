/** A websocket to one of a server's tunnels, through a single-use token (POST /console/tokens/). */
import { post } from './api';

export type TunnelKind = 'screen' | 'serial';

/** The websocket URL of a fresh token for `kind` of `server`. */
export async function tunnelUrl(server: string, kind: TunnelKind): Promise<string> {
  const { websocket } = await post<{ websocket: string }>('/console/tokens/', { server, kind });
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${websocket}`;
}
