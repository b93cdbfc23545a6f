// Tokenization spread over threads: a window of texts is cut into contiguous slices of about equal
// characters, one per thread, and the slices' ids are joined back in order. A thread that fails is
// dropped and its slice tokenized in place, so a broken worker costs speed, never rows.
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
 * Calls of fewer texts than this are tokenized in place (a query): one window of a bulk run, or two
 * queued on a thread, would otherwise stand before it.
 */
export const SMALL_CALL_TEXTS = 16;

/** A tokenize function over threads, and how many of its threads are left. */
export type ParallelTokenize = ((texts: string[], maxTokens: number, truncation: Truncation) => Promise<TokenizedTexts>) & {
  /** Threads still tokenizing (0: every call is tokenized in place). */
  threadsLeft(): number;
};

/**
 * A tokenize function over threads, with `inPlace` (in this thread, or elsewhere) for slices whose
 * thread failed, and a report of failures. Calls of fewer than `inPlaceBelow` texts (default 0)
 * are tokenized in place: a query must not queue behind a bulk window a thread is tokenizing.
 */
export function parallelTokenize(
  threads: TokenizerThread[],
  inPlace: (texts: string[], maxTokens: number, truncation: Truncation) => TokenizedTexts | Promise<TokenizedTexts>,
  onThreadLost?: (error: Error, left: number) => void,
  inPlaceBelow = 0,
): ParallelTokenize {
  const live = [...threads];
  const tokenize = async (texts: string[], maxTokens: number, truncation: Truncation): Promise<TokenizedTexts> => {
    if (live.length === 0 || texts.length < inPlaceBelow) return inPlace(texts, maxTokens, truncation);
    const slices = splitByCharacters(texts, live.length);
    const parts = await Promise.all(slices.map(async ([start, end], i) => {
      const thread = live[i]!;
      const slice = texts.slice(start, end);
      try {
        return await thread.encode(slice, maxTokens, truncation);
      } catch (error) {
        const at = live.indexOf(thread);
        if (at >= 0) {
          live.splice(at, 1);
          void thread.terminate().catch(() => undefined);
          onThreadLost?.(error as Error, live.length);
        }
        return inPlace(slice, maxTokens, truncation);
      }
    }));
    return { ids: parts.flatMap((p) => p.ids), truncated: parts.reduce((a, p) => a + p.truncated, 0) };
  };
  return Object.assign(tokenize, { threadsLeft: () => live.length });
}
