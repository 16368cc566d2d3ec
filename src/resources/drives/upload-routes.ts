/**
 * Images in and out over HTTP (api-reference.md §3, issue 15 item 5):
 *
 * - `POST /drives/upload/[name]`: the raw body (`application/octet-stream`) is the image; the new
 *   drive's uuid is the answer, as text. Content-Length sets the size (rounded up to the minimum
 *   drive size).
 * - `POST /initupload/` makes an `uploading` drive of the file's exact size; then, per chunk,
 *   `GET /drives/{uuid}/upload/?resumableChunkNumber=N&...` (200: held already; 404: send it)
 *   and `POST /drives/{uuid}/upload/`, multipart: `resumableChunkNumber` (from 1),
 *   `resumableChunkSize`, `resumableTotalSize`, `resumableIdentifier`, `resumableFilename`,
 *   then the `file` part. Chunk N starts at (N-1) x chunk size; the last one carries the rest.
 *   Chunks come in any order; the one that completes the image seals it (`uploads.ts`).
 * - `GET /drives/{uuid}/download/`: the image as uploaded (a drive never uploaded into reads as
 *   zeros of its size).
 *
 * These routes read and write their bodies as streams (`streamsBody`): never more than a
 * stream's buffers in memory, bounded by the drive's size, by a minimum transfer rate, and
 * refused to pages of another origin.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, Transform } from 'node:stream';
import busboy from 'busboy';
import { type ChunkPlace, ChunkSizeError } from '../../drivers/storage/images.js';
import { ApiError, errors } from '../../errors.js';
import type { ApiContext, ApiResult, RouteSpec } from '../../http/api.js';
import { originAllowed } from '../../http/origin.js';
import { isPlainObject } from '../../model/json.js';
import { loadVisible, parseDoc } from '../common.js';
import { loadDrive } from '../objects.js';
import type { DriveDoc } from './model.js';
import type { Uploads } from './uploads.js';

/** How often the transfer rate is checked, and over how long. */
export const RATE_WINDOW_MS = 10_000;
/** How often a raw upload's job progress is written. */
const PROGRESS_EVERY_MS = 1_000;

