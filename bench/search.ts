// `npm run bench:search`: 1,000,000 generated 384-dim vectors, written as our files three ways
// (float16; binary with a float16 copy; binary alone), searched for generated queries. Reports
// the median time per query, the bytes each query reads, and recall@10 against exact float32
// top-10s computed here by brute force over the same vectors as they were generated.
//
// The vectors have the shape that makes nearest neighbours meaningful: 50,000 topic centres
// (random unit vectors), each document its centre plus noise of the same size (cosine about 0.7 to
// its centre), each query a centre plus smaller noise (about 0.8). With no structure (pure noise)
// every vector is nearly orthogonal to every other and no top-10 is worth recalling.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { printTable, writeJson } from './lib.js';
import { SEARCH_DIM as DIM, SEARCH_LAYOUTS, searchFixture, timeQueries } from './shared.js';

const COUNT = Number(process.env.BENCH_VECTORS ?? 1_000_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 20);
const TIMED_EXACT = Math.min(QUERIES, Number(process.env.BENCH_TIMED_EXACT ?? 5)); // exact scans are slow: time a few
const K = 10;

const fixture = await searchFixture(COUNT, QUERIES, SEARCH_LAYOUTS, K);
const CENTRES = fixture.centres;
const generateSeconds = fixture.generateSeconds;
console.error(`generated and wrote ${COUNT} vectors three ways in ${generateSeconds.toFixed(0)} s`);

const results = [];
for (const file of fixture.files) {
  const timed = file.precision === 'binary' ? QUERIES : TIMED_EXACT;
  const r = await timeQueries(file.path, fixture.queries, fixture.truth, timed, K);
  results.push({ layout: file.name, precision: file.precision, keepFloat16: file.keepFloat16, fileMb: statSync(file.path).size / 2 ** 20, ...r });
  console.error(`${file.name}: ${(r.medianQuerySeconds * 1000).toFixed(0)} ms a query`);
}
fixture.cleanup();

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
