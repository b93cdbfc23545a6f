// directEncode: a text's ids through the tokenizer's own stages without the library's glue must be
// exactly the library's encode, for every family's tokenizer, with and without special tokens, for
// texts with added tokens written in them (which go to the library), and for tokenizers whose
// post-processor or added tokens do more than the common case.
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { directEncode } from '../../src/tokenize/direct-encode.js';
import { buildTokenizer } from '../../src/tokenize/tokenizer.js';
import { sampleCorpus } from '../../tools/fixtures/corpus.js';
import { modelDir, readJson } from '../helpers/models.js';
import { expectExactly } from '../helpers/rows.js';

const FAMILIES = ['fixture-minilm', 'fixture-xlmr', 'fixture-decoder', 'fixture-modernbert', 'fixture-gemma-encoder', 'fixture-st-cls'];

const TRICKY = [
  '', ' ', '\n\t ', 'a', '  leading and trailing  ', 'tab\tsep\r\nline', 'Ünïcödé façade naïve İstanbul ǅ ß ﬁ',
  '日本語のテキスト、中文字符', '😀 emoji 👍🏽 mix', 'ctrl\u0000\u0007\u000b\u000c\u0085\u200b\ufeff done', '\ud800 lone surrogate',
  'Ａｂｃ　full width', 'x'.repeat(300), 'word '.repeat(60), 'double  spaces  and\n\nparagraphs',
];

/** Texts with each added token written in them, as it is and in other cases (a normalizer may lowercase). */
const withAddedTokens = (contents: string[]) => contents.flatMap((c) => [c, `x ${c} y`, `${c}${c}`, `pre${c.toLowerCase()}post`, ` ${c.toUpperCase()} `]);

function tokenizerOf(model: string) {
  const json = readJson(`${modelDir(model)}/tokenizer.json`);
  const config = readJson(`${modelDir(model)}/tokenizer_config.json`);
  return { json, config };
}

function expectSameAsLibrary(json: Record<string, any>, config: Record<string, any>, texts: string[], label: string) {
  const library = new Tokenizer(json, config);
  const direct = directEncode(new Tokenizer(json, config));
  expect(direct, label).not.toBeNull();
  let compared = 0;
  for (const text of texts) {
    for (const specials of [true, false]) {
      const want = library.encode(text, { add_special_tokens: specials }).ids;
      expectExactly(direct!(text, specials), want, `${label}: ${JSON.stringify(text.slice(0, 80))}, specials ${specials}`);
      compared++;
    }
  }
  return compared;
}

describe('directEncode', () => {
  it.each(FAMILIES)('%s: the library\'s ids for every text, with and without special tokens', (model) => {
    const { json, config } = tokenizerOf(model);
    const added = (json.added_tokens as { content: string }[]).map((t) => t.content);
    const texts = [...TRICKY, ...withAddedTokens(added), ...sampleCorpus(400, 5150)];
    expect(expectSameAsLibrary(json, config, texts, model)).toBe(texts.length * 2);
  });

  it('the whole tokenizer (fast stages inside, direct around them) gives the library\'s ids', () => {
    for (const model of FAMILIES) {
      const { json, config } = tokenizerOf(model);
      const library = new Tokenizer(json, config);
      const texts = [...TRICKY, ...sampleCorpus(300, 77)];
      const { ids } = buildTokenizer(json, config, model).encode(texts, 1_000_000);
      texts.forEach((text, i) => expect(Array.from(ids[i]!), `${model}: text ${i}`).toEqual(library.encode(text, { add_special_tokens: true }).ids));
    }
  });

  it('a normalized added token is found after the normalizer (a lowercased "Hello World" is the token)', () => {
    const { json, config } = tokenizerOf('fixture-minilm');
    const added = { id: 5, content: 'hello world', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
    const variant = { ...json, added_tokens: [...json.added_tokens, added] };
    const texts = ['say Hello World now', 'HELLO WORLD', 'hello  world', 'hello', 'Hello World', 'no token here'];
    expectSameAsLibrary(variant, config, texts, 'normalized added token');
    // The token is one id where it occurs: the library's path was taken.
    const direct = directEncode(new Tokenizer(variant, config))!;
    expect(direct('say Hello World now', false)).toContain(5);
  });

  it('a text that is exactly a normalized added token whose normalized form is empty is that token (no regular expression finds it)', () => {
    const { json, config } = tokenizerOf('fixture-minilm');
    // BertNormalizer's clean_text drops control characters, so this token normalizes to ''. It is
    // the longest added token, so a text of its length must still be looked up.
    const bell = '\u0007'.repeat(32);
    const added = { id: 7, content: bell, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
    const variant = { ...json, added_tokens: [...json.added_tokens, added] };
    const texts = [bell, bell.slice(1), `${bell}\u0007`, `a${bell}`, 'plain text that is longer than every added token'];
    expectSameAsLibrary(variant, config, texts, 'empty normalized added token');
    expect(directEncode(new Tokenizer(variant, config))!(bell, false)).toEqual([7]);
  });

  it('a text whose normalized form is exactly the longest added token is that token', () => {
    const { json, config } = tokenizerOf('fixture-minilm');
    // Not normalized, so only the raw dictionary's expression holds it; the normalizer lowercases the
    // text into it, and only the map finds a whole normalized text that is a token.
    const content = 'abc def ghi jkl mno pqr stu vwx yz';
    const added = { id: 7, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false };
    const variant = { ...json, added_tokens: [...json.added_tokens, added] };
    expectSameAsLibrary(variant, config, [content.toUpperCase(), content, `${content.toUpperCase()} and more`], 'longest added token, normalized into');
    expect(directEncode(new Tokenizer(variant, config))!(content.toUpperCase(), false)).toEqual([7]);
  });

  it('a post-processor that does more than wrap the text (its sequence twice) is applied to each text', () => {
    const { json, config } = tokenizerOf('fixture-minilm');
    const twice = { ...json, post_processor: { ...json.post_processor, single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 1 } }] } };
    expectSameAsLibrary(twice, config, ['one two', '', 'three, four!', ...sampleCorpus(50, 9)], 'sequence twice');
    const none = { ...json, post_processor: null };
    expectSameAsLibrary(none, config, ['one two', '', ...sampleCorpus(50, 10)], 'no post-processor');
  });

  it("a Metaspace that prepends to the first section only (prepend_scheme 'first', as Llama's) prepends to a text without added tokens", () => {
    const { json, config } = tokenizerOf('fixture-xlmr');
    const first = { ...json, pre_tokenizer: { ...json.pre_tokenizer, prepend_scheme: 'first' } };
    expectSameAsLibrary(first, config, ['one two', 'x <s> y', ...sampleCorpus(50, 11)], "prepend_scheme 'first'");
    expect(directEncode(new Tokenizer(first, config))!('one two', false)).toEqual(new Tokenizer(first, config).encode('one two', { add_special_tokens: false }).ids);
  });

  it('leaves tokenizers it does not know the shape of, and sections the library rewrites first, to the library', () => {
    expect(directEncode(null)).toBeNull();
    expect(directEncode({ encode: () => ({ ids: [] }) })).toBeNull();
    const { json, config } = tokenizerOf('fixture-minilm');
    expect(directEncode(new Tokenizer(json, { ...config, remove_space: true }))).toBeNull();
    expect(directEncode(new Tokenizer(json, { ...config, do_lowercase_and_remove_accent: true }))).toBeNull();
  });
});
