// `npm run bench`: this engine vs the transformers.js pipeline vs the raw onnxruntime-node
// ceiling, side by side in one process, alternating, after warm-up; medians of RUNS runs.
//   (a) engine:   createEmbedder(...).embed(corpus)
//   (b) tjs:      pipeline('feature-extraction') on input-order chunks of 32, mean + normalize
//   (c) ceiling:  session.run of the unpooled model on pre-tokenized, length-sorted,
//                 token-budget batches, tensors built beforehand: only the runs are timed.
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoModel, AutoTokenizer, pipeline } from '@huggingface/transformers';
import { DEFAULT_MAX_BATCH_TOKENS } from '../src/engine/load.js';
import { createEmbedder } from '../src/node.js';
import { mixedCorpus, uniformCorpus } from '../tools/fixtures/corpus.js';
import { FAMILY_PRESETS, type FamilyPreset } from '../tools/fixtures/families.js';
import { measured, median, printTable, writeJson } from './lib.js';
import { alternate, cpuSessionOptions, engineRunner, loadCpuPeers, prepareCeiling as prepareCeilingRuns, transformersJsRunner } from './shared.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Which parts to run (default all): BENCH_PARTS=mixed,uniform,q8,families. */
const ALL_PARTS = ['mixed', 'uniform', 'q8', 'families'];
const PARTS = new Set((process.env.BENCH_PARTS ?? ALL_PARTS.join(',')).split(','));
const MODEL = 'fixture-minilm';
const MODELS_DIR = resolve(import.meta.dirname, '..', 'models');
const THREADS = availableParallelism();
// The same settings for all three engines (ONNX Runtime's CPU arena on, its default).
const SESSION_OPTIONS = cpuSessionOptions(THREADS);

const { engine, extractor, tokenizer, session: rawSession, maxTokens } = await loadCpuPeers(MODELS_DIR, MODEL, SESSION_OPTIONS);

const engineRun = engineRunner(engine);
const tjsRun = transformersJsRunner(extractor, tokenizer, maxTokens);
const prepareCeiling = (texts: string[]) => prepareCeilingRuns(rawSession, tokenizer, maxTokens, texts);

type Engine = 'engine' | 'transformersJs' | 'ceiling';
const corpora = { mixed: mixedCorpus(), uniform: uniformCorpus() };
const results: Record<string, unknown> = {};
const tableRows: (string | number)[][] = [];

for (const [name, texts] of Object.entries(corpora)) {
  if (!PARTS.has(name)) continue;
  const ceilingRun = prepareCeiling(texts);
  const runners: Record<Engine, () => Promise<{ tokens: number; padding: number }>> = {
    engine: () => engineRun(texts),
    transformersJs: () => tjsRun(texts),
    ceiling: ceilingRun,
  };
  // Warm-up: every engine once on a slice that covers short and long shapes.
  const warm = texts.slice(0, 96);
  await engineRun(warm);
  await tjsRun(warm);
  await prepareCeiling(warm)();

  // Alternating order each run (engine, tjs, ceiling; then the reverse).
  const sampled = await alternate(runners, RUNS, `${name} `);
  const samples = Object.fromEntries(Object.entries(sampled).map(([k, v]) => [
    k,
    { seconds: v.seconds, rss: v.rss, tokens: v.last.tokens, padding: v.last.padding },
  ])) as Record<Engine, { seconds: number[]; rss: number[]; tokens: number; padding: number }>;
  const summary = Object.fromEntries(Object.entries(samples).map(([which, s]) => {
    const seconds = median(s.seconds);
    return [which, {
      medianSeconds: seconds, seconds: s.seconds, textsPerSec: texts.length / seconds, tokensPerSec: s.tokens / seconds,
      realTokens: s.tokens, paddingTokens: s.padding, paddingFraction: s.padding / (s.tokens + s.padding), peakRssMb: Math.max(...s.rss),
    }];
  })) as unknown as Record<Engine, { textsPerSec: number; tokensPerSec: number; paddingFraction: number; peakRssMb: number; medianSeconds: number }>;
  const ratioVsTransformersJs = summary.engine.textsPerSec / summary.transformersJs.textsPerSec;
  const efficiencyVsCeiling = summary.engine.textsPerSec / summary.ceiling.textsPerSec;
  results[name] = { texts: texts.length, ...summary, ratioVsTransformersJs, efficiencyVsCeiling };
  for (const which of ['engine', 'transformersJs', 'ceiling'] as Engine[]) {
    const s = summary[which];
    tableRows.push([name, which, s.medianSeconds.toFixed(2), s.textsPerSec.toFixed(1), s.tokensPerSec.toFixed(0), `${(100 * s.paddingFraction).toFixed(1)}%`, s.peakRssMb.toFixed(0),
      which === 'engine' ? `${ratioVsTransformersJs.toFixed(2)}x tjs, ${(100 * efficiencyVsCeiling).toFixed(1)}% of ceiling` : '']);
  }
}

