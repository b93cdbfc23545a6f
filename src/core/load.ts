// Loading a model in the current thread: config, tokenizer, weights rewritten with pooling, and
// a session. Node calls it in-process; the browser calls it inside each worker.
import { DTYPE_FILES, readModelJson, type ModelFiles } from '../model/files.js';
import { appendPooling } from '../pool/pooling-graph.js';
import { prepareBatch, type EncoderSession } from '../run/session.js';
import type { EngineParts } from './engine.js';
import { positiveInteger } from './validate.js';
import { loadTokenizer, type TextTokenizer } from '../tokenize/tokenizer.js';
import { InvalidOptionError, ModelFormatError } from './errors.js';
import type { EmbedderInfo, EmbedderOptions } from './types.js';

/** A runtime's way to make sessions and to settle 'auto' choices. */
export interface InferenceBackend {
  /** Settles the device and dtype, and says why. */
  choose(options: EmbedderOptions): Promise<{ device: EmbedderInfo['device']; dtype: EmbedderInfo['dtype']; reasons: string[] }>;
  createSession(model: Uint8Array, device: EmbedderInfo['device']): Promise<EncoderSession>;
}

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
}

export const DEFAULT_MAX_BATCH_TOKENS = 8192;

/** Validates options, loads the files and creates the pooled session. */
export async function loadModel(options: EmbedderOptions, deps: LoadDependencies): Promise<LoadedModel> {
  const pooling = options.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new InvalidOptionError('pooling', `"${String(pooling)}" is not 'mean' or 'cls'`);
  const normalize = options.normalize ?? true;
  const maxBatchTokens = positiveInteger('maxBatchTokens', options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS);
  const truncation = options.truncation ?? 'cut';
  if (truncation !== 'cut' && truncation !== 'keep-special-tokens') {
    throw new InvalidOptionError('truncation', `"${String(truncation)}" is not 'cut' or 'keep-special-tokens'`);
  }
  const { files, backend } = deps;
  // config.json first: a missing model is then reported by its first file, every time.
  const config = await readModelJson(files, 'config.json');
  const [tokenizer, choice] = await Promise.all([(deps.loadTokenizer ?? loadTokenizer)(files), backend.choose(options)]);
  const modelFile = DTYPE_FILES[choice.dtype];
  deps.onFile?.(modelFile);
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
  return {
    info: { model: files.location, device: choice.device, dtype: choice.dtype, dim, maxTokens, truncation, pooling, normalize, maxBatchTokens, reasons: choice.reasons },
    tokenizer,
    session,
    padId: Number(config.pad_token_id ?? 0) || 0,
  };
}

/** Engine parts for a model loaded in this thread: one lane, tokenizing in place. */
export function inProcessParts(model: LoadedModel): EngineParts {
  return {
    info: model.info,
    tokenize: async (texts) => model.tokenizer.encode(texts, model.info.maxTokens, model.info.truncation),
    lanes: [{ run: (rows, seq) => model.session.run(prepareBatch(rows, rows.map((_, i) => i), seq, model.padId)) }],
    release: () => model.session.release(),
  };
}
