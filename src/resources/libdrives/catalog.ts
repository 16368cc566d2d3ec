/**
 * The library catalog: read (the built-in one, or `--library FILE`), checked, and made the
 * store's library at start. The format is a JSON list of entries shaped like the `/libdrives/`
 * objects they become (docs/library.md); a saved `/libdrives/` answer (`{"objects": [...]}`)
 * works too, its read-only keys ignored.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ConfigError } from '../../config.js';
import { isPlainObject } from '../../model/json.js';
import type { Store, WriteTx } from '../../store/types.js';
import { checkMeta, toRecord, toUpdate } from '../common.js';
import { DEFAULT_LIBRARY } from './default.js';
import { LIBDRIVE_KIND, type LibdriveDoc, libdriveKind } from './model.js';

export type { CatalogEntry } from './entry.js';

/** Keys of a rendered object that a catalog entry may carry and that say nothing (saved answers). */
const RENDERED_KEYS = new Set(['jobs', 'mounted_on', 'owner', 'resource_uri', 'status', 'tags']);

const TEXT_KEYS = [
  'storage_type',
  'arch',
  'description',
  'distribution',
  'image_type',
  'install_notes',
  'os',
  'url',
  'version',
  'default_user',
] as const;

const ENTRY_KEYS = new Set<string>([
  'uuid',
  'name',
  'media',
  'size',
  'allow_multimount',
  'affinities',
  'category',
  'favourite',
  'paid',
  'licenses',
  'meta',
  'image',
  ...TEXT_KEYS,
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Where a library drive's image is on this machine (an entry's `image`): a driver with real
 * storage makes it the library drive's read-only volume (libvirt); the simulator has no use for it.
 */
export interface LibraryImage {
  uuid: string;
  path: string;
}

/** The catalog in force: `file`'s, or the built-in one. Throws `ConfigError` on a bad file. */
export function loadLibrary(file: string | undefined): LibdriveDoc[] {
  return loadCatalog(file).drives;
}

/** The catalog in force with the images its entries name (the built-in one names none). */
export function loadCatalog(file: string | undefined): {
  drives: LibdriveDoc[];
  images: LibraryImage[];
} {
  if (file === undefined) {
    return { drives: parseLibrary(DEFAULT_LIBRARY, 'the built-in library'), images: [] };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--library ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--library ${file}: not JSON: ${(e as Error).message}`);
  }
  const drives = parseLibrary(json, `--library ${file}`);
  return { drives, images: imagesOf(json, `--library ${file}`) };
}

/** The entries' `image` paths (absolute; checked at start by the driver that reads them). */
function imagesOf(json: unknown, source: string): LibraryImage[] {
  const entries = isPlainObject(json) && Array.isArray(json.objects) ? json.objects : json;
  const images: LibraryImage[] = [];
  for (const [i, entry] of (entries as Record<string, unknown>[]).entries()) {
    const path = entry.image;
    if (path === undefined || path === null) continue;
    if (typeof path !== 'string' || !isAbsolute(path)) {
      throw new ConfigError(`${source}: entry ${i}: "image" must be an absolute path or null`);
    }
    images.push({ uuid: String(entry.uuid).toLowerCase(), path });
  }
  return images;
}

/** Checks a catalog (a list of entries, or `{"objects": [...]}`) and reads it into documents. */
export function parseLibrary(json: unknown, source: string): LibdriveDoc[] {
  const entries = isPlainObject(json) && Array.isArray(json.objects) ? json.objects : json;
  if (!Array.isArray(entries)) {
    throw new ConfigError(`${source}: expected a list of library drives`);
  }
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    const doc = readEntry(entry, `${source}: entry ${i}`);
    if (seen.has(doc.uuid)) throw new ConfigError(`${source}: uuid ${doc.uuid} appears twice`);
    seen.add(doc.uuid);
    return doc;
  });
}

function readEntry(entry: unknown, where: string): LibdriveDoc {
  if (!isPlainObject(entry)) throw new ConfigError(`${where}: expected an object`);
  const fail = (key: string, message: string): never => {
    const name = typeof entry.name === 'string' ? ` (${entry.name})` : '';
    throw new ConfigError(`${where}${name}: "${key}" ${message}`);
  };
  for (const key of Object.keys(entry)) {
    if (!ENTRY_KEYS.has(key) && !RENDERED_KEYS.has(key)) fail(key, 'is not a library drive key');
  }
  const text = (key: (typeof TEXT_KEYS)[number]): string | null => {
    const value = entry[key];
    if (value === undefined || value === null) return null;
    return typeof value === 'string' ? value : fail(key, 'must be a string or null');
  };
  const flag = (key: string): boolean => {
    const value = entry[key];
    if (value === undefined || value === null) return false;
    return typeof value === 'boolean' ? value : fail(key, 'must be true or false');
  };
  const strings = (key: string): string[] => {
    const value = entry[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      return fail(key, 'must be a list of strings');
    }
    return value as string[];
  };
  const { uuid, name, media, size, licenses, meta } = entry;
  if (typeof uuid !== 'string' || !UUID.test(uuid)) fail('uuid', 'must be a uuid');
  if (typeof name !== 'string') fail('name', 'must be a string');
  if (media !== 'disk' && media !== 'cdrom') fail('media', 'must be "disk" or "cdrom"');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) {
    fail('size', 'must be a positive integer (bytes)');
  }
  if (licenses !== undefined && licenses !== null && !Array.isArray(licenses)) {
    fail('licenses', 'must be a list');
  }
  if (meta !== undefined && meta !== null) {
    try {
      checkMeta(meta, 'meta');
    } catch (e) {
      fail('meta', `is not valid meta: ${(e as Error).message}`);
    }
  }
  return {
    uuid: (uuid as string).toLowerCase(),
    name: name as string,
    media: media as LibdriveDoc['media'],
    size: size as number,
    storage_type: text('storage_type'),
    allow_multimount: flag('allow_multimount'),
    affinities: strings('affinities'),
    arch: text('arch'),
    category: strings('category'),
    description: text('description'),
    distribution: text('distribution'),
    favourite: flag('favourite'),
    image_type: text('image_type'),
    install_notes: text('install_notes'),
    os: text('os'),
    paid: flag('paid'),
    url: text('url'),
    version: text('version'),
    default_user: text('default_user'),
    licenses: (licenses as unknown[] | null | undefined) ?? [],
    meta: (meta as Record<string, string> | null | undefined) ?? {},
  };
}

export interface LibraryChanges {
  added: number;
  changed: number;
  removed: number;
}

/**
 * Makes the store's library the catalog's, in one transaction: new entries are added, changed
 * ones rewritten, entries no longer in the catalog removed (clones made from them stay: they are
 * the accounts' own drives). Running it again with the same catalog changes nothing. Tried again
 * when it fails, as another process starting on the same PostgreSQL database may be doing the same.
 */
export async function installLibrary(
  store: Store,
  docs: readonly LibdriveDoc[],
  attempts = 3,
): Promise<LibraryChanges> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.write((tx) => syncLibrary(tx, docs));
    } catch (e) {
      if (e instanceof ConfigError || attempt >= attempts) throw e;
    }
  }
}

/** `installLibrary` inside a transaction of the caller's (a seed file's, with its own entries). */
export async function syncLibrary(
  tx: WriteTx,
  docs: readonly LibdriveDoc[],
): Promise<LibraryChanges> {
  const changes: LibraryChanges = { added: 0, changed: 0, removed: 0 };
  const wanted = new Set(docs.map((doc) => doc.uuid));
  const page = await tx.list({
    kind: LIBDRIVE_KIND,
    owner: null,
    filters: [],
    limit: 0,
    offset: 0,
    view: 'detail',
  });
  const present = page.items.map((item) => (JSON.parse(item.toString()) as { uuid: string }).uuid);
  for (const record of await tx.getMany(present.filter((uuid) => !wanted.has(uuid)))) {
    await tx.remove(record);
    changes.removed++;
  }
  for (const doc of docs) {
    const record = await tx.get(doc.uuid);
    const next = toRecord(libdriveKind, doc);
    if (!record) {
      await tx.insert(next);
      changes.added++;
    } else if (record.kind !== LIBDRIVE_KIND) {
      throw new ConfigError(
        `library drive ${doc.uuid} (${doc.name}): the uuid is taken by an object of kind ${record.kind}`,
      );
    } else if (record.doc !== next.doc) {
      await tx.update(toUpdate(libdriveKind, record, doc));
      changes.changed++;
    }
  }
  return changes;
}
