// Streaming: read a window of records, embed it, hand it on, read the next. Only one window is in
// flight, so memory does not grow with the corpus and a slow consumer slows the reading.
import type { Engine, ProgressReporter } from '../core/engine.js';
import { progressReporter } from '../core/engine.js';
import { AbortError, EmbeddingsFileError, InputFormatError } from '../core/errors.js';
import type { EmbedProgress, Embeddings } from '../core/types.js';
import { positiveInteger } from '../core/validate.js';
import { inferColumns, textHash, type FileDescription } from '../sink/arrow-ipc.js';
import { kindOf, RESERVED_COLUMNS } from '../sink/columns.js';
import type { EmbeddingSink } from '../sink/arrow-file.js';
import { readRecords, takeWindow, type EmbedRecord, type RecordOptions, type RecordSource } from '../source/records.js';

/** One embedded window: ids in source order, their records and vectors. */
export interface StreamBatch {
  ids: string[];
  records: EmbedRecord[];
  textHashes: string[];
  embeddings: Embeddings;
}

/** Options of embedStream. */
export interface StreamOptions extends RecordOptions {
  /** Records per window (default 1024): the unit of work in flight and of each yielded batch. */
  windowSize?: number;
  signal?: AbortSignal;
  /** Ids to skip (already committed elsewhere). */
  skipIds?: ReadonlySet<string>;
  /** Remember the vectors of this many distinct texts, so repeated texts are computed once (default 0). */
  cacheSize?: number;
  /** Counts the work for progress. */
  progress?: ProgressReporter;
  /** 'high' lets this stream's batches run before those of normal calls on the same embedder. */
  priority?: 'high' | 'normal';
  /** Text put before every text (e.g. 'passage: '); overrides promptName. */
  prompt?: string;
  /** One of the model's prompts by name; default the model's default prompt. */
  promptName?: string;
  /** Told how many records were skipped, as they are. */
  onSkip?: (count: number) => void;
  /** Text hashes of the skipped ids as committed: a skipped record whose text hashes otherwise is reported to onChanged. */
  committedHashes?: ReadonlyMap<string, string>;
  onChanged?: (id: string) => void;
}

/** Embeds a source lazily, one window at a time. */
export async function* embedStream(engine: Engine, source: RecordSource | AsyncIterable<EmbedRecord>, options: StreamOptions & { parsed?: boolean } = {}): AsyncGenerator<StreamBatch> {
  const records = options.parsed ? (source as AsyncIterable<EmbedRecord>) : readRecords(source as RecordSource, options);
  const iterator = records[Symbol.asyncIterator]();
  const windowSize = positiveInteger('windowSize', options.windowSize ?? 1024);
  const seen = new Set<string>();
  const cache = new Map<string, Float32Array>();
  const cacheSize = options.cacheSize ?? 0;
  const dim = engine.info.dim;
  const prompt = engine.resolvePrompt(options); // checked before the first record is read
  let position = 0;
  const nextWindow = async (): Promise<StreamBatch | null> => {
    for (;;) {
      if (options.signal?.aborted) return null;
      const raw = await takeWindow(iterator, windowSize);
      if (raw.length === 0) return null;
      const window: EmbedRecord[] = [];
      let skipped = 0;
      for (const record of raw) {
        if (seen.has(record.id)) throw new InputFormatError(`${options.sourceName ?? 'source'} record ${position}`, `id "${record.id}" appears more than once; ids must be unique`);
        seen.add(record.id);
        position++;
        if (options.skipIds?.has(record.id)) {
          skipped++;
          const committed = options.committedHashes?.get(record.id);
          if (committed !== undefined && committed !== textHash(record.text)) options.onChanged?.(record.id);
        } else {
          window.push(record);
        }
      }
      if (skipped) options.onSkip?.(skipped);
      if (window.length === 0) continue;
      const hashes = window.map((r) => textHash(r.text));
      const data = new Float32Array(window.length * dim);
      const missing: number[] = [];
      window.forEach((_, i) => {
        const hit = cacheSize ? cache.get(hashes[i]! + window[i]!.text.length) : undefined;
        if (hit) data.set(hit, i * dim);
        else missing.push(i);
      });
      if (missing.length) {
        const computed = await engine.embedWindow(missing.map((i) => window[i]!.text), { signal: options.signal, progress: options.progress, priority: options.priority, prompt });
        missing.forEach((i, k) => data.set(computed.data.subarray(k * dim, (k + 1) * dim), i * dim));
      }
      if (missing.length < window.length) options.progress?.add(window.length - missing.length, 0);
      if (cacheSize) {
        for (const i of missing) {
          cache.set(hashes[i]! + window[i]!.text.length, data.slice(i * dim, (i + 1) * dim));
          if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
        }
      }
      return { ids: window.map((r) => r.id), records: window, textHashes: hashes, embeddings: { count: window.length, dim, data } };
    }
  };
  // One window ahead: the next window is read and embedded while the consumer handles this one
  // (a sink encodes and syncs it), so the model is not idle during writes. Two windows at most
  // are in flight; a slow consumer still slows the reading.
  let pending = nextWindow();
  for (;;) {
    const batch = await pending;
    if (!batch) return;
    pending = nextWindow();
    pending.catch(() => undefined); // surfaces when the consumer asks for the next batch
    yield batch;
  }
}

