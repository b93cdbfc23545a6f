// Streaming: read a window of records, embed it, hand it on, read the next. At most three windows
// are held (the consumer's, the one running, the next one tokenizing), so memory does not grow with
// the corpus and a slow consumer slows the reading.
import { DEFAULT_LOOKAHEAD, FIRST_WINDOW, nextWindowSize, type Engine, type ProgressReporter } from '../engine/engine.js';
import { AbortError, EmbeddingsFileError, InputFormatError, InvalidOptionError } from '../base/errors.js';
import type { EmbedProgress, Embeddings, Priority } from '../base/types.js';
import { positiveInteger } from '../base/validate.js';
import { CHECKSUM_KIND, inferColumns, precisionOf, type FileDescription } from '../format/schema.js';
import { textHash } from '../format/text-hash.js';
import { CALIBRATION_ROWS, calibrateRanges, checkPrecision, checkRanges, countClamped, needsRanges, type Precision, type QuantRanges } from '../format/precision.js';
import { kindOf, RESERVED_COLUMNS } from '../format/columns.js';
import type { EmbeddingSink } from '../store/arrow-file.js';
import { committedFromSet, type CommittedIds } from '../store/committed.js';
import { FingerprintSet, idFingerprint } from '../util/fingerprint-set.js';
import { isParsed, readRecords, recordOrigin, takeWindow, type EmbedRecord, type RecordOptions, type RecordSource } from '../source/records.js';

/** One embedded window: ids in source order, their records and vectors. */
export interface StreamBatch {
  ids: string[];
  records: EmbedRecord[];
  textHashes: string[];
  embeddings: Embeddings;
}

/** Options of embedStream. */
export interface StreamOptions extends RecordOptions {
  /**
   * Records per window (default 4096, the engine's lookahead): the unit of work in flight, of each
   * yielded batch and of each commit. Left unset, windows ramp up to it (256, 512, ... 4096), so the
   * first batch comes after a small window; a window as large as embed()'s packs as tightly.
   */
  windowSize?: number;
  signal?: AbortSignal;
  /** Ids to skip (already committed elsewhere): a Set, or a sink's committed ids. */
  skipIds?: ReadonlySet<string> | CommittedIds;
  /** Remember the vectors of this many distinct texts, so repeated texts are computed once (default 0). */
  cacheSize?: number;
  /** 'high' lets this stream's batches run before those of normal calls on the same embedder. */
  priority?: Priority;
  /** Text put before every text (e.g. 'passage: '); overrides promptName. */
  prompt?: string;
  /** One of the model's prompts by name; default the model's default prompt. */
  promptName?: string;
  /** Told how many records were skipped, as they are. */
  onSkip?: (count: number) => void;
  /** Told of each skipped id whose text differs from the one its committed row was made from. */
  onChanged?: (id: string) => void;
}

/** Seams inside the library and its tests, not options a user sets (so they are not in the public types). */
export interface StreamSeams {
  /**
   * Confirms exactly that an id whose 64-bit fingerprint matches an earlier record's (in an
   * earlier window) is a repeat: embedTo asks its sink and its committed ids. Without it a fingerprint match counts as a
   * repeat (a false one has odds of about 1 in 10^19 per pair of ids).
   */
  confirmDuplicate?: (id: string) => Promise<boolean>;
  /** Replaces the 64-bit id fingerprint (tests force collisions with it). */
  fingerprint?: (id: string) => bigint;
  /** Counts the work for progress (embedTo's reporter). */
  progress?: ProgressReporter;
}

