// The browser benchmark page: this library (built dist/) and the transformers.js pipeline in one
// page, same device, model and corpus.
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { onnxRuntimeAssets } from '../../src/vite-plugin.js';
import { modelsAndHeaders } from '../../tools/vite-test-server.js';

const ROOT = resolve(import.meta.dirname, '../..');

export default defineConfig({
  root: import.meta.dirname,
  plugins: [modelsAndHeaders(), onnxRuntimeAssets() as unknown as Plugin],
  worker: { format: 'es' },
  build: { outDir: join(ROOT, '.cache/bench-app'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  preview: { host: '127.0.0.1', port: 4174, strictPort: true },
  logLevel: 'warn',
});
