// Token-budget batching. Texts are sorted by token length (longest first, so the largest
// allocations happen early) and packed greedily: a batch of n texts padded to length L is
// admitted while n x L <= maxBatchTokens, the rule text-embeddings-inference uses. Sorting makes
// the texts of one batch nearly the same length, so almost no compute goes to padding.

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
}

/** Positions sorted by length, longest first; ties keep input order (a stable sort). */
export function sortByLengthDescending(lengths: ArrayLike<number>, positions?: readonly number[]): number[] {
  const order = positions ? [...positions] : Array.from({ length: lengths.length }, (_, i) => i);
  return order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
}

/** Packs positions already sorted longest-first into batches under the token budget. */
export function packSorted(sorted: readonly number[], lengths: ArrayLike<number>, limits: PackLimits): PackedBatch[] {
  const maxSize = limits.maxBatchSize ?? Infinity;
  const batches: PackedBatch[] = [];
  let current: PackedBatch | null = null;
  for (const index of sorted) {
    const length = lengths[index]!;
    if (current && length > current.paddedLength) {
      throw new RangeError(`packSorted: positions are not sorted longest-first at position ${index}`);
    }
    if (current && (current.indices.length + 1) * current.paddedLength <= limits.maxBatchTokens && current.indices.length < maxSize) {
      current.indices.push(index);
    } else {
      current = { indices: [index], paddedLength: length };
      batches.push(current);
    }
  }
  return batches;
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