/** Embeds a source lazily, one window at a time. */
export async function* embedStream(
  engine: Engine, source: RecordSource | AsyncIterable<EmbedRecord>, options: StreamOptions & StreamSeams & { parsed?: boolean } = {},
): AsyncGenerator<StreamBatch> {
  // The library's own readers' streams are recognised (isParsed); `parsed` stays for callers' own EmbedRecord streams.
  const records = options.parsed || isParsed(source) ? (source as AsyncIterable<EmbedRecord>) : readRecords(source as RecordSource, options);
  const iterator = records[Symbol.asyncIterator]();
  const windowSize = positiveInteger('windowSize', options.windowSize ?? DEFAULT_LOOKAHEAD);
  // Ids seen in earlier windows are kept as fingerprints (8 bytes each); ids of the windows still
  // in flight are kept exactly, since they may not be in the sink yet to confirm against.
  const seen = new FingerprintSet();
  const skip = options.skipIds === undefined ? undefined : 'lookup' in options.skipIds ? options.skipIds : committedFromSet(options.skipIds);
  const confirmDuplicate = options.confirmDuplicate ?? (async () => true);
  const fingerprint = options.fingerprint ?? idFingerprint;
  const cache = new Map<string, Float32Array>();
  const cacheSize = options.cacheSize ?? 0;
  /** With a cache: texts that windows in flight are computing, by cache key (their window's call and row in it). */
  const computing = new Map<string, Computing>();
  const dim = engine.info.dim;
  const prompt = engine.resolvePrompt(options); // checked before the first record is read
  let position = 0;
  // Unless the caller fixed the window size, windows ramp up (FIRST_WINDOW, growing as the
  // engine's do): the first batch is yielded after one small window, and later windows are full-sized.
  let nextSize = options.windowSize === undefined ? Math.min(windowSize, FIRST_WINDOW) : windowSize;
  // Ids of windows read but not yet handled by the consumer (embedded, yielded, being written):
  // kept exactly, since they may not be in the sink yet to confirm a fingerprint match against.
  const inFlight: Set<string>[] = [];
  /** Reads the next window that has work, checks its ids and hands its texts to the engine; null at the end. */
  const readWindow = async (): Promise<PendingWindow | null> => {
    for (;;) {
      if (options.signal?.aborted) return null;
      const raw = await takeWindow(iterator, nextSize);
      nextSize = nextWindowSize(nextSize, windowSize);
      if (raw.length === 0) return null;
      const current = new Set<string>();
      const fingerprints = raw.map((record) => fingerprint(record.id));
      for (let i = 0; i < raw.length; i++) {
        const id = raw[i]!.id;
        const repeated = current.has(id) || inFlight.some((ids) => ids.has(id)) || (seen.has(fingerprints[i]!) && (await confirmDuplicate(id)));
        if (repeated) throw new InputFormatError(recordOrigin(raw[i]!) ?? `${options.sourceName ?? 'source'} record ${position + i + 1}`, `id "${id}" appears more than once; ids must be unique`);
        current.add(id);
      }
      position += raw.length;
      seen.addAll(fingerprints);
      const committed = skip ? await skip.lookup(raw.map((r) => r.id)) : [];
      const window: EmbedRecord[] = [];
      let skipped = 0;
      raw.forEach((record, i) => {
        const hash = committed[i];
        if (hash === undefined) return void window.push(record);
        skipped++;
        if (hash !== '' && hash !== textHash(record.text)) options.onChanged?.(record.id);
      });
      if (skipped) options.onSkip?.(skipped);
      if (window.length === 0) continue;
      inFlight.push(current);
      const hashes = window.map((r) => textHash(r.text));
      const data = new Float32Array(window.length * dim);
      const missing: number[] = [];
      const borrowed: [number, Computing][] = [];
      window.forEach((_, i) => {
        const key = hashes[i]! + window[i]!.text.length;
        const hit = cacheSize ? cache.get(key) : undefined;
        const running = cacheSize && !hit ? computing.get(key) : undefined;
        if (hit) data.set(hit, i * dim);
        else if (running) borrowed.push([i, running]);
        else missing.push(i);
      });
      const computed = missing.length
        ? engine.embedWindow(missing.map((i) => window[i]!.text), { signal: options.signal, progress: options.progress, priority: options.priority, prompt })
        : null;
      computed?.catch(() => undefined); // awaited in order by finishWindow
      // A text repeated in a window read ahead takes the vector this window computes, as it would from the cache.
      if (cacheSize && computed) missing.forEach((i, row) => computing.set(hashes[i]! + window[i]!.text.length, { computed, row }));
      return { window, hashes, data, missing, borrowed, computed };
    }
  };
  /** Waits for a window's vectors and makes its batch. */
  const finishWindow = async ({ window, hashes, data, missing, borrowed, computed }: PendingWindow): Promise<StreamBatch> => {
    if (computed) {
      const { data: rows } = await computed;
      missing.forEach((i, k) => data.set(rows.subarray(k * dim, (k + 1) * dim), i * dim));
    }
    for (const [i, from] of borrowed) data.set((await from.computed).data.subarray(from.row * dim, (from.row + 1) * dim), i * dim);
    if (missing.length < window.length) options.progress?.add(window.length - missing.length, 0);
    if (cacheSize) {
      for (const i of missing) {
        const key = hashes[i]! + window[i]!.text.length;
        if (computing.get(key)?.computed === computed) computing.delete(key);
        cache.set(key, data.slice(i * dim, (i + 1) * dim));
        if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
      }
    }
    return { ids: window.map((r) => r.id), records: window, textHashes: hashes, embeddings: { count: window.length, dim, data } };
  };
  // Windows ahead: as soon as one window is with the engine, the next is read and handed over too,
  // so the engine tokenizes it while it runs this one, and runs it while the consumer handles this
  // one (a sink encodes and syncs it). Three windows at most are held (consumer, running, next);
  // a slow consumer still slows the reading.
  // An aborted signal ends the stream with an AbortError (as embedTo rejects), never as if the
  // source had ended: a consumer must not take a cut-short stream for the whole corpus.
  let yielded = 0;
  const aborted = () => new AbortError(options.signal!.reason, { yielded });
  let next = readWindow();
  for (;;) {
    let batch: StreamBatch;
    try {
      const pending = await next;
      if (options.signal?.aborted) throw aborted();
      if (!pending) return;
      next = readWindow();
      next.catch(() => undefined); // surfaces when the loop comes back for it
      batch = await finishWindow(pending);
    } catch (error) {
      // The caller's abort, however it surfaced (the engine's own AbortError carries no count): say how many rows were yielded.
      if (options.signal?.aborted) throw aborted();
      throw error;
    }
    if (options.signal?.aborted) throw aborted();
    yield batch;
    yielded += batch.ids.length;
    inFlight.shift(); // the consumer has handled it: its ids are in the sink, or were never meant for one
  }
}

