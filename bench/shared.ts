// The measuring code of the benchmarks, as functions: each bench:* script runs them at its own
// (large) size, and bench:ci (bench/ci.ts) runs the same functions at a size that fits CI. Keeping
// one copy means the CI gate measures exactly what the hand-run benchmarks report.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FeatureExtractionPipeline, PreTrainedTokenizer } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import type { Browser } from '@playwright/test';
import { packBatches } from '../src/batch/pack.js';
import { DEFAULT_MAX_BATCH_TOKENS, type InferenceBackend } from '../src/engine/load.js';
import { searchEmbeddings, type NodeEmbedder, type SearchOptions } from '../src/node.js';
import type { SearchSeams } from '../src/search/vector-search.js';
import { arrowFileSink } from '../src/store/arrow-file.js';
import type { FileDescription } from '../src/format/schema.js';
import { openNodeFile } from '../src/node/node-file.js';
import type { Precision } from '../src/format/precision.js';
import { textGenerator } from '../tools/fixtures/corpus.js';
import { measured, median } from './lib.js';

// ---------------------------------------------------------------------------------------------
// Side-by-side timing

/** The same ONNX Runtime settings for every CPU engine compared (its CPU arena on, the default). */
export const cpuSessionOptions = (threads: number) => ({ intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const });

/**
 * The three CPU peers the Node benchmarks compare on one generated model, with the same session
 * options: this engine, the transformers.js pipeline (and its tokenizer), and a raw session of the
 * model for the ceiling. transformers.js is pointed at the local models folder, never the hub.
 */
export async function loadCpuPeers(modelsDir: string, model: string, sessionOptions: ReturnType<typeof cpuSessionOptions>) {
  const { AutoTokenizer, env, pipeline } = await import('@huggingface/transformers');
  const { createEmbedder } = await import('../src/node.js');
  env.allowRemoteModels = false;
  env.localModelPath = modelsDir + '/';
  const engine = await createEmbedder({ model: join(modelsDir, model), device: 'cpu', dtype: 'fp32', sessionOptions });
  const extractor = await pipeline('feature-extraction', model, { dtype: 'fp32', device: 'cpu', session_options: sessionOptions });
  const tokenizer = await AutoTokenizer.from_pretrained(model);
  const session = await ort.InferenceSession.create(join(modelsDir, model, 'onnx', 'model.onnx'), sessionOptions);
  return { engine, extractor, tokenizer, session, maxTokens: engine.info.maxTokens };
}

/** Seconds and peak RSS of every run of one runner, and what its last run returned. */
export interface Samples<T> { seconds: number[]; rss: number[]; last: T }

/**
 * Runs every runner `runs` times, alternating the order each run (forwards, then backwards) so no
 * runner always goes first or always follows the same one: on a shared machine, load that comes
 * and goes then falls on all of them alike, and the ratio of their medians stays meaningful.
 */
export async function alternate<K extends string, T>(runners: Record<K, () => Promise<T>>, runs: number, label = ''): Promise<Record<K, Samples<T>>> {
  const keys = Object.keys(runners) as K[];
  const samples = Object.fromEntries(keys.map((k) => [k, { seconds: [], rss: [], last: undefined }])) as unknown as Record<K, Samples<T>>;
  for (let run = 0; run < runs; run++) {
    for (const which of run % 2 ? [...keys].reverse() : keys) {
      const m = await measured(runners[which]);
      samples[which].seconds.push(m.seconds);
      samples[which].rss.push(m.peakRssMb);
      samples[which].last = m.value;
      console.error(`${label}run ${run + 1}/${runs} ${which}: ${m.seconds.toFixed(2)} s`);
    }
  }
  return samples;
}

/** Real and padding tokens one run of a whole corpus cost. */
export interface RunCost { tokens: number; padding: number }

/** This engine's embed() on the texts; the tokens and padding it spent, from its stats. */
export function engineRunner(engine: NodeEmbedder): (texts: string[]) => Promise<RunCost> {
  return async (texts) => {
    const before = engine.stats;
    await engine.embed(texts);
    const s = engine.stats;
    return { tokens: s.tokens - before.tokens, padding: s.paddingTokens - before.paddingTokens };
  };
}

/** transformers.js's pipeline as its docs use it: input-order chunks of 32, mean pooling, normalized. */
export function transformersJsRunner(
  extractor: FeatureExtractionPipeline,
  tokenizer: PreTrainedTokenizer,
  maxTokens: number,
): (texts: string[]) => Promise<RunCost> {
  return async (texts) => {
    let tokens = 0;
    let padded = 0;
    for (let i = 0; i < texts.length; i += 32) {
      const chunk = texts.slice(i, i + 32);
      await extractor(chunk, { pooling: 'mean', normalize: true });
      // Padding it paid: every chunk is padded to its longest text (counted outside the run's cost).
      const lengths = chunk.map((t) => Math.min(tokenizer.encode(t).length, maxTokens));
      tokens += lengths.reduce((a, b) => a + b, 0);
      padded += Math.max(...lengths) * chunk.length;
    }
    return { tokens, padding: padded - tokens };
  };
}

