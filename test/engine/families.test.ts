// Model families beyond BERT: XLM-R (Unigram tokenizer, positions after the padding index),
// ModernBERT (no token_type_ids, 8,192-token context), a Gemma encoder with its own pooled
// sentence_embedding output, and a Qwen3-style decoder (position_ids, empty caches, left padding,
// last-token pooling). Each against transformers.js and against a float64 forward pass.
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModel, AutoTokenizer, env, pipeline } from '@huggingface/transformers';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsupportedModelError } from '../../src/base/errors.js';
import { appendToGraph, OnnxType, readModelSummary } from '../../src/model/onnx-model.js';
import { createEmbedder, nodeFileAccess, type NodeEmbedder } from '../../src/node.js';
import { positionIdsFor } from '../../src/run/feeds.js';
import { loadTokenizer } from '../../src/tokenize/tokenizer.js';
import { mixedCorpus, textGenerator } from '../../tools/fixtures/corpus.js';
import { FAMILY_PRESETS, FIXTURE_DECODER, FIXTURE_GEMMA_ENCODER, generateFamilyWeights, GEMMA_PROMPTS, QWEN_PROMPTS, type FamilyPreset } from '../../tools/fixtures/families.js';
import { referenceFamilyForward } from '../../tools/fixtures/reference-families.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { cosine, MODELS_DIR, modelDir } from '../helpers/models.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

const POOLING: Record<FamilyPreset['family'], 'mean' | 'cls' | 'last_token' | null> = { xlmr: 'mean', modernbert: 'cls', gemma: null, decoder: 'last_token' };

/** 200 mixed texts: short and long, multilingual, and a few past the model's token limit. */
function familyTexts(preset: FamilyPreset): string[] {
  const gen = textGenerator(preset.seed);
  const long = Math.ceil(preset.dims.maxTokens * 1.1); // words: at least one token each
  return [
    ...mixedCorpus(192, preset.seed),
    'Zürich und Москва, 東京 2025: straße, naïve café.', 'A', '',
    gen.text(long), gen.text(long + 50), gen.text(Math.floor(preset.dims.maxTokens / 2)),
    'the river garden data.', '   spaces   and\ttabs\nnew lines  ',
  ];
}

/** transformers.js vectors of `texts` (with the prompt prefixed), one text at a time, unit length. */
async function transformersJsVectors(preset: FamilyPreset, texts: readonly string[], prompt = ''): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  if (preset.family === 'gemma') {
    const tokenizer = await AutoTokenizer.from_pretrained(preset.name);
    const model = await AutoModel.from_pretrained(preset.name, { dtype: 'fp32' });
    for (const text of texts) {
      const { sentence_embedding } = await model(tokenizer(prompt + text, { padding: true, truncation: true }));
      out.push(Float32Array.from(sentence_embedding.data as Float32Array));
    }
    await model.dispose();
    return out;
  }
  const extractor = await pipeline('feature-extraction', preset.name, { dtype: 'fp32' });
  for (const text of texts) {
    const output = await extractor(prompt + text, { pooling: POOLING[preset.family]!, normalize: true });
    out.push(Float32Array.from(output.data as Float32Array));
  }
  await extractor.dispose();
  return out;
}

const rowOf = (data: Float32Array, dim: number, i: number) => data.subarray(i * dim, (i + 1) * dim);

