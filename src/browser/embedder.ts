// The browser's createEmbedder, as four steps: plan (devices, dtype, the worker requests), pool
// (start and load the workers; abortable), engine (seats, tokenizer workers, the shared engine),
// facade (the streaming embedder). The entry (index.ts) only re-exports it.
import { addReason, checkEngineSettings, createEngine, type Engine, type EngineSettings } from '../engine/engine.js';
import type { EmbeddingSink } from '../store/arrow-file.js';
import { formatOf, parseTextRecords, type TextFormat } from '../source/text-formats.js';
import type { EmbedRecord, RecordOptions } from '../source/records.js';
import { streamingEmbedder, type GenericSource, type StreamingEmbedder } from '../stream/embedder.js';
import { AbortError, WorkerUnavailableError } from '../base/errors.js';
import { nonNegativeInteger, positiveInteger, timerMs } from '../base/validate.js';
import { DEFAULT_MODEL, modelOptions } from '../base/options.js';
import type { Dtype, EmbedderInfo, EmbedderOptions, EmbedProgress } from '../base/types.js';
import { DTYPE_FILES, resolveModelFiles, type HubSettings } from '../model/files.js';
import type { RetryNotice, RetryPolicy } from '../model/fetch-retry.js';
import { parallelTokenize, SMALL_CALL_TEXTS, type TokenizerThread } from '../tokenize/parallel.js';
import { planDevices, type BrowserCapabilities, type BrowserDeviceRequest, type DevicePlan } from './plan.js';
import { DEFAULT_BATCH_TIMEOUT_MS, DEFAULT_LOAD_TIMEOUT_MS, defaultWorkerFactory, startMember, startTokenizerWorker, stopMembers, type PoolMember, type WorkerFactory } from './pool.js';
import { seatLane, seatTokenizer, type Seat, type SeatSettings } from './seats.js';
import type { WorkerLoadProgress, WorkerLoadRequest } from './protocol.js';

/** Browser options: the shared ones, plus the pool, progress, cancellation and asset locations. */
export interface BrowserEmbedderOptions extends Omit<EmbedderOptions, 'device'>, EngineSettings {
  /** 'auto' (default), 'webgpu', 'wasm' ('cpu' is an alias), or several: ['webgpu', 'wasm']. */
  device?: BrowserDeviceRequest;
  /** WASM pool size (workers, or threads when cross-origin isolated); default one per free core. */
  workers?: number;
  /**
   * Workers that only tokenize (default: the cores less one, at most 4, beside a lone GPU worker, none
   * beside WASM workers; 0: the GPU worker tokenizes). A count given is started in any layout.
   */
  tokenizerWorkers?: number;
  /** Batches sent to a worker at once (default 2 to the GPU worker, so the next is there when one ends; 1 to WASM workers). */
  batchesInFlight?: number;
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
  /** Told before each retry of a download, as in Node (load progress carries the same notice as `retry`). */
  onRetry?: (notice: RetryNotice) => void;
  /** Replaces capability detection (tests; forcing a path). */
  capabilities?: BrowserCapabilities;
}

/** Seams inside the library and its benchmarks, not options a user sets (so they are not in the public types). */
export interface BrowserSeams {
  /**
   * Inference made free (bench:pipeline:browser): every worker's session returns unit vectors at
   * once and no GPU device is touched, and the workers are laid out as for a hardware GPU (one GPU
   * worker, tokenizer workers beside it), so the browser loop's own ceiling, the layout a real GPU
   * gets, can be measured where there is no GPU (headless Chromium, SwiftShader or none).
   */
  freeInference?: boolean;
}

/** Sources a browser can stream: the generic ones, or a File/Blob of JSONL, CSV or text lines. */
export type BrowserSource = GenericSource | Blob;

