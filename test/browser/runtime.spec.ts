// The browser runtime in headless Debian Chromium: WebGPU (SwiftShader) and WASM workers give the
// Node engine's vectors; fp16 falls back with a reason; progress, responsiveness, abort, dispose,
// and flat GPU memory.
import { expect, test, type Page } from '@playwright/test';
import { createEmbedder as createNodeEmbedder } from '../../src/node.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { minRowCosine } from '../helpers/models.js';

const MODEL = 'fixture-tiny';
const texts200 = mixedCorpus(200, 4242);

let nodeVectors: { dim: number; data: Float32Array } | null = null;
async function nodeReference() {
  if (!nodeVectors) {
    const e = await createNodeEmbedder({ model: `models/${MODEL}` });
    nodeVectors = await e.embed(texts200);
    await e.dispose();
  }
  return nodeVectors;
}

async function openPage(page: Page, query = '') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(`/${query}`);
  await expect(page.locator('#status')).toHaveText('ready');
}

/** Embeds in the page and returns info, workers and the vectors as a plain array. */
async function embedInPage(page: Page, options: Record<string, unknown>, texts: string[]) {
  return page.evaluate(async ({ options, texts }) => {
    const { createEmbedder } = (globalThis as any).bulkEmbed;
    const e = await createEmbedder(options);
    const r = await e.embed(texts);
    const out = { info: e.info, workers: e.workers, dim: r.dim, data: Array.from(r.data as Float32Array) };
    await e.dispose();
    return out;
  }, { options, texts });
}


// SwiftShader runs WebGPU on the CPU at about 2 ms a token for fixture-tiny: the WebGPU-only row
// embeds the first 30 texts (5 to 283 words, every row at cosine 1.0000000 of 60 measured), the rows
// with WASM all 200.
test.describe('vectors match the Node engine (mixed texts, cosine >= 0.9999 per row)', () => {
  for (const [label, query, options] of [
    ['WebGPU (SwiftShader)', '', { device: 'webgpu' }],
    ['WASM, cross-origin isolated (threads)', '', { device: 'wasm' }],
    ['WASM, not isolated (one single-threaded worker per core)', '?coi=0', { device: 'wasm' }],
    ['WebGPU and WASM together', '', { device: ['webgpu', 'wasm'] }],
  ] as const) {
    test(label, async ({ page }) => {
      await openPage(page, query);
      const texts = label.startsWith('WebGPU (') ? texts200.slice(0, 30) : texts200;
      const got = await embedInPage(page, { model: `/models/${MODEL}`, maxBatchTokens: 1024, ...options }, texts);
      const all = await nodeReference();
      const want = all.data.subarray(0, texts.length * all.dim);
      expect(got.dim).toBe(all.dim);
      expect(got.data.length).toBe(want.length);
      expect(minRowCosine(got.data, want, all.dim)).toBeGreaterThanOrEqual(0.9999);
      if (label.startsWith('WASM, not')) {
        expect(got.workers.length).toBe(2); // 2 cores here
        expect(got.info.reasons.join(' ')).toMatch(/single-threaded worker\(s\), one per core/);
      }
      if (label.includes('together')) expect(got.workers.map((w: { device: string }) => w.device).sort()).toEqual(['wasm', 'webgpu']);
      // The GPU worker alone: the other core tokenizes, so these vectors came from ids made in a tokenizer worker.
      if (label.startsWith('WebGPU (')) expect(got.info.reasons).toContain('1 tokenizer worker beside the GPU worker, so it only feeds and runs');
      // SwiftShader computes on the CPU: it packs as a CPU does, not as a GPU with a fixed cost per run.
      if (label.startsWith('WebGPU (')) expect(got.info.reasons).toContain('packing as on a CPU (batchOverheadTokens 32): the WebGPU adapter is a software one');
    });
  }
});

test('asking for fp16 on an adapter without shader-f16 falls back to fp32 and says why', async ({ page }) => {
  await openPage(page);
  const { info, caps } = await page.evaluate(async () => {
    const { createEmbedder, detectCapabilities } = (globalThis as any).bulkEmbed;
    const caps = await detectCapabilities();
    const e = await createEmbedder({ model: '/models/fixture-tiny', device: 'webgpu', dtype: 'fp16' });
    const info = e.info;
    await e.dispose();
    return { info, caps };
  });
  expect(caps.shaderF16).toBe(false); // SwiftShader
  expect(info.device).toBe('webgpu');
  expect(info.dtype).toBe('fp32');
  expect(info.reasons).toContain('fp16 refused: the adapter lacks shader-f16 (fp16 was asked for; using fp32)');
});

