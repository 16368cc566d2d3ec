/**
 * Images in and out (issue 15 item 5) on the simulated driver, through HTTP: the raw upload
 * (`POST /drives/upload/[name]`), the resumable protocol pycloudsigma's `Upload` speaks
 * (`POST /initupload/`, `GET|POST /drives/{uuid}/upload/`), and `GET /drives/{uuid}/download/`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getObject, type Obj } from '../support/api.js';
import { ALICE, BOB, type Client, startTestApp, type TestApp, type User } from '../support/app.js';

const MIN = 536870912;
const MiB = 1024 * 1024;

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.close();
});

function basic(user: User): string {
  return `Basic ${Buffer.from(`${user.email}:${user.password}`).toString('base64')}`;
}

async function raw(
  path: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
  user: User = ALICE,
): Promise<Response> {
  const response = await fetch(`${t.origin}/api/2.0${path}`, {
    method: 'POST',
    headers: { authorization: basic(user), 'content-type': 'application/octet-stream', ...headers },
    body,
    // biome-ignore lint/suspicious/noExplicitAny: Node's fetch needs `duplex` for a stream body; the DOM types lack it.
    ...({ duplex: 'half' } as any),
  });
  await t.app.engine.settled();
  return response;
}

async function downloadOf(uuid: string, user: User = ALICE): Promise<Response> {
  return fetch(`${t.origin}/api/2.0/drives/${uuid}/download/`, {
    headers: { authorization: basic(user) },
  });
}

async function driveCount(client: Client): Promise<number> {
  return (await client.get('/drives/')).json.meta.total_count as number;
}

/** A qcow2 v3 header of `virtualSize`, naming a backing file when `backing` is given. */
function qcow2(virtualSize: number, backing?: string): Buffer {
  const image = Buffer.alloc(64 * 1024);
  image.writeUInt32BE(0x514649fb, 0);
  image.writeUInt32BE(3, 4);
  if (backing) {
    image.writeBigUInt64BE(512n, 8);
    image.writeUInt32BE(backing.length, 16);
    image.write(backing, 512, 'latin1');
  }
  image.writeUInt32BE(16, 20); // cluster bits
  image.writeBigUInt64BE(BigInt(virtualSize), 24);
  image.writeUInt32BE(104, 100); // header length
  return image;
}

function iso(size = 64 * 1024): Buffer {
  const image = Buffer.alloc(size);
  image[32768] = 1;
  image.write('CD001', 32769, 'latin1');
  return image;
}

