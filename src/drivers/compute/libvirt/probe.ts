/**
 * Which accelerator a libvirt host's guests run under. libvirt offers `kvm` whenever /dev/kvm
 * exists, yet on some hosts (this project's CI machines among them) KVM guests hang after the
 * kernel's decompressor or abort on an MSR. So KVM counts only if a throwaway guest really boots
 * under it: a transient domain boots a kernel directly and must print its marker on the console
 * within the timeout. Otherwise guests run under TCG, with a warning to log and report.
 */
import { randomUUID } from 'node:crypto';
import { type Accelerator, type DirectBoot, domainXml, unlimitedCpu } from './domain-xml.js';
import type { LibvirtHost } from './host.js';
import { listenSerial, SerialConsole } from './serial-endpoint.js';

export interface ProbeOptions {
  /** A kernel (and initrd) on the libvirt host that prints `marker` on ttyS0 once it runs. */
  guest: DirectBoot & { marker: string };
  /** An address of this machine the libvirt host reaches (the guest's console connects to it). */
  listenHost: string;
  /** How long a KVM guest may take to print its marker; default 20 s (one boots in about 2). */
  timeoutMs?: number;
}

export interface ProbeResult {
  accelerator: Accelerator;
  /** Why guests run under TCG, for the logs and /readyz; null under KVM. */
  warning: string | null;
}

export async function probeAccelerator(
  host: LibvirtHost,
  options: ProbeOptions,
): Promise<ProbeResult> {
  const { domainTypes } = await host.capabilities();
  if (!domainTypes.includes('kvm')) {
    return {
      accelerator: 'tcg',
      warning:
        'libvirt offers no KVM on this host: guests run under TCG (emulated, many times slower)',
    };
  }
  const timeoutMs = options.timeoutMs ?? 20_000;
  const console = new SerialConsole();
  const endpoint = await listenSerial({
    host: options.listenHost,
    port: 0,
    onConnection: (socket) => console.attach(socket),
  });
  const uuid = randomUUID();
  const name = `sigmalite-kvm-probe-${uuid.slice(0, 8)}`;
  try {
    await host.createTransient(
      domainXml({
        uuid,
        name,
        accelerator: 'kvm',
        cpu: unlimitedCpu(),
        memBytes: 256 * 1024 * 1024,
        drives: [],
        nics: [],
        vnc: null,
        console: { host: options.listenHost, port: endpoint.port },
        context: null,
        directBoot: options.guest,
      }),
    );
    await console.waitForLine(options.guest.marker, timeoutMs);
    return { accelerator: 'kvm', warning: null };
  } catch (error) {
    return {
      accelerator: 'tcg',
      warning: `KVM is offered but a test guest did not boot under it (${(error as Error).message}): guests run under TCG (emulated, many times slower)`,
    };
  } finally {
    await host.destroy(name);
    await endpoint.close();
  }
}
