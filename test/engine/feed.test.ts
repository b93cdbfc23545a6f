// Feeding the device: tokenizer threads give the ids (so the vectors) of tokenizing in place, for
// every tokenizer family; the first window is small, so progress starts early; batches follow the
// time and memory budgets. Runs that need no real inference use a backend whose session answers
// with unit vectors after a delay proportional to its tokens, and records each batch's shape.
import { describe, expect, it } from 'vitest';
import { createEmbedder, InvalidOptionError, type InferenceBackend } from '../../src/node.js';
import { activationBytesPerToken } from '../../src/batch/budget.js';
import { FIRST_WINDOW, START_BATCH_TOKENS } from '../../src/engine/engine.js';
import { mixedCorpus, sampleCorpus } from '../../tools/fixtures/corpus.js';
import { modelDir } from '../helpers/models.js';

/** A session costing `tokensPerMs` padded tokens a millisecond; records rows, seq and ms of every run. */
function pacedBackend(dim: number, tokensPerMs: number, batches: { rows: number; seq: number; ms: number }[], device: 'cpu' | 'webgpu' = 'cpu'): InferenceBackend {
  return {
    choose: async () => ({ device, dtype: 'fp32', reasons: [] }),
    createSession: async () => ({
      async run(batch) {
        const started = performance.now();
        await new Promise((r) => setTimeout(r, (batch.rows * batch.seq) / tokensPerMs));
        batches.push({ rows: batch.rows, seq: batch.seq, ms: performance.now() - started });
        const out = new Float32Array(batch.rows * dim);
        for (let r = 0; r < batch.rows; r++) out[r * dim] = 1;
        return out;
      },
      release: async () => undefined,
    }),
  };
}

describe('tokenizer threads', () => {
  for (const model of ['fixture-minilm', 'fixture-xlmr', 'fixture-decoder']) {
    it(`${model}: 2 threads give exactly the vectors of the main thread, and say so`, async () => {
      const texts = [...mixedCorpus(150, 77), '', 'ünïcödé text — with dashes', 'x '.repeat(700)];
      const inPlace = await createEmbedder({ model: modelDir(model), device: 'cpu', tokenizerThreads: 0 });
      const threaded = await createEmbedder({ model: modelDir(model), device: 'cpu', tokenizerThreads: 2 });
      try {
        expect(threaded.info.reasons.join('\n')).toMatch(/tokenizing on 2 worker threads/);
        const [a, b] = [await inPlace.embed(texts), await threaded.embed(texts)];
        expect(b.data).toEqual(a.data);
        expect(threaded.stats.truncatedTexts).toBe(inPlace.stats.truncatedTexts);
        expect(threaded.stats.tokens).toBe(inPlace.stats.tokens);
      } finally {
        await Promise.all([inPlace.dispose(), threaded.dispose()]);
      }
    });
  }

  it('on the CPU one thread tokenizes by default, ONNX Runtime does not spin, and a query is tokenized in place with the same vector', async () => {
    const { availableParallelism } = await import('node:os');
    const byDefault = await createEmbedder({ model: modelDir('fixture-minilm'), device: 'cpu' });
    const inPlace = await createEmbedder({ model: modelDir('fixture-minilm'), device: 'cpu', tokenizerThreads: 0 });
    try {
      const reasons = byDefault.info.reasons.join('\n');
      if (availableParallelism() > 1) {
        expect(reasons).toMatch(/tokenizing on 1 worker thread beside the main thread/);
        expect(reasons).toMatch(/idle threads block rather than spin/);
      } else {
        expect(reasons).not.toMatch(/worker thread/);
      }
      expect(inPlace.info.reasons.join('\n')).not.toMatch(/worker thread|spin/);
      const texts = mixedCorpus(80, 5);
      expect((await byDefault.embed(texts)).data).toEqual((await inPlace.embed(texts)).data);
      expect((await byDefault.embed(['one query'])).data).toEqual((await inPlace.embed(['one query'])).data);
    } finally {
      await Promise.all([byDefault.dispose(), inPlace.dispose()]);
    }
  });

  it('refuses bad thread, in-flight, time and memory settings by name, before loading', async () => {
    const model = modelDir('fixture-tiny');
    const bad = [
      ['tokenizerThreads', -1], ['tokenizerThreads', 1.5], ['batchesInFlight', 0], ['targetBatchMs', 0], ['maxMemoryMB', -5],
      ['batchOverheadTokens', 0], ['batchOverheadTokens', 1.5], ['lookahead', 0],
    ] as const;
    for (const [option, value] of bad) {
      const error = await createEmbedder({ model, device: 'cpu', [option]: value }).then(() => null, (e) => e);
      expect(error, option).toBeInstanceOf(InvalidOptionError);
      expect(error.message).toContain(option);
    }
  });
});

