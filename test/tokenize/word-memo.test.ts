import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Tokenizer } from '@huggingface/tokenizers';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { buildTokenizer } from '../../src/tokenize/tokenizer.js';
import { GenerationalCache, memoizeByteLevel, memoizeWords } from '../../src/tokenize/word-memo.js';
import { sampleCorpus } from '../../tools/fixtures/corpus.js';
import { MODELS_DIR } from '../helpers/models.js';
import { tokenizerJsonOf } from '../helpers/tokenizer-json.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';


describe('GenerationalCache', () => {
  it('holds at most its size, keeps what was used lately and forgets what was not', () => {
    const cache = new GenerationalCache<number>(100);
    for (let i = 0; i < 1000; i++) {
      cache.set(`k${i}`, i);
      if (i % 10 === 0) expect(cache.get('k0')).toBe(0); // used all along: survives every aging
      expect(cache.size).toBeLessThanOrEqual(101); // a promoted key may sit in both generations
    }
    expect(cache.get('k500')).toBeUndefined();
    expect(cache.get('k999')).toBe(999);
    expect(cache.get('k0')).toBe(0);
  });
});

describe('memoizeWords', () => {
  it('memoizes byte-level BPE only; WordPiece, Unigram and objects of another shape are left alone', async () => {
    for (const [name, memoized] of [['fixture-decoder', true], ['fixture-minilm', false], ['fixture-xlmr', false]] as const) {
      const { json, config } = await tokenizerJsonOf(name);
      const raw = new Tokenizer(json, config) as unknown as { model: { encode: unknown } };
      const before = raw.model.encode;
      expect(memoizeWords(raw, (json.model as { type: string }).type), name).toBe(memoized);
      expect(raw.model.encode !== before, name).toBe(memoized);
    }
    expect(memoizeWords({}, 'BPE')).toBe(false);
    expect(memoizeWords({ model: { encode: 'not a function' } }, 'BPE')).toBe(false);
    expect(memoizeWords(null, 'BPE')).toBe(false);
  });

  it('gives the ids transformers.js gives, cold and warm, through agings, for words over the memo length too', async () => {
    const { json, config } = await tokenizerJsonOf('fixture-decoder');
    const plain = new Tokenizer(json, config);
    const memoized = new Tokenizer(json, config);
    // Small memos age many times over these texts, so hits come from both generations.
    expect(memoizeWords(memoized, 'BPE', 500)).toBe(true);
    expect(memoizeByteLevel(memoized, json.pre_tokenizer, 300)).toBe(1);
    const reference = await AutoTokenizer.from_pretrained('fixture-decoder');
    const texts = [
      ...sampleCorpus(600, 77),
      'Zürich und Москва, 東京 2025: straße, naïve café. 🙂🙂 \u{1F680}x',
      `${'supercalifragilistic'.repeat(8)} ${'ab'.repeat(40)}`, // words over 64 characters skip the memo
      '', ' ', '  double  spaces  ', "it's they're we'll I'd",
    ];
    for (const pass of [0, 1]) {
      texts.forEach((text, i) => {
        const want = plain.encode(text, { add_special_tokens: true }).ids;
        expect(memoized.encode(text, { add_special_tokens: true }).ids, `pass ${pass}, text ${i}`).toEqual(want);
        if (i % 20 === 0 || i >= 600) expect(want, `text ${i} vs transformers.js`).toEqual(reference.encode(text));
      });
    }
  });

  it('memoizes ByteLevel pre-tokenizers alone or in a Sequence, and nothing else; ids as before', async () => {
    for (const name of ['fixture-minilm', 'fixture-xlmr']) {
      const { json, config } = await tokenizerJsonOf(name);
      expect(memoizeByteLevel(new Tokenizer(json, config), json.pre_tokenizer), name).toBe(0);
    }
    const { json, config } = await tokenizerJsonOf('fixture-decoder');
    // GPT-2's layout: one ByteLevel stage that splits with its own regex, so a piece can be a long run.
    const gpt2 = { ...json, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true } };
    const plain = new Tokenizer(gpt2, config);
    const memoized = new Tokenizer(gpt2, config);
    expect(memoizeByteLevel(memoized, gpt2.pre_tokenizer, 200)).toBe(1);
    expect(memoizeByteLevel({}, gpt2.pre_tokenizer)).toBe(0);
    const texts = [...sampleCorpus(300, 79), 'naïve café 東京 🙂', `${'x'.repeat(100)} ${' '.repeat(90)}end`];
    for (const pass of [0, 1]) {
      texts.forEach((text, i) => expect(memoized.encode(text).ids, `pass ${pass}, text ${i}`).toEqual(plain.encode(text).ids));
    }
  });

  it('keeps no text alive: a new word cut out of a 1 MB text is remembered, not the text', async () => {
    const { json, config } = await tokenizerJsonOf('fixture-decoder');
    const tokenizer = buildTokenizer(json, config, 'fixture-decoder');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let d = 0; d < 100; d++) {
      // V8 keeps a slice of 13 characters or more as a view of its text: this word is 17.
      const word = ` Uniqueword${String.fromCharCode(97 + (d % 26), 97 + Math.floor(d / 26))}xyzw`;
      tokenizer.encode([`${word}${' the garden river'.repeat(60_000)}${d}`], 128);
    }
    gc();
    // Kept alive, the texts would be 100 MB (200 MB of UTF-16); the memo's own entries are a few KB.
    expect((process.memoryUsage().heapUsed - before) / 2 ** 20).toBeLessThan(20);
  });

  it("a caller's edit of the model's output does not reach the memo", async () => {
    const { json, config } = await tokenizerJsonOf('fixture-decoder');
    const raw = new Tokenizer(json, config) as unknown as { model: { encode(words: string[]): string[] } };
    memoizeWords(raw, 'BPE');
    const first = raw.model.encode(['Ġgarden', 'Ġriver']);
    const want = [...first];
    first.splice(0, first.length, 'edited');
    expect(raw.model.encode(['Ġgarden', 'Ġriver'])).toEqual(want);
  });

  it("the library's tokenizer (buildTokenizer) memoizes a BPE model and tokenizes as before", async () => {
    const { json, config } = await tokenizerJsonOf('fixture-decoder');
    const tokenizer = buildTokenizer(json, config, 'fixture-decoder');
    const plain = new Tokenizer(json, config);
    const texts = sampleCorpus(300, 78);
    for (const pass of [0, 1]) {
      const { ids } = tokenizer.encode(texts, 4096);
      texts.forEach((text, i) => expect(Array.from(ids[i]!), `pass ${pass}, text ${i}`).toEqual(plain.encode(text, { add_special_tokens: true }).ids));
    }
  });
});
