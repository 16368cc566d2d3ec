/**
 * The project's `.npmrc` keeps `npm start`'s stdout to sigmalite's lines (cli.test.ts) without
 * hiding npm's errors: an install that fails (here a dependency whose build fails, as
 * better-sqlite3's does on a machine with no prebuilt binary and no compiler) prints npm's error
 * and the build's own output on stderr, and exits non-zero. No registry is needed: the failing
 * dependency is a local one.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, ROOT } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'sigmalite-npmrc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      args,
      { cwd: dir, env: { ...childEnv(), npm_config_cache: join(dir, 'cache') }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("the project's .npmrc", () => {
  it('lets npm report a failed install, and keeps run banners off stdout', async () => {
    copyFileSync(join(ROOT, '.npmrc'), join(dir, '.npmrc'));
    mkdirSync(join(dir, 'native'));
    writeFileSync(
      join(dir, 'native', 'package.json'),
      JSON.stringify({
        name: 'native',
        version: '1.0.0',
        scripts: { install: 'echo "gyp ERR! build error: no C++ compiler" >&2; exit 1' },
      }),
    );
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'app',
        version: '1.0.0',
        scripts: { start: 'echo "sigmalite listening on http://127.0.0.1:1/api/2.0/"' },
        dependencies: { native: 'file:./native' },
      }),
    );
    const install = await npm(['install']);
    expect(install.code).not.toBe(0);
    expect(install.stderr).toContain('npm error');
    expect(install.stderr).toContain('gyp ERR! build error: no C++ compiler');

    const start = await npm(['start']);
    expect(start.code).toBe(0);
    expect(start.stdout).toBe('sigmalite listening on http://127.0.0.1:1/api/2.0/\n');
    expect(start.stderr).toContain('> app@1.0.0 start');
  }, 90_000);
});
