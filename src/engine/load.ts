// Loading a model in the current thread: config, tokenizer, weights rewritten with pooling, and
// a session. Node calls it in-process; the browser calls it inside each worker.
import { modelFingerprint } from '../model/fingerprint.js';
import { releaseBytes } from '../util/release.js';
import { availableDtypes, DTYPE_FILES, readModelJson, type ModelFiles } from '../model/files.js';
import { appendPooling, MODEL_POOLED_OUTPUT, POOLING_MASK_INPUT } from '../pool/pooling-graph.js';
import { readModelSummary, type ModelSummary } from '../model/onnx-model.js';
import { fuseAttentionAtLoad } from '../model/fuse-attention.js';
import { planFeeds } from '../run/feeds.js';
import { readDeclaredSettings } from '../model/st-settings.js';
import { prepareBatch, recycleBatch, type EncoderSession, type PreparedBatch } from '../run/session.js';
import type { EngineParts } from './engine.js';
import { positiveInteger } from '../base/validate.js';
import { loadTokenizer, type TextTokenizer, type TokenizedTexts } from '../tokenize/tokenizer.js';
import { InvalidOptionError, ModelFileError, ModelFormatError, UnsupportedModelError } from '../base/errors.js';
import type { EmbedderInfo, EmbedderOptions, Pooling, WeightsDtype } from '../base/types.js';

/** A runtime's way to make sessions and to settle 'auto' choices. */
export interface InferenceBackend {
  /** Settles the device and dtype, and says why. */
  choose(options: EmbedderOptions): Promise<{ device: EmbedderInfo['device']; dtype: EmbedderInfo['dtype']; reasons: string[] }>;
  /** Creates a session; `externalData` holds the weight files an external-data model names. */
  createSession(model: Uint8Array, device: EmbedderInfo['device'], externalData?: ExternalWeights): Promise<EncoderSession>;
}

/** Weight files of an external-data model, by the location its graph names them with. */
export type ExternalWeights = { path: string; data: Uint8Array }[];

/** What loading needs: where the files are and how sessions are made. */
export interface LoadDependencies {
  files: ModelFiles;
  backend: InferenceBackend;
  /** Loads the tokenizer; injectable for tests. */
  loadTokenizer?: (files: ModelFiles) => Promise<TextTokenizer>;
  /** Told before each large file is read (for load progress). */
  onFile?: (name: string) => void;
}

/** A model loaded in this thread. */
export interface LoadedModel {
  info: EmbedderInfo;
  tokenizer: TextTokenizer;
  session: EncoderSession;
  padId: number;
  /** Rows are padded on the left (the tokenizer's padding_side). */
  padLeft: boolean;
  /** Activation sizes from config.json, for fitting batches into a GPU's buffer limits (absent: unknown). */
  shape: ModelShape | null;
}

/** The sizes that bound a batch's largest buffers: attention scores and the feed-forward layer. */
export interface ModelShape {
  heads: number;
  intermediate: number;
}

export const DEFAULT_MAX_BATCH_TOKENS = 8192;
const POOLINGS: readonly Pooling[] = ['mean', 'cls', 'max', 'lasttoken', 'model'];
/** Families whose position ids start after the padding index (RoBERTa's scheme): usable positions are max_position_embeddings - pad - 1. */
const OFFSET_POSITION_TYPES = new Set(['roberta', 'xlm-roberta', 'camembert', 'xlm-roberta-xl']);

