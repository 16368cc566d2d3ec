/**
 * Declarations drive defaults and types (issue 14): a server a create reads from only its
 * required fields has every other writable field at its declared default (the service repeats
 * none), and the stored document has no field the declaration does not know.
 */
import { describe, expect, it } from 'vitest';
import { cryptoRandom } from '../../src/model/random.js';
import { DEFAULT_CAPABILITIES } from '../../src/resources/capabilities/default.js';
import type { ResourceEnv } from '../../src/resources/env.js';
import { SERVERS } from '../../src/resources/servers/model.js';
import { newServer } from '../../src/resources/servers/service.js';

/** What `newServer` reads of its env; the rest is never touched. */
const env = {
  capabilities: DEFAULT_CAPABILITIES,
  defaultCpuType: 'intel',
  random: cryptoRandom,
} as Partial<ResourceEnv> as ResourceEnv;

/** Document fields that are the store's, not the client's. */
const INTERNAL = ['owner'];

describe('server declarations', () => {
  const { doc, nics } = newServer(env, 'acc', {
    name: 'minimal',
    cpu: 1000,
    mem: 536870912,
    vnc_password: 'secret12',
  });

  it('give every writable field left out its declared default', () => {
    const stored = doc as unknown as Record<string, unknown>;
    const checked: string[] = [];
    for (const [name, def] of Object.entries(SERVERS.fields)) {
      if (def.readonly || def.dynamicDefault || !(name in stored)) continue;
      if (def.default === undefined || typeof def.default === 'symbol' || def.required) continue;
      expect(stored[name], name).toEqual(name === 'nics' ? [] : def.default);
      checked.push(name);
    }
    // A sanity check that the loop saw the declared defaults.
    expect(checked).toEqual(expect.arrayContaining(['context', 'hypervisor', 'meta', 'tags']));
    expect(nics).toEqual([]);
  });

  it('compute the dynamic ones', () => {
    expect(doc.cpu_type).toBe('intel');
    expect(doc.smp).toBe(1);
  });

  it('know every field of the stored document', () => {
    const known = new Set([...Object.keys(SERVERS.fields), ...INTERNAL]);
    expect(Object.keys(doc).filter((key) => !known.has(key))).toEqual([]);
  });
});
