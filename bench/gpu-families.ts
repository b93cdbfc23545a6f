// The model families on a real GPU: each fixture family embedded on the WebGPU device (Dawn on the
// machine's Vulkan driver) in fp16 (where the probe at load accepts it; fp32 where not) and in fp32,
// its vectors compared with CPU fp32 row by row. The fp16 tests in `npm test` prove the same on
// Mesa's lavapipe; this is the check that the kernels of a real driver agree (run by the GPU kit).
// Settings (environment): GPU_FAMILIES_MODELS_DIR (model folders, default models/), GPU_FAMILIES_OUT
// (folder for families.json and families.md), GPU_FAMILIES_MODELS (presets, default every family and
// the fp16 overflow fixtures), GPU_FAMILIES_TEXTS (texts compared, default 512).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createEmbedder, type NodeEmbedder, type NodeEmbedderOptions } from '../src/node.js';
import { mixedCorpus } from '../tools/fixtures/corpus.js';
import { printTable, writeJson } from './lib.js';

const env = process.env;
const MODELS_DIR = resolve(env.GPU_FAMILIES_MODELS_DIR ?? join(import.meta.dirname, '..', 'models'));
const OUT = resolve(env.GPU_FAMILIES_OUT ?? join(import.meta.dirname, 'results', 'gpu-run'));
const FAMILY_MODELS = [
  'fixture-minilm', 'fixture-xlmr', 'fixture-modernbert', 'fixture-gemma-encoder', 'fixture-decoder',
  'fixture-st-cls', 'fixture-fp16-overflow-long', 'fixture-fp16-overflow-word',
];
const MODELS = (env.GPU_FAMILIES_MODELS ?? FAMILY_MODELS.join(',')).split(',').filter(Boolean);
const TEXTS = Number(env.GPU_FAMILIES_TEXTS ?? 512);

/** Min and mean cosine of matching rows of two row-major blocks. */
function rowCosines(a: Float32Array, b: Float32Array, dim: number): { min: number; mean: number; nonFinite: number } {
  let min = 1, sum = 0, nonFinite = 0;
  const rows = a.length / dim;
  for (let r = 0; r < rows; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      if (!Number.isFinite(a[i]!)) nonFinite++;
      dot += a[i]! * b[i]!; na += a[i]! * a[i]!; nb += b[i]! * b[i]!;
    }
    const c = dot / Math.sqrt(na * nb);
    min = Math.min(min, Number.isFinite(c) ? c : -1);
    sum += c;
  }
  return { min, mean: sum / rows, nonFinite };
}

/** The texts for a model: mixed lengths, long repeats (late-position overflow), and its trigger word where it has one. */
function textsFor(model: string): string[] {
  let trigger: string | undefined;
  try {
    trigger = JSON.parse(readFileSync(join(MODELS_DIR, model, 'fixture.json'), 'utf8')).triggerWord;
  } catch { /* not every fixture has one */ }
  return mixedCorpus(TEXTS, 2026).map((t, i) => (i % 7 === 3 ? `${t} `.repeat(10) : trigger && i % 97 === 13 ? `${t} ${trigger} ${t}` : t));
}

interface Row {
  model: string; setting: string; device: string; dtype: string; minCosine: number; meanCosine: number;
  nonFinite: number; exactReruns: number; tokensPerSecond: number; reasons: string[]; error?: string;
}
const rows: Row[] = [];
const SETTINGS: Record<string, Partial<NodeEmbedderOptions>> = {
  // In Node fp16 is asked for (the default there is fp32); the probe at load may still refuse it.
  'webgpu fp16': { device: 'webgpu', dtype: 'fp16' },
  'webgpu fp32': { device: 'webgpu', dtype: 'fp32' },
};

const failedRow = (model: string, setting: string, error: unknown): Row => ({
  model, setting, device: '', dtype: '', minCosine: NaN, meanCosine: NaN, nonFinite: 0, exactReruns: 0, tokensPerSecond: 0, reasons: [], error: String(error),
});

for (const model of MODELS) {
  const texts = textsFor(model);
  const dir = join(MODELS_DIR, model);
  let want: Float32Array;
  try {
    const reference = await createEmbedder({ model: dir, device: 'cpu', dtype: 'fp32' });
    try {
      want = (await reference.embed(texts)).data;
    } finally {
      await reference.dispose();
    }
  } catch (error) {
    rows.push(failedRow(model, 'cpu fp32 (the reference)', error));
    console.error(`${model}: the CPU reference failed: ${String(error)}`);
    continue;
  }
  for (const [setting, options] of Object.entries(SETTINGS)) {
    let e: NodeEmbedder | undefined;
    try {
      e = await createEmbedder({ model: dir, ...options });
      await e.embed(texts.slice(0, 32)); // warm-up: shaders compiled before the timed pass
      const tokensBefore = e.stats.tokens;
      const started = performance.now();
      const got = await e.embed(texts);
      const seconds = (performance.now() - started) / 1000;
      const c = rowCosines(got.data, want, got.dim);
      rows.push({
        model, setting, device: e.info.device, dtype: e.info.dtype, minCosine: c.min, meanCosine: c.mean, nonFinite: c.nonFinite,
        exactReruns: e.stats.exactReruns, tokensPerSecond: (e.stats.tokens - tokensBefore) / seconds, reasons: e.info.reasons,
      });
    } catch (error) {
      rows.push(failedRow(model, setting, error));
    } finally {
      // A failed row's sessions must not stay on the device for the models after it.
      await e?.dispose().catch(() => undefined);
    }
    const r = rows.at(-1)!;
    console.error(`${model} ${setting}: ${r.error ?? `${r.device} ${r.dtype}, min cosine ${r.minCosine.toFixed(6)}, ${Math.round(r.tokensPerSecond)} tokens/s`}`);
  }
}

const table = printTable(
  ['model', 'setting', 'ran as', 'min cosine to CPU fp32', 'mean cosine', 'non-finite values', 'batches re-run in fp32', 'tokens/s', 'error'],
  rows.map((r) => [r.model, r.setting, r.device && `${r.device} ${r.dtype}`, r.minCosine.toFixed(6), r.meanCosine.toFixed(6), r.nonFinite, r.exactReruns, Math.round(r.tokensPerSecond), r.error ?? '']),
);
writeJson(join(OUT, 'families.json'), { texts: TEXTS, rows });
writeFileSync(join(OUT, 'families.md'), `# Model families on the GPU against CPU fp32 (${TEXTS} texts each)\n\n${table}\n`);
