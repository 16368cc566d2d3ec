/**
 * Networks and firewall filters in libvirt: made if absent and reused, DHCP reservations changed
 * live, filters (re)defined from firewall policies. Every function is idempotent.
 */
import { type DhcpHost, dhcpHostXml, type NetworkSpec, networkXml } from './network-xml.js';
import { type FirewallPolicySpec, nwfilterXml } from './nwfilter-xml.js';
import { isNotFound } from './virsh-command.js';
import { runUnlessMissing, stopAndRemove, type VirshRunner } from './virsh-shell.js';
import { attr, child, parseXml } from './xml.js';

/**
 * Makes the network exist, run and start with libvirtd: defined from `spec` if absent, started
 * if stopped. An existing network is reused as it is, unless its bridge differs from `spec`'s
 * (then it is someone else's: an error rather than taking it over).
 */
export async function ensureNetwork(virsh: VirshRunner, spec: NetworkSpec): Promise<void> {
  const xml = await runUnlessMissing(virsh, ['net-dumpxml', spec.name]);
  if (xml === null) {
    await virsh.runWithFile(networkXml(spec), (path) => ['net-define', path]);
  } else {
    const bridge = attr(child(child(parseXml(xml), 'network'), 'bridge'), 'name');
    if (bridge !== spec.bridge) {
      throw new Error(
        `libvirt network ${spec.name} exists with bridge ${bridge}, not ${spec.bridge}: remove it or choose another name`,
      );
    }
  }
  const info = await virsh.run(['net-info', spec.name]);
  if (/^Active:\s+no/m.test(info)) await virsh.run(['net-start', spec.name]);
  if (/^Autostart:\s+no/m.test(info)) await virsh.run(['net-autostart', spec.name]);
}

/** Stops and removes a network; an absent one is no error. */
export async function removeNetwork(virsh: VirshRunner, name: string): Promise<void> {
  await stopAndRemove(virsh, ['net-destroy', 'net-undefine'], name);
}

/** Reserves `host.ip` for `host.mac`, live and in the definition (a guest gets it on renewal). */
export async function setDhcpHost(
  virsh: VirshRunner,
  network: string,
  host: DhcpHost,
): Promise<void> {
  const xml = dhcpHostXml(host);
  try {
    await virsh.run(['net-update', network, 'modify', 'ip-dhcp-host', xml, '--live', '--config']);
  } catch (error) {
    // `modify` finds the reservation by MAC; a MAC without one is added.
    if (!/no host|couldn't locate|there is no/i.test((error as Error).message)) throw error;
    await virsh.run(['net-update', network, 'add-last', 'ip-dhcp-host', xml, '--live', '--config']);
  }
}

/** Drops the reservation of `mac`; none is no error. */
export async function removeDhcpHost(
  virsh: VirshRunner,
  network: string,
  mac: string,
): Promise<void> {
  try {
    await virsh.run([
      'net-update',
      network,
      'delete',
      'ip-dhcp-host',
      dhcpHostXml({ mac }),
      '--live',
      '--config',
    ]);
  } catch (error) {
    if (!/no host|couldn't locate|there is no/i.test((error as Error).message)) throw error;
  }
}

/** Defines (or redefines: the policy's uuid keeps its identity) a policy's filter. */
export async function defineFilter(virsh: VirshRunner, policy: FirewallPolicySpec): Promise<void> {
  await virsh.runWithFile(nwfilterXml(policy), (path) => ['nwfilter-define', path]);
}

/** Removes a filter; an absent one is no error (one still used by a NIC is). */
export async function removeFilter(virsh: VirshRunner, name: string): Promise<void> {
  try {
    await virsh.run(['nwfilter-undefine', name]);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
