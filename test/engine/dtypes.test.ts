// Weights files by dtype, named as transformers.js names them: the q8 file (ONNX Runtime's dynamic
// quantization) and the q4 file (MatMulNBits) of fixture-minilm-quantized load and give vectors
// close to fp32; a missing dtype is an error that lists the ones the model has.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { env, pipeline } from '@huggingface/transformers';
import { createEmbedder, ModelFileError, type NodeEmbedder } from '../../src/node.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { MODELS_DIR, minRowCosine, modelDir } from '../helpers/models.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

const MODEL = modelDir('fixture-minilm-quantized');
const texts = mixedCorpus(60, 4321);

describe('quantized weights (fixture-minilm-quantized)', () => {
  let full: NodeEmbedder;
  let reference: Float32Array;
  beforeAll(async () => {
    full = await createEmbedder({ model: MODEL, dtype: 'fp32' });
    reference = (await full.embed(texts)).data;
  });
  afterAll(() => full.dispose());

  for (const [dtype, floor] of [['q8', 0.999], ['q4', 0.98]] as const) {
    it(`${dtype} loads and runs, close to fp32 (min cosine >= ${floor})`, async () => {
      const e = await createEmbedder({ model: MODEL, dtype });
      expect(e.info.dtype).toBe(dtype);
      const got = await e.embed(texts);
      await e.dispose();
      const min = minRowCosine(got.data, reference, got.dim);
      console.log(`${dtype}: min cosine to fp32 ${min.toFixed(5)} over ${texts.length} texts`);
      expect(min).toBeGreaterThanOrEqual(floor);
    });
  }

  it('q8 equals transformers.js on the same q8 file', async () => {
    const e = await createEmbedder({ model: MODEL, dtype: 'q8' });
    const got = await e.embed(texts.slice(0, 20));
    await e.dispose();
    const extractor = await pipeline('feature-extraction', 'fixture-minilm-quantized', { dtype: 'q8' });
    const want = (await extractor(texts.slice(0, 20), { pooling: 'mean', normalize: true })).data as Float32Array;
    await extractor.dispose();
    // Dynamic quantization scales each batch's activations by its own range, so padding and
    // batch makeup move the vectors slightly: close, not bit-equal.
    expect(minRowCosine(got.data, want, got.dim)).toBeGreaterThanOrEqual(0.999);
  });

  it('a dtype the model lacks fails naming the file and listing the dtypes it has', async () => {
    const attempt = createEmbedder({ model: MODEL, dtype: 'fp16' });
    await expect(attempt).rejects.toBeInstanceOf(ModelFileError);
    await expect(createEmbedder({ model: MODEL, dtype: 'q4f16' })).rejects.toThrow(
      `model file onnx/model_q4f16.onnx at ${MODEL}: not found: this model has no q4f16 weights; it has fp32 (onnx/model.onnx), q8 (onnx/model_quantized.onnx), q4 (onnx/model_q4.onnx)`,
    );
    await expect(createEmbedder({ model: MODEL, dtype: 'q9' as 'q8' })).rejects.toThrow(/option dtype: "q9" is not one of 'fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4', 'auto'/);
  });
});

describe('external data (fixture-minilm-external: weights in model.onnx_data and model.onnx_data_1)', () => {
  it('loads, and its vectors equal the same weights in one file; the rewrite copied only the graph', async () => {
    const external = await createEmbedder({ model: modelDir('fixture-minilm-external') });
    const inline = await createEmbedder({ model: modelDir('fixture-minilm') });
    const [a, b] = [await external.embed(texts), await inline.embed(texts)];
    expect(minRowCosine(a.data, b.data, a.dim)).toBeGreaterThanOrEqual(0.999999);
    await Promise.all([external.dispose(), inline.dispose()]);
    const { appendPooling } = await import('../../src/pool/pooling-graph.js');
    const graph = readFileSync(`${modelDir('fixture-minilm-external')}/onnx/model.onnx`);
    const pooled = appendPooling(graph, { pooling: 'mean', normalize: true });
    expect(pooled.externalFiles).toEqual(['model.onnx_data', 'model.onnx_data_1']);
    expect(pooled.bytes.length).toBeLessThan(graph.length + 4096); // the 90 MB of weights stayed in their files
  });

  it('a missing data file fails naming it', async () => {
    const { resolveModelFiles } = await import('../../src/model/files.js');
    const { nodeFileAccess } = await import('../../src/node.js');
    const base = await resolveModelFiles(modelDir('fixture-minilm-external'), nodeFileAccess);
    const files = { location: base.location, read: (name: string) => (name.endsWith('_data_1') ? Promise.reject(new ModelFileError(name, base.location, 'file not found', { notFound: true })) : base.read(name)) };
    await expect(createEmbedder({ files })).rejects.toThrow(`model file onnx/model.onnx_data_1 at ${base.location}: file not found`);
  });
});
