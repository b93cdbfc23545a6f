// A text's ids through the tokenizer's own stages, without the library's glue around them.
// @huggingface/tokenizers' encode() walks every text twice through a trie of the added tokens
// (once raw, once normalized) to cut it at any [CLS] or <s> written inside it, spreads the text into
// sections through closures, copies the pre-tokenizer's words to flatten them, concatenates the
// post-processor's specials and tokens (with a type id array beside them), and builds an attention
// mask and a result object that embedding discards. Without that, fixture-minilm's tokenizer runs
// 2.7-3x as fast in Node, fixture-xlmr's 1.3-1.8x and fixture-decoder's 1.4-2.3x (9,000 mixed texts).
//
// A text in which no added token occurs, raw or normalized (nearly every text), is one section,
// and for it the library does exactly this: normalize, pre-tokenize (section 0), the model, the
// post-processor, tokens to ids. One regular expression per form finds whether any added token
// occurs, as the trie would; a text where one does goes to the library's encode. The stages called
// are the library's own objects (with this package's faster replacements inside them), so ids are
// the same by construction; the post-processor is asked once which specials it puts around a text,
// and is applied to each text only where its answer is not that simple. @huggingface/tokenizers is
// pinned to the version this was read against (0.2.0); a tokenizer without the fields read here
// keeps the library's encode.

/** What the library's pre-tokenizers are told of a section: its index (Metaspace's prepend_scheme 'first' reads it). */
interface SectionOptions {
  section_index: number;
}

/** The parts of @huggingface/tokenizers' Tokenizer this reads. */
interface LibraryTokenizer {
  added_tokens: { content: string; normalized: boolean }[];
  added_tokens_map: Map<string, { id: number }>;
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: (((text: string, options: SectionOptions) => string[]) & { pre_tokenize_text?: (text: string, options: SectionOptions) => unknown[] }) | null;
  model: ((words: string[]) => string[]) & { tokens_to_ids: Map<string, number>; unk_token_id?: number };
  post_processor: ((tokens: string[], pair: null, addSpecialTokens: boolean) => { tokens: string[] }) | null;
  remove_space?: unknown;
  do_lowercase_and_remove_accent?: unknown;
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
}

