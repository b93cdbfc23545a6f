// The same vectors as transformers.js: on fixture-minilm, 60 generated texts of 1 to 600 words
// (short ones, over-long ones cut at 512 tokens, several padded batches of mixed lengths), every
// row of embed() against the feature-extraction pipeline called one text at a time. 60 texts, not
// 300: the reference runs one text at a time, and the 60 already hold every case a row can go
// wrong in (truncation, padding in a batch, the order rows come back in).
import { env, pipeline } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { createEmbedder } from '../../src/node.js';
import { LEXICON_SEED, LEXICON_SIZE, makeLexicon, TextGenerator } from '../../tools/fixtures/lexicon.js';
import { MODELS_DIR, modelDir } from '../helpers/models.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

const gen = new TextGenerator(makeLexicon(LEXICON_SIZE, LEXICON_SEED), 300);
const texts = Array.from({ length: 60 }, () => gen.text(gen.between(1, 600)));

describe.each(['mean', 'cls'] as const)('fidelity with transformers.js, %s pooling', (pooling) => {
  it('every row has cosine >= 0.99999 with the pipeline, one text at a time', async () => {
    const embedder = await createEmbedder({ model: modelDir('fixture-minilm'), pooling });
    const result = await embedder.embed(texts);
    expect(result.count).toBe(60);
    expect(result.dim).toBe(384);
    // The cases a row can go wrong in: cut at 512 tokens, padded beside longer texts, in batches.
    expect(embedder.stats.truncatedTexts).toBeGreaterThanOrEqual(10); // 15 of the 60 exceed 512 tokens
    expect(embedder.stats.batches).toBeGreaterThan(10);
    expect(embedder.stats.paddingTokens).toBeGreaterThan(0);
    await embedder.dispose();

    const extractor = await pipeline('feature-extraction', 'fixture-minilm', { dtype: 'fp32' });
    let worst = 1;
    for (let i = 0; i < texts.length; i++) {
      const want = (await extractor(texts[i]!, { pooling, normalize: true })).data as Float32Array;
      let dot = 0;
      for (let j = 0; j < result.dim; j++) dot += want[j]! * result.data[i * result.dim + j]!;
      worst = Math.min(worst, dot); // both sides are unit vectors
    }
    await extractor.dispose();
    expect(worst).toBeGreaterThanOrEqual(0.99999);
  });
});
