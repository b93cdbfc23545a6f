// Tokenization spread over threads: a window of texts is cut into contiguous pieces of about equal
// characters, a few per thread, handed out as threads finish the ones they hold, and the pieces'
// ids are joined back in order. A thread that fails is dropped and its pieces tokenized in place,
// so a broken worker costs speed, never rows.
// The threads themselves are a runtime's business (Node: worker_threads, node/tokenizer-threads.ts).
import type { TokenizedTexts, Truncation } from './tokenizer.js';

/** One tokenizer thread: tokenizes a slice of texts exactly as the model's tokenizer does in place. */
export interface TokenizerThread {
  encode(texts: string[], maxTokens: number, truncation: Truncation): Promise<TokenizedTexts>;
  terminate(): Promise<void>;
}

/** Cuts `texts` into at most `parts` contiguous [start, end) slices of about equal total length; no empty slice. */
export function splitByCharacters(texts: readonly string[], parts: number): [number, number][] {
  if (texts.length === 0) return [];
  const count = Math.max(1, Math.min(parts, texts.length));
  let total = 0;
  for (const t of texts) total += t.length + 1; // +1: a text's fixed cost, so empty texts still spread
  const slices: [number, number][] = [];
  let start = 0;
  let sum = 0;
  for (let i = 0; i < texts.length && slices.length < count - 1; i++) {
    sum += texts[i]!.length + 1;
    // Close the slice once it holds its share, leaving at least one text for each slice still to
    // come; and close it anyway when exactly that many texts are left.
    const left = texts.length - (i + 1);
    const toCome = count - slices.length - 1;
    if (left === toCome || (sum >= ((slices.length + 1) * total) / count && left >= toCome)) {
      slices.push([start, i + 1]);
      start = i + 1;
    }
  }
  slices.push([start, texts.length]);
  return slices;
}

/**
 * Calls of fewer texts than this are tokenized in place (a query): the pieces of the two windows a
 * bulk run keeps queued would otherwise stand before it.
 */
export const SMALL_CALL_TEXTS = 16;

/**
 * Pieces a call is cut into per thread. One slice per thread left the call waiting on the slowest:
 * threads do not run at one speed (one shares its core with the model's worker; characters are not
 * a text's exact cost), and in Chromium two tokenizer workers ended 6-17 % of a run apart.
 */
export const PIECES_PER_THREAD = 4;
/** Texts per piece, about (a call of n texts makes at most n / 32 pieces, rounded up): each piece is a message each way. */
export const MIN_PIECE_TEXTS = 32;
/** Pieces a thread holds at once: the next one waits in the thread while it tokenizes one, so it never idles for a message. */
export const PIECES_HELD = 2;

/** A tokenize function over threads, and how many of its threads are left. */
export type ParallelTokenize = ((texts: string[], maxTokens: number, truncation: Truncation) => Promise<TokenizedTexts>) & {
  /** Threads still tokenizing (0: every call is tokenized in place). */
  threadsLeft(): number;
};

/** A piece of a call, waiting for a thread or held by one. */
interface Piece {
  texts: string[];
  maxTokens: number;
  truncation: Truncation;
  /** Settles the piece's promise (a promise settles once: a dropped thread's late answer is ignored). */
  done: (result: TokenizedTexts | Promise<TokenizedTexts>) => void;
}

/**
 * A tokenize function over threads, with `inPlace` (in this thread, or elsewhere) for pieces whose
 * thread failed, and a report of failures. Calls of fewer than `inPlaceBelow` texts (default 0)
 * are tokenized in place: a query must not queue behind a bulk window a thread is tokenizing.
 * Pieces go out in the order calls came, each to the thread holding fewest.
 */
export function parallelTokenize(
  threads: TokenizerThread[],
  inPlace: (texts: string[], maxTokens: number, truncation: Truncation) => TokenizedTexts | Promise<TokenizedTexts>,
  onThreadLost?: (error: Error, left: number) => void,
  inPlaceBelow = 0,
): ParallelTokenize {
  const live = [...threads];
  /** The pieces each thread holds. */
  const held = new Map(threads.map((t) => [t, new Set<Piece>()]));
  const waiting: Piece[] = [];
  const tokenizeInPlace = (piece: Piece) => piece.done(Promise.resolve().then(() => inPlace(piece.texts, piece.maxTokens, piece.truncation)));
  /**
   * Drops a failed thread and tokenizes in place every piece it held, not only the one that
   * failed: a stopped thread need not answer the others (a released Comlink proxy never does).
   */
  const drop = (thread: TokenizerThread, error: Error) => {
    const orphans = [...held.get(thread)!];
    held.get(thread)!.clear();
    orphans.forEach(tokenizeInPlace);
    const at = live.indexOf(thread);
    if (at < 0) return;
    live.splice(at, 1);
    void Promise.resolve().then(() => thread.terminate()).catch(() => undefined);
    onThreadLost?.(error, live.length);
  };
  const handOut = () => {
    while (waiting.length > 0) {
      if (live.length === 0) {
        tokenizeInPlace(waiting.shift()!);
        continue;
      }
      const thread = live.reduce((a, b) => (held.get(b)!.size < held.get(a)!.size ? b : a));
      const holding = held.get(thread)!;
      if (holding.size >= PIECES_HELD) return;
      const piece = waiting.shift()!;
      holding.add(piece);
      new Promise<TokenizedTexts>((answer) => answer(thread.encode(piece.texts, piece.maxTokens, piece.truncation))).then(
        (result) => {
          holding.delete(piece);
          piece.done(result);
        },
        (error: Error) => drop(thread, error),
      ).catch(() => undefined) // a failing onThreadLost: the pieces were settled before it ran
        .finally(handOut);
    }
  };
  const tokenize = async (texts: string[], maxTokens: number, truncation: Truncation): Promise<TokenizedTexts> => {
    if (live.length === 0 || texts.length < inPlaceBelow) return inPlace(texts, maxTokens, truncation);
    // One thread has no one to wait for: its call stays whole, one message each way.
    const pieces = live.length === 1 ? 1 : Math.min(live.length * PIECES_PER_THREAD, Math.ceil(texts.length / MIN_PIECE_TEXTS));
    const cuts = splitByCharacters(texts, pieces);
    const parts = cuts.map(([start, end]) => new Promise<TokenizedTexts>((done) => {
      waiting.push({ texts: texts.slice(start, end), maxTokens, truncation, done });
    }));
    handOut();
    const results = await Promise.all(parts);
    return { ids: results.flatMap((p) => p.ids), truncated: results.reduce((a, p) => a + p.truncated, 0) };
  };
  return Object.assign(tokenize, { threadsLeft: () => live.length });
}
