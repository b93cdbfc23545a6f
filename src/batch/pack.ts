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

/** Longest token count a counting sort handles; longer (or fractional) lengths go to a comparison sort. */
const COUNTING_SORT_MAX_LENGTH = 1 << 16;

/** Positions (all, or those given) sorted by length, longest first; ties in position order (a stable sort). */
export function sortByLengthDescending(lengths: ArrayLike<number>, positions?: readonly number[]): number[] {
  const order = positions ? [...positions] : Array.from({ length: lengths.length }, (_, i) => i);
  const bySort = () => order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  if (positions) return bySort();
  let longest = 0;
  for (const p of order) {
    const l = lengths[p]!;
    if (!(Number.isInteger(l) && l >= 0 && l <= COUNTING_SORT_MAX_LENGTH)) return bySort();
    if (l > longest) longest = l;
  }
  // Token counts are small integers: a counting sort, in linear time (a comparison sort of a
  // 4,096-text window took milliseconds on the thread that feeds the device).
  const next = new Int32Array(longest + 2);
  for (const p of order) next[longest - lengths[p]! + 1]!++;
  for (let k = 1; k <= longest + 1; k++) next[k]! += next[k - 1]!;
  const sorted = new Array<number>(order.length);
  for (const p of order) sorted[next[longest - lengths[p]!]!++] = p;
  return sorted;
}

/**
 * Packs positions already sorted longest-first into batches under the token budget, optimally.
 *
 * Cut points come from a dynamic programme over the sorted texts: cost[j], the least padded tokens
 * (plus `batchOverheadTokens` a batch) of packing the first j, is the best last batch [i, j) added
 * to cost[i]. Among the texts of one length L, the best start is always the earliest one the
 * limits allow: dropping the last text of an optimal packing saves at least its own length, so
 * cost[i + 1] >= cost[i] + L, and cost[i] + (j - i) * L never falls as i grows. So each j looks at one
 * start per distinct length in reach, not at every text (a window of 4,096 short texts took
 * millions of steps, milliseconds on the thread that feeds the device), and packs exactly as that
 * scan did.
 */
export function packSorted(sorted: readonly number[], lengths: ArrayLike<number>, limits: PackLimits): PackedBatch[] {
  const n = sorted.length;
  const maxSize = limits.maxBatchSize ?? Infinity;
  const overhead = limits.batchOverheadTokens ?? DEFAULT_BATCH_OVERHEAD_TOKENS;
  // The search below relies on a batch never costing less than nothing.
  if (!(overhead >= 0)) throw new RangeError(`packSorted: batchOverheadTokens ${overhead} is not >= 0`);
  const len = new Float64Array(n);
  // runStart[k]: the first text of k's length; rows[k]: the most texts a batch padded to k's length may hold.
  const runStart = new Int32Array(n);
  const rows = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    len[k] = lengths[sorted[k]!]!;
    if (k > 0 && len[k]! > len[k - 1]!) throw new RangeError(`packSorted: positions are not sorted longest-first at position ${sorted[k]}`);
    if (k > 0 && len[k] === len[k - 1]) {
      runStart[k] = runStart[k - 1]!;
      rows[k] = rows[k - 1]!;
    } else {
      // The budget is asked once per distinct length; a text longer than it still forms a batch of one.
      const budget = limits.tokensAt ? limits.tokensAt(len[k]!) : limits.maxBatchTokens;
      runStart[k] = k;
      // Whole rows; a budget that is not a number bounds nothing, as a failed comparison did.
      const byBudget = len[k]! > 0 && !Number.isNaN(budget) ? budget / len[k]! : Infinity;
      rows[k] = Math.max(1, Math.floor(Math.min(maxSize, byBudget)));
    }
  }
  // cost[j]: least cost of packing the first j sorted texts; cut[j]: where the last batch starts.
  const cost = new Float64Array(n + 1);
  const cut = new Int32Array(n + 1);
  for (let j = 1; j <= n; j++) {
    let best = Infinity;
    let bestCut = 0;
    // Lengths from the shortest (nearest) up, until one cannot start the batch: a longer length only
    // allows fewer rows, so none after it can either.
    for (let last = j - 1; last >= 0;) {
      const first = runStart[last]!;
      const reach = j - rows[last]!;
      if (reach > last) break;
      let i = Math.max(first, reach);
      // Ties go to the latest start, as a scan of every start from j - 1 down would find first: full
      // batches before the partial one within a length. cost[i] - i * L only grows, so a binary search finds it.
      const length = len[i]!;
      const least = cost[i]! - i * length;
      for (let hi = last; i < hi;) {
        const mid = (i + hi + 1) >> 1;
        if (cost[mid]! - mid * length === least) i = mid;
        else hi = mid - 1;
      }
      const total = cost[i]! + (j - i) * length + overhead;
      if (total < best) {
        best = total;
        bestCut = i;
      }
      last = first - 1;
    }
    cost[j] = best;
    cut[j] = bestCut;
  }
  const batches: PackedBatch[] = [];
  for (let j = n; j > 0; j = cut[j]!) {
    const i = cut[j]!;
    batches.push({ indices: sorted.slice(i, j), paddedLength: len[i]! });
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
