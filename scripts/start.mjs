// `npm start -- [flags]`: builds when the sources are newer than the build (the server's with
// tsc, the web console's with Vite), then runs `sigmalite serve`. The builds' output goes to
// stderr: stdout belongs to the CLI contract.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'cli', 'main.js');
const buildInfo = join(root, 'dist', '.tsbuildinfo');

function newest(dir) {
  let latest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, name.name);
    latest = Math.max(latest, name.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

if (
  !existsSync(entry) ||
  !existsSync(buildInfo) ||
  newest(join(root, 'src')) > statSync(buildInfo).mtimeMs
) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
    stdio: ['ignore', 2, 2],
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// The web console (console/ -> dist/console/, served at /console/).
const consolePage = join(root, 'dist', 'console', 'index.html');
const consoleSources = Math.max(
  newest(join(root, 'console', 'src')),
  statSync(join(root, 'console', 'index.html')).mtimeMs,
  statSync(join(root, 'console', 'vite.config.ts')).mtimeMs,
);
if (!existsSync(consolePage) || consoleSources > statSync(consolePage).mtimeMs) {
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  const build = spawnSync(
    process.execPath,
    [vite, 'build', '--config', join(root, 'console', 'vite.config.ts')],
    { stdio: ['ignore', 2, 2] },
  );
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const { main } = await import(entry);
await main(['serve', ...process.argv.slice(2)]);
