// The native BERT steps must give exactly what @huggingface/tokenizers' own loops give: the
// normalizer's two character steps over every code point (and lone surrogates), WordPiece over the
// sample corpus, odd words and a vocabulary without a continuing-subword prefix.
import { Tokenizer } from '@huggingface/tokenizers';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { bertNormalizerSteps, fastBertNormalizer, fastWordPiece } from '../../src/tokenize/wordpiece-fast.js';
import { sampleCorpus } from '../../tools/fixtures/corpus.js';
import { MODELS_DIR } from '../helpers/models.js';
import { tokenizerJsonOf } from '../helpers/tokenizer-json.js';

env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR + '/';


interface LibraryNormalizer { clean_text(text: string): string; tokenize_chinese_chars(text: string): string }

describe('bertNormalizerSteps', () => {
  it('drop, map and space every code point as the library does, lone surrogates and astral characters included', async () => {
    const { json, config } = await tokenizerJsonOf('fixture-minilm');
    const library = (new Tokenizer(json, config) as unknown as { normalizer: LibraryNormalizer }).normalizer;
    // Each step treats each character on its own, so blocks of 4,096 code points compare as well as single ones.
    for (let start = 0; start <= 0x10ffff; start += 4096) {
      const chars: string[] = [];
      for (let cp = start; cp < Math.min(start + 4096, 0x110000); cp++) chars.push(cp >= 0xd800 && cp <= 0xdfff ? `a${String.fromCharCode(cp)}b` : String.fromCodePoint(cp));
      const block = chars.join('');
      const at = `block from U+${start.toString(16).toUpperCase()}`;
      expect(bertNormalizerSteps.cleanText(block), at).toBe(library.clean_text(block));
      expect(bertNormalizerSteps.spaceCjk(block), at).toBe(library.tokenize_chinese_chars(block));
    }
    for (const odd of ['\uD800\uD800', '\uDC00\uD800', '\u{1F600}\u000B\u0085\uFEFF\u00A0\u3000 x', '\u4E00\u{20000}\uF900', '\0\uFFFD\t\n\r']) {
      expect(bertNormalizerSteps.cleanText(odd), JSON.stringify(odd)).toBe(library.clean_text(odd));
      expect(bertNormalizerSteps.spaceCjk(odd), JSON.stringify(odd)).toBe(library.tokenize_chinese_chars(odd));
    }
  });
});

describe('fastWordPiece and fastBertNormalizer', () => {
  it('apply to WordPiece and BertNormalizer only; Unigram, BPE and objects of another shape are left alone', async () => {
    for (const [name, replaced] of [['fixture-minilm', true], ['fixture-xlmr', false], ['fixture-decoder', false]] as const) {
      const { json, config } = await tokenizerJsonOf(name);
      const raw = new Tokenizer(json, config) as unknown as { model: { encode: unknown } };
      const before = raw.model.encode;
      expect(fastWordPiece(raw, (json.model as { type: string }).type), name).toBe(replaced);
      expect(raw.model.encode !== before, name).toBe(replaced);
      expect(fastBertNormalizer(new Tokenizer(json, config), json.normalizer), name).toBe(replaced ? 1 : 0);
    }
    expect(fastWordPiece({}, 'WordPiece')).toBe(false);
    expect(fastWordPiece({ model: { encode: () => [] } }, 'WordPiece')).toBe(false);
    expect(fastBertNormalizer({ normalizer: {} }, { type: 'BertNormalizer' })).toBe(0);
    expect(fastBertNormalizer(null, { type: 'BertNormalizer' })).toBe(0);
  });

  it('give the ids of the plain tokenizer and of transformers.js on fixture-minilm: long, unknown, astral and CJK words too', async () => {
    const { json, config } = await tokenizerJsonOf('fixture-minilm');
    const plain = new Tokenizer(json, config);
    const fast = new Tokenizer(json, config);
    expect(fastWordPiece(fast, 'WordPiece')).toBe(true);
    expect(fastBertNormalizer(fast, json.normalizer)).toBe(1);
    const reference = await AutoTokenizer.from_pretrained('fixture-minilm');
    const texts = [
      '', ' ', 'Zürich und Москва, 東京 2025: straße, naïve café. 🙂🙂 \u{1F680}x \u{20000}\u4E00', 'x'.repeat(99), 'x'.repeat(100), 'x'.repeat(101),
      `${'🙂'.repeat(60)} ${'é'.repeat(120)}`, 'qqqzzzxxx unaffable ##ing', '\u000B\u0085\uFEFF ctl\u0000mid\uFFFD', 'lone \uD800 surrogate \uDFFF end',
      ...sampleCorpus(600, 41),
    ];
    for (const [i, text] of texts.entries()) {
      const want = plain.encode(text).ids;
      expect(fast.encode(text).ids, `text ${i}: ${JSON.stringify(text.slice(0, 60))}`).toEqual(want);
      expect(want, `text ${i} against transformers.js`).toEqual(Array.from(reference.encode(text)));
    }
  });

  it('a vocabulary whose tokenizer.json gives no continuing_subword_prefix splits words as the library does', () => {
    const json = {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, post_processor: null, decoder: null,
      pre_tokenizer: { type: 'WhitespaceSplit' },
      model: { type: 'WordPiece', unk_token: '[UNK]', max_input_chars_per_word: 8, vocab: { '[UNK]': 0, un: 1, undefinedaff: 2, undefinedable: 3, aff: 4, undefineda: 5, undefinedffable: 6, unaff: 7 } },
    };
    const plain = new Tokenizer(json, {});
    const fast = new Tokenizer(json, {});
    expect(fastWordPiece(fast, 'WordPiece')).toBe(true);
    for (const text of ['unaffable', 'unaff un aff', 'unable', 'affable unknown', 'unaffableness', 'un']) {
      expect(fast.encode(text).tokens, text).toEqual(plain.encode(text).tokens);
    }
  });
});
