// The model's own settings with zero configuration: pooling, normalisation and prompts come from
// its sentence-transformers files; explicit options override them; each pooling mode and the
// Matryoshka truncation equal a float64 reference; prompts equal transformers.js on prefixed texts.
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder, EmbeddingsFileError, InvalidOptionError, ModelFileError, type ModelFiles, type NodeEmbedder, type Pooling } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { nodeFileAccess, readEmbeddings } from '../../src/node.js';
import { describeSchema } from '../../src/format/schema.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { FIXTURE_TINY } from '../../tools/fixtures/presets.js';
import { loadWeightsFromOnnx, referenceForward } from '../../tools/fixtures/reference-bert.js';
import { referenceEncode, vocabFromTokenizerJson } from '../../tools/fixtures/vocabulary.js';
import { MODELS_DIR, minRowCosine, modelDir, onnxPath, padBatch, readJson } from '../helpers/models.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

const texts = mixedCorpus(40, 1111).map((t) => t.slice(0, 300));
const ST = modelDir('fixture-st-cls');

/** The same folder with some files replaced (or removed, with null). */
async function withFiles(dir: string, replace: Record<string, string | null>): Promise<ModelFiles> {
  const base = await resolveModelFiles(dir, nodeFileAccess);
  return {
    location: base.location,
    read: async (name) => {
      if (!(name in replace)) return base.read(name);
      if (replace[name] === null) throw new ModelFileError(name, base.location, 'file not found', { notFound: true });
      return new TextEncoder().encode(replace[name]!);
    },
  };
}

async function transformersJs(model: string, input: string[], pooling: 'cls' | 'mean'): Promise<Float32Array> {
  const extractor = await pipeline('feature-extraction', model, { dtype: 'fp32' });
  const out = await extractor(input, { pooling, normalize: true });
  await extractor.dispose();
  return out.data as Float32Array;
}

