// raceAgainst: many calls raced against one failure that never comes, as a worker's calls are
// against its death. Promise.race would keep each call's result alive through a reaction left on
// the failure; a bulk run kept every batch's vectors that way.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { raceAgainst, withTimeout } from '../../src/util/race.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Whether the result of a call raced by `race` is still reachable once the call is done and dropped. */
async function resultKept(race: (call: Promise<Float32Array>) => Promise<Float32Array>): Promise<boolean> {
  let ref!: WeakRef<Float32Array>;
  await (async () => {
    const vectors = await race(Promise.resolve(new Float32Array(1 << 20)));
    ref = new WeakRef(vectors);
  })();
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the job that made it ends
    gc();
  }
  return ref.deref() !== undefined;
}

describe('raceAgainst', () => {
  it('keeps nothing of a settled call, where Promise.race against the same pending failure keeps its result', async () => {
    const never = new Promise<never>(() => {});
    expect(await resultKept((call) => Promise.race([call, never]))).toBe(true); // the leak this replaces
    expect(await resultKept(raceAgainst(never))).toBe(false);
  });

  it('gives each call its own result, the failure\'s error once it comes, and at once for calls after it', async () => {
    let fail!: (error: Error) => void;
    const failure = new Promise<never>((_, reject) => (fail = reject));
    const race = raceAgainst(failure);
    expect(await race(Promise.resolve(7))).toBe(7);
    await expect(race(Promise.reject(new Error('call failed')))).rejects.toThrow('call failed');
    const pending = race(new Promise<number>(() => {}));
    fail(new Error('worker died'));
    await expect(pending).rejects.toThrow('worker died');
    // A call after the failure is refused with it; its own later rejection is not left unhandled.
    await expect(race(new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 5)))).rejects.toThrow('worker died');
    await new Promise((r) => setTimeout(r, 10));
  });

  it('ignores a failure promise that fulfils', async () => {
    const race = raceAgainst(Promise.resolve('not a failure'));
    await new Promise((r) => setTimeout(r, 0));
    expect(await race(Promise.resolve(3))).toBe(3);
  });
});

describe('withTimeout', () => {
  it('gives the call\'s result, or the timeout\'s error once the time is up, and clears its timer', async () => {
    expect(await withTimeout(Promise.resolve(7), 1000, () => new Error('late'))).toBe(7);
    await expect(withTimeout(new Promise(() => undefined), 20, () => new Error('late'))).rejects.toThrow('late');
    await expect(withTimeout(Promise.reject(new Error('own')), 1000, () => new Error('late'))).rejects.toThrow('own');
    vi.useFakeTimers();
    try {
      await withTimeout(Promise.resolve(1), 60_000, () => new Error('late'));
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
