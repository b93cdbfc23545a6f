// The self-contained browser build, dist/standalone/: the library's browser entry and its two
// workers bundled with their dependencies (comlink, apache-arrow, idb-keyval, the tokenizers) as
// ES modules, for a plain <script type="module"> page with no bundler and no import map (import
// maps do not reach module workers). The entry finds its workers beside itself (`new
// URL('./worker.js', import.meta.url)`, kept as written). onnxruntime-web, an optional peer
// whose JavaScript must match the .wasm the site serves, is not bundled: the worker imports
// `./ort.webgpu.min.mjs` beside itself, which the user copies from the onnxruntime-web they
// installed, with the two runtime files it fetches from `wasmPaths` (README, "No bundler").
// Run after tsc (npm run build).
import { build } from 'esbuild';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');

await build({
  entryPoints: {
    'bulk-embed': join(dist, 'index.js'),
    worker: join(dist, 'browser/worker.js'),
    'opfs-worker': join(dist, 'browser/opfs-worker.js'),
  },
  outdir: join(dist, 'standalone'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  plugins: [{
    name: 'onnxruntime-web-beside',
    setup(b) {
      // onnxruntime-web's build that loads ort-wasm-simd-threaded.asyncify.{mjs,wasm} from wasmPaths.
      b.onResolve({ filter: /^onnxruntime-web(\/webgpu)?$/ }, () => ({ path: './ort.webgpu.min.mjs', external: true }));
    },
  }],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
});
