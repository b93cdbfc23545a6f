// Queries jump the queue: a lane that frees up goes to a waiting high-priority batch before the
// bulk run's next one, so a one-text call issued during a bulk run returns within a few batches,
// with the same vectors as on its own; the bulk run's rows are unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLaneGate } from '../../src/engine/lane-gate.js';
import { createEmbedder, InvalidOptionError, type NodeEmbedder } from '../../src/node.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { minRowCosine, modelDir } from '../helpers/models.js';

describe('lane gate', () => {
  it('grants a free lane at once, then high before normal, first come first served within a priority', async () => {
    const gate = createLaneGate();
    const order: string[] = [];
    const first = await gate.acquire('normal');
    const waits = (['n1', 'h1', 'n2', 'h2'] as const).map((name) => gate.acquire(name[0] === 'h' ? 'high' : 'normal').then((release) => {
      order.push(name);
      release();
    }));
    first();
    await Promise.all(waits);
    expect(order).toEqual(['h1', 'h2', 'n1', 'n2']);
  });
});

describe('priority on a MiniLM-sized model', () => {
  let embedder: NodeEmbedder;
  const bulk = mixedCorpus(500, 31337);
  const query = ['where is the river garden'];
  beforeAll(async () => {
    embedder = await createEmbedder({ model: modelDir('fixture-minilm') });
  });
  afterAll(() => embedder.dispose());

  it('a 1-text high-priority call during a bulk run waits for at most two bulk batches (counted in batches, not milliseconds)', async () => {
    const alone = await embedder.embed(query);
    const t = performance.now();
    const reference = await embedder.embed(bulk);
    const referenceMs = performance.now() - t;
    const batchesBefore = embedder.stats.batches;
    let issued: Promise<{ ms: number; data: Float32Array; bulkBatchesWaited: number }> | null = null;
    const started = performance.now();
    const run = embedder.embed(bulk, {
      onProgress: (p) => {
        if (!issued && p.done >= 250) {
          const t0 = performance.now();
          const batchesAtIssue = embedder.stats.batches;
          // Batches that finished between the call and its answer, less its own.
          issued = embedder.embed(query, { priority: 'high' }).then((r) => ({ ms: performance.now() - t0, data: r.data, bulkBatchesWaited: embedder.stats.batches - batchesAtIssue - 1 }));
        }
      },
    });
    const result = await run;
    const bulkMs = performance.now() - started;
    const high = await issued!;
    const batches = embedder.stats.batches - batchesBefore - 1; // less the query's own batch
    const perBatch = bulkMs / batches;
    console.log(`high-priority latency ${high.ms.toFixed(0)} ms; bulk ${batches} batches of ${perBatch.toFixed(0)} ms on average; ` +
      `bulk ${bulkMs.toFixed(0)} ms with the query, ${referenceMs.toFixed(0)} ms alone`);
    // One lane, one batch at a time: the query waits for the bulk batch in flight, and for at most one
    // more that the lane takes while the main thread is busy with the bulk run's next window
    // (tokenizing it where there is no tokenizer thread, handing it over where there is), before the
    // query's own batch reaches the lane's gate. The query itself is tokenized in place.
    expect(high.bulkBatchesWaited).toBeLessThanOrEqual(2);
    expect(minRowCosine(high.data, alone.data, alone.dim)).toBeGreaterThan(0.99999);
    expect(minRowCosine(result.data, reference.data, reference.dim)).toBeGreaterThan(0.99999);
  });

  it('an unknown priority is an InvalidOptionError', async () => {
    await expect(embedder.embed(query, { priority: 'urgent' as 'high' })).rejects.toThrow(InvalidOptionError);
  });
});
