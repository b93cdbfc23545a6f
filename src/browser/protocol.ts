// The messages between the coordinator (main thread) and its workers, carried by Comlink.
import type { ModelShape } from '../engine/load.js';
import type { EmbedderInfo, Truncation, WeightsDtype } from '../base/types.js';
import type { ModelOptions } from '../base/options.js';
import type { HubSettings } from '../model/files.js';
import type { FlatRows } from '../tokenize/tokenizer.js';
import type { RetryNotice, RetryPolicy } from '../model/fetch-retry.js';
import { installErrorTransfer } from './error-transfer.js';

// Both the coordinator and the model workers import this module: errors keep their class across.
installErrorTransfer();

export interface WorkerLoadRequest {
  /** Absolute URL base, or a hub id. */
  model: string;
  options: ModelOptions;
  device: 'webgpu' | 'wasm';
  dtype: WeightsDtype;
  /** Load fp16 and fp32, keep fp16 only if a probe batch agrees. */
  tryFp16: boolean;
  threads: number;
  /** Absolute URL of the folder serving onnxruntime-web's .wasm/.mjs files. */
  wasmPaths: string;
  hub?: HubSettings;
  retry?: RetryPolicy;
  /** Run each batch shape once before use (GPU shader compilation). */
  warmup: boolean;
  padMultiple: number;
  /** A Web Lock the worker holds for its whole life: its release tells the coordinator the worker ended. */
  aliveLock?: string;
  /** Sessions cost nothing and the GPU device is never touched (BrowserSeams.freeInference; bench:pipeline:browser). */
  freeInference?: boolean;
}

export interface WorkerLoadProgress {
  phase: 'load' | 'compile';
  loadedBytes: number;
  totalBytes: number;
  /** Set when a download is about to be tried again. */
  retry?: RetryNotice;
}

export interface WorkerLoadResult {
  info: EmbedderInfo;
  shape: ModelShape | null;
  /** The GPU device's largest buffer binding (WebGPU workers). */
  maxBufferBytes: number | null;
  /** The worker holds the request's aliveLock (false without Web Locks, or where they refuse it). */
  aliveLockHeld: boolean;
}

/** What a tokenizer-only worker needs: the model's files (tokenizer.json, tokenizer_config.json) and the cut. */
export interface TokenizerLoadRequest {
  model: string;
  hub?: HubSettings;
  retry?: RetryPolicy;
  maxTokens: number;
  truncation: Truncation;
  /** As WorkerLoadRequest's: a lock held for life, whose release says the worker ended. */
  aliveLock?: string;
}

export interface WorkerApi {
  load(request: WorkerLoadRequest, onProgress?: (p: WorkerLoadProgress) => void): Promise<WorkerLoadResult>;
  /** Loads only the tokenizer (no session, no onnxruntime files): the worker then only tokenizes. */
  loadTokenizer(request: TokenizerLoadRequest): Promise<{ aliveLockHeld: boolean }>;
  /**
   * Tokenizes texts. A GPU worker tokenizes in slices, serving its batches between them; `inOneGo`
   * tokenizes in one call instead (bench:pipeline:browser's baseline: this worker's tokenizer alone).
   */
  tokenize(texts: string[], inOneGo?: boolean): Promise<FlatRows & { truncated: number }>;
  /** Runs a batch; `exact` runs it on the fp32 model (loaded on first need) when the worker runs fp16. */
  run(rows: FlatRows, seq: number, exact?: boolean, maskPrefix?: number): Promise<{ vectors: Float32Array; gpuBytes: number }>;
  gpuBytes(): number;
  dispose(): Promise<void>;
}
