// Tokenization with the model's own tokenizer.json, through @huggingface/tokenizers: the package
// transformers.js v4 itself tokenizes with (its tokenizer classes for the embedding families are
// thin wrappers over it), so ids are the same without shipping transformers.js.
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelFileError } from '../base/errors.js';
import { readModelJson, type ModelFiles } from '../model/files.js';
import { directEncode } from './direct-encode.js';
import { fastUnigram } from './unigram-lattice.js';
import { memoizeByteLevel, memoizeWords } from './word-memo.js';
import { fastBertNormalizer, fastWordPiece } from './wordpiece-fast.js';

import type { Truncation } from '../base/types.js';
export type { Truncation };

/** Token ids of a batch of texts, unpadded. */
export interface TokenizedTexts {
  ids: Int32Array[];
  /** How many texts were cut to maxTokens. */
  truncated: number;
}

/** Token rows packed in one buffer: row r is flat[offsets[r] .. offsets[r + 1]). */
export interface FlatRows {
  flat: Int32Array<ArrayBuffer>;
  offsets: Int32Array<ArrayBuffer>;
}

/** Packs rows into one buffer (one transfer to another thread). */
export function flattenRows(rows: readonly Int32Array[]): FlatRows {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
  const flat = new Int32Array(offsets[rows.length]!);
  rows.forEach((r, i) => flat.set(r, offsets[i]!));
  return { flat, offsets };
}

/** Views the rows of a flat buffer (no copy). */
export function unflattenRows({ flat, offsets }: FlatRows): Int32Array[] {
  return Array.from({ length: offsets.length - 1 }, (_, i) => flat.subarray(offsets[i]!, offsets[i + 1]!));
}

/**
 * Rows written one after another into one growing buffer, with their offsets: encodeFlat's output,
 * whether written in one call or in steps (tokenize/sliced.ts), so a window tokenized in slices
 * allocates one buffer, not one per slice and a join.
 */
export class FlatRowsWriter {
  private flat: Int32Array<ArrayBuffer>;
  private at = 0;
  private row = 0;
  /** Rows cut to maxTokens so far. */
  truncated = 0;
  readonly offsets: Int32Array<ArrayBuffer>;

  /**
   * For the rows of `texts`, each cut to `maxTokens`: the buffer starts at a guess from their
   * characters and grows past it when needed.
   */
  constructor(texts: readonly string[], maxTokens: number) {
    this.offsets = new Int32Array(texts.length + 1);
    // About 4 characters a token in English, plus the special tokens, and never more than the cut
    // (a 20 MB text makes 512 ids): growing from 16 a row, a window of sentences allocated four
    // times its ids, and a worker's collector swept them.
    let guess = 0;
    for (let i = 0; i < texts.length; i++) guess += Math.min(maxTokens, Math.ceil(texts[i]!.length / 4) + 2);
    this.flat = new Int32Array(Math.max(64, guess));
  }

  /** Ids the buffer holds before it grows. */
  get capacity(): number {
    return this.flat.length;
  }

  /** Appends ids[from..to) to the current row. */
  put(ids: readonly number[], from: number, to: number): void {
    if (this.at + to - from > this.flat.length) {
      const grown = new Int32Array(Math.max(this.flat.length * 2, this.at + to - from));
      grown.set(this.flat.subarray(0, this.at));
      this.flat = grown;
    }
    let at = this.at;
    const flat = this.flat;
    for (let i = from; i < to; i++) flat[at++] = ids[i]!;
    this.at = at;
  }

  /** Ends the current row. */
  endRow(): void {
    this.offsets[++this.row] = this.at;
  }

  /** The rows written, in a buffer of exactly their size. */
  finish(): FlatRows & { truncated: number } {
    return { flat: this.flat.slice(0, this.at), offsets: this.offsets, truncated: this.truncated };
  }
}

/** A model's tokenizer, with the truncation rule of its template worked out once. */
export interface TextTokenizer {
  /** Largest sequence the tokenizer declares (model_max_length), if any. */
  readonly modelMaxLength: number | null;
  /** Id of the declared pad token (tokenizer_config.json pad_token), if any. */
  readonly padId: number | null;
  /** tokenizer_config.json's padding_side is 'left' (decoders: the last token ends every row). */
  readonly padLeft: boolean;
  /** Tokenizes texts, truncating each to `maxTokens` ids including special tokens. */
  encode(texts: readonly string[], maxTokens: number, truncation?: Truncation): TokenizedTexts;
  /** The same ids, written straight into one buffer: what a tokenizer thread hands back in one transfer. */
  encodeFlat(texts: readonly string[], maxTokens: number, truncation?: Truncation): FlatRows & { truncated: number };
  /** Tokenizes texts[from..to) into `out`, a row each: encodeFlat in steps. */
  encodeInto(texts: readonly string[], from: number, to: number, maxTokens: number, truncation: Truncation, out: FlatRowsWriter): void;
}

/** Loads tokenizer.json and tokenizer_config.json and builds the tokenizer they describe. */
export async function loadTokenizer(files: ModelFiles): Promise<TextTokenizer> {
  const [json, config] = await Promise.all([readModelJson(files, 'tokenizer.json'), readModelJson(files, 'tokenizer_config.json')]);
  return buildTokenizer(json, config, files.location);
}

/**
 * Builds the tokenizer that parsed tokenizer.json and tokenizer_config.json describe (`location`
 * names the model in errors). Tokenizer threads call this with the same two objects, so every
 * thread tokenizes exactly as the loader's tokenizer does.
 */
