// Node entry (`bulk-embed/node`): the shared engine on onnxruntime-node, reading models from disk.
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { RecordBatch, Schema } from 'apache-arrow';
import { createEngine, type Engine, type EngineSettings } from './core/engine.js';
import { arrowFileSink, readBatches, type ArrowSinkOptions, type EmbeddingSink, type ReadOptions } from './sink/arrow-file.js';
import { searchFile, type SearchHit, type SearchOptions } from './sink/vector-search.js';
import { openNodeFile } from './sink/node-file.js';
import { embedStream, embedTo, type EmbedToOptions, type EmbedToResult, type StreamBatch, type StreamOptions } from './stream/embed-stream.js';
import { formatOf, parseTextRecords, type TextFormat } from './source/text-formats.js';
import type { EmbedRecord, RecordOptions, RecordSource } from './source/records.js';
import { inProcessParts, loadCheckingFp16, loadModel, type InferenceBackend } from './core/load.js';
import type { Embedder, EmbedderOptions } from './core/types.js';
import { readModelJson, resolveModelFiles, WEIGHTS_DTYPES, type FileAccess, type HubSettings, type ModelFiles } from './model/files.js';
import type { RetryNotice, RetryPolicy } from './model/fetch-retry.js';
import { createOrtSession, type OrtModule } from './run/session.js';
import { InvalidOptionError, MissingDependencyError } from './core/errors.js';
import { nonNegativeInteger, positiveInteger } from './core/validate.js';
import { parallelTokenize, type TokenizerThread } from './tokenize/parallel.js';
import { startNodeTokenizerThread } from './tokenize/node-threads.js';

export * from './core/types.js';
export * from './core/errors.js';
export { fnv1a32, parseShard, shardFileName, shardFromEnvironment, shardOf, shardRecords, type Shard } from './source/shard.js';
export { SchedulerShardError, shardFromScheduler, type SchedulerShard } from './source/scheduler.js';
export { DEFAULT_HUB, type ModelFiles, type HubSettings } from './model/files.js';
export type { RetryNotice, RetryPolicy } from './model/fetch-retry.js';
export type { ResiliencePolicy } from './core/lane-runner.js';
export type { InferenceBackend } from './core/load.js';
export type { EmbeddingSink, ReadOptions, ArrowSinkOptions } from './sink/arrow-file.js';
export type { SearchHit, SearchOptions } from './sink/vector-search.js';
export { PRECISIONS, type Precision, type QuantRanges } from './sink/precision.js';
export type { CommittedIds } from './sink/committed.js';
export type { StreamBatch, StreamOptions, EmbedToOptions, EmbedToResult } from './stream/embed-stream.js';
export type { EmbedRecord, RecordSource, RecordOptions, SourceItem, MetadataValue } from './source/records.js';
export { arrowFileSink } from './sink/arrow-file.js';
export { textHash, type FileDescription } from './sink/arrow-ipc.js';

/** The model used when none is named: resolved like any hub id (see `hub`). */
export const DEFAULT_MODEL = 'Xenova/all-MiniLM-L6-v2';

/** Node options: the shared ones, plus injectable parts. */
export interface NodeEmbedderOptions extends EmbedderOptions, EngineSettings {
  /** Extra onnxruntime-node session options (threads, optimisation level...). */
  sessionOptions?: Record<string, unknown>;
  /** Replaces model file resolution (e.g. an in-memory model). */
  files?: ModelFiles;
  /** Replaces the inference runtime. */
  backend?: InferenceBackend;
  /** How hub ids are resolved: transformers.js `env` fields (remoteHost, localModelPath...). */
  hub?: HubSettings;
  /** How failed model downloads are retried (network errors, 429, 5xx; never 404/403). */
  retry?: RetryPolicy;
  /** Told before each retry of a download. */
  onRetry?: (notice: RetryNotice) => void;
  /**
   * Threads that tokenize beside the main thread (worker_threads), so a fast device never waits on
   * one thread's tokenizer. Default: on WebGPU, the cores less one (at most 8); on the CPU, 0 (ONNX
   * Runtime already uses every core there). 0 tokenizes in the main thread.
   */
  tokenizerThreads?: number;
  /** Batches submitted to the device at once (default 2 on WebGPU, so the next is ready while one runs; 1 on the CPU). */
  batchesInFlight?: number;
}

let onnxRuntimeNode: Promise<OrtModule> | undefined;

