// Tokenizing in slices, for a worker that also runs batches. One call over a window of 4,096 texts
// holds the worker's thread for most of a second; a batch finishing on the GPU meanwhile cannot
// hand over its result or start the next one, and the coordinator's next batch waits in the
// worker's queue. Slices of about a millisecond, with a pause between them in which the worker's
// queued messages and callbacks run, keep the device fed while the same thread tokenizes.
import { FlatRowsWriter, type FlatRows, type TextTokenizer, type Truncation } from './tokenizer.js';

/**
 * Work between pauses, in ms: a run that finishes mid-slice waits up to about this long (plus the
 * step under way) for the thread to start the next one, and the coordinator's next batch waits as
 * long in the queue. Longer slices left a backlog of batches to run after the last slice; a pause
 * costs a small part of a slice (the counts: bench/README.md, 2026-11-28).
 */
export const SLICE_MS = 1;
/** Texts tokenized between two looks at the clock: four of 512 tokens take about 1 ms on a fast WordPiece. */
export const TEXTS_PER_STEP = 4;

/**
 * Tokenizes `texts` exactly as `tokenizer.encodeFlat` does, awaiting `pause()` whenever a slice
 * has taken `sliceMs`. Concurrent calls interleave at their pauses. The slices write into one
 * buffer (encodeInto), as one call does.
 */
export async function encodeFlatSliced(
  tokenizer: Pick<TextTokenizer, 'encodeInto'>, texts: readonly string[], maxTokens: number, truncation: Truncation = 'cut',
  pause: () => Promise<void>, sliceMs = SLICE_MS, now: () => number = () => performance.now(),
): Promise<FlatRows & { truncated: number }> {
  const out = new FlatRowsWriter(texts, maxTokens);
  let sliceStart = now();
  for (let from = 0; from < texts.length; from += TEXTS_PER_STEP) {
    tokenizer.encodeInto(texts, from, Math.min(texts.length, from + TEXTS_PER_STEP), maxTokens, truncation, out);
    if (from + TEXTS_PER_STEP < texts.length && now() - sliceStart >= sliceMs) {
      await pause();
      sliceStart = now();
    }
  }
  return out.finish();
}

/**
 * For a browser worker: a pause in which the tasks already queued on its thread (the coordinator's
 * messages, finished GPU work) run first. Where the worker has `scheduler.postTask` (Chromium), a
 * task posted to its own queue: tasks of one priority run in the order they were queued, and it
 * costs no message; elsewhere a message to itself over a MessageChannel, which a timer's 4 ms clamp
 * does not delay and which browsers queue behind messages that arrived before it (Chromium's
 * posted-message tasks run in order; the specification leaves it to them). Node drains up to a
 * thousand messages of one port at once, so it is no pause there. One task or message per waiter,
 * so concurrent callers each get their own turn.
 */
export function taskPause(): () => Promise<void> {
  const scheduler = (globalThis as { scheduler?: { postTask?: (task: () => void) => Promise<void> } }).scheduler;
  if (typeof scheduler?.postTask === 'function') return () => scheduler.postTask!(() => undefined);
  const channel = new MessageChannel();
  const waiting: (() => void)[] = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return () => new Promise<void>((resume) => {
    waiting.push(resume);
    channel.port2.postMessage(null);
  });
}

/**
 * Calls of this many texts or more take turns (util/in-turn.ts): the engine's windows, which start at
 * this size (engine FIRST_WINDOW). Smaller calls, a query's or a call's last few texts, interleave
 * with them at the pauses instead of waiting behind the windows queued on the worker.
 */
export const TURN_FROM_TEXTS = 256;
