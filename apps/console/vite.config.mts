/**
 * The web console: React 19 compiled by Vite 8's own oxc transform (automatic JSX runtime, no
 * React plugin), built to dist/console/ and served by the api at /console/.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  resolve: { alias: { '@natplane/sdk': here('../../libs/sdk/src/index.ts') } },
  build: { outDir: here('../../dist/console'), emptyOutDir: true, sourcemap: true },
  // `vite` (dev) against an api on :8080: the console calls its own origin, proxied
  server: { proxy: { '/v1': 'http://127.0.0.1:8080' } },
});