describe('settings read from the model files', () => {
  let embedder: NodeEmbedder;
  beforeAll(async () => {
    embedder = await createEmbedder({ model: ST });
  });
  afterAll(() => embedder.dispose());

  it('with no options: CLS pooling, Normalize and prompts as declared, each with its source', () => {
    expect(embedder.info).toMatchObject({
      pooling: 'cls', normalize: true, prompts: { query: 'query: ', passage: 'passage: ' }, defaultPromptName: null, dim: 64, modelDim: 64,
      settingSources: { pooling: '1_Pooling/config.json', normalize: 'modules.json', prompts: 'config_sentence_transformers.json', dimensions: 'default' },
    });
  });

  it('with no options, its vectors equal transformers.js with pooling: cls (cosine >= 0.99999)', async () => {
    const got = await embedder.embed(texts);
    const want = await transformersJs('fixture-st-cls', texts, 'cls');
    expect(minRowCosine(got.data, want, got.dim)).toBeGreaterThanOrEqual(0.99999);
  });

  it("promptName: 'query' equals transformers.js on the prompt-prefixed texts; prompt: '...' is the same", async () => {
    const got = await embedder.embed(texts, { promptName: 'query' });
    const want = await transformersJs('fixture-st-cls', texts.map((t) => `query: ${t}`), 'cls');
    expect(minRowCosine(got.data, want, got.dim)).toBeGreaterThanOrEqual(0.99999);
    const literal = await embedder.embed(texts, { prompt: 'query: ' });
    expect(Array.from(literal.data)).toEqual(Array.from(got.data));
    const plain = await embedder.embed(texts);
    expect(minRowCosine(plain.data, got.data, got.dim)).toBeLessThan(0.999); // the prompt changed the vectors
  });

  it('an unknown prompt name is an error that lists the declared ones', async () => {
    await expect(embedder.embed(['x'], { promptName: 'search' })).rejects.toThrow('option promptName: "search" is not one of the model\'s prompts (query, passage)');
  });

  it('explicit options override the files, and info says so', async () => {
    const e = await createEmbedder({ model: ST, pooling: 'mean', normalize: false });
    expect(e.info).toMatchObject({ pooling: 'mean', normalize: false, settingSources: { pooling: 'option', normalize: 'option' } });
    const want = await createEmbedder({ model: modelDir('fixture-tiny'), normalize: false });
    expect(minRowCosine((await e.embed(texts)).data, (await want.embed(texts)).data, 64)).toBeGreaterThanOrEqual(0.999999);
    await Promise.all([e.dispose(), want.dispose()]);
  });

  it('a declared default prompt applies when a call names none; prompt: "" turns it off', async () => {
    const config = JSON.parse(readFileSync(join(ST, 'config_sentence_transformers.json'), 'utf8'));
    const files = await withFiles(ST, { 'config_sentence_transformers.json': JSON.stringify({ ...config, default_prompt_name: 'passage' }) });
    const e = await createEmbedder({ files });
    expect(e.info.defaultPromptName).toBe('passage');
    const byDefault = await e.embed(texts.slice(0, 8));
    const named = await embedder.embed(texts.slice(0, 8), { promptName: 'passage' });
    expect(Array.from(byDefault.data)).toEqual(Array.from(named.data));
    const none = await e.embed(texts.slice(0, 8), { prompt: '' });
    expect(Array.from(none.data)).toEqual(Array.from((await embedder.embed(texts.slice(0, 8))).data));
    await e.dispose();
  });

  it('a modules.json without Normalize gives unnormalised vectors; no files keep the defaults', async () => {
    const modules = JSON.parse(readFileSync(join(ST, 'modules.json'), 'utf8')).filter((m: { type: string }) => !m.type.endsWith('Normalize'));
    const e = await createEmbedder({ files: await withFiles(ST, { 'modules.json': JSON.stringify(modules) }) });
    expect(e.info).toMatchObject({ normalize: false, settingSources: { normalize: 'modules.json' } });
    const r = await e.embed(['one text']);
    expect(Math.abs(Math.hypot(...r.data) - 1)).toBeGreaterThan(0.01);
    await e.dispose();
    const tiny = await createEmbedder({ model: modelDir('fixture-tiny') });
    expect(tiny.info).toMatchObject({ pooling: 'mean', normalize: true, prompts: {}, defaultPromptName: null,
      settingSources: { pooling: 'default', normalize: 'default', prompts: 'default', dimensions: 'default' } });
    await tiny.dispose();
  });

  it('include_prompt: false leaves [CLS] and the prompt out of the pooling, as sentence-transformers does', async () => {
    const pooling = JSON.parse(readFileSync(join(ST, '1_Pooling/config.json'), 'utf8'));
    const files = await withFiles(ST, { '1_Pooling/config.json': JSON.stringify({ ...pooling, pooling_mode_cls_token: false, pooling_mode_mean_tokens: true, include_prompt: false }) });
    const e = await createEmbedder({ files });
    expect(e.info).toMatchObject({ pooling: 'mean', includePrompt: false, settingSources: { includePrompt: '1_Pooling/config.json' } });
    const sample = texts.slice(0, 6);
    const got = await e.embed(sample, { promptName: 'query' });
    // Reference: transformers.js token vectors of the prefixed text, averaged from the first text token on.
    const { AutoTokenizer } = await import('@huggingface/transformers');
    const tokenizer = await AutoTokenizer.from_pretrained('fixture-st-cls');
    const promptTokens = tokenizer.encode('query: ').length - 1; // [CLS] and the prompt's pieces, less [SEP]
    const extractor = await pipeline('feature-extraction', 'fixture-st-cls', { dtype: 'fp32' });
    const want: number[] = [];
    for (const text of sample) {
      const tokens = (await extractor(`query: ${text}`, { pooling: 'none' }));
      const [, seq, hidden] = tokens.dims as number[];
      const data = tokens.data as Float32Array;
      const v = Array.from({ length: hidden! }, (_, j) => {
        let sum = 0;
        for (let t = promptTokens; t < seq!; t++) sum += data[t * hidden! + j]!;
        return sum / (seq! - promptTokens);
      });
      const norm = Math.hypot(...v);
      want.push(...v.map((x) => x / norm));
    }
    await extractor.dispose();
    expect(minRowCosine(got.data, want, 64)).toBeGreaterThanOrEqual(0.99999);
    const included = await createEmbedder({ files, includePrompt: true }); // the option overrides the file
    expect(minRowCosine((await included.embed(sample, { promptName: 'query' })).data, got.data, 64)).toBeLessThan(0.999);
    await included.dispose();
    // Without a prompt nothing is left out: the same as pooling every token.
    const plain = await createEmbedder({ model: modelDir('fixture-tiny') });
    expect(minRowCosine((await e.embed(sample)).data, (await plain.embed(sample)).data, 64)).toBeGreaterThanOrEqual(0.999999);
    await Promise.all([e.dispose(), plain.dispose()]);
  });

  it('a pooling config that names no mode it can run, or a bad default prompt, fails naming the file', async () => {
    const noMode = await withFiles(ST, { '1_Pooling/config.json': JSON.stringify({ pooling_mode_weightedmean_tokens: true }) });
    await expect(createEmbedder({ files: noMode })).rejects.toThrow(/model file 1_Pooling\/config.json at .*: declares none of the pooling modes/);
    const badDefault = await withFiles(ST, { 'config_sentence_transformers.json': JSON.stringify({ prompts: { query: 'q: ' }, default_prompt_name: 'doc' }) });
    await expect(createEmbedder({ files: badDefault })).rejects.toThrow(/default_prompt_name "doc" is not one of its prompts \(query\)/);
  });
});

