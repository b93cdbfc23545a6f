// `npm run bench:priority`: a bulk run on fixture-minilm (CPU), alone and with a 1-text
// high-priority call issued early (10%), in the middle (50%) and late (90%) of the run, medians
// of 3: the call's latency (also in mean bulk batches) and the bulk run's slowdown. Results in
// bench/results/priority.json.
import { resolve } from 'node:path';
import { createEmbedder } from '../src/node.js';
import { mixedCorpus } from '../tools/fixtures/corpus.js';
import { median, printTable, writeJson } from './lib.js';
import { highPriorityRun, timedBulkRun } from './shared.js';

const COUNT = Number(process.env.BENCH_TEXTS ?? 3000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const texts = mixedCorpus(COUNT, 2718);
const query = ['where is the river garden'];

const embedder = await createEmbedder({ model: resolve(import.meta.dirname, '../models/fixture-minilm') });
await embedder.embed(texts.slice(0, 200)); // warm-up
await embedder.embed(query);

// Where in the run the call comes: early batches are the heaviest (longest texts first).
const POSITIONS = [0.1, 0.5, 0.9];
await embedder.embed(texts); // a first whole run: the batch budget learns this machine's speed
const alone: number[] = [];
const batchMs: number[] = [];
const latencies: Record<string, number[]> = Object.fromEntries(POSITIONS.map((p) => [p, []]));
const withQuery: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const bulk = await timedBulkRun(embedder, texts);
  const aloneMs = bulk.ms;
  alone.push(aloneMs);
  batchMs.push(aloneMs / bulk.batches);
  for (const position of run % 2 ? [...POSITIONS].reverse() : POSITIONS) {
    const { latencyMs, bulkMs: ms } = await highPriorityRun(embedder, texts, query, position * median(alone));
    latencies[position]!.push(latencyMs);
    withQuery.push(ms);
    console.error(`run ${run + 1}/${RUNS}: call at ${position * 100}% answered in ${latencies[position]!.at(-1)!.toFixed(0)} ms; bulk ${(ms / 1000).toFixed(2)} s (alone ${(aloneMs / 1000).toFixed(2)} s)`);
  }
}
await embedder.dispose();

const meanBatch = median(batchMs);
const result = {
  model: 'fixture-minilm', device: 'cpu', texts: COUNT, runs: RUNS, targetBatchMs: 250,
  positions: POSITIONS.map((p) => ({ at: p, latencyMs: median(latencies[p]!), latencies: latencies[p], latencyInBatches: median(latencies[p]!) / meanBatch })),
  meanBatchMs: meanBatch, bulkAloneMs: median(alone), bulkWithQueryMs: median(withQuery), slowdown: median(withQuery) / median(alone) - 1, alone, withQuery,
  targets: { latencyInBatchesBelow: 3, slowdownBelow: 0.03 },
  reasons: embedder.info.reasons,
  date: new Date().toISOString(),
};
writeJson(resolve(import.meta.dirname, 'results', 'priority.json'), result);
printTable(['measure', 'value', 'target'], [
  ...result.positions.flatMap((p) => [
    [`1-text high-priority call at ${p.at * 100}% of the run: latency`, `${p.latencyMs.toFixed(0)} ms`, ''],
    ['  in mean bulk batches', p.latencyInBatches.toFixed(2), '< 3'],
  ]),
  ['bulk batch, mean', `${result.meanBatchMs.toFixed(0)} ms`, ''],
  ['bulk run alone', `${(result.bulkAloneMs / 1000).toFixed(2)} s`, ''],
  ['bulk run with the call', `${(result.bulkWithQueryMs / 1000).toFixed(2)} s`, ''],
  ['bulk slowdown', `${(100 * result.slowdown).toFixed(2)}%`, '< 3%'],
]);
