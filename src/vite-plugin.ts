// `bulk-embed/vite`: a Vite plugin that serves onnxruntime-web's .wasm and .mjs files from the
// app itself (under `ort/` by default, the library's default wasmPaths), in dev and in builds,
// so nothing is fetched from a CDN and the files are cached with the app (offline/PWA).
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The folder holding onnxruntime-web's runtime files (the copy transformers.js also imports). */
export function onnxRuntimeDistDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
}

// onnxruntime-web/webgpu (which this library and transformers.js import) runs on the asyncify build.
const RUNTIME_FILE = /^ort-wasm-simd-threaded\.asyncify\.(wasm|mjs)$/;

interface MiddlewareServer {
  middlewares: { use(path: string, fn: (req: { url?: string }, res: { setHeader(k: string, v: string): void; end(b: Buffer): void }, next: () => void) => void): void };
}

/** Minimal structural type of a Vite plugin, so this module needs no Vite types at run time. */
export interface OnnxRuntimeAssetsPlugin {
  name: string;
  configureServer(server: MiddlewareServer): void;
  configurePreviewServer(server: MiddlewareServer): void;
  generateBundle(this: { emitFile(file: { type: 'asset'; fileName: string; source: Uint8Array }): void }): void;
}

/** Serves (dev, preview) and emits (build) onnxruntime-web's files under `prefix`. */
export function onnxRuntimeAssets(prefix = 'ort/'): OnnxRuntimeAssetsPlugin {
  const dir = onnxRuntimeDistDir();
  const files = readdirSync(dir).filter((f) => RUNTIME_FILE.test(f));
  const serve = (server: MiddlewareServer): void => {
    server.middlewares.use(`/${prefix.replace(/^\/|\/$/g, '')}`, (req, res, next) => {
      const name = (req.url ?? '').replace(/^\//, '').split('?')[0]!;
      if (!files.includes(name)) return next();
      res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
      res.end(readFileSync(join(dir, name)));
    });
  };
  return {
    name: 'bulk-embed:onnxruntime-assets',
    configureServer: serve,
    configurePreviewServer: serve,
    generateBundle() {
      for (const f of files) this.emitFile({ type: 'asset', fileName: `${prefix.replace(/^\//, '')}${f}`, source: readFileSync(join(dir, f)) });
    },
  };
}