// q8: this engine and transformers.js, both on the same model_quantized.onnx (ONNX Runtime's
// dynamic quantization), on the mixed corpus; each row's vectors compared with this engine's fp32.
if (PARTS.has('q8')) {
  const QUANTIZED = 'fixture-minilm-quantized';
  const texts = corpora.mixed;
  const engineQ8 = await createEmbedder({ model: join(MODELS_DIR, QUANTIZED), device: 'cpu', dtype: 'q8', sessionOptions: SESSION_OPTIONS });
  const extractorQ8 = await pipeline('feature-extraction', QUANTIZED, { dtype: 'q8', device: 'cpu', session_options: SESSION_OPTIONS });
  const fp32 = (await engine.embed(texts)).data;
  const minCosine = (got: Float32Array) => {
    let min = 1;
    for (let r = 0; r < texts.length; r++) {
      let dot = 0;
      for (let j = r * engine.info.dim; j < (r + 1) * engine.info.dim; j++) dot += got[j]! * fp32[j]!;
      min = Math.min(min, dot);
    }
    return min;
  };
  const runners = {
    engine: async () => (await engineQ8.embed(texts)).data,
    transformersJs: async () => {
      const out = new Float32Array(texts.length * engine.info.dim);
      for (let i = 0; i < texts.length; i += 32) out.set((await extractorQ8(texts.slice(i, i + 32), { pooling: 'mean', normalize: true })).data as Float32Array, i * engine.info.dim);
      return out;
    },
  };
  await engineQ8.embed(texts.slice(0, 96));
  await extractorQ8(texts.slice(0, 32), { pooling: 'mean', normalize: true });
  const samples = {
    engine: { seconds: [] as number[], rss: [] as number[], cosine: 1 },
    transformersJs: { seconds: [] as number[], rss: [] as number[], cosine: 1 },
  };
  for (let run = 0; run < RUNS; run++) {
    for (const which of (run % 2 ? ['transformersJs', 'engine'] : ['engine', 'transformersJs']) as ('engine' | 'transformersJs')[]) {
      const m = await measured(runners[which]);
      samples[which].seconds.push(m.seconds);
      samples[which].rss.push(m.peakRssMb);
      samples[which].cosine = minCosine(m.value);
      console.error(`mixed q8 run ${run + 1}/${RUNS} ${which}: ${m.seconds.toFixed(2)} s`);
    }
  }
  const q8 = Object.fromEntries((['engine', 'transformersJs'] as const).map((which) => {
    const seconds = median(samples[which].seconds);
    return [which, {
      medianSeconds: seconds,
      seconds: samples[which].seconds,
      textsPerSec: texts.length / seconds,
      peakRssMb: Math.max(...samples[which].rss),
      minCosineToFp32: samples[which].cosine,
    }];
  })) as unknown as Record<'engine' | 'transformersJs', { medianSeconds: number; textsPerSec: number; peakRssMb: number; minCosineToFp32: number }>;
  const ratio = q8.engine.textsPerSec / q8.transformersJs.textsPerSec;
  results['mixed-q8'] = { texts: texts.length, model: QUANTIZED, ...q8, ratioVsTransformersJs: ratio };
  for (const which of ['engine', 'transformersJs'] as const) {
    tableRows.push(['mixed q8', which, q8[which].medianSeconds.toFixed(2), q8[which].textsPerSec.toFixed(1), '', '', q8[which].peakRssMb.toFixed(0),
      `${which === 'engine' ? `${ratio.toFixed(2)}x tjs, ` : ''}min cosine to fp32 ${q8[which].minCosineToFp32.toFixed(5)}`]);
  }
  await engineQ8.dispose();
}

