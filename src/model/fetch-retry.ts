// Retries for model downloads: a flaky network, a rate limit (429) or a server error (5xx) is
// tried again after an exponentially growing, jittered delay (or the server's Retry-After),
// within a total time bound; a 404 or 403 is final at once. The wait ends early on abort.
import { AbortError } from '../base/errors.js';
import { jitteredBackoff } from '../util/backoff.js';

/** How downloads are retried; every field has a default. */
export interface RetryPolicy {
  /** Tries after the first (default 4). */
  retries?: number;
  /** Delay before the first retry, doubled each time (default 500 ms), with ±50% jitter. */
  baseDelayMs?: number;
  /** Largest single delay (default 8,000 ms). */
  maxDelayMs?: number;
  /** No retry starts after this long since the first try (default 60,000 ms). */
  totalMs?: number;
}

/** One retry about to happen, for progress reports. */
export interface RetryNotice {
  url: string;
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  reason: string;
}

/** A failure worth trying again: a network error, 429 or 5xx; `retryAfterMs` from the server. */
export class RetryableFetchError extends Error {
  override name = 'RetryableFetchError';
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Reads a Retry-After header (seconds or an HTTP date) as milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    if (signal?.aborted) return fail(new AbortError(signal.reason));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      done();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      fail(new AbortError(signal!.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds or fails with something other than a RetryableFetchError;
 * retries per `policy`. When retries run out, throws `exhausted(reason, tries)`.
 */
export async function withRetries<T>(
  url: string, attempt: () => Promise<T>, exhausted: (reason: string, tries: number) => Error,
  options: { policy?: RetryPolicy; signal?: AbortSignal; onRetry?: (notice: RetryNotice) => void; random?: () => number } = {},
): Promise<T> {
  const { retries = 4, baseDelayMs = 500, maxDelayMs = 8000, totalMs = 60_000 } = options.policy ?? {};
  const random = options.random ?? Math.random;
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RetryableFetchError)) throw error;
      const backoff = jitteredBackoff(tries, baseDelayMs, maxDelayMs, random);
      const delayMs = Math.round(Math.max(backoff, error.retryAfterMs ?? 0));
      if (tries > retries || Date.now() - started + delayMs > totalMs) throw exhausted(error.message, tries);
      options.onRetry?.({ url, attempt: tries, delayMs, reason: error.message });
      await sleep(delayMs, options.signal);
    }
  }
}
