// `bulk-embed/vite`: the one piece of Vite configuration a browser app needs. It serves (dev,
// preview) and emits (build) onnxruntime-web's runtime files under `ort/` (the library's default
// wasmPaths), once, so nothing comes from a CDN and the files are cached with the app
// (offline/PWA); makes Vite resolve onnxruntime-web to its build that loads those files instead
// of embedding a second copy; builds the library's workers as ES modules, in dev too; and, on
// request, makes the pages cross-origin isolated so WASM runs multi-threaded.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MissingDependencyError } from './base/errors.js';
import { RUNTIME_FILES } from './browser/runtime-files.js';

/**
 * The folder holding onnxruntime-web's runtime files. onnxruntime-web is an optional peer (Node
 * users never load it), so a browser app that lacks it is told the install command here.
 */
export function onnxRuntimeDistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  } catch (cause) {
    throw new MissingDependencyError('onnxruntime-web', "bulk-embed in the browser (its workers run the model with it; 'bulk-embed/vite')", { cause });
  }
}

/**
 * The export condition under which onnxruntime-web resolves to its build that fetches the .mjs
 * and .wasm from wasmPaths; its default build embeds the .mjs and makes bundlers copy the .wasm.
 */
const EXTERN_WASM_CONDITION = 'onnxruntime-web-use-extern-wasm';
const FALLBACK_CLIENT_CONDITIONS = ['module', 'browser', 'development|production'];

/** Headers that make a page cross-origin isolated (SharedArrayBuffer, so WASM threads). */
export const CROSS_ORIGIN_ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Options of the plugin. */
export interface OnnxRuntimeAssetsOptions {
  /** URL folder for onnxruntime-web's files, relative to the app's base (default 'ort/'). */
  prefix?: string;
  /**
   * Send COOP/COEP headers on every response of the dev and preview servers (onnxruntime-web's
   * files included), so the page is cross-origin isolated and WASM runs multi-threaded. A static
   * host serving the build must send the same headers (CROSS_ORIGIN_ISOLATION_HEADERS).
   */
  crossOriginIsolation?: boolean;
}

type Headers = Record<string, string | number | readonly string[]> | undefined;
type Middleware = (
  req: { url?: string },
  res: { setHeader(k: string, v: string | number | readonly string[]): void; end(b?: Buffer): void },
  next: () => void,
) => void;

interface MiddlewareServer {
  middlewares: { use(fn: Middleware): void; use(path: string, fn: Middleware): void };
  config: { server?: { headers?: Headers }; preview?: { headers?: Headers } };
}

interface UserConfigLike {
  resolve?: { conditions?: string[] };
}

/** Minimal structural type of a Vite plugin, so this module needs no Vite types at run time. */
export interface OnnxRuntimeAssetsPlugin {
  name: string;
  config(user: UserConfigLike): Promise<Record<string, unknown>>;
  configureServer(server: MiddlewareServer): void;
  configurePreviewServer(server: MiddlewareServer): void;
  generateBundle(this: { emitFile(file: { type: 'asset'; fileName: string; source: Uint8Array }): void }): void;
}

async function clientConditions(): Promise<string[]> {
  try {
    const vite = (await import('vite')) as unknown as { defaultClientConditions?: string[] };
    return vite.defaultClientConditions ?? FALLBACK_CLIENT_CONDITIONS;
  } catch {
    return FALLBACK_CLIENT_CONDITIONS;
  }
}

/** The Vite plugin: `plugins: [onnxRuntimeAssets()]`, or `onnxRuntimeAssets({ crossOriginIsolation: true })`. */
export function onnxRuntimeAssets(options: OnnxRuntimeAssetsOptions = {}): OnnxRuntimeAssetsPlugin {
  const prefix = (options.prefix ?? 'ort/').replace(/^\/+|\/+$/g, '');
  const dir = onnxRuntimeDistDir();
  const available = new Set(readdirSync(dir));
  const files = RUNTIME_FILES.filter((f) => available.has(f));
  const isolation = options.crossOriginIsolation ? CROSS_ORIGIN_ISOLATION_HEADERS : {};

  const install = (server: MiddlewareServer, configured: Headers): void => {
    // Headers of the user's config and of isolation on every response, this plugin's included:
    // Vite applies server.headers only to the responses its own middlewares send.
    const headers = { ...configured, ...isolation };
    if (Object.keys(isolation).length) {
      server.middlewares.use((_req, res, next) => {
        for (const [k, v] of Object.entries(isolation)) res.setHeader(k, v);
        next();
      });
    }
    server.middlewares.use(`/${prefix}`, (req, res, next) => {
      const name = (req.url ?? '').replace(/^\//, '').split('?')[0]!;
      if (!(files as readonly string[]).includes(name)) return next();
      for (const [k, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(k, v);
      res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
      res.setHeader('Cache-Control', 'no-cache');
      res.end(readFileSync(join(dir, name)));
    });
  };

  return {
    name: 'bulk-embed:onnxruntime-assets',
    async config(user) {
      return {
        resolve: { conditions: [...(user.resolve?.conditions ?? (await clientConditions())), EXTERN_WASM_CONDITION] },
        worker: { format: 'es' },
        optimizeDeps: {
          // The library starts its workers with new URL('./worker.js', import.meta.url), which
          // pre-bundling would break; its own dependencies are pre-bundled (CommonJS made ESM).
          exclude: ['bulk-embed'],
          include: ['comlink', 'apache-arrow', 'idb-keyval', '@huggingface/tokenizers', 'onnxruntime-web/webgpu'].map((d) => `bulk-embed > ${d}`),
        },
        ...(options.crossOriginIsolation ? { server: { headers: { ...isolation } }, preview: { headers: { ...isolation } } } : {}),
      };
    },
    configureServer: (server) => install(server, server.config.server?.headers),
    configurePreviewServer: (server) => install(server, server.config.preview?.headers),
    generateBundle() {
      for (const f of files) this.emitFile({ type: 'asset', fileName: `${prefix}/${f}`, source: readFileSync(join(dir, f)) });
    },
  };
}
