// The engine shared by every runtime: tokenize -> sort and pack -> run (pooled on the device)
// -> restore input order. Runtimes inject how files are read and how sessions are made.
import { packSorted, sortByLengthDescending, type PackedBatch } from '../batch/pack.js';
import { fillDuplicates, foldDuplicates, scatterRows } from '../batch/order.js';
import { DTYPE_FILES, readModelJson, type ModelFiles } from '../model/files.js';
import { appendPooling } from '../pool/pooling-graph.js';
import { prepareBatch, type EncoderSession, type PreparedBatch } from '../run/session.js';
import { loadTokenizer, type TextTokenizer } from '../tokenize/tokenizer.js';
import { AbortError, DisposedError, InvalidOptionError, InvalidTextError, ModelFormatError } from './errors.js';
import type { EmbedCallOptions, Embedder, EmbedderInfo, EmbedderOptions, EmbedderStats, Embeddings, EmbedProgress } from './types.js';

/** A runtime's way to make sessions and to settle 'auto' choices. */
export interface InferenceBackend {
  /** Settles the device and dtype, and says why. */
  choose(options: EmbedderOptions): Promise<{ device: EmbedderInfo['device']; dtype: EmbedderInfo['dtype']; reasons: string[] }>;
  createSession(model: Uint8Array, device: EmbedderInfo['device']): Promise<EncoderSession>;
}

/** What a runtime entry passes to the core. */
export interface CoreDependencies {
  files: ModelFiles;
  backend: InferenceBackend;
  /** Loads the tokenizer; injectable for tests. */
  loadTokenizer?: (files: ModelFiles) => Promise<TextTokenizer>;
}

export const DEFAULT_MAX_BATCH_TOKENS = 8192;
export const DEFAULT_LOOKAHEAD = 4096;
const MAX_BATCH_SIZE = 512;
const PROGRESS_INTERVAL_MS = 100;

/** Builds an embedder from resolved files and a backend. */
export async function createEmbedderCore(options: EmbedderOptions, deps: CoreDependencies): Promise<Embedder> {
  const pooling = options.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new InvalidOptionError('pooling', `"${String(pooling)}" is not 'mean' or 'cls'`);
  const normalize = options.normalize ?? true;
  const maxBatchTokens = positiveInteger('maxBatchTokens', options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS);
  const truncation = options.truncation ?? 'cut';
  if (truncation !== 'cut' && truncation !== 'keep-special-tokens') {
    throw new InvalidOptionError('truncation', `"${String(truncation)}" is not 'cut' or 'keep-special-tokens'`);
  }
  const lookahead = positiveInteger('lookahead', options.lookahead ?? DEFAULT_LOOKAHEAD);

  const { files, backend } = deps;
  // config.json first: a missing model is then reported by its first file, every time.
  const config = await readModelJson(files, 'config.json');
  const [tokenizer, choice] = await Promise.all([
    (deps.loadTokenizer ?? loadTokenizer)(files),
    backend.choose(options),
  ]);
  const modelFile = DTYPE_FILES[choice.dtype];
  const pooled = appendPooling(await files.read(modelFile), pooling, normalize, `${files.location}/${modelFile}`);
  const dim = pooled.hidden ?? Number(config.hidden_size);
  if (!Number.isInteger(dim) || dim <= 0) throw new ModelFormatError(`${files.location}: hidden size unknown (no static output dim, no hidden_size in config.json)`);

  const positions = Number(config.max_position_embeddings);
  const modelMax = Math.min(tokenizer.modelMaxLength ?? Infinity, Number.isFinite(positions) && positions > 0 ? positions : Infinity);
  const limit = Number.isFinite(modelMax) ? modelMax : 512;
  const maxTokens = options.maxTokens === undefined ? limit : positiveInteger('maxTokens', options.maxTokens);
  if (maxTokens > limit) throw new InvalidOptionError('maxTokens', `${maxTokens} exceeds the model's maximum of ${limit} tokens`);
  if (maxTokens < 2) throw new InvalidOptionError('maxTokens', 'must leave room for the special tokens (at least 2)');

  const session = await backend.createSession(pooled.bytes, choice.device);
  const padId = Number(config.pad_token_id ?? 0) || 0;
  const info: EmbedderInfo = {
    model: files.location, device: choice.device, dtype: choice.dtype, dim, maxTokens, truncation, pooling, normalize, maxBatchTokens, reasons: choice.reasons,
  };
  const stats: EmbedderStats = { texts: 0, tokens: 0, paddingTokens: 0, truncatedTexts: 0, batches: 0 };
  let disposed = false;
  let queue: Promise<unknown> = Promise.resolve();

  const run = async (texts: readonly string[], call: EmbedCallOptions): Promise<Embeddings> => {
    const count = texts.length;
    const data = new Float32Array(count * dim);
    if (count === 0) return { count, dim, data };
    const { unique, firstOf } = foldDuplicates(texts);
    const progress = progressReporter(count, call.onProgress);
    for (let start = 0; start < unique.length; start += lookahead) {
      const window = unique.slice(start, start + lookahead);
      const { ids, truncated } = tokenizer.encode(window.map((i) => texts[i]!), maxTokens, truncation);
      stats.truncatedTexts += truncated;
      const lengths = ids.map((row) => row.length);
      const batches = packSorted(sortByLengthDescending(lengths), lengths, { maxBatchTokens, maxBatchSize: MAX_BATCH_SIZE });
      await runBatches(session, batches, ids, padId, call.signal, (batch, rows) => {
        scatterRows(data, dim, batch.indices.map((i) => window[i]!), rows);
        let tokens = 0;
        for (const i of batch.indices) tokens += lengths[i]!;
        stats.tokens += tokens;
        stats.paddingTokens += batch.indices.length * batch.paddedLength - tokens;
        stats.batches++;
        stats.texts += batch.indices.length;
        progress.add(batch.indices.length, tokens);
      });
    }
    fillDuplicates(data, dim, firstOf);
    stats.texts += count - unique.length;
    progress.finish();
    return { count, dim, data };
  };

  return {
    info,
    get stats() {
      return { ...stats };
    },
    embed(texts, call = {}) {
      if (disposed) return Promise.reject(new DisposedError());
      if (!Array.isArray(texts)) return Promise.reject(new TypeError(`embed() takes an array of strings, got ${typeof texts}`));
      const bad = texts.findIndex((t) => typeof t !== 'string');
      if (bad >= 0) return Promise.reject(new InvalidTextError(bad, texts[bad]));
      // One embed at a time per session: concurrent runs would only fight over the same cores.
      const result = queue.then(() => {
        if (disposed) throw new DisposedError();
        return run(texts, call);
      });
      queue = result.catch(() => undefined);
      return result;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await queue;
      await session.release();
    },
  };
}

