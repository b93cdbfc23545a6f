// `npm run bench:browser`: drives the demo's `?bench` mode in Debian's headless Chromium and
// writes bench/results/browser-<device>.json. Here WebGPU is SwiftShader (a CPU Vulkan), so WebGPU
// figures compare the two libraries on the same device, not GPUs.
import { resolve } from 'node:path';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.js';
import { printTable, writeJson } from './lib.js';
import { pageAdapter, pageBench, serveDemo } from './shared.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COUNT = Number(process.env.BENCH_TEXTS ?? 400);
const DEVICES = (process.env.BENCH_DEVICES ?? 'wasm,webgpu').split(',') as ('webgpu' | 'wasm')[];
// On SwiftShader, MiniLM-sized WebGPU runs take tens of minutes for transformers.js, so WebGPU
// there defaults to the tiny fixture; WASM uses the MiniLM-shaped one.
const modelFor = (device: string, adapter: string): string =>
  process.env.BENCH_MODEL ?? (device === 'webgpu' && /swiftshader/i.test(adapter) ? 'fixture-tiny' : 'fixture-minilm');

const server = await serveDemo();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
const rows: (string | number)[][] = [];
try {
  for (const device of DEVICES) {
    const adapter = await pageAdapter(browser, server.url);
    const model = modelFor(device, adapter);
    const result = await pageBench(browser, server.url, device, model, COUNT, RUNS, resolve(import.meta.dirname, '..', 'test-results', `bench-${device}.png`));
    const ours = result.medians.bulkEmbed;
    const tjs = result.medians.transformersJs;
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
  await server.close();
}
printTable(['device', 'adapter, model', 'library', 'median s', 'texts/s', 'ratio'], rows);
