// Faster steps for BERT-style tokenizers (MiniLM, BGE, E5: BertNormalizer + WordPiece) with exactly
// the results of @huggingface/tokenizers' own. A profile of fixture-minilm's tokenizer: WordPiece's
// encode 29 % (it spreads every word into an array of characters and joins a slice of it for each
// lookup, even when the whole word is in the vocabulary, as most are), the normalizer's character
// loops 15 % (a regex test per character to drop controls and map white space; a string per
// character to space out CJK ideographs), the garbage collector 7 %.
//
// The replacements do the same in native string operations: the same lookups in the same order on
// the same substrings, the same characters dropped, mapped and spaced. Words with characters outside
// the Basic Multilingual Plane (where a code point is two UTF-16 units) go to the library's own
// encode, so indexing by code unit stays indexing by character. @huggingface/tokenizers is pinned
// to the version whose code this was read against; the tests compare the two over every code point.

import { stagesOfType } from './library-stages.js';

/** What the fast encode needs of a WordPiece model, as @huggingface/tokenizers 0.2.0 builds it. */
interface WordPieceModel {
  tokens_to_ids: Map<string, number>;
  unk_token: string;
  max_input_chars_per_word: number;
  config: { continuing_subword_prefix?: string };
  encode(tokens: string[]): string[];
}

function isWordPieceModel(model: unknown): model is WordPieceModel {
  const m = model as Partial<WordPieceModel> | null;
  return !!m && m.tokens_to_ids instanceof Map && typeof m.unk_token === 'string' && typeof m.max_input_chars_per_word === 'number' &&
    typeof m.encode === 'function' && typeof m.config === 'object' && m.config !== null;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Replaces the WordPiece model's `encode` of `tokenizer` with one that looks up substrings of the
 * word itself; returns whether it did. Another model, or one without the fields it reads, is left.
 */
export function fastWordPiece(tokenizer: unknown, modelType: unknown): boolean {
  const model = (tokenizer as { model?: unknown } | null)?.model;
  if (modelType !== 'WordPiece' || !isWordPieceModel(model)) return false;
  const library = model.encode.bind(model);
  const ids = model.tokens_to_ids;
  const unk = model.unk_token;
  const max = model.max_input_chars_per_word;
  // Read per call in the library (`this.config.continuing_subword_prefix`): "undefined" is what it
  // prepends when the field is absent, so the same string is used here.
  const prefix = `${model.config.continuing_subword_prefix}`;
  model.encode = (tokens: string[]): string[] => {
    const out: string[] = [];
    for (const token of tokens) {
      if (SURROGATE.test(token)) {
        for (const piece of library([token])) out.push(piece);
        continue;
      }
      const length = token.length;
      if (length > max) {
        out.push(unk);
        continue;
      }
      // The whole word first: most words are in the vocabulary.
      if (length > 0 && ids.has(token)) {
        out.push(token);
        continue;
      }
      const pieces: string[] = [];
      let start = 0;
      let unknown = false;
      while (start < length) {
        let end = length;
        let found: string | null = null;
        while (start < end) {
          const piece = start > 0 ? prefix + token.slice(start, end) : token.slice(start, end);
          if (ids.has(piece)) {
            found = piece;
            break;
          }
          --end;
        }
        if (found === null) {
          unknown = true;
          break;
        }
        pieces.push(found);
        start = end;
      }
      if (unknown) out.push(unk);
      else for (const piece of pieces) out.push(piece);
    }
    return out;
  };
  return true;
}

/** What the fast normalizer needs of a BertNormalizer instance. */
interface BertNormalizerSteps {
  clean_text(text: string): string;
  tokenize_chinese_chars(text: string): string;
}

/**
 * Characters clean_text drops: NUL, U+FFFD, and the Unicode categories Cc, Cf, Co and Cs (a lone
 * surrogate) except tab, newline and carriage return. Dropping comes before the white-space test,
 * so a control character that is also white space (vertical tab, U+0085, U+FEFF) is dropped.
 */
const DROPPED = /\0|\uFFFD|(?![\t\n\r])[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/gu;
const WHITE = /\s/gu;
/**
 * CJK ideographs tokenize_chinese_chars spaces out. The library tests one UTF-16 unit at a time, so
 * only its ranges inside the Basic Multilingual Plane can match; a supplementary ideograph (two
 * units) is left as it is there, and here (no `u` flag: units, as there).
 */
const CJK = /[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]/g;

/** The two character loops of a BertNormalizer, as native string operations with the same output. */
export const bertNormalizerSteps = {
  cleanText: (text: string): string => text.replace(DROPPED, '').replace(WHITE, ' '),
  spaceCjk: (text: string): string => text.replace(CJK, ' $& '),
};

/** Replaces the character loops of each BertNormalizer in `tokenizer` (`normalizer`: tokenizer.json's); returns how many. */
export function fastBertNormalizer(tokenizer: unknown, normalizer: unknown): number {
  const stages = stagesOfType<BertNormalizerSteps>(
    (tokenizer as { normalizer?: unknown } | null)?.normalizer, normalizer, 'BertNormalizer', { config: 'normalizers', built: 'normalizers' },
    (stage) => {
      const s = stage as Partial<BertNormalizerSteps>;
      return typeof s.clean_text === 'function' && typeof s.tokenize_chinese_chars === 'function';
    },
  );
  for (const stage of stages) {
    stage.clean_text = bertNormalizerSteps.cleanText;
    stage.tokenize_chinese_chars = bertNormalizerSteps.spaceCjk;
  }
  return stages.length;
}
