// The package as a browser-app developer meets it: a fresh Vite project that installs only the
// packed tarball, onnxruntime-web (its optional peer, at the version this repository develops
// with) and Vite, configured exactly as README.md says (its snippets are copied in), built and
// served by `vite preview` and by the `vite` dev server, cross-origin isolated and not.
// In Chromium it must embed on WASM and WebGPU with the Node engine's vectors; the build must
// hold one copy of each runtime file; without the plugin, and with a worker that cannot start,
// createEmbedder must reject in bounded time with an error that says what to do.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, test, type Page } from '@playwright/test';
import { copyModel, folderBytes, freshProject, listFiles, packTarball, readmeSnippet, removeProject, ROOT, versionOf, writeFiles } from '../../tools/consumer-project.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { minRowCosine } from '../helpers/models.js';
import { nodeReference, openApp as openAppAt } from '../helpers/consumer-app.js';

test.describe.configure({ mode: 'serial' });

const MODEL_URL = '/models/fixture-tiny';
const texts = mixedCorpus(100, 9090);
let app = '';
const servers: ChildProcess[] = [];
const BASE = { preview: 'http://127.0.0.1:4301', previewIsolated: 'http://127.0.0.1:4302', dev: 'http://127.0.0.1:4303', devIsolated: 'http://127.0.0.1:4304', previewNoPlugin: 'http://127.0.0.1:4305', devUserHeaders: 'http://127.0.0.1:4306' } as const;

const isolatedConfig = () => readmeSnippet('vite-config').replace('onnxRuntimeAssets()', 'onnxRuntimeAssets({ crossOriginIsolation: true })');

