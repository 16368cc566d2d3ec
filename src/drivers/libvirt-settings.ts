/** The libvirt driver's settings, from the configuration (`--libvirt-*`). */
import type { Accelerator } from './compute/libvirt/domain-xml.js';

export interface LibvirtSettings {
  uri: string;
  /** The storage pool's name (its directory: `<data>/libvirt/pool`). */
  pool: string;
  /** The public network's name and bridge. */
  network: string;
  bridge: string;
  /** `nat`: guests reach the outside; `isolated`: only each other and this machine. */
  forward: 'nat' | 'isolated';
  /** `auto` boots a test guest under KVM to decide; `kvm` or `tcg` decide without. */
  accelerator: 'auto' | Accelerator;
}
