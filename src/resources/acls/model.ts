/**
 * ACLs (`/acls/`, api-reference.md §5.10): an owner's grant of permissions to other accounts on
 * every resource that carries any of the ACL's tags. A tastypie model resource: its schema shows
 * blank/nullable/unique.
 */
import type { FieldDef, ResourceDef } from '../../model/fields.js';
import type { Json } from '../../model/json.js';
import { link, resourceUri } from '../../model/refs.js';
import { checkMeta, type DocKind, userLink } from '../common.js';
import { PERMISSIONS } from './access.js';

export interface AclGrantee {
  uuid: string;
  email: string;
}

export interface AclDoc {
  uuid: string;
  owner: string;
  name: string;
  meta: Record<string, string>;
  grantees: AclGrantee[];
  /** Permissions, in the order given. */
  rules: string[];
  /** Tag uuids, in the order given; also the `acl` links (ACL → tag) of the store. */
  tags: string[];
}

const STRING_HELP = 'Unicode string data. Ex: "Hello World"';
const MANY_HELP =
  'Many related resources. Can be either a list of URIs or list of individually nested resource data.';

function field(
  type: FieldDef['type'],
  help: string,
  opts: { default?: Json; readonly?: boolean; nullable?: boolean } = {},
): FieldDef {
  return {
    type,
    help,
    ...(opts.default === undefined ? {} : { default: opts.default }),
    readonly: opts.readonly ?? false,
    nullable: opts.nullable ?? false,
    schemaExtra: { blank: false, nullable: opts.nullable ?? false, unique: false },
  };
}

export const ACLS: ResourceDef = {
  kind: 'acls',
  allowedListMethods: ['get', 'put', 'post', 'delete'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  schemaOmitsRequired: true,
  fields: {
    // Null is read as none (grantees, rules and tags): they are never rendered null.
    grantees: {
      ...field('related', MANY_HELP, { nullable: true }),
      shape: 'many',
      output: {
        nullable: false,
        fields: {
          email: { type: 'string', help: 'Email of the grantee' },
          // A link, not a URI: as CloudSigma renders it.
          resource_uri: { type: 'related', help: 'The grantee' },
          uuid: { type: 'string', help: 'UUID of the grantee' },
        },
      },
    },
    meta: {
      ...field('dict', "A dictionary of data. Ex: {'price': 26.73, 'name': 'Daniel'}"),
      check: checkMeta,
    },
    name: { ...field('string', STRING_HELP, { default: '' }), maxLength: 255 },
    owner: field(
      'related',
      'A single related resource. Can be either a URI or set of nested resource data.',
      { readonly: true },
    ),
    resource_uri: field('string', STRING_HELP, { readonly: true }),
    rules: {
      ...field('related', 'ACL rules', { nullable: true }),
      shape: 'many',
      output: {
        nullable: false,
        fields: {
          permission: {
            type: 'string',
            help: 'A permission the grantees get',
            output: { choices: PERMISSIONS },
          },
        },
      },
    },
    tags: {
      ...field('related', MANY_HELP, { nullable: true }),
      shape: 'many',
      output: { nullable: false },
    },
    uuid: field('string', STRING_HELP, { readonly: true }),
  },
};

export const aclKind: DocKind<AclDoc> = {
  def: ACLS,
  uuid: (a) => a.uuid,
  owner: (a) => a.owner,
  name: (a) => a.name,
  status: () => null,
  render: (a) => ({
    grantees: a.grantees.map((g) => ({
      email: g.email,
      resource_uri: userLink(g.uuid),
      uuid: g.uuid,
    })),
    meta: a.meta,
    name: a.name,
    owner: userLink(a.owner),
    resource_uri: resourceUri('acls', a.uuid),
    rules: a.rules.map((permission) => ({ permission })),
    tags: a.tags.map((uuid) => link('tags', uuid)),
    uuid: a.uuid,
  }),
};
