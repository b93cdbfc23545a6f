// What the engine feeds a graph: the plan from its inputs, decoder position ids, and rows padded
// on the tokenizer's side with the prompt left out of the pooling mask on either side.
import { describe, expect, it } from 'vitest';
import { OnnxType } from '../../src/model/onnx-model.js';
import { nodeFileAccess } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { planFeeds, positionIdsFor } from '../../src/run/feeds.js';
import { prepareBatch, recycleBatch } from '../../src/run/session.js';
import { loadTokenizer } from '../../src/tokenize/tokenizer.js';
import { modelDir } from '../helpers/models.js';

const int64 = (name: string) => ({ name, elemType: OnnxType.INT64, shape: ['batch_size', 'sequence_length'] });
const cache = (name: string, heads: number | string, elemType: number = OnnxType.FLOAT) => ({ name, elemType, shape: ['batch_size', heads, 'past_sequence_length', 16] });

describe('planFeeds', () => {
  it('feeds a decoder its position ids and an empty cache of the declared type and shape per layer', () => {
    const { plan, unknown, unsized } = planFeeds([int64('input_ids'), int64('attention_mask'), int64('position_ids'),
      cache('past_key_values.0.key', 2, OnnxType.FLOAT16), cache('past_key_values.0.value', 2, OnnxType.FLOAT16), { name: 'use_cache_branch', elemType: 9, shape: [1] }]);
    expect(unknown).toEqual([]);
    expect(unsized).toEqual([]);
    expect(plan).toEqual({
      attentionMask: true, tokenTypeIds: false, positionIds: true, useCacheBranch: true, poolingMask: null,
      past: [{ name: 'past_key_values.0.key', type: 'float16', heads: 2, headDim: 16 }, { name: 'past_key_values.0.value', type: 'float16', heads: 2, headDim: 16 }],
    });
  });

  it('names the inputs it cannot make, and caches whose head count the graph leaves open', () => {
    const { unknown, unsized } = planFeeds([int64('input_ids'), int64('pixel_values'), int64('decoder_input_ids'), cache('past_key_values.0.key', 'num_heads')]);
    expect(unknown).toEqual(['pixel_values', 'decoder_input_ids']);
    expect(unsized).toEqual(['past_key_values.0.key']);
  });
});

describe('padding', () => {
  const rows = [Int32Array.from([5, 6, 7]), Int32Array.from([8])];

  it('left: rows end at the last column; position ids count real tokens from 0, 1 at padding', () => {
    const batch = prepareBatch(rows, [0, 1], 4, 99, 0, true);
    expect(Array.from(batch.inputIds, Number)).toEqual([99, 5, 6, 7, 99, 99, 99, 8]);
    expect(Array.from(batch.attentionMask, Number)).toEqual([0, 1, 1, 1, 0, 0, 0, 1]);
    expect(Array.from(positionIdsFor(batch.attentionMask, 2, 4), Number)).toEqual([1, 0, 1, 2, 1, 1, 1, 0]);
  });

  it('null indices take every row in order, as the indices 0..n-1 do', () => {
    const plain = (b: ReturnType<typeof prepareBatch>) => [b.rows, ...[b.inputIds, b.attentionMask, b.poolingMask].map((a) => Array.from(a, Number))];
    for (const padLeft of [false, true]) {
      const whole = prepareBatch(rows, null, 4, 99, 1, padLeft);
      expect(plain(whole)).toEqual(plain(prepareBatch(rows, [0, 1], 4, 99, 1, padLeft)));
      expect(whole.rows).toBe(2);
    }
  });

  it('the prompt is masked out of pooling from where each row starts, on either side', () => {
    expect(Array.from(prepareBatch(rows, [0, 1], 4, 0, 2, true).poolingMask, Number)).toEqual([0, 0, 0, 1, 0, 0, 0, 0]);
    expect(Array.from(prepareBatch(rows, [0, 1], 4, 0, 2, false).poolingMask, Number)).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('a recycled batch\'s buffers serve the next batch exactly as fresh ones: every value written again', () => {
    const plain = (b: ReturnType<typeof prepareBatch>) => [b.inputIds, b.attentionMask, b.poolingMask].map((a) => Array.from(a, Number));
    const long = [Int32Array.from({ length: 40 }, (_, i) => i + 1), Int32Array.from({ length: 33 }, (_, i) => 50 + i)];
    for (const [padId, padLeft, maskPrefix] of [[0, false, 0], [99, true, 0], [0, false, 2], [7, true, 1]] as const) {
      const expected = plain(prepareBatch(rows, [1, 0], 4, padId, maskPrefix, padLeft));
      // A larger batch, its buffers dirtied as a runtime could never do, handed back.
      const used = prepareBatch(long, [0, 1, 0], 40, 5, 3, !padLeft);
      for (const a of [used.inputIds, used.attentionMask, used.poolingMask]) a.fill(-3n);
      recycleBatch(used);
      const again = prepareBatch(rows, [1, 0], 4, padId, maskPrefix, padLeft);
      expect(again.inputIds.buffer).toBe(used.inputIds.buffer);
      expect(again.attentionMask.length).toBe(8);
      expect(plain(again)).toEqual(expected);
      recycleBatch(again);
      // Handed back twice, a buffer is kept once: two batches never share one.
      recycleBatch(again);
      const a = prepareBatch(rows, [0, 1], 4, padId, 0, padLeft);
      const b = prepareBatch(rows, [0, 1], 4, padId, 0, padLeft);
      expect(new Set([a, b].flatMap((x) => [x.inputIds.buffer, x.attentionMask.buffer])).size).toBe(4);
    }
  });

  it("the tokenizer says the side and the pad token: Qwen's left with <|endoftext|>, XLM-R's right with <pad>", async () => {
    const decoder = await loadTokenizer(await resolveModelFiles(modelDir('fixture-decoder'), nodeFileAccess));
    expect(decoder.padLeft).toBe(true);
    expect(decoder.padId).toBe(2997); // <|endoftext|>, the first special after 2,997 BPE tokens
    const xlmr = await loadTokenizer(await resolveModelFiles(modelDir('fixture-xlmr'), nodeFileAccess));
    expect([xlmr.padLeft, xlmr.padId]).toEqual([false, 1]);
  });
});
