// The package as a web developer without Vite meets it: one fresh project installs the packed
// tarball with esbuild, Rollup and webpack 5 (the versions this repository develops with, so the
// install comes from npm's cache), another with Parcel 2; each bundler builds the README's browser snippet with the
// README's config for it into a folder of its own, the README's copy step puts onnxruntime-web's
// runtime files beside it, and a plain static page uses the prebuilt `dist/standalone/` build
// with no bundler. Each is served by a plain static file server (no plugin, no dev server) and
// must embed 50 texts on WASM in headless Chromium with the Node engine's vectors.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { symlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { freshProject, listFiles, packTarball, readmeSnippet, removeProject, ROOT, versionOf, writeFiles } from '../../tools/consumer-project.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { minRowCosine } from '../helpers/models.js';
import { nodeReference, openApp as openAppAt } from '../helpers/consumer-app.js';

test.describe.configure({ mode: 'serial' });

const MODEL_URL = '/models/fixture-tiny';
const README_MODEL = "'Xenova/all-MiniLM-L6-v2'";
const texts = mixedCorpus(50, 2525);
let app = '';
let parcel = '';
// Both pinned as this repository's devDependencies too (onnxruntime-web 1.30.0 under an alias), so
// npm's cache holds their whole trees after `npm ci` and these installs need no network.
const PARCEL = 'parcel@2.16.4';
// onnxruntime-web is an optional peer (^1.30.0): these apps get 1.30.0, what `npm install
// onnxruntime-web` gives today (the Vite test uses the 1.31 dev build this repository develops with).
const ORT_WEB = 'onnxruntime-web@1.30.0';
const servers: Server[] = [];
/** Each app's output folder, and the URL it is served at. */
const sites: Record<string, { dir: string; url: string }> = {};

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json',
};

