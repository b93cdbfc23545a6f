// The behaviour of embed() that users rely on: order, duplicates, input rules, options, errors.
import { env, pipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, createEmbedder, DisposedError, EmbedError, InvalidTextError, ModelFileError, nodeBackend, type Embedder, type InferenceBackend } from '../../src/node.js';
import { LEXICON_SEED, LEXICON_SIZE, makeLexicon, TextGenerator } from '../../tools/fixtures/lexicon.js';
import { cosine, MODELS_DIR, modelDir } from '../helpers/models.js';
import { startModelServer, type ModelServer } from '../helpers/model-server.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

const TINY = modelDir('fixture-tiny');
const gen = new TextGenerator(makeLexicon(LEXICON_SIZE, LEXICON_SEED), 77);
const texts = Array.from({ length: 120 }, () => gen.text(gen.logNormalCount(20, 0.9, 1, 150)));
const row = (e: { dim: number; data: Float32Array }, i: number) => e.data.subarray(i * e.dim, (i + 1) * e.dim);

let embedder: Embedder;
beforeAll(async () => {
  embedder = await createEmbedder({ model: TINY, maxBatchTokens: 512 });
});
afterAll(() => embedder.dispose());

describe('embed()', () => {
  it('reports what it loaded', () => {
    // The folder is read at its absolute path and recorded relative to the working directory (the repository here).
    expect(embedder.info).toMatchObject({ model: 'models/fixture-tiny', modelLocation: TINY, device: 'cpu', dtype: 'fp32', dim: 64, maxTokens: 128, pooling: 'mean', normalize: true, maxBatchTokens: 512 });
    expect(embedder.info.reasons.join(' ')).toMatch(/cpu/);
  });

  it('returns unit rows in input order: shuffled input gives the same vector for each text', async () => {
    const a = await embedder.embed(texts);
    const order = texts.map((_, i) => i).sort((x, y) => ((x * 7919) % 120) - ((y * 7919) % 120));
    const b = await embedder.embed(order.map((i) => texts[i]!));
    expect(a.count).toBe(120);
    order.forEach((original, k) => {
      expect(cosine(row(a, original), row(b, k))).toBeGreaterThanOrEqual(0.99999);
      expect(Math.hypot(...row(b, k))).toBeCloseTo(1, 5);
    });
    // Distinct texts really get distinct vectors (order restoration is not a no-op).
    expect(cosine(row(a, 0), row(a, 1))).toBeLessThan(0.999);
  });

  it('gives repeated texts identical rows, and runs each distinct text once', async () => {
    const before = embedder.stats;
    const input = [texts[0]!, texts[1]!, texts[0]!, '', texts[1]!, ''];
    const e = await embedder.embed(input);
    expect(row(e, 2)).toEqual(row(e, 0));
    expect(row(e, 4)).toEqual(row(e, 1));
    expect(row(e, 5)).toEqual(row(e, 3));
    const after = embedder.stats;
    expect(after.texts - before.texts).toBe(6);
    const distinctTokens = after.tokens - before.tokens;
    const single = await embedder.embed([texts[0]!, texts[1]!, '']);
    expect(embedder.stats.tokens - after.tokens).toBe(distinctTokens);
    expect(row(single, 0)).toEqual(row(e, 0));
  });

  it('embeds the empty string as transformers.js does ([CLS] [SEP])', async () => {
    const extractor = await pipeline('feature-extraction', 'fixture-tiny', { dtype: 'fp32' });
    const want = (await extractor('', { pooling: 'mean', normalize: true })).data as Float32Array;
    const got = await embedder.embed(['']);
    expect(cosine(row(got, 0), want)).toBeGreaterThanOrEqual(0.99999);
    await extractor.dispose();
  });

  it('gives count 0 for an empty list', async () => {
    const e = await embedder.embed([]);
    expect(e).toEqual({ count: 0, dim: 64, data: new Float32Array(0) });
  });

  it('rejects a non-string entry with an InvalidTextError (an EmbedError) naming its index', async () => {
    const bad = ['ok', 'fine', 42 as unknown as string];
    await expect(embedder.embed(bad)).rejects.toBeInstanceOf(EmbedError);
    await expect(embedder.embed(bad)).rejects.toBeInstanceOf(InvalidTextError);
    await expect(embedder.embed(bad)).rejects.toThrow('text at index 2 is a number, not a string');
    await expect(embedder.embed(['a', null as unknown as string])).rejects.toThrow('index 1 is null');
    await expect(embedder.embed('just a string' as unknown as string[])).rejects.toThrow(/array of strings/);
  });

  it('truncates texts over maxTokens and counts them', async () => {
    const short = await createEmbedder({ model: TINY, maxTokens: 16 });
    const long = gen.text(60);
    const e = await short.embed([long, 'a b c']);
    expect(short.stats.truncatedTexts).toBe(1);
    expect(short.stats.tokens).toBe(16 + 5);
    // Only the first 16 tokens count: a text that shares them gets the same vector.
    const sameStart = await short.embed([long + ' ' + gen.text(30)]);
    expect(cosine(row(e, 0), row(sameStart, 0))).toBeGreaterThanOrEqual(0.999999);
    await short.dispose();
  });

  it('keeps stats consistent: tokens + padding = padded tokens of the batches run', async () => {
    // Every batch the session runs is recorded: its padded size is rows x seq.
    const shapes: { rows: number; seq: number }[] = [];
    const inner = nodeBackend();
    const backend: InferenceBackend = {
      choose: (options) => inner.choose(options),
      async createSession(model, device, external) {
        const session = await inner.createSession(model, device, external);
        return { run: (batch) => (shapes.push({ rows: batch.rows, seq: batch.seq }), session.run(batch)), release: () => session.release() };
      },
    };
    const e = await createEmbedder({ model: TINY, maxBatchTokens: 256, backend });
    shapes.length = 0; // the load's own probe runs are not embed batches
    await e.embed(texts);
    const s = e.stats;
    expect(s.texts).toBe(120);
    expect(s.batches).toBe(shapes.length);
    expect(s.batches).toBeGreaterThan(3);
    expect(s.tokens + s.paddingTokens).toBe(shapes.reduce((sum, b) => sum + b.rows * b.seq, 0));
    expect(s.paddingTokens / (s.tokens + s.paddingTokens)).toBeLessThan(0.1);
    await e.dispose();
  });

  it('reports progress that rises to done == total', async () => {
    const events: { done: number; total: number; etaMs: number }[] = [];
    const e = await createEmbedder({ model: TINY, maxBatchTokens: 128 });
    await e.embed(texts, { onProgress: (p) => events.push(p) });
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ done: 120, total: 120, etaMs: 0 });
    events.slice(1).forEach((p, i) => expect(p.done).toBeGreaterThanOrEqual(events[i]!.done));
    await e.dispose();
  });

  it('stops an aborted embed and stays usable', async () => {
    const e = await createEmbedder({ model: TINY, maxBatchTokens: 128 });
    const controller = new AbortController();
    let batches = 0;
    const aborted = e.embed(texts, { signal: controller.signal, onProgress: () => { if (++batches === 1) controller.abort(); } });
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    expect(e.stats.texts).toBeLessThan(120);
    const ok = await e.embed(texts.slice(0, 5));
    expect(ok.count).toBe(5);
    await e.dispose();
  });

  it('refuses calls after dispose()', async () => {
    const e = await createEmbedder({ model: TINY });
    await e.dispose();
    await expect(e.embed(['x'])).rejects.toBeInstanceOf(DisposedError);
  });

  it('embeds with the fp16 weights close to fp32', async () => {
    const e = await createEmbedder({ model: TINY, dtype: 'fp16' });
    expect(e.info.dtype).toBe('fp16');
    const a = await embedder.embed(texts.slice(0, 20));
    const b = await e.embed(texts.slice(0, 20));
    for (let i = 0; i < 20; i++) expect(cosine(row(a, i), row(b, i))).toBeGreaterThanOrEqual(0.999);
    await e.dispose();
  });
});

