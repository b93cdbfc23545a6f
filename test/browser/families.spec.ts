// The model families in the browser: each family fixture on WASM and on WebGPU (SwiftShader) gives
// Node's vectors. Rows are cut at 256 tokens on both sides, and WebGPU embeds 8 of the 30 mixed
// texts, so that SwiftShader (a CPU) stays quick; Node checks each family at its full length
// (test/engine/families.test.ts).
import { expect, test } from '@playwright/test';
import { createEmbedder as createNodeEmbedder } from '../../src/node.js';
import { mixedCorpus, textGenerator } from '../../tools/fixtures/corpus.js';
import { FAMILY_PRESETS } from '../../tools/fixtures/families.js';
import { minRowCosine } from '../helpers/models.js';

const MAX_TOKENS = 256;
const extremes = [textGenerator(809).text(700), 'Zürich und Москва, 東京 2025.', 'A'];
const textsOn = { wasm: [...mixedCorpus(30, 808), ...extremes], webgpu: [...mixedCorpus(8, 808), ...extremes] };

for (const preset of FAMILY_PRESETS) {
  const node = async (texts: string[]) => {
    const e = await createNodeEmbedder({ model: `models/${preset.name}`, dtype: 'fp32', maxTokens: MAX_TOKENS });
    const reference = (await e.embed(texts)).data;
    await e.dispose();
    return reference;
  };
  for (const device of ['wasm', 'webgpu'] as const) {
    test(`${preset.name} on ${device}: Node's vectors (min cosine >= 0.9999)`, async ({ page }) => {
      test.setTimeout(180_000);
      page.on('pageerror', (e) => console.log('page error:', e.message));
      await page.goto('/');
      await expect(page.locator('#status')).toHaveText('ready');
      const out = await page.evaluate(async ({ texts, model, device, maxTokens }) => {
        const { createEmbedder } = (globalThis as any).bulkEmbed;
        const e = await createEmbedder({ model, device, dtype: 'fp32', maxTokens, workers: 1 });
        const r = await e.embed(texts);
        const result = { info: e.info, truncated: e.stats.truncatedTexts, data: Array.from(r.data as Float32Array) };
        await e.dispose();
        return result;
      }, { texts: textsOn[device], model: `/models/${preset.name}`, device, maxTokens: MAX_TOKENS });
      expect(out.data.length).toBe(textsOn[device].length * preset.dims.hidden);
      const min = minRowCosine(out.data, await node(textsOn[device]), preset.dims.hidden);
      console.log(`${preset.name} on ${device} (${out.info.device}, ${out.info.dtype}, pooling ${out.info.pooling}): min cosine to Node ${min.toFixed(6)}`);
      expect(out.info.device).toBe(device);
      expect(out.truncated).toBeGreaterThanOrEqual(1);
      expect(min).toBeGreaterThanOrEqual(0.9999);
    });
  }
}
