// Who runs next on a lane: a lane runs one batch at a time, and when it frees up it goes to the
// waiting batch of the highest priority, first come first served within a priority. A bulk run
// holds a lane only for one batch at a time, so a high-priority call waits at most for the batch
// in flight (for two, where two lanes share one device: batchesInFlight).

import type { Priority } from '../base/types.js';

export type { Priority };

const RANK: Record<Priority, number> = { high: 0, normal: 1 };

/** A lane's turnstile: acquire before running a batch on it, call the release after. */
export interface LaneGate {
  acquire(priority: Priority): Promise<() => void>;
}

/** Makes the gate of one lane. */
export function createLaneGate(): LaneGate {
  let busy = false;
  const waiting: { rank: number; seq: number; grant: () => void }[] = [];
  let seq = 0;
  const release = (): void => {
    if (!waiting.length) {
      busy = false;
      return;
    }
    let best = 0;
    for (let i = 1; i < waiting.length; i++) {
      const w = waiting[i]!;
      const b = waiting[best]!;
      if (w.rank < b.rank || (w.rank === b.rank && w.seq < b.seq)) best = i;
    }
    waiting.splice(best, 1)[0]!.grant();
  };
  return {
    acquire(priority) {
      let released = false;
      const once = () => {
        if (!released) {
          released = true;
          release();
        }
      };
      if (!busy) {
        busy = true;
        return Promise.resolve(once);
      }
      return new Promise((granted) => waiting.push({ rank: RANK[priority], seq: seq++, grant: () => granted(once) }));
    },
  };
}
