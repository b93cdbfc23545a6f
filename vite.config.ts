// The demo app (demo/): `npm run demo` builds it and serves it on http://127.0.0.1:5173 with
// COOP/COEP (so WASM threads work). A Workbox service worker precaches the app shell,
// onnxruntime-web's wasm and the default small model (fixture-tiny), so after one visit it loads
// and embeds offline; other models (the trained hub model included) are cached the first time they are used.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { onnxRuntimeAssets } from './src/vite-plugin.js';
import { modelsAndHeaders } from './tools/vite-test-server.js';
import { iconPng } from './tools/png-icon.js';

const ROOT = import.meta.dirname;
const MODELS = ['fixture-tiny', 'fixture-minilm'];
/** Precached on the first visit; the others are fetched and cached when first chosen. */
const PRECACHED_MODEL = 'fixture-tiny';
const ICONS = [
  { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any', png: () => iconPng(192, 'any') },
  { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any', png: () => iconPng(512, 'any') },
  { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable', png: () => iconPng(512, 'maskable') },
];

/** Emits the PNG app icons the manifest lists. */
function emitIcons(): Plugin {
  return {
    name: 'bulk-embed:emit-icons',
    apply: 'build',
    generateBundle() {
      for (const icon of ICONS) this.emitFile({ type: 'asset', fileName: icon.src, source: icon.png() });
    },
  };
}

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
    emitIcons(),
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
        icons: [{ src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }, ...ICONS.map(({ png: _, ...icon }) => icon)],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,mjs,wasm,json,onnx,md}'],
        globIgnores: MODELS.filter((m) => m !== PRECACHED_MODEL).map((m) => `models/${m}/**`),
        maximumFileSizeToCacheInBytes: 256 * 2 ** 20,
        navigateFallback: 'index.html',
        runtimeCaching: [
          // Hub models (huggingface.co, or the stand-in a test serves): cached on their first download, so they work
          // offline. First, since a stand-in may serve under /models/; anchored, as Workbox matches cross-origin URLs only from their start.
          { urlPattern: /^https?:\/\/[^/]+\/.*\/resolve\/[^/]+\/.+/, handler: 'CacheFirst', options: { cacheName: 'hub-models', cacheableResponse: { statuses: [200] } } },
          { urlPattern: /\/models\//, handler: 'CacheFirst', options: { cacheName: 'models' } },
        ],
      },
    }),
  ],
  worker: { format: 'es' },
  build: { outDir: resolve(ROOT, '.cache/demo'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  server: { host: '127.0.0.1', port: Number(process.env.DEMO_PORT ?? 5173) },
  preview: { host: '127.0.0.1', port: Number(process.env.DEMO_PORT ?? 5173), strictPort: true },
});