// One row per model family: this engine and transformers.js on the family fixture, mixed corpus,
// transformers.js in input-order chunks of 32 with the family's pooling (the Gemma encoder: its
// sentence_embedding output through AutoModel, as its model card shows).
if (PARTS.has('families')) {
  const texts = corpora.mixed;
  const tjsPooling = { xlmr: 'mean', modernbert: 'cls', decoder: 'last_token' } as const;
  const tjsFamily = async (preset: FamilyPreset) => {
    if (preset.family === 'gemma') {
      const tok = await AutoTokenizer.from_pretrained(preset.name);
      const model = await AutoModel.from_pretrained(preset.name, { dtype: 'fp32', device: 'cpu', session_options: SESSION_OPTIONS });
      return {
        dispose: () => model.dispose(),
        run: async (chunk: string[]) => (await model(tok(chunk, { padding: true, truncation: true }))).sentence_embedding.data as Float32Array,
      };
    }
    const fx = await pipeline('feature-extraction', preset.name, { dtype: 'fp32', device: 'cpu', session_options: SESSION_OPTIONS });
    const pooling = tjsPooling[preset.family as keyof typeof tjsPooling];
    return {
      dispose: () => fx.dispose(),
      run: async (chunk: string[]) => (await fx(chunk, { pooling, normalize: true })).data as Float32Array,
    };
  };
  const familyResults: Record<string, unknown> = {};
  for (const preset of FAMILY_PRESETS) {
    const mine = await createEmbedder({ model: join(MODELS_DIR, preset.name), device: 'cpu', dtype: 'fp32', sessionOptions: SESSION_OPTIONS });
    const peer = await tjsFamily(preset);
    const dim = mine.info.dim;
    const runners = {
      engine: async () => (await mine.embed(texts)).data,
      transformersJs: async () => {
        const out = new Float32Array(texts.length * dim);
        for (let i = 0; i < texts.length; i += 32) out.set(await peer.run(texts.slice(i, i + 32)), i * dim);
        return out;
      },
    };
    await mine.embed(texts.slice(0, 96));
    await peer.run(texts.slice(0, 32));
    const samples = {
      engine: { seconds: [] as number[], rss: [] as number[], out: new Float32Array() as Float32Array },
      transformersJs: { seconds: [] as number[], rss: [] as number[], out: new Float32Array() as Float32Array },
    };
    const before = mine.stats;
    for (let run = 0; run < RUNS; run++) {
      for (const which of (run % 2 ? ['transformersJs', 'engine'] : ['engine', 'transformersJs']) as ('engine' | 'transformersJs')[]) {
        const m = await measured(runners[which]);
        samples[which].seconds.push(m.seconds);
        samples[which].rss.push(m.peakRssMb);
        samples[which].out = m.value;
        console.error(`${preset.name} run ${run + 1}/${RUNS} ${which}: ${m.seconds.toFixed(2)} s`);
      }
    }
    let minCosine = 1;
    for (let r = 0; r < texts.length; r++) {
      let dot = 0;
      for (let j = r * dim; j < (r + 1) * dim; j++) dot += samples.engine.out[j]! * samples.transformersJs.out[j]!;
      minCosine = Math.min(minCosine, dot);
    }
    const after = mine.stats;
    const padding = (after.paddingTokens - before.paddingTokens) / (after.tokens - before.tokens + after.paddingTokens - before.paddingTokens);
    const summary = Object.fromEntries((['engine', 'transformersJs'] as const).map((which) => {
      const seconds = median(samples[which].seconds);
      return [which, {
        medianSeconds: seconds,
        seconds: samples[which].seconds,
        textsPerSec: texts.length / seconds,
        peakRssMb: Math.max(...samples[which].rss),
      }];
    })) as unknown as Record<'engine' | 'transformersJs', { medianSeconds: number; textsPerSec: number; peakRssMb: number }>;
    const ratio = summary.engine.textsPerSec / summary.transformersJs.textsPerSec;
    familyResults[preset.name] = {
      family: preset.family,
      standsInFor: preset.example,
      modelType: mine.info.modelType,
      pooling: mine.info.pooling,
      ...summary,
      enginePaddingFraction: padding,
      minCosineEngineToTransformersJs: minCosine,
      ratioVsTransformersJs: ratio,
    };
    for (const which of ['engine', 'transformersJs'] as const) {
      tableRows.push([`mixed ${preset.name}`, which, summary[which].medianSeconds.toFixed(2), summary[which].textsPerSec.toFixed(1), '', which === 'engine' ? `${(100 * padding).toFixed(1)}%` : '', summary[which].peakRssMb.toFixed(0),
        which === 'engine' ? `${ratio.toFixed(2)}x tjs, min cosine ${minCosine.toFixed(6)}` : '']);
    }
    await mine.dispose();
    await peer.dispose();
  }
  results.families = { texts: texts.length, ...familyResults };
}

const table = printTable(['corpus', 'engine', 'median s', 'texts/s', 'tokens/s', 'padding', 'peak RSS MB', 'ratio'], tableRows);
const partial = ALL_PARTS.some((p) => !PARTS.has(p));
writeJson(resolve(import.meta.dirname, 'results', partial ? `node-cpu-${[...PARTS].join('-')}.json` : 'node-cpu.json'), {
  model: MODEL, runs: RUNS, threads: THREADS, maxBatchTokens: DEFAULT_MAX_BATCH_TOKENS, sessionOptions: SESSION_OPTIONS,
  node: process.version, date: new Date().toISOString(), corpora: results, table,
  notes: 'tokensPerSec counts real (unpadded) tokens for every engine. peakRssMb is the process RSS sampled while that engine ran (all three are loaded in the same process).',
});
await engine.dispose();
