import type { Config } from '../../config.js';
import { IpPool } from './ippool.js';
import { AddressPool, TagRange } from './pool.js';
import type { NetworkSettings } from './service.js';

/** Networking's options (`--ip-pool`, `--vlan-tags`, `--nameservers`), read and checked at start. */
export function networkSettings(
  config: Pick<Config, 'ipPool' | 'vlanTags' | 'nameservers' | 'dynamicPool'>,
): NetworkSettings {
  const addresses = new AddressPool(config.ipPool);
  const dynamic = new IpPool(config.dynamicPool);
  if (addresses.overlaps(dynamic.network, dynamic.network + dynamic.size - 1)) {
    throw new Error(
      `--ip-pool ${config.ipPool} overlaps --dynamic-pool ${config.dynamicPool}: an address would be both`,
    );
  }
  const nameservers = config.nameservers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return { addresses, vlanTags: new TagRange(config.vlanTags), nameservers };
}
