// Which inputs a model's graph asks for, and how each is made from a padded batch. Encoders take
// input_ids and attention_mask (BERT adds token_type_ids); decoder embedders (Qwen3-Embedding)
// also take position_ids and an empty key/value cache per layer. Anything else is a family the
// engine cannot feed, and loading says so instead of running it wrongly.
import type { ValueInfo } from '../model/onnx-model.js';
import { OnnxType } from '../model/onnx-model.js';

/** One empty cache input: past_key_values.N.key|value of shape [batch, heads, 0, headDim]. */
export interface PastInput {
  name: string;
  type: 'float32' | 'float16';
  heads: number;
  headDim: number;
}

/** What to feed besides input_ids. */
export interface FeedPlan {
  attentionMask: boolean;
  tokenTypeIds: boolean;
  positionIds: boolean;
  /** Merged decoder exports switch their cache branch with this bool input; always false here. */
  useCacheBranch: boolean;
  poolingMask: string | null;
  past: PastInput[];
}

/** The plan, and the inputs no rule covers (empty when the model can run). */
export interface FeedPlanResult {
  plan: FeedPlan;
  unknown: string[];
  /** Cache inputs whose graph leaves the head count or head size symbolic (transformers.js cannot size them either). */
  unsized: string[];
}

const PAST = /^past_key_values\.\d+\.(key|value)$/;

/** Plans the feeds of a graph's inputs; `poolingMaskInput` names the input the pooling step added. */
export function planFeeds(inputs: readonly ValueInfo[], poolingMaskInput: string | null = null): FeedPlanResult {
  const plan: FeedPlan = { attentionMask: false, tokenTypeIds: false, positionIds: false, useCacheBranch: false, poolingMask: null, past: [] };
  const unknown: string[] = [];
  const unsized: string[] = [];
  for (const input of inputs) {
    const { name } = input;
    if (name === 'input_ids') continue;
    else if (name === 'attention_mask') plan.attentionMask = true;
    else if (name === 'token_type_ids') plan.tokenTypeIds = true;
    else if (name === 'position_ids') plan.positionIds = true;
    else if (name === 'use_cache_branch') plan.useCacheBranch = true;
    else if (name === poolingMaskInput) plan.poolingMask = name;
    else if (PAST.test(name)) {
      const h = input.shape?.[1];
      const d = input.shape?.[3];
      if (typeof h !== 'number' || typeof d !== 'number') {
        unsized.push(name);
        continue;
      }
      plan.past.push({ name, type: input.elemType === OnnxType.FLOAT16 ? 'float16' : 'float32', heads: h, headDim: d });
    } else unknown.push(name);
  }
  return { plan, unknown, unsized };
}

/**
 * Position ids of a padded batch as transformers.js makes them for decoders: each real token's
 * index among the row's real tokens, 1 at padding (attention never reads it).
 */
export function positionIdsFor(attentionMask: BigInt64Array, rows: number, seq: number): BigInt64Array {
  const out = new BigInt64Array(rows * seq);
  for (let r = 0; r < rows; r++) {
    let next = 0n;
    for (let t = r * seq; t < (r + 1) * seq; t++) {
      if (attentionMask[t] === 0n) out[t] = 1n;
      else out[t] = next++;
    }
  }
  return out;
}
