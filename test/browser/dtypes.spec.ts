// Quantized weights in the browser: the q8 and q4 files of fixture-minilm-quantized load on WASM and
// on WebGPU (SwiftShader) and give vectors close to Node's fp32; 'auto' on WASM picks q8 as
// transformers.js does, and says why.
import { expect, test } from '@playwright/test';
import { createEmbedder as createNodeEmbedder } from '../../src/node.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { minRowCosine } from '../helpers/models.js';

const texts = mixedCorpus(16, 555).map((t) => t.slice(0, 200));
// SwiftShader runs WebGPU on the CPU (seconds per MiniLM-sized batch): WebGPU rows embed the first 3.
const textsOn = (device: 'wasm' | 'webgpu') => (device === 'webgpu' ? texts.slice(0, 3) : texts);
const MODEL = 'fixture-minilm-quantized';

let reference: Float32Array | null = null;
async function fp32() {
  if (!reference) {
    const e = await createNodeEmbedder({ model: `models/${MODEL}`, dtype: 'fp32' });
    reference = (await e.embed(texts)).data;
    await e.dispose();
  }
  return reference;
}

for (const [device, dtype, floor] of [['wasm', 'q8', 0.999], ['wasm', 'q4', 0.98], ['webgpu', 'q8', 0.999], ['webgpu', 'q4', 0.98], ['wasm', 'auto', 0.999]] as const) {
  test(`${dtype} on ${device}: close to fp32 (min cosine >= ${floor})`, async ({ page }) => {
    page.on('pageerror', (e) => console.log('page error:', e.message));
    await page.goto('/');
    await expect(page.locator('#status')).toHaveText('ready');
    const out = await page.evaluate(async ({ texts, model, device, dtype }) => {
      const { createEmbedder } = (globalThis as any).bulkEmbed;
      const e = await createEmbedder({ model, device, dtype, workers: 1 });
      const r = await e.embed(texts);
      const result = { info: e.info, data: Array.from(r.data as Float32Array) };
      await e.dispose();
      return result;
    }, { texts: textsOn(device), model: `/models/${MODEL}`, device, dtype });
    expect(out.data.length).toBe(textsOn(device).length * 384);
    const min = minRowCosine(out.data, (await fp32()).subarray(0, out.data.length), 384);
    console.log(`${dtype} on ${device} (${out.info.dtype}): min cosine to Node fp32 ${min.toFixed(5)}`);
    expect(out.info.dtype).toBe(dtype === 'auto' ? 'q8' : dtype);
    if (dtype === 'auto') expect(out.info.reasons).toContain('dtype auto on wasm: q8 (the model has onnx/model_quantized.onnx; transformers.js picks it on WASM too)');
    expect(min).toBeGreaterThanOrEqual(floor);
  });
}

for (const device of ['wasm', 'webgpu'] as const) {
  test(`external data (two .onnx_data files) on ${device}: the vectors of the same weights in one file`, async ({ page }) => {
    await page.goto('/');
    await expect(page.locator('#status')).toHaveText('ready');
    const out = await page.evaluate(async ({ texts, device }) => {
      const { createEmbedder } = (globalThis as any).bulkEmbed;
      const e = await createEmbedder({ model: '/models/fixture-minilm-external', device, workers: 1 });
      const r = await e.embed(texts);
      await e.dispose();
      return Array.from(r.data as Float32Array);
    }, { texts: textsOn(device), device });
    const node = await createNodeEmbedder({ model: 'models/fixture-minilm', dtype: 'fp32' });
    const want = (await node.embed(textsOn(device))).data;
    await node.dispose();
    expect(out.length).toBe(want.length);
    expect(minRowCosine(out, want, 384)).toBeGreaterThanOrEqual(0.9999);
  });
}
