// The public shapes of the embedding API, shared by every runtime.

/** Where the model comes from: a local folder, a URL base in hub layout, or a hub id. */
export type ModelLocation = string;
/** 'auto' picks the fastest device that runs the model correctly. */
export type Device = 'cpu' | 'webgpu' | 'auto';
/** A weights file of the hub layout, named as transformers.js names them (q8 is model_quantized.onnx). */
export type WeightsDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';
/** Which weights file of the hub layout to load; 'auto' picks by device. */
export type Dtype = WeightsDtype | 'auto';
/** How token vectors become one vector: as sentence-transformers' Pooling module names its modes. */
export type TokenPooling = 'mean' | 'cls' | 'max' | 'lasttoken';
/** A token pooling, or 'model': the model's own pooled `sentence_embedding` output (EmbeddingGemma's exports have one). */
export type Pooling = TokenPooling | 'model';

/**
 * How an over-long text is cut. 'cut' keeps the first maxTokens ids, so a trailing [SEP] is lost:
 * what transformers.js does, and the default so that vectors match it. 'keep-special-tokens'
 * cuts the text between the special tokens, as Hugging Face tokenizers in Python do.
 */
export type Truncation = 'cut' | 'keep-special-tokens';
/** 'high' batches run before the waiting batches of 'normal' calls (a query during a bulk run). */
export type Priority = 'high' | 'normal';

/** Options of createEmbedder; every field has a default. */
export interface EmbedderOptions {
  /** Local folder, URL base, or hub id (resolved with transformers.js `env`). */
  model?: ModelLocation;
  device?: Device;
  dtype?: Dtype;
  /** Default: 'model' when the graph outputs sentence_embedding, else what 1_Pooling/config.json declares, else 'mean'. */
  pooling?: Pooling;
  /** L2-normalise each vector (default: whether modules.json has a Normalize module, else true). */
  normalize?: boolean;
  /** Matryoshka: keep the first `dimensions` components, then renormalise (default: all). */
  dimensions?: number;
  /** Pool the prompt's tokens too (default: the Pooling config's include_prompt, else true). */
  includePrompt?: boolean;
  /** Padded-token budget of one batch: n texts padded to length L cost n x L. */
  maxBatchTokens?: number;
  /** Truncation length in tokens, special tokens included (default: the model's maximum). */
  maxTokens?: number;
  /** How over-long texts are cut (default 'cut', as transformers.js; see Truncation). */
  truncation?: Truncation;
  /** How many texts are tokenized and length-sorted together (default 4096). */
  lookahead?: number;
  /**
   * Rewrite BERT-style self-attention to com.microsoft.MultiHeadAttention at load (default false:
   * onnxruntime-node's WebGPU kernel gave wrong values from 32 tokens on lavapipe, and neither the
   * CPU nor lavapipe ran consistently faster). Only fully matched layers change; the rest runs as exported. info.reasons says
   * whether and how many layers were fused.
   */
  fuseAttention?: boolean;
}

/** Row-major vectors: row i is the vector of input i. */
export interface Embeddings {
  count: number;
  dim: number;
  data: Float32Array;
}

/** What an embedder loaded and chose. */
export interface EmbedderInfo {
  /** The model as files written with it record it: a hub id, a folder relative to the working directory, a URL (see ModelFiles.recordedAs). */
  model: string;
  /** Where its files were read from (an absolute folder, a URL, a hub id). */
  modelLocation?: string;
  /** Identifies the weights wherever they are read from (see modelFingerprint): resume and collections compare models by it. */
  modelFingerprint?: string;
  /** config.json's model_type (e.g. 'bert', 'xlm-roberta', 'qwen3'); '' when it declares none. */
  modelType: string;
  device: 'cpu' | 'webgpu' | 'wasm';
  dtype: WeightsDtype;
  dim: number;
  maxTokens: number;
  truncation: Truncation;
  pooling: Pooling;
  /** False: a prompt's tokens are seen by attention but left out of the pooling. */
  includePrompt: boolean;
  normalize: boolean;
  /** The model's own vector length; `dim` is smaller when `dimensions` truncates. */
  modelDim: number;
  /** Prompts the model declares by name (config_sentence_transformers.json). */
  prompts: Record<string, string>;
  /** The prompt applied when a call names none (null: none). */
  defaultPromptName: string | null;
  /** Where each setting came from: 'option', the model file that declared it, or 'default'. */
  settingSources: { pooling: string; includePrompt: string; normalize: string; prompts: string; dimensions: string };
  maxBatchTokens: number;
  /** Why the device and dtype were chosen (e.g. "fp16 refused: ..."). */
  reasons: string[];
}

/** Cumulative work counters of an embedder. */
export interface EmbedderStats {
  texts: number;
  /** Real (unpadded) tokens run through the model. */
  tokens: number;
  paddingTokens: number;
  truncatedTexts: number;
  batches: number;
  /** Batches run again after their lane failed. */
  retriedBatches: number;
  /** Lanes rebuilt after a fault (a new worker, a new GPU device). */
  recoveredLanes: number;
  /** Lanes given up after repeated faults. */
  lostLanes: number;
  /** Batches split because they did not fit a lane's memory. */
  splitBatches: number;
  /** Batches run again in fp32 because reduced precision gave a bad vector. */
  exactReruns: number;
}

/** One progress report: loading the model, compiling/warming up, or embedding. */
export interface EmbedProgress {
  phase: 'load' | 'compile' | 'embed';
  /** Model bytes loaded so far and in all (load phase; browser). */
  loadedBytes?: number;
  totalBytes?: number;
  /** Set on a load report when a model download is about to be tried again. */
  retry?: { url: string; attempt: number; delayMs: number; reason: string };
  /** What the page can know of memory: JS heap where measurable, GPU bytes the library allocated. */
  memory?: { jsHeapBytes?: number; gpuBytes?: number; rssBytes?: number };
  done: number;
  total: number;
  tokens: number;
  elapsedMs: number;
  textsPerSec: number;
  tokensPerSec: number;
  etaMs: number;
}

/** Options of one embed call. */
export interface EmbedCallOptions {
  onProgress?: (progress: EmbedProgress) => void;
  signal?: AbortSignal;
  /**
   * 'high': the call starts at once and its batches run before the remaining batches of
   * 'normal' calls (a search query during a bulk run). Default 'normal': calls run in order.
   */
  priority?: Priority;
  /** Text put before every text, counted against maxTokens (e.g. 'query: '); overrides promptName. */
  prompt?: string;
  /** One of info.prompts by name (e.g. 'query'); default info.defaultPromptName. */
  promptName?: string;
}

/** A loaded model ready to embed texts. */
export interface Embedder {
  readonly info: EmbedderInfo;
  readonly stats: Readonly<EmbedderStats>;
  /** Embeds texts; rows come back in input order. */
  embed(texts: readonly string[], options?: EmbedCallOptions): Promise<Embeddings>;
  /** Releases the model session; the embedder cannot be used afterwards. */
  dispose(): Promise<void>;
}
