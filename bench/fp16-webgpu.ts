// `npm run bench:fp16`: fp16 on real fp16 WebGPU kernels in Node (onnxruntime-node's Dawn device on
// Mesa's lavapipe, a CPU Vulkan driver with shader-f16: correctness and relative cost, not GPU
// speed). Side by side in one process, alternating, medians of RUNS runs on fixture-minilm:
//   engine fp16 (probe passed at load), engine fp32, and transformers.js fp16 on the same device.
// Each row's vectors are compared with CPU fp32 (min cosine per row).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.json';
if (!existsSync(LAVAPIPE)) {
  console.error(`${LAVAPIPE} is missing: run bash tools/ensure-lavapipe.sh (Debian 12, root) first.`);
  process.exit(1);
}
process.env.VK_ICD_FILENAMES = LAVAPIPE; // before Dawn starts

const { env, pipeline } = await import('@huggingface/transformers');
const { createEmbedder } = await import('../src/node.js');
const { mixedCorpus } = await import('../tools/fixtures/corpus.js');
const { measured, median, printTable, writeJson } = await import('./lib.js');
const { fromHalfBits } = await import('../src/util/half.js');

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MODEL = 'fixture-minilm';
const MODELS_DIR = resolve(import.meta.dirname, '..', 'models');
const texts = mixedCorpus(Number(process.env.BENCH_TEXTS ?? 100), 777);
env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

const reference = await createEmbedder({ model: join(MODELS_DIR, MODEL), device: 'cpu', dtype: 'fp32' });
const want = await reference.embed(texts);
await reference.dispose();

const half = await createEmbedder({ model: join(MODELS_DIR, MODEL), device: 'webgpu', dtype: 'fp16' });
const full = await createEmbedder({ model: join(MODELS_DIR, MODEL), device: 'webgpu', dtype: 'fp32' });
const extractor = await pipeline('feature-extraction', MODEL, { dtype: 'fp16', device: 'webgpu' });

const minCosine = (got: Float32Array, dim: number) => {
  let min = 1;
  for (let r = 0; r < texts.length; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      dot += got[j]! * want.data[j]!;
      na += got[j]! * got[j]!;
      nb += want.data[j]! * want.data[j]!;
    }
    min = Math.min(min, Number.isFinite(dot) ? dot / Math.sqrt(na * nb) : -1);
  }
  return min;
};

type Row = 'engine fp16' | 'engine fp32' | 'transformers.js fp16';
const runners: Record<Row, () => Promise<Float32Array>> = {
  'engine fp16': async () => (await half.embed(texts)).data,
  'engine fp32': async () => (await full.embed(texts)).data,
  // transformers.js's own way: one call per chunk of 32, in input order, pooled on the CPU.
  'transformers.js fp16': async () => {
    const out = new Float32Array(texts.length * want.dim);
    for (let i = 0; i < texts.length; i += 32) {
      const t = await extractor(texts.slice(i, i + 32), { pooling: 'mean', normalize: true });
      // An fp16 model gives a float16 tensor: its data are the half-precision bit patterns.
      out.set(t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, fromHalfBits) : (t.data as Float32Array), i * want.dim);
    }
    return out;
  },
};
const rows = Object.keys(runners) as Row[];
for (const row of rows) await runners[row](); // warm-up: kernels compile on first use
const samples = Object.fromEntries(rows.map((r) => [r, { seconds: [] as number[], cosine: 1 }])) as Record<Row, { seconds: number[]; cosine: number }>;
for (let run = 0; run < RUNS; run++) {
  for (const row of run % 2 ? [...rows].reverse() : rows) {
    const m = await measured(runners[row]);
    samples[row].seconds.push(m.seconds);
    samples[row].cosine = minCosine(m.value, want.dim);
    console.error(`run ${run + 1}/${RUNS} ${row}: ${m.seconds.toFixed(2)} s`);
  }
}
const summary = Object.fromEntries(rows.map((r) => {
  const seconds = median(samples[r].seconds);
  return [r, { medianSeconds: seconds, seconds: samples[r].seconds, textsPerSec: texts.length / seconds, minCosineToCpuFp32: samples[r].cosine }];
}));
const table = printTable(['engine', 'median s', 'texts/s', 'min cosine to CPU fp32'], rows.map((r) => [
  r, summary[r]!.medianSeconds.toFixed(2), summary[r]!.textsPerSec.toFixed(1), summary[r]!.minCosineToCpuFp32.toFixed(6),
]));
writeJson(resolve(import.meta.dirname, 'results', 'fp16-webgpu.json'), {
  model: MODEL, texts: texts.length, runs: RUNS, device: 'onnxruntime-node webgpu (Dawn) on Mesa lavapipe', node: process.version,
  date: new Date().toISOString(), fp16Reasons: half.info.reasons, rows: summary, table,
  notes: 'lavapipe is a CPU Vulkan driver: these figures show fp16 correctness and the probe, not GPU speed.',
});
await Promise.all([half.dispose(), full.dispose()]);
