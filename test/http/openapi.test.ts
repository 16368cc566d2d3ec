/**
 * The OpenAPI 3.1 document at `/api/2.0/openapi.json`: it covers every route the server serves
 * with every method, and what the server answers validates against it (JSON Schema 2020-12):
 * every list and object of every route that declares its resource, creates, updates, action
 * answers and errors, as the owner and as an account things are shared with.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiPath } from '../../src/docs/openapi.js';
import { actionNamesOf } from '../../src/http/actions.js';
import { buy, buyIps, buyVlan } from '../networking/support.js';
import { ALICE, driveBody, serverBody, startTestApp, type TestApp } from '../support/app.js';

// biome-ignore lint/suspicious/noExplicitAny: the document is walked freely and asserted on.
type Doc = any;

let t: TestApp;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true });
const DOC_ID = 'https://sigmalite.test/openapi.json';
/** The same document with every declared object closed (`additionalProperties: false`). */
const STRICT_ID = 'https://sigmalite.test/openapi-strict.json';

/**
 * Closes every object schema that lists its properties, so that a key the server renders but no
 * declaration names fails. Objects are open in the document itself (`fields=` drops keys,
 * CloudSigma adds some); `Capabilities` stays open (`--capabilities` serves a file as it is).
 */
function closed(node: unknown, key = ''): unknown {
  if (Array.isArray(node)) return node.map((item) => closed(item));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = key === 'schemas' && k.startsWith('Capabilities') ? v : closed(v, k);
  }
  if (key !== 'properties' && 'properties' in out && !('additionalProperties' in out)) {
    out.additionalProperties = false;
  }
  return out;
}

beforeAll(async () => {
  t = await startTestApp();
  const res = await t.anonymous.get('/openapi.json');
  expect(res.status).toBe(200);
  doc = res.json;
  ajv.addSchema({ ...doc, $id: DOC_ID });
  ajv.addSchema({ ...(closed(doc) as object), $id: STRICT_ID });
});

afterAll(async () => {
  await t.close();
});

/** A JSON pointer token. */
const token = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

/** Validates `body` against the response schema of `method path` for `status`. */
function check(path: string, method: string, status: number, body: unknown): void {
  const operation = doc.paths[path]?.[method.toLowerCase()];
  expect(operation, `${method} ${path} in the document`).toBeDefined();
  const response = operation.responses[String(status)];
  expect(response, `${method} ${path} documents ${status}`).toBeDefined();
  if (!response.content) return;
  const pointer = `#/paths/${token(path)}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
  for (const id of [DOC_ID, STRICT_ID]) {
    const ref = `${id}${pointer}`;
    const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
    const ok = validate(body);
    const what = id === STRICT_ID ? ' (a key no declaration names)' : '';
    expect(ok, `${method} ${path} ${status}${what}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  }
}