/** Options of embedTo. */
export interface EmbedToOptions extends Omit<StreamOptions, 'skipIds' | 'progress' | 'onSkip' | 'committedHashes' | 'onChanged'> {
  onProgress?: (progress: EmbedProgress) => void;
  /** Skip the ids the sink already holds (default false: the sink must be empty). */
  resume?: boolean;
  /** Store vectors as Float16 (half the size). */
  float16?: boolean;
  /** Number of records, when known, for progress and ETA. */
  total?: number;
}

/** What embedTo did. */
export interface EmbedToResult {
  written: number;
  /** Records skipped because the sink already held their ids (resume). */
  skipped: number;
  file: FileDescription | null;
  /** Skipped ids whose text differs from the text their committed vector was made from (the first 100 ids, and the count). */
  changed: { count: number; ids: string[] };
  /** What resume cut off the sink before continuing (a half-written or corrupt tail), if anything. */
  repaired?: string;
}

const CHANGED_IDS_KEPT = 100;

function checkMetadata(record: { id: string; metadata: Record<string, unknown> }, columns: FileDescription['metadataColumns']): void {
  for (const [key, value] of Object.entries(record.metadata)) {
    const where = `record "${record.id}"`;
    if (RESERVED_COLUMNS.includes(key)) throw new InputFormatError(where, `field "${key}" has the name of a column the file itself uses (${RESERVED_COLUMNS.join(', ')}): rename it in the source`);
    const kind = columns[key];
    if (kind === undefined) throw new InputFormatError(where, `field "${key}" is not a column of this file (columns were fixed by the first records: ${Object.keys(columns).join(', ') || 'none'})`);
    const got = kindOf(value as never);
    if (got !== null && got !== kind) throw new InputFormatError(where, `field "${key}" is ${JSON.stringify(value)} (${got}), but its column holds ${kind} values (fixed by the first records); no value is converted`);
  }
}

/** Drives a source into a sink: each window is committed before the next is read. */
export async function embedTo(engine: Engine, source: RecordSource | AsyncIterable<EmbedRecord>, sink: EmbeddingSink, options: EmbedToOptions & { parsed?: boolean } = {}): Promise<EmbedToResult> {
  let written = 0;
  let skipped = 0;
  const changed = { count: 0, ids: [] as string[] };
  let description: FileDescription | null = null;
  let repaired: string | undefined;
  let failed = false;
  try {
    const state = await sink.resumeState();
    repaired = state.repaired;
    if (!options.resume && state.committed.size > 0) throw new EmbeddingsFileError('sink', `already holds ${state.committed.size} rows: pass resume to continue it`);
    description = state.description;
    const info = engine.info;
    const float16 = options.float16 ?? description?.float16 ?? false;
    const prompt = engine.resolvePrompt(options);
    if (description) {
      const now: Record<string, unknown> = { dim: info.dim, pooling: info.pooling, normalize: info.normalize, float16, prompt };
      // Files from before prompts were recorded were written without one.
      const then: Record<string, unknown> = { ...description, prompt: description.prompt ?? '' };
      const mismatch: string[] = (['dim', 'pooling', 'normalize', 'float16', 'prompt'] as const).filter((k) => then[k] !== now[k]);
      if (description.model !== info.model) mismatch.unshift('model');
      if (mismatch.length) {
        const was = mismatch.map((k) => `${k}: ${JSON.stringify(k === 'model' ? description!.model : then[k])}${k === 'model' ? '' : ` now ${JSON.stringify(now[k])}`}`);
        throw new EmbeddingsFileError('sink', `was written with another ${mismatch.join(', ')} (${was.join(', ')}): cannot resume it with this embedder`);
      }
    }
    const progress = progressReporter(options.total ?? NaN, options.onProgress, 100, () => ({ memory: memoryNow() }));
    const stream = embedStream(engine, source, {
      ...options, skipIds: state.committed, progress, committedHashes: state.textHashes,
      onSkip: (n) => {
        skipped += n;
        progress.add(n, 0);
      },
      onChanged: (id) => {
        if (changed.count++ < CHANGED_IDS_KEPT) changed.ids.push(id);
      },
    });
    try {
      for await (const batch of stream) {
        description ??= {
          model: info.model, dim: info.dim, pooling: info.pooling, normalize: info.normalize, dtype: info.dtype, float16, prompt,
          ...(info.dim < info.modelDim ? { modelDim: info.modelDim } : {}),
          metadataColumns: inferColumns(batch.records.map((r) => r.metadata)), checksum: 'crc32',
        };
        for (const record of batch.records) checkMetadata(record, description.metadataColumns);
        await sink.write(description, { ids: batch.ids, vectors: batch.embeddings.data, textHashes: batch.textHashes, metadata: batch.records.map((r) => r.metadata) });
        written += batch.ids.length;
      }
    } catch (error) {
      if (error instanceof AbortError || options.signal?.aborted) throw new AbortError(options.signal?.reason, { committed: written });
      throw error;
    }
    // A signal that fires between windows ends the stream quietly; the caller still learns it was cut short.
    if (options.signal?.aborted) throw new AbortError(options.signal.reason, { committed: written });
    progress.finish();
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // Closing must not hide the error that ended the run (after a full disk, closing fails too).
    await sink.close().catch((closeError: unknown) => {
      if (!failed) throw closeError;
    });
  }
  return { written, skipped, file: description, changed, ...(repaired ? { repaired } : {}) };
}

function memoryNow(): EmbedProgress['memory'] {
  const g = globalThis as { process?: { memoryUsage(): { rss: number; heapUsed: number } } };
  if (!g.process) return undefined;
  const m = g.process.memoryUsage();
  return { jsHeapBytes: m.heapUsed, rssBytes: m.rss };
}
