// Node entry (`bulk-embed/node`): the shared engine on onnxruntime-node, reading models from disk.
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { createReadStream } from 'node:fs';
import { checkEngineSettings, createEngine, type EngineSettings } from './engine/engine.js';
import { arrowFileSink, type ArrowSinkOptions, type EmbeddingSink, type ReadOptions } from './store/arrow-file.js';
import type { SearchHit, SearchOptions } from './search/vector-search.js';
import { openNodeFile } from './node/node-file.js';
import { withFile, type RandomAccessFile } from './format/random-access.js';
import type { EmbedToOptions } from './stream/embed-stream.js';
import { streamingEmbedder, type GenericSource, type ParsedOption, type StreamingEmbedder } from './stream/embedder.js';
import { formatOf, parseTextRecords, type TextFormat } from './source/text-formats.js';
import type { EmbedRecord, RecordOptions } from './source/records.js';
import { inProcessParts, loadCheckingFp16, loadModel, type InferenceBackend } from './engine/load.js';
import type { EmbedderOptions } from './base/types.js';
import { DEFAULT_MODEL } from './base/options.js';
import { readModelJson, resolveModelFiles, sharingReads, WEIGHTS_DTYPES, type FileAccess, type HubSettings, type ModelFiles } from './model/files.js';
import type { RetryNotice, RetryPolicy } from './model/fetch-retry.js';
import { createOrtSession, type OrtModule } from './run/session.js';
import { InvalidOptionError, MissingDependencyError } from './base/errors.js';
import { nonNegativeInteger, positiveInteger } from './base/validate.js';
import { parallelTokenize, SMALL_CALL_TEXTS, type TokenizerThread } from './tokenize/parallel.js';
import { startNodeTokenizerThread } from './node/tokenizer-threads.js';
import { readEmbeddingBatches, type EmbeddingBatch } from './store/arrow-file.js';
import { searchFile } from './search/vector-search.js';

export * from './api.js';
export { openNodeFile } from './node/node-file.js';

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
   * one thread's tokenizer. Default: on WebGPU, the cores less one (at most 8); on the CPU, 1 where
   * there are two cores or more (ONNX Runtime's threads run while the main thread would otherwise
   * tokenize; bench:stream and bench measured it faster on 2 cores). 0 tokenizes in the main thread.
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
      // A view on readFile's own buffer, not a copy: a model's weights are hundreds of MB, and each
      // copy stays in the process until V8's next major collection.
      const bytes = await readFile(path);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') return null;
      throw error;
    }
  },
  resolveLocal: (path) => resolve(path),
  // Inside the working directory a folder is recorded relative to it (a project moved or checked
  // out elsewhere records the same name); outside it, absolutely.
  recordLocal: (path) => {
    const inside = relative(process.cwd(), path);
    return inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside.split(sep).join('/') : path;
  },
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

/** How the Node engine shares the CPU with ONNX Runtime. */
export interface NodeBackendSettings {
  /**
   * Threads beside ONNX Runtime's on the CPU (tokenizer threads): its idle threads then block
   * instead of spinning, which on a machine with as many ORT threads as cores starves them
   * (measured on 2 cores: fixture-tiny 25 % faster, fixture-minilm unchanged). Default false.
   */
  sharesCpu?: boolean;
}

