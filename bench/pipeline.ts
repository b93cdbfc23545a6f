// `npm run bench:pipeline`: the loop's own ceiling, with inference made free. An injected backend
// whose session returns unit vectors at once (as a GPU that never makes the loop wait would) runs
// the Node engine over 36,000 mixed texts a pass (the sample corpus's mix), for fixture-minilm
// (WordPiece), fixture-xlmr (Unigram) and fixture-decoder (byte-level BPE). Single passes of 9,000
// (about 0.35 s for MiniLM here) gave one-thread shares from -14 to 23 % in one process: the
// collector's work carried from one pass into the next weighs less on a longer pass
// (bench/README.md, 2026-11-28, latest; BENCH_TEXTS=9000 gives the short one). Rows:
//   - tokenize only, one thread: the model's tokenizer over texts of the same mix, nothing else;
//   - the engine tokenizing in the main thread (tokenizerThreads 0), and the same with a session that
//     returns a fresh output array each batch, as onnxruntime-node does (the zero-cost session
//     returns views of one buffer of unit rows: a runtime's allocation is not the loop's);
//   - the engine with 1..N tokenizer threads (N = cores), 2 batches in flight.
// Every pass gets texts of its own (the sample corpus under another seed): words repeat across passes
// as in any long run of natural text, but no pass repeats another's texts, so its word memo
// (tokenize/word-memo.ts) helps as much as in a real bulk run and no more.
// Medians of BENCH_RUNS runs (default 3), alternating, each share with a 95 % interval of its median; bench/results/pipeline.json (BENCH_OUT: another folder;
// BENCH_MODELS_DIR, BENCH_MODELS, BENCH_TEXTS and BENCH_THREADS narrow it, as the GPU kit does). The
// "non-tokenizer share" of each main-thread row is 1 - the median over runs of (engine rate /
// tokenize-only rate), each run's engine against that run's tokenizer pass.
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { createEmbedder, nodeFileAccess, type NodeEmbedder } from '../src/node.js';
import { resolveModelFiles } from '../src/model/files.js';
import { loadTokenizer } from '../src/tokenize/tokenizer.js';
import { sampleCorpus } from '../tools/fixtures/corpus.js';
import { median, shareCell, shareFigures, printTable, writeJson } from './lib.js';
import { freeBackend } from './shared.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MODELS = (process.env.BENCH_MODELS ?? 'fixture-minilm,fixture-xlmr,fixture-decoder').split(',');
const MODELS_DIR = resolve(process.env.BENCH_MODELS_DIR ?? join(import.meta.dirname, '..', 'models'));
const OUT = resolve(process.env.BENCH_OUT ?? join(import.meta.dirname, 'results'));
const CORES = availableParallelism();
/** Tokenizer thread counts to run (BENCH_THREADS=0,1,2,4...; default 0 to the core count). */
const THREADS = process.env.BENCH_THREADS ? process.env.BENCH_THREADS.split(',').map(Number) : [0, ...Array.from({ length: CORES }, (_, i) => i + 1)];
const TEXTS = Number(process.env.BENCH_TEXTS ?? 36000);
/** The texts of one pass: the same mix under seed 2026 + pass (a few short texts recur by chance; no pass repeats another). */
const textsOf = (pass: number) => sampleCorpus(TEXTS, 2026 + pass);

const MAIN_THREAD = 'engine, main thread';
const MAIN_THREAD_FRESH = 'engine, main thread, fresh output a batch';

interface Row { model: string; mode: string; threads: number; tokensPerSec: number[]; seconds: number[]; reasons?: string[] }
const results: Row[] = [];

