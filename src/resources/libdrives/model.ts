/**
 * Library drives (`/libdrives/`, api-reference.md §3.8): images that belong to the cloud
 * (`owner: null`), loaded from a catalog at start. They are stored under a kind of their own, so
 * that nothing that looks for an account's `drives` (lists, mounts, recursive deletes, the
 * engine) meets them unless it asks: `GET /drives/{uuid}/`, clone, and attaching a cdrom do.
 */
import { errors } from '../../errors.js';
import type { FieldDef, ResourceDef } from '../../model/fields.js';
import { resourceUri } from '../../model/refs.js';
import type { ObjectRecord, ReadTx } from '../../store/types.js';
import { type DocKind, parseDoc } from '../common.js';
import { DRIVES, type DriveDoc, driveKind } from '../drives/model.js';

export const LIBDRIVE_KIND = 'libdrives';

export interface LibdriveDoc {
  uuid: string;
  name: string;
  media: 'disk' | 'cdrom';
  size: number;
  /** As the catalog gives it; null: the cloud's `default_storage_type`. */
  storage_type: string | null;
  allow_multimount: boolean;
  affinities: string[];
  arch: string | null;
  category: string[];
  description: string | null;
  distribution: string | null;
  favourite: boolean;
  image_type: string | null;
  install_notes: string | null;
  os: string | null;
  paid: boolean;
  url: string | null;
  version: string | null;
  /** The user of a pre-installed image; not shown in `/libdrives/`, copied into a clone's meta. */
  default_user: string | null;
  /** Rendered as given (license links of the cloud); a clone carries them. */
  licenses: unknown[];
  meta: Record<string, string>;
}

/** A text of the catalog: null where the catalog leaves it out. */
const text = (help: string, required = false): FieldDef => ({
  type: 'string',
  help,
  default: null,
  required,
  output: { nullable: true },
});

/** The declaration behind `/libdrives/schema/` (response_libdrive_schema, help texts as recorded). */
export const LIBDRIVES: ResourceDef = {
  kind: LIBDRIVE_KIND,
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  filtering: {
    arch: 'exact',
    category: 'exact',
    distribution: 'exact',
    image_type: 'exact',
    name: 'exact',
    name__icontains: 'exact',
    os: 'exact',
    uuid: 'exact',
    version: 'exact',
  },
  fields: {
    affinities: DRIVES.fields.affinities!,
    allow_multimount: DRIVES.fields.allow_multimount!,
    arch: text('Operating system bit architecture the drive.', true),
    category: { type: 'list', help: 'Category of the drive.', default: [] },
    description: text('Description of drive image.'),
    distribution: text('OS distribution of the drive.'),
    favourite: {
      type: 'boolean',
      help: 'Favourite drive image for user.',
      default: null,
      required: true,
    },
    image_type: text('Type of drive image.', true),
    install_notes: text('Install notes for the drive image.'),
    jobs: DRIVES.fields.jobs!,
    licenses: DRIVES.fields.licenses!,
    media: DRIVES.fields.media!,
    meta: DRIVES.fields.meta!,
    mounted_on: DRIVES.fields.mounted_on!,
    name: DRIVES.fields.name!,
    os: text('Operating system of the drive.', true),
    owner: DRIVES.fields.owner!,
    paid: { type: 'boolean', help: 'Paid or free.', default: null, required: true },
    resource_uri: DRIVES.fields.resource_uri!,
    size: DRIVES.fields.size!,
    status: DRIVES.fields.status!,
    // Null: the cloud's `default_storage_type`.
    storage_type: {
      type: 'string',
      help: 'Underlying storage',
      required: true,
      output: { nullable: true },
    },
    tags: DRIVES.fields.tags!,
    // The recorded schema repeats the help text of `arch` here.
    url: text('Operating system bit architecture the drive.'),
    uuid: DRIVES.fields.uuid!,
    version: text('OS version of the drive.'),
  },
};

