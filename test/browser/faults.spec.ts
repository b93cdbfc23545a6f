// Faults in the browser pool, injected through the public seams: a workerFactory whose workers are
// terminated mid-batch, a GPU device the test destroys, a forced low buffer limit. Each run must
// complete with the vectors of an undisturbed run, or fail with a typed error within its bound.
import { expect, test, type Page } from '@playwright/test';
import { createEmbedder as createNodeEmbedder } from '../../src/node.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { minRowCosine } from '../helpers/models.js';

const MODEL = 'fixture-tiny';
const texts = mixedCorpus(300, 2027);
const gpuTexts = texts.slice(0, 60); // SwiftShader runs WebGPU on the CPU (about 2 ms a token for fixture-tiny): fewer texts

let reference: { dim: number; data: Float32Array } | null = null;
async function nodeReference(count = texts.length) {
  if (!reference) {
    const e = await createNodeEmbedder({ model: `models/${MODEL}` });
    reference = await e.embed(texts);
    await e.dispose();
  }
  return { dim: reference.dim, data: reference.data.subarray(0, count * reference.dim) };
}

async function openPage(page: Page, query = '') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(`/${query}`);
  await expect(page.locator('#status')).toHaveText('ready');
}

test('workers terminated mid-batch at 3 seeded moments: the embed completes with the undisturbed vectors', async ({ page }) => {
  await openPage(page, '?coi=0'); // two single-threaded WASM workers
  const out = await page.evaluate(async ({ texts, model }) => {
    const g = globalThis as any;
    const options = { model, device: 'wasm', maxBatchTokens: 384 };
    const calm = await g.bulkEmbed.createEmbedder(options);
    let t = performance.now();
    await calm.embed(texts);
    const calmMs = performance.now() - t;
    await calm.dispose();
    const { factory, log } = g.faultyFactory({ killAt: [3, 11, 19], delayMs: 2 });
    const e = await g.bulkEmbed.createEmbedder({ ...options, workerFactory: factory });
    t = performance.now();
    const r = await e.embed(texts);
    const faultyMs = performance.now() - t;
    const result = { data: Array.from(r.data as Float32Array), stats: e.stats, reasons: e.info.reasons, log, calmMs, faultyMs, workers: e.workers };
    await e.dispose();
    return result;
  }, { texts, model: `/models/${MODEL}` });
  console.log(`3 workers terminated: ${out.faultyMs.toFixed(0)} ms against ${out.calmMs.toFixed(0)} ms undisturbed; ` +
    `${out.stats.retriedBatches} batches re-run, ${out.stats.recoveredLanes} workers replaced; ${out.log.started} workers started in all; ` +
    out.reasons.filter((r: string) => /rebuilt in/.test(r)).join(', '));
  const want = await nodeReference();
  expect(out.log.killed).toBe(3);
  // Every killed worker was replaced: 2 at start plus 3 (a death noticed while tokenizing is
  // refilled by the tokenizer, not the lane runner, so stats.recoveredLanes may count fewer).
  expect(out.log.started).toBe(5);
  expect(out.stats.recoveredLanes).toBeGreaterThanOrEqual(1);
  expect(out.reasons.filter((r: string) => /^bulk-embed-wasm-\d: the worker ended .* a new wasm worker took its place$/.test(r)).length).toBeGreaterThanOrEqual(3);
  expect(out.workers).toHaveLength(2);
  expect(minRowCosine(out.data, want.data, want.dim)).toBeGreaterThanOrEqual(0.9999);
});