async function waitFor(url: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not come up in ${ms} ms`);
}

function serve(args: string[], base: string): Promise<void> {
  const port = new URL(base).port;
  const child = spawn(join(app, 'node_modules/.bin/vite'), [...args, '--host', '127.0.0.1', '--port', port, '--strictPort'], { cwd: app, stdio: 'ignore' });
  servers.push(child);
  return waitFor(`${base}/`);
}

test.beforeAll(async () => {
  test.setTimeout(600_000);
  const tarball = packTarball();
  app = freshProject('vite', [tarball, versionOf('onnxruntime-web'), versionOf('vite')], { type: 'module' });
  copyModel('fixture-tiny', join(app, 'public/models/fixture-tiny'));
  writeFiles(app, {
    'vite.config.ts': readmeSnippet('vite-config'),
    'vite.isolated.config.ts': isolatedConfig(),
    // COOP/COEP set the way a user sets headers in Vite, with the plugin left at its defaults.
    'vite.user-headers.config.ts': readmeSnippet('vite-config').replace(
      'plugins: [onnxRuntimeAssets()],',
      "plugins: [onnxRuntimeAssets()],\n  server: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },",
    ),
    'vite.no-plugin.config.ts': "import { defineConfig } from 'vite';\nexport default defineConfig({ worker: { format: 'es' } });\n",
    'index.html': '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>loading</title></head><body>' +
      // The harness first: Vite joins both into one chunk, and the snippet's await may reject (no plugin).
      '<script type="module" src="/src/harness.ts"></script><script type="module" src="/src/main.ts"></script></body></html>',
    'src/main.ts': readmeSnippet('browser').replace("'Xenova/all-MiniLM-L6-v2'", `'${MODEL_URL}'`),
    // What the tests drive: the same public API, exposed to page.evaluate.
    'src/harness.ts': "import { createEmbedder } from 'bulk-embed';\n" +
      "const startOwnWorker = () => new Worker(new URL('./own-worker.ts', import.meta.url), { type: 'module' });\n" +
      "Object.assign(globalThis, { createEmbedder, startOwnWorker });\ndocument.title = 'ready';\n",
    // The app's own module worker calling createEmbedder, with no wasmPaths: relative URLs resolve against the site's root.
    'src/own-worker.ts': "import { createEmbedder } from 'bulk-embed';\n" +
      'self.onmessage = async (event: MessageEvent) => {\n' +
      '  try {\n' +
      "    const embedder = await createEmbedder({ model: event.data.model, device: 'wasm' });\n" +
      '    const { dim, data } = await embedder.embed(event.data.texts);\n' +
      '    await embedder.dispose();\n' +
      '    postMessage({ dim, data });\n' +
      '  } catch (e) {\n' +
      '    postMessage({ error: `${(e as Error).name}: ${(e as Error).message}` });\n' +
      '  }\n' +
      '};\n',
  });
  const vite = join(app, 'node_modules/.bin/vite');
  const build = (args: string[]) => execFileSync(vite, ['build', '--logLevel', 'error', ...args], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
  build([]);
  build(['-c', 'vite.isolated.config.ts', '--outDir', 'dist-isolated']);
  build(['-c', 'vite.no-plugin.config.ts', '--outDir', 'dist-no-plugin']);
  await Promise.all([
    serve(['preview'], BASE.preview),
    serve(['preview', '-c', 'vite.isolated.config.ts', '--outDir', 'dist-isolated'], BASE.previewIsolated),
    serve(['preview', '-c', 'vite.no-plugin.config.ts', '--outDir', 'dist-no-plugin'], BASE.previewNoPlugin),
    serve([], BASE.dev),
    serve(['-c', 'vite.isolated.config.ts'], BASE.devIsolated),
    serve(['-c', 'vite.user-headers.config.ts'], BASE.devUserHeaders),
  ]);
});

test.afterAll(() => {
  for (const s of servers) s.kill();
  if (app) removeProject(app);
});

const nodeVectors = nodeReference(texts);
const openApp = (page: Page, base: string) => openAppAt(page, base, 120_000);


test('the built app holds one copy of each onnxruntime-web file, and small bundles', () => {
  const files = listFiles(join(app, 'dist'));
  expect(files.filter((f) => f.endsWith('.wasm'))).toEqual(['ort/ort-wasm-simd-threaded.asyncify.wasm']);
  expect(files.filter((f) => /ort-wasm.*\.mjs$/.test(f))).toEqual(['ort/ort-wasm-simd-threaded.asyncify.mjs']);
  const size = (pattern: RegExp) => {
    const name = files.find((f) => pattern.test(f))!;
    const bytes = readFileSync(join(app, 'dist', name));
    return { name, raw: statSync(join(app, 'dist', name)).size, gzip: gzipSync(bytes).length };
  };
  const main = size(/^assets\/index-.*\.js$/);
  const worker = size(/^assets\/worker-.*\.js$/);
  console.log(`bundles: main ${main.name} ${(main.raw / 1024).toFixed(1)} kB (${(main.gzip / 1024).toFixed(1)} kB gzip); worker ${worker.name} ${(worker.raw / 1024).toFixed(1)} kB (${(worker.gzip / 1024).toFixed(1)} kB gzip)`);
  expect(worker.raw).toBeLessThan(721_000 / 3);
});

const cases = [
  ['vite preview', BASE.preview, 'wasm', false],
  ['vite preview', BASE.preview, 'webgpu', false],
  ['vite preview, crossOriginIsolation: true', BASE.previewIsolated, 'wasm', true],
  ['vite dev', BASE.dev, 'wasm', false],
  ['vite dev', BASE.dev, 'webgpu', false],
  ['vite dev, crossOriginIsolation: true', BASE.devIsolated, 'wasm', true],
  ['vite dev, COOP/COEP in server.headers', BASE.devUserHeaders, 'wasm', true],
] as const;

for (const [server, base, device, isolated] of cases) {
  // SwiftShader runs WebGPU on the CPU (about 2 ms a token for fixture-tiny): 20 texts there, enough
  // to go to the app's tokenizer worker (calls of 16 texts or more do; smaller ones are tokenized in
  // place). runtime.spec.ts checks WebGPU's vectors on 30 texts; this checks the app's wiring.
  const count = device === 'webgpu' ? 20 : 100;
  test(`${server}: the README snippet runs, and ${count} texts on ${device} equal the Node vectors`, async ({ page }) => {
    const lines = await openApp(page, base);
    await expect.poll(() => lines.find((l) => /^2 64 /.test(l)) ?? lines.join('\n'), { timeout: 60_000 }).toMatch(/^2 64 /);
    const got = await page.evaluate(async ({ texts, device, model }) => {
      const load: { loadedBytes: number; totalBytes: number }[] = [];
      const e = await (globalThis as any).createEmbedder({ model, device, onProgress: (p: any) => p.phase === 'load' && load.push(p) });
      const r = await e.embed(texts);
      const out = { dim: r.dim, data: Array.from(r.data as Float32Array), workers: e.workers, isolated: crossOriginIsolated, load };
      await e.dispose();
      return out;
    }, { texts: texts.slice(0, count), device, model: MODEL_URL });
    expect(got.isolated).toBe(isolated);
    expect(got.workers[0].device).toBe(device);
    const want = await nodeVectors();
    expect(got.dim).toBe(want.dim);
    expect(got.data.length).toBe(count * want.dim);
    expect(minRowCosine(got.data, want.data.subarray(0, count * want.dim), want.dim)).toBeGreaterThanOrEqual(0.9999);
    // Load progress counts real bytes: at least the weights file, never more loaded than in all.
    const last = got.load.at(-1)!;
    expect(last.loadedBytes).toBeGreaterThanOrEqual(statSync(join(ROOT, 'models/fixture-tiny/onnx/model.onnx')).size);
    expect(last.totalBytes).toBeGreaterThanOrEqual(last.loadedBytes);
    // The model's bytes count once, however many workers fetch them (not summed over workers).
    expect(last.totalBytes).toBeLessThanOrEqual(folderBytes(join(ROOT, 'models/fixture-tiny')));
    expect(lines.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
}

for (const [server, base] of [['vite preview', BASE.preview], ['vite dev', BASE.dev]] as const) {
  test(`${server}: the app's own module worker embeds with no wasmPaths set, with the Node vectors`, async ({ page }) => {
    await openApp(page, base);
    const got = await page.evaluate(({ texts, model }) => new Promise<{ dim?: number; data?: number[]; error?: string }>((done) => {
      const worker: Worker = (globalThis as any).startOwnWorker();
      worker.onmessage = (e) => done(e.data.error ? e.data : { dim: e.data.dim, data: Array.from(e.data.data as Float32Array) });
      worker.onerror = (e) => done({ error: `worker error: ${e.message}` });
      worker.postMessage({ texts, model });
    }), { texts: texts.slice(0, 50), model: MODEL_URL });
    expect(got.error).toBeUndefined();
    const want = await nodeVectors();
    expect(got.dim).toBe(want.dim);
    expect(got.data!.length).toBe(50 * want.dim);
    expect(minRowCosine(got.data!, want.data.subarray(0, 50 * want.dim), want.dim)).toBeGreaterThanOrEqual(0.9999);
  });
}

