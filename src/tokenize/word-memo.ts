// Memos of a tokenizer's per-word steps. @huggingface/tokenizers encodes each pre-tokenized word of
// a text on its own (BPE's merges; ByteLevel's mapping of a word's UTF-8 bytes to characters), so
// the same word always gives the same pieces, and natural text repeats its words (Zipf). Remembering
// them makes a byte-level BPE tokenizer (Qwen3-style) about 2x as fast in Node and 2.6-2.9x in
// Chromium: its own 10,000-word LRU cache thrashes on a real vocabulary and costs more in
// bookkeeping than it saves. Ids are unchanged by construction: a miss asks the step itself, and
// only steps that read nothing but the word are memoized (@huggingface/tokenizers is pinned to
// the version whose code says so).

import { stagesOfType } from './library-stages.js';

/** Words a memo holds at most (two generations of half this); a byte-level BPE tokenizer's two memos, full, hold about 30 MB. */
export const DEFAULT_WORD_MEMO_SIZE = 100_000;

/**
 * Longer words go straight to the model: where the pre-tokenizer does not split (Metaspace here
 * hands Unigram the whole text) a word is a text, which rarely repeats and would fill the memo.
 */
const MAX_WORD_CHARS = 64;

/**
 * Models memoized (tokenizer.json's model.type): BPE, whose encode(words) is the concatenation of
 * each word's own merges. WordPiece's longest match is as cheap as a lookup (a memo made it 5 %
 * slower), and Unigram is handed whole texts by the Metaspace pre-tokenizer, so neither is
 * (unigram-lattice.ts makes Unigram's own work cheaper instead).
 */
const MEMOIZED_MODELS = new Set(['BPE']);

/** What the memo needs of a tokenizer model: its per-word encode. */
export interface WordwiseModel {
  encode(words: string[]): string[];
}

/**
 * A cache of at most `size` entries that keeps the recently used ones: two generations, the young
 * one filled until it holds half, then aged. A hit in the old generation moves to the young one.
 * Cheaper than a strict LRU (no reordering on every hit), and as bounded.
 */
export class GenerationalCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly half: number;

  constructor(size: number) {
    this.half = Math.max(1, Math.floor(size / 2));
  }

  get(key: string): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }

  /** Entries held (both generations; a key in both counts twice). */
  get size(): number {
    return this.young.size + this.old.size;
  }
}

/**
 * A string of its own with the characters of `word`. A word the pre-tokenizer cut out of a text is
 * a view of that text (V8 slices strings of 13 characters or more), so a memo keyed on it would
 * keep every text a new word came from alive: 300 MB for 300 texts of 1 MB. A property key is
 * internalized, a flat copy.
 */
const ownCopy = (word: string): string => Object.keys({ [word]: 0 })[0]!;

/**
 * A memo of `pieces` (a pure function of one short string). What it returns is shared with the
 * memo: callers read it and must not edit it.
 */
function memoized(pieces: (word: string) => readonly string[], size: number): (word: string) => readonly string[] {
  const memo = new GenerationalCache<readonly string[]>(size);
  return (word) => {
    if (word.length > MAX_WORD_CHARS) return pieces(word);
    let hit = memo.get(word);
    if (hit === undefined) {
      const key = ownCopy(word);
      // Computed from the copy: a piece may be the word itself (BPE's ignore_merges).
      hit = pieces(key);
      memo.set(key, hit);
    }
    return hit;
  };
}

/**
 * Puts a word memo in front of `tokenizer.model.encode` when tokenizer.json names a model that
 * encodes word by word; returns whether it did. Any other model, or a tokenizer object without
 * that shape (a later @huggingface/tokenizers), is left as it is.
 */
export function memoizeWords(tokenizer: unknown, modelType: unknown, size = DEFAULT_WORD_MEMO_SIZE): boolean {
  const model = (tokenizer as { model?: Partial<WordwiseModel> } | null)?.model;
  if (!model || typeof model.encode !== 'function' || typeof modelType !== 'string' || !MEMOIZED_MODELS.has(modelType)) return false;
  const encodeWords = model.encode.bind(model) as WordwiseModel['encode'];
  const word = memoized((w) => encodeWords([w]), size);
  model.encode = (words: string[]): string[] => {
    const out: string[] = [];
    for (const w of words) for (const piece of word(w)) out.push(piece);
    return out;
  };
  return true;
}

/** What the memo needs of a pre-tokenizer stage: its per-piece step. */
interface PieceStage {
  pre_tokenize_text(text: string, options?: unknown): string[];
}

/**
 * Memoizes the ByteLevel pre-tokenizer's mapping of each piece to its bytes' characters (through
 * TextEncoder, a fresh Uint8Array per word: sweeping those ArrayBuffers kept a second core busy in
 * Chromium). The step reads nothing but the piece, so a memo keyed on it is exact. `preTokenizer`
 * is tokenizer.json's pre_tokenizer. Returns how many stages it memoized.
 */
export function memoizeByteLevel(tokenizer: unknown, preTokenizer: unknown, size = DEFAULT_WORD_MEMO_SIZE): number {
  const stages = stagesOfType<PieceStage>(
    (tokenizer as { pre_tokenizer?: unknown } | null)?.pre_tokenizer, preTokenizer, 'ByteLevel', { config: 'pretokenizers', built: 'tokenizers' },
    (stage) => typeof (stage as Partial<PieceStage>).pre_tokenize_text === 'function',
  );
  for (const stage of stages) {
    const step = stage.pre_tokenize_text.bind(stage);
    const piece = memoized(step, size);
    // A copy: the caller's array is its own to edit.
    stage.pre_tokenize_text = (text: string) => piece(text).slice();
  }
  return stages.length;
}
