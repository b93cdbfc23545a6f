// `npm run bench:gpu`, and the benchmark the GPU kit runs (`npm run gpu:kit`, then `bash run.sh`
// on the GPU machine): this engine on WebGPU (onnxruntime-node's Dawn, on whatever Vulkan driver
// VK_ICD_FILENAMES names) in fp16 and fp32, at several token budgets, on a mixed corpus and on
// texts of exactly 128 tokens; beside each, the raw ceiling: the same pooled session's
// `session.run` over the same batches with every tensor built beforehand, only the runs timed.
// GPU utilisation and memory are sampled with nvidia-smi where it exists.
//
// The device machine is lent for minutes, so every row is sized in time, not in texts: a warm-up
// on a slice (kernels compile per shape) measures the rate, the measured runs take about
// GPU_BENCH_RUN_SECONDS each, and rows are run in order of importance until GPU_BENCH_SECONDS
// are spent. The JSON is rewritten after every row, so a run cut short still reports.
//
// Settings (environment): GPU_BENCH_MODELS_DIR (model folders), GPU_BENCH_OUT (folder for
// gpu.json and gpu.md), GPU_BENCH_MODELS (default fixture-minilm,fixture-bert-base),
// GPU_BENCH_TEXTS (corpus size, default 20000), GPU_BENCH_SECONDS (default 300),
// GPU_BENCH_RUN_SECONDS (default 6), GPU_BENCH_RUNS (measured runs a row, default 2), GPU_BENCH_WARMUP
// (texts in the warm-up slice, default 1000), GPU_BENCH_VARIANTS (engine settings compared, default all),
// GPU_BENCH_CHECK_TEXTS (texts each variant's vectors are compared on, default 256),
// GPU_BENCH_BUDGETS (default 8192,32768), GPU_BENCH_DTYPES (default fp16,fp32), GPU_BENCH_CORPUS_NAMES
// (default "mixed,128 tokens"), GPU_BENCH_CORPORA (a path: writes the texts there as JSON for bench/gpu_st.py),
// GPU_BENCH_CPU_PROFILE (a folder: a V8 CPU profile of the main thread over each row's measured engine runs).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Session as InspectorSession } from 'node:inspector/promises';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createEmbedder, nodeBackend, nodeFileAccess, type NodeEmbedder, type NodeEmbedderOptions } from '../src/node.js';
import { resolveModelFiles } from '../src/model/files.js';
import { loadTokenizer } from '../src/tokenize/tokenizer.js';
import { packSorted, sortByLengthDescending } from '../src/batch/pack.js';
import { batchOverheadTokens, DEFAULT_LOOKAHEAD, MAX_BATCH_SIZE, rampWindows } from '../src/engine/engine.js';
import { prepareBatch, type EncoderSession, type PreparedBatch } from '../src/run/session.js';
import type { InferenceBackend } from '../src/engine/load.js';
import { mixedCorpus, textGenerator } from '../tools/fixtures/corpus.js';
import { median, printTable } from './lib.js';

const env = process.env;
const MODELS_DIR = resolve(env.GPU_BENCH_MODELS_DIR ?? join(import.meta.dirname, '..', 'models'));
const OUT = resolve(env.GPU_BENCH_OUT ?? join(import.meta.dirname, 'results', 'gpu-run'));
const MODELS = (env.GPU_BENCH_MODELS ?? 'fixture-minilm,fixture-bert-base').split(',').filter(Boolean);
const TEXTS = Number(env.GPU_BENCH_TEXTS ?? 20000);
const SECONDS = Number(env.GPU_BENCH_SECONDS ?? 300);
const RUN_SECONDS = Number(env.GPU_BENCH_RUN_SECONDS ?? 6);
const RUNS = Number(env.GPU_BENCH_RUNS ?? 2);
const BUDGETS = (env.GPU_BENCH_BUDGETS ?? '8192,32768').split(',').map(Number);
const DTYPES = (env.GPU_BENCH_DTYPES ?? 'fp16,fp32').split(',') as ('fp16' | 'fp32')[];
const WARMUP_TEXTS = Number(env.GPU_BENCH_WARMUP ?? 1000);
const CORPUS_NAMES = (env.GPU_BENCH_CORPUS_NAMES ?? 'mixed,128 tokens').split(',');
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;