for (const model of MODELS) {
  const dir = join(MODELS_DIR, model);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const dim = Number(config.hidden_size);
  const tokenizer = await loadTokenizer(await resolveModelFiles(dir, nodeFileAccess));
  const engines: { mode: string; threads: number; embedder: NodeEmbedder }[] = [];
  for (const threads of THREADS) {
    const embedder = await createEmbedder({ model: dir, backend: freeBackend(dim), tokenizerThreads: threads });
    engines.push({ mode: threads ? `engine, ${threads} tokenizer thread${threads > 1 ? 's' : ''}` : MAIN_THREAD, threads, embedder });
  }
  // Third in the order, between thread engines where there are two: its garbage then falls on neither
  // the tokenizer's pass (first in every run) nor the main-thread engine's (second, or last when the
  // order is reversed). With BENCH_THREADS=0 the two main-thread engines are neighbours.
  if (THREADS.includes(0)) {
    const fresh = await createEmbedder({ model: dir, backend: freeBackend(dim, { freshOutput: true }), tokenizerThreads: 0 });
    engines.splice(Math.min(2, engines.length), 0, { mode: MAIN_THREAD_FRESH, threads: 0, embedder: fresh });
  }
  const maxTokens = engines[0]!.embedder.info.maxTokens;
  const rows = new Map<string, Row>();
  const record = (mode: string, threads: number, tokens: number, seconds: number) => {
    const row = rows.get(mode) ?? { model, mode, threads, tokensPerSec: [], seconds: [] };
    row.tokensPerSec.push(tokens / seconds);
    row.seconds.push(seconds);
    rows.set(mode, row);
  };
  // Warm-up: JIT, the tokenizers' caches, the threads' first slices (1,000 texts each, their own).
  let pass = 0;
  tokenizer.encode(textsOf(pass++).slice(0, 1000), maxTokens);
  for (const e of engines) await e.embedder.embed(textsOf(pass++).slice(0, 1000));
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 ? [...engines].reverse() : engines;
    let texts = textsOf(pass++);
    let t0 = performance.now();
    const { ids } = tokenizer.encode(texts, maxTokens);
    const tokens = ids.reduce((a, r) => a + r.length, 0);
    record('tokenize only, one thread', 1, tokens, (performance.now() - t0) / 1000);
    for (const e of order) {
      texts = textsOf(pass++);
      const before = e.embedder.stats.tokens;
      t0 = performance.now();
      await e.embedder.embed(texts);
      record(e.mode, e.threads, e.embedder.stats.tokens - before, (performance.now() - t0) / 1000);
      rows.get(e.mode)!.reasons = e.embedder.info.reasons; // says whether the threads started
    }
    console.error(`${model}: run ${run + 1}/${RUNS}`);
  }
  for (const e of engines) await e.embedder.dispose();
  results.push(...rows.values());
}

const med = (r: Row) => median(r.tokensPerSec);
/** The row a main-thread row's share is taken against: its model's tokenizer alone. */
const aloneOf = (r: Row) => results.find((x) => x.model === r.model && x.mode === 'tokenize only, one thread')!;
const table = printTable(['model', 'mode', 'tokens/s', 'vs main thread', 'tokens/s per tokenizer thread', 'non-tokenizer share (95 % interval)'], results.map((r) => {
  const base = results.find((x) => x.model === r.model && x.mode === MAIN_THREAD)!;
  return [
    r.model, r.mode, med(r).toFixed(0), r.mode.startsWith('engine') ? `${(med(r) / med(base)).toFixed(2)}x` : '',
    r.threads && r.mode.startsWith('engine,') ? (med(r) / r.threads).toFixed(0) : '',
    r.threads === 0 ? shareCell(r.tokensPerSec, aloneOf(r).tokensPerSec) : '',
  ];
}));
writeJson(join(OUT, 'pipeline.json'), {
  texts: TEXTS, corpus: 'sampleCorpus(texts, 2026 + pass), a seed per pass', runs: RUNS, cores: CORES, cpu: cpus()[0]?.model ?? null, node: process.version, date: new Date().toISOString(),
  rows: results.map((r) => ({
    ...r, medianTokensPerSec: med(r), ...(r.threads === 0 ? { share: shareFigures(r.tokensPerSec, aloneOf(r).tokensPerSec) } : {}),
  })), table,
  notes: 'Inference made free (an injected backend returning unit vectors, views of one buffer; the "fresh output a batch" row: a new array a batch, as onnxruntime-node returns): the loop\'s own ceiling. The engine runs with 2 batches in flight (device webgpu as far as the engine knows). '
    + 'In brackets, the 95 % interval of each share\'s median (order statistics of the runs\' pairs, bench/lib.ts medianInterval): the spread within this run, not a drift between runs.',
});
