// The package as a Node user meets it: `npm pack`, then a fresh project that installs only the
// tarball and its declared peer (onnxruntime-node), runs the README's Node snippets (ESM and
// CommonJS), the CLI through npx, and type-checks against the shipped declarations with
// skipLibCheck off under three module resolutions. Needs dist/ (npm test builds first).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder } from '../../src/node.js';
import { copyModel, folderBytes, freshProject, packTarball, readmeSnippet, removeProject, versionOf, writeFiles } from '../../tools/consumer-project.js';
import { cosine } from '../helpers/models.js';

const README_MODEL = "'Xenova/all-MiniLM-L6-v2'";
const TEXTS = ['first text', 'second text'];
let dir = '';

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
/** The README snippet, pointed at the generated model instead of the hub. */
const snippet = (name: string) => readmeSnippet(name).replaceAll(README_MODEL, "'./model'");

beforeAll(() => {
  if (!existsSync(join(import.meta.dirname, '../../dist/node.js'))) throw new Error('dist/ is missing: run npm run build first');
  const tarball = packTarball();
  dir = freshProject('node', [tarball, versionOf('onnxruntime-node'), versionOf('typescript'), versionOf('@types/node')]);
  copyModel('fixture-tiny', join(dir, 'model'));
  console.log(`Node consumer: node_modules ${(folderBytes(join(dir, 'node_modules')) / 2 ** 20).toFixed(0)} MB with onnxruntime-node, typescript and @types/node`);
}, 300_000);
afterAll(() => removeProject(dir));