/** The id a list item is reached by: the last segment of its URI, else its id, else its uuid. */
function idOf(item: Record<string, unknown>): string {
  if (typeof item.resource_uri === 'string') {
    return item.resource_uri.split('/').filter(Boolean).at(-1)!;
  }
  return String(item.id ?? item.uuid);
}

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1, public, and describes Basic, Digest and session authentication', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'basic',
      'digest',
      'session',
    ]);
    expect(doc.paths['/openapi.json'].get.security).toEqual([]);
  });

  it('covers every route with every method it serves, and every action', () => {
    expect(t.app.routes.length).toBeGreaterThan(50);
    for (const route of t.app.routes) {
      const entry = doc.paths[openApiPath(route.path)];
      expect(entry, route.path).toBeDefined();
      for (const [method, handler] of Object.entries(route.handlers)) {
        const operation = entry[method.toLowerCase()];
        expect(operation, `${method} ${route.path}`).toBeDefined();
        const names = actionNamesOf(handler);
        if (!names) continue;
        const action = operation.parameters.find((p: Doc) => p.name === 'do');
        expect(action.schema.enum, route.path).toEqual(names);
        // Every action says what it answers.
        expect(Object.keys(route.actions ?? {}).sort(), route.path).toEqual([...names].sort());
      }
    }
  });

  it('has a schema for every resource, read from its declaration', () => {
    const schemas = doc.components.schemas;
    expect(schemas.Servers.properties.cpu.type).toBe('integer');
    expect(schemas.Servers.properties.status.readOnly).toBe(true);
    expect(schemas.Servers.properties.status.enum).toContain('running');
    expect(schemas.Servers.properties.runtime.type).toEqual(['object', 'null']);
    expect(schemas.Servers.properties.jobs.type).toBe('array');
    expect(schemas.ServersInput.required).toEqual(expect.arrayContaining(['name', 'cpu', 'mem']));
    expect(schemas.ServersInput.properties.status).toBeUndefined();
    // A PUT merges: nothing is required at the top; nested objects are read whole.
    expect(schemas.ServersUpdate.required).toBeUndefined();
    expect(schemas.ServersUpdate.properties.drives.items.required).toEqual(
      expect.arrayContaining(['dev_channel', 'device', 'drive']),
    );
    expect(schemas.Drives.properties.media.enum).toEqual(expect.arrayContaining(['disk', 'cdrom']));
    expect(schemas.Drives.properties.uuid.type).toBe('string');
    expect(schemas.DrivesList.properties.uuid.type).toBe('string');
    expect(schemas.Drives.properties.runtime.properties.is_snapshotable.type).toEqual([
      'boolean',
      'null',
    ]);
    // Read-only resources have no input schemas.
    expect(schemas.LibdrivesInput).toBeUndefined();
  });

  it('validates what the server answers: lists, objects, creates, updates, actions and errors', async () => {
    const alice = t.alice;
    const drive = (await alice.post('/drives/', driveBody())).json.objects[0];
    const second = await alice.post('/drives/', driveBody({ name: 'second' }));
    check('/drives/', 'POST', 201, second.json);
    const [ip] = await buyIps(alice);
    const vlan = await buyVlan(alice);
    check('/subscriptions/', 'POST', 201, await buy(alice, { resource: 'tx', amount: 1 }));
    const policy = await alice.post('/fwpolicies/', {
      objects: [
        {
          name: 'p',
          rules: [{ action: 'accept', direction: 'in', ip_proto: 'tcp', dst_port: '22' }],
        },
      ],
    });
    expect(policy.status).toBe(201);
    check('/fwpolicies/', 'POST', 201, policy.json);
    const created = await alice.post('/servers/', {
      objects: [
        serverBody({
          drives: [{ boot_order: 1, dev_channel: '0:0', device: 'virtio', drive: drive.uuid }],
          nics: [
            {
              ip_v4_conf: { conf: 'static', ip: ip },
              firewall_policy: policy.json.objects[0].uuid,
            },
            { vlan },
            { ip_v4_conf: { conf: 'dhcp' } },
          ],
          meta: { role: 'web' },
        }),
      ],
    });
    expect(created.status).toBe(201);
    check('/servers/', 'POST', 201, created.json);
    const server = created.json.objects[0];
    const snapshot = await alice.post('/snapshots/', {
      objects: [{ drive: drive.uuid, name: 's' }],
    });
    check('/snapshots/', 'POST', 201, snapshot.json);
    const snapshotUuid = snapshot.json.objects[0].uuid;
    const tag = await alice.post('/tags/', {
      objects: [{ name: 'prod', resources: [server.uuid, drive.uuid, ip, vlan, snapshotUuid] }],
    });
    check('/tags/', 'POST', 201, tag.json);
    const tagUuid = tag.json.objects[0].uuid;
    const key = await alice.post('/keypairs/', {
      objects: [{ name: 'k', algorithm_type: 'ed25519' }],
    });
    check('/keypairs/', 'POST', 201, key.json);
    const acl = await alice.post('/acls/', {
      objects: [
        {
          name: 'share',
          grantees: [{ email: 'bob@example.com' }],
          rules: [{ permission: 'LIST' }],
          tags: [tagUuid],
        },
      ],
    });
    check('/acls/', 'POST', 201, acl.json);

    // Actions: a clone of the stopped server (a job with a child per disk), then power.
    const clone = await alice.post(`/servers/${server.uuid}/action/?do=clone`, {});
    expect(clone.status, clone.text).toBe(202);
    check('/servers/{uuid}/action/', 'POST', 202, clone.json);
    const started = await alice.post(`/servers/${server.uuid}/action/?do=start`, {});
    check('/servers/{uuid}/action/', 'POST', 202, started.json);
    const vnc = await alice.post(`/servers/${server.uuid}/action/?do=open_vnc`, {});
    expect(vnc.status, vnc.text).toBe(202);
    check('/servers/{uuid}/action/', 'POST', 202, vnc.json);
    const closed = await alice.post(`/servers/${server.uuid}/action/?do=close_vnc`, {});
    check('/servers/{uuid}/action/', 'POST', 202, closed.json);
    const secondUuid = second.json.objects[0].uuid;
    const resized = await alice.post(`/drives/${secondUuid}/action/?do=resize`, {
      size: 2 * 1073741824,
    });
    expect(resized.status, resized.text).toBe(202);
    check('/drives/{uuid}/action/', 'POST', 202, resized.json);
    const driveClone = await alice.post(`/drives/${secondUuid}/action/?do=clone`, {});
    expect(driveClone.status, driveClone.text).toBe(202);
    check('/drives/{uuid}/action/', 'POST', 202, driveClone.json);
    const fromSnapshot = await alice.post(`/snapshots/${snapshotUuid}/action/?do=clone`, {});
    expect(fromSnapshot.status, fromSnapshot.text).toBe(202);
    check('/snapshots/{uuid}/action/', 'POST', 202, fromSnapshot.json);
    const library = (await alice.get('/libdrives/?limit=0')).json.objects;
    const disk = library.find((d: Doc) => d.media === 'disk') ?? library[0];
    const fromLibrary = await alice.post(`/libdrives/${disk.uuid}/action/?do=clone`, {});
    expect(fromLibrary.status, fromLibrary.text).toBe(202);
    check('/libdrives/{uuid}/action/', 'POST', 202, fromLibrary.json);
    // A library drive through /drives/{uuid}/ (owner null).
    const asDrive = await alice.get(`/drives/${disk.uuid}/`);
    expect(asDrive.status).toBe(200);
    check('/drives/{uuid}/', 'GET', 200, asDrive.json);
    const subscription = (await alice.get('/subscriptions/?limit=0')).json.objects.find(
      (s: Doc) => s.resource === 'ip',
    );
    const renew = await alice.post(`/subscriptions/${subscription.id}/action/?do=auto_renew`, {
      auto_renew: false,
    });
    expect(renew.status, renew.text).toBe(200);
    check('/subscriptions/{uuid}/action/', 'POST', 200, renew.json);
    const quote = await alice.post(`/subscriptioncalculator/${subscription.id}/action/?do=extend`, {
      period: '1 month',
    });
    expect(quote.status, quote.text).toBe(200);
    check('/subscriptioncalculator/{uuid}/action/', 'POST', 200, quote.json);
    const extended = await alice.post(`/subscriptions/${subscription.id}/action/?do=extend`, {
      period: '1 month',
    });
    expect(extended.status, extended.text).toBe(200);
    check('/subscriptions/{uuid}/action/', 'POST', 200, extended.json);
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: ALICE.email,
      password: ALICE.password,
    });
    expect(login.status, login.text).toBe(200);
    check('/accounts/action/', 'POST', 200, login.json);

    const running = (await alice.get(`/servers/${server.uuid}/`)).json;
    expect(running.status).toBe('running');
    const put = await alice.put(`/servers/${server.uuid}/`, { ...running, name: 'renamed' });
    check('/servers/{uuid}/', 'PUT', 200, put.json);
    const profile = await alice.put('/profile/', { my_notes: null, first_name: 'Alice' });
    expect(profile.status, profile.text).toBe(200);
    check('/profile/', 'PUT', 200, profile.json);

    // Every list (plain and detail) and an object of each, every singleton, as alice and as bob
    // (who sees alice's server and drive through the ACL).
    let checked = 0;
    for (const client of [alice, t.bob]) {
      for (const route of t.app.routes) {
        if (!route.resource || !('GET' in route.handlers)) continue;
        const path = openApiPath(route.path);
        const url = route.path.replace(':uuid', tagUuid);
        if (route.resource.as === 'object') {
          if (route.path.includes(':')) continue;
          const res = await client.get(url);
          expect(res.status, url).toBe(200);
          check(path, 'GET', 200, res.json);
          checked++;
          continue;
        }
        // The tag's lists are its owner's.
        if (client !== alice && url !== route.path) continue;
        const res = await client.get(`${url}?limit=0`);
        expect(res.status, url).toBe(200);
        check(path, 'GET', 200, res.json);
        checked++;
        if (client === alice && res.json.objects.length === 0) {
          expect.fail(`${url}: nothing listed, nothing validated`);
        }
        if (path.endsWith('/detail/')) continue;
        const first = res.json.objects[0];
        const objectRoute = t.app.routes.find(
          (r) => r.resource?.def === route.resource!.def && r.resource.as === 'object',
        );
        if (first && objectRoute) {
          const one = await client.get(
            objectRoute.path.replace(/:[a-z_]+/, encodeURIComponent(idOf(first))),
          );
          expect(one.status, objectRoute.path).toBe(200);
          check(openApiPath(objectRoute.path), 'GET', 200, one.json);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(80);

    const stopped = await alice.post(`/servers/${server.uuid}/action/?do=stop`, {});
    check('/servers/{uuid}/action/', 'POST', 202, stopped.json);
    const missing = await alice.get('/servers/00000000-0000-4000-8000-000000000000/');
    check('/servers/{uuid}/', 'GET', 404, missing.json);
    const invalid = await alice.post('/servers/', { objects: [{ name: 'x' }] });
    check('/servers/', 'POST', 400, invalid.json);
    const wrongState = await alice.post(`/servers/${server.uuid}/action/?do=stop`, {});
    expect(wrongState.status).toBe(403);
    check('/servers/{uuid}/action/', 'POST', 403, wrongState.json);
  });

  it('fails validation when an answer does not match (the check can fail)', () => {
    const list = (object: object) => ({
      meta: { limit: 0, offset: 0, total_count: 1 },
      objects: [object],
    });
    // A uuid that is no string.
    expect(() => check('/servers/', 'GET', 200, list({ uuid: 5 }))).toThrow();
    // A status no server takes.
    expect(() => check('/servers/detail/', 'GET', 200, list({ status: 'flying' }))).toThrow();
    // A key no declaration names.
    expect(() => check('/drives/', 'GET', 200, list({ uuid: 'u', colour: 'red' }))).toThrow();
    // A null where the server never renders one.
    expect(() => check('/drives/detail/', 'GET', 200, list({ mounted_on: null }))).toThrow();
    // An action answer that is neither an acknowledgement nor a server.
    expect(() =>
      check('/servers/{uuid}/action/', 'POST', 202, {
        action: 'start',
        result: 'success',
        uuid: 5,
      }),
    ).toThrow();
  });
});
