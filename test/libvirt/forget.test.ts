/**
 * A host forgets a server's machine (no libvirtd needed): after a delete, or after the server
 * started on another host (placement, issue 16). Where the machine is stopped, forgetting only
 * undefines the domain (`virsh undefine` without `--remove-all-storage`: its volumes stay) and
 * drops sigmalite's record of it; nothing is powered off. A domain already gone is no error.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  LibvirtCompute,
  type LibvirtComputeOptions,
} from '../../src/drivers/compute/libvirt/driver.js';
import { VirshError } from '../../src/drivers/compute/libvirt/virsh-command.js';

const UUID = '6a5b1c3e-2d4f-4a6b-8c9d-0e1f2a3b4c5d';

function driver(state: () => Promise<{ state: string; reason: string }>) {
  const host = {
    state: vi.fn(state),
    destroy: vi.fn(async () => {}),
    undefine: vi.fn(async () => {}),
    locks: { run: <T>(_: string, fn: () => Promise<T>) => fn() },
  };
  const machines = { delete: vi.fn(async () => {}) };
  const options = {
    hostName: 'h1',
    clock: { now: () => 1000 },
    host,
    machines,
  } as unknown as LibvirtComputeOptions;
  return { compute: new LibvirtCompute(options), host, machines };
}

describe('forgetting a machine', () => {
  it('of a stopped domain only undefines it and drops its record', async () => {
    const { compute, host, machines } = driver(async () => ({
      state: 'shut off',
      reason: 'destroyed',
    }));
    await compute.forget('h1', UUID);
    expect(host.destroy).not.toHaveBeenCalled();
    expect(host.undefine).toHaveBeenCalledWith(UUID);
    expect(machines.delete).toHaveBeenCalledWith(UUID);
  });

  it('of a domain the host no longer has is no error', async () => {
    const { compute, host, machines } = driver(async () => {
      throw new VirshError(`error: failed to get domain '${UUID}'`);
    });
    await compute.forget('h1', UUID);
    expect(host.destroy).not.toHaveBeenCalled();
    expect(machines.delete).toHaveBeenCalledWith(UUID);
  });

  it('of a server that moved leaves a domain that runs alone (its start there came first)', async () => {
    const { compute, host, machines } = driver(async () => ({
      state: 'running',
      reason: 'booted',
    }));
    await compute.forget('h1', UUID, { onlyStopped: true });
    expect(host.destroy).not.toHaveBeenCalled();
    expect(host.undefine).not.toHaveBeenCalled();
    expect(machines.delete).not.toHaveBeenCalled();
  });

  it('of a deleted server powers a running domain off first', async () => {
    const { compute, host } = driver(async () => ({ state: 'running', reason: 'booted' }));
    await compute.forget('h1', UUID);
    expect(host.undefine).toHaveBeenCalledWith(UUID);
    expect(host.destroy).toHaveBeenCalled();
  });

  it('of another host is refused', async () => {
    const { compute } = driver(async () => ({ state: 'shut off', reason: 'destroyed' }));
    await expect(compute.forget('h2', UUID)).rejects.toThrow();
  });
});