export function buildTokenizer(json: Record<string, unknown>, config: Record<string, unknown>, location: string): TextTokenizer {
  let tokenizer: IdTokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (cause) {
    throw new ModelFileError('tokenizer.json', location, `could not build the tokenizer (${(cause as Error).message})`, { cause });
  }
  const modelType = (json.model as { type?: unknown } | undefined)?.type;
  // Byte-level BPE (GPT-2, Qwen) spends most of its time redoing the same words: remember them.
  memoizeWords(tokenizer, modelType);
  memoizeByteLevel(tokenizer, json.pre_tokenizer);
  // Unigram (XLM-R) spends most of its time allocating its lattice: the same lattice, in typed arrays.
  fastUnigram(tokenizer, modelType);
  // BERT's WordPiece and normalizer spend theirs in per-character loops: the same steps, native.
  fastWordPiece(tokenizer, modelType);
  fastBertNormalizer(tokenizer, json.normalizer);
  const side = config.padding_side ?? 'right';
  if (side !== 'left' && side !== 'right') throw new ModelFileError('tokenizer_config.json', location, `padding_side "${String(side)}" is not "left" or "right"`);
  // pad_token is a string, or an AddedToken object with the string in `content`.
  const padToken = typeof config.pad_token === 'string' ? config.pad_token : (config.pad_token as { content?: unknown } | undefined)?.content;
  const padId = typeof padToken === 'string' ? tokenizer.token_to_id?.(padToken) ?? null : null;
  // A text without added tokens in it skips the library's glue around the stages (direct-encode.ts).
  const direct = directEncode(tokenizer);
  const ids: IdTokenizer = direct ? { encode: (text, options) => ({ ids: direct(text, options.add_special_tokens) }) } : tokenizer;
  return wrapTokenizer(ids, config.model_max_length, { padId, padLeft: side === 'left' });
}

const MIN_PREFIX_CHARS = 1024;
const PREFIX_CHARS_PER_TOKEN = 8;
/** Tokens before a cut that may still differ from the uncut text's (a split whitespace run, a merge). */
const CUT_MARGIN_TOKENS = 16;

/** A cut at or before `limit` that falls on white space (or at `limit` if none is near). */
function whitespaceCut(text: string, limit: number): number {
  for (let i = limit; i > limit - 256 && i > 0; i--) if (/\s/.test(text[i]!)) return i;
  return limit;
}

/** What the wrapper needs of a tokenizer (@huggingface/tokenizers' Tokenizer has it). */
export interface IdTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  token_to_id?(token: string): number | undefined;
}

/** Wraps a tokenizer; `declaredMax` is tokenizer_config.json's model_max_length. */
export function wrapTokenizer(
  tokenizer: IdTokenizer, declaredMax?: unknown, padding: { padId: number | null; padLeft: boolean } = { padId: null, padLeft: false },
): TextTokenizer {
  const encode = (text: string, specials = true): number[] => tokenizer.encode(text, { add_special_tokens: specials }).ids;
  // Where the template puts its special tokens: e.g. [CLS] A [SEP] is 1 before, 1 after.
  const probe = 'a';
  const content = encode(probe, false);
  const full = encode(probe, true);
  let before = 0;
  while (before < full.length && full.slice(before, before + content.length).join() !== content.join()) before++;
  if (before === full.length) before = full.length - content.length; // unusual template: treat all as prefix
  const after = full.length - before - content.length;
  const declared = Number(declaredMax);
  // A long text is tokenized from a prefix cut at white space: words before the cut tokenize as
  // in the whole text, so once the prefix gives maxTokens plus a margin of tokens, its first
  // maxTokens are the whole text's. A 20 MB text then costs what its first few KB do.
  const bounded = (text: string, maxTokens: number): number[] => {
    let limit = Math.max(MIN_PREFIX_CHARS, maxTokens * PREFIX_CHARS_PER_TOKEN);
    while (limit < text.length) {
      const ids = encode(text.slice(0, whitespaceCut(text, limit)));
      if (ids.length > maxTokens + CUT_MARGIN_TOKENS + after) return ids;
      limit *= 4;
    }
    return encode(text);
  };
  const modelMaxLength = Number.isFinite(declared) && declared > 0 && declared < 1e9 ? declared : null;

  // Rows are written straight into one growing buffer: a typed array per text is an ArrayBuffer per
  // text, and sweeping thousands of those took about 5 % of two busy tokenizer workers' time.
  const encodeInto = (texts: readonly string[], from: number, to: number, maxTokens: number, truncation: Truncation, out: FlatRowsWriter) => {
    for (let r = from; r < to; r++) {
      const all = bounded(texts[r]!, maxTokens);
      if (all.length <= maxTokens) out.put(all, 0, all.length);
      else {
        out.truncated++;
        if (truncation === 'cut') out.put(all, 0, maxTokens);
        else {
          const keep = Math.max(0, maxTokens - before - after);
          out.put(all, 0, before + keep);
          out.put(all, all.length - after, all.length);
        }
      }
      out.endRow();
    }
  };
  const encodeFlat = (texts: readonly string[], maxTokens: number, truncation: Truncation = 'cut') => {
    const out = new FlatRowsWriter(texts, maxTokens);
    encodeInto(texts, 0, texts.length, maxTokens, truncation, out);
    return out.finish();
  };

  return {
    modelMaxLength,
    ...padding,
    encodeFlat,
    encodeInto,
    encode(texts, maxTokens, truncation = 'cut') {
      const { truncated, ...rows } = encodeFlat(texts, maxTokens, truncation);
      return { ids: unflattenRows(rows), truncated };
    },
  };
}