/** A window read and handed to the engine, not yet embedded. */
interface PendingWindow {
  window: EmbedRecord[];
  hashes: string[];
  /** Its vectors: cached rows filled in already, the rest (`missing`) when `computed` resolves. */
  data: Float32Array;
  missing: number[];
  /** Rows whose text a window ahead of this one is computing (with a cache). */
  borrowed: [number, Computing][];
  computed: Promise<Embeddings> | null;
}

/** A text being computed by a window in flight: that window's engine call and the text's row in it. */
interface Computing {
  computed: Promise<Embeddings>;
  row: number;
}

/** Options of embedTo. */
export interface EmbedToOptions extends Omit<StreamOptions, 'skipIds' | 'onSkip' | 'onChanged'> {
  onProgress?: (progress: EmbedProgress) => void;
  /** Skip the ids the sink already holds (default false: the sink must be empty). */
  resume?: boolean;
  /**
   * How vectors are stored (default float32): float16, or quantized as sentence-transformers'
   * quantize_embeddings does: int8/uint8 (a quarter of the size), binary/ubinary (1/32).
   */
  precision?: Precision;
  /** int8/uint8 bounds per dimension; default: calibrated from the first 1024 rows (CALIBRATION_ROWS), narrow dimensions widened (calibrateRanges). Recorded in the file. */
  ranges?: QuantRanges;
  /** Also keep each vector in float16, so binary search can rescore its best candidates exactly. */
  keepFloat16?: boolean;
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
  /** int8/uint8: values of this run outside the file's ranges, stored as the end codes, and the rows that hold any. */
  clamped?: { values: number; rows: number };
  /** int8/uint8 ranges calibrated by this run: from how many rows, and how many dimensions were widened to the floor (see calibrateRanges). */
  calibration?: { rows: number; widened: number };
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
export async function embedTo(engine: Engine, source: RecordSource | AsyncIterable<EmbedRecord>, sink: EmbeddingSink, options: EmbedToOptions & Pick<StreamSeams, 'fingerprint'> & { parsed?: boolean } = {}): Promise<EmbedToResult> {
  let written = 0;
  let skipped = 0;
  const changed = { count: 0, ids: [] as string[] };
  let description: FileDescription | null = null;
  let repaired: string | undefined;
  let failed = false;
  const sinkName = sink.name ?? 'sink'; // messages name the file, not "sink"
  const clamped = { values: 0, rows: 0 };
  let calibration: EmbedToResult['calibration'];
  try {
    const state = await sink.resumeState();
    repaired = state.repaired;
    if (!options.resume && state.committed.size > 0) throw new EmbeddingsFileError(sinkName, `already holds ${state.committed.size} rows: pass resume to continue it`);
    description = state.description;
    const info = engine.info;
    const precision = checkPrecision(options.precision ?? (description ? precisionOf(description) : 'float32'));
    const float16 = precision === 'float16';
    const keepFloat16 = options.keepFloat16 ?? description?.keepFloat16 ?? false;
    const givenRanges = options.ranges ? checkRanges(options.ranges, info.dim) : undefined;
    if (givenRanges && !needsRanges(precision)) throw new InvalidOptionError('ranges', `apply to int8 and uint8 only, not ${precision}`);
    const prompt = engine.resolvePrompt(options);
    if (description) {
      const now: Record<string, unknown> = { dim: info.dim, pooling: info.pooling, normalize: info.normalize, precision, keepFloat16, prompt };
      // Files from before prompts (and precisions) were recorded were written without them.
      const then: Record<string, unknown> = { ...description, prompt: description.prompt ?? '', precision: precisionOf(description), keepFloat16: description.keepFloat16 ?? false };
      const mismatch: string[] = (['dim', 'pooling', 'normalize', 'precision', 'keepFloat16', 'prompt'] as const).filter((k) => then[k] !== now[k]);
      // Files from before issue 23 do not say how texts were cut; those that do are resumed only the same way.
      for (const k of ['maxTokens', 'truncation'] as const) {
        now[k] = info[k];
        if (description[k] !== undefined && description[k] !== info[k]) mismatch.push(k);
      }
      if (givenRanges && JSON.stringify(givenRanges) !== JSON.stringify(description.ranges)) mismatch.push('ranges');
      // The same weights read from another folder, machine or URL are the same model; files from
      // before fingerprints name it by its location then (an absolute folder, a URL, a hub id).
      const sameModel = description.modelFingerprint && info.modelFingerprint
        ? description.modelFingerprint === info.modelFingerprint
        : description.model === info.model || description.model === info.modelLocation;
      if (!sameModel) mismatch.unshift('model');
      if (mismatch.length) {
        now.model = `${info.model}${info.modelFingerprint ? ` (weights ${info.modelFingerprint})` : ''}`;
        then.model = `${description.model}${description.modelFingerprint ? ` (weights ${description.modelFingerprint})` : ''}`;
        const was = mismatch.map((k) => `${k}: ${JSON.stringify(then[k])} now ${JSON.stringify(now[k])}`);
        throw new EmbeddingsFileError(sinkName, `was written with another ${mismatch.join(', ')} (${was.join(', ')}): cannot resume it with this embedder`);
      }
    }
    // int8/uint8 windows held until the calibration sample is complete (see flushHeld below).
    const held: StreamBatch[] = [];
    let heldRows = 0;
    const progress = engine.reporter(options.total ?? NaN, options.onProgress);
    const stream = embedStream(engine, source, {
      ...options, skipIds: state.committed, progress,
      // A repeat is an id committed before this run that the source already reached, or one this run wrote.
      // Windows held for calibration are not in the sink yet: they are asked first.
      confirmDuplicate: async (id: string) =>
        held.some((b) => b.ids.includes(id)) || ((await state.committed.reached(id)) ?? (sink.contains ? sink.contains(id) : true)),
      onSkip: (n) => {
        skipped += n;
        progress.add(n, 0);
      },
      onChanged: (id) => {
        if (changed.count++ < CHANGED_IDS_KEPT) changed.ids.push(id);
      },
    });
    const describe = (metadataColumns: FileDescription['metadataColumns'], ranges?: QuantRanges): FileDescription => ({
      model: info.model, ...(info.modelFingerprint ? { modelFingerprint: info.modelFingerprint } : {}),
      dim: info.dim, pooling: info.pooling, normalize: info.normalize, dtype: info.dtype, float16, prompt,
      ...(info.dim < info.modelDim ? { modelDim: info.modelDim } : {}),
      maxTokens: info.maxTokens, truncation: info.truncation,
      precision,
      ...(needsRanges(precision) ? { ranges: givenRanges ?? ranges! } : {}),
      ...(keepFloat16 ? { keepFloat16 } : {}),
      metadataColumns, checksum: CHECKSUM_KIND,
    });
    const write = async (batch: StreamBatch, ranges?: QuantRanges): Promise<void> => {
      description ??= describe(inferColumns(batch.records.map((r) => r.metadata)), ranges);
      for (const record of batch.records) checkMetadata(record, description.metadataColumns);
      await sink.write(description, {
        ids: batch.ids, vectors: batch.embeddings.data, textHashes: batch.textHashes, metadata: batch.records.map((r) => r.metadata),
      });
      if (needsRanges(precision)) {
        const outside = countClamped(batch.embeddings.data, info.dim, description.ranges!);
        clamped.values += outside.values;
        clamped.rows += outside.rows;
      }
      written += batch.ids.length;
    };
    // int8/uint8 ranges of a new file are calibrated from the first CALIBRATION_ROWS rows, not the
    // first window alone (a window of one record, or of near-identical texts, cannot represent the
    // rest): the windows are held until then, then written in order.
    const flushHeld = async (): Promise<void> => {
      if (!held.length) return;
      // Exactly the first CALIBRATION_ROWS rows (or all there are), whatever the windows' sizes.
      const rows = Math.min(heldRows, CALIBRATION_ROWS);
      const data = new Float32Array(rows * info.dim);
      let at = 0;
      for (const batch of held) {
        if (at === data.length) break;
        const take = batch.embeddings.data.subarray(0, data.length - at);
        data.set(take, at);
        at += take.length;
      }
      const { ranges, widened } = calibrateRanges(data, info.dim);
      calibration = { rows, widened };
      for (const batch of held.splice(0)) await write(batch, ranges);
      heldRows = 0;
    };
    try {
      for await (const batch of stream) {
        if (!description && needsRanges(precision) && !givenRanges) {
          held.push(batch);
          heldRows += batch.ids.length;
          if (heldRows >= CALIBRATION_ROWS) await flushHeld();
          continue;
        }
        await write(batch);
      }
      if (!options.signal?.aborted) await flushHeld();
      // A source with no records (an empty input, a shard no id hashes to) still gets a file with
      // its schema and no rows, which readers, search and export take as an empty part. Its
      // int8/uint8 ranges quantize nothing: a resume of a file without rows calibrates afresh.
      if (!description && !options.signal?.aborted) {
        description = describe({}, needsRanges(precision) ? calibrateRanges(new Float32Array(0), info.dim).ranges : undefined);
        await sink.write(description, { ids: [], vectors: new Float32Array(0), textHashes: [], metadata: [] });
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
  return {
    written, skipped, file: description, changed, ...(repaired ? { repaired } : {}),
    ...(description && needsRanges(precisionOf(description)) ? { clamped } : {}), ...(calibration ? { calibration } : {}),
  };
}