describe('options and model locations', () => {
  it('rejects bad options by name', async () => {
    await expect(createEmbedder({ model: TINY, pooling: 'weightedmean' as 'mean' })).rejects.toThrow("option pooling: \"weightedmean\" is not 'mean', 'cls', 'max', 'lasttoken'");
    await expect(createEmbedder({ model: TINY, maxTokens: 1000 })).rejects.toThrow("option maxTokens: 1000 exceeds the model's maximum of 128 tokens");
    await expect(createEmbedder({ model: TINY, maxBatchTokens: 0 })).rejects.toThrow('option maxBatchTokens');
    await expect(createEmbedder({ model: TINY, device: 'tpu' as 'cpu' })).rejects.toThrow('option device');
  });

  it('names the missing file: a dtype whose weights are absent', async () => {
    const attempt = createEmbedder({ model: TINY, dtype: 'q8' });
    await expect(attempt).rejects.toBeInstanceOf(ModelFileError);
    await expect(createEmbedder({ model: TINY, dtype: 'q8' })).rejects.toThrow(`model file onnx/model_quantized.onnx at ${TINY}: not found: this model has no q8 weights; it has fp32 (onnx/model.onnx), fp16 (onnx/model_fp16.onnx)`);
  });

  it('rejects a location that is neither a folder, a URL nor a hub id', async () => {
    await expect(createEmbedder({ model: '/no/such/folder' })).rejects.toThrow(/not an existing folder, an http\(s\) URL, or a hub id/);
  });

  it('resolves a hub id through the hub settings (localModelPath), as transformers.js env does', async () => {
    const hub = { allowRemoteModels: false, allowLocalModels: true, localModelPath: MODELS_DIR + '/' };
    const e = await createEmbedder({ model: 'fixture-tiny', hub });
    expect(e.info.model).toBe('fixture-tiny');
    const [a, b] = [await e.embed([texts[3]!]), await embedder.embed([texts[3]!])];
    expect(cosine(row(a, 0), row(b, 0))).toBeGreaterThanOrEqual(0.999999);
    await e.dispose();
    await expect(createEmbedder({ model: 'fixture-tiny', hub: { ...hub, allowLocalModels: false } })).rejects.toThrow(/neither local nor remote/);
    await expect(createEmbedder({ model: 'nobody/absent-model', hub })).rejects.toThrow(/config.json at nobody\/absent-model: not found \(tried .*nobody\/absent-model\/config.json\)/);
  });

  describe('a URL base in hub layout', () => {
    let server: ModelServer;
    let base: string;
    beforeAll(async () => {
      server = await startModelServer();
      base = server.base;
    });
    afterAll(() => server.close());

    it('loads over HTTP and embeds the same as from disk', async () => {
      const e = await createEmbedder({ model: `${base}/fixture-tiny/` });
      const [a, b] = [await e.embed([texts[4]!]), await embedder.embed([texts[4]!])];
      expect(cosine(row(a, 0), row(b, 0))).toBeGreaterThanOrEqual(0.999999);
      await e.dispose();
      await expect(createEmbedder({ model: `${base}/missing` })).rejects.toThrow(`model file config.json at ${base}/missing: not found (HTTP 404)`);
    });
  });
});