test('a tokenizer worker that fails, ends or stalls mid-window: its pieces are tokenized elsewhere and the run completes; disposed with a piece out, nothing starts', async ({ page }) => {
  await openPage(page);
  const out = await page.evaluate(async ({ texts, model }) => {
    const g = globalThis as any;
    const options = { model, freeInference: true, tokenizerWorkers: 2 };
    const calm = await g.bulkEmbed.createEmbedder(options);
    await calm.embed(texts);
    const calmTokens = calm.stats.tokens;
    await calm.dispose();
    /**
     * Worker factory whose tokenizer worker 0 meets `fault` at its first tokenize call. 'throws': the
     * call carries no texts, so the worker throws, holding a second piece whose answer a stopped
     * worker's released proxy drops. 'ends': the worker is terminated, which no event reports (its
     * life lock does). 'stalls': the call never reaches the worker, so it never answers.
     */
    const faulty = (fault: string) => {
      const log = { hit: 0, started: 0 };
      const factory = (name: string): Worker => {
        log.started++;
        const worker: Worker = g.bulkEmbed.defaultWorkerFactory(name);
        if (name !== 'bulk-embed-tokenizer-0') return worker;
        const post = worker.postMessage.bind(worker) as (message: unknown, transfer?: Transferable[]) => void;
        worker.postMessage = ((message: any, transfer?: Transferable[]) => {
          const first = message?.type === 'APPLY' && message.path?.[0] === 'tokenize' && log.hit++ === 0;
          if (first && fault === 'throws') message = { ...message, argumentList: [{ type: 'RAW', value: null }] };
          if (!(first && fault === 'stalls')) post(message, transfer);
          if (first && fault === 'ends') setTimeout(() => worker.terminate(), 1);
        }) as Worker['postMessage'];
        return worker;
      };
      return { factory, log };
    };
    const runs = [];
    for (const fault of ['throws', 'ends', 'stalls']) {
      const { factory, log } = faulty(fault);
      const e = await g.bulkEmbed.createEmbedder({ ...options, workerFactory: factory, batchTimeoutMs: 1500 });
      const hung = new Promise((_, reject) => setTimeout(() => reject(new Error(`the run hung (${fault})`)), 20_000));
      const r = await Promise.race([e.embed(texts), hung]) as { data: Float32Array; dim: number };
      runs.push({ fault, rows: r.data.length / r.dim, tokens: e.stats.tokens, reasons: e.info.reasons as string[], hit: log.hit });
      await e.dispose();
    }
    // A run aborted while a stalled piece is out, then disposed: the stop fails the piece, and
    // nothing tokenizes it or starts a worker to replace one.
    const { factory, log } = faulty('stalls');
    const e = await g.bulkEmbed.createEmbedder({ ...options, workerFactory: factory });
    const startedBefore = log.started;
    const abort = new AbortController();
    const run = e.embed(texts, { signal: abort.signal }).then(() => 'completed', (error: Error) => error.name);
    while (log.hit === 0) await new Promise((r) => setTimeout(r, 5));
    abort.abort();
    const ending = await run;
    await e.dispose();
    await new Promise((r) => setTimeout(r, 500));
    return { runs, calmTokens, disposed: { ending, startedAfter: log.started - startedBefore } };
  }, { texts, model: `/models/${MODEL}` });
  for (const run of out.runs) {
    expect(run.hit, run.fault).toBeGreaterThanOrEqual(1);
    expect(run.rows, run.fault).toBe(texts.length);
    expect(run.tokens, run.fault).toBe(out.calmTokens); // every text tokenized once, none lost
    expect(run.reasons.filter((r) => /; 1 tokenizer workers left$/.test(r)), run.fault).toHaveLength(1);
  }
  expect(out.runs[1]!.reasons).toContain('tokenizer thread bulk-embed-tokenizer-0: the worker ended (terminated, crashed or out of memory); 1 tokenizer workers left');
  expect(out.runs[2]!.reasons).toContain('tokenizer thread bulk-embed-tokenizer-0: a call took longer than 1500 ms (see batchTimeoutMs); 1 tokenizer workers left');
  expect(out.disposed).toEqual({ ending: 'AbortError', startedAfter: 0 });
});

test('with every worker failing, the embed rejects with LanesFailedError within 10 s', async ({ page }) => {
  await openPage(page, '?coi=0');
  const out = await page.evaluate(async ({ texts, model }) => {
    const g = globalThis as any;
    const { factory, log } = g.faultyFactory({ everyRun: true, delayMs: 0 });
    const e = await g.bulkEmbed.createEmbedder({ model, device: 'wasm', workerFactory: factory, maxBatchTokens: 384 });
    const t = performance.now();
    let error = { name: '', message: '' };
    try {
      await e.embed(texts);
    } catch (err) {
      error = { name: (err as Error).name, message: (err as Error).message };
    }
    const ms = performance.now() - t;
    await e.dispose();
    return { error, ms, killed: log.killed };
  }, { texts, model: `/models/${MODEL}` });
  console.log(`every worker failing: ${out.error.name} after ${out.ms.toFixed(0)} ms: ${out.error.message}`);
  expect(out.error.name).toBe('LanesFailedError');
  expect(out.error.message).toMatch(/failed 3 times; last on bulk-embed-wasm-\d: bulk-embed-wasm-\d: the worker ended/);
  expect(out.ms).toBeLessThan(10_000);
});

