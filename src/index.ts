// Browser entry (`bulk-embed`): the shared engine over a pool of dedicated module workers running
// onnxruntime-web on WebGPU (fp16 where it is safe) or WASM. Node users import `bulk-embed/node`.
import { addReason, createEngine, type Engine, type EngineSettings } from './core/engine.js';
import { readBatches, type EmbeddingSink, type ReadOptions } from './sink/arrow-file.js';
import { searchFile, type SearchHit, type SearchOptions } from './sink/vector-search.js';
import type { RandomAccessFile } from './sink/random-access.js';
import { formatOf, parseTextRecords, type TextFormat } from './source/text-formats.js';
import type { EmbedRecord, RecordOptions, RecordSource } from './source/records.js';
import { embedStream, embedTo, type EmbedToOptions, type EmbedToResult, type StreamBatch, type StreamOptions } from './stream/embed-stream.js';
import { openOpfsFile, searchOpfsFile, type OpfsWorkerFactory } from './browser/storage.js';
import { AbortError, InvalidOptionError } from './core/errors.js';
import { positiveInteger } from './core/validate.js';
import type { Dtype, Embedder, EmbedderInfo, EmbedderOptions, EmbedProgress } from './core/types.js';
import { planDevices, type BrowserCapabilities, type BrowserDeviceRequest } from './browser/plan.js';
import { DEFAULT_BATCH_TIMEOUT_MS, DEFAULT_LOAD_TIMEOUT_MS, defaultWorkerFactory, startMember, startTokenizerWorker, stopMembers, type PoolMember, type WorkerFactory } from './browser/pool.js';
import { parallelTokenize, type TokenizerThread } from './tokenize/parallel.js';
import { seatLane, seatTokenizer, type Seat, type SeatSettings } from './browser/seats.js';
import type { WorkerLoadProgress, WorkerLoadRequest } from './browser/protocol.js';
import { DTYPE_FILES, resolveModelFiles, type HubSettings } from './model/files.js';
import type { RetryPolicy } from './model/fetch-retry.js';

export * from './core/types.js';
export * from './core/errors.js';
export { fnv1a32, parseShard, shardFileName, shardFromEnvironment, shardOf, shardRecords, type Shard } from './source/shard.js';
export { SchedulerShardError, shardFromScheduler, type SchedulerShard } from './source/scheduler.js';
export { planDevices, type BrowserCapabilities, type BrowserDeviceRequest, type DevicePlan } from './browser/plan.js';
export { DEFAULT_HUB, type HubSettings } from './model/files.js';
export type { RetryNotice, RetryPolicy } from './model/fetch-retry.js';
export type { ResiliencePolicy } from './core/lane-runner.js';
export { defaultWorkerFactory, type WorkerFactory } from './browser/pool.js';
export { opfsArrowSink, indexedDbSink, readIndexedDb, openOpfsFile, closeOpfsWorker, withQuotaCheck, StorageQuotaError, type StoredEmbedding, type StorageEstimate } from './browser/storage.js';
export { arrowFileSink, type EmbeddingSink, type ReadOptions } from './sink/arrow-file.js';
export type { SearchHit, SearchOptions } from './sink/vector-search.js';
export { PRECISIONS, type Precision, type QuantRanges } from './sink/precision.js';
export type { CommittedIds } from './sink/committed.js';
export type { RandomAccessFile } from './sink/random-access.js';
export type { StreamBatch, StreamOptions, EmbedToOptions, EmbedToResult } from './stream/embed-stream.js';
export type { EmbedRecord, RecordSource, RecordOptions, SourceItem, MetadataValue } from './source/records.js';
export { textHash, type FileDescription } from './sink/arrow-ipc.js';

/** The model used when none is named: resolved like any hub id. */
export const DEFAULT_MODEL = 'Xenova/all-MiniLM-L6-v2';