/**
 * The raw ceiling: pre-tokenizes the texts and pre-builds every token-budget batch (length-sorted,
 * as the engine packs them), returning a function that only runs `session.run` on them.
 */
export function prepareCeiling(session: ort.InferenceSession, tokenizer: PreTrainedTokenizer, maxTokens: number, texts: string[]): () => Promise<RunCost> {
  const ids = texts.map((t) => tokenizer.encode(t).slice(0, maxTokens));
  const lengths = ids.map((r) => r.length);
  const feeds = packBatches(lengths, { maxBatchTokens: DEFAULT_MAX_BATCH_TOKENS }).map((b) => {
    const seq = b.paddedLength;
    const dims = [b.indices.length, seq];
    const inputIds = new BigInt64Array(b.indices.length * seq);
    const mask = new BigInt64Array(b.indices.length * seq);
    b.indices.forEach((index, r) => ids[index]!.forEach((id, t) => { inputIds[r * seq + t] = BigInt(id); mask[r * seq + t] = 1n; }));
    return {
      input_ids: new ort.Tensor('int64', inputIds, dims),
      attention_mask: new ort.Tensor('int64', mask, dims),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(b.indices.length * seq), dims),
    };
  });
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const padded = feeds.reduce((a, f) => a + f.input_ids.dims[0]! * f.input_ids.dims[1]!, 0);
  return async () => {
    for (const feed of feeds) await session.run(feed);
    return { tokens, padding: padded - tokens };
  };
}

/**
 * A backend whose sessions cost nothing (the loop's own ceiling): every row comes back as the unit
 * vector e0. Rows of e0 never change, so by default one buffer of them, grown when a batch needs
 * more rows, serves every batch as a view (the loop only reads a batch's vectors). `freshOutput`:
 * a new array a batch instead, as onnxruntime-node hands back (it copies even into a preallocated
 * output): the runtime's allocation and the collector's work on it, which bench:pipeline reports
 * beside the zero-cost session (the counts: bench/README.md, 2026-11-28, latest).
 */