/** Validates options, loads the files and creates the pooled session. */
export async function loadModel(options: EmbedderOptions, deps: LoadDependencies): Promise<LoadedModel> {
  if (options.pooling !== undefined && !POOLINGS.includes(options.pooling)) {
    throw new InvalidOptionError('pooling', `"${String(options.pooling)}" is not ${POOLINGS.map((p) => `'${p}'`).join(', ')}`);
  }
  if (options.normalize !== undefined && typeof options.normalize !== 'boolean') throw new InvalidOptionError('normalize', 'must be true or false');
  const dimensions = options.dimensions === undefined ? null : positiveInteger('dimensions', options.dimensions);
  const maxBatchTokens = positiveInteger('maxBatchTokens', options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS);
  const truncation = options.truncation ?? 'cut';
  if (truncation !== 'cut' && truncation !== 'keep-special-tokens') {
    throw new InvalidOptionError('truncation', `"${String(truncation)}" is not 'cut' or 'keep-special-tokens'`);
  }
  const { files, backend } = deps;
  // config.json first: a missing model is then reported by its first file, every time.
  const config = await readModelJson(files, 'config.json');
  const [tokenizer, choice, declared] = await Promise.all([(deps.loadTokenizer ?? loadTokenizer)(files), backend.choose(options), readDeclaredSettings(files)]);
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const modelFile = DTYPE_FILES[choice.dtype];
  deps.onFile?.(modelFile);
  const weights = await readWeights(files, choice.dtype);
  const summary = graphSummary(weights, `${files.location}/${modelFile}`);
  checkSupported(summary, modelType);
  // Explicit options first, then the graph's own pooled output, then what the model's files declare, then the defaults.
  const modelPools = summary.outputs.some((o) => o.name === MODEL_POOLED_OUTPUT);
  const pooling = options.pooling ?? (modelPools ? 'model' : declared.pooling?.mode ?? 'mean');
  if (options.includePrompt !== undefined && typeof options.includePrompt !== 'boolean') throw new InvalidOptionError('includePrompt', 'must be true or false');
  if (pooling === 'model' && options.includePrompt === false) {
    throw new InvalidOptionError('includePrompt', `false needs a token pooling; this model pools inside its graph (${MODEL_POOLED_OUTPUT}), prompt tokens included`);
  }
  const includePrompt = pooling === 'model' ? true : options.includePrompt ?? declared.pooling?.includePrompt ?? true;
  const normalize = options.normalize ?? declared.normalize?.value ?? true;
  const fused = fuseAttentionAtLoad(weights, options.fuseAttention, choice.device);
  const pooled = appendPooling(fused.bytes, { pooling, normalize, dimensions, poolingMask: !includePrompt }, `${files.location}/${modelFile}`, summary);
  const modelDim = pooled.hidden ?? Number(config.hidden_size);
  if (!Number.isInteger(modelDim) || modelDim <= 0) throw new ModelFormatError(`${files.location}: hidden size unknown (no static output dim, no hidden_size in config.json)`);
  if (dimensions !== null && dimensions > modelDim) throw new InvalidOptionError('dimensions', `${dimensions} is more than the model's ${modelDim} dimensions`);
  const dim = dimensions ?? modelDim;
  const reasons = [...choice.reasons, ...(fused.reason ? [fused.reason] : [])];
  if (declared.unreachable.length) {
    reasons.push(`could not fetch ${declared.unreachable.join(', ')} (offline?): settings they would declare are the defaults`);
  }
  if (pooling === 'model' && options.pooling === undefined && declared.pooling) {
    reasons.push(`pooling: the graph's own ${MODEL_POOLED_OUTPUT} output (it already applies ${declared.pooling.file}'s ${declared.pooling.mode} pooling and any Dense layers)`);
  }
  const settingSources = {
    pooling: options.pooling !== undefined ? 'option' : modelPools ? `${modelFile} output ${MODEL_POOLED_OUTPUT}` : declared.pooling?.file ?? 'default',
    includePrompt: options.includePrompt !== undefined ? 'option' : declared.pooling?.file ?? 'default',
    normalize: options.normalize !== undefined ? 'option' : declared.normalize?.file ?? 'default',
    prompts: declared.prompts?.file ?? 'default',
    dimensions: dimensions !== null ? 'option' : 'default',
  };

  // RoBERTa-style models number positions from pad + 1, so the table holds pad + 1 fewer tokens.
  const positionOffset = OFFSET_POSITION_TYPES.has(modelType) ? Number(config.pad_token_id ?? 1) + 1 : 0;
  const positions = Number(config.max_position_embeddings) - positionOffset;
  const modelMax = Math.min(tokenizer.modelMaxLength ?? Infinity, Number.isFinite(positions) && positions > 0 ? positions : Infinity);
  const limit = Number.isFinite(modelMax) ? modelMax : 512;
  const maxTokens = options.maxTokens === undefined ? limit : positiveInteger('maxTokens', options.maxTokens);
  if (maxTokens > limit) throw new InvalidOptionError('maxTokens', `${maxTokens} exceeds the model's maximum of ${limit} tokens`);
  if (maxTokens < 2) throw new InvalidOptionError('maxTokens', 'must leave room for the special tokens (at least 2)');

  // External data (model.onnx_data, and split files): read as bytes and handed to ONNX Runtime, which
  // resolves the graph's locations against them; the pooling rewrite above never touched them.
  const folder = modelFile.slice(0, modelFile.lastIndexOf('/') + 1);
  const externalData: ExternalWeights = [];
  for (const path of pooled.externalFiles) {
    deps.onFile?.(`${folder}${path}`);
    externalData.push({ path, data: await files.read(`${folder}${path}`) });
  }
  const fingerprint = modelFingerprint(config, [weights, ...externalData.map((e) => e.data)]);
  const session = await backend.createSession(pooled.bytes, choice.device, externalData.length ? externalData : undefined);
  // ONNX Runtime holds its own copy now: the graphs this load built, and the weights where the
  // files handed over bytes of their own, are freed at once rather than at V8's next major GC.
  const built = [fused.bytes, pooled.bytes].filter((b) => b.buffer !== weights.buffer);
  releaseBytes(files.freshReads ? [weights, ...built] : built);
  return {
    info: {
      model: files.recordedAs ?? files.location, modelLocation: files.location,
      modelFingerprint: fingerprint,
      modelType, device: choice.device, dtype: choice.dtype, dim, maxTokens, truncation, pooling, includePrompt, normalize, modelDim,
      prompts: declared.prompts?.prompts ?? {}, defaultPromptName: declared.prompts?.defaultPromptName ?? null, settingSources,
      maxBatchTokens, reasons,
    },
    tokenizer,
    session,
    padId: tokenizer.padId ?? (Number(config.pad_token_id ?? 0) || 0),
    padLeft: tokenizer.padLeft,
    shape: modelShape(config),
  };
}

