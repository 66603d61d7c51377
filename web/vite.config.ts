import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * Builds the dashboard to `web/dist`, which the gateway serves at `/` (src/gateway/static.ts).
 * Hashed file names under `assets/` let the gateway cache them forever; `index.html` is revalidated.
 * `npm run dev:web` proxies the API to a Keel on 127.0.0.1:8787 (or KEEL_URL).
 */
const keel = process.env.KEEL_URL ?? 'http://127.0.0.1:8787';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/v1': keel, '/healthz': keel, '/readyz': keel, '/metrics': keel },
  },
});
