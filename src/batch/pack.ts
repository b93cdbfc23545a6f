// Token-budget batching. Texts are sorted by token length (longest first, so the largest
// allocations happen early) and cut into contiguous runs of the sorted order. Every batch obeys
// the admission rule of text-embeddings-inference: n texts padded to length L cost n x L <=
// maxBatchTokens. Within that rule the cut points are chosen by dynamic programming to minimise
// padded tokens plus a fixed cost per batch, so short texts are not lumped into one huge batch
// whose lengths spread widely (greedy filling wastes ~5% on padding there; this wastes ~1%).

/** One batch: positions (into the caller's list) and the length all its rows are padded to. */
export interface PackedBatch {
  indices: number[];
  paddedLength: number;
}

/** Packing limits. A single text longer than the budget still forms a batch of one. */
export interface PackLimits {
  maxBatchTokens: number;
  /** Upper bound on rows per batch, whatever their length (bounds memory for tiny texts). */
  maxBatchSize?: number;
  /** What one more batch costs, in padded tokens (per-run overhead; default DEFAULT_BATCH_OVERHEAD_TOKENS). */
  batchOverheadTokens?: number;
  /** The budget for a batch padded to `seq` tokens, where it depends on the length (time and memory grow with it); default maxBatchTokens. */
  tokensAt?: (seq: number) => number;
}

/** What one more batch costs in padded tokens where runs have little fixed cost (a CPU). */
export const DEFAULT_BATCH_OVERHEAD_TOKENS = 32;

/** Positions sorted by length, longest first; ties keep input order (a stable sort). */
export function sortByLengthDescending(lengths: ArrayLike<number>, positions?: readonly number[]): number[] {
  const order = positions ? [...positions] : Array.from({ length: lengths.length }, (_, i) => i);
  return order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
}

/** Packs positions already sorted longest-first into batches under the token budget, optimally. */
export function packSorted(sorted: readonly number[], lengths: ArrayLike<number>, limits: PackLimits): PackedBatch[] {
  const n = sorted.length;
  const maxSize = limits.maxBatchSize ?? Infinity;
  const overhead = limits.batchOverheadTokens ?? DEFAULT_BATCH_OVERHEAD_TOKENS;
  const len = (k: number): number => lengths[sorted[k]!]!;
  for (let k = 1; k < n; k++) {
    if (len(k) > len(k - 1)) throw new RangeError(`packSorted: positions are not sorted longest-first at position ${sorted[k]}`);
  }
  // cost[j]: least cost of packing the first j sorted texts; cut[j]: where the last batch starts.
  const cost = new Float64Array(n + 1).fill(Infinity);
  const cut = new Int32Array(n + 1);
  cost[0] = 0;
  // The budget at each padded length, asked once per length (the loop below asks per pair).
  const budgets = new Map<number, number>();
  const budgetAt = limits.tokensAt
    ? (seq: number) => budgets.get(seq) ?? budgets.set(seq, limits.tokensAt!(seq)).get(seq)!
    : () => limits.maxBatchTokens;
  for (let j = 1; j <= n; j++) {
    for (let i = j - 1; i >= 0; i--) {
      const size = j - i;
      const padded = size * len(i); // the batch [i, j) is padded to its first (longest) text
      // padded only grows as i falls, and a budget only shrinks with length, so the first miss ends the scan.
      if (size > 1 && (padded > budgetAt(len(i)) || size > maxSize)) break;
      const total = cost[i]! + padded + overhead;
      if (total < cost[j]!) {
        cost[j] = total;
        cut[j] = i;
      }
    }
  }
  const batches: PackedBatch[] = [];
  for (let j = n; j > 0; j = cut[j]!) {
    const i = cut[j]!;
    batches.push({ indices: sorted.slice(i, j), paddedLength: len(i) });
  }
  return batches.reverse();
}

/** Sorts and packs in one step. */
export function packBatches(lengths: ArrayLike<number>, limits: PackLimits): PackedBatch[] {
  return packSorted(sortByLengthDescending(lengths), lengths, limits);
}

/** Real and padded token counts of a set of batches. */
export function paddingOf(batches: readonly PackedBatch[], lengths: ArrayLike<number>): { tokens: number; padded: number } {
  let tokens = 0;
  let padded = 0;
  for (const batch of batches) {
    padded += batch.indices.length * batch.paddedLength;
    for (const i of batch.indices) tokens += lengths[i]!;
  }
  return { tokens, padded };
}
