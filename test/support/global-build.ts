/**
 * Vitest global setup: `npm run build` once, before any test file runs, for the tests that start
 * the built `sigmalite` as a child process (CLI, crash, clients, docs). One build per run, so no
 * test file ever reads a `dist/` that another one is rewriting.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export default async function setup(): Promise<void> {
  await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT });
}