/** An embedder whose info also lists its workers, and that streams into sinks (opfsArrowSink, indexedDbSink...). */
export interface BrowserEmbedder extends StreamingEmbedder<BrowserSource, EmbeddingSink, BlobOptions> {
  readonly workers: readonly { name: string; device: 'webgpu' | 'wasm'; dtype: EmbedderInfo['dtype'] }[];
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

const browserStreams = (onProgress?: (progress: EmbedProgress) => void) => ({
  records(source: BrowserSource, options: BlobOptions): [GenericSource, BlobOptions] {
    return typeof Blob !== 'undefined' && source instanceof Blob ? [readBlobRecords(source, options), { ...options, parsed: true }] : [source as GenericSource, options];
  },
  sink: async (sink: EmbeddingSink) => sink,
  onProgress,
});

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

/** What kind of global scope this is, for the message of WorkerUnavailableError. */
function describeContext(): string {
  const g = globalThis as { ServiceWorkerGlobalScope?: unknown; SharedWorkerGlobalScope?: unknown; document?: unknown; process?: unknown };
  if (g.ServiceWorkerGlobalScope) return 'a service worker';
  if (g.SharedWorkerGlobalScope) return 'a SharedWorker';
  if (g.process && !g.document) return "Node: import 'bulk-embed/node' there";
  return 'a global scope without Worker';
}

/**
 * What relative URLs (the model, `wasmPaths`) resolve against: the page's base URL, or in a worker
 * of the app's own the site's root, not the worker script's folder (a bundle puts that under
 * assets/, where onnxruntime-web's files are not).
 */
const baseUrl = (): string => (typeof document !== 'undefined' ? document.baseURI : new URL('/', location.href).href);

const isUrlLike = (model: string): boolean => /^(https?:)?\/\/|^\.{0,2}\//.test(model);

/** What loading needs to know before any worker starts. */
interface LoadPlan {
  plan: DevicePlan;
  /** The model as the workers fetch it: an absolute URL base, or a hub id. */
  model: string;
  requests: [string, WorkerLoadRequest][];
  /** The request a replacement WASM worker loads with. */
  fallback: WorkerLoadRequest;
  caps: BrowserCapabilities;
}

/** Step 1: devices and dtype from the browser's capabilities (and one HEAD request for q8 weights), then one load request per worker. */
async function planLoad(options: BrowserEmbedderOptions & BrowserSeams, caps: BrowserCapabilities): Promise<LoadPlan> {
  const dtype: Dtype = options.dtype ?? 'auto';
  const requested = options.model ?? DEFAULT_MODEL;
  const base = baseUrl();
  const model = isUrlLike(requested) ? new URL(requested, base).href.replace(/\/+$/, '') : requested;
  let plan = planDevices(options.device ?? 'auto', dtype, caps, options.workers, null, options.tokenizerWorkers);
  if (dtype === 'auto' && plan.wasmWorkers > 0) {
    // 'auto' on WASM takes the 8-bit weights when the model has them (one HEAD request to find out).
    const available = await resolveModelFiles(model, { hub: options.hub, signal: options.signal })
      .then(async (files) => ((await files.exists?.(DTYPE_FILES.q8)) ? ['q8' as const] : []), () => null);
    plan = planDevices(options.device ?? 'auto', dtype, caps, options.workers, available, options.tokenizerWorkers);
  }
  const shared = {
    model,
    options: modelOptions(options),
    wasmPaths: new URL(options.wasmPaths ?? 'ort/', base).href.replace(/\/?$/, '/'),
    hub: options.hub,
    retry: options.retry,
    ...(options.freeInference ? { freeInference: true } : {}),
  };
  const requests: [string, WorkerLoadRequest][] = [];
  const warmup = options.warmup ?? !caps.softwareAdapter;
  if (plan.gpu && options.warmup === undefined && caps.softwareAdapter) plan.reasons.push('warm-up skipped: software adapter (kernels compile on first use)');
  if (plan.gpu) requests.push(['bulk-embed-gpu', { ...shared, device: 'webgpu', dtype: plan.gpu.dtype, tryFp16: plan.gpu.tryFp16, threads: 1, warmup, padMultiple: 16 }]);
  const wasm = { ...shared, device: 'wasm' as const, dtype: plan.wasmDtype, tryFp16: false, warmup: false, padMultiple: 1 };
  for (let i = 0; i < plan.wasmWorkers; i++) requests.push([`bulk-embed-wasm-${i}`, { ...wasm, threads: plan.wasmThreads }]);
  return { plan, model, requests, fallback: { ...wasm, threads: 1 }, caps };
}

/**
 * Step 2: starts every worker and loads the model in each. Load progress is the least advanced
 * worker's, so the model's bytes count once (every worker fetches the same files; the HTTP cache
 * serves the repeats). An abort terminates the workers still loading and those loaded, and rejects
 * with AbortError.
 */
async function startPool(load: LoadPlan, factory: WorkerFactory, loadTimeoutMs: number, options: BrowserEmbedderOptions): Promise<PoolMember[]> {
  const { onProgress, onRetry, signal } = options;
  const loadState = new Map<string, WorkerLoadProgress>();
  const reportLoad = (name: string, p: WorkerLoadProgress) => {
    loadState.set(name, p);
    if (p.retry) onRetry?.(p.retry);
    const fraction = (s: WorkerLoadProgress) => (s.phase === 'compile' ? 1 : 0) + (s.totalBytes > 0 ? s.loadedBytes / s.totalBytes : 0);
    const slowest = [...loadState.values()].reduce((a, b) => (fraction(b) < fraction(a) ? b : a));
    onProgress?.({
      phase: slowest.phase, loadedBytes: slowest.loadedBytes, totalBytes: slowest.totalBytes,
      done: 0, total: 0, tokens: 0, elapsedMs: 0, textsPerSec: 0, tokensPerSec: 0, etaMs: Infinity,
      ...(p.retry ? { retry: p.retry } : {}),
    });
  };
  const settled = await Promise.allSettled(load.requests.map(([name, request]) => startMember(factory, name, request, reportLoad, loadTimeoutMs, signal)));
  const members = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure || signal?.aborted) {
    await stopMembers(members);
    throw signal?.aborted ? new AbortError(signal.reason) : failure!.reason;
  }
  return members;
}

