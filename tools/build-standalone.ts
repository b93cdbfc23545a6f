// The self-contained browser build, dist/standalone/: the library's browser entry and its two
// workers bundled with their dependencies (comlink, apache-arrow, idb-keyval, the tokenizers and
// onnxruntime-web's JavaScript) as ES modules, for a plain <script type="module"> page with no
// bundler and no import map (import maps do not reach module workers). The entry finds its
// workers beside itself (`new URL('./worker.js', import.meta.url)`, kept as written), and
// onnxruntime-web's extern-wasm build fetches its two runtime files from `wasmPaths` (default
// 'ort/' beside the page), so the 26 MB .wasm is not copied here. Run after tsc (npm run build).
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
  // onnxruntime-web's build that loads ort-wasm-simd-threaded.asyncify.{mjs,wasm} from wasmPaths.
  conditions: ['onnxruntime-web-use-extern-wasm'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
});