function isLibraryTokenizer(t: unknown): t is LibraryTokenizer {
  const s = t as Partial<LibraryTokenizer> | null;
  return !!s && typeof s.encode === 'function' && Array.isArray(s.added_tokens) && s.added_tokens_map instanceof Map && typeof s.model === 'function' &&
    s.model.tokens_to_ids instanceof Map && (s.normalizer === null || typeof s.normalizer === 'function') &&
    (s.pre_tokenizer === null || typeof s.pre_tokenizer === 'function') && (s.post_processor === null || typeof s.post_processor === 'function') &&
    // Options that rewrite a section before its normalizer: left to the library.
    s.remove_space !== true && !s.do_lowercase_and_remove_accent;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A test for whether any of `words` occurs in a text (as the library's trie would find it), or null when there are none. */
function occursTest(words: readonly string[]): RegExp | null {
  const nonEmpty = [...new Set(words.filter((w) => w.length > 0))];
  return nonEmpty.length ? new RegExp(nonEmpty.map(escape).join('|')) : null;
}

/**
 * The special tokens a post-processor puts before and after a text's tokens, where it does only
 * that: two probes of different lengths must each come back as the same prefix, the probe, the
 * same suffix (TemplateProcessing with one sequence, BertProcessing, RobertaProcessing, ByteLevel).
 * Null where it does anything else: each text then goes through it.
 */
function specialsAround(post: NonNullable<LibraryTokenizer['post_processor']>, addSpecialTokens: boolean): { before: string[]; after: string[] } | null {
  const probes = [['\u0001probe'], ['\u0001probe', '\u0002probe', '\u0003probe']];
  let found: { before: string[]; after: string[] } | null = null;
  for (const probe of probes) {
    const out = post(probe.slice(), null, addSpecialTokens).tokens;
    const at = out.indexOf(probe[0]!);
    if (at < 0 || out.length < at + probe.length || probe.some((t, i) => out[at + i] !== t)) return null;
    const around = { before: out.slice(0, at), after: out.slice(at + probe.length) };
    if (around.before.concat(around.after).some((t) => probe.includes(t))) return null;
    if (found && (found.before.join('\u0000') !== around.before.join('\u0000') || found.after.join('\u0000') !== around.after.join('\u0000'))) return null;
    found = around;
  }
  return found;
}

/**
 * The pre-tokenizer's words for one section. `pre_tokenize` flattens its stage's result one level
 * (a copy, even when it is flat already, as it nearly always is): a flat result is taken as it is.
 */
function preTokenizerOf(pre: NonNullable<LibraryTokenizer['pre_tokenizer']>): (text: string) => string[] {
  const options = { section_index: 0 };
  if (typeof pre.pre_tokenize_text !== 'function') return (text) => pre(text, options);
  return (text) => {
    const words = pre.pre_tokenize_text!(text, options);
    for (const w of words) if (typeof w !== 'string') return words.flat() as string[];
    return words as string[];
  };
}

/**
 * An encode of one text to ids, the same as `tokenizer.encode(text, { add_special_tokens }).ids`,
 * that skips the library's glue wherever no added token occurs in the text; null for a tokenizer
 * this does not know the shape of.
 */
export function directEncode(tokenizer: unknown): ((text: string, addSpecialTokens: boolean) => number[]) | null {
  if (!isLibraryTokenizer(tokenizer)) return null;
  const t = tokenizer;
  // The two dictionaries, as the library's constructor splits them.
  const raw: string[] = [];
  const normalized: string[] = [];
  for (const token of t.added_tokens) {
    if (token.normalized && t.normalizer !== null) normalized.push(t.normalizer(token.content));
    else raw.push(token.content);
  }
  const inRaw = occursTest(raw);
  const inNormalized = occursTest(normalized);
  const map = t.added_tokens_map;
  const vocab = t.model.tokens_to_ids;
  const unk = t.model.unk_token_id;
  const post = t.post_processor;
  const pre = t.pre_tokenizer !== null ? preTokenizerOf(t.pre_tokenizer) : (text: string) => [text];
  const noSpecials = { before: [], after: [] };
  const around = post === null ? [noSpecials, noSpecials] : [specialsAround(post, false), specialsAround(post, true)];
  const idOf = (token: string) => map.get(token)?.id ?? vocab.get(token) ?? unk!;
  // A whole section that is a key of the map is that token, even one no regular expression finds
  // (a normalized token whose normalized form is empty). A text longer than every key is none:
  // asking the map would hash the whole text and its normalized copy, 3 % of the time on paragraphs.
  let longest = 0;
  for (const key of map.keys()) longest = Math.max(longest, key.length);
  const isAddedToken = (s: string) => s.length <= longest && map.has(s);
  return (text, addSpecialTokens) => {
    if (inRaw?.test(text) || isAddedToken(text)) return t.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    let words: string[] = [];
    if (text.length > 0) {
      const normal = t.normalizer !== null ? t.normalizer(text) : text;
      if (inNormalized?.test(normal) || isAddedToken(normal)) return t.encode(text, { add_special_tokens: addSpecialTokens }).ids;
      if (normal.length > 0) words = t.model(pre(normal));
    }
    const specials = around[addSpecialTokens ? 1 : 0];
    if (!specials) return post!(words, null, addSpecialTokens).tokens.map(idOf);
    const ids = new Array<number>(specials.before.length + words.length + specials.after.length);
    let at = 0;
    for (const token of specials.before) ids[at++] = idOf(token);
    for (const token of words) ids[at++] = idOf(token);
    for (const token of specials.after) ids[at++] = idOf(token);
    return ids;
  };
}
