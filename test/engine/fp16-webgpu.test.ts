// fp16 on real fp16 kernels: onnxruntime-node's WebGPU device (Dawn) on Mesa 25's lavapipe, which
// has shader-f16 (tools/ensure-lavapipe.sh installs it; CI always does, so there it must be found).
// The probe at load accepts a sound fp16 model and refuses one that overflows late in long texts;
// a batch that overflows at run time is re-run in fp32. No vector comes back NaN.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbedder, type NodeEmbedder } from '../../src/node.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { cosine, modelDir } from '../helpers/models.js';

const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.json';
const available = existsSync(LAVAPIPE);
// Read by the Vulkan loader when Dawn starts, which is at the first WebGPU session of this process.
if (available) process.env.VK_ICD_FILENAMES = LAVAPIPE;

const rowCosines = (a: Float32Array, b: Float32Array, dim: number) =>
  Array.from({ length: a.length / dim }, (_, r) => cosine(a.subarray(r * dim, (r + 1) * dim), b.subarray(r * dim, (r + 1) * dim)));

it('Mesa lavapipe is installed where the fp16 tests must run (CI)', () => {
  if (!available) console.warn(`${LAVAPIPE} missing: the fp16 WebGPU tests are skipped (bash tools/ensure-lavapipe.sh installs it)`);
  expect(available || process.env.CI !== 'true').toBe(true);
});

describe.runIf(available)('fp16 on the WebGPU device (lavapipe)', () => {
  const embedders: NodeEmbedder[] = [];
  const load = async (name: string, device: 'webgpu' | 'cpu', dtype: 'fp16' | 'fp32', maxTokens?: number) => {
    const e = await createEmbedder({ model: modelDir(name), device, dtype, maxTokens });
    embedders.push(e);
    return e;
  };
  afterAll(() => Promise.all(embedders.map((e) => e.dispose())));

  it('fixture-minilm fp16 passes the probe and matches CPU fp32, cosine >= 0.999 per row', async () => {
    // 8 of the 48 texts (lavapipe takes about a second a text): the 400-word one (cut at 512 tokens),
    // one of 200 words and six of 24 to 62, in padded batches; the 48's lowest row cosine was
    // 0.999994, far above the bar.
    const corpus = mixedCorpus(48, 16);
    const texts = [...corpus.slice(12, 19), corpus[25]!];
    const half = await load('fixture-minilm', 'webgpu', 'fp16');
    expect(half.info).toMatchObject({ device: 'webgpu', dtype: 'fp16' });
    expect(half.info.reasons.join(' ')).toMatch(/fp16 accepted: probe batch \(4 texts up to 512 tokens\) cosine 0\.99\d+ >= 0\.999/);
    const full = await load('fixture-minilm', 'cpu', 'fp32');
    const [a, b] = [await half.embed(texts), await full.embed(texts)];
    const cosines = rowCosines(a.data, b.data, a.dim);
    console.log(`fixture-minilm fp16 on lavapipe against CPU fp32: min cosine ${Math.min(...cosines).toFixed(6)} over ${texts.length} texts`);
    expect(Math.min(...cosines)).toBeGreaterThanOrEqual(0.999);
    expect(half.stats.exactReruns).toBe(0);
  });

  it('a model whose fp16 activations overflow late in long texts is refused at load, and runs in fp32', async () => {
    const e = await load('fixture-fp16-overflow-long', 'webgpu', 'fp16');
    expect(e.info.dtype).toBe('fp32');
    expect(e.info.reasons).toContain('fp16 refused: the probe batch (4 texts up to 128 tokens) gave NaN or Inf (fp16 overflow); using fp32');
    const texts = mixedCorpus(20, 5).map((t, i) => (i % 2 ? `${t} `.repeat(12) : t));
    const [a, b] = [await e.embed(texts), await (await load('fixture-fp16-overflow-long', 'cpu', 'fp32')).embed(texts)];
    expect(a.data.every(Number.isFinite)).toBe(true);
    expect(Math.min(...rowCosines(a.data, b.data, a.dim))).toBeGreaterThanOrEqual(0.9999);
  });

  it('a batch that overflows in fp16 at run time is re-run in fp32: every vector finite and right', async () => {
    const { triggerWord } = JSON.parse(readFileSync(`${modelDir('fixture-fp16-overflow-word')}/fixture.json`, 'utf8'));
    const e = await load('fixture-fp16-overflow-word', 'webgpu', 'fp16');
    expect(e.info.dtype).toBe('fp16'); // the probe texts do not contain the word
    const texts = mixedCorpus(40, 8).map((t, i) => (i === 13 ? `${t} ${triggerWord} ${t}` : t));
    const [a, b] = [await e.embed(texts), await (await load('fixture-fp16-overflow-word', 'cpu', 'fp32')).embed(texts)];
    expect(e.stats.exactReruns).toBeGreaterThanOrEqual(1);
    expect(e.info.reasons.join(' ')).toMatch(/gave a NaN, Inf or off-unit vector in reduced precision; it ran again in fp32/);
    expect(a.data.every(Number.isFinite)).toBe(true);
    expect(Math.min(...rowCosines(a.data, b.data, a.dim))).toBeGreaterThanOrEqual(0.999);
  });

  it('fixture-gemma-encoder overflows in fp16 as EmbeddingGemma does: refused at load, with the reason, and right in fp32', async () => {
    const e = await load('fixture-gemma-encoder', 'webgpu', 'fp16', 512); // every token overflows: a shorter probe shows it
    expect(e.info.dtype).toBe('fp32');
    expect(e.info.reasons.join(' ')).toMatch(/fp16 refused: the probe batch \(4 texts up to 512 tokens\) gave NaN or Inf \(fp16 overflow\); using fp32/);
    const texts = mixedCorpus(16, 9);
    const [a, b] = [await e.embed(texts), await (await load('fixture-gemma-encoder', 'cpu', 'fp32', 512)).embed(texts)];
    expect(a.data.every(Number.isFinite)).toBe(true);
    expect(Math.min(...rowCosines(a.data, b.data, a.dim))).toBeGreaterThanOrEqual(0.9999);
  });

  it('fixture-decoder (position ids, empty fp16 caches) passes the probe and matches CPU fp32', async () => {
    const half = await load('fixture-decoder', 'webgpu', 'fp16');
    expect(half.info.dtype).toBe('fp16');
    const texts = mixedCorpus(16, 10);
    const [a, b] = [await half.embed(texts), await (await load('fixture-decoder', 'cpu', 'fp32')).embed(texts)];
    expect(Math.min(...rowCosines(a.data, b.data, a.dim))).toBeGreaterThanOrEqual(0.999);
  });
});