function graphSummary(bytes: Uint8Array, source: string): ModelSummary {
  try {
    return readModelSummary(bytes);
  } catch (cause) {
    throw new ModelFormatError(`${source} is not a readable ONNX model: ${(cause as Error).message}`, { cause });
  }
}

/** Refuses, naming the family, a graph whose inputs the engine cannot make or that has no hidden states to pool. */
function checkSupported(summary: ModelSummary, modelType: string): void {
  const inputs = summary.inputs.map((i) => i.name);
  const outputs = summary.outputs.map((o) => o.name);
  const fail = (reason: string) => new UnsupportedModelError(modelType, inputs, outputs, reason);
  if (!inputs.includes('input_ids')) throw fail('its graph takes no input_ids');
  const { unknown, unsized } = planFeeds(summary.inputs, POOLING_MASK_INPUT);
  if (unknown.length) throw fail(`the engine cannot make the input${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  if (unsized.length) throw fail(`the cache input ${unsized[0]} has no fixed head count and head size in the graph`);
  const pooledOrHidden = summary.outputs.some((o) => o.name === MODEL_POOLED_OUTPUT || o.name === 'last_hidden_state' || o.shape?.length === 3);
  if (!pooledOrHidden) throw fail(`its graph outputs no last_hidden_state or ${MODEL_POOLED_OUTPUT} (an export with a task head, not an embedding export)`);
}

/** Reads the weights of a dtype; when they are missing, the error lists the dtypes the model has. */
async function readWeights(files: ModelFiles, dtype: WeightsDtype): Promise<Uint8Array> {
  try {
    return await files.read(DTYPE_FILES[dtype]);
  } catch (error) {
    if (!(error instanceof ModelFileError) || !error.notFound) throw error;
    const have = await availableDtypes(files).catch(() => null);
    if (have === null) throw error;
    const list = have.map((d) => `${d} (${DTYPE_FILES[d]})`).join(', ');
    throw new ModelFileError(DTYPE_FILES[dtype], files.location,
      have.length ? `not found: this model has no ${dtype} weights; it has ${list}` : `not found, and the model has no ONNX weights under any dtype's name (${Object.values(DTYPE_FILES).join(', ')})`,
      { cause: error, notFound: true });
  }
}

