// The browser embedder's internal freeInference seam (bench:pipeline:browser): the workers' sessions
// cost nothing and return unit vectors, the workers are laid out as for a hardware GPU even on
// SwiftShader (where 'auto' would pick WASM), and every text is still tokenized, in the tokenizer
// workers or in the GPU worker, to the token count Node's tokenizer gives.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { nodeFileAccess } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { loadTokenizer } from '../../src/tokenize/tokenizer.js';
import { sampleCorpus } from '../../tools/fixtures/corpus.js';

const MODEL = 'fixture-minilm';
const texts = sampleCorpus(300, 77);

test('free inference: unit vectors of the model\'s dim, the GPU layout, every text tokenized', async ({ page }) => {
  const dim = Number(JSON.parse(readFileSync(`models/${MODEL}/config.json`, 'utf8')).hidden_size);
  const tokenizer = await loadTokenizer(await resolveModelFiles(`models/${MODEL}`, nodeFileAccess));
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto('/');
  await expect(page.locator('#status')).toHaveText('ready');
  const { out: runs, cores, isolated } = await page.evaluate(async ({ model, texts }) => {
    const g = globalThis as any;
    const out = [];
    for (const layout of [{}, { tokenizerWorkers: 0 }, { tokenizerWorkers: 0, batchesInFlight: 1 }, { tokenizerWorkers: 2 }]) {
      const before = g.workerLog.length;
      const e = await g.bulkEmbed.createEmbedder({ model, freeInference: true, ...layout });
      const r = await e.embed(texts);
      // Rows that are not the unit vector e0, and the first such row.
      let wrong = 0;
      for (let row = 0; row < r.data.length / r.dim; row++) {
        const v = r.data.subarray(row * r.dim, (row + 1) * r.dim);
        if (v[0] !== 1 || v.some((x: number, j: number) => j > 0 && x !== 0)) wrong++;
      }
      out.push({
        layout, dim: r.dim, rows: r.data.length / r.dim, wrong, tokens: e.stats.tokens, info: e.info,
        started: g.workerLog.slice(before).map((w: { name: string }) => w.name),
      });
      await e.dispose();
    }
    return { out, cores: navigator.hardwareConcurrency, isolated: globalThis.crossOriginIsolated };
  }, { model: `/models/${MODEL}`, texts });
  // Isolated: the free session's rows are shared with the page (the other test covers the rest).
  expect(isolated).toBe(true);
  const want = tokenizer.encode(texts, runs[0]!.info.maxTokens).ids.reduce((a, ids) => a + ids.length, 0);
  for (const run of runs) {
    expect(run.dim).toBe(dim);
    expect(run.rows).toBe(texts.length);
    expect(run.wrong).toBe(0);
    expect(run.tokens).toBe(want);
    expect(run.info.device).toBe('webgpu');
    expect(run.info.reasons.join('\n')).toMatch(/inference made free/);
    // Laid out as a hardware GPU: packed for one, a batch counted as 1,024 padded tokens.
    expect(run.info.reasons.join('\n')).toMatch(/packing counts a batch as 1024 padded tokens/);
    // The GPU worker holds the next batch while one runs, unless told to take one at a time.
    if (run.layout.batchesInFlight === 1) expect(run.info.reasons.join('\n')).not.toMatch(/batches in flight/);
    else expect(run.info.reasons).toContain('2 batches in flight to bulk-embed-gpu: the next batch is prepared and waits in the worker while one runs');
  }
  // The default beside a GPU worker: the cores less one, at most 4 (one on this 2-core machine); 0 leaves the GPU worker alone.
  const tokenizers = Math.min(4, Math.max(0, cores - 1));
  expect(runs[0]!.started).toEqual(['bulk-embed-gpu', ...Array.from({ length: tokenizers }, (_, i) => `bulk-embed-tokenizer-${i}`)]);
  expect(runs[1]!.started).toEqual(['bulk-embed-gpu']);
  // Two tokenizer workers take the windows in pieces, as they finish them: every text still tokenized once.
  expect(runs[3]!.started).toEqual(['bulk-embed-gpu', 'bulk-embed-tokenizer-0', 'bulk-embed-tokenizer-1']);
});

test('free inference without cross-origin isolation: the same unit vectors, from arrays of their own', async ({ page }) => {
  // The free session shares one buffer of unit rows with the page only where the page is
  // cross-origin isolated (SharedArrayBuffer is not even defined here); here it makes a new array a batch.
  await page.goto('/?coi=0');
  await expect(page.locator('#status')).toHaveText('ready');
  const result = await page.evaluate(async ({ model, texts }) => {
    const g = globalThis as any;
    const e = await g.bulkEmbed.createEmbedder({ model, freeInference: true, tokenizerWorkers: 0 });
    const r = await e.embed(texts);
    let wrong = 0;
    for (let row = 0; row < r.data.length / r.dim; row++) {
      const v = r.data.subarray(row * r.dim, (row + 1) * r.dim);
      if (v[0] !== 1 || v.some((x: number, j: number) => j > 0 && x !== 0)) wrong++;
    }
    await e.dispose();
    return { isolated: globalThis.crossOriginIsolated, rows: r.data.length / r.dim, wrong };
  }, { model: `/models/${MODEL}`, texts });
  expect(result).toEqual({ isolated: false, rows: texts.length, wrong: 0 });
});
