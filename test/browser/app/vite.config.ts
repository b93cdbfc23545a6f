// The page Playwright drives for the browser runtime tests: it imports the built package (dist/)
// as an app would, serves the generated models under /models/, and sends COOP/COEP headers
// (so WASM threads work) unless the page was opened with ?coi=0.
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { onnxRuntimeAssets } from '../../../src/vite-plugin.js';
import { modelsAndHeaders } from '../../../tools/vite-test-server.js';

const ROOT = resolve(import.meta.dirname, '../../..');

export default defineConfig({
  root: import.meta.dirname,
  plugins: [modelsAndHeaders(), onnxRuntimeAssets() as unknown as Plugin],
  worker: { format: 'es' },
  build: { outDir: join(ROOT, '.cache/browser-app'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
  preview: { host: '127.0.0.1', port: Number(process.env.APP_PORT ?? 4173), strictPort: true },
  logLevel: 'warn',
});