describe('pooling modes against a float64 reference (fixture-tiny)', () => {
  const vocab = vocabFromTokenizerJson(readJson(`${modelDir('fixture-tiny')}/tokenizer.json`));
  const weights = loadWeightsFromOnnx(onnxPath('fixture-tiny'), FIXTURE_TINY.dims);
  const sample = texts.slice(0, 12);

  function reference(pooling: Pooling): number[][] {
    const h = FIXTURE_TINY.dims.hidden;
    return sample.map((text) => {
      const ids = referenceEncode(text, vocab).slice(0, FIXTURE_TINY.dims.maxPositions);
      const states = referenceForward(weights, padBatch([ids]));
      const at = (s: number, j: number) => states[s * h + j]!;
      const v = Array.from({ length: h }, (_, j) => {
        if (pooling === 'cls') return at(0, j);
        if (pooling === 'lasttoken') return at(ids.length - 1, j);
        const column = ids.map((_, s) => at(s, j));
        return pooling === 'max' ? Math.max(...column) : column.reduce((a, b) => a + b, 0) / ids.length;
      });
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
  }

  for (const pooling of ['mean', 'cls', 'max', 'lasttoken'] as const) {
    it(`${pooling}: cosine >= 0.99999 per row, in batches padded to the longest text`, async () => {
      const e = await createEmbedder({ model: modelDir('fixture-tiny'), pooling });
      const got = await e.embed(sample);
      await e.dispose();
      expect(e.info.pooling).toBe(pooling);
      expect(minRowCosine(got.data, reference(pooling).flat(), got.dim)).toBeGreaterThanOrEqual(0.99999);
    });
  }
});

describe('Matryoshka dimensions', () => {
  it('dimensions: 128 equals the first 128 components renormalised; more than the model has is an error', async () => {
    const full = await createEmbedder({ model: modelDir('fixture-minilm') });
    const cut = await createEmbedder({ model: modelDir('fixture-minilm'), dimensions: 128 });
    expect(cut.info).toMatchObject({ dim: 128, modelDim: 384, settingSources: { dimensions: 'option' } });
    const [a, b] = [await full.embed(texts), await cut.embed(texts)];
    const want = Array.from({ length: texts.length }, (_, r) => {
      const head = Array.from(a.data.subarray(r * 384, r * 384 + 128));
      const norm = Math.hypot(...head);
      return head.map((x) => x / norm);
    }).flat();
    expect(b.dim).toBe(128);
    expect(minRowCosine(b.data, want, 128)).toBeGreaterThanOrEqual(0.99999);
    for (let r = 0; r < texts.length; r++) expect(Math.hypot(...b.data.subarray(r * 128, (r + 1) * 128))).toBeCloseTo(1, 5);
    await Promise.all([full.dispose(), cut.dispose()]);
    await expect(createEmbedder({ model: modelDir('fixture-minilm'), dimensions: 385 })).rejects.toThrow("option dimensions: 385 is more than the model's 384 dimensions");
    await expect(createEmbedder({ model: modelDir('fixture-minilm'), dimensions: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
  });
});

describe('prompts and dimensions in the Arrow file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-settings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('records the prompt and the truncation, and resume refuses another prompt', async () => {
    const e = await createEmbedder({ model: ST, dimensions: 32, maxTokens: 24, truncation: 'keep-special-tokens' });
    const file = join(dir, 'q.arrow');
    const records = texts.map((text, i) => ({ id: `r${i}`, text }));
    const result = await e.embedTo(records.slice(0, 20), file, { promptName: 'passage' });
    expect(result.file).toMatchObject({ prompt: 'passage: ', dim: 32, modelDim: 64, maxTokens: 24, truncation: 'keep-special-tokens' });
    // What the file says is what a reader sees (info reads the schema back).
    let schema = null;
    for await (const batch of readEmbeddings(file)) schema ??= batch.schema;
    expect(describeSchema(schema!)).toMatchObject({ maxTokens: 24, truncation: 'keep-special-tokens' });
    await expect(e.embedTo(records, file, { resume: true, promptName: 'query' })).rejects.toThrow(EmbeddingsFileError);
    await expect(e.embedTo(records, file, { resume: true, promptName: 'query' })).rejects.toThrow(/another prompt \(prompt: "passage: " now "query: "\)/);
    const resumed = await e.embedTo(records, file, { resume: true, prompt: 'passage: ' });
    expect(resumed).toMatchObject({ written: 20, skipped: 20 });
    await e.dispose();
  });
});

describe('a single-page-app server that answers missing files with index.html', () => {
  it('counts the HTML page as absent: the optional settings files fall back to defaults, a missing dtype is named', async () => {
    const { startModelServer } = await import('../helpers/model-server.js');
    const { readFile } = await import('node:fs/promises');
    // What Vite's dev and preview servers do: 200 and index.html for any path they do not have.
    const server = await startModelServer((path, _req, res) => {
      void readFile(join(MODELS_DIR, path)).then((bytes) => res.end(bytes), () => {
        res.setHeader('content-type', 'text/html');
        res.end('<!doctype html><html><body>app</body></html>');
      });
      return true;
    });
    try {
      const e = await createEmbedder({ model: `${server.base}/fixture-tiny` });
      expect(e.info).toMatchObject({ pooling: 'mean', normalize: true, settingSources: { pooling: 'default', normalize: 'default' } });
      await e.dispose();
      await expect(createEmbedder({ model: `${server.base}/fixture-tiny`, dtype: 'q8' })).rejects.toThrow(/onnx\/model_quantized\.onnx .*not found: this model has no q8 weights; it has fp32 \(onnx\/model\.onnx\), fp16/);
    } finally {
      await server.close();
    }
  });

  it('offline, an optional settings file that cannot be fetched counts as absent after one try, and info says so', async () => {
    const { startModelServer } = await import('../helpers/model-server.js');
    const asked: string[] = [];
    // The app's cache holds the model's own files; the optional ones fail as requests do offline.
    const server = await startModelServer((path, req) => {
      if (!/modules\.json|config_sentence_transformers\.json|1_Pooling/.test(path)) return false;
      asked.push(path);
      req.socket.destroy();
      return true;
    });
    try {
      const started = performance.now();
      const e = await createEmbedder({ model: `${server.base}/fixture-tiny` });
      expect(performance.now() - started).toBeLessThan(5000); // no retries with backoff for optional files
      expect(e.info.pooling).toBe('mean');
      expect(e.info.reasons.join(' ')).toMatch(/could not fetch modules\.json, config_sentence_transformers\.json, 1_Pooling\/config\.json \(offline\?\)/);
      expect(asked.sort()).toEqual(['fixture-tiny/1_Pooling/config.json', 'fixture-tiny/config_sentence_transformers.json', 'fixture-tiny/modules.json']); // once each
      await e.dispose();
    } finally {
      await server.close();
    }
  });
});