/** Dense shader-ALU and tensor-core peaks (TFLOP/s) of cards the kit may meet, from NVIDIA's data sheets. */
const PEAKS: { match: RegExp; fp32: number; fp16: number; fp16Tensor: number }[] = [
  // H100 SXM and H200 share the GH100 compute: 67 fp32, 134 fp16 (non-tensor), 989 fp16 tensor (dense).
  { match: /H200|H100 80GB HBM3|H100 SXM/i, fp32: 67, fp16: 134, fp16Tensor: 989 },
  { match: /H100/i, fp32: 51, fp16: 102, fp16Tensor: 756 }, // H100 PCIe
  { match: /A100/i, fp32: 19.5, fp16: 78, fp16Tensor: 312 },
  { match: /L4\b/i, fp32: 30.3, fp16: 30.3, fp16Tensor: 121 },
  { match: /RTX 4090/i, fp32: 82.6, fp16: 82.6, fp16Tensor: 165 },
];

type Corpus = 'mixed' | '128 tokens';
interface Group { model: string; dtype: 'fp16' | 'fp32'; corpus: Corpus; budget: number; variant: string; priority: number }

/**
 * Engine settings compared side by side on the fp16 rows at the first budget: the defaults, and
 * the loop as it was before tokenizer threads (one thread tokenizes and feeds, one batch in
 * flight, no time bound). GPU_BENCH_VARIANTS picks (default: all).
 */
const VARIANTS: Record<string, Partial<NodeEmbedderOptions>> = {
  default: {},
  'one thread': { tokenizerThreads: 0, batchesInFlight: 1, targetBatchMs: Infinity },
  // Attention fused into com.microsoft.MultiHeadAttention at load (off by default: wrong on lavapipe from 32 tokens).
  fused: { fuseAttention: true },
  // Packing as on a CPU (32 padded tokens a batch): the batches the engine made before it weighed a GPU run's fixed cost.
  'overhead 32': { batchOverheadTokens: 32 },
};
/** Texts whose vectors each variant is checked on against the defaults' (min cosine per row). */
const CHECK_TEXTS = Number(env.GPU_BENCH_CHECK_TEXTS ?? 256);
const defaultVectors = new Map<string, Float32Array>();
const VARIANT_NAMES = (env.GPU_BENCH_VARIANTS ?? Object.keys(VARIANTS).join(',')).split(',').filter((v) => v in VARIANTS);
interface GpuSample { meanUtilization: number; samples: number; peakMemoryMiB: number }

const sh = (cmd: string, args: string[]): string | null => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
};
const card = sh('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader']);
const cardName = card?.split(',')[0]?.trim() ?? 'no NVIDIA GPU (nvidia-smi absent)';
const peak = PEAKS.find((p) => p.match.test(cardName)) ?? null;

