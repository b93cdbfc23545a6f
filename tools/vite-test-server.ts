// A Vite plugin for the pages Playwright drives (tests, browser benchmark): serves the generated
// models under /models/ and sends COOP/COEP headers, so WASM threads work, unless the page was
// opened with ?coi=0.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Plugin } from 'vite';

const ROOT = resolve(import.meta.dirname, '..');

export function modelsAndHeaders(): Plugin {
  const install = (server: { middlewares: { use(...args: unknown[]): unknown } }) => {
    server.middlewares.use((
      req: { url?: string; headers: Record<string, string | undefined> },
      res: { setHeader(k: string, v: string): void },
      next: () => void,
    ) => {
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
  return { name: 'bulk-embed:test-models-and-headers', configureServer: (s) => { install(s); }, configurePreviewServer: (s) => { install(s); } };
}