describe.each(FAMILY_PRESETS.map((p) => [p.name, p] as const))('%s', (name, preset) => {
  const embedders: NodeEmbedder[] = [];
  afterAll(() => Promise.all(embedders.map((e) => e.dispose())));
  const load = async (options: Parameters<typeof createEmbedder>[0] = {}) => {
    const e = await createEmbedder({ model: modelDir(name), ...options });
    embedders.push(e);
    return e;
  };

  it('equals transformers.js on 200 mixed texts, over-long ones included: cosine >= 0.99999', { timeout: 240_000 }, async () => {
    const texts = familyTexts(preset);
    const embedder = await load();
    expect(embedder.info.modelType).toBe(JSON.parse(readFileSync(join(modelDir(name), 'config.json'), 'utf8')).model_type);
    expect(embedder.info.pooling).toBe(preset.family === 'gemma' ? 'model' : POOLING[preset.family] === 'last_token' ? 'lasttoken' : POOLING[preset.family]);
    expect(embedder.info.maxTokens).toBe(preset.dims.maxTokens);
    const got = await embedder.embed(texts);
    expect(embedder.stats.truncatedTexts).toBeGreaterThanOrEqual(2);
    const want = await transformersJsVectors(preset, texts);
    const cosines = want.map((w, i) => cosine(w, rowOf(got.data, got.dim, i)));
    const worst = Math.min(...cosines);
    console.log(`${name}: min cosine ${worst.toFixed(7)} to transformers.js over ${texts.length} texts, ${embedder.stats.batches} batches, padding ${(100 * embedder.stats.paddingTokens / (embedder.stats.tokens + embedder.stats.paddingTokens)).toFixed(2)}%`);
    expect(worst).toBeGreaterThanOrEqual(0.99999);
  });

  it('equals its float64 forward pass within 1e-4 before normalisation, padded batches included', async () => {
    const embedder = await load({ normalize: false });
    const gen = textGenerator(preset.seed + 1);
    const texts = ['short', ...Array.from({ length: 5 }, (_, i) => gen.text(5 + 30 * i))];
    const got = await embedder.embed(texts);
    // The reference pads as the engine does: on the tokenizer's side, with its pad token.
    const tokenizer = await loadTokenizer(await resolveModelFiles(modelDir(name), nodeFileAccess));
    const { ids } = tokenizer.encode(texts, preset.dims.maxTokens);
    const seq = Math.max(...ids.map((r) => r.length));
    const pad = tokenizer.padId!;
    const place = <T>(row: T[], fill: T) => (tokenizer.padLeft
      ? [...Array(seq - row.length).fill(fill), ...row]
      : [...row, ...Array(seq - row.length).fill(fill)]);
    const inputIds = ids.map((r) => place([...r], pad));
    const attentionMask = ids.map((r) => place(Array.from(r, () => 1), 0));
    const positions = positionIdsFor(BigInt64Array.from(attentionMask.flat().map(BigInt)), texts.length, seq);
    const positionIds = inputIds.map((_, b) => Array.from(positions.subarray(b * seq, (b + 1) * seq), Number));
    const ref = referenceFamilyForward(preset, generateFamilyWeights(preset), { inputIds, attentionMask, positionIds });
    let maxDiff = 0;
    texts.forEach((_, b) => {
      const states = ref.lastHiddenState[b]!;
      const real = attentionMask[b]!.map((m, t) => (m ? t : -1)).filter((t) => t >= 0);
      const pooled = preset.family === 'gemma' ? ref.sentenceEmbedding![b]!
        : preset.family === 'modernbert' ? states[0]!
          : preset.family === 'decoder' ? states[seq - 1]!
            : states[0]!.map((_, j) => real.reduce((a, t) => a + states[t]![j]!, 0) / real.length);
      const row = rowOf(got.data, got.dim, b);
      pooled.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - row[j]!))));
    });
    console.log(`${name}: max abs diff ${maxDiff.toExponential(2)} to the float64 forward pass`);
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
  });
});

describe('declared prompts', () => {
  it.each([[FIXTURE_GEMMA_ENCODER, 'query', GEMMA_PROMPTS.query], [FIXTURE_DECODER, 'query', QWEN_PROMPTS.query]] as const)(
    '%s: promptName query equals transformers.js on the prefixed text', async (preset, promptName, prompt) => {
      const embedder = await createEmbedder({ model: modelDir(preset.name) });
      expect(embedder.info.prompts[promptName]).toBe(prompt);
      const texts = mixedCorpus(12, 77);
      const got = await embedder.embed(texts, { promptName });
      await embedder.dispose();
      const want = await transformersJsVectors(preset, texts, prompt);
      expect(Math.min(...want.map((w, i) => cosine(w, rowOf(got.data, got.dim, i))))).toBeGreaterThanOrEqual(0.99999);
    });
});