/** Samples nvidia-smi every 100 ms until stopped; null where there is no nvidia-smi. */
function sampleGpu(): { stop(): Promise<GpuSample | null> } {
  if (!card) return { stop: async () => null };
  const child = spawn('nvidia-smi', ['--query-gpu=utilization.gpu,memory.used', '--format=csv,noheader,nounits', '-lms', '100'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  return {
    async stop() {
      child.kill();
      await once(child, 'close');
      const rows = text.split('\n').map((l) => l.split(',').map(Number)).filter((r) => r.length === 2 && r.every(Number.isFinite));
      if (!rows.length) return null;
      return {
        meanUtilization: rows.reduce((a, r) => a + r[0]!, 0) / rows.length,
        samples: rows.length,
        peakMemoryMiB: Math.max(...rows.map((r) => r[1]!)),
      };
    },
  };
}

/** Mixed lengths (log-normal word counts) and texts long enough to be cut at exactly 128 tokens. */
const corpora: Record<Corpus, string[]> = {
  mixed: mixedCorpus(TEXTS, 4242),
  '128 tokens': (() => {
    const gen = textGenerator(4343);
    return Array.from({ length: TEXTS }, () => gen.text(gen.between(110, 130)));
  })(),
};
// The Python peer (bench/gpu_st.py) reads the very same texts.
if (env.GPU_BENCH_CORPORA) writeFileSync(env.GPU_BENCH_CORPORA, JSON.stringify(corpora));
const maxTokensOf = (corpus: Corpus) => (corpus === '128 tokens' ? 128 : undefined);

/** Matmul FLOPs per token of a BERT encoder at a sequence length: 2 x (4h^2 + 2hm) a layer, plus attention's 4 x seq x h. */
function flopsPerToken(config: { num_hidden_layers: number; hidden_size: number; intermediate_size: number }, seq: number): number {
  const h = config.hidden_size;
  const m = config.intermediate_size;
  return config.num_hidden_layers * (2 * (4 * h * h + 2 * h * m) + 4 * seq * h);
}

// Rows in order of importance: what the mission rests on first (fp16, mixed, default budget), then
// fixed-length texts, fp32 for the fp16 ratio, a larger budget, and fp32 on fixed-length texts last.
const ORDER = ['fp16 mixed 0', 'fp16 128 tokens 0', 'fp32 mixed 0', 'fp16 mixed 1', 'fp16 128 tokens 1', 'fp32 128 tokens 0'];
const unknownCorpus = CORPUS_NAMES.find((name) => !Object.hasOwn(corpora, name));
if (unknownCorpus !== undefined) throw new Error(`GPU_BENCH_CORPUS_NAMES: no corpus "${unknownCorpus}" (there are: ${Object.keys(corpora).join(', ')})`);
const groups: Group[] = [];
for (const model of MODELS) {
  for (const dtype of DTYPES) {
    for (const corpus of CORPUS_NAMES as Corpus[]) {
      BUDGETS.forEach((budget, b) => {
        const rank = ORDER.indexOf(`${dtype} ${corpus} ${Math.min(b, 1)}`);
        // fp32 at the larger budgets adds little: the budget question is asked in fp16.
        if (rank < 0 || (dtype === 'fp32' && b > 0)) return;
        VARIANT_NAMES.forEach((variant, v) => {
          if (v > 0 && (dtype !== 'fp16' || b > 0)) return; // variants are compared on the fp16 rows at the first budget
          groups.push({ model, dtype, corpus, budget, variant, priority: rank * 100 + b * 10 + MODELS.indexOf(model) + v * 0.1 });
        });
      });
    }
  }
}
groups.sort((a, b) => a.priority - b.priority);

const rows: Record<string, unknown>[] = [];
const skipped: string[] = [];
const errors: string[] = [];

/** Wraps onnxruntime-node so the pooled sessions the engine creates can be run directly for the ceiling. */
function capturingBackend(): { backend: InferenceBackend; sessions: EncoderSession[] } {
  const base = nodeBackend();
  const sessions: EncoderSession[] = [];
  return {
    sessions,
    backend: {
      choose: (options) => base.choose(options),
      async createSession(...args) {
        const session = await base.createSession(...args);
        sessions.push(session);
        return session;
      },
    },
  };
}

/** Batches as the engine cuts them for these texts: its windows, its planner and cost of a batch, at the fixed budget (no start or time budget). */
async function ceilingFeeds(
  modelDir: string,
  texts: string[],
  maxTokens: number,
  budget: number,
  overhead: number,
): Promise<{ feeds: PreparedBatch[]; tokens: number; padded: number; tokenWeightedLength: number }> {
  const files = await resolveModelFiles(modelDir, nodeFileAccess);
  const tokenizer = await loadTokenizer(files);
  const padId = tokenizer.padId ?? 0;
  const feeds: PreparedBatch[] = [];
  let tokens = 0;
  let padded = 0;
  let squares = 0;
  // The engine's windows: ramping up from a small first one to `lookahead`.
  for (const window of rampWindows(texts, DEFAULT_LOOKAHEAD)) {
    const { ids } = tokenizer.encode(window, maxTokens);
    const lengths = ids.map((r) => r.length);
    const limits = { maxBatchTokens: budget, maxBatchSize: MAX_BATCH_SIZE, batchOverheadTokens: overhead };
    for (const b of packSorted(sortByLengthDescending(lengths), lengths, limits)) {
      feeds.push(prepareBatch(ids, b.indices, b.paddedLength, padId, 0, tokenizer.padLeft));
      padded += b.indices.length * b.paddedLength;
    }
    for (const l of lengths) {
      tokens += l;
      squares += l * l;
    }
  }
  return { feeds, tokens, padded, tokenWeightedLength: squares / tokens };
}

function minRowCosine(a: Float32Array, b: Float32Array, dim: number): number {
  let min = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      dot += a[j]! * b[j]!;
      na += a[j]! * a[j]!;
      nb += b[j]! * b[j]!;
    }
    const c = dot / Math.sqrt(na * nb);
    min = Math.min(min, Number.isFinite(c) ? c : -1);
  }
  return min;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; gpu: GpuSample | null }> {
  const sampler = sampleGpu();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { value, seconds, gpu: await sampler.stop() };
}

const PROFILE_DIR = env.GPU_BENCH_CPU_PROFILE ? resolve(env.GPU_BENCH_CPU_PROFILE) : null;

