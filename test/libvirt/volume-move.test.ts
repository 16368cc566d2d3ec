/**
 * Volumes moved between two independent libvirt hosts (lab hosts in namespaces, each with a pool
 * of its own) through libvirt's streams: the bytes arrive whole, the source goes, a repeated move
 * does nothing, a partial copy is redone, a failed copy leaves no target and keeps the source;
 * and the per-host-pool storage driver that records where each volume is and finishes or undoes a
 * move a crash interrupted.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineTable } from '../../src/drivers/compute/simulated/driver.js';
import { DriverError } from '../../src/drivers/errors.js';
import {
  HostPoolsStorage,
  VOLUME_LOCATIONS_STATE,
  VOLUME_MOVES_STATE,
} from '../../src/drivers/storage/libvirt/host-pools.js';
import { copyTimeoutMs, copyVolume } from '../../src/drivers/storage/libvirt/volume-copy.js';
import { LibvirtVolumes } from '../../src/drivers/storage/libvirt/volumes.js';
import { hostOf, PLACEMENT_STATE } from '../../src/engine/placement.js';
import {
  describeLabHosts,
  type LabHost,
  startLabHosts,
  stopLabHosts,
} from '../support/lvhosts-volumes.js';
import { openTestStore } from '../support/stores.js';

const MiB = 1024 * 1024;

/** A qcow2 volume on `host` whose guest sees `pattern` in 1-3 MiB; answers its file's bytes. */
async function writtenQcow2(host: LabHost, name: string, pattern = 0x5a): Promise<Buffer> {
  const volume = await host.volumes.create(name, 64 * MiB);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} 1M 2M`, volume.path], {
    stdio: 'pipe',
  });
  return readFileSync(volume.path);
}

/** Whether the qcow2 at `path` reads `pattern` where `writtenQcow2` wrote it. */
function readsPattern(path: string, pattern = 0x5a): boolean {
  const out = execFileSync('qemu-io', ['-f', 'qcow2', '-c', `read -P ${pattern} 1M 2M`, path], {
    encoding: 'utf8',
  });
  return !/Pattern verification failed/.test(out);
}

/** Component state in memory, as the store keeps it. */
function memoryTable(): MachineTable & { rows: Map<string, string> } {
  const rows = new Map<string, string>();
  return {
    rows,
    get: async (key) => rows.get(key),
    put: async (key, value) => {
      rows.set(key, value);
    },
    delete: async (key) => {
      rows.delete(key);
    },
    list: async () => [...rows].map(([key, value]) => ({ key, value })),
  };
}

describe('volume locations', () => {
  it("are placement's records (drivers name the table without importing the engine)", () => {
    expect(VOLUME_LOCATIONS_STATE).toBe(PLACEMENT_STATE);
  });
});

describe('copy timeouts', () => {
  it('grow with the size: a minute plus 10 MiB/s by default', () => {
    expect(copyTimeoutMs(0)).toBe(60_000);
    expect(copyTimeoutMs(100 * MiB)).toBe(70_000);
    expect(copyTimeoutMs(MiB, { baseMs: 0, bytesPerSecond: MiB })).toBe(1000);
  });
});

describeLabHosts('volumes moved between two libvirt hosts', () => {
  let hosts: LabHost[] = [];
  let sld1: LabHost;
  let sld2: LabHost;
  const end = (host: LabHost) => ({ host: host.name, volumes: host.volumes });

  beforeAll(async () => {
    hosts = await startLabHosts(['sld1', 'sld2']);
    [sld1, sld2] = hosts as [LabHost, LabHost];
  }, 60_000);

  afterAll(async () => {
    await stopLabHosts(hosts);
  }, 60_000);

  it('moves a qcow2 through the streams: same file, same guest content, source gone', async () => {
    const bytes = await writtenQcow2(sld1, 'm1');
    const moved = await copyVolume(end(sld1), end(sld2), 'm1', { move: true });
    expect(moved).toMatchObject({ name: 'm1', format: 'qcow2', capacity: 64 * MiB, backing: null });
    expect(moved.path).toBe(join(sld2.poolPath, 'm1'));
    expect(readFileSync(moved.path).equals(bytes)).toBe(true);
    expect(readsPattern(moved.path)).toBe(true);
    expect(await sld1.volumes.info('m1')).toBeNull();

    // Again (a task repeated after a crash): the target is complete, nothing is streamed.
    const before = statSync(moved.path);
    expect(await copyVolume(end(sld1), end(sld2), 'm1', { move: true })).toEqual(moved);
    const after = statSync(moved.path);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it('copies a raw volume too, keeping the source', async () => {
    const data = Buffer.alloc(2 * MiB, 0x33);
    await sld1.volumes.create('r1', 2 * MiB, 'raw');
    await sld1.volumes.upload('r1', Readable.from([data]));
    const copied = await copyVolume(end(sld1), end(sld2), 'r1');
    expect(copied).toMatchObject({ format: 'raw', capacity: 2 * MiB });
    expect(readFileSync(copied.path).equals(data)).toBe(true);
    expect(await sld1.volumes.info('r1')).not.toBeNull();
  });

  it('redoes a partial copy', async () => {
    const bytes = await writtenQcow2(sld1, 'p1', 0x21);
    // What a copy interrupted half way leaves: the first half of the file.
    await sld2.volumes.create('p1', 0, 'raw');
    await sld2.volumes.upload('p1', Readable.from([bytes.subarray(0, bytes.length >> 1)]));
    expect(await sld2.volumes.physicalSize('p1')).toBe(bytes.length >> 1);

    const moved = await copyVolume(end(sld1), end(sld2), 'p1', { move: true });
    expect(readFileSync(moved.path).equals(bytes)).toBe(true);
    expect(readsPattern(moved.path, 0x21)).toBe(true);
    expect(await sld1.volumes.info('p1')).toBeNull();
  });

  it('leaves no target and keeps the source when the copy fails mid-stream or cannot start', async () => {
    // 48 MiB that do not compress: long enough to be stopped while streaming.
    const volume = await sld1.volumes.create('big', 64 * MiB);
    const noise = join(sld1.poolPath, '..', 'sld-noise.raw');
    writeFileSync(noise, randomBytes(48 * MiB));
    try {
      execFileSync('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', noise, volume.path]);
    } finally {
      rmSync(noise);
    }
    const bytes = readFileSync(volume.path);
    expect(bytes.length).toBeGreaterThan(48 * MiB);

    // Stopped once the target has some of the bytes.
    const stop = new AbortController();
    const target = join(sld2.poolPath, 'big');
    const watch = setInterval(() => {
      if (existsSync(target) && statSync(target).size > 0) stop.abort();
    }, 2);
    const stopped = copyVolume(end(sld1), end(sld2), 'big', { move: true, signal: stop.signal });
    await expect(stopped).rejects.toThrow(
      'cannot move volume big from host sld1 to host sld2: the copy of volume big was stopped',
    );
    clearInterval(watch);
    expect(stop.signal.aborted).toBe(true);
    await expect(stopped).rejects.toMatchObject({ permanent: false });
    expect(await sld2.volumes.info('big')).toBeNull();
    expect(existsSync(target)).toBe(false);
    expect(readFileSync(volume.path).equals(bytes)).toBe(true);

    // Out of time.
    const late = copyVolume(end(sld1), end(sld2), 'big', {
      move: true,
      timeout: { baseMs: 20, bytesPerSecond: 1e12 },
    });
    await expect(late).rejects.toThrow(
      /cannot move volume big from host sld1 to host sld2: virsh gave no answer .* within 2\d ms/,
    );
    await expect(late).rejects.toMatchObject({ permanent: false });
    expect(await sld2.volumes.info('big')).toBeNull();
    expect(readFileSync(volume.path).equals(bytes)).toBe(true);

    // A pool the target host does not have: refused before any byte moves.
    const nowhere = new LibvirtVolumes({ virsh: sld2.shell, uri: sld2.uri, pool: 'no-such-pool' });
    const refused = copyVolume(end(sld1), { host: 'sld2', volumes: nowhere }, 'big', {
      move: true,
    });
    await expect(refused).rejects.toThrow(
      /cannot move volume big from host sld1 to host sld2: .*no-such-pool/,
    );
    await expect(refused).rejects.toBeInstanceOf(DriverError);
    await expect(refused).rejects.toMatchObject({ permanent: true });
    expect(readFileSync(volume.path).equals(bytes)).toBe(true);
  });

  it('refuses to move a linked clone to a host without its base image at the same path', async () => {
    await sld1.volumes.create('base', 8 * MiB);
    await sld1.volumes.linkedClone('base', 'linked');
    const refused = copyVolume(end(sld1), end(sld2), 'linked', { move: true });
    await expect(refused).rejects.toThrow(/reads base image .*\/sld1\/base to host sld2/);
    await expect(refused).rejects.toMatchObject({ permanent: true });
    expect(await sld1.volumes.info('linked')).not.toBeNull();
    expect(await sld2.volumes.info('linked')).toBeNull();
  });

  describe('the per-host-pool storage driver', () => {
    let storage: HostPoolsStorage;
    let locations: ReturnType<typeof memoryTable>;
    let moves: ReturnType<typeof memoryTable>;

    beforeAll(() => {
      locations = memoryTable();
      moves = memoryTable();
      storage = new HostPoolsStorage({
        pools: new Map(
          hosts.map((host) => [host.name, { volumes: host.volumes, path: host.poolPath }]),
        ),
        locations,
        moves,
        defaultHost: 'sld1',
      });
    });

    it('makes a drive on the default host, or where its record says, and records it', async () => {
      expect(await storage.create('d1', 16 * MiB)).toMatchObject({ host: 'sld1', name: 'd1' });
      expect(locations.rows.get('d1')).toBe('sld1');
      expect(await sld1.volumes.info('d1')).not.toBeNull();

      await locations.put('d2', 'sld2'); // placement chose before the create
      expect(await storage.create('d2', 16 * MiB)).toMatchObject({
        host: 'sld2',
        path: join(sld2.poolPath, 'd2'),
      });
      expect(await sld2.volumes.info('d2')).not.toBeNull();
      expect(storage.volume('d2').host).toBe('sld2');
    });

    it('moves a drive and answers it on its new host; a second move is a no-op', async () => {
      execFileSync(
        'qemu-io',
        ['-f', 'qcow2', '-c', 'write -P 0x44 1M 2M', join(sld1.poolPath, 'd1')],
        {
          stdio: 'pipe',
        },
      );
      const moved = await storage.moveTo('d1', 'sld2');
      expect(moved).toMatchObject({ host: 'sld2', path: join(sld2.poolPath, 'd1') });
      expect(storage.volume('d1').host).toBe('sld2');
      expect((await storage.locate('d1')).host).toBe('sld2');
      expect(locations.rows.get('d1')).toBe('sld2');
      expect(moves.rows.size).toBe(0);
      expect(await sld1.volumes.info('d1')).toBeNull();
      expect(readsPattern(moved.path!, 0x44)).toBe(true);

      const before = statSync(moved.path!);
      expect(await storage.moveTo('d1', 'sld2')).toEqual(moved);
      expect(statSync(moved.path!).mtimeMs).toBe(before.mtimeMs);
      await expect(storage.moveTo('d1', 'sld9')).rejects.toThrow(/no storage pool on host sld9/);
    });

    it('makes copies beside their source', async () => {
      expect(await storage.clone('d1', 'c1', 32 * MiB)).toMatchObject({ host: 'sld2' });
      expect(locations.rows.get('c1')).toBe('sld2');
      expect((await sld2.volumes.info('c1'))?.capacity).toBe(32 * MiB);
      await storage.snapshot('d1', 's1');
      expect(locations.rows.get('s1')).toBe('sld2');
      expect(await sld2.volumes.info('s1')).not.toBeNull();
    });

    it('keeps library images on every host: never moved, no record', async () => {
      const image = join(sld1.poolPath, '..', 'library-image.raw');
      writeFileSync(image, Buffer.alloc(MiB, 0x33));
      try {
        await storage.importBase('lib1', image);
      } finally {
        rmSync(image, { force: true });
      }
      expect(await sld1.volumes.info('lib1')).not.toBeNull();
      expect(await sld2.volumes.info('lib1')).not.toBeNull();
      expect(storage.volume('lib1').host).toBeNull();
      expect((await storage.locate('lib1')).host).toBeNull();
      expect((await storage.moveTo('lib1', 'sld2')).host).toBeNull();
      expect(await sld1.volumes.info('lib1')).not.toBeNull();
      expect(locations.rows.has('lib1')).toBe(false);
      await storage.remove('lib1');
      expect(await sld1.volumes.info('lib1')).toBeNull();
      expect(await sld2.volumes.info('lib1')).toBeNull();
    });

    it('finishes a move interrupted after its copy, or resumes it when the same host is wanted', async () => {
      // Interrupted after the record switched: the source is still on sld1.
      await writtenQcow2(sld1, 'i1');
      await copyVolume(end(sld1), end(sld2), 'i1');
      await locations.put('i1', 'sld2');
      await moves.put('i1', JSON.stringify({ from: 'sld1', to: 'sld2' }));
      expect((await storage.resize('i1', 64 * MiB)).host).toBe('sld2');
      expect(await sld1.volumes.info('i1')).toBeNull();
      expect(moves.rows.has('i1')).toBe(false);

      // Interrupted while copying, then asked to move there again: the copy is redone.
      const bytes = await writtenQcow2(sld1, 'i2');
      await locations.put('i2', 'sld1');
      await moves.put('i2', JSON.stringify({ from: 'sld1', to: 'sld2' }));
      await sld2.volumes.create('i2', 0, 'raw');
      await sld2.volumes.upload('i2', Readable.from([bytes.subarray(0, 4096)]));
      expect((await storage.moveTo('i2', 'sld2')).host).toBe('sld2');
      expect(readFileSync(join(sld2.poolPath, 'i2')).equals(bytes)).toBe(true);
      expect(await sld1.volumes.info('i2')).toBeNull();
      expect(moves.rows.has('i2')).toBe(false);
    });

    it('undoes a move interrupted while copying when something else is asked', async () => {
      const bytes = await writtenQcow2(sld1, 'u1');
      await locations.put('u1', 'sld1');
      await moves.put('u1', JSON.stringify({ from: 'sld1', to: 'sld2' }));
      await sld2.volumes.create('u1', 0, 'raw');
      await sld2.volumes.upload('u1', Readable.from([bytes.subarray(0, 4096)]));
      expect((await storage.resize('u1', 64 * MiB)).host).toBe('sld1');
      expect(await sld2.volumes.info('u1')).toBeNull();
      expect(readFileSync(join(sld1.poolPath, 'u1')).equals(bytes)).toBe(true);
      expect(moves.rows.has('u1')).toBe(false);
    });

    it('records locations where placement reads them (engine.placement in the store)', async () => {
      const store = await openTestStore();
      try {
        const table = (namespace: string): MachineTable => ({
          get: (key) => store.read((tx) => tx.getState(namespace, key)),
          put: (key, value) => store.write((tx) => tx.putState(namespace, key, value)),
          delete: (key) => store.write((tx) => tx.deleteState(namespace, key)),
          list: () => store.read((tx) => tx.listState(namespace)),
        });
        const stored = new HostPoolsStorage({
          pools: new Map(
            hosts.map((host) => [host.name, { volumes: host.volumes, path: host.poolPath }]),
          ),
          locations: table(PLACEMENT_STATE),
          moves: table(VOLUME_MOVES_STATE),
          defaultHost: 'sld1',
        });
        await stored.create('st1', 16 * MiB);
        expect(await store.read((tx) => hostOf(tx, 'st1'))).toBe('sld1');
        await stored.moveTo('st1', 'sld2');
        expect(await store.read((tx) => hostOf(tx, 'st1'))).toBe('sld2');
        expect(await store.read((tx) => tx.listState(VOLUME_MOVES_STATE))).toEqual([]);

        // Another process's view: it reads the records at load.
        const other = new HostPoolsStorage({
          pools: new Map(
            hosts.map((host) => [host.name, { volumes: host.volumes, path: host.poolPath }]),
          ),
          locations: table(PLACEMENT_STATE),
          moves: table(VOLUME_MOVES_STATE),
          defaultHost: 'sld1',
        });
        expect(other.volume('st1').host).toBe('sld1');
        expect(await other.load()).toBe(1);
        expect(other.volume('st1').host).toBe('sld2');

        await stored.remove('st1');
        expect(await store.read((tx) => tx.getState(PLACEMENT_STATE, 'st1'))).toBeUndefined();
        expect(await sld2.volumes.info('st1')).toBeNull();
      } finally {
        await store.close();
      }
    });

    it('removes a volume wherever it is, with its records', async () => {
      await storage.remove('d1');
      expect(await sld2.volumes.info('d1')).toBeNull();
      expect(locations.rows.has('d1')).toBe(false);
      expect(storage.volume('d1').host).toBe('sld1');
      await storage.remove('d1');

      // On a host this process does not serve: kept, records too, and retried later.
      await locations.put('far', 'sld9');
      const refused = storage.remove('far');
      await expect(refused).rejects.toThrow('no storage pool on host sld9');
      await expect(refused).rejects.toMatchObject({ permanent: false });
      expect(locations.rows.get('far')).toBe('sld9');
    });
  });
});