test('GPUDevice.destroy() mid-run on SwiftShader: the run completes with every row right; after a second loss, WASM takes over', async ({ page }) => {
  await openPage(page);
  const out = await page.evaluate(async ({ texts, model }) => {
    const g = globalThis as any;
    const { factory } = g.faultyFactory({ gpuFaults: true });
    const e = await g.bulkEmbed.createEmbedder({ model, device: 'webgpu', workerFactory: factory, maxBatchTokens: 512 });
    const embedWithLoss = async () => {
      let destroyed = false;
      const t = performance.now();
      const r = await e.embed(texts, {
        onProgress: (p: any) => {
          if (!destroyed && p.done >= 20) {
            destroyed = true;
            g.destroyGpuDevice();
          }
        },
      });
      return { data: Array.from(r.data as Float32Array), ms: performance.now() - t, workers: e.workers.map((w: any) => w.device) };
    };
    const first = await embedWithLoss();
    const second = await embedWithLoss();
    const result = { first, second, stats: e.stats, reasons: e.info.reasons };
    await e.dispose();
    return result;
  }, { texts: gpuTexts, model: `/models/${MODEL}` });
  console.log(`device lost: first run ${out.first.ms.toFixed(0)} ms (rebuilt on WebGPU), second ${out.second.ms.toFixed(0)} ms (moved to WASM); ${out.reasons.filter((r: string) => /rebuilt in/.test(r)).join(', ')}`);
  const want = await nodeReference(gpuTexts.length);
  expect(out.first.data.length).toBe(want.data.length);
  expect(out.second.data.length).toBe(want.data.length);
  expect(minRowCosine(out.first.data, want.data, want.dim)).toBeGreaterThanOrEqual(0.9999);
  expect(minRowCosine(out.second.data, want.data, want.dim)).toBeGreaterThanOrEqual(0.9999);
  expect(out.first.workers).toEqual(['webgpu']);
  expect(out.second.workers).toEqual(['wasm']);
  expect(out.stats.recoveredLanes).toBe(2);
  expect(out.reasons.some((r: string) => /GPU device lost \(destroyed/.test(r))).toBe(true);
  expect(out.reasons).toContain('bulk-embed-gpu: GPU device lost 2 times; its work goes to a WASM worker');
});

test('a forced low GPU buffer limit: every batch fits it and the vectors are unchanged', async ({ page }) => {
  await openPage(page);
  const limit = 1 << 20;
  const out = await page.evaluate(async ({ texts, model, limit }) => {
    const g = globalThis as any;
    const caps = { ...(await g.bulkEmbed.detectCapabilities()), maxBufferBytes: limit };
    const { factory, log } = g.faultyFactory({});
    const e = await g.bulkEmbed.createEmbedder({ model, device: 'webgpu', capabilities: caps, workerFactory: factory, maxBatchTokens: 4096 });
    const r = await e.embed(texts);
    const result = { data: Array.from(r.data as Float32Array), shapes: log.shapes, batches: e.stats.batches };
    await e.dispose();
    return result;
  }, { texts: gpuTexts, model: `/models/${MODEL}`, limit });
  // fixture-tiny: 4 heads, feed-forward 128; the largest activation of a row is 4 bytes x seq x max(4 seq, 128).
  const largest = out.shapes.map(({ rows, seq }: { rows: number; seq: number }) => rows * 4 * seq * Math.max(4 * seq, 128));
  console.log(`buffer limit ${limit} bytes: ${out.shapes.length} runs for ${out.batches} batches, largest activation ${Math.max(...largest)} bytes`);
  expect(Math.max(...largest)).toBeLessThanOrEqual(limit);
  expect(out.shapes.length).toBeGreaterThan(out.batches); // batches were split to fit
  const want = await nodeReference(gpuTexts.length);
  expect(out.data.length).toBe(want.data.length);
  expect(minRowCosine(out.data, want.data, want.dim)).toBeGreaterThanOrEqual(0.9999);
});
