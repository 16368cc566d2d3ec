/**
 * Helpers for HTTP tests of the API resources: create objects and assert CloudSigma error bodies.
 */
import { expect } from 'vitest';
import { type Client, driveBody, type Response, serverBody } from './app.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const MAC = /^22(:[0-9a-f]{2}){5}$/;

/** A JSON object as the API renders it. */
// biome-ignore lint/suspicious/noExplicitAny: tests walk response bodies freely and assert on them.
export type Obj = Record<string, any>;

/**
 * Asserts a CloudSigma error answer: the status, and a one-element array body with that
 * `error_type` and `error_point`. Returns the error object for further checks.
 */
export function expectError(res: Response, status: number, type: string, point: string | null) {
  expect({ status: res.status, body: res.json }).toMatchObject({
    status,
    body: [{ error_type: type, error_point: point }],
  });
  expect(res.json).toHaveLength(1);
  expect(typeof res.json[0].error_message).toBe('string');
  expect(res.json[0].error_message).not.toBe('');
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return res.json[0] as { error_point: string | null; error_type: string; error_message: string };
}

/** POSTs one server definition (merged over a minimal one) and returns the created object. */
export async function createServer(client: Client, overrides: Obj = {}): Promise<Obj> {
  const res = await client.post('/servers/', { objects: [serverBody(overrides)] });
  if (res.status !== 201) throw new Error(`server create: ${res.status} ${res.text}`);
  return res.json.objects[0] as Obj;
}

/**
 * POSTs one drive definition (merged over a minimal one) and returns the drive once it is made
 * (`unmounted`: the test client waits for the engine after a write).
 */
export async function createDrive(client: Client, overrides: Obj = {}): Promise<Obj> {
  const res = await client.post('/drives/', { objects: [driveBody(overrides)] });
  if (res.status !== 201) throw new Error(`drive create: ${res.status} ${res.text}`);
  return getObject(client, `/drives/${(res.json.objects[0] as Obj).uuid}/`);
}

/** GETs one object and asserts it exists. */
export async function getObject(client: Client, path: string): Promise<Obj> {
  const res = await client.get(path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
  return res.json as Obj;
}

/** The `{resource_uri, uuid}` link object the API emits for a reference. */
export function linkTo(kind: string, uuid: string): { resource_uri: string; uuid: string } {
  return { resource_uri: `/api/2.0/${kind}/${uuid}/`, uuid };
}

/** An attachment entry for a server's `drives`. */
export function attach(
  drive: string,
  device: 'ide' | 'virtio',
  devChannel: string,
  bootOrder?: number | null,
): Obj {
  const entry: Obj = { drive, device, dev_channel: devChannel };
  if (bootOrder !== undefined) entry.boot_order = bootOrder;
  return entry;
}
