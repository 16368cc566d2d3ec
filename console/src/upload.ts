/**
 * Uploading a drive image with the resumable protocol pycloudsigma's `Upload` speaks (issue 15,
 * item 5): `POST /initupload/` makes a drive of the file's exact size; then, for each chunk,
 * `GET /drives/{uuid}/upload/?resumableChunkNumber=N&...` (any 2xx: the server has it already)
 * and otherwise `POST` of the chunk as multipart form data. Chunk N starts at (N-1) x chunkSize;
 * the last one carries the remainder (up to twice the chunk size). Four chunks travel at once.
 * Progress counts the bytes of each chunk as they are sent (XMLHttpRequest's upload progress).
 */
import { API, errorOf, headers, type Obj, post } from './api';

export const CHUNK_SIZE = 5 * 1024 * 1024;
const PARALLEL = 4;

export interface Chunk {
  number: number;
  offset: number;
  size: number;
}

/** The chunks of a file of `total` bytes, as pycloudsigma cuts them. */
export function chunksOf(total: number, chunkSize = CHUNK_SIZE): Chunk[] {
  const count = Math.floor(total / chunkSize);
  if (count === 0) return [{ number: 1, offset: 0, size: total }];
  const chunks: Chunk[] = [];
  for (let i = 0; i < count - 1; i++) {
    chunks.push({ number: i + 1, offset: i * chunkSize, size: chunkSize });
  }
  const lastOffset = (count - 1) * chunkSize;
  chunks.push({ number: count, offset: lastOffset, size: total - lastOffset });
  return chunks;
}

function send(
  method: string,
  url: string,
  body: FormData | null,
  onProgress: (loaded: number) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers(false))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.status);
      else if (method === 'GET') resolve(xhr.status);
      else reject(errorOf(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new Error('the upload was cut off'));
    xhr.send(body);
  });
}

/** Uploads `file` into a new drive; reports bytes sent of the total. Returns the drive's uuid. */
export async function uploadImage(
  file: File,
  options: { name: string; media: string; onProgress: (sent: number, total: number) => void },
): Promise<string> {
  const created = await post<Obj & { objects?: Obj[] }>('/initupload/', {
    objects: [{ name: options.name, media: options.media, size: file.size }],
  });
  const drive = created.objects?.[0] ?? created;
  const uuid = drive.uuid;
  const url = `${API}/drives/${uuid}/upload/`;
  const sent = new Map<number, number>();
  const report = () => {
    let total = 0;
    for (const n of sent.values()) total += n;
    options.onProgress(Math.min(total, file.size), file.size);
  };
  report();
  const queue = chunksOf(file.size);
  const worker = async () => {
    for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
      const fields: Record<string, string> = {
        resumableChunkNumber: String(chunk.number),
        resumableChunkSize: String(CHUNK_SIZE),
        resumableTotalSize: String(file.size),
        resumableIdentifier: file.name,
        resumableFilename: file.name,
      };
      const have = await send('GET', `${url}?${new URLSearchParams(fields)}`, null, () => {});
      if (have < 200 || have >= 300) {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) form.append(name, value);
        form.append('file', file.slice(chunk.offset, chunk.offset + chunk.size), file.name);
        const number = chunk.number;
        const size = chunk.size;
        await send('POST', url, form, (loaded) => {
          // The multipart envelope counts too: never more than the chunk itself.
          sent.set(number, Math.min(loaded, size));
          report();
        });
      }
      sent.set(chunk.number, chunk.size);
      report();
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return uuid;
}
