/**
 * What a server's NICs point to: a VLAN, a static IP, a firewall policy (api-reference.md §4).
 * Until those resources exist, such references answer 400 naming the field; once they do, the
 * IP's `server`, the VLAN's `servers` and the policy's `servers` follow the NICs.
 */
import { errors } from '../../http/errors.js';
import type { WriteTx } from '../../store/types.js';
import type { NicDoc, ServerDoc } from '../servers/model.js';

/** Checks what one NIC of a server of `owner` refers to; `point` is `nics.N`. */
export async function checkNicReferences(
  _tx: WriteTx,
  _owner: string,
  _server: string,
  nic: Omit<NicDoc, 'mac'>,
  point: string,
): Promise<void> {
  if (nic.vlan !== null) throw errors.notYetSupported(`${point}.vlan`, 'VLANs');
  if (nic.firewall_policy !== null) {
    throw errors.notYetSupported(`${point}.firewall_policy`, 'Firewall policies');
  }
  for (const name of ['ip_v4_conf', 'ip_v6_conf'] as const) {
    const conf = nic[name];
    if (conf?.conf === 'static' && conf.ip !== null) {
      throw errors.notYetSupported(`${point}.${name}.ip`, 'Static IPs');
    }
  }
}

/** After a server was written or deleted (`after` null): IPs, VLANs and policies follow. */
export async function syncNicReferences(
  _tx: WriteTx,
  _before: ServerDoc | null,
  _after: ServerDoc | null,
): Promise<void> {}