describe('a fresh Node project with the packed tarball', () => {
  it('installs no transformers.js, sharp, onnx-proto, or onnxruntime-web (an optional peer Node never loads)', () => {
    for (const name of ['@huggingface/transformers', 'sharp', 'onnx-proto', 'onnxruntime-web']) expect(existsSync(join(dir, 'node_modules', name)), name).toBe(false);
  });

  it("runs the README's ESM snippet and gets the library's vectors", async () => {
    writeFiles(dir, { 'embed.mjs': snippet('node') });
    const r = run('node', ['embed.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [count, dim, ...head] = r.stdout.replace(/Float32Array\(4\)|[[\]{},]/g, ' ').trim().split(/\s+/).map(Number);
    expect([count, dim]).toEqual([2, 64]);
    const here = await createEmbedder({ model: join(dir, 'model') });
    const want = (await here.embed(TEXTS)).data.subarray(0, 4);
    await here.dispose();
    expect(cosine(head, want)).toBeGreaterThan(0.99999);
  });

  it("runs the README's CommonJS snippet", () => {
    writeFiles(dir, { 'embed.cjs': snippet('node-cjs') });
    const r = run('node', ['embed.cjs']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('2 64');
  });

  it("runs the README's streaming snippet: embedStream, embedTo an Arrow file, read and search it", () => {
    const docs = Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `d${i}`, text: i === 7 ? 'river garden river garden' : `document number ${i} about stones` }));
    writeFiles(dir, { 'stream.mjs': snippet('node-stream'), 'docs.jsonl': docs.join('\n') + '\n' });
    const r = run('node', ['stream.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^30 rows$/m); // the last progress line
    expect(r.stdout).toMatch(/\[\s*'d7 0\.\d+'/); // the document with the query's words ranks first
  });

  it("runs the README's precision snippet: a binary file with a float16 copy, searched", () => {
    writeFiles(dir, { 'precision.mjs': snippet('precision') });
    const r = run('node', ['precision.mjs']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^d7 0\.\d+$/m);
  });

  it("runs the README's CLI lines through npx", () => {
    const lines = readmeSnippet('cli').trim().split('\n').map((l) => l.replaceAll('Xenova/all-MiniLM-L6-v2', './model'));
    rmSync(join(dir, 'docs.arrow'), { force: true });
    const outputs = lines.map((line) => {
      const [cmd, ...args] = line.match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
      const r = run(cmd!, args);
      expect(r.status, `${line}\n${r.stderr}`).toBe(0);
      return r.stdout;
    });
    expect(outputs[1]).toMatch(/rows\D+30/);
    expect(JSON.parse(outputs[2]!.split('\n')[0]!)).toMatchObject({ id: 'd7' });

    // Arrow IPC file export needs nothing more; Parquet needs the optional peer parquet-wasm, and says so.
    const arrowFile = run('npx', ['embed', 'export', 'docs.arrow', '--format', 'arrow-file', '--out', 'docs.arrow-file']);
    expect(arrowFile.status, arrowFile.stderr).toBe(0);
    expect(JSON.parse(arrowFile.stdout)).toMatchObject({ rows: 30 });
    const parquet = run('npx', ['embed', 'export', 'docs.arrow', '--format', 'parquet', '--out', 'docs.parquet']);
    expect(parquet.status).toBe(7);
    expect(parquet.stderr).toContain('export to Parquet needs the package parquet-wasm, which is not installed: run `npm install parquet-wasm`');
  });

  for (const resolution of ['bundler', 'node16', 'node10'] as const) {
    it(`type-checks the README snippets with skipLibCheck off, moduleResolution ${resolution}`, () => {
      // Each snippet is its own ES module (.mts: ESM under node16 too), checked as a user's code would be.
      const files = { 'check-node.mts': snippet('node'), 'check-stream.mts': snippet('node-stream'), 'check-precision.mts': snippet('precision'), 'check-browser.mts': readmeSnippet('browser') };
      const config = {
        compilerOptions: {
          target: 'es2022', module: resolution === 'node16' ? 'node16' : 'esnext', moduleResolution: resolution,
          strict: true, skipLibCheck: false, noEmit: true, lib: ['es2022', 'dom'], types: ['node'],
        },
        files: Object.keys(files),
      };
      writeFiles(dir, { ...files, [`tsconfig.${resolution}.json`]: JSON.stringify(config) });
      const r = run(join(dir, 'node_modules/.bin/tsc'), ['-p', `tsconfig.${resolution}.json`]);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  }

  it("compiles and runs the README's TypeScript CommonJS snippet under module node16 (skipLibCheck off)", () => {
    const config = {
      compilerOptions: { target: 'es2022', module: 'node16', moduleResolution: 'node16', strict: true, skipLibCheck: false, types: ['node'], lib: ['es2022', 'dom'], outDir: 'out-cts' },
      files: ['embed.cts'],
    };
    writeFiles(dir, { 'embed.cts': snippet('cts-node16'), 'tsconfig.cts.json': JSON.stringify(config) });
    const tsc = run(join(dir, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.cts.json']);
    expect(tsc.stdout + tsc.stderr).toBe('');
    const r = run('node', ['out-cts/embed.cjs']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('2 64');
  });

  it('without onnxruntime-web, the Vite plugin names the install command', () => {
    const r = run('node', ['--input-type=module', '-e', "import { onnxRuntimeAssets } from 'bulk-embed/vite'; onnxRuntimeAssets();"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/MissingDependencyError: .*needs the package onnxruntime-web, which is not installed: run `npm install onnxruntime-web`/);
  });

  it('without onnxruntime-node, bulk-embed/node and the CLI name the install command', () => {
    rmSync(join(dir, 'node_modules/onnxruntime-node'), { recursive: true, force: true });
    const r = run('node', ['embed.mjs']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/MissingDependencyError: bulk-embed\/node \(and the embed CLI\) needs the package onnxruntime-node.*npm install onnxruntime-node/);
    const cli = run('npx', ['embed', 'docs.jsonl', '--out', 'other.arrow', '--model', './model']);
    expect(cli.status).toBe(7);
    expect(cli.stderr).toMatch(/npm install onnxruntime-node/);
  });
});

describe('install size', () => {
  it('a browser-only project (README: npm install bulk-embed onnxruntime-web) installs at most 200 MB', () => {
    const tarball = packTarball();
    const browserDir = freshProject('browser-size', [tarball, versionOf('onnxruntime-web')]);
    try {
      const bytes = folderBytes(join(browserDir, 'node_modules'));
      console.log(`browser-only consumer: node_modules ${(bytes / 2 ** 20).toFixed(0)} MB`);
      expect(existsSync(join(browserDir, 'node_modules/onnxruntime-node'))).toBe(false);
      expect(bytes).toBeLessThan(200 * 2 ** 20);
    } finally {
      removeProject(browserDir);
    }
  }, 300_000);
});
