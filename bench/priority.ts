// `npm run bench:priority`: a bulk run on fixture-minilm (CPU), alone and with a 1-text
// high-priority call issued 2 s in, alternating, medians of 3: the call's latency (also in bulk
// batches) and the bulk run's slowdown. Results in bench/results/priority.json.
import { resolve } from 'node:path';
import { createEmbedder } from '../src/node.js';
import { mixedCorpus } from '../tools/fixtures/corpus.js';
import { median, printTable, writeJson } from './lib.js';

const COUNT = Number(process.env.BENCH_TEXTS ?? 3000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DELAY_MS = 2000;
const texts = mixedCorpus(COUNT, 2718);
const query = ['where is the river garden'];

const embedder = await createEmbedder({ model: resolve(import.meta.dirname, '../models/fixture-minilm') });
await embedder.embed(texts.slice(0, 200)); // warm-up
await embedder.embed(query);

const alone: number[] = [];
const withQuery: number[] = [];
const latencies: number[] = [];
const batchMs: number[] = [];
for (let run = 0; run < RUNS; run++) {
  for (const mode of run % 2 ? ['query', 'alone'] : ['alone', 'query']) {
    const batches = embedder.stats.batches;
    const started = performance.now();
    let pending: Promise<number> | null = null;
    const timer = mode === 'query'
      ? setTimeout(() => {
          const t0 = performance.now();
          pending = embedder.embed(query, { priority: 'high' }).then(() => performance.now() - t0);
        }, DELAY_MS)
      : undefined;
    await embedder.embed(texts);
    const ms = performance.now() - started;
    clearTimeout(timer);
    if (mode === 'query') {
      latencies.push(await pending!);
      withQuery.push(ms);
    } else {
      alone.push(ms);
      batchMs.push(ms / (embedder.stats.batches - batches));
    }
    console.error(`run ${run + 1}/${RUNS} ${mode}: ${(ms / 1000).toFixed(2)} s`);
  }
}
await embedder.dispose();

const result = {
  model: 'fixture-minilm', device: 'cpu', texts: COUNT, runs: RUNS, queryIssuedAfterMs: DELAY_MS,
  latencyMs: median(latencies), latencies, meanBatchMs: median(batchMs), latencyInBatches: median(latencies) / median(batchMs),
  bulkAloneMs: median(alone), bulkWithQueryMs: median(withQuery), slowdown: median(withQuery) / median(alone) - 1, alone, withQuery,
  targets: { latencyInBatchesBelow: 3, slowdownBelow: 0.02 },
  date: new Date().toISOString(),
};
writeJson(resolve(import.meta.dirname, 'results', 'priority.json'), result);
printTable(['measure', 'value', 'target'], [
  ['high-priority 1-text call, latency', `${result.latencyMs.toFixed(0)} ms`, ''],
  ['bulk batch, mean', `${result.meanBatchMs.toFixed(0)} ms`, ''],
  ['latency in bulk batches', result.latencyInBatches.toFixed(2), '< 3'],
  ['bulk run alone', `${(result.bulkAloneMs / 1000).toFixed(2)} s`, ''],
  ['bulk run with the call', `${(result.bulkWithQueryMs / 1000).toFixed(2)} s`, ''],
  ['bulk slowdown', `${(100 * result.slowdown).toFixed(2)}%`, '< 2%'],
]);