/** Imports onnxruntime-node on first use: an optional peer dependency, needed only in Node. */
export function loadOnnxRuntimeNode(): Promise<OrtModule> {
  onnxRuntimeNode ??= import('onnxruntime-node').then(
    (m) => ((m as { InferenceSession?: unknown }).InferenceSession ? m : (m as { default: unknown }).default) as OrtModule,
    (cause) => {
      onnxRuntimeNode = undefined;
      const missing = (cause as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /onnxruntime-node/.test(String((cause as Error).message));
      if (missing) throw new MissingDependencyError('onnxruntime-node', 'bulk-embed/node (and the embed CLI)', { cause });
      throw cause;
    },
  );
  return onnxRuntimeNode;
}

/** Node file access: local folders through fs, URLs through fetch. */
export const nodeFileAccess: FileAccess = {
  async readLocal(path) {
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') return null;
      throw error;
    }
  },
  resolveLocal: (path) => resolve(path),
  async localFileExists(path) {
    try {
      return (await stat(path)).isFile();
    } catch {
      return false;
    }
  },
  async isLocalDirectory(path) {
    try {
      return (await stat(resolve(path))).isDirectory();
    } catch {
      return false;
    }
  },
};

/** onnxruntime-node as an inference backend: 'cpu', or 'webgpu' through Dawn. */
export function nodeBackend(sessionOptions: Record<string, unknown> = {}): InferenceBackend {
  return {
    async choose(options) {
      const reasons: string[] = [];
      const requested = options.device ?? 'auto';
      if (requested !== 'cpu' && requested !== 'webgpu' && requested !== 'auto') {
        throw new InvalidOptionError('device', `"${String(requested)}" is not 'cpu', 'webgpu' or 'auto'`);
      }
      const device = requested === 'webgpu' ? 'webgpu' : 'cpu';
      if (requested === 'auto') reasons.push('device auto in Node: cpu (onnxruntime-node WebGPU needs a Vulkan GPU; ask for it with device: "webgpu")');
      const dtypeRequested = options.dtype ?? 'auto';
      if (dtypeRequested !== 'auto' && !WEIGHTS_DTYPES.includes(dtypeRequested)) {
        throw new InvalidOptionError('dtype', `"${String(dtypeRequested)}" is not one of ${[...WEIGHTS_DTYPES, 'auto'].map((d) => `'${d}'`).join(', ')}`);
      }
      const dtype = dtypeRequested === 'auto' ? 'fp32' : dtypeRequested;
      if (dtypeRequested === 'auto') reasons.push(`dtype auto: fp32 (exact vectors; fp16 ${device === 'cpu' ? 'has no speed-up on CPU' : 'must be asked for in Node'})`);
      return { device, dtype, reasons };
    },
    async createSession(model, device, externalData) {
      return createOrtSession(await loadOnnxRuntimeNode(), model, {
        executionProviders: [device === 'webgpu' ? 'webgpu' : 'cpu'],
        graphOptimizationLevel: 'all',
        ...(externalData ? { externalData } : {}),
        ...sessionOptions,
      });
    },
  };
}

/** An embedder that also streams: sources of any size into batches, or into a sink. */
export interface NodeEmbedder extends Embedder {
  /** Embeds a source lazily; yields one batch per window, in source order. */
  embedStream(source: RecordSource | AsyncIterable<EmbedRecord> | string, options?: StreamOptions & ParsedOption): AsyncIterable<StreamBatch>;
  /** Drives a source (or a file path) into a sink (or an Arrow file path), committing window by window. */
  embedTo(source: RecordSource | AsyncIterable<EmbedRecord> | string, sink: EmbeddingSink | string, options?: EmbedToOptions & ParsedOption & { overwrite?: boolean }): Promise<EmbedToResult>;
}

/**
 * `parsed: true` says the source already yields EmbedRecord objects ({ id, text, metadata }). Not
 * needed for the library's own readers (readRecordFile, readBlobRecords, shardRecords), which are
 * recognised, nor for items shaped exactly { id, text, metadata: {...} }.
 */
export interface ParsedOption {
  parsed?: boolean;
}