/** Runs `fn` under V8's sampling profiler (this thread only), writes the profile as `name`, and returns the share of samples not idle. */
async function profiled(name: string, fn: () => Promise<unknown>): Promise<number> {
  const inspector = new InspectorSession();
  inspector.connect();
  try {
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 250 });
    await inspector.post('Profiler.start');
    await fn();
    const { profile } = await inspector.post('Profiler.stop');
    mkdirSync(PROFILE_DIR!, { recursive: true });
    writeFileSync(join(PROFILE_DIR!, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.cpuprofile`), JSON.stringify(profile));
    const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
    let busy = 0;
    let total = 0;
    profile.samples?.forEach((id, i) => {
      const delta = profile.timeDeltas?.[i] ?? 0;
      total += delta;
      if (!idle.has(id)) busy += delta;
    });
    return total ? busy / total : 0;
  } finally {
    inspector.disconnect();
  }
}

async function runGroup(group: Group): Promise<void> {
  const modelDir = join(MODELS_DIR, group.model);
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
  const corpus = corpora[group.corpus];
  const { backend, sessions } = capturingBackend();
  const loadStart = performance.now();
  let embedder: NodeEmbedder | null = null;
  try {
    embedder = await createEmbedder({ model: modelDir, device: 'webgpu', dtype: group.dtype, maxBatchTokens: group.budget, maxTokens: maxTokensOf(group.corpus), backend, ...VARIANTS[group.variant] });
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const info = embedder.info;
    const e = embedder;
    const warm = await timed(() => e.embed(corpus.slice(0, WARMUP_TEXTS)));
    const warmRate = WARMUP_TEXTS / warm.seconds;
    // Second warm-up at the measured size would double the cost: the rate from a cold slice is low, so runs come out short, not long.
    const count = Math.max(Math.min(WARMUP_TEXTS, corpus.length), Math.min(corpus.length, Math.round(warmRate * RUN_SECONDS)));
    const texts = corpus.slice(0, count);
    const engineRuns: { seconds: number; tokens: number; padding: number; gpu: GpuSample | null }[] = [];
    for (let r = 0; r < RUNS; r++) {
      const before = e.stats;
      const m = await timed(() => e.embed(texts));
      engineRuns.push({ seconds: m.seconds, tokens: e.stats.tokens - before.tokens, padding: e.stats.paddingTokens - before.paddingTokens, gpu: m.gpu });
    }
    // A further run under the profiler, apart from the timed ones (sampling slows a run a little).
    const mainThreadBusy = PROFILE_DIR
      ? await profiled(`${group.model} ${group.corpus} ${group.budget} ${group.variant}`, () => e.embed(texts))
      : null;
    // The ceiling: the session the engine runs (the fp16 one when the probe passed), fed directly.
    const session = info.dtype === 'fp16' ? sessions[0]! : sessions.at(-1)!;
    const ceiling = await ceilingFeeds(modelDir, texts, info.maxTokens, group.budget, batchOverheadTokens(info.device, VARIANTS[group.variant]!));
    const ceilingRuns: { seconds: number; gpu: GpuSample | null }[] = [];
    for (let r = 0; r < RUNS; r++) {
      const m = await timed(async () => {
        for (const feed of ceiling.feeds) await session.run(feed);
      });
      ceilingRuns.push({ seconds: m.seconds, gpu: m.gpu });
    }
    // Vectors: the defaults' are kept; every other variant is compared with them on the same texts.
    const key = `${group.model} ${group.dtype} ${group.corpus} ${group.budget}`;
    const check = VARIANT_NAMES.length > 1 ? (await e.embed(corpus.slice(0, CHECK_TEXTS))).data : new Float32Array(0);
    if (group.variant === 'default') defaultVectors.set(key, check);
    const reference = group.variant === 'default' ? null : defaultVectors.get(key) ?? null;
    const minCosineToDefault = reference ? minRowCosine(check, reference, info.dim) : null;
    const engineSeconds = median(engineRuns.map((r) => r.seconds));
    const ceilingSeconds = median(ceilingRuns.map((r) => r.seconds));
    const tokens = engineRuns[0]!.tokens;
    const flops = flopsPerToken(config, ceiling.tokenWeightedLength);
    const tokensPerSec = tokens / engineSeconds;
    const util = engineRuns.map((r) => r.gpu?.meanUtilization).filter((x): x is number => x !== undefined);
    const ceilingUtil = ceilingRuns.map((r) => r.gpu?.meanUtilization).filter((x): x is number => x !== undefined);
    const row = {
      model: group.model, variant: group.variant, dtypeAsked: group.dtype, dtype: info.dtype, corpus: group.corpus, maxBatchTokens: group.budget,
      texts: count, tokens, paddingFraction: engineRuns[0]!.padding / (tokens + engineRuns[0]!.padding), ceilingBatches: ceiling.feeds.length,
      loadSeconds, warmupSeconds: warm.seconds, engineSeconds: engineRuns.map((r) => r.seconds), ceilingSeconds: ceilingRuns.map((r) => r.seconds),
      textsPerSec: count / engineSeconds, tokensPerSec, ceilingTokensPerSec: ceiling.tokens / ceilingSeconds,
      ratioToCeiling: ceilingSeconds / engineSeconds, minCosineToDefault,
      mainThreadBusy,
      gpuUtilization: util.length ? median(util) : null, ceilingGpuUtilization: ceilingUtil.length ? median(ceilingUtil) : null,
      gpuMemoryMiB: engineRuns.map((r) => r.gpu?.peakMemoryMiB ?? null).reduce((a, b) => (b === null ? a : Math.max(a ?? 0, b)), null as number | null),
      tokenWeightedLength: ceiling.tokenWeightedLength, flopsPerToken: flops, tflops: (tokensPerSec * flops) / 1e12,
      fractionOfShaderPeak: peak ? (tokensPerSec * flops) / 1e12 / (info.dtype === 'fp16' ? peak.fp16 : peak.fp32) : null,
      reasons: info.reasons,
    };
    rows.push(row);
    console.error(`[${elapsed().toFixed(0)} s] ${group.model} ${info.dtype} ${group.corpus} budget ${group.budget} ${group.variant}: ${tokensPerSec.toFixed(0)} tokens/s (ceiling ${row.ceilingTokensPerSec.toFixed(0)}${mainThreadBusy === null ? '' : `; main thread ${(100 * mainThreadBusy).toFixed(0)}% busy`}), GPU ${row.gpuUtilization?.toFixed(0) ?? '-'}%`);
  } catch (error) {
    const line = `${group.model} ${group.dtype} ${group.corpus} budget ${group.budget} ${group.variant}: ${(error as Error).stack ?? String(error)}`;
    errors.push(line);
    console.error(`[${elapsed().toFixed(0)} s] FAILED ${line}`);
  } finally {
    await embedder?.dispose();
  }
}

function report(): void {
  const table = rows.map((r) => {
    const x = r as Record<string, number | string | null>;
    const f = (v: unknown, d = 0) => (typeof v === 'number' ? v.toFixed(d) : '-');
    return [x.model, x.variant, x.dtype, x.corpus, x.maxBatchTokens, x.texts, f(x.textsPerSec), f(x.tokensPerSec), f(x.ceilingTokensPerSec), f(x.ratioToCeiling, 2), x.mainThreadBusy === null ? '-' : `${(100 * (x.mainThreadBusy as number)).toFixed(0)}%`, f(x.gpuUtilization), f(x.gpuMemoryMiB), f(x.flopsPerToken as number / 1e6, 1), f(x.tflops, 2), x.fractionOfShaderPeak === null ? '-' : `${(100 * (x.fractionOfShaderPeak as number)).toFixed(1)}%`] as (string | number)[];
  });
  const header = ['model', 'engine', 'dtype', 'corpus', 'budget', 'texts', 'texts/s', 'tokens/s', 'ceiling tokens/s', 'engine/ceiling', 'main thread busy', 'GPU util %', 'GPU MiB', 'MFLOP/token', 'TFLOP/s', 'of shader peak'];
  const markdown = table.length ? printTable(header, table) : '(no rows)';
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'gpu.json'), JSON.stringify({
    card: card ?? null, cardName, peaksTflops: peak, node: process.version, vulkanIcd: env.VK_ICD_FILENAMES ?? null,
    date: new Date().toISOString(), texts: TEXTS, runSeconds: RUN_SECONDS, runs: RUNS, secondsSpent: elapsed(),
    rows, skipped, errors, table: markdown,
  }, null, 2) + '\n');
  writeFileSync(join(OUT, 'gpu.md'), `# bulk-embed on ${cardName}\n\n${markdown}\n${skipped.length ? `\nSkipped for time: ${skipped.join('; ')}\n` : ''}${errors.length ? `\nErrors:\n${errors.map((e) => `- ${e.split('\n')[0]}`).join('\n')}\n` : ''}`);
}

console.error(`GPU: ${card ?? 'none'}; Vulkan ICD: ${env.VK_ICD_FILENAMES ?? '(loader default)'}; ${groups.length} rows planned, ${SECONDS} s`);
for (const group of groups) {
  // A row needs load + warm-up + runs: do not start one that cannot finish in what is left.
  const estimate = 10 + (RUNS * 2 + (PROFILE_DIR ? 1 : 0)) * RUN_SECONDS * 1.1;
  if (elapsed() + estimate > SECONDS) {
    skipped.push(`${group.model} ${group.dtype} ${group.corpus} budget ${group.budget} ${group.variant}`);
    continue;
  }
  await runGroup(group);
  report();
}
report();
