// Tokenization with the model's own tokenizer (transformers.js), truncating the way Hugging Face
// truncates a single sequence: the special tokens stay, the text between them is cut.
import * as transformers from '@huggingface/transformers';
import { ModelFileError } from '../core/errors.js';
import { readModelJson, type ModelFiles } from '../model/files.js';

type PreTrainedTokenizer = transformers.PreTrainedTokenizer;

/**
 * How an over-long text is cut. 'cut' keeps the first maxTokens ids, so a trailing [SEP] is lost:
 * what transformers.js does, and the default so that vectors match it. 'keep-special-tokens'
 * cuts the text between the special tokens, as Hugging Face tokenizers in Python do.
 */
export type Truncation = 'cut' | 'keep-special-tokens';

/** Token ids of a batch of texts, unpadded. */
export interface TokenizedTexts {
  ids: Int32Array[];
  /** How many texts were cut to maxTokens. */
  truncated: number;
}

/** A model's tokenizer, with the truncation rule of its template worked out once. */
export interface TextTokenizer {
  /** Largest sequence the tokenizer declares (model_max_length), if any. */
  readonly modelMaxLength: number | null;
  /** Tokenizes texts, truncating each to `maxTokens` ids including special tokens. */
  encode(texts: readonly string[], maxTokens: number, truncation?: Truncation): TokenizedTexts;
}

/** Loads tokenizer.json and tokenizer_config.json and builds the class the config names. */
export async function loadTokenizer(files: ModelFiles): Promise<TextTokenizer> {
  const [json, config] = await Promise.all([readModelJson(files, 'tokenizer.json'), readModelJson(files, 'tokenizer_config.json')]);
  const className = String(config.tokenizer_class ?? 'PreTrainedTokenizer').replace(/Fast$/, '');
  const exported = (transformers as unknown as Record<string, unknown>)[className];
  const Cls = (typeof exported === 'function' ? exported : transformers.PreTrainedTokenizer) as new (j: unknown, c: unknown) => PreTrainedTokenizer;
  let tokenizer: PreTrainedTokenizer;
  try {
    tokenizer = new Cls(json, config);
  } catch (cause) {
    throw new ModelFileError('tokenizer.json', files.location, `could not build the tokenizer (${(cause as Error).message})`, { cause });
  }
  return wrapTokenizer(tokenizer);
}

/** Wraps a transformers.js tokenizer. */
export function wrapTokenizer(tokenizer: PreTrainedTokenizer): TextTokenizer {
  // Where the template puts its special tokens: e.g. [CLS] A [SEP] is 1 before, 1 after.
  const probe = 'a';
  const content = tokenizer.encode(probe, { add_special_tokens: false });
  const full = tokenizer.encode(probe, { add_special_tokens: true });
  let before = 0;
  while (before < full.length && full.slice(before, before + content.length).join() !== content.join()) before++;
  if (before === full.length) before = full.length - content.length; // unusual template: treat all as prefix
  const after = full.length - before - content.length;
  const declared = Number(tokenizer.model_max_length);
  const modelMaxLength = Number.isFinite(declared) && declared > 0 && declared < 1e9 ? declared : null;

  return {
    modelMaxLength,
    encode(texts, maxTokens, truncation = 'cut') {
      let truncated = 0;
      const ids = texts.map((text) => {
        const all = tokenizer.encode(text);
        if (all.length <= maxTokens) return Int32Array.from(all);
        truncated++;
        if (truncation === 'cut') return Int32Array.from(all.slice(0, maxTokens));
        const keep = Math.max(0, maxTokens - before - after);
        return Int32Array.from([...all.slice(0, before + keep), ...all.slice(all.length - after)]);
      });
      return { ids, truncated };
    },
  };
}