function modelShape(config: Record<string, unknown>): ModelShape | null {
  const heads = Number(config.num_attention_heads);
  // ModernBERT's first feed-forward matrix makes input and gate in one [rows, seq, 2 x intermediate] buffer.
  const intermediate = Number(config.intermediate_size) * (config.model_type === 'modernbert' ? 2 : 1);
  return Number.isInteger(heads) && heads > 0 && Number.isInteger(intermediate) && intermediate > 0 ? { heads, intermediate } : null;
}

/** Runs token rows padded to `seq` on a loaded model. */
export async function runRows(model: LoadedModel, rows: Int32Array[], seq: number, maskPrefix = 0): Promise<Float32Array> {
  const batch = prepareRows(model, rows, seq, maskPrefix);
  try {
    return await model.session.run(batch);
  } finally {
    recycleBatch(batch);
  }
}

/** The feed tensors of `rows` padded to `seq` as `model` takes them (runRows' first half, for callers that queue the run). */
export function prepareRows(model: LoadedModel, rows: Int32Array[], seq: number, maskPrefix = 0): PreparedBatch {
  return prepareBatch(rows, null, seq, model.padId, maskPrefix, model.padLeft);
}

/**
 * Texts for the fp16 check: short and long, words, numbers and punctuation, and one that fills
 * maxTokens, because fp16 overflow grows with length (attention sums, positions late in a text).
 */
export function probeTexts(maxTokens: number): string[] {
  const words = ['river', 'garden', '12345', 'Zürich', 'quotes "like this"', 'and;', 'x', 'unbelievably', '67890.5'];
  return [
    'the quick brown fox jumps over the lazy dog',
    'A',
    'Numbers 12345 and 67890, punctuation; quotes "like this" and more.',
    // At least one token a word, so this reaches maxTokens and is cut there.
    Array.from({ length: maxTokens }, (_, i) => words[i % words.length]).join(' '),
  ];
}

/** Least cosine between the rows of a probe in fp16 and in fp32 for fp16 to be used. */
export const FP16_MIN_COSINE = 0.999;

/** A model loaded after the fp16 check, with the fp32 model for re-runs when fp16 was kept. */
export interface CheckedModel {
  model: LoadedModel;
  /** Loads (once) the fp32 model, for batches whose fp16 result is bad; null when `model` is fp32. */
  exact: (() => Promise<LoadedModel>) | null;
}

/**
 * Loads with `loadChosen`; when the runtime settled on fp16, also loads fp32 with `loadFp32`, runs
 * the probe texts on both and keeps fp16 only if every row is finite and at cosine >=
 * FP16_MIN_COSINE to fp32. Says which, and why, in info.reasons.
 */