/**
 * Runs batches one at a time, preparing the next batch's tensors while the current one runs
 * (ONNX Runtime computes off the JS thread), and hands each result to `onRows`.
 */
async function runBatches(
  session: EncoderSession, batches: readonly PackedBatch[], ids: readonly Int32Array[], padId: number,
  signal: AbortSignal | undefined, onRows: (batch: PackedBatch, rows: Float32Array) => void,
): Promise<void> {
  const prepare = (b: PackedBatch): PreparedBatch => prepareBatch(ids, b.indices, b.paddedLength, padId);
  let next: PreparedBatch | null = batches.length ? prepare(batches[0]!) : null;
  for (let k = 0; k < batches.length; k++) {
    if (signal?.aborted) throw new AbortError(signal.reason);
    const pending = session.run(next!);
    next = k + 1 < batches.length ? prepare(batches[k + 1]!) : null;
    onRows(batches[k]!, await pending);
  }
}

function progressReporter(total: number, onProgress: ((p: EmbedProgress) => void) | undefined) {
  const started = performance.now();
  let done = 0;
  let tokens = 0;
  let lastSent = -Infinity;
  const send = (): void => {
    const elapsedMs = performance.now() - started;
    const seconds = Math.max(elapsedMs, 1e-3) / 1000;
    const textsPerSec = done / seconds;
    onProgress!({ done, total, tokens, elapsedMs, textsPerSec, tokensPerSec: tokens / seconds, etaMs: textsPerSec > 0 ? ((total - done) / textsPerSec) * 1000 : Infinity });
    lastSent = performance.now();
  };
  return {
    add(texts: number, batchTokens: number) {
      done += texts;
      tokens += batchTokens;
      if (onProgress && (done === texts || performance.now() - lastSent >= PROGRESS_INTERVAL_MS) && done < total) send();
    },
    finish() {
      done = total; // duplicates were filled in without running
      if (onProgress) send();
    },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new InvalidOptionError(name, `${String(value)} is not a positive integer`);
  return value;
}
