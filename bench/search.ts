// `npm run bench:search`: 1,000,000 generated 384-dim vectors, written as our files three ways
// (float16; binary with a float16 copy; binary alone), searched for generated queries. Reports
// the median time per query, the bytes each query reads, and recall@10 against exact float32
// top-10s computed here by brute force over the same vectors as they were generated.
//
// The vectors have the shape that makes nearest neighbours meaningful: 50,000 topic centres
// (random unit vectors), each document its centre plus noise of the same size (cosine about 0.7 to
// its centre), each query a centre plus smaller noise (about 0.8). With no structure (pure noise)
// every vector is nearly orthogonal to every other and no top-10 is worth recalling.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { searchEmbeddings, type SearchOptions } from '../src/node.js';
import type { SearchSeams } from '../src/search/vector-search.js';
import { arrowFileSink } from '../src/store/arrow-file.js';
import type { FileDescription } from '../src/format/schema.js';
import { openNodeFile } from '../src/node/node-file.js';
import type { Precision } from '../src/format/precision.js';
import { median, printTable, writeJson } from './lib.js';

const COUNT = Number(process.env.BENCH_VECTORS ?? 1_000_000);
const DIM = 384;
const CENTRES = Math.max(1, Math.round(COUNT / 20));
const QUERIES = Number(process.env.BENCH_QUERIES ?? 20);
const TIMED_EXACT = Math.min(QUERIES, Number(process.env.BENCH_TIMED_EXACT ?? 5)); // exact scans are slow: time a few
const K = 10;
const BATCH = 8192;