export async function loadCheckingFp16(loadChosen: () => Promise<LoadedModel>, loadFp32: () => Promise<LoadedModel>): Promise<CheckedModel> {
  const first = await loadChosen();
  if (first.info.dtype !== 'fp16') return { model: first, exact: null };
  const full = await loadFp32();
  const { ids } = full.tokenizer.encode(probeTexts(full.info.maxTokens), full.info.maxTokens, full.info.truncation);
  const seq = Math.max(...ids.map((r) => r.length));
  let verdict: { min: number; finite: boolean; failed?: string };
  try {
    verdict = compareRows(await runRows(full, ids, seq), await runRows(first, ids, seq), full.info.dim);
  } catch (error) {
    verdict = { min: -1, finite: false, failed: (error as Error).message };
  }
  const reasons = first.info.reasons;
  if (verdict.finite && verdict.min >= FP16_MIN_COSINE) {
    await full.session.release();
    reasons.push(`fp16 accepted: probe batch (${ids.length} texts up to ${seq} tokens) cosine ${verdict.min.toFixed(5)} >= ${FP16_MIN_COSINE} against fp32`);
    let exact: Promise<LoadedModel> | null = null;
    return { model: first, exact: () => (exact ??= loadFp32()) };
  }
  await first.session.release();
  full.info.reasons.unshift(...reasons.filter((r) => !full.info.reasons.includes(r)));
  full.info.reasons.push(
    verdict.failed ? `fp16 refused: the probe batch failed to run (${verdict.failed}); using fp32`
      : verdict.finite ? `fp16 refused: probe batch cosine ${verdict.min.toFixed(5)} < ${FP16_MIN_COSINE} against fp32; using fp32`
        : `fp16 refused: the probe batch (${ids.length} texts up to ${seq} tokens) gave NaN or Inf (fp16 overflow); using fp32`,
  );
  return { model: full, exact: null };
}

function compareRows(a: Float32Array, b: Float32Array, dim: number): { min: number; finite: boolean } {
  let min = 1;
  let finite = true;
  for (let r = 0; r < a.length / dim; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      if (!Number.isFinite(b[j]!)) finite = false;
      dot += a[j]! * b[j]!;
      na += a[j]! * a[j]!;
      nb += b[j]! * b[j]!;
    }
    min = Math.min(min, dot / Math.sqrt(na * nb));
  }
  return { min: Number.isNaN(min) ? -1 : min, finite };
}

/** How in-process parts tokenize and how many batches they keep in flight. */
export interface InProcessOptions {
  /** Replaces tokenizing in this thread with tokenizer threads; gets the texts, tokenizes with info's maxTokens and truncation. */
  tokenize?: (texts: string[]) => Promise<TokenizedTexts>;
  /** Whether the next window's tokenizing starts at once (EngineParts.tokenizeNextAtOnce). */
  tokenizeNextAtOnce?: () => boolean;
  /** Batches submitted at once (default 1): with 2, the next batch is prepared and queued while one runs on the device. */
  inFlight?: number;
  /** Called on release, after the sessions (e.g. stops tokenizer threads). */
  release?: () => Promise<void>;
}

/** Engine parts for a model loaded in this thread: `inFlight` lanes over one session, tokenizing in place unless told otherwise. */
export function inProcessParts({ model, exact }: CheckedModel, options: InProcessOptions = {}): EngineParts {
  let full: LoadedModel | null = null;
  const inFlight = Math.max(1, options.inFlight ?? 1);
  return {
    info: model.info,
    widths: model.shape ? { hidden: model.info.modelDim, ...model.shape } : null,
    tokenize: options.tokenize ?? (async (texts) => model.tokenizer.encode(texts, model.info.maxTokens, model.info.truncation)),
    tokenizeNextAtOnce: options.tokenizeNextAtOnce,
    lanes: Array.from({ length: inFlight }, (_, i) => ({
      name: inFlight > 1 ? `${model.info.device} #${i + 1}` : model.info.device,
      run: (rows: Int32Array[], seq: number, maskPrefix?: number) => runRows(model, rows, seq, maskPrefix),
      ...(exact ? { runExact: async (rows: Int32Array[], seq: number, maskPrefix?: number) => runRows((full = await exact()), rows, seq, maskPrefix) } : {}),
    })),
    release: async () => {
      await model.session.release();
      await full?.session.release();
      await options.release?.();
    },
  };
}