/** Browser options: the shared ones, plus the pool, progress, cancellation and asset locations. */
export interface BrowserEmbedderOptions extends Omit<EmbedderOptions, 'device'>, EngineSettings {
  /** 'auto' (default), 'webgpu', 'wasm' ('cpu' is an alias), or several: ['webgpu', 'wasm']. */
  device?: BrowserDeviceRequest;
  /** WASM pool size (workers, or threads when cross-origin isolated); default one per free core. */
  workers?: number;
  /** Workers that only tokenize beside a lone GPU worker (default: the cores less one, at most 4; 0: the GPU worker tokenizes). */
  tokenizerWorkers?: number;
  /** Load and compile progress, then each embed's progress unless the call passes its own. */
  onProgress?: (progress: EmbedProgress) => void;
  /** Cancels loading. */
  signal?: AbortSignal;
  /** Absolute or page-relative URL of the folder serving onnxruntime-web's .wasm files (default "ort/"). */
  wasmPaths?: string;
  /** How hub ids are resolved: transformers.js `env` fields (remoteHost, localModelPath...). */
  hub?: HubSettings;
  /** Warm up GPU kernels for the batch shapes before the first embed (default: on a hardware GPU). */
  warmup?: boolean;
  /** Replaces how workers are created. */
  workerFactory?: WorkerFactory;
  /** A loading worker that reports no progress for this long is stopped with an error (default 60,000). */
  loadTimeoutMs?: number;
  /** A batch running longer than this counts its worker as hung: it is replaced and the batch runs again (default 300,000). */
  batchTimeoutMs?: number;
  /** How failed model downloads are retried (network errors, 429, 5xx; never 404/403); progress reports each retry. */
  retry?: RetryPolicy;
  /** Replaces capability detection (tests; forcing a path). */
  capabilities?: BrowserCapabilities;
}

/** Sources a browser can stream: the generic ones, or a File/Blob of JSONL, CSV or text lines. */
export type BrowserSource = RecordSource | AsyncIterable<EmbedRecord> | Blob;

/** An embedder whose info also lists its workers, and that streams into sinks. */
export interface BrowserEmbedder extends Embedder {
  readonly workers: readonly { name: string; device: 'webgpu' | 'wasm'; dtype: EmbedderInfo['dtype'] }[];
  /** Embeds a source lazily; yields one batch per window, in source order. */
  embedStream(source: BrowserSource, options?: StreamOptions & BlobOptions): AsyncIterable<StreamBatch>;
  /** Drives a source into a sink (opfsArrowSink, indexedDbSink...), committing window by window. */
  embedTo(source: BrowserSource, sink: EmbeddingSink, options?: EmbedToOptions & BlobOptions): Promise<EmbedToResult>;
}

/** How a File/Blob is parsed: by its name's extension unless `format` says. */
export interface BlobOptions extends RecordOptions {
  format?: TextFormat;
  parsed?: boolean;
}

/** Reads records from a File/Blob lazily (streamed, decoded as UTF-8). */
export function readBlobRecords(blob: Blob, options: BlobOptions = {}): AsyncIterable<EmbedRecord> {
  const name = (blob as File).name ?? 'blob';
  const text = blob.stream().pipeThrough(new TextDecoderStream());
  async function* chunks() {
    const reader = text.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  return parseTextRecords(chunks(), options.format ?? formatOf(name), { ...options, sourceName: options.sourceName ?? name });
}

function streamArgs(source: BrowserSource, options: BlobOptions): [RecordSource | AsyncIterable<EmbedRecord>, BlobOptions] {
  return typeof Blob !== 'undefined' && source instanceof Blob ? [readBlobRecords(source, options), { ...options, parsed: true }] : [source as RecordSource, options];
}

/** Yields the record batches of an Arrow embeddings file (an OPFS path or an open file), lazily. */
export async function* readEmbeddings(file: string | RandomAccessFile, options: ReadOptions = {}) {
  const handle = typeof file === 'string' ? await openOpfsFile(file, { create: false }) : file;
  try {
    for await (const { batch } of readBatches(handle, options)) yield batch;
  } finally {
    if (typeof file === 'string') await handle.close();
  }
}

/**
 * Top k rows of an Arrow embeddings file by cosine with `query`, reading its vector column only. An
 * OPFS path is searched inside the OPFS worker, off the page's thread.
 */
export async function searchEmbeddings(file: string | RandomAccessFile, query: Float32Array, k = 10, options: SearchOptions & { factory?: OpfsWorkerFactory } = {}): Promise<SearchHit[]> {
  if (typeof file !== 'string') return searchFile(file, query, k, options);
  return searchOpfsFile(file, query, k, options);
}

function streamingMethods(engine: Engine): Pick<BrowserEmbedder, 'embedStream' | 'embedTo'> {
  return {
    embedStream(source, options = {}) {
      const [records, opts] = streamArgs(source, options);
      return embedStream(engine, records, opts);
    },
    embedTo(source, sink, options = {}) {
      const [records, opts] = streamArgs(source, options);
      return embedTo(engine, records, sink, { ...options, ...opts });
    },
  };
}

/** Finds out what this browser offers: WebGPU adapter and features, isolation, cores. */
export async function detectCapabilities(): Promise<BrowserCapabilities> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<GPUAdapterLike | null> } }).gpu;
  let adapter: GPUAdapterLike | null = null;
  try {
    adapter = (await gpu?.requestAdapter()) ?? null;
  } catch {
    adapter = null;
  }
  const info = adapter?.info;
  return {
    webgpu: adapter !== null,
    shaderF16: adapter?.features.has('shader-f16') ?? false,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    cores: navigator.hardwareConcurrency || 1,
    adapter: info ? [info.vendor, info.architecture].filter(Boolean).join(' ') || undefined : undefined,
    softwareAdapter: Boolean(info?.isFallbackAdapter) || /swiftshader/i.test(`${info?.vendor} ${info?.architecture}`),
  };
}

