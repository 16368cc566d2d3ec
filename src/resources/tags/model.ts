/**
 * Tags (`/tags/`, api-reference.md §5.1): a named set of an account's resources of any type. A
 * tastypie model resource: its schema shows blank/nullable/unique.
 */
import type { FieldDef, ResourceDef } from '../../model/fields.js';
import { resourceUri } from '../../model/refs.js';
import { checkMeta, type DocKind, userLink } from '../common.js';

/** A resource a tag carries: its id and type (`servers`, `drives`, `ips`...). */
export interface TaggedRef {
  uuid: string;
  res_type: string;
}

export interface TagDoc {
  uuid: string;
  owner: string;
  name: string;
  meta: Record<string, string>;
  /** In the order they were tagged; the store's `tag` links (resource → tag) say the same. */
  resources: TaggedRef[];
}

const STRING_HELP = 'Unicode string data. Ex: "Hello World"';

function field(type: FieldDef['type'], help: string, opts: Partial<FieldDef> = {}): FieldDef {
  return {
    type,
    help,
    readonly: false,
    ...opts,
    schemaExtra: { blank: false, nullable: opts.nullable ?? false, unique: false },
  };
}

export const TAG_NAME_MAX = 255;

export const TAGS: ResourceDef = {
  kind: 'tags',
  allowedListMethods: ['get', 'post'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  schemaOmitsRequired: true,
  fields: {
    meta: field('dict', "A dictionary of data. Ex: {'price': 26.73, 'name': 'Daniel'}", {
      check: checkMeta,
    }),
    name: field('string', STRING_HELP, { required: true, maxLength: TAG_NAME_MAX }),
    owner: field(
      'related',
      'A single related resource. Can be either a URI or set of nested resource data.',
      { readonly: true },
    ),
    resource_uri: field('string', STRING_HELP, { readonly: true }),
    resources: field(
      'related',
      'Many related resources. Can be either a list of URIs or list of individually nested resource data.',
      {
        nullable: true,
        shape: 'many',
        // Null is read as none; each is rendered with its type and owner.
        output: {
          nullable: false,
          fields: {
            owner: { type: 'related', help: 'Owner of the resource' },
            res_type: { type: 'string', help: 'Type of the resource (servers, drives, ...)' },
            resource_uri: { type: 'string', help: 'URI of the resource' },
            uuid: { type: 'string', help: 'UUID of the resource' },
          },
        },
      },
    ),
    uuid: field('string', STRING_HELP, { readonly: true }),
  },
};

export const tagKind: DocKind<TagDoc> = {
  def: TAGS,
  uuid: (t) => t.uuid,
  owner: (t) => t.owner,
  name: (t) => t.name,
  status: () => null,
  render: (t) => ({
    meta: t.meta,
    name: t.name,
    owner: userLink(t.owner),
    resource_uri: resourceUri('tags', t.uuid),
    // A tag holds its owner's resources only.
    resources: t.resources.map((r) => ({
      owner: userLink(t.owner),
      res_type: r.res_type,
      resource_uri: resourceUri(r.res_type, r.uuid),
      uuid: r.uuid,
    })),
    uuid: t.uuid,
  }),
};
