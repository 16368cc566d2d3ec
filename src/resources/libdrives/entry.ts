/** One entry of a catalog file: the writable keys of a `/libdrives/` object. */
export interface CatalogEntry {
  uuid: string;
  name: string;
  media: 'disk' | 'cdrom';
  size: number;
  storage_type?: string | null;
  allow_multimount?: boolean;
  affinities?: string[];
  arch?: string | null;
  category?: string[];
  description?: string | null;
  distribution?: string | null;
  favourite?: boolean;
  image_type?: string | null;
  install_notes?: string | null;
  os?: string | null;
  paid?: boolean;
  url?: string | null;
  version?: string | null;
  default_user?: string | null;
  licenses?: unknown[];
  meta?: Record<string, string>;
  /** The image on this machine (absolute path): the library drive's volume on libvirt. */
  image?: string | null;
}
