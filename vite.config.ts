// The demo app (demo/): `npm run demo` builds it and serves it on http://127.0.0.1:5173 with
// COOP/COEP (so WASM threads work). A Workbox service worker precaches the app shell,
// onnxruntime-web's wasm and the generated models, so after one visit it loads and embeds offline.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { onnxRuntimeAssets } from './src/vite-plugin.js';
import { modelsAndHeaders } from './tools/vite-test-server.js';

const ROOT = import.meta.dirname;
const MODELS = ['fixture-tiny', 'fixture-minilm'];

/** Emits the generated models into the build under models/, so they are deployed and precached. */
function emitModels(): Plugin {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
  return {
    name: 'bulk-embed:emit-models',
    apply: 'build',
    generateBundle() {
      for (const model of MODELS) {
        for (const file of walk(join(ROOT, 'models', model))) {
          const name = relative(join(ROOT, 'models'), file);
          if (name.includes('.generated')) continue;
          this.emitFile({ type: 'asset', fileName: `models/${name}`, source: readFileSync(file) });
        }
      }
    },
  };
}

export default defineConfig({
  root: resolve(ROOT, 'demo'),
  plugins: [
    modelsAndHeaders(),
    onnxRuntimeAssets() as unknown as Plugin,
    emitModels(),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: null,
      includeAssets: ['icon.svg'],
      manifest: {
        name: 'bulk-embed demo: embed and search your documents',
        short_name: 'bulk-embed',
        description: 'Embed your own documents on your own device, store them, search them, offline.',
        start_url: '.',
        display: 'standalone',
        background_color: '#fafafa',
        theme_color: '#1f4e79',
        icons: [{ src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,mjs,wasm,json,onnx,md}'],
        globIgnores: ['models/fixture-minilm/onnx/model_fp16.onnx'],
        maximumFileSizeToCacheInBytes: 256 * 2 ** 20,
        navigateFallback: 'index.html',
        runtimeCaching: [{ urlPattern: /\/models\//, handler: 'CacheFirst', options: { cacheName: 'models' } }],
      },
    }),
  ],
  worker: { format: 'es' },
  build: { outDir: resolve(ROOT, '.cache/demo'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 5173, strictPort: true },
});
