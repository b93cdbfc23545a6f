// The page Playwright drives for the browser runtime tests: it imports the built package (dist/)
// as an app would, serves the generated models under /models/, and sends COOP/COEP headers
// (so WASM threads work) unless the page was opened with ?coi=0.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { onnxRuntimeAssets } from '../../../src/vite-plugin.js';

const ROOT = resolve(import.meta.dirname, '../../..');

function modelsAndHeaders(): Plugin {
  const install = (server: { middlewares: { use: Function } }) => {
    server.middlewares.use((req: { url?: string; headers: Record<string, string | undefined> }, res: { setHeader(k: string, v: string): void }, next: () => void) => {
      const optOut = (req.url ?? '').includes('coi=0') || (req.headers.referer ?? '').includes('coi=0');
      if (!optOut) {
        res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
        res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
      }
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
      next();
    });
    server.middlewares.use('/models', (req: { url?: string }, res: { statusCode: number; setHeader(k: string, v: string): void; end(b?: Buffer): void }) => {
      const path = join(ROOT, 'models', decodeURIComponent((req.url ?? '').split('?')[0]!));
      try {
        if (!path.startsWith(join(ROOT, 'models')) || !statSync(path).isFile()) throw new Error('not a file');
        const body = readFileSync(path);
        res.setHeader('Content-Length', String(body.length));
        res.end(body);
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
  };
  return { name: 'test-models-and-headers', configureServer: (s) => { install(s); }, configurePreviewServer: (s) => { install(s); } };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [modelsAndHeaders(), onnxRuntimeAssets() as unknown as Plugin],
  worker: { format: 'es' },
  build: { outDir: join(ROOT, '.cache/browser-app'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  logLevel: 'warn',
});