interface GPUAdapterLike {
  features: ReadonlySet<string>;
  info?: { vendor?: string; architecture?: string; isFallbackAdapter?: boolean };
}

const isUrlLike = (model: string): boolean => /^(https?:)?\/\/|^\.{0,2}\//.test(model);

/** Loads a model in a pool of workers and returns an embedder. */
export async function createEmbedder(options: BrowserEmbedderOptions = {}): Promise<BrowserEmbedder> {
  const { onProgress, signal } = options;
  const caps = options.capabilities ?? (await detectCapabilities());
  const dtype: Dtype = options.dtype ?? 'auto';
  const model = options.model ?? DEFAULT_MODEL;
  const base = typeof document !== 'undefined' ? document.baseURI : location.href;
  const modelRef = isUrlLike(model) ? new URL(model, base).href.replace(/\/+$/, '') : model;
  if (options.tokenizerWorkers !== undefined && !(Number.isInteger(options.tokenizerWorkers) && options.tokenizerWorkers >= 0)) {
    throw new InvalidOptionError('tokenizerWorkers', `${String(options.tokenizerWorkers)} is not an integer >= 0`);
  }
  let plan = planDevices(options.device ?? 'auto', dtype, caps, options.workers);
  if (dtype === 'auto' && plan.wasmWorkers > 0) {
    // 'auto' on WASM takes the 8-bit weights when the model has them (one HEAD request to find out).
    const available = await resolveModelFiles(modelRef, { hub: options.hub, signal })
      .then(async (files) => ((await files.exists?.(DTYPE_FILES.q8)) ? ['q8' as const] : []), () => null);
    plan = planDevices(options.device ?? 'auto', dtype, caps, options.workers, available);
  }
  const shared = {
    model: modelRef,
    options: {
      pooling: options.pooling, includePrompt: options.includePrompt, normalize: options.normalize, dimensions: options.dimensions, maxBatchTokens: options.maxBatchTokens,
      maxTokens: options.maxTokens, truncation: options.truncation,
      fuseAttention: options.fuseAttention,
    },
    wasmPaths: new URL(options.wasmPaths ?? 'ort/', base).href.replace(/\/?$/, '/'),
    hub: options.hub,
    retry: options.retry,
  };
  const requests: [string, WorkerLoadRequest][] = [];
  const warmup = options.warmup ?? !caps.softwareAdapter;
  if (plan.gpu && options.warmup === undefined && caps.softwareAdapter) plan.reasons.push('warm-up skipped: software adapter (kernels compile on first use)');
  if (plan.gpu) {
    requests.push(['bulk-embed-gpu', {
      ...shared, device: 'webgpu', dtype: plan.gpu.dtype, tryFp16: plan.gpu.tryFp16, threads: 1,
      warmup, padMultiple: 16,
    }]);
  }
  for (let i = 0; i < plan.wasmWorkers; i++) {
    requests.push([`bulk-embed-wasm-${i}`, {
      ...shared, device: 'wasm', dtype: plan.wasmDtype, tryFp16: false, threads: plan.wasmThreads, warmup: false, padMultiple: 1,
    }]);
  }

  // Load progress: bytes summed over workers (each fetches the files; the HTTP cache serves repeats).
  const loadState = new Map<string, WorkerLoadProgress>();
  const reportLoad = (name: string, p: WorkerLoadProgress) => {
    loadState.set(name, p);
    let loadedBytes = 0, totalBytes = 0;
    for (const s of loadState.values()) { loadedBytes += s.loadedBytes; totalBytes += s.totalBytes; }
    onProgress?.({
      phase: p.phase, loadedBytes, totalBytes, done: 0, total: 0, tokens: 0, elapsedMs: 0, textsPerSec: 0, tokensPerSec: 0, etaMs: Infinity,
      ...(p.retry ? { retry: p.retry } : {}),
    });
  };
  const factory = options.workerFactory ?? defaultWorkerFactory;
  const loadTimeoutMs = positiveInteger('loadTimeoutMs', options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS);
  const settled = await Promise.allSettled(requests.map(([name, request]) => startMember(factory, name, request, reportLoad, loadTimeoutMs)));
  const members = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure || signal?.aborted) {
    await stopMembers(members);
    throw signal?.aborted ? new AbortError(signal.reason) : failure!.reason;
  }

  const first = members[0]!;
  const gpuMember = members.find((m) => m.device === 'webgpu');
  const info: EmbedderInfo = {
    ...first.info,
    device: gpuMember ? 'webgpu' : 'wasm',
    dtype: (gpuMember ?? first).info.dtype,
    reasons: [...plan.reasons, ...members.flatMap((m) => m.info.reasons)],
  };
  // Tokenizer workers beside a lone GPU worker, started once the model's cut (maxTokens) is known.
  const tokenizerCount = options.tokenizerWorkers ?? plan.tokenizerWorkers;
  const tokenizerRequest = { model: modelRef, hub: options.hub, retry: options.retry, maxTokens: first.info.maxTokens, truncation: first.info.truncation };
  const startedTokenizers = await Promise.allSettled(Array.from({ length: tokenizerCount }, (_, i) => startTokenizerWorker(factory, `bulk-embed-tokenizer-${i}`, tokenizerRequest, loadTimeoutMs)));
  const tokenizers: TokenizerThread[] = startedTokenizers.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const tokenizerFailure = startedTokenizers.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (tokenizerFailure) addReason(info, `${tokenizerCount - tokenizers.length} of ${tokenizerCount} tokenizer workers did not start (${(tokenizerFailure.reason as Error).message}); the model workers tokenize their share`);
  let closed = false;
  const seats: Seat[] = members.map((member) => ({ member, request: requests.find(([name]) => name === member.name)![1], deviceLosses: 0, respawning: null }));
  const settings: SeatSettings = {
    factory, loadTimeoutMs,
    batchTimeoutMs: positiveInteger('batchTimeoutMs', options.batchTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS),
    maxBufferBytes: caps.maxBufferBytes,
    fallback: { ...shared, device: 'wasm', dtype: plan.wasmDtype, tryFp16: false, threads: 1, warmup: false, padMultiple: 1 },
    maxDeviceLosses: 2,
    say: (line) => addReason(info, line),
    closed: () => closed,
  };
  const engine = createEngine({
    info,
    tokenize: tokenizers.length
      ? ((tokenize) => (texts: string[]) => tokenize(texts, info.maxTokens, info.truncation))(
        parallelTokenize(tokenizers, seatTokenizer(seats, settings), (error, left) => addReason(info, `${error.message}; ${left} tokenizer workers left`)))
      : seatTokenizer(seats, settings),
    lanes: seats.map((seat) => seatLane(seat, settings)),
    release: async () => {
      closed = true;
      await Promise.all(seats.map((s) => s.respawning?.catch(() => undefined)));
      await stopMembers(seats.map((s) => s.member));
      await Promise.all(tokenizers.map((t) => t.terminate()));
    },
    padMultiple: gpuMember && members.length === 1 ? 16 : 1,
    progressExtras: () => ({ memory: memoryReadout(seats.map((s) => s.member)) }),
  }, options);
  return {
    info,
    get stats() {
      return engine.stats;
    },
    embed: (texts, call = {}) => engine.embed(texts, { ...call, onProgress: call.onProgress ?? onProgress }),
    dispose: () => engine.dispose(),
    ...streamingMethods(engine),
    get workers() {
      return seats.map(({ member: m }: { member: PoolMember }) => ({ name: m.name, device: m.device, dtype: m.info.dtype }));
    },
  };
}

function memoryReadout(members: readonly PoolMember[]): EmbedProgress['memory'] {
  const heap = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
  const gpu = members.reduce((sum, m) => sum + m.gpuBytes, 0);
  return { ...(heap !== undefined ? { jsHeapBytes: heap } : {}), ...(members.some((m) => m.device === 'webgpu') ? { gpuBytes: gpu } : {}) };
}
