// Racing many short calls against one long-lived failure (a worker's death, a call's first failure)
// without keeping their results. `Promise.race([call, failure])` leaves a reaction on `failure` for
// every call; the reaction holds the race's promise, and with it the call's result, until `failure`
// settles, which in a healthy run is never: a bulk run kept every batch's vectors and every
// window's ids for as long as the worker (or the call) lived.

/**
 * Races calls against `failure`, a promise that only rejects (a fulfilment is ignored): each call
 * rejects with `failure`'s error if that comes first, and nothing of a call is kept once it settles.
 */
export function raceAgainst(failure: Promise<unknown>): <T>(call: Promise<T>) => Promise<T> {
  const waiting = new Set<(error: unknown) => void>();
  let failed: { error: unknown } | null = null;
  failure.then(() => undefined, (error: unknown) => {
    failed = { error };
    for (const reject of waiting) reject(error);
    waiting.clear();
  });
  return <T>(call: Promise<T>) => new Promise<T>((resolve, reject) => {
    if (failed) {
      call.catch(() => undefined); // lost to the failure, as in Promise.race
      reject(failed.error);
      return;
    }
    waiting.add(reject);
    void call.then(resolve, reject).finally(() => waiting.delete(reject));
  });
}

/**
 * `call`, or `timedOut()`'s error if it has not settled within `ms`; the timer is cleared either
 * way, so a settled call leaves nothing behind (a bound on a worker call, not a cancel: the call runs on).
 */
export async function withTimeout<T>(call: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  try {
    return await Promise.race([call, late]);
  } finally {
    clearTimeout(timer);
  }
}