/** Seeded uniform [0, 1) (mulberry32) and standard normal (Box-Muller) numbers. */
function random(seed: number) {
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

function unitNoise(rng: ReturnType<typeof random>, out: Float32Array, at: number, scale: number, base?: Float32Array, baseAt = 0) {
  let norm = 0;
  for (let j = 0; j < DIM; j++) {
    const v = rng.normal();
    out[at + j] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm);
  let total = 0;
  for (let j = 0; j < DIM; j++) {
    const v = (base ? base[baseAt + j]! : 0) + (scale * out[at + j]!) / norm;
    out[at + j] = v;
    total += v * v;
  }
  total = Math.sqrt(total);
  for (let j = 0; j < DIM; j++) out[at + j]! /= total;
}

const rng = random(2026);
const centres = new Float32Array(CENTRES * DIM);
for (let c = 0; c < CENTRES; c++) unitNoise(rng, centres, c * DIM, 1);
const queries = Array.from({ length: QUERIES }, () => {
  const q = new Float32Array(DIM);
  unitNoise(rng, q, 0, 0.75, centres, Math.floor(rng.uniform() * CENTRES) * DIM);
  return q;
});

const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-bench-search-'));
const layouts: { name: string; precision: Precision; keepFloat16: boolean }[] = [
  { name: 'float16, exact', precision: 'float16', keepFloat16: false },
  { name: 'binary + rescoring (float16 copy)', precision: 'binary', keepFloat16: true },
  { name: 'binary + rescoring (float query only)', precision: 'binary', keepFloat16: false },
];
const description = (precision: Precision, keepFloat16: boolean): FileDescription => ({
  model: 'generated', dim: DIM, pooling: 'mean', normalize: true, dtype: 'fp32', float16: precision === 'float16', precision, prompt: '',
  metadataColumns: {}, checksum: 'crc32', ...(keepFloat16 ? { keepFloat16 } : {}),
});
const files = await Promise.all(layouts.map(async (l, i) => ({ ...l, path: join(dir, `${i}.arrow`), description: description(l.precision, l.keepFloat16) })));
const sinks = await Promise.all(files.map(async (f) => arrowFileSink(await openNodeFile(f.path))));

// Exact float32 top-10 of every query, kept while the vectors stream past (they are never all in memory).
const truth = queries.map(() => [] as { score: number; id: string }[]);
const started = performance.now();
for (let first = 0; first < COUNT; first += BATCH) {
  const rows = Math.min(BATCH, COUNT - first);
  const vectors = new Float32Array(rows * DIM);
  for (let r = 0; r < rows; r++) unitNoise(rng, vectors, r * DIM, 1, centres, Math.floor(rng.uniform() * CENTRES) * DIM);
  const ids = Array.from({ length: rows }, (_, r) => `v${first + r}`);
  queries.forEach((q, qi) => {
    const top = truth[qi]!;
    for (let r = 0; r < rows; r++) {
      let dot = 0;
      for (let j = 0; j < DIM; j++) dot += q[j]! * vectors[r * DIM + j]!;
      if (top.length < K || dot > top[K - 1]!.score) {
        top.push({ score: dot, id: ids[r]! });
        top.sort((a, b) => b.score - a.score);
        if (top.length > K) top.pop();
      }
    }
  });
  const batch = { ids, vectors, textHashes: ids.map(() => '0000000000000000'), metadata: ids.map(() => ({})) };
  for (let i = 0; i < files.length; i++) await sinks[i]!.write(files[i]!.description, batch);
}
for (const sink of sinks) await sink.close();
const generateSeconds = (performance.now() - started) / 1000;
console.error(`generated and wrote ${COUNT} vectors three ways in ${generateSeconds.toFixed(0)} s`);

const results = [];
for (const file of files) {
  const timed = file.precision === 'binary' ? QUERIES : TIMED_EXACT;
  await searchEmbeddings(file.path, queries[0]!, K); // warm the page cache and the code
  const seconds: number[] = [];
  const bytes: number[] = [];
  const recalls: number[] = [];
  for (let qi = 0; qi < QUERIES; qi++) {
    const stats = { bytesRead: 0 };
    const t0 = performance.now();
    const counted: SearchOptions & SearchSeams = { stats }; // the byte count is an internal seam, not a public option
    const hits = await searchEmbeddings(file.path, queries[qi]!, K, counted);
    if (qi < timed) seconds.push((performance.now() - t0) / 1000);
    bytes.push(stats.bytesRead);
    const expected = new Set(truth[qi]!.map((t) => t.id));
    recalls.push(hits.filter((h) => expected.has(h.id)).length / K);
  }
  results.push({
    layout: file.name, precision: file.precision, keepFloat16: file.keepFloat16, fileMb: statSync(file.path).size / 2 ** 20,
    medianQuerySeconds: median(seconds), timedQueries: seconds.length, medianBytesRead: median(bytes),
    recallAt10: recalls.reduce((a, b) => a + b, 0) / recalls.length, minRecallAt10: Math.min(...recalls),
  });
  console.error(`${file.name}: ${(median(seconds) * 1000).toFixed(0)} ms a query`);
}
rmSync(dir, { recursive: true, force: true });

const exact = results[0]!;
const result = {
  vectors: COUNT, dim: DIM, centres: CENTRES, queries: QUERIES, k: K, rescoreMultiplier: 4,
  generateAndWriteSeconds: generateSeconds, results,
  binaryRescoredSpeedup: exact.medianQuerySeconds / results[1]!.medianQuerySeconds,
  targets: { speedupAtLeast: 10, recallAt10AtLeast: 0.9 },
  date: new Date().toISOString(),
};
writeJson(resolve(import.meta.dirname, 'results', 'search.json'), result);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
printTable(['layout', 'file', 'median query', 'read a query', 'recall@10 (min)', 'vs float16 exact'], results.map((r) => [
  r.layout, mb(r.fileMb * 2 ** 20), `${(r.medianQuerySeconds * 1000).toFixed(0)} ms`, mb(r.medianBytesRead),
  `${r.recallAt10.toFixed(3)} (${r.minRecallAt10.toFixed(1)})`, `${(exact.medianQuerySeconds / r.medianQuerySeconds).toFixed(1)}x`,
]));
