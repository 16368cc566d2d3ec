/**
 * The data directory holds password hashes, session hashes and API token hashes: a new one is
 * made private to the process's user (0700) and the database file 0600 (SQLite gives its WAL and
 * shared-memory files the same mode). An existing directory is never changed or refused, only
 * warned about when others can read or write it (0711, which lets QEMU's user reach a libvirt
 * volume pool inside, is fine).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/** Makes `dir` if it is missing; returns warnings about an existing one that is too open. */
export function prepareDataDir(dir: string, dbFile: string): string[] {
  const warnings: string[] = [];
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The mode passed to mkdir is cut by the umask; never widened, but said once for all.
    chmodSync(dir, 0o700);
  } else {
    const mode = statSync(dir).mode & 0o777;
    if ((mode & 0o066) !== 0) {
      warnings.push(
        `data directory ${dir} is readable or writable by other users (mode ${mode.toString(8)}); it holds password and token hashes: chmod 700 ${dir}`,
      );
    }
  }
  if (!existsSync(dbFile)) {
    // An empty file is an empty SQLite database; made here, it has the mode we choose.
    closeSync(openSync(dbFile, 'a', 0o600));
    chmodSync(dbFile, 0o600);
  }
  return warnings;
}
