/** The snapshot resource (`/snapshots/`, api-reference.md §3.7): declaration, document, rendering. */
import type { ResourceDef } from '../../model/fields.js';
import { link, resourceUri } from '../../model/refs.js';
import { type DocKind, fields, userLink } from '../common.js';
import type { DriveDoc } from '../drives/model.js';

export const SNAPSHOT_KIND = 'snapshots';

export const SNAPSHOT_STATUSES = ['creating', 'available'] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

export interface SnapshotDoc {
  uuid: string;
  owner: string;
  name: string;
  /** The drive it was taken of; it goes with that drive. */
  drive: string;
  meta: Record<string, string>;
  tags: string[];
  status: SnapshotStatus;
  /** `2014-06-05 09:52:53.896622+00:00`, as recorded. */
  timestamp: string;
  /** Bytes the snapshot holds: null until it is `available`. */
  allocated_size: number | null;
  /** The drive as it was when the snapshot was taken: what a clone of the snapshot becomes. */
  media: DriveDoc['media'];
  size: number;
  storage_type: string;
  /** Drives being copied from this snapshot (`cloning_dst`): it stays until they are done. */
  cloning: string[];
}

/** The declaration behind `/snapshots/schema/` (response_snapshot_schema). */
export const SNAPSHOTS: ResourceDef = {
  kind: SNAPSHOT_KIND,
  allowedListMethods: ['get', 'put', 'delete', 'post'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  // `?drive=` is served too (snapshots/routes.ts), though the recorded schema does not list it.
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  fields: {
    allocated_size: {
      type: 'integer',
      help: 'Physical size of the snapshot',
      readonly: true,
      required: true,
      // Null until the snapshot is `available`.
      output: { nullable: true },
    },
    drive: {
      type: 'related',
      help: 'Drive UUID',
      default: null,
      required: true,
      ref: 'drives',
    },
    grantees: fields.grantees(),
    meta: fields.meta('User defined meta information'),
    name: {
      type: 'string',
      help: 'Optional human readable name of the snapshot',
      default: null,
      nullable: true,
      maxLength: 255,
      // Null (or left out) on input: a name is made from the drive and the time.
      output: { nullable: false },
    },
    owner: fields.owner('Owner of the snapshot', false),
    permissions: fields.permissions(),
    resource_uri: fields.resourceUri(),
    status: {
      type: 'string',
      help: 'Status of the snapshot.',
      readonly: true,
      required: true,
      output: { choices: SNAPSHOT_STATUSES },
    },
    tags: fields.tags(),
    timestamp: {
      type: 'string',
      help: 'Timestamp of the snapshot creation',
      default: null,
      readonly: true,
      required: true,
    },
    uuid: fields.uuid('UUID of the snapshot'),
  },
};

function renderSnapshot(s: SnapshotDoc): Record<string, unknown> {
  return {
    allocated_size: s.allocated_size,
    drive: link('drives', s.drive),
    grantees: [],
    meta: s.meta,
    name: s.name,
    owner: userLink(s.owner),
    permissions: [],
    resource_uri: resourceUri(SNAPSHOT_KIND, s.uuid),
    status: s.status,
    tags: s.tags.map((uuid) => link('tags', uuid)),
    timestamp: s.timestamp,
    uuid: s.uuid,
  };
}

export const snapshotKind: DocKind<SnapshotDoc> = {
  def: SNAPSHOTS,
  uuid: (s) => s.uuid,
  owner: (s) => s.owner,
  name: (s) => s.name,
  status: (s) => s.status,
  render: renderSnapshot,
};

/** `2014-06-05 09:52:53.896000+00:00`: the space form with microseconds the dumps show. */
export function snapshotTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000+00:00`;
}

/** The name of a snapshot taken without one: `<drive uuid>__2014-06-05__09_52_53` (UTC). */
export function defaultSnapshotName(drive: string, ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${drive}__${iso.slice(0, 10)}__${iso.slice(11, 19).replaceAll(':', '_')}`;
}
