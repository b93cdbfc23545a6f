// The typed Unigram lattice must give exactly the pieces of @huggingface/tokenizers' own lattice:
// on the sample corpus, on odd Unicode, and on a hand-made vocabulary where exact ties between
// segmentations and repeated vocabulary entries decide the result.
import { Tokenizer } from '@huggingface/tokenizers';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { fastUnigram } from '../../src/tokenize/unigram-lattice.js';
import { sampleCorpus } from '../../tools/fixtures/corpus.js';
import { MODELS_DIR } from '../helpers/models.js';
import { tokenizerJsonOf } from '../helpers/tokenizer-json.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';


const ODD_TEXTS = [
  '', ' ', '   ', '  a  b ', '\t\n\r', '\u{1F600}\u{1F600}x \u{1F680}', 'e\u0301 cafe\u0301 café', 'Zürich 12345 ★☆ 中文字符测试 Москва',
  'a'.repeat(700), '▁▁x▁ ▁', '<unk> <s></s> <pad>', '\uD800 lone surrogate \uDFFF', 'x'.repeat(3) + '\u0000' + 'y',
];

describe('fastUnigram', () => {
  it('replaces the lattice of Unigram models only; WordPiece, BPE and objects of another shape are left alone', async () => {
    for (const [name, replaced] of [['fixture-xlmr', true], ['fixture-minilm', false], ['fixture-decoder', false]] as const) {
      const { json, config } = await tokenizerJsonOf(name);
      const raw = new Tokenizer(json, config) as unknown as { model: { tokenize?: unknown } };
      const before = raw.model.tokenize;
      expect(fastUnigram(raw, (json.model as { type: string }).type), name).toBe(replaced);
      expect(raw.model.tokenize !== before, name).toBe(replaced);
    }
    expect(fastUnigram({}, 'Unigram')).toBe(false);
    expect(fastUnigram({ model: { tokenize: () => [] } }, 'Unigram')).toBe(false);
    expect(fastUnigram(null, 'Unigram')).toBe(false);
  });

  it('gives the ids of the plain tokenizer and of transformers.js on fixture-xlmr, texts long and short, odd Unicode too', async () => {
    const { json, config } = await tokenizerJsonOf('fixture-xlmr');
    const plain = new Tokenizer(json, config);
    const fast = new Tokenizer(json, config);
    expect(fastUnigram(fast, 'Unigram')).toBe(true);
    const reference = await AutoTokenizer.from_pretrained('fixture-xlmr');
    const corpus = sampleCorpus(600, 31);
    // One text of some 6,000 characters: the lattice's arrays grow several times within it.
    const texts = [...ODD_TEXTS, corpus.slice(0, 60).join(' '), ...corpus];
    for (const [i, text] of texts.entries()) {
      const want = plain.encode(text).ids;
      expect(fast.encode(text).ids, `text ${i}: ${JSON.stringify(text.slice(0, 60))}`).toEqual(want);
      expect(want, `text ${i} against transformers.js`).toEqual(Array.from(reference.encode(text)));
    }
  });

  it('breaks exact ties as the library does (the first best predecessor), and scores a repeated piece by its last entry', () => {
    // "ab" is "▁ab": [▁ab], [▁a, b] and [▁, ab] all score -2 exactly; [▁, a, b] scores -3. The
    // library keeps the first of equal predecessors in the order it inserted them, which is
    // [▁ab]; a `>=` there would give [▁a, b]. "c" is listed twice; its second score (-0.5) counts.
    const vocab: [string, number][] = [
      ['<unk>', 0], ['▁', -1], ['a', -1], ['▁a', -1], ['b', -1], ['ab', -1], ['▁ab', -2], ['c', -9], ['▁c', -3], ['c', -0.5], ['ca', -1.5], ['▁ca', -3],
    ];
    const json = {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, post_processor: null, decoder: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
    };
    const config = { unk_token: '<unk>' };
    const plain = new Tokenizer(json, config);
    const fast = new Tokenizer(json, config);
    expect(fastUnigram(fast, 'Unigram')).toBe(true);
    const pieces = (t: Tokenizer, text: string) => t.encode(text).tokens;
    expect(pieces(plain, 'ab')).toEqual(['▁ab']);
    expectSamePieces(plain, fast, ['ab', 'ab ab', 'abab', 'ca', '▁ca', 'cab ac bca', 'cc ca c', 'xab zz', 'b a', 'aaa bbb ccc']);
  });

  it('added tokens that overwrite vocabulary entries, or have ids past its end, change nothing', () => {
    // The tokenizer writes each added token into the model's vocab at its id ("ab" at 4 becomes
    // "<sep>", and id 9 leaves holes) and into tokens_to_ids; the trie keeps the strings it was built from.
    const vocab: [string, number][] = [['<unk>', 0], ['▁', -1], ['a', -1], ['b', -1], ['ab', -0.5], ['▁ab', -3], ['x', -2]];
    const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    const json = {
      version: '1.0', truncation: null, padding: null, added_tokens: [added(4, '<sep>'), added(9, '<extra>')], normalizer: null, post_processor: null, decoder: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
    };
    const plain = new Tokenizer(json, {});
    const fast = new Tokenizer(json, {});
    expect(fastUnigram(fast, 'Unigram')).toBe(true);
    expect(plain.encode('xab').tokens).toEqual(['▁', 'x', 'ab']); // "ab" keeps its own score
    expectSamePieces(plain, fast, ['ab', 'xab', 'abab', 'x<sep>ab', '<extra> ab', 'a b ab xx']);
  });
});

function expectSamePieces(plain: Tokenizer, fast: Tokenizer, texts: string[]): void {
  for (const text of texts) {
    expect(fast.encode(text).tokens, text).toEqual(plain.encode(text).tokens);
    expect(fast.encode(text).ids, text).toEqual(plain.encode(text).ids);
  }
}