/** onnxruntime-node as an inference backend: 'cpu', or 'webgpu' through Dawn. */
export function nodeBackend(sessionOptions: Record<string, unknown> = {}, settings: NodeBackendSettings = {}): InferenceBackend {
  return {
    async choose(options) {
      const reasons: string[] = [];
      const requested = options.device ?? 'auto';
      if (requested !== 'cpu' && requested !== 'webgpu' && requested !== 'auto') {
        throw new InvalidOptionError('device', `"${String(requested)}" is not 'cpu', 'webgpu' or 'auto'`);
      }
      const device = requested === 'webgpu' ? 'webgpu' : 'cpu';
      if (requested === 'auto') reasons.push('device auto in Node: cpu (onnxruntime-node WebGPU needs a Vulkan GPU; ask for it with device: "webgpu")');
      if (settings.sharesCpu && device === 'cpu') reasons.push("ONNX Runtime's idle threads block rather than spin, leaving the cores to the tokenizer threads between its operators");
      const dtypeRequested = options.dtype ?? 'auto';
      if (dtypeRequested !== 'auto' && !WEIGHTS_DTYPES.includes(dtypeRequested)) {
        throw new InvalidOptionError('dtype', `"${String(dtypeRequested)}" is not one of ${[...WEIGHTS_DTYPES, 'auto'].map((d) => `'${d}'`).join(', ')}`);
      }
      const dtype = dtypeRequested === 'auto' ? 'fp32' : dtypeRequested;
      if (dtypeRequested === 'auto') reasons.push(`dtype auto: fp32 (exact vectors; fp16 ${device === 'cpu' ? 'has no speed-up on CPU' : 'must be asked for in Node'})`);
      return { device, dtype, reasons };
    },
    async createSession(model, device, externalData) {
      const quiet = settings.sharesCpu && device === 'cpu' ? { session: { intra_op: { allow_spinning: '0' } } } : {};
      return createOrtSession(await loadOnnxRuntimeNode(), model, {
        executionProviders: [device === 'webgpu' ? 'webgpu' : 'cpu'],
        graphOptimizationLevel: 'all',
        ...(externalData ? { externalData } : {}),
        ...sessionOptions,
        // The caller's own config entries win over ours, key by key.
        extra: mergeDeep(quiet, (sessionOptions.extra ?? {}) as Record<string, unknown>),
      });
    },
  };
}

/** Node's sources: records, or the path of a JSONL, CSV or text file. */
export type NodeSource = GenericSource | string;
/** Node's sinks: a sink, or the path of an Arrow file (created, resumed or overwritten as the options say). */
export type NodeSink = EmbeddingSink | string;
/** How a path source is parsed and a path sink opened. */
export interface NodePathOptions {
  /** The format of a path source (default: by its extension). */
  format?: TextFormat;
  /** Replace an existing Arrow file given as a path instead of refusing (default false). */
  overwrite?: boolean;
}

/** An embedder that also streams: sources of any size into batches, or into a sink. */
export type NodeEmbedder = StreamingEmbedder<NodeSource, NodeSink, NodePathOptions>;

