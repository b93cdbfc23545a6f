// The model options, declared once: every runtime forwards them whole to wherever the model loads
// (the browser's workers), so an option added to EmbedderOptions cannot be dropped on the way.
import type { EmbedderOptions } from './types.js';

/** The model used when none is named: resolved like any hub id. */
export const DEFAULT_MODEL = 'Xenova/all-MiniLM-L6-v2';

/** The options that shape how a model is loaded and run, everything but where and on what. */
export type ModelOptions = Omit<EmbedderOptions, 'model' | 'device' | 'dtype'>;

// `satisfies` makes a new EmbedderOptions field a compile error here until it is listed.
const MODEL_OPTION_KEYS = {
  pooling: true, normalize: true, dimensions: true, includePrompt: true, maxBatchTokens: true,
  maxTokens: true, truncation: true, lookahead: true, fuseAttention: true,
} as const satisfies Record<keyof ModelOptions, true>;

/** The model options set in `options`, and nothing else. */
export function modelOptions(options: ModelOptions): ModelOptions {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(MODEL_OPTION_KEYS) as (keyof ModelOptions)[]) if (options[key] !== undefined) picked[key] = options[key];
  return picked as ModelOptions;
}
