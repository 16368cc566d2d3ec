/**
 * Keypairs and their read-only mirror, pubkeys (api-reference.md §5.6): declarations, the stored
 * document and both renderings.
 *
 * A keypair's list representation is its detail (§1.8), so its record's second rendering slot
 * (`summary`) holds its `/pubkeys/` view instead: both are written in the keypair's transaction,
 * and `/pubkeys/` reads splice stored bytes like every other list, without a second record or a
 * private key that could leak through a shared code path.
 */
import type { FieldDef, ResourceDef } from '../../model/fields.js';
import { link, resourceUri } from '../../model/refs.js';
import type { NewRecord, ObjectRecord } from '../../store/types.js';
import { type DocKind, fields, toRecord } from '../common.js';
import { NAME_MAX } from '../drives/model.js';
import { ALGORITHMS, PRIVATE_KEY_MAX, PUBLIC_KEY_MAX } from './ssh.js';

export interface KeypairDoc {
  uuid: string;
  owner: string;
  name: string;
  /** The OpenSSH public key line, as given (or generated). */
  public_key: string;
  private_key: string | null;
  fingerprint: string;
  meta: Record<string, string>;
  tags: string[];
}

const FILTERING = { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' };

const common: Record<string, FieldDef> = {
  fingerprint: {
    type: 'string',
    help: 'MD5 fingerprint of the public key, in colon-separated hex pairs',
    readonly: true,
  },
  grantees: fields.grantees(),
  meta: fields.meta('User defined meta information'),
  name: {
    type: 'string',
    help: 'Human readable name of the keypair',
    default: '',
    maxLength: NAME_MAX,
  },
  permissions: fields.permissions(),
  resource_uri: fields.resourceUri(),
  tags: { ...fields.tags(), default: [] },
  uuid: fields.uuid('UUID of the keypair'),
};

export const KEYPAIRS: ResourceDef = {
  kind: 'keypairs',
  allowedListMethods: ['get', 'put', 'delete', 'post'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  filtering: FILTERING,
  ordering: ['uuid', 'name'],
  fields: {
    ...common,
    algorithm_type: {
      type: 'string',
      help: 'On create without keys: the algorithm of the pair to generate (RSA when not given; RSA pairs have 2048 bits). Not stored.',
      default: null,
      nullable: true,
      choices: ALGORITHMS,
    },
    private_key: {
      type: 'string',
      help: 'The private key (PEM or OpenSSH format); null when only the public key is known',
      default: null,
      nullable: true,
      maxLength: PRIVATE_KEY_MAX,
    },
    public_key: {
      type: 'string',
      help: 'The public key, in OpenSSH format ("<type> <base64> [comment]"); RSA keys have at most 4096 bits',
      default: null,
      nullable: true,
      maxLength: PUBLIC_KEY_MAX,
      // Null (or left out) on input: derived from the private key, or generated with it.
      output: { nullable: false },
    },
  },
};

/** The read-only mirror: every keypair, without its private key. */
export const PUBKEYS: ResourceDef = {
  kind: 'pubkeys',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  filtering: FILTERING,
  ordering: ['uuid', 'name'],
  fields: Object.fromEntries(
    Object.entries<FieldDef>({
      ...common,
      has_private_key: {
        type: 'boolean',
        help: 'Whether the keypair holds a private key (shown at /keypairs/ only)',
      },
      public_key: { type: 'string', help: 'The public key, in OpenSSH format' },
    }).map(([name, def]) => [name, { ...def, readonly: true }]),
  ),
};

function renderKeypair(k: KeypairDoc): Record<string, unknown> {
  return {
    ...renderShared(k),
    private_key: k.private_key,
    resource_uri: resourceUri('keypairs', k.uuid),
  };
}

/** The `/pubkeys/` view of a keypair. */
export function renderPubkey(k: KeypairDoc): Record<string, unknown> {
  return {
    ...renderShared(k),
    has_private_key: k.private_key !== null,
    resource_uri: resourceUri('pubkeys', k.uuid),
  };
}

function renderShared(k: KeypairDoc): Record<string, unknown> {
  return {
    fingerprint: k.fingerprint,
    grantees: [],
    meta: k.meta,
    name: k.name,
    permissions: [],
    public_key: k.public_key,
    tags: k.tags.map((uuid) => link('tags', uuid)),
    uuid: k.uuid,
  };
}

const keypairKind: DocKind<KeypairDoc> = {
  def: KEYPAIRS,
  uuid: (k) => k.uuid,
  owner: (k) => k.owner,
  name: (k) => k.name,
  status: () => null,
  render: renderKeypair,
};

const pubkeyKind: DocKind<KeypairDoc> = { ...keypairKind, def: PUBKEYS, render: renderPubkey };

/** The record of a keypair: its detail, and its pubkeys view in the `summary` slot. */
export function keypairRecord(doc: KeypairDoc): NewRecord {
  return { ...toRecord(keypairKind, doc), summary: toRecord(pubkeyKind, doc).detail };
}

/** The record `doc` replaces `previous` with (same version, which the store checks). */
export function keypairUpdate(previous: ObjectRecord, doc: KeypairDoc): ObjectRecord {
  return { ...keypairRecord(doc), version: previous.version };
}