describe('batches bounded in time and memory, and a fast first vector', () => {
  it('the first window is small and its batches start under the start budget, so progress comes early', async () => {
    const batches: { rows: number; seq: number; ms: number }[] = [];
    const e = await createEmbedder({ model: modelDir('fixture-minilm'), backend: pacedBackend(384, 1000, batches) });
    const firstDone: number[] = [];
    await e.embed(sampleCorpus(3000, 5), { onProgress: (p) => firstDone.length || firstDone.push(p.done) });
    await e.dispose();
    expect(firstDone[0]).toBeGreaterThan(0);
    expect(firstDone[0]).toBeLessThanOrEqual(FIRST_WINDOW);
    expect(batches[0]!.rows * batches[0]!.seq).toBeLessThanOrEqual(Math.max(batches[0]!.seq, START_BATCH_TOKENS));
  });

  it('on WebGPU packs fewer, fuller batches, since each run there has a fixed cost; batchOverheadTokens sets it', async () => {
    const texts = mixedCorpus(3000, 21);
    const packing = async (device: 'cpu' | 'webgpu', extra: { batchOverheadTokens?: number } = {}) => {
      const batches: { rows: number; seq: number; ms: number }[] = [];
      const e = await createEmbedder({ model: modelDir('fixture-minilm'), backend: pacedBackend(384, 1e6, batches, device), targetBatchMs: Infinity, ...extra });
      try {
        const { count } = await e.embed(texts);
        expect(count).toBe(texts.length);
        const { tokens, paddingTokens } = e.stats;
        return { batches: batches.length, padding: paddingTokens / (tokens + paddingTokens), reasons: e.info.reasons.join('\n') };
      } finally {
        await e.dispose();
      }
    };
    const [cpu, gpu, asCpu] = [await packing('cpu'), await packing('webgpu'), await packing('webgpu', { batchOverheadTokens: 32 })];
    expect(gpu.batches).toBeLessThan(cpu.batches / 2);
    expect(gpu.padding).toBeLessThan(0.15); // traded for batches, within reason
    expect(cpu.padding).toBeLessThan(0.03);
    // Packed as on a CPU (its windows still ramp as a GPU's do): many batches again, little padding.
    expect(asCpu.batches).toBeGreaterThan(2 * gpu.batches);
    expect(asCpu.padding).toBeLessThan(0.03);
    expect(gpu.reasons).toMatch(/packing counts a batch as 1024 padded tokens \(batchOverheadTokens\)/);
    expect(cpu.reasons).not.toMatch(/packing counts/);
  });

  it('hands the next window to tokenizer threads before a run holds the thread, as onnxruntime-node\'s runs do', async () => {
    const { createEngine } = await import('../../src/engine/engine.js');
    const loaded = await createEmbedder({ model: modelDir('fixture-tiny'), device: 'cpu', tokenizerThreads: 0 });
    const info = loaded.info;
    await loaded.dispose();
    const order = async (tokenizeNextAtOnce: boolean) => {
      const log: string[] = [];
      let windows = 0;
      const engine = createEngine({
        info: { ...info, reasons: [] },
        tokenizeNextAtOnce: () => tokenizeNextAtOnce,
        tokenize: async (texts) => {
          log.push(`tokenize ${windows++}`);
          return { ids: texts.map(() => Int32Array.of(1, 5, 2)), truncated: 0 };
        },
        lanes: [{
          // Like onnxruntime-node: the run starts on a later turn, then holds the thread until it is done.
          run: async (rows) => {
            await new Promise((r) => setImmediate(r));
            const until = performance.now() + 5;
            while (performance.now() < until);
            log.push('run');
            const out = new Float32Array(rows.length * info.dim);
            for (let r = 0; r < rows.length; r++) out[r * info.dim] = 1;
            return out;
          },
        }],
        release: async () => undefined,
      }, { targetBatchMs: Infinity });
      const texts = Array.from({ length: FIRST_WINDOW + 100 }, (_, i) => `text ${i}`);
      expect((await engine.embed(texts)).count).toBe(texts.length);
      await engine.dispose();
      return log;
    };
    const apart = await order(true);
    expect(apart.slice(0, 2)).toEqual(['tokenize 0', 'tokenize 1']);
    // Tokenizing in the lanes' own thread waits a tick, so the first window's first batch goes first.
    const inPlace = await order(false);
    expect(inPlace.indexOf('tokenize 1')).toBeGreaterThan(inPlace.indexOf('run'));
  });

  it('learns the batch time: after the first window, batches take about targetBatchMs', async () => {
    const batches: { rows: number; seq: number; ms: number }[] = [];
    const target = 40;
    // 100 padded tokens a ms: the 32,768-token cap would take 330 ms a batch; the target allows about 4,000 tokens.
    const e = await createEmbedder({ model: modelDir('fixture-minilm'), backend: pacedBackend(384, 100, batches), targetBatchMs: target, maxBatchTokens: 32768 });
    // Enough texts that the later half of the batches come from large windows: small windows pack
    // mixed lengths into smaller batches than the budget allows.
    await e.embed(mixedCorpus(6000, 9));
    expect(e.info.reasons.join('\n')).toMatch(/batch budget set by time: a batch should take about 40 ms/);
    await e.dispose();
    const later = batches.slice(-Math.floor(batches.length / 2)).filter((b) => b.rows > 1);
    expect(later.length).toBeGreaterThan(5);
    for (const b of later) expect(b.ms).toBeLessThan(2.5 * target);
    // ... and the budget was used, not starved: the later batches average over a third of the target.
    expect(later.reduce((a, b) => a + b.ms, 0) / later.length).toBeGreaterThan(target / 3);
  });

  it('keeps every batch\'s activations within maxMemoryMB at its own length', async () => {
    const batches: { rows: number; seq: number; ms: number }[] = [];
    const mb = 24;
    const e = await createEmbedder({ model: modelDir('fixture-minilm'), backend: pacedBackend(384, 1e6, batches), maxMemoryMB: mb, targetBatchMs: Infinity });
    await e.embed(sampleCorpus(1500, 6));
    expect(e.info.reasons.join('\n')).toMatch(/batch budget set by memory: activations within 24 MB/);
    await e.dispose();
    const widths = { hidden: 384, intermediate: 1536, heads: 12 };
    for (const b of batches) {
      if (b.rows > 1) expect(b.rows * b.seq * activationBytesPerToken(widths, b.seq, 4)).toBeLessThanOrEqual(mb * 2 ** 20);
    }
    expect(batches.some((b) => b.seq >= 400)).toBe(true);
  });
});