/** Step 3: the members' merged info, tokenizer workers beside a lone GPU worker, seats that refill, and the engine over them. */
async function startEngine(
  options: BrowserEmbedderOptions, load: LoadPlan, members: PoolMember[], factory: WorkerFactory, loadTimeoutMs: number, batchTimeoutMs: number,
): Promise<{ engine: Engine; seats: Seat[] }> {
  const first = members[0]!;
  const gpuMember = members.find((m) => m.device === 'webgpu');
  const info: EmbedderInfo = {
    ...first.info,
    device: gpuMember ? 'webgpu' : 'wasm',
    dtype: (gpuMember ?? first).info.dtype,
    reasons: [...load.plan.reasons, ...members.flatMap((m) => m.info.reasons)],
  };
  // Started once the model's cut (maxTokens) is known.
  const tokenizerCount = load.plan.tokenizerWorkers;
  const tokenizerRequest = { model: load.model, hub: options.hub, retry: options.retry, maxTokens: first.info.maxTokens, truncation: first.info.truncation };
  const startedTokenizers = await Promise.allSettled(Array.from({ length: tokenizerCount }, (_, i) =>
    startTokenizerWorker(factory, `bulk-embed-tokenizer-${i}`, tokenizerRequest, loadTimeoutMs, options.signal, batchTimeoutMs)));
  const tokenizers: TokenizerThread[] = startedTokenizers.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (options.signal?.aborted) {
    await Promise.all([stopMembers(members), ...tokenizers.map((t) => t.terminate())]);
    throw new AbortError(options.signal.reason);
  }
  const tokenizerFailure = startedTokenizers.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (tokenizerFailure) addReason(info, `${tokenizerCount - tokenizers.length} of ${tokenizerCount} tokenizer workers did not start (${(tokenizerFailure.reason as Error).message}); the model workers tokenize their share`);
  let closed = false;
  const seats: Seat[] = members.map((member) => ({
    member, request: load.requests.find(([name]) => name === member.name)![1], deviceLosses: 0, respawning: null, unclaimedRebuild: false,
  }));
  const settings: SeatSettings = {
    factory, loadTimeoutMs,
    batchTimeoutMs,
    maxBufferBytes: load.caps.maxBufferBytes,
    fallback: load.fallback,
    maxDeviceLosses: 2,
    say: (line) => addReason(info, line),
    closed: () => closed,
  };
  const inFlight = (seat: Seat) => options.batchesInFlight ?? (seat.request.device === 'webgpu' ? 2 : 1);
  const gpuSeat = seats.find((s) => s.request.device === 'webgpu');
  if (gpuSeat && inFlight(gpuSeat) > 1) addReason(info, `${inFlight(gpuSeat)} batches in flight to ${gpuSeat.member.name}: the next batch is prepared and waits in the worker while one runs`);
  const parallel = tokenizers.length
    // A query is tokenized by the model worker between its batches, not behind the tokenizer workers' windows.
    ? parallelTokenize(tokenizers, seatTokenizer(seats, settings), (error, left) => addReason(info, `${error.message}; ${left} tokenizer workers left`), SMALL_CALL_TEXTS)
    : null;
  const engine = createEngine({
    info,
    tokenize: parallel ? (texts: string[]) => parallel(texts, info.maxTokens, info.truncation) : seatTokenizer(seats, settings),
    // At once where tokenizer workers take it, or where the GPU worker does (it tokenizes in slices
    // between its batches: tokenize/sliced.ts); a WASM worker tokenizes in one go, a tick later,
    // so its lanes start on this window first.
    tokenizeNextAtOnce: () => (parallel?.threadsLeft() ?? 0) > 0 || !seats.some((s) => s.member.device === 'wasm'),
    softwareAdapter: Boolean(gpuMember && load.caps.softwareAdapter),
    // A seat with n batches in flight is n lanes over one worker, which runs them in turn.
    lanes: seats.flatMap((seat) => Array.from({ length: inFlight(seat) }, () => seatLane(seat, settings))),
    release: async () => {
      closed = true;
      await Promise.all(seats.map((s) => s.respawning?.catch(() => undefined)));
      await stopMembers(seats.map((s) => s.member));
      await Promise.all(tokenizers.map((t) => t.terminate()));
    },
    padMultiple: gpuMember && members.length === 1 ? 16 : 1,
    progressExtras: () => ({ memory: memoryReadout(seats.map((s) => s.member)) }),
  }, options);
  return { engine, seats };
}