test('progress is monotonic, carries an ETA, ends with done == total; the main thread never blocks 100 ms', async ({ page }) => {
  await openPage(page);
  const texts = mixedCorpus(2000, 99);
  const result = await page.evaluate(async (texts) => {
    const g = globalThis as any;
    const e = await g.bulkEmbed.createEmbedder({ model: '/models/fixture-tiny', device: 'wasm', maxBatchTokens: 2048 });
    const events: any[] = [];
    const started = performance.now();
    const r = await e.embed(texts, { onProgress: (p: any) => events.push(p) });
    const ended = performance.now();
    await e.dispose();
    await new Promise((done) => setTimeout(done, 200)); // let the observer deliver
    const long = g.longTasks.filter((t: any) => t.start >= started && t.start <= ended);
    return { count: r.count, events, long, ms: ended - started };
  }, texts);
  expect(result.count).toBe(2000);
  const { events } = result;
  expect(events.length).toBeGreaterThan(2);
  for (let i = 1; i < events.length; i++) {
    expect(events[i].done).toBeGreaterThanOrEqual(events[i - 1].done);
    expect(events[i].tokens).toBeGreaterThanOrEqual(events[i - 1].tokens);
  }
  for (const p of events) {
    expect(p.phase).toBe('embed');
    expect(p.total).toBe(2000);
    expect(Number.isFinite(p.etaMs)).toBe(true);
    expect(p.textsPerSec).toBeGreaterThan(0);
  }
  expect(events.at(-1)).toMatchObject({ done: 2000, total: 2000, etaMs: 0 });
  // Throttled to about 10 a second.
  expect(events.length).toBeLessThanOrEqual(Math.ceil(result.ms / 100) + 2);
  expect(result.long.filter((t: any) => t.duration > 100)).toEqual([]);
});

test('abort stops within one batch, the next embed succeeds, and dispose() ends every worker', async ({ page }) => {
  await openPage(page);
  const texts = mixedCorpus(600, 7);
  const out = await page.evaluate(async (texts) => {
    const g = globalThis as any;
    const e = await g.bulkEmbed.createEmbedder({ model: '/models/fixture-tiny', device: 'wasm', maxBatchTokens: 256 });
    const controller = new AbortController();
    let error = '';
    let batchesAtAbort = 0;
    try {
      await e.embed(texts, {
        signal: controller.signal,
        onProgress: () => { if (!controller.signal.aborted) { controller.abort(); batchesAtAbort = e.stats.batches; } },
      });
    } catch (err) {
      error = `${(err as Error).name}: ${(err as Error).message}`;
    }
    const batchesAfterAbort = e.stats.batches;
    const again = await e.embed(texts.slice(0, 50));
    await e.dispose();
    let afterDispose = '';
    try { await e.embed(['x']); } catch (err) { afterDispose = (err as Error).name; }
    return { error, batchesAtAbort, batchesAfterAbort, againCount: again.count, afterDispose, workers: g.workerLog };
  }, texts);
  expect(out.error).toMatch(/^AbortError: embedding was aborted/);
  // Workers pull one batch at a time: at most one batch per worker finishes after the abort.
  expect(out.batchesAfterAbort - out.batchesAtAbort).toBeLessThanOrEqual(1);
  expect(out.againCount).toBe(50);
  expect(out.afterDispose).toBe('DisposedError');
  expect(out.workers.length).toBeGreaterThan(0);
  expect(out.workers.every((w: { terminated: boolean }) => w.terminated)).toBe(true);
});

