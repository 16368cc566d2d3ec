/** The drive resource: its declaration (drives `/drives/schema/` and input), document and rendering. */
import type { ResourceDef } from '../../model/fields.js';
import { link, resourceUri } from '../../model/refs.js';
import { type DocKind, fields, userLink } from '../common.js';

export const DRIVE_STATUSES = [
  'creating',
  'unmounted',
  'mounted',
  'resizing',
  'cloning_src',
  'cloning_dst',
  'copying',
  'uploading',
  'unavailable',
  'staging',
] as const;
export type DriveStatus = (typeof DRIVE_STATUSES)[number];

export interface DriveDoc {
  uuid: string;
  owner: string;
  name: string;
  size: number;
  media: 'disk' | 'cdrom';
  storage_type: string;
  allow_multimount: boolean;
  affinities: string[];
  iops: number | null;
  licenses: unknown[];
  meta: Record<string, string>;
  tags: string[];
  status: DriveStatus;
  /** Servers the drive is attached to, kept in step with their `drives`. */
  mounted_on: string[];
  /** The drive's snapshots, newest first (as the recorded drives list them). */
  snapshots: string[];
  /** Sum of the allocated sizes of its snapshots (absent: 0). */
  snapshots_allocated_size?: number;
  jobs: string[];
}

export const NAME_MAX = 255;

export const DRIVES: ResourceDef = {
  kind: 'drives',
  allowedListMethods: ['get', 'put', 'delete', 'post'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  listFields: ['owner', 'resource_uri', 'status', 'uuid'],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  ordering: ['uuid', 'name'],
  fields: {
    affinities: {
      type: 'list',
      help: 'A list of affinities this drive should belong to',
      default: [],
      choices: ['ssd'],
    },
    allow_multimount: {
      type: 'boolean',
      help: 'Allow the drive to be mounted on multiple guests. Not taken into account when drive is cdrom.',
      default: false,
    },
    backup_scheduler: {
      type: 'related',
      help: "Drive's Backup scheduler",
      readonly: true,
      output: { nullable: true },
    },
    grantees: fields.grantees(),
    iops: { type: 'integer', help: 'IOPS limit per drive', default: null, nullable: true },
    jobs: fields.jobs(),
    licenses: {
      type: 'related',
      help: 'A list of licenses attached to this drive',
      default: [],
      shape: 'many',
      fields: {
        amount: { type: 'integer', help: 'Number of licenses', default: 1 },
        license: {
          type: 'related',
          help: 'A single related resource. Can be either a URI or set of nested resource data.',
          required: true,
          ref: 'licenses',
          // Library drives carry their catalog's license objects as given.
          output: { fields: {} },
        },
        user: { type: 'related', help: 'Owner of the license', default: null, nullable: true },
      },
    },
    media: {
      type: 'string',
      help: 'Media representation type',
      default: null,
      required: true,
      choices: ['cdrom', 'disk'],
    },
    meta: fields.meta('User defined meta information'),
    mounted_on: {
      type: 'related',
      help: 'Servers on which this drive is mounted on',
      readonly: true,
      shape: 'many',
    },
    name: {
      type: 'string',
      help: 'Human readable name of the drive',
      default: null,
      required: true,
      maxLength: NAME_MAX,
    },
    // Null for a library drive seen through `GET /drives/{uuid}/`.
    owner: { ...fields.owner('Owner of the drive', false), output: { nullable: true } },
    permissions: fields.permissions(),
    remote_snapshots: {
      type: 'related',
      help: "Drive's Remote snapshots",
      readonly: true,
      shape: 'many',
    },
    resource_uri: fields.resourceUri(),
    runtime: {
      type: 'related',
      help: 'Runtime information of the drive',
      readonly: true,
      fields: {
        is_downloadable: {
          type: 'boolean',
          help: 'Specifies if the drive supports downloads',
          readonly: true,
          required: true,
        },
        is_ephemeral: {
          type: 'boolean',
          help: 'Specifies if the drive is ephemeral',
          readonly: true,
          required: true,
        },
        is_snapshotable: {
          type: 'boolean',
          help: 'Specifies if the drive supports snapshotting',
          readonly: true,
          required: true,
          // Unknown while the drive is `creating` or `cloning_dst`.
          output: { nullable: true },
        },
        snapshots_allocated_size: {
          type: 'integer',
          help: "Sum of the allocated size of this drive's snapshots",
          readonly: true,
          required: true,
        },
        storage_type: {
          type: 'string',
          help: 'Underlying storage',
          readonly: true,
          required: true,
        },
      },
    },
    size: { type: 'integer', help: 'Size of the drive in bytes', default: null, required: true },
    snapshots: {
      type: 'related',
      help: 'Servers on which this drive is mounted on',
      readonly: true,
      shape: 'many',
    },
    status: {
      type: 'string',
      help: 'Status of the drive.',
      readonly: true,
      required: true,
      output: { choices: DRIVE_STATUSES },
    },
    storage_type: {
      type: 'string',
      help: 'Underlying storage',
      default: null,
      choices: ['magnetic', 'ssd', 'dssd', 'zadara', 'nvme', 'local_nvme'],
    },
    tags: fields.tags(),
    uuid: fields.uuid('UUID of the drive'),
  },
};

export const driveKind: DocKind<DriveDoc> = {
  def: DRIVES,
  uuid: (d) => d.uuid,
  owner: (d) => d.owner,
  name: (d) => d.name,
  status: (d) => d.status,
  render: renderDrive,
};

function renderDrive(d: DriveDoc): Record<string, unknown> {
  const ephemeral = d.storage_type === 'local_nvme';
  return {
    affinities: d.affinities,
    allow_multimount: d.allow_multimount,
    backup_scheduler: null,
    grantees: [],
    iops: d.iops,
    jobs: d.jobs.map((uuid) => link('jobs', uuid)),
    licenses: d.licenses,
    media: d.media,
    meta: d.meta,
    mounted_on: d.mounted_on.map((uuid) => link('servers', uuid)),
    name: d.name,
    owner: userLink(d.owner),
    permissions: [],
    remote_snapshots: [],
    resource_uri: resourceUri('drives', d.uuid),
    runtime: {
      is_downloadable: !ephemeral,
      is_ephemeral: ephemeral,
      // Unknown until the data is there: null while `creating` or `cloning_dst` (8 of the 9
      // cloning_dst dumps show null).
      is_snapshotable: d.status === 'creating' || d.status === 'cloning_dst' ? null : !ephemeral,
      snapshots_allocated_size: d.snapshots_allocated_size ?? 0,
      storage_type: d.storage_type,
    },
    size: d.size,
    snapshots: d.snapshots.map((uuid) => link('snapshots', uuid)),
    status: d.status,
    storage_type: d.storage_type,
    tags: d.tags.map((uuid) => link('tags', uuid)),
    uuid: d.uuid,
  };
}

/** `mounted` or `unmounted` by attachment, unless the drive is in a transitional status. */
export function settledStatus(d: DriveDoc): DriveStatus {
  if (d.status !== 'mounted' && d.status !== 'unmounted') return d.status;
  return d.mounted_on.length > 0 ? 'mounted' : 'unmounted';
}
