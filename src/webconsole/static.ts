/**
 * The web console's static build (`dist/console/`, made by `npm run build` with Vite), read into
 * memory once at start and served under `/console/`. Only files of the build can be answered (a
 * path is looked up in a map, never joined onto the file system), so no request reaches any other
 * file. Vite names assets by their content's hash: those are cached for good, the page itself is
 * revalidated (ETag) every time.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export interface StaticFile {
  body: Buffer;
  type: string;
  /** Named by its content's hash: never changes. */
  immutable: boolean;
  /** A strong ETag of the body (computed on first use). */
  readonly etag: string;
  /** The body gzipped, when that is worth it (computed on first use). */
  readonly gzipped: Buffer | undefined;
}

/**
 * A file of the build. Its ETag and gzipped body are made when first asked for, not when the app
 * starts: most apps (tests, above all) never serve the page.
 */
class BuildFile implements StaticFile {
  private etagValue: string | undefined;
  private gzippedValue: Buffer | null | undefined;
  constructor(
    readonly body: Buffer,
    readonly type: string,
    readonly immutable: boolean,
    private readonly compressible: boolean,
  ) {}
  get etag(): string {
    this.etagValue ??= `"${createHash('sha256').update(this.body).digest('base64url').slice(0, 27)}"`;
    return this.etagValue;
  }
  get gzipped(): Buffer | undefined {
    if (this.gzippedValue === undefined) {
      this.gzippedValue = this.compressible && this.body.length > 1024 ? gzipSync(this.body) : null;
    }
    return this.gzippedValue ?? undefined;
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt']);

/** Where `npm run build` puts the console: `dist/console/` of this package. */
export function defaultConsoleDir(): string {
  // src/webconsole/ and dist/webconsole/ are both two levels below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'console');
}

/** Every file of the build by its URL path below `/console/` (`index.html`, `assets/x.js`). */
export function loadConsoleFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        walk(path);
        continue;
      }
      const ext = extname(entry.name);
      const type = TYPES[ext];
      // Source maps and anything unknown stay unserved.
      if (!type || !entry.isFile()) continue;
      const urlPath = relative(dir, path).split(sep).join('/');
      files.set(
        urlPath,
        new BuildFile(
          readFileSync(path),
          type,
          urlPath.startsWith('assets/'),
          COMPRESSIBLE.has(ext),
        ),
      );
    }
  };
  walk(dir);
  return files;
}

/**
 * The page's headers: it loads only its own scripts and styles and talks only to its own origin
 * (websockets included), and no other site may frame it.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