test('GPU memory the library allocates stays flat across 500 batches', async ({ page }) => {
  await openPage(page);
  // 700 texts of 12 words: one or two to a batch at maxBatchTokens 48 (packed as on a CPU), so 500 batches or more.
  const texts = mixedCorpus(700, 11).map((t) => t.split(' ').slice(0, 12).join(' '));
  const out = await page.evaluate(async (texts) => {
    const g = globalThis as any;
    const e = await g.bulkEmbed.createEmbedder({ model: '/models/fixture-tiny', device: 'webgpu', maxBatchTokens: 48, lookahead: 256, batchOverheadTokens: 32 });
    const samples: number[] = [];
    await e.embed(texts, { onProgress: (p: any) => samples.push(p.memory?.gpuBytes ?? -1) });
    const batches = e.stats.batches;
    await e.dispose();
    return { samples, batches };
  }, texts);
  expect(out.batches).toBeGreaterThanOrEqual(500);
  const { samples } = out;
  expect(samples.every((b) => b > 0)).toBe(true);
  const settled = samples[Math.floor(samples.length / 4)]!;
  const peak = Math.max(...samples.slice(Math.floor(samples.length / 4)));
  expect(peak).toBeLessThanOrEqual(settled * 1.05);
  expect(samples.at(-1)!).toBeLessThanOrEqual(settled * 1.05);
});

test('createEmbedder({ signal }) aborted during loading rejects with AbortError within 1 s and leaves no worker running', async ({ page }) => {
  await openPage(page);
  const out = await page.evaluate(async () => {
    const g = globalThis as any;
    const before = g.workerLog.length;
    const controller = new AbortController();
    let abortedAt = 0;
    // Abort once the first worker reports load progress, well before the model is ready.
    const pending = g.bulkEmbed.createEmbedder({
      model: '/models/fixture-tiny', device: 'wasm', workers: 2, signal: controller.signal,
      onProgress: () => { if (!controller.signal.aborted) { abortedAt = performance.now(); controller.abort(); } },
    });
    let error = '';
    try {
      await pending;
    } catch (err) {
      error = `${(err as Error).name}: ${(err as Error).message}`;
    }
    const settledAt = performance.now();
    const workers = g.workerLog.slice(before);
    return { error, ms: settledAt - abortedAt, aborted: abortedAt > 0, workers };
  });
  expect(out.aborted).toBe(true);
  expect(out.error).toMatch(/^AbortError/);
  expect(out.ms).toBeLessThan(1000);
  expect(out.workers.length).toBeGreaterThan(0);
  expect(out.workers.every((w: { terminated: boolean }) => w.terminated)).toBe(true);
});

test('embedTo reports progress with the same fields as embed(), memory included', async ({ page }) => {
  await openPage(page);
  // Few texts: WebGPU here is SwiftShader (a CPU), about 2 ms a token for fixture-tiny, and it
  // compiles kernels for each new batch shape. The fields of the last progress event are compared.
  const texts = mixedCorpus(4, 11);
  const out = await page.evaluate(async (texts) => {
    const g = globalThis as any;
    const e = await g.bulkEmbed.createEmbedder({ model: '/models/fixture-tiny', device: 'webgpu', maxBatchTokens: 1024 });
    const fromEmbed: any[] = [];
    await e.embed(texts, { onProgress: (p: any) => fromEmbed.push(p) });
    const rows: unknown[] = [];
    const sink = {
      resumeState: async () => ({ committed: new Set<string>(), description: null }),
      write: async (_d: unknown, r: { ids: string[] }) => void rows.push(...r.ids),
      close: async () => {},
    };
    const fromStream: any[] = [];
    const records = texts.map((text: string, i: number) => ({ id: String(i), text }));
    await e.embedTo(records, sink, { onProgress: (p: any) => fromStream.push(p), total: texts.length });
    await e.dispose();
    return {
      embedKeys: Object.keys(fromEmbed.at(-1)).sort(), streamKeys: Object.keys(fromStream.at(-1)).sort(),
      embedMemory: Object.keys(fromEmbed.at(-1).memory ?? {}).sort(), streamMemory: Object.keys(fromStream.at(-1).memory ?? {}).sort(),
      rows: rows.length, last: fromStream.at(-1),
    };
  }, texts);
  expect(out.rows).toBe(4);
  expect(out.streamKeys).toEqual(out.embedKeys);
  expect(out.embedMemory).toContain('gpuBytes');
  expect(out.streamMemory).toEqual(out.embedMemory);
  expect(out.last).toMatchObject({ done: 4, total: 4 });
});
