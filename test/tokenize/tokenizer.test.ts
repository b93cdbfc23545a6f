import { AutoTokenizer, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/tokenize/tokenizer.js';
import { nodeFileAccess } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { LEXICON_SEED, LEXICON_SIZE, makeLexicon, TextGenerator } from '../../tools/fixtures/lexicon.js';
import { CLS_ID, SEP_ID } from '../../tools/fixtures/vocabulary.js';
import { MODELS_DIR, modelDir } from '../helpers/models.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';

describe('loadTokenizer', async () => {
  const tokenizer = await loadTokenizer(await resolveModelFiles(modelDir('fixture-tiny'), nodeFileAccess));
  const reference = await AutoTokenizer.from_pretrained('fixture-tiny');
  const gen = new TextGenerator(makeLexicon(LEXICON_SIZE, LEXICON_SEED), 21);
  const texts = Array.from({ length: 40 }, () => gen.text(gen.between(0, 120)));

  it('reads model_max_length from tokenizer_config.json', () => {
    expect(tokenizer.modelMaxLength).toBe(128);
  });

  it("'cut' truncation gives exactly what transformers.js gives (its trailing [SEP] is lost)", () => {
    const { ids, truncated } = tokenizer.encode(texts, 64, 'cut');
    let expectedTruncated = 0;
    texts.forEach((text, i) => {
      const want = (reference(text, { truncation: true, max_length: 64, return_tensor: false }) as { input_ids: number[] }).input_ids;
      if (reference.encode(text).length > 64) expectedTruncated++;
      expect(Array.from(ids[i]!)).toEqual(want);
    });
    expect(truncated).toBe(expectedTruncated);
    expect(truncated).toBeGreaterThan(5);
  });

  it("'keep-special-tokens' truncation cuts the text between [CLS] and [SEP]", () => {
    const { ids } = tokenizer.encode(texts, 64, 'keep-special-tokens');
    texts.forEach((text, i) => {
      const full = reference.encode(text);
      const got = Array.from(ids[i]!);
      if (full.length <= 64) expect(got).toEqual(full);
      else expect(got).toEqual([...full.slice(0, 63), SEP_ID]);
      expect(got[0]).toBe(CLS_ID);
      expect(got.at(-1)).toBe(SEP_ID);
    });
  });

  it('encodeFlat packs the same rows in one exactly sized buffer (what a tokenizer thread transfers)', () => {
    // 40 texts of up to 120 words, cut at 64 tokens: the rows in one buffer of exactly their ids (the
    // writer's growth past its first guess is tested in sliced.test.ts).
    for (const truncation of ['cut', 'keep-special-tokens'] as const) {
      const rows = tokenizer.encodeFlat(['', ...texts], 64, truncation);
      const { ids, truncated } = tokenizer.encode(['', ...texts], 64, truncation);
      expect(rows.offsets.length).toBe(texts.length + 2);
      expect(rows.truncated).toBe(truncated);
      expect(rows.flat.buffer.byteLength).toBe(rows.offsets.at(-1)! * 4);
      expect(rows.flat.length).toBeGreaterThan(16 * (texts.length + 1));
      ids.forEach((row, i) => expect(Array.from(rows.flat.subarray(rows.offsets[i]!, rows.offsets[i + 1]!)), `text ${i}`).toEqual(Array.from(row)));
      texts.forEach((text, i) => {
        const full = reference.encode(text);
        const want = full.length <= 64 ? full : truncation === 'cut' ? full.slice(0, 64) : [...full.slice(0, 63), SEP_ID];
        expect(Array.from(ids[i + 1]!), `text ${i}, ${truncation}`).toEqual(want);
      });
    }
  });

  it('encodeFlat cuts one long text at 500 tokens, in a buffer of exactly those ids', () => {
    const long = gen.text(2000);
    const rows = tokenizer.encodeFlat([long], 500);
    const want = reference.encode(long).slice(0, 500);
    expect(want.length).toBe(500);
    expect(rows.flat.length).toBe(500);
    expect(Array.from(rows.offsets)).toEqual([0, 500]);
    expect(Array.from(rows.flat)).toEqual(want);
  });

  it('tokenizes the empty string as [CLS] [SEP]', () => {
    expect(Array.from(tokenizer.encode([''], 64).ids[0]!)).toEqual([CLS_ID, SEP_ID]);
  });

  it('cuts a long text before tokenizing without changing its first maxTokens tokens (both truncations, odd texts)', () => {
    const words = (n: number) => gen.text(n);
    const long = [
      words(3000),
      `${' '.repeat(20_000)}${words(500)}`, // a long white-space run before the words
      `${words(200)}${'\n'.repeat(5000)}${words(800)}`,
      `${'x'.repeat(30_000)} ${words(400)}`, // one word longer than the prefix
      Array.from({ length: 2000 }, (_, i) => (i % 7 === 0 ? 'unbreakablewordpiecesequence' : words(1))).join(' '),
      `${words(120)}  \t ${words(5000)}`,
    ];
    for (const maxTokens of [8, 16, 64, 128]) {
      for (const truncation of ['cut', 'keep-special-tokens'] as const) {
        const { ids } = tokenizer.encode(long, maxTokens, truncation);
        long.forEach((text, i) => {
          const full = reference.encode(text);
          const want = full.length <= maxTokens ? full : truncation === 'cut' ? full.slice(0, maxTokens) : [...full.slice(0, maxTokens - 1), SEP_ID];
          expect(Array.from(ids[i]!), `text ${i}, ${maxTokens}, ${truncation}`).toEqual(want);
        });
      }
    }
  });

  it('a 20 MB text costs about what a short one does (its first 128 tokens are those of the whole text)', () => {
    const big = gen.text(40_000).repeat(60); // about 20 MB
    const t0 = performance.now();
    const { ids, truncated } = tokenizer.encode([big], 128);
    const ms = performance.now() - t0;
    console.log(`tokenizing a ${(big.length / 2 ** 20).toFixed(1)} MB text to 128 tokens: ${ms.toFixed(0)} ms`);
    expect(truncated).toBe(1);
    const head = big.slice(0, 200_000); // far more than 128 tokens: the whole text's first 128 are its first 128
    expect(Array.from(ids[0]!)).toEqual(reference.encode(head).slice(0, 128));
  });
});