describe('POST /drives/upload/', () => {
  it('makes a drive from the raw body, answers its uuid as text, and downloads it back', async () => {
    const image = randomBytes(3 * MiB + 17);
    const res = await raw('/drives/upload/', image);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const uuid = await res.text();
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const drive = await getObject(t.alice, `/drives/${uuid}/`);
    expect(drive).toMatchObject({ status: 'unmounted', media: 'disk', size: MIN });
    expect(drive.name).toMatch(/^Upload_/);
    const down = await downloadOf(uuid);
    expect(down.status).toBe(200);
    expect(down.headers.get('content-type')).toBe('application/octet-stream');
    expect(down.headers.get('content-disposition')).toBe(`attachment; filename=${uuid}`);
    expect(down.headers.get('content-length')).toBe(String(image.length));
    expect(Buffer.from(await down.arrayBuffer()).equals(image)).toBe(true);
    // Nobody else's.
    expect((await downloadOf(uuid, BOB)).status).toBe(404);
    // A clone carries the image.
    const clone = await t.alice.post(`/drives/${uuid}/action/?do=clone`, { name: 'copy' });
    expect(clone.status, clone.text).toBe(202);
    const copy = await downloadOf(clone.json.objects[0].uuid as string);
    expect(Buffer.from(await copy.arrayBuffer()).equals(image)).toBe(true);
    // The audit log says what happened to the drive.
    const logs = await t.alice.get('/logs/?limit=0');
    expect(logs.json.objects).toContainEqual(
      expect.objectContaining({ action: 'upload', uuid, category: 'Drives' }),
    );
  });

  it('takes the name from the path, and an ISO makes a cdrom', async () => {
    const res = await raw('/drives/upload/installer.iso', iso());
    expect(res.status).toBe(200);
    const drive = await getObject(t.alice, `/drives/${await res.text()}/`);
    expect(drive).toMatchObject({ name: 'installer.iso', media: 'cdrom', status: 'unmounted' });
  });

  it('a qcow2 image makes a drive of its virtual size', async () => {
    const res = await raw('/drives/upload/', qcow2(2 * MIN));
    expect(res.status).toBe(200);
    const drive = await getObject(t.alice, `/drives/${await res.text()}/`);
    expect(drive).toMatchObject({ size: 2 * MIN, status: 'unmounted' });
  });

  it('refuses a qcow2 with a backing file, and nothing is left of it', async () => {
    const before = await driveCount(t.alice);
    const res = await raw('/drives/upload/', qcow2(MIN, '/etc/shadow'));
    expect(res.status).toBe(400);
    const error = (await res.json()) as Obj[];
    expect(error[0]).toMatchObject({ error_type: 'validation' });
    expect(String(error[0]!.error_message)).toContain('backing file');
    expect(await driveCount(t.alice)).toBe(before);
  });

  it('refuses what is not an octet stream (415), an empty body and an oversized one, making nothing', async () => {
    const before = await driveCount(t.alice);
    const json = await raw('/drives/upload/', Buffer.from('{}'), {
      'content-type': 'application/json',
    });
    expect(json.status).toBe(415);
    expect(((await json.json()) as Obj[])[0]).toMatchObject({ error_type: 'validation' });
    const empty = await raw('/drives/upload/', Buffer.alloc(0));
    expect(empty.status).toBe(400);
    const huge = await new Promise<number>((resolve, reject) => {
      // Announces 20 TB and sends a few bytes: refused before a byte is read.
      const req = httpRequest(`${t.origin}/api/2.0/drives/upload/`, {
        method: 'POST',
        headers: {
          authorization: basic(ALICE),
          'content-type': 'application/octet-stream',
          'content-length': String(20 * 1024 ** 4),
        },
      });
      req.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    expect(huge).toBe(400);
    expect(await driveCount(t.alice)).toBe(before);
  });

  it('a body cut off half-way leaves no drive (a raw upload cannot be resumed)', async () => {
    const before = await driveCount(t.alice);
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${t.origin}/api/2.0/drives/upload/`, {
        method: 'POST',
        headers: {
          authorization: basic(ALICE),
          'content-type': 'application/octet-stream',
          'content-length': String(4 * MiB),
        },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(MiB), () => setTimeout(() => req.destroy(), 100));
      req.on('close', () => resolve());
    });
    await expect.poll(() => driveCount(t.alice), { timeout: 5_000 }).toBe(before);
  });

  it('refuses a page of another origin', async () => {
    const res = await raw('/drives/upload/', Buffer.alloc(10), { origin: 'https://evil.example' });
    expect(res.status).toBe(403);
  });

  it('streams: a 128 MiB upload and download never hold the image in memory', async () => {
    const size = 128 * MiB;
    const piece = randomBytes(MiB);
    // Live memory only: a full collection before each sample (garbage buffers are no holding).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      gc();
      const now = process.memoryUsage();
      peak = Math.max(
        peak,
        now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers,
      );
      // Not more often: full collections on a loaded machine starve the transfer they measure.
    }, 500);
    let peaks: number[];
    try {
      // node:http on the client side too, which keeps to backpressure both ways.
      const uuid = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(`${t.origin}/api/2.0/drives/upload/`, {
          method: 'POST',
          headers: {
            authorization: basic(ALICE),
            'content-type': 'application/octet-stream',
            'content-length': String(size),
          },
        });
        req.on('error', reject);
        req.on('response', (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => {
            text += chunk.toString();
          });
          response.on('end', () => resolve(text));
        });
        let sent = 0;
        const write = () => {
          while (sent < size) {
            sent += piece.length;
            if (!req.write(piece)) {
              req.once('drain', write);
              return;
            }
          }
          req.end();
        };
        write();
      });
      expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
      const uploadPeak = peak;
      peak = 0;
      const received = await new Promise<number>((resolve, reject) => {
        httpRequest(`${t.origin}/api/2.0/drives/${uuid}/download/`, {
          headers: { authorization: basic(ALICE) },
        })
          .on('response', (response) => {
            let count = 0;
            response.on('data', (chunk: Buffer) => {
              count += chunk.length;
            });
            response.on('end', () => resolve(count));
          })
          .on('error', reject)
          .end();
      });
      expect(received).toBe(size);
      peaks = [uploadPeak, peak];
    } finally {
      clearInterval(sampler);
    }
    // Client and server share this process: both together stay far below the image's size.
    expect(peaks[0]).toBeLessThan(48 * MiB);
    expect(peaks[1]).toBeLessThan(48 * MiB);
  }, 240_000);
});

// ---------------------------------------------------------------------------------------------
// The resumable protocol

interface ChunkFields {
  resumableChunkNumber: string;
  resumableChunkSize: string;
  resumableTotalSize: string;
  resumableIdentifier: string;
  resumableFilename: string;
}

function fieldsOf(number: number, chunkSize: number, total: number): ChunkFields {
  return {
    resumableChunkNumber: String(number),
    resumableChunkSize: String(chunkSize),
    resumableTotalSize: String(total),
    resumableIdentifier: 'image.raw',
    resumableFilename: 'image.raw',
  };
}

/** The chunks pycloudsigma cuts a file into: the last one carries the remainder. */
function chunksOf(
  total: number,
  chunkSize: number,
): { number: number; offset: number; size: number }[] {
  const count = Math.max(1, Math.floor(total / chunkSize));
  return Array.from({ length: count }, (_, i) => ({
    number: i + 1,
    offset: i * chunkSize,
    size: i + 1 < count ? chunkSize : total - i * chunkSize,
  }));
}

async function askChunk(uuid: string, fields: ChunkFields): Promise<number> {
  const res = await t.alice.get(`/drives/${uuid}/upload/?${new URLSearchParams({ ...fields })}`);
  return res.status;
}

/**
 * POSTs a chunk as pycloudsigma does (with its one bug fixed: the bytes, not `str(bytes)`):
 * requests' `files=` sends every field as a part with a file name, then the `file` part.
 */
async function sendChunk(uuid: string, fields: ChunkFields, bytes: Uint8Array): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, new Blob([value]), name);
  form.append('file', new Blob([bytes]), 'file');
  const res = await fetch(`${t.origin}/api/2.0/drives/${uuid}/upload/`, {
    method: 'POST',
    headers: { authorization: basic(ALICE), 'user-agent': 'CloudSigma turlo client' },
    body: form,
  });
  await t.app.engine.settled();
  return res;
}

async function initUpload(size: number, extra: Obj = {}): Promise<Obj> {
  const res = await t.alice.post('/initupload/', {
    objects: [{ name: 'resumed', media: 'disk', size, ...extra }],
  });
  expect(res.status, res.text).toBe(201);
  return res.json.objects[0] as Obj;
}

async function uploadJob(drive: Obj): Promise<Obj> {
  expect(drive.jobs).toHaveLength(1);
  return getObject(t.alice, `/jobs/${(drive.jobs as Obj[])[0]!.uuid}/`);
}

describe('the resumable protocol', () => {
  it('makes a drive of the exact size, takes chunks in any order four at a time, 404 for a missing one', async () => {
    const chunkSize = MiB;
    const image = randomBytes(5 * MiB + MiB / 2 + 3);
    const drive = await initUpload(image.length);
    expect(drive).toMatchObject({ status: 'uploading', size: image.length, name: 'resumed' });
    expect(await uploadJob(drive)).toMatchObject({ operation: 'drive_upload', state: 'started' });
    const chunks = chunksOf(image.length, chunkSize);
    expect(chunks).toHaveLength(5);
    expect(chunks.at(-1)!.size).toBe(MiB + MiB / 2 + 3);
    // The first chunk alone: missing before, held after; progress moves.
    const first = chunks[0]!;
    const firstFields = fieldsOf(1, chunkSize, image.length);
    expect(await askChunk(drive.uuid, firstFields)).toBe(404);
    const sent = await sendChunk(drive.uuid, firstFields, image.subarray(0, first.size));
    expect(sent.status, await sent.clone().text()).toBe(200);
    expect(await askChunk(drive.uuid, firstFields)).toBe(200);
    expect(await askChunk(drive.uuid, fieldsOf(2, chunkSize, image.length))).toBe(404);
    const during = await getObject(t.alice, `/drives/${drive.uuid}/`);
    expect(during.status).toBe('uploading');
    expect((await uploadJob(during)).data).toEqual({ progress: 18 });
    // Downloading a drive still uploading is refused.
    expect((await downloadOf(drive.uuid)).status).toBe(403);
    // The rest, last first, four at once, each asked for first.
    const queue = chunks.slice(1).reverse();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
          const fields = fieldsOf(chunk.number, chunkSize, image.length);
          if ((await askChunk(drive.uuid, fields)) === 200) continue;
          const res = await sendChunk(
            drive.uuid,
            fields,
            image.subarray(chunk.offset, chunk.offset + chunk.size),
          );
          expect(res.status, await res.clone().text()).toBe(200);
        }
      }),
    );
    const done = await getObject(t.alice, `/drives/${drive.uuid}/`);
    expect(done).toMatchObject({ status: 'unmounted', size: image.length, jobs: [] });
    const job = await getObject(t.alice, `/jobs/${(drive.jobs as Obj[])[0]!.uuid}/`);
    expect(job).toMatchObject({ state: 'success', data: { progress: 100 } });
    // A client resuming after the end finds every chunk there.
    expect(await askChunk(drive.uuid, fieldsOf(3, chunkSize, image.length))).toBe(200);
    const down = await downloadOf(drive.uuid);
    expect(Buffer.from(await down.arrayBuffer()).equals(image)).toBe(true);
  });

  it('a chunk cut off half-way is missing, and sent again it completes the upload', async () => {
    const image = randomBytes(2 * MiB);
    const drive = await initUpload(image.length);
    const fields = fieldsOf(1, MiB, image.length);
    // A multipart body announced whole, cut after half of the file part.
    const boundary = 'cutoffboundary';
    const head = Buffer.from(
      `${Object.entries(fields)
        .map(
          ([k, v]) =>
            `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`,
        )
        .join(
          '',
        )}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${t.origin}/api/2.0/drives/${drive.uuid}/upload/`, {
        method: 'POST',
        headers: {
          authorization: basic(ALICE),
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + MiB + 100),
        },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(head);
      req.write(image.subarray(0, MiB / 2), () => setTimeout(() => req.destroy(), 100));
    });
    expect(await askChunk(drive.uuid, fields)).toBe(404);
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).status).toBe('uploading');
    // A chunk of the wrong size is refused and not kept.
    const short = await sendChunk(drive.uuid, fields, image.subarray(0, 1000));
    expect(short.status).toBe(400);
    expect(await askChunk(drive.uuid, fields)).toBe(404);
    for (const chunk of chunksOf(image.length, MiB)) {
      const res = await sendChunk(
        drive.uuid,
        fieldsOf(chunk.number, MiB, image.length),
        image.subarray(chunk.offset, chunk.offset + chunk.size),
      );
      expect(res.status).toBe(200);
    }
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).status).toBe('unmounted');
    const down = await downloadOf(drive.uuid);
    expect(Buffer.from(await down.arrayBuffer()).equals(image)).toBe(true);
  });

  it('bad chunk fields are 400 and change nothing', async () => {
    const drive = await initUpload(3 * MiB);
    const wrongTotal = await sendChunk(drive.uuid, fieldsOf(1, MiB, 4 * MiB), new Uint8Array(MiB));
    expect(wrongTotal.status).toBe(400);
    expect(((await wrongTotal.json()) as Obj[])[0]).toMatchObject({
      error_type: 'validation',
      error_point: 'resumableTotalSize',
    });
    const beyond = await sendChunk(drive.uuid, fieldsOf(4, MiB, 3 * MiB), new Uint8Array(MiB));
    expect(beyond.status).toBe(400);
    const notNumber = await sendChunk(
      drive.uuid,
      { ...fieldsOf(1, MiB, 3 * MiB), resumableChunkNumber: 'one' },
      new Uint8Array(MiB),
    );
    expect(notNumber.status).toBe(400);
    expect(await askChunk(drive.uuid, fieldsOf(1, MiB, 3 * MiB))).toBe(404);
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).status).toBe('uploading');
  });

  it('a qcow2 with a backing file is refused when its last chunk arrives, and its drive goes', async () => {
    const image = qcow2(MIN, '/var/lib/other.qcow2');
    const drive = await initUpload(image.length);
    const res = await sendChunk(drive.uuid, fieldsOf(1, MiB, image.length), image);
    expect(res.status).toBe(400);
    expect((await t.alice.get(`/drives/${drive.uuid}/`)).status).toBe(404);
    const job = await getObject(t.alice, `/jobs/${(drive.jobs as Obj[])[0]!.uuid}/`);
    expect(job.state).toBe('error');
  });

  it('an uploading drive cannot be attached to a server', async () => {
    const drive = await initUpload(MiB);
    const res = await t.alice.post('/servers/', {
      objects: [
        {
          name: 'early',
          cpu: 1000,
          mem: MIN,
          vnc_password: 'secret',
          drives: [{ drive: drive.uuid, device: 'virtio', dev_channel: '0:0' }],
        },
      ],
    });
    expect(res.status, res.text).toBe(403);
    expect(res.json[0]).toMatchObject({ error_type: 'permission', error_point: 'drives.0.drive' });
  });

  it('an uploading drive can be deleted; a drive not made by initupload takes no chunk', async () => {
    const drive = await initUpload(MiB);
    expect((await t.alice.delete(`/drives/${drive.uuid}/`)).status).toBe(204);
    const plain = await t.alice.post('/drives/', {
      objects: [{ name: 'plain', size: MIN, media: 'disk' }],
    });
    const uuid = plain.json.objects[0].uuid as string;
    const res = await sendChunk(uuid, fieldsOf(1, MiB, MIN), new Uint8Array(10));
    expect(res.status).toBe(403);
  });

  it('initupload checks the definition: a size, within the limits', async () => {
    const before = await driveCount(t.alice);
    expect(
      (await t.alice.post('/initupload/', { objects: [{ name: 'x', media: 'disk' }] })).status,
    ).toBe(400);
    expect(
      (await t.alice.post('/initupload/', { objects: [{ name: 'x', media: 'disk', size: 0 }] }))
        .status,
    ).toBe(400);
    expect(
      (await t.alice.post('/initupload/', { objects: [{ name: 'x', media: 'floppy', size: 10 }] }))
        .status,
    ).toBe(400);
    expect(
      (
        await t.alice.post('/initupload/', {
          objects: [{ name: 'x', media: 'disk', size: 20 * 1024 ** 4 }],
        })
      ).status,
    ).toBe(400);
    expect(await driveCount(t.alice)).toBe(before);
  });
});

describe('GET /drives/{uuid}/download/', () => {
  it('a drive never uploaded into reads as zeros of its size', async () => {
    const plain = await t.alice.post('/drives/', {
      objects: [{ name: 'zeros', size: MIN, media: 'disk' }],
    });
    const res = await downloadOf(plain.json.objects[0].uuid as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(MIN));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    expect(value!.every((byte) => byte === 0)).toBe(true);
    await reader.cancel();
  });
});

describe('an idle upload', () => {
  let short: TestApp;
  beforeAll(async () => {
    short = await startTestApp({ uploadTimeout: 1 });
  });
  afterAll(async () => {
    await short?.close();
  });

  it('is given up after --upload-timeout: its drive goes, its job fails', async () => {
    const res = await short.alice.post('/initupload/', {
      objects: [{ name: 'idle', media: 'disk', size: 2 * MiB }],
    });
    const drive = res.json.objects[0] as Obj;
    await expect
      .poll(async () => (await short.alice.get(`/drives/${drive.uuid}/`)).status, {
        timeout: 10_000,
        interval: 250,
      })
      .toBe(404);
    const job = await getObject(short.alice, `/jobs/${(drive.jobs as Obj[])[0]!.uuid}/`);
    expect(job.state).toBe('error');
  });
});

describe('an upload across a restart of sigmalite', () => {
  it('stays uploading with the chunks it had, and resumes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigmalite-upload-restart-'));
    const options = { memory: false, data: dir };
    let app = await startTestApp(options);
    try {
      const image = randomBytes(2 * MiB + 5);
      const res = await app.alice.post('/initupload/', {
        objects: [{ name: 'across', media: 'disk', size: image.length }],
      });
      const drive = res.json.objects[0] as Obj;
      const form = (number: number, bytes: Uint8Array) => {
        const body = new FormData();
        for (const [name, value] of Object.entries(fieldsOf(number, MiB, image.length))) {
          body.append(name, value);
        }
        body.append('file', new Blob([bytes]), 'image.raw');
        return fetch(`${app.origin}/api/2.0/drives/${drive.uuid}/upload/`, {
          method: 'POST',
          headers: { authorization: basic(ALICE) },
          body,
        });
      };
      expect((await form(1, image.subarray(0, MiB))).status).toBe(200);
      await app.close();
      app = await startTestApp(options);
      expect((await getObject(app.alice, `/drives/${drive.uuid}/`)).status).toBe('uploading');
      const ask = (number: number) =>
        app.alice.get(
          `/drives/${drive.uuid}/upload/?${new URLSearchParams({ ...fieldsOf(number, MiB, image.length) })}`,
        );
      expect((await ask(1)).status).toBe(200);
      expect((await ask(2)).status).toBe(404);
      expect((await form(2, image.subarray(MiB))).status).toBe(200);
      expect((await getObject(app.alice, `/drives/${drive.uuid}/`)).status).toBe('unmounted');
      const down = await fetch(`${app.origin}/api/2.0/drives/${drive.uuid}/download/`, {
        headers: { authorization: basic(ALICE) },
      });
      expect(Buffer.from(await down.arrayBuffer()).equals(image)).toBe(true);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a body that trickles', () => {
  let slow: TestApp;
  beforeAll(async () => {
    slow = await startTestApp({ uploadMinRate: 64 * 1024 });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('is cut below --upload-min-rate, and the chunk it carried is not kept', async () => {
    const res = await slow.alice.post('/initupload/', {
      objects: [{ name: 'trickle', media: 'disk', size: MiB }],
    });
    const drive = res.json.objects[0] as Obj;
    const boundary = 'trickleboundary';
    const fields = fieldsOf(1, MiB, MiB);
    const head = Buffer.from(
      `${Object.entries(fields)
        .map(
          ([k, v]) =>
            `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`,
        )
        .join(
          '',
        )}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n`,
    );
    const started = Date.now();
    const ended = await new Promise<string>((resolve) => {
      const req = httpRequest(`${slow.origin}/api/2.0/drives/${drive.uuid}/upload/`, {
        method: 'POST',
        headers: {
          authorization: basic(ALICE),
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + MiB + 100),
        },
      });
      // A byte a second: far below 64 KiB/s.
      const drip = setInterval(() => req.write(Buffer.alloc(1)), 1000);
      const done = (how: string) => {
        clearInterval(drip);
        resolve(how);
      };
      req.on('response', (response) => {
        response.resume();
        done(`answered ${response.statusCode}`);
      });
      req.on('error', () => done('cut'));
      req.on('close', () => done('closed'));
      req.write(head);
    });
    expect(ended).toMatch(/^(cut|closed|answered 400)$/);
    // One window (10 s) at least, two at most.
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    expect(Date.now() - started).toBeLessThan(25_000);
    const ask = await slow.alice.get(
      `/drives/${drive.uuid}/upload/?${new URLSearchParams({ ...fields })}`,
    );
    expect(ask.status).toBe(404);
    expect((await getObject(slow.alice, `/drives/${drive.uuid}/`)).status).toBe('uploading');
  }, 40_000);
});