describe('fixture-gemma-encoder: the model pools, the engine truncates and normalises', () => {
  it('dimensions 32 equals the first 32 components of sentence_embedding, renormalised', async () => {
    const texts = mixedCorpus(10, 5);
    const embedder = await createEmbedder({ model: modelDir(FIXTURE_GEMMA_ENCODER.name), dimensions: 32 });
    expect(embedder.info).toMatchObject({ dim: 32, modelDim: 64, pooling: 'model' });
    expect(embedder.info.settingSources.pooling).toBe('onnx/model.onnx output sentence_embedding');
    const got = await embedder.embed(texts);
    await embedder.dispose();
    const want = await transformersJsVectors(FIXTURE_GEMMA_ENCODER, texts);
    want.forEach((w, i) => {
      const head = w.subarray(0, 32);
      const norm = Math.hypot(...head);
      expect(cosine(head.map((v) => v / norm), rowOf(got.data, 32, i))).toBeGreaterThanOrEqual(0.99999);
    });
  });

  it('includePrompt: false is refused: the graph pools the prompt with the text', async () => {
    await expect(createEmbedder({ model: modelDir(FIXTURE_GEMMA_ENCODER.name), includePrompt: false })).rejects.toThrow(/includePrompt: false needs a token pooling/);
  });
});

describe('fixture-decoder: left padding never reaches the last token', () => {
  it('a text gets the same vector alone, beside much longer texts, and in other batch compositions', async () => {
    const gen = textGenerator(4242);
    const probes = [gen.text(3), gen.text(17), gen.text(60)];
    const others = Array.from({ length: 30 }, (_, i) => gen.text(5 + 13 * i));
    const alone = await createEmbedder({ model: modelDir(FIXTURE_DECODER.name) });
    const single = await Promise.all(probes.map(async (t) => (await alone.embed([t])).data));
    await alone.dispose();
    for (const maxBatchTokens of [256, 2048, 16384]) {
      const mixed = await createEmbedder({ model: modelDir(FIXTURE_DECODER.name), maxBatchTokens });
      const result = await mixed.embed([...others.slice(0, 15), ...probes, ...others.slice(15)]);
      expect(mixed.stats.paddingTokens).toBeGreaterThan(0);
      await mixed.dispose();
      probes.forEach((_, p) => {
        const row = rowOf(result.data, result.dim, 15 + p);
        const diff = Math.max(...Array.from(row, (v, j) => Math.abs(v - single[p]![j]!)));
        expect(diff, `probe ${p} with maxBatchTokens ${maxBatchTokens}`).toBeLessThanOrEqual(1e-5);
      });
    }
  });
});

describe('an unsupported family', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-unsupported-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails at load with an error naming the model type and the inputs it saw', async () => {
    // fixture-tiny's files, declared as a T5 model whose graph also wants decoder_input_ids.
    cpSync(modelDir('fixture-tiny'), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 't5', architectures: ['T5Model'] }));
    const bytes = readFileSync(join(dir, 'onnx', 'model.onnx'));
    const { outputs } = readModelSummary(bytes);
    writeFileSync(join(dir, 'onnx', 'model.onnx'), appendToGraph(bytes, {
      nodes: [], initializers: [], outputs,
      inputs: [{ name: 'decoder_input_ids', elemType: OnnxType.INT64, shape: ['batch_size', 'decoder_sequence_length'] }],
    }));
    copyFileSync(join(dir, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model_fp16.onnx'));
    const error = await createEmbedder({ model: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect((error as Error).message).toBe(
      'model type "t5" is not supported: the engine cannot make the input decoder_input_ids ' +
      '(graph inputs: input_ids, attention_mask, token_type_ids, decoder_input_ids; outputs: last_hidden_state)');
  });
});
