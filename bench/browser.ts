// `npm run bench:browser`: drives the benchmark page in Debian's headless Chromium and writes
// bench/results/browser-<device>.json. Here WebGPU is SwiftShader (a CPU Vulkan), so WebGPU
// figures compare the two libraries on the same device, not GPUs.
import { resolve } from 'node:path';
import { chromium } from '@playwright/test';
import { build, preview } from 'vite';
import { CHROMIUM_ARGS } from '../playwright.config.js';
import { mixedCorpus } from '../tools/fixtures/corpus.js';
import { median, printTable, writeJson } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COUNT = Number(process.env.BENCH_TEXTS ?? 400);
// On SwiftShader (a CPU Vulkan) MiniLM-sized WebGPU runs take tens of minutes for transformers.js,
// so WebGPU there defaults to the tiny fixture; WASM uses the MiniLM-shaped one.
const modelFor = (device: string, adapter: string): string =>
  process.env.BENCH_MODEL ?? (device === 'webgpu' && /swiftshader/i.test(adapter) ? 'fixture-tiny' : 'fixture-minilm');
const DEVICES = (process.env.BENCH_DEVICES ?? 'wasm,webgpu').split(',') as ('webgpu' | 'wasm')[];
const configFile = resolve(import.meta.dirname, 'browser', 'vite.config.ts');

await build({ configFile });
const server = await preview({ configFile });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
const texts = mixedCorpus(COUNT, 1001);
const rows: (string | number)[][] = [];
try {
  for (const device of DEVICES) {
    const page = await browser.newPage();
    page.on('console', (m) => { if (/ run \d/.test(m.text())) console.error(`[page] ${m.text()}`); });
    await page.goto('http://127.0.0.1:4174/');
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    const adapter = await page.evaluate(async () => {
      const a = await (navigator as any).gpu?.requestAdapter();
      return a ? `${a.info?.vendor} ${a.info?.architecture}` : 'none';
    });
    const MODEL = modelFor(device, adapter);
    const result = await page.evaluate(({ device, model, texts, runs }) => (globalThis as any).runBench(device, model, texts, runs), { device, model: MODEL, texts, runs: RUNS });
    await page.close();
    const ours = median(result.seconds.bulkEmbed);
    const tjs = median(result.seconds.transformersJs);
    const summary = {
      device, adapter, model: MODEL, texts: COUNT, corpus: 'mixed', runs: RUNS,
      bulkEmbed: { medianSeconds: ours, textsPerSec: COUNT / ours, seconds: result.seconds.bulkEmbed, info: result.info },
      transformersJs: { medianSeconds: tjs, textsPerSec: COUNT / tjs, seconds: result.seconds.transformersJs, chunk: 32 },
      ratio: tjs / ours,
      note: device === 'webgpu' && /swiftshader/i.test(adapter)
        ? 'WebGPU here is SwiftShader, a CPU implementation of Vulkan: these figures compare the two libraries on the same device, not GPUs.'
        : 'Both libraries on the same device, model and corpus in one page.',
      date: new Date().toISOString(),
    };
    writeJson(resolve(import.meta.dirname, 'results', `browser-${device}.json`), summary);
    rows.push([device, `${adapter}, ${MODEL}`, 'bulk-embed', ours.toFixed(2), (COUNT / ours).toFixed(1), `${summary.ratio.toFixed(2)}x`]);
    rows.push([device, `${adapter}, ${MODEL}`, 'transformers.js', tjs.toFixed(2), (COUNT / tjs).toFixed(1), '']);
  }
} finally {
  await browser.close();
  await new Promise<void>((done) => server.httpServer.close(() => done()));
}
printTable(['device', 'adapter', 'library', 'median s', 'texts/s', 'ratio'], rows);