function renderLibdrive(d: LibdriveDoc): Record<string, unknown> {
  return {
    affinities: d.affinities,
    allow_multimount: d.allow_multimount,
    arch: d.arch,
    category: d.category,
    description: d.description,
    distribution: d.distribution,
    favourite: d.favourite,
    image_type: d.image_type,
    install_notes: d.install_notes,
    jobs: [],
    licenses: d.licenses,
    media: d.media,
    meta: d.meta,
    // Attachments of library cdroms are not tracked on the library object: it is every
    // account's, and would otherwise list the servers of all of them.
    mounted_on: [],
    name: d.name,
    os: d.os,
    owner: null,
    paid: d.paid,
    resource_uri: resourceUri(LIBDRIVE_KIND, d.uuid),
    size: d.size,
    status: 'unmounted',
    storage_type: d.storage_type,
    tags: [],
    url: d.url,
    uuid: d.uuid,
    version: d.version,
  };
}

export const libdriveKind: DocKind<LibdriveDoc> = {
  def: LIBDRIVES,
  uuid: (d) => d.uuid,
  owner: () => null,
  name: (d) => d.name,
  status: () => 'unmounted',
  render: renderLibdrive,
};

/** A library drive as `GET /drives/{uuid}/` shows it: a drive with `owner: null`. */
export function renderAsDrive(d: LibdriveDoc, defaultStorageType: string): Record<string, unknown> {
  const drive: DriveDoc = {
    uuid: d.uuid,
    owner: '',
    name: d.name,
    size: d.size,
    media: d.media,
    storage_type: d.storage_type ?? defaultStorageType,
    allow_multimount: d.allow_multimount,
    affinities: d.affinities,
    iops: null,
    licenses: d.licenses,
    meta: d.meta,
    tags: [],
    status: 'unmounted',
    mounted_on: [],
    snapshots: [],
    jobs: [],
  };
  return { ...driveKind.render(drive), owner: null };
}

/**
 * The drive meta a clone of a library drive starts with (api-reference.md §1.15, meta.rst: "when
 * a drive is cloned from the library we copy its metadata to the new drive's meta"), under the
 * key names the documentation gives (`install notes`, `favorite`). Values are strings, as every
 * meta value; empty fields are left out.
 */
export function libraryMeta(d: LibdriveDoc): Record<string, string> {
  const meta: Record<string, string> = { ...d.meta };
  const put = (key: string, value: string | null) => {
    if (value !== null && value !== '') meta[key] = value;
  };
  put('os', d.os);
  put('arch', d.arch);
  put('distribution', d.distribution);
  put('version', d.version);
  put('default_user', d.default_user);
  put('install notes', d.install_notes);
  put('url', d.url);
  put('description', d.description);
  put('image_type', d.image_type);
  put('category', d.category.join(','));
  put('paid', String(d.paid));
  put('favorite', String(d.favourite));
  return meta;
}

/**
 * A server may attach a library cdrom directly (by its uuid); a library disk must be cloned first:
 * 403 (api-reference.md §3.6, pycloudsigma's test_attaching_preinstalled). Mounts of library
 * cdroms are not recorded on the library drive (see `mounted_on` above).
 */
export function checkLibraryAttachment(record: ObjectRecord, point: string): void {
  const drive = parseDoc<LibdriveDoc>(record);
  if (drive.media !== 'cdrom') {
    throw errors.permission(
      `Library drive ${drive.uuid} is a disk: clone it (POST /libdrives/${drive.uuid}/action/?do=clone) and attach the clone`,
      point,
    );
  }
}

/** The media of the library drive `uuid`; undefined if it is none. */
export async function libraryMedia(
  tx: Pick<ReadTx, 'get'>,
  uuid: string,
): Promise<LibdriveDoc['media'] | undefined> {
  const record = await tx.get(uuid);
  return record?.kind === LIBDRIVE_KIND ? parseDoc<LibdriveDoc>(record).media : undefined;
}