/** A plain static file server over `dir`, with the generated models under /models/; resolves with its URL. */
async function serveStatic(dir: string): Promise<string> {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    const file = path.startsWith('/models/') ? join(ROOT, path) : join(dir, path.endsWith('/') ? `${path}index.html` : path);
    try {
      const body = await readFile(file);
      res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
      res.end(body);
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Runs a README shell snippet in `cwd`, with `dist` standing for the bundler's output folder. */
function sh(snippet: string, cwd: string): void {
  execFileSync('bash', ['-euo', 'pipefail', '-c', snippet], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The page a bundled app is served with. */
const PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>loading</title></head><body><script type="module" src="main.js"></script></body></html>';

// What the tests drive (the public API on globalThis), then the README snippet as the app's code.
const HARNESS = "import { createEmbedder } from 'bulk-embed';\nObject.assign(globalThis, { createEmbedder });\ndocument.title = 'ready';\n";
const mainScript = () => `import './harness.js';\n${readmeSnippet('browser').replace(README_MODEL, `'${MODEL_URL}'`)}`;

/** Sets up `<bundler>/` in the project: the app's two source files, the bundler's config, the build, the runtime files. */
function buildApp(bundler: string, config: Record<string, string>, command: string[]): string {
  const dir = join(app, bundler);
  writeFiles(dir, { 'src/main.js': mainScript(), 'src/harness.js': HARNESS, 'package.json': '{ "type": "module" }\n', ...config });
  // One install shared by the apps: each folder sees it as its own node_modules.
  symlinkSync(join(app, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(command[0]!, command.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  sh(readmeSnippet('copy-ort'), dir);
  writeFiles(join(dir, 'dist'), { 'index.html': PAGE });
  return join(dir, 'dist');
}

test.beforeAll(async () => {
  test.setTimeout(600_000);
  const started = Date.now();
  const tarball = packTarball();
  app = freshProject('bundlers', [tarball, ORT_WEB, versionOf('esbuild'), versionOf('rollup'), versionOf('@rollup/plugin-node-resolve'), versionOf('webpack'), versionOf('webpack-cli')], { type: 'module' });
  const installed = Date.now();
  const bin = (name: string) => join('node_modules/.bin', name);
  const dirs: Record<string, string> = {};
  dirs.esbuild = buildApp('esbuild', { 'build.mjs': readmeSnippet('esbuild-build') }, ['node', 'build.mjs']);
  dirs.rollup = buildApp('rollup', { 'rollup.config.mjs': readmeSnippet('rollup-config') }, [bin('rollup'), '-c', '--silent']);
  dirs.webpack = buildApp('webpack', { 'webpack.config.mjs': readmeSnippet('webpack-config') }, [bin('webpack'), '--no-stats']);
  // No bundler: the README's copy lines, then its page (pointed at the generated model).
  const site = join(app, 'site');
  sh(readmeSnippet('standalone-copy'), app);
  writeFiles(site, { 'index.html': readmeSnippet('standalone-page').replace(README_MODEL, `'${MODEL_URL}'`) + `<script type="module">\n${HARNESS.replace("'bulk-embed'", "'./bulk-embed/bulk-embed.js'")}</script>\n` });
  dirs.static = site;
  // Parcel in a project of its own: its two package.json fields apply to the project's root.
  parcel = freshProject('parcel', [tarball, ORT_WEB, PARCEL], { type: 'module', ...JSON.parse(readmeSnippet('parcel-package')) });
  writeFiles(parcel, { 'index.html': PAGE.replace('src="main.js"', 'src="src/main.js"'), 'src/main.js': mainScript(), 'src/harness.js': HARNESS });
  execFileSync('node_modules/.bin/parcel', ['build', 'index.html', '--no-autoinstall', '--log-level', 'error'], { cwd: parcel, stdio: ['ignore', 'ignore', 'pipe'] });
  sh(readmeSnippet('copy-ort'), parcel);
  dirs.parcel = join(parcel, 'dist');
  for (const [name, dir] of Object.entries(dirs)) sites[name] = { dir, url: await serveStatic(dir) };
  console.log(`bundler apps: install ${((installed - started) / 1000).toFixed(1)} s, builds ${((Date.now() - installed) / 1000).toFixed(1)} s`);
});

test.afterAll(() => {
  for (const s of servers) s.close();
  if (app) removeProject(app);
  if (parcel) removeProject(parcel);
});

const nodeVectors = nodeReference(texts);
const openApp = (page: Page, base: string) => openAppAt(page, base, 60_000);

test("webpack's build holds one copy of the .wasm: the one the README's copy step puts in ort/", () => {
  const dist = sites.webpack!.dir;
  expect(listFiles(dist).filter((f) => f.endsWith('.wasm'))).toEqual(['ort/ort-wasm-simd-threaded.asyncify.wasm']);
});

for (const name of ['esbuild', 'rollup', 'webpack', 'parcel', 'static']) {
  test(`${name === 'static' ? 'no bundler (dist/standalone)' : name}: the README snippet runs, and 50 texts on wasm equal the Node vectors`, async ({ page }) => {
    const lines = await openApp(page, sites[name]!.url);
    await expect.poll(() => lines.find((l) => /^2 64\b/.test(l)) ?? lines.join('\n'), { timeout: 60_000 }).toMatch(/^2 64\b/);
    const got = await page.evaluate(async ({ texts, model }) => {
      const e = await (globalThis as any).createEmbedder({ model, device: 'wasm' });
      const r = await e.embed(texts);
      const out = { dim: r.dim, data: Array.from(r.data as Float32Array), device: e.workers[0].device };
      await e.dispose();
      return out;
    }, { texts, model: MODEL_URL });
    expect(got.device).toBe('wasm');
    const want = await nodeVectors();
    expect(got.dim).toBe(want.dim);
    expect(minRowCosine(got.data, want.data, want.dim)).toBeGreaterThanOrEqual(0.9999);
    expect(lines.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
}
