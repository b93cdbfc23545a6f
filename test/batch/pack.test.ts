import { describe, expect, it } from 'vitest';
import { packBatches, packSorted, paddingOf, sortByLengthDescending } from '../../src/batch/pack.js';

describe('sortByLengthDescending', () => {
  it('orders longest first and keeps input order among equal lengths', () => {
    expect(sortByLengthDescending([3, 9, 3, 1, 9])).toEqual([1, 4, 0, 2, 3]);
  });
  it('sorts a subset of positions', () => {
    expect(sortByLengthDescending([5, 1, 7, 2], [0, 1, 3])).toEqual([0, 3, 1]);
  });
  it('gives the order of a comparison sort for token counts (counted) and for any other numbers', () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 400; t++) {
      const spread = [4, 60, 700, 100_000][t % 4]!;
      const lengths = Array.from({ length: Math.floor(rand() * 200) }, () => (t % 5 === 4 ? rand() * 9 : Math.floor(rand() ** 2 * spread)));
      const reference = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
      expect(sortByLengthDescending(lengths)).toEqual(reference);
    }
  });
});

describe('packBatches', () => {
  it('admits n texts padded to L only while n x L <= budget, and pads as little as it can', () => {
    const lengths = [10, 10, 10, 10, 4, 4, 4];
    const batches = packBatches(lengths, { maxBatchTokens: 30, batchOverheadTokens: 1 });
    // Greedy filling would give [0,1,2] [3,4,5] [6]: 30 + 30 + 4 padded tokens. Splitting at the
    // length change costs one more batch but only 30 + 10 + 12 padded tokens.
    expect(batches).toEqual([
      { indices: [0, 1, 2], paddedLength: 10 },
      { indices: [3], paddedLength: 10 },
      { indices: [4, 5, 6], paddedLength: 4 },
    ]);
    for (const b of batches) expect(b.indices.length * b.paddedLength).toBeLessThanOrEqual(30);
  });

  it('prefers fewer batches when a batch costs more than the padding it saves', () => {
    const batches = packBatches([10, 9, 9, 9], { maxBatchTokens: 100, batchOverheadTokens: 50 });
    expect(batches).toEqual([{ indices: [0, 1, 2, 3], paddedLength: 10 }]);
    const split = packBatches([10, 9, 9, 9], { maxBatchTokens: 100, batchOverheadTokens: 1 });
    expect(split).toEqual([{ indices: [0], paddedLength: 10 }, { indices: [1, 2, 3], paddedLength: 9 }]);
  });

  it('finds the least-cost packing (checked against brute force on small inputs)', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rand() * 8);
      const lengths = Array.from({ length: n }, () => 1 + Math.floor(rand() * 20));
      const limits = { maxBatchTokens: 10 + Math.floor(rand() * 40), batchOverheadTokens: Math.floor(rand() * 10) };
      const cost = (bs: { indices: number[]; paddedLength: number }[]) =>
        bs.reduce((c, b) => c + b.indices.length * b.paddedLength + limits.batchOverheadTokens, 0);
      const sorted = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
      let best = Infinity;
      for (let mask = 0; mask < 1 << (n - 1); mask++) { // every way to cut the sorted order
        let start = 0;
        let total = 0;
        for (let k = 1; k <= n; k++) {
          if (k === n || mask & (1 << (k - 1))) {
            const size = k - start;
            const padded = size * lengths[sorted[start]!]!;
            if (size > 1 && padded > limits.maxBatchTokens) { total = Infinity; break; }
            total += padded + limits.batchOverheadTokens;
            start = k;
          }
        }
        best = Math.min(best, total);
      }
      expect(cost(packBatches(lengths, limits))).toBe(best);
    }
  });

  it('puts every position in exactly one batch', () => {
    const lengths = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 300));
    const batches = packBatches(lengths, { maxBatchTokens: 2048 });
    const seen = batches.flatMap((b) => b.indices).sort((a, b) => a - b);
    expect(seen).toEqual(lengths.map((_, i) => i));
    for (const b of batches) {
      expect(b.paddedLength).toBe(Math.max(...b.indices.map((i) => lengths[i]!)));
      expect(b.indices.length === 1 || b.indices.length * b.paddedLength <= 2048).toBe(true);
    }
  });

  it('gives a text longer than the budget a batch of its own', () => {
    expect(packBatches([600, 5], { maxBatchTokens: 512 })).toEqual([
      { indices: [0], paddedLength: 600 },
      { indices: [1], paddedLength: 5 },
    ]);
  });

  it('caps the rows per batch', () => {
    const batches = packBatches(new Array(10).fill(2), { maxBatchTokens: 1000, maxBatchSize: 4 });
    expect(batches.map((b) => b.indices.length)).toEqual([4, 4, 2]);
  });

  it('wastes little on mixed lengths once sorted, unlike input-order chunks', () => {
    const lengths = Array.from({ length: 2048 }, (_, i) => 3 + Math.round(60 * Math.exp(Math.sin(i * 12.9898) * 1.5)));
    const sorted = paddingOf(packBatches(lengths, { maxBatchTokens: 8192 }), lengths);
    const chunks = Array.from({ length: 2048 / 32 }, (_, c) => {
      const indices = Array.from({ length: 32 }, (_, k) => c * 32 + k);
      return { indices, paddedLength: Math.max(...indices.map((i) => lengths[i]!)) };
    });
    const unsorted = paddingOf(chunks, lengths);
    expect(sorted.tokens).toBe(unsorted.tokens);
    expect(1 - sorted.tokens / sorted.padded).toBeLessThan(0.02);
    expect(1 - unsorted.tokens / unsorted.padded).toBeGreaterThan(0.3);
  });

  it('packs exactly as the plain scan of every start does (the same cuts, ties to the latest start), under every limit', () => {
    // The dynamic programme as first written: every start i from j - 1 down, the first strictly best kept.
    type Limits = { maxBatchTokens: number; maxBatchSize: number; batchOverheadTokens: number; tokensAt?: (seq: number) => number };
    const reference = (sorted: number[], lengths: number[], limits: Limits) => {
      const n = sorted.length;
      const len = (k: number) => lengths[sorted[k]!]!;
      const budget = (seq: number) => (limits.tokensAt ? limits.tokensAt(seq) : limits.maxBatchTokens);
      const cost = [0];
      const cut = [0];
      for (let j = 1; j <= n; j++) {
        cost[j] = Infinity;
        for (let i = j - 1; i >= 0; i--) {
          const size = j - i;
          if (size > 1 && (size * len(i) > budget(len(i)) || size > limits.maxBatchSize)) break;
          const total = cost[i]! + size * len(i) + limits.batchOverheadTokens;
          if (total < cost[j]!) {
            cost[j] = total;
            cut[j] = i;
          }
        }
      }
      const batches: { indices: number[]; paddedLength: number }[] = [];
      for (let j = n; j > 0; j = cut[j]!) batches.unshift({ indices: sorted.slice(cut[j]!, j), paddedLength: len(cut[j]!) });
      return batches;
    };
    let seed = 5;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 1500; t++) {
      // Lengths from 0 (a tokenizer with no special tokens, an empty text) up.
      const lengths = Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() ** 3 * [4, 30, 512][t % 3]!));
      const limits = {
        maxBatchTokens: [3, 64, 512, 8192][t % 4]!, maxBatchSize: t % 2 ? 512 : 7, batchOverheadTokens: [0, 1, 32, 1024][(t >> 2) % 4]!,
        ...(t % 5 === 0 ? { tokensAt: (seq: number) => Math.max(16, 8192 - seq * 10) } : {}),
      };
      const sorted = sortByLengthDescending(lengths);
      expect(packSorted(sorted, lengths, limits), `case ${t}`).toEqual(reference(sorted, lengths, limits));
    }
  });

  it('refuses positions that are not sorted', () => {
    expect(() => packSorted([0, 1], [2, 5], { maxBatchTokens: 100 })).toThrow(/not sorted/);
  });
});