/** Loads a model and returns an embedder running on onnxruntime-node. */
export async function createEmbedder(options: NodeEmbedderOptions = {}): Promise<NodeEmbedder> {
  // Local folders are recorded absolutely (resolveLocal), so a resumed file can tell it is the same model.
  const access = { ...nodeFileAccess, hub: options.hub, retry: options.retry, onRetry: options.onRetry };
  const files = options.files ?? (await resolveModelFiles(options.model ?? DEFAULT_MODEL, access));
  const backend = options.backend ?? nodeBackend(options.sessionOptions);
  // Checked before the model loads, so a bad value costs no load.
  if (options.tokenizerThreads !== undefined) nonNegativeInteger('tokenizerThreads', options.tokenizerThreads);
  if (options.batchesInFlight !== undefined) positiveInteger('batchesInFlight', options.batchesInFlight);
  const checked = await loadCheckingFp16(() => loadModel(options, { files, backend }), () => loadModel({ ...options, dtype: 'fp32' }, { files, backend }));
  const { info } = checked.model;
  const gpu = info.device === 'webgpu';
  const threadCount = options.tokenizerThreads ?? (gpu ? Math.min(8, Math.max(1, availableParallelism() - 1)) : 0);
  const inFlight = options.batchesInFlight ?? (gpu ? 2 : 1);
  const threads = threadCount > 0 ? await startTokenizerThreads(files, threadCount, info.reasons) : [];
  const inPlace = (texts: string[]) => checked.model.tokenizer.encode(texts, info.maxTokens, info.truncation);
  const parallel = parallelTokenize(threads, (texts) => inPlace(texts), (error, left) => info.reasons.push(`${error.message}; ${left ? `${left} tokenizer threads left` : 'tokenizing in the main thread'} from now on`));
  if (inFlight > 1) info.reasons.push(`${inFlight} batches in flight on ${info.device}: the next batch is prepared and queued while one runs`);
  const parts = inProcessParts(checked, {
    inFlight,
    ...(threads.length ? { tokenize: (texts: string[]) => parallel(texts, info.maxTokens, info.truncation) } : {}),
    release: async () => void (await Promise.all(threads.map((t) => t.terminate().catch(() => undefined)))),
  });
  return withStreaming(createEngine(parts, options));
}

/** Starts tokenizer threads for a model's tokenizer; says how many in `reasons`, or why none (then the main thread tokenizes). */
async function startTokenizerThreads(files: ModelFiles, count: number, reasons: string[]): Promise<TokenizerThread[]> {
  const [json, config] = await Promise.all([readModelJson(files, 'tokenizer.json'), readModelJson(files, 'tokenizer_config.json')]);
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startNodeTokenizerThread(json, config, files.location, `tokenizer ${i + 1}`)));
  const threads = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) reasons.push(`${count - threads.length} of ${count} tokenizer threads did not start (${(failed.reason as Error).message})`);
  if (threads.length) reasons.push(`tokenizing on ${threads.length} worker thread${threads.length > 1 ? 's' : ''} beside the main thread`);
  return threads;
}

function withStreaming(engine: Engine): NodeEmbedder {
  return {
    get info() { return engine.info; },
    get stats() { return engine.stats; },
    embed: (texts, call) => engine.embed(texts, call),
    dispose: () => engine.dispose(),
    embedStream(source, options = {}) {
      return typeof source === 'string'
        ? embedStream(engine, readRecordFile(source, options), { ...options, parsed: true, sourceName: options.sourceName ?? basename(source) })
        : embedStream(engine, source, options);
    },
    async embedTo(source, sink, options = {}) {
      const target = typeof sink === 'string' ? await arrowFile(sink, { resume: options.resume, overwrite: options.overwrite }) : sink;
      if (typeof source === 'string') {
        return embedTo(engine, readRecordFile(source, options), target, { ...options, parsed: true, sourceName: options.sourceName ?? basename(source) });
      }
      return embedTo(engine, source, target, options);
    },
  };
}

/** Reads records from a JSONL, CSV or text file (one text per line), lazily. */
export function readRecordFile(path: string, options: RecordOptions & { format?: TextFormat } = {}): AsyncIterable<EmbedRecord> {
  const chunks = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  return parseTextRecords(chunks, options.format ?? formatOf(path), { ...options, sourceName: options.sourceName ?? basename(path) });
}

/** An Arrow IPC file on disk as a sink (created if absent). */
export async function arrowFile(path: string, options: ArrowSinkOptions = {}): Promise<EmbeddingSink> {
  return arrowFileSink(await openNodeFile(path), options);
}

/** Yields the record batches of an embeddings file lazily (one in memory at a time). */
export async function* readEmbeddings(path: string, options: ReadOptions = {}): AsyncGenerator<RecordBatch & { schema: Schema }> {
  const file = await openNodeFile(path, true);
  try {
    for await (const { batch } of readBatches(file, options)) yield batch as RecordBatch & { schema: Schema };
  } finally {
    await file.close();
  }
}

/** Top k rows of an embeddings file by cosine with `query`, streaming the file. */
export async function searchEmbeddings(path: string, query: Float32Array, k = 10, options: SearchOptions = {}): Promise<SearchHit[]> {
  const file = await openNodeFile(path, true);
  try {
    return await searchFile(file, query, k, options);
  } finally {
    await file.close();
  }
}

/** Cores this process may use; the default ONNX Runtime thread count. */
export const defaultThreads = (): number => availableParallelism();