/** Loads a model and returns an embedder running on onnxruntime-node. */
export async function createEmbedder(options: NodeEmbedderOptions = {}): Promise<NodeEmbedder> {
  // Local folders are read absolutely (resolveLocal) and recorded relative to the working directory (recordLocal).
  const access = { ...nodeFileAccess, hub: options.hub, retry: options.retry, onRetry: options.onRetry };
  const files = options.files ?? (await resolveModelFiles(options.model ?? DEFAULT_MODEL, access));
  // Checked before the model loads, so a bad value costs no load.
  if (options.tokenizerThreads !== undefined) nonNegativeInteger('tokenizerThreads', options.tokenizerThreads);
  const cpuThreads = options.tokenizerThreads ?? (availableParallelism() > 1 ? 1 : 0);
  const backend = options.backend ?? nodeBackend(options.sessionOptions, { sharesCpu: cpuThreads > 0 });
  if (options.batchesInFlight !== undefined) positiveInteger('batchesInFlight', options.batchesInFlight);
  checkEngineSettings(options);
  // Where the device is surely the CPU, the threads start while the model loads, so parsing their
  // tokenizers overlaps the session's creation: once config.json is read (a missing model is
  // reported by it, with no other request), sharing the load's one read of each file.
  const threadReasons: string[] = [];
  const { files: shared, forget } = sharingReads(files, ['config.json', 'tokenizer.json', 'tokenizer_config.json']);
  const early = !options.backend && options.device !== 'webgpu' && cpuThreads > 0
    ? shared.read('config.json').then(() => startTokenizerThreads(shared, cpuThreads, threadReasons))
    : null;
  early?.catch(() => undefined); // awaited below, or its threads stopped if the load fails
  let checked: Awaited<ReturnType<typeof loadCheckingFp16>>;
  try {
    checked = await loadCheckingFp16(() => loadModel(options, { files: shared, backend }), () => loadModel({ ...options, dtype: 'fp32' }, { files: shared, backend }));
  } catch (error) {
    forget();
    await early?.then((started) => Promise.all(started.map((t) => t.terminate().catch(() => undefined))), () => undefined);
    throw error;
  }
  const { info } = checked.model;
  const gpu = info.device === 'webgpu';
  const threadCount = options.tokenizerThreads ?? (gpu ? Math.min(8, Math.max(1, availableParallelism() - 1)) : cpuThreads);
  const inFlight = options.batchesInFlight ?? (gpu ? 2 : 1);
  const threads = early ? await early : threadCount > 0 ? await startTokenizerThreads(shared, threadCount, threadReasons) : [];
  forget();
  info.reasons.push(...threadReasons);
  const inPlace = (texts: string[]) => checked.model.tokenizer.encode(texts, info.maxTokens, info.truncation);
  const parallel = parallelTokenize(threads, (texts) => inPlace(texts), (error, left) => info.reasons.push(`${error.message}; ${left ? `${left} tokenizer threads left` : 'tokenizing in the main thread'} from now on`), SMALL_CALL_TEXTS);
  if (inFlight > 1) info.reasons.push(`${inFlight} batches in flight on ${info.device}: the next batch is prepared and queued while one runs`);
  const parts = inProcessParts(checked, {
    inFlight,
    ...(threads.length ? { tokenize: (texts: string[]) => parallel(texts, info.maxTokens, info.truncation) } : {}),
    // Only for a GPU's fast runs: on a CPU the next window's tokenizing would take cores from the
    // first batch (the first vector came 50-100 ms later), and a tick later is soon enough there.
    ...(threads.length && gpu ? { tokenizeNextAtOnce: () => parallel.threadsLeft() > 0 } : {}),
    release: async () => void (await Promise.all(threads.map((t) => t.terminate().catch(() => undefined)))),
  });
  return streamingEmbedder(createEngine(parts, options), nodeStreams);
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

const nodeStreams = {
  records(source: NodeSource, options: RecordOptions & ParsedOption & NodePathOptions): [GenericSource, ParsedOption & RecordOptions] {
    if (typeof source !== 'string') return [source, options];
    return [readRecordFile(source, options), { ...options, parsed: true, sourceName: options.sourceName ?? basename(source) }];
  },
  async sink(sink: NodeSink, options: EmbedToOptions & NodePathOptions): Promise<EmbeddingSink> {
    return typeof sink === 'string' ? arrowFile(sink, { resume: options.resume, overwrite: options.overwrite }) : sink;
  },
};

/** Reads records from a JSONL, CSV or text file (one text per line), lazily. */
export function readRecordFile(path: string, options: RecordOptions & { format?: TextFormat } = {}): AsyncIterable<EmbedRecord> {
  const chunks = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  return parseTextRecords(chunks, options.format ?? formatOf(path), { ...options, sourceName: options.sourceName ?? basename(path) });
}

/** An Arrow IPC file on disk as a sink (created if absent). */
export async function arrowFile(path: string, options: ArrowSinkOptions = {}): Promise<EmbeddingSink> {
  return arrowFileSink(await openNodeFile(path), options);
}

/** Yields the record batches of an embeddings file (a path, or a file opened by the caller) lazily, one in memory at a time. */
export function readEmbeddings(file: string | RandomAccessFile, options: ReadOptions = {}): AsyncGenerator<EmbeddingBatch> {
  return readEmbeddingBatches(file, (path) => openNodeFile(path, true), options);
}

/** Top k rows of an embeddings file (a path, or a file opened by the caller) by cosine with `query`, streaming the file. */
export function searchEmbeddings(file: string | RandomAccessFile, query: Float32Array, k = 10, options: SearchOptions = {}): Promise<SearchHit[]> {
  return withFile(file, (path) => openNodeFile(path, true), (handle) => searchFile(handle, query, k, options));
}

/** Cores this process may use; the default ONNX Runtime thread count. */
export const defaultThreads = (): number => availableParallelism();

/** `over`'s keys on `base`, nested objects merged rather than replaced. */
function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const under = out[key];
    out[key] = isPlainObject(under) && isPlainObject(value) ? mergeDeep(under, value) : value;
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
