// `npm run bench:browser`: drives the demo's `?bench` mode in Debian's headless Chromium and
// writes bench/results/browser-<device>.json. Here WebGPU is SwiftShader (a CPU Vulkan), so WebGPU
// figures compare the two libraries on the same device, not GPUs.
import { resolve } from 'node:path';
import { chromium } from '@playwright/test';
import { build, preview } from 'vite';
import { CHROMIUM_ARGS } from '../playwright.config.js';
import { printTable, writeJson } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COUNT = Number(process.env.BENCH_TEXTS ?? 400);
const DEVICES = (process.env.BENCH_DEVICES ?? 'wasm,webgpu').split(',') as ('webgpu' | 'wasm')[];
// On SwiftShader, MiniLM-sized WebGPU runs take tens of minutes for transformers.js, so WebGPU
// there defaults to the tiny fixture; WASM uses the MiniLM-shaped one.
const modelFor = (device: string, adapter: string): string =>
  process.env.BENCH_MODEL ?? (device === 'webgpu' && /swiftshader/i.test(adapter) ? 'fixture-tiny' : 'fixture-minilm');

const configFile = resolve(import.meta.dirname, '..', 'vite.config.ts');
await build({ configFile, logLevel: 'warn' });
const server = await preview({ configFile });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
const rows: (string | number)[][] = [];
try {
  for (const device of DEVICES) {
    const probe = await browser.newPage();
    await probe.goto('http://127.0.0.1:5173/');
    const adapter = await probe.evaluate(async () => {
      const a = await (navigator as any).gpu?.requestAdapter();
      return a ? `${a.info?.vendor} ${a.info?.architecture}` : 'none';
    });
    await probe.close();
    const model = modelFor(device, adapter);
    const page = await browser.newPage();
    page.on('console', (m) => { if (/ run \d/.test(m.text())) console.error(`[page] ${m.text()}`); });
    await page.goto(`http://127.0.0.1:5173/?bench&device=${device}&model=${model}&texts=${COUNT}&runs=${RUNS}`);
    await page.waitForFunction(() => (globalThis as any).benchResult, null, { timeout: 0, polling: 1000 });
    const result = await page.evaluate(() => (globalThis as any).benchResult);
    await page.screenshot({ path: resolve(import.meta.dirname, '..', 'test-results', `bench-${device}.png`), fullPage: true });
    await page.close();
    const ours = result.medians.bulkEmbed as number;
    const tjs = result.medians.transformersJs as number;
    const summary = {
      device, adapter, model, texts: COUNT, corpus: 'mixed (seed 1001)', runs: RUNS,
      bulkEmbed: { medianSeconds: ours, textsPerSec: COUNT / ours, seconds: result.seconds.bulkEmbed, info: result.info },
      transformersJs: { medianSeconds: tjs, textsPerSec: COUNT / tjs, seconds: result.seconds.transformersJs, chunk: 32 },
      ratio: tjs / ours,
      note: device === 'webgpu' && /swiftshader/i.test(adapter)
        ? 'WebGPU here is SwiftShader, a CPU implementation of Vulkan: these figures compare the two libraries on the same device, not GPUs.'
        : 'Both libraries on the same device, model and corpus in one page (the demo, ?bench).',
      date: new Date().toISOString(),
    };
    writeJson(resolve(import.meta.dirname, 'results', `browser-${device}.json`), summary);
    rows.push([device, `${adapter}, ${model}`, 'bulk-embed', ours.toFixed(2), (COUNT / ours).toFixed(1), `${summary.ratio.toFixed(2)}x`]);
    rows.push([device, `${adapter}, ${model}`, 'transformers.js', tjs.toFixed(2), (COUNT / tjs).toFixed(1), '']);
  }
} finally {
  await browser.close();
  await new Promise<void>((done) => server.httpServer.close(() => done()));
}
printTable(['device', 'adapter, model', 'library', 'median s', 'texts/s', 'ratio'], rows);