export function freeBackend(dim: number, { freshOutput = false } = {}): InferenceBackend {
  const unitRows = (rows: number) => {
    const out = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) out[r * dim] = 1;
    return out;
  };
  let shared = new Float32Array(0);
  return {
    choose: async () => ({ device: 'webgpu', dtype: 'fp32', reasons: ['inference made free (bench:pipeline)'] }),
    createSession: async () => ({
      async run(batch) {
        if (freshOutput) return unitRows(batch.rows);
        if (shared.length < batch.rows * dim) shared = unitRows(Math.max(batch.rows, 2 * (shared.length / dim)));
        return shared.subarray(0, batch.rows * dim);
      },
      release: async () => undefined,
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Streaming (embedTo) and latency

/** The stream benchmark's records, the same every time, generated lazily: the corpus is never held by the source. */
export function* streamRecords(count: number): Generator<{ id: string; text: string; shard: number }> {
  const gen = textGenerator(2026);
  for (let i = 0; i < count; i++) yield { id: `r${i}`, text: gen.text(gen.logNormalCount(20, 0.8, 1, 120)), shard: i % 16 };
}

/** One embedTo run of `count` stream records into `out`: its seconds and the peak RSS and heap (bytes) seen by each milestone. */
export async function streamRun(embedder: NodeEmbedder, count: number, out: string, milestones: number[], windowSize?: number) {
  let peak = 0;
  let heapPeak = 0;
  const rssAt: Record<string, number> = {};
  const heapAt: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  await embedder.embedTo(streamRecords(count), out, {
    windowSize,
    total: count,
    onProgress: (p) => {
      peak = Math.max(peak, process.memoryUsage.rss());
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      while (next < milestones.length && p.done >= milestones[next]!) {
        heapAt[String(milestones[next])] = heapPeak;
        rssAt[String(milestones[next++])] = peak;
      }
    },
  });
  const seconds = (performance.now() - started) / 1000;
  peak = Math.max(peak, process.memoryUsage.rss());
  while (next < milestones.length) rssAt[String(milestones[next++])] = peak;
  return { seconds, rssAt, heapAt };
}

/** One bulk embed() run: its milliseconds, how many batches it ran, and when its first vectors were done. */
export async function timedBulkRun(embedder: NodeEmbedder, texts: string[]): Promise<{ ms: number; batches: number; firstVectorMs: number }> {
  const batches = embedder.stats.batches;
  let firstVectorMs = NaN;
  const started = performance.now();
  // The engine reports progress after the first batch at once (later ones at most every 100 ms).
  await embedder.embed(texts, { onProgress: (p) => { if (Number.isNaN(firstVectorMs) && p.done > 0) firstVectorMs = performance.now() - started; } });
  return { ms: performance.now() - started, batches: embedder.stats.batches - batches, firstVectorMs };
}

/** A bulk run with a high-priority call for `query` issued `delayMs` into it: the call's latency and the bulk run's time. */
export async function highPriorityRun(
  embedder: NodeEmbedder,
  texts: string[],
  query: string[],
  delayMs: number,
): Promise<{ latencyMs: number; bulkMs: number }> {
  const started = performance.now();
  let pending: Promise<number> | null = null;
  const timer = setTimeout(() => {
    const t0 = performance.now();
    pending = embedder.embed(query, { priority: 'high' }).then(() => performance.now() - t0);
  }, delayMs);
  await embedder.embed(texts);
  const bulkMs = performance.now() - started;
  clearTimeout(timer);
  return { latencyMs: pending ? await pending : NaN, bulkMs };
}

// ---------------------------------------------------------------------------------------------
// Vector search

export const SEARCH_DIM = 384;

/** Seeded uniform [0, 1) (mulberry32) and standard normal (Box-Muller) numbers. */
export function random(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** Writes at `out[at]` a unit vector: `base` (if any) plus noise of norm `scale`, normalized. */
export function unitNoise(rng: ReturnType<typeof random>, out: Float32Array, at: number, scale: number, base?: Float32Array, baseAt = 0) {
  let norm = 0;
  for (let j = 0; j < SEARCH_DIM; j++) {
    const v = rng.normal();
    out[at + j] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm);
  let total = 0;
  for (let j = 0; j < SEARCH_DIM; j++) {
    const v = (base ? base[baseAt + j]! : 0) + (scale * out[at + j]!) / norm;
    out[at + j] = v;
    total += v * v;
  }
  total = Math.sqrt(total);
  for (let j = 0; j < SEARCH_DIM; j++) out[at + j]! /= total;
}

/** One way to write the vectors: exact float16, or binary (with or without a float16 copy for rescoring). */
export interface SearchLayout { name: string; precision: Precision; keepFloat16: boolean }
export const SEARCH_LAYOUTS: SearchLayout[] = [
  { name: 'float16, exact', precision: 'float16', keepFloat16: false },
  { name: 'binary + rescoring (float16 copy)', precision: 'binary', keepFloat16: true },
  { name: 'binary + rescoring (float query only)', precision: 'binary', keepFloat16: false },
];

/**
 * Generates `count` 384-dim vectors with structure (count/20 topic centres; each document its
 * centre plus noise of the same size, each query a centre plus smaller noise: with pure noise no
 * top-k is worth recalling), writes them in every layout, and keeps the exact float32 top-k of
 * every query while they stream past (they are never all in memory). Call `cleanup` when done.
 */
export async function searchFixture(count: number, queryCount: number, layouts: SearchLayout[], k = 10) {
  const BATCH = 8192;
  const centreCount = Math.max(1, Math.round(count / 20));
  const rng = random(2026);
  const centres = new Float32Array(centreCount * SEARCH_DIM);
  for (let c = 0; c < centreCount; c++) unitNoise(rng, centres, c * SEARCH_DIM, 1);
  const queries = Array.from({ length: queryCount }, () => {
    const q = new Float32Array(SEARCH_DIM);
    unitNoise(rng, q, 0, 0.75, centres, Math.floor(rng.uniform() * centreCount) * SEARCH_DIM);
    return q;
  });
  const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-bench-search-'));
  const description = (precision: Precision, keepFloat16: boolean): FileDescription => ({
    model: 'generated', dim: SEARCH_DIM, pooling: 'mean', normalize: true, dtype: 'fp32', float16: precision === 'float16', precision, prompt: '',
    metadataColumns: {}, checksum: 'crc32', ...(keepFloat16 ? { keepFloat16 } : {}),
  });
  const files = layouts.map((l, i) => ({ ...l, path: join(dir, `${i}.arrow`), description: description(l.precision, l.keepFloat16) }));
  const sinks = await Promise.all(files.map(async (f) => arrowFileSink(await openNodeFile(f.path))));
  const truth = queries.map(() => [] as { score: number; id: string }[]);
  const started = performance.now();
  for (let first = 0; first < count; first += BATCH) {
    const rows = Math.min(BATCH, count - first);
    const vectors = new Float32Array(rows * SEARCH_DIM);
    for (let r = 0; r < rows; r++) unitNoise(rng, vectors, r * SEARCH_DIM, 1, centres, Math.floor(rng.uniform() * centreCount) * SEARCH_DIM);
    const ids = Array.from({ length: rows }, (_, r) => `v${first + r}`);
    queries.forEach((q, qi) => {
      const top = truth[qi]!;
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let j = 0; j < SEARCH_DIM; j++) dot += q[j]! * vectors[r * SEARCH_DIM + j]!;
        if (top.length < k || dot > top[k - 1]!.score) {
          top.push({ score: dot, id: ids[r]! });
          top.sort((a, b) => b.score - a.score);
          if (top.length > k) top.pop();
        }
      }
    });
    const batch = { ids, vectors, textHashes: ids.map(() => '0000000000000000'), metadata: ids.map(() => ({})) };
    for (let i = 0; i < files.length; i++) await sinks[i]!.write(files[i]!.description, batch);
  }
  for (const sink of sinks) await sink.close();
  const generateSeconds = (performance.now() - started) / 1000;
  return { centres: centreCount, queries, truth, files, generateSeconds, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Searches one file for every query (the first `timed` timed, after a warm-up query): median seconds, bytes read and recall@k. */
export async function timeQueries(path: string, queries: Float32Array[], truth: { id: string }[][], timed: number, k = 10) {
  await searchEmbeddings(path, queries[0]!, k); // warm the page cache and the code
  const seconds: number[] = [];
  const bytes: number[] = [];
  const recalls: number[] = [];
  for (let qi = 0; qi < queries.length; qi++) {
    const stats = { bytesRead: 0 };
    const t0 = performance.now();
    const counted: SearchOptions & SearchSeams = { stats }; // the byte count is an internal seam, not a public option
    const hits = await searchEmbeddings(path, queries[qi]!, k, counted);
    if (qi < timed) seconds.push((performance.now() - t0) / 1000);
    bytes.push(stats.bytesRead);
    const expected = new Set(truth[qi]!.map((t) => t.id));
    recalls.push(hits.filter((h) => expected.has(h.id)).length / k);
  }
  return {
    medianQuerySeconds: median(seconds), timedQueries: seconds.length, medianBytesRead: median(bytes),
    recallAt10: recalls.reduce((a, b) => a + b, 0) / recalls.length, minRecallAt10: Math.min(...recalls),
  };
}

// ---------------------------------------------------------------------------------------------
// Browser (the demo's ?bench mode: this library and transformers.js in the same page)

/** What the demo's ?bench page reports: per-library medians and every run's seconds. */
export interface PageBenchResult {
  medians: { bulkEmbed: number; transformersJs: number };
  seconds: { bulkEmbed: number[]; transformersJs: number[] };
  info: unknown;
}

/**
 * Builds the demo (vite.config.ts) and serves it with vite preview: `url` is where it listens (5173,
 * or the next free port when another checkout's preview holds it); `close` stops the server.
 */
export async function serveDemo(): Promise<{ url: string; close: () => Promise<void> }> {
  const { build, preview } = await import('vite');
  const configFile = resolve(import.meta.dirname, '..', 'vite.config.ts');
  await build({ configFile, logLevel: 'warn' });
  // Another checkout's preview may hold 5173 on a shared machine: take the next free port then.
  const server = await preview({ configFile, preview: { strictPort: false } });
  const url = server.resolvedUrls?.local.find((u) => u.includes('127.0.0.1') || u.includes('localhost')) ?? 'http://127.0.0.1:5173/';
  return { url: url.replace('localhost', '127.0.0.1'), close: () => new Promise<void>((done) => server.httpServer.close(() => done())) };
}

/** The WebGPU adapter the page sees ('none' without one): SwiftShader here, a CPU Vulkan. */
export async function pageAdapter(browser: Browser, url: string): Promise<string> {
  const probe = await browser.newPage();
  await probe.goto(url);
  const adapter = await probe.evaluate(async () => {
    const a = await (navigator as any).gpu?.requestAdapter();
    return a ? `${a.info?.vendor} ${a.info?.architecture}` : 'none';
  });
  await probe.close();
  return adapter;
}

/** Runs the demo's ?bench mode in a fresh page: both libraries, same device, model and corpus, alternating runs. */
export async function pageBench(browser: Browser, url: string, device: 'wasm' | 'webgpu', model: string, count: number, runs: number, screenshot?: string): Promise<PageBenchResult> {
  const page = await browser.newPage();
  page.on('console', (m) => { if (/ run \d/.test(m.text())) console.error(`[page] ${m.text()}`); });
  await page.goto(`${url}?bench&device=${device}&model=${model}&texts=${count}&runs=${runs}`);
  await page.waitForFunction(() => (globalThis as any).benchResult, null, { timeout: 0, polling: 250 });
  const result = (await page.evaluate(() => (globalThis as any).benchResult)) as PageBenchResult;
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return result;
}
