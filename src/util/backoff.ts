// Exponential backoff with jitter, shared by model downloads and batch/lane retries.

/** The delay before the n-th retry (n from 1): base x 2^(n-1), capped, times a jitter in [0.5, 1.5). */
export function jitteredBackoff(n: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, n - 1)) * (0.5 + random());
}
