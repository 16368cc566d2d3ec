/**
 * The web console's build: `npm run build` writes it to `dist/console/`, which sigmalite serves
 * at `/console/` (src/webconsole/static.ts). Everything is bundled: the page makes no request to
 * any other origin.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    // noVNC uses top-level await.
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 2048,
  },
  logLevel: 'warn',
});