/** Loads a model in a pool of workers and returns an embedder; `signal` aborts loading (workers terminated, AbortError). */
export async function createBrowserEmbedder(options: BrowserEmbedderOptions & BrowserSeams = {}): Promise<BrowserEmbedder> {
  if (options.tokenizerWorkers !== undefined) nonNegativeInteger('tokenizerWorkers', options.tokenizerWorkers);
  const loadTimeoutMs = timerMs('loadTimeoutMs', options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS);
  // Checked before any worker starts: a bad value found after the load left the loaded workers running.
  const batchTimeoutMs = timerMs('batchTimeoutMs', options.batchTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS);
  if (options.batchesInFlight !== undefined) positiveInteger('batchesInFlight', options.batchesInFlight);
  checkEngineSettings(options);
  if (options.signal?.aborted) throw new AbortError(options.signal.reason);
  if (typeof Worker === 'undefined' && !options.workerFactory) throw new WorkerUnavailableError(describeContext());
  let caps = options.capabilities ?? (await detectCapabilities());
  // Free inference is measured in the layout a hardware GPU gets (no fp16: fp32 weights are the ones every model has).
  if (options.freeInference) caps = { ...caps, webgpu: true, shaderF16: false, softwareAdapter: false, adapter: 'none (inference made free)' };
  const load = await planLoad(options, caps);
  const factory = options.workerFactory ?? defaultWorkerFactory;
  const members = await startPool(load, factory, loadTimeoutMs, options);
  const { engine, seats } = await startEngine(options, load, members, factory, loadTimeoutMs, batchTimeoutMs);
  // Step 4: the facade, with the live list of workers (a seat's worker changes when it is replaced).
  return Object.defineProperty(streamingEmbedder(engine, browserStreams(options.onProgress)), 'workers', {
    get: () => seats.map(({ member: m }) => ({ name: m.name, device: m.device, dtype: m.info.dtype })),
    enumerable: true,
  }) as BrowserEmbedder;
}

function memoryReadout(members: readonly PoolMember[]): EmbedProgress['memory'] {
  const heap = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
  const gpu = members.reduce((sum, m) => sum + m.gpuBytes, 0);
  return { ...(heap !== undefined ? { jsHeapBytes: heap } : {}), ...(members.some((m) => m.device === 'webgpu') ? { gpuBytes: gpu } : {}) };
}
