/** Helpers for the networking and billing tests: buying what IPs and VLANs come from. */
import { expect } from 'vitest';
import type { Obj } from '../support/api.js';
import type { Client } from '../support/app.js';

/** `POST /subscriptions/` of one item; returns the whole answer (201 asserted). */
export async function buy(client: Client, item: Obj): Promise<Obj> {
  const res = await client.post('/subscriptions/', { objects: [{ period: '1 month', ...item }] });
  expect(res.status, res.text).toBe(201);
  return res.json as Obj;
}

/** Buys `n` IPs; returns their addresses. */
export async function buyIps(client: Client, n = 1): Promise<string[]> {
  const bought = await buy(client, { resource: 'ip', amount: n });
  return (bought.objects as Obj[]).map((s) => s.subscribed_object as string);
}

/** Buys one VLAN; returns its uuid. */
export async function buyVlan(client: Client): Promise<string> {
  const bought = await buy(client, { resource: 'vlan', amount: 1 });
  return bought.objects[0].subscribed_object as string;
}

/** `POST /servers/{uuid}/action/?do=...` (202 asserted; the test client waits for the engine). */
export async function act(client: Client, uuid: string, what: string): Promise<void> {
  const res = await client.post(`/servers/${uuid}/action/?do=${what}`, {});
  expect(res.status, res.text).toBe(202);
}