export function uploadRoutes(uploads: Uploads): RouteSpec[] {
  return [
    { path: '/initupload/', handlers: { POST: (ctx) => initUpload(uploads, ctx) } },
    {
      path: '/drives/upload/',
      streamsBody: true,
      handlers: { POST: (ctx) => rawUpload(uploads, ctx) },
    },
    {
      path: '/drives/upload/:name/',
      streamsBody: true,
      handlers: { POST: (ctx) => rawUpload(uploads, ctx) },
    },
    {
      path: '/drives/:uuid/upload/',
      streamsBody: true,
      handlers: {
        GET: (ctx) => haveChunk(uploads, ctx),
        POST: (ctx) => putChunk(uploads, ctx),
      },
    },
    {
      path: '/drives/:uuid/download/',
      streamsBody: true,
      handlers: { GET: (ctx) => download(uploads, ctx) },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Guards every streaming route applies

/**
 * A page of another origin may not push or pull images with the user's session: the API's own
 * host (by either scheme) and `--allowed-origins` may.
 */
function refuseForeignOrigin(uploads: Uploads, ctx: ApiContext): void {
  const origin = ctx.headers.origin;
  if (origin === undefined) return;
  const text = Array.isArray(origin) ? origin.join(',') : origin;
  let host: string | undefined;
  try {
    host = new URL(text).host;
  } catch {
    host = undefined;
  }
  if (host === new URL(ctx.origin).host || host === ctx.headers.host) return;
  if (originAllowed(text, { own: ctx.origin, allowed: uploads.env.allowedOrigins })) return;
  throw errors.foreignOrigin(text, 'upload or download images');
}

/**
 * Cuts a request body that brings fewer than `minRate` bytes a second over each window (a client
 * that trickles would hold the upload, and a connection, for ever). Answers a function that
 * stops watching; `onSlow` is told when it cut.
 */
function watchRate(
  ctx: ApiContext,
  minRate: number,
  onSlow: (error: ApiError) => void,
): () => void {
  const stream = ctx.bodyStream as (Readable & { socket?: { bytesRead: number } }) | undefined;
  const socket = stream?.socket;
  if (!stream || !socket || minRate <= 0) return () => {};
  let last = socket.bytesRead;
  const timer = setInterval(() => {
    const now = socket.bytesRead;
    if (!stream.readableEnded && now - last < (minRate * RATE_WINDOW_MS) / 1000) {
      const error = errors.invalid(
        null,
        `The upload was slower than ${minRate} bytes a second and was cut`,
      );
      onSlow(error);
      stream.destroy(error);
    }
    last = now;
  }, RATE_WINDOW_MS);
  timer.unref();
  return () => clearInterval(timer);
}

async function ownDrive(uploads: Uploads, ctx: ApiContext): Promise<DriveDoc> {
  const record = await uploads.env.store.read((tx) =>
    loadVisible(tx, 'drives', ctx.params.uuid!, ctx),
  );
  return parseDoc<DriveDoc>(record);
}

function bodyOf(ctx: ApiContext): Readable {
  if (!ctx.bodyStream) throw new Error('a streaming route without its body stream');
  return ctx.bodyStream;
}

// ---------------------------------------------------------------------------------------------
// The resumable protocol

async function initUpload(uploads: Uploads, ctx: ApiContext): Promise<ApiResult> {
  const body = ctx.body;
  let item: unknown = body;
  if (isPlainObject(body) && Array.isArray(body.objects)) {
    if (body.objects.length !== 1) {
      throw errors.invalid('objects', 'An upload makes one drive: give exactly one object');
    }
    item = body.objects[0];
  }
  if (!isPlainObject(item))
    throw errors.invalid(null, 'Expected a drive definition (a JSON object)');
  const size =
    typeof item.size === 'string' && /^\d+$/.test(item.size) ? Number(item.size) : item.size;
  if (typeof size !== 'number') throw errors.required('size');
  const { doc, detail } = await uploads.createDrive(ctx.principal.uuid, item, size);
  return {
    type: 'object',
    status: 201,
    json: `{"objects":[${detail}]}`,
    uuids: [doc.uuid],
  };
}

/** The numbers of a chunk's form fields, checked against the drive. */
function chunkPlace(fields: Record<string, string>, drive: DriveDoc): Required<ChunkPlace> {
  const integer = (name: string, min: number): number => {
    const text = fields[name];
    if (text === undefined) throw errors.required(name);
    if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
      throw errors.invalid(name, `${name} must be an integer of at least ${min}`);
    }
    return Number(text);
  };
  const number = integer('resumableChunkNumber', 1);
  const chunkSize = integer('resumableChunkSize', 1);
  const total = integer('resumableTotalSize', 1);
  if (total !== drive.size) {
    throw errors.invalid(
      'resumableTotalSize',
      `The file has ${total} bytes but drive ${drive.uuid} was made for ${drive.size}`,
    );
  }
  const count = Math.max(1, Math.floor(total / chunkSize));
  if (number > count) {
    throw errors.invalid(
      'resumableChunkNumber',
      `A file of ${total} bytes in chunks of ${chunkSize} has ${count} chunks`,
    );
  }
  const offset = (number - 1) * chunkSize;
  return { number, offset, size: number < count ? chunkSize : total - offset };
}

async function haveChunk(uploads: Uploads, ctx: ApiContext): Promise<ApiResult> {
  refuseForeignOrigin(uploads, ctx);
  const drive = await ownDrive(uploads, ctx);
  const number = String(ctx.query.resumableChunkNumber ?? '');
  if (drive.status !== 'uploading') {
    // Sealed already: every chunk is there (a client resuming after the end sends nothing).
    if ((await uploads.env.images.lastWrite(drive.uuid)) !== null) {
      return { type: 'value', body: { uuid: drive.uuid, status: drive.status } };
    }
    throw new ApiError('notexist', `Drive ${drive.uuid} holds no upload`, 'resumableChunkNumber');
  }
  const chunks = await uploads.env.images.chunks(drive.uuid);
  if (!/^\d+$/.test(number) || !chunks.has(Number(number))) {
    throw new ApiError(
      'notexist',
      `Chunk ${number} of drive ${drive.uuid} has not been uploaded`,
      'resumableChunkNumber',
    );
  }
  return { type: 'value', body: { uuid: drive.uuid, status: drive.status, chunk: Number(number) } };
}

/** The largest form field a chunk's request carries (numbers and a file name). */
const FIELD_BYTES = 4096;

/**
 * Reads a chunk's multipart body: the fields, then the `file` part, handed to `onFile` as a
 * stream (it must consume it). pycloudsigma sends its fields as parts with a file name too.
 */
function readChunkForm(
  ctx: ApiContext,
  onFile: (fields: Record<string, string>, file: Readable) => Promise<void>,
): Promise<void> {
  const stream = bodyOf(ctx);
  return new Promise<void>((resolve, reject) => {
    let form: busboy.Busboy;
    try {
      form = busboy({
        headers: ctx.headers as IncomingHttpHeaders,
        limits: { fieldSize: FIELD_BYTES, fields: 16, files: 16, parts: 32 },
      });
    } catch (e) {
      reject(errors.invalid(null, `Expected a multipart/form-data body: ${(e as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    /** Fields sent as file parts, still being read. */
    const pending: Promise<void>[] = [];
    let file: Readable | undefined;
    let work: Promise<void> | undefined;
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      stream.unpipe(form);
      // The file part's writer stops; the rest of the body is drained (the answer closes the
      // connection).
      // (Destroyed without an error: a part's 'error' would have no listener.)
      file?.destroy();
      stream.resume();
      reject(error);
    };
    form.on('field', (name, value) => {
      fields[name] = value;
    });
    form.on('file', (name, part) => {
      if (name !== 'file') {
        // A field sent as a file part (requests' `files=` with strings): small text.
        const parts: Buffer[] = [];
        let length = 0;
        part.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length <= FIELD_BYTES) parts.push(chunk);
        });
        pending.push(
          new Promise<void>((done) =>
            part.on('end', () => {
              fields[name] = Buffer.concat(parts).toString('utf8');
              done();
            }),
          ),
        );
        return;
      }
      if (work) {
        part.resume();
        fail(errors.invalid('file', 'A chunk has one file part'));
        return;
      }
      file = part;
      work = Promise.all(pending).then(() => onFile({ ...fields }, part));
      work.catch((error: unknown) => {
        part.resume();
        fail(error);
      });
    });
    form.on('error', (error: Error) =>
      fail(errors.invalid(null, `The multipart body is malformed: ${error.message}`)),
    );
    form.on('close', () => {
      if (!work) fail(errors.required('file'));
      else
        work.then(() => {
          if (!settled) {
            settled = true;
            resolve();
          }
        }, fail);
    });
    const cut = () => {
      if (!stream.readableEnded) fail(errors.invalid(null, 'The request body was cut off'));
    };
    stream.on('error', cut);
    stream.on('close', cut);
    stream.pipe(form);
  });
}

async function putChunk(uploads: Uploads, ctx: ApiContext): Promise<ApiResult> {
  refuseForeignOrigin(uploads, ctx);
  const drive = await ownDrive(uploads, ctx);
  if (drive.status !== 'uploading') {
    throw errors.permission(
      `Drive ${drive.uuid} is not being uploaded (it is ${drive.status}); POST /initupload/ makes one that is`,
    );
  }
  const { images } = uploads.env;
  let slow: ApiError | undefined;
  const stopWatching = watchRate(ctx, uploads.env.uploads.minRate, (error) => {
    slow = error;
  });
  let place: Required<ChunkPlace> | undefined;
  try {
    await uploads.writingInto(drive.uuid, () =>
      readChunkForm(ctx, async (fields, file) => {
        place = chunkPlace(fields, drive);
        await images.putChunk(drive.uuid, place, file, drive.size);
      }),
    );
  } catch (e) {
    if (slow) throw slow;
    if (e instanceof ChunkSizeError) {
      throw errors.invalid('file', `Chunk ${place?.number}: ${e.message}`);
    }
    throw e;
  } finally {
    stopWatching();
  }
  const chunks = await images.chunks(drive.uuid);
  const received = [...chunks.values()].reduce((sum, chunk) => sum + chunk.size, 0);
  if (received >= drive.size && coversAll(chunks, drive.size)) {
    const sealed = await uploads.seal(drive.uuid, drive.size);
    return { type: 'value', body: { uuid: sealed.uuid, status: sealed.status } };
  }
  await uploads.progress(drive.uuid, received, drive.size);
  return { type: 'value', body: { uuid: drive.uuid, status: 'uploading' } };
}

/** Whether the chunks cover bytes 0 to `total` without a gap. */
function coversAll(chunks: Map<number, { offset: number; size: number }>, total: number): boolean {
  const sorted = [...chunks.values()].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const chunk of sorted) {
    if (chunk.offset > end) return false;
    end = Math.max(end, chunk.offset + chunk.size);
  }
  return end >= total;
}

// ---------------------------------------------------------------------------------------------
// The raw upload

const OCTET_STREAM = /^application\/octet-stream\s*(;|$)/i;

async function rawUpload(uploads: Uploads, ctx: ApiContext): Promise<ApiResult> {
  refuseForeignOrigin(uploads, ctx);
  const type = ctx.headers['content-type'];
  if (type !== undefined && !OCTET_STREAM.test(String(type))) {
    throw new ApiError(
      'validation',
      `An image is uploaded as application/octet-stream, not ${String(type)}`,
      null,
      415,
    );
  }
  const header = ctx.headers['content-length'];
  const length = header === undefined ? undefined : Number(header);
  const storageType = uploads.env.capabilities.default_storage_type;
  const { min, max } = uploads.limits(storageType);
  if (length !== undefined && length > max) {
    throw errors.invalid(
      null,
      `The image has ${length} bytes; a ${storageType} drive has at most ${max}`,
    );
  }
  if (length === 0) throw errors.invalid(null, 'The image is empty');
  const item = { name: ctx.params.name ?? undefined };
  const { doc } = await uploads.createDrive(
    ctx.principal.uuid,
    item.name === undefined ? {} : item,
    Math.max(length ?? min, min),
  );
  const total = length ?? max;
  let received = 0;
  let lastReport = Date.now();
  const progress = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        uploads.progress(doc.uuid, received, total).catch(() => {});
      }
      callback(null, chunk);
    },
  });
  let slow: ApiError | undefined;
  const stopWatching = watchRate(ctx, uploads.env.uploads.minRate, (error) => {
    slow = error;
  });
  try {
    const source = bodyOf(ctx);
    source.on('error', (error) => progress.destroy(error));
    // A body cut off without an error still ends the write (it would wait for ever).
    source.on('close', () => {
      if (!source.readableEnded) progress.destroy(new Error('the request body was cut off'));
    });
    await uploads.writingInto(doc.uuid, () =>
      uploads.env.images.putChunk(
        doc.uuid,
        { number: 1, offset: 0, size: length },
        source.pipe(progress),
        length ?? max,
      ),
    );
  } catch (e) {
    // A raw upload cannot be resumed: whatever stopped it, its drive goes.
    await uploads.discard(doc.uuid);
    if (slow) throw slow;
    if (e instanceof ChunkSizeError) {
      throw errors.invalid(null, `The image was refused: it has ${e.message}`);
    }
    throw e;
  } finally {
    stopWatching();
  }
  const sealed = await uploads.seal(doc.uuid, received, { isoAsCdrom: true });
  return {
    type: 'raw',
    status: 200,
    contentType: 'text/plain; charset=utf-8',
    body: sealed.uuid,
    uuids: [sealed.uuid],
  };
}

// ---------------------------------------------------------------------------------------------
// Download

const ZEROS = Buffer.alloc(64 * 1024);

/** `size` zero bytes, a buffer at a time: what a drive nothing was written to holds. */
function zeros(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const piece = left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left);
      left -= piece.length;
      this.push(piece);
    },
  });
}

async function download(uploads: Uploads, ctx: ApiContext): Promise<ApiResult> {
  refuseForeignOrigin(uploads, ctx);
  const drive = await uploads.env.store.read(async (tx) => {
    const loaded = await loadDrive(tx, ctx.params.uuid!);
    if (!loaded) throw errors.notExist(ctx.params.uuid!);
    return parseDoc<DriveDoc>(await loadVisible(tx, 'drives', loaded.doc.uuid, ctx));
  });
  if (drive.storage_type === 'local_nvme') {
    throw errors.permission(`Drive ${drive.uuid} is ephemeral: it cannot be downloaded`);
  }
  if (drive.status !== 'mounted' && drive.status !== 'unmounted') {
    throw errors.permission(`Cannot download drive ${drive.uuid} in state "${drive.status}"`);
  }
  const image = await uploads.env.images.read(drive.uuid);
  const size = image?.size ?? drive.size;
  return {
    type: 'raw',
    status: 200,
    contentType: 'application/octet-stream',
    headers: { 'content-disposition': `attachment; filename=${drive.uuid}` },
    length: size,
    body: image?.stream ?? zeros(size),
  };
}