test('without the plugin, createEmbedder rejects with an error that names bulk-embed/vite and wasmPaths', async ({ page }) => {
  await openApp(page, BASE.previewNoPlugin);
  const started = Date.now();
  const error = await page.evaluate(async (model) => {
    try {
      await (globalThis as any).createEmbedder({ model, device: 'wasm' });
      return null;
    } catch (e) {
      return { name: (e as Error).name, message: (e as Error).message };
    }
  }, MODEL_URL);
  expect(Date.now() - started).toBeLessThan(30_000);
  expect(error?.name).toBe('RuntimeAssetsError');
  expect(error?.message).toMatch(/ort-wasm-simd-threaded\.asyncify\.mjs .*bulk-embed\/vite.*wasmPaths/);
});

test('a worker whose script is blocked, or that never answers, rejects createEmbedder in bounded time', async ({ page }) => {
  await openApp(page, BASE.preview);
  const outcome = await page.evaluate(async (model) => {
    const attempt = async (options: object) => {
      const t0 = performance.now();
      try {
        await (globalThis as any).createEmbedder({ model, device: 'wasm', workers: 1, ...options });
        return { ms: performance.now() - t0, error: null };
      } catch (e) {
        return { ms: performance.now() - t0, error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    };
    const blocked = await attempt({ workerFactory: (name: string) => new Worker('/no-such-dir/worker.js', { type: 'module', name }) });
    const silent = URL.createObjectURL(new Blob(['// loads, then never answers'], { type: 'text/javascript' }));
    const mute = await attempt({ loadTimeoutMs: 3000, workerFactory: (name: string) => new Worker(silent, { type: 'module', name }) });
    return { blocked, mute };
  }, MODEL_URL);
  expect(outcome.blocked.error).toMatch(/^WorkerStartError: worker bulk-embed-wasm-0 failed to start: its script \(bulk-embed's worker\.js, .*\) did not load/);
  // The fix is said for every bundler, not Vite alone.
  expect(outcome.blocked.error).toMatch(/bulk-embed\/vite.*esbuild or Rollup.*'bulk-embed\/worker' an entry named worker.*webpack and Parcel.*workerFactory/);
  expect(outcome.blocked.ms).toBeLessThan(10_000);
  expect(outcome.mute.error).toMatch(/^WorkerStartError: .*no progress for 3000 ms/);
  expect(outcome.mute.ms).toBeLessThan(10_000);
});
