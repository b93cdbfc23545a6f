// The pull scheduler: lanes take batches from one queue, so a faster lane takes more.
import { describe, expect, it } from 'vitest';
import { runOnLanes, type Lane } from '../../src/core/engine.js';
import { AbortError } from '../../src/core/errors.js';
import type { PackedBatch } from '../../src/batch/pack.js';

const batches: PackedBatch[] = Array.from({ length: 30 }, (_, b) => ({ indices: [2 * b, 2 * b + 1], paddedLength: 3 }));
const ids = Array.from({ length: 60 }, (_, i) => Int32Array.from([i, i, i]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lane(name: string, ms: number, log: string[]): Lane {
  return {
    async run(rows) {
      await sleep(ms);
      log.push(name);
      return Float32Array.from(rows.map((r) => r[0]!)); // dim 1: the row's first id
    },
  };
}

describe('runOnLanes', () => {
  it('runs every batch once, faster lanes taking more, and hands back the right rows', async () => {
    const log: string[] = [];
    const seen = new Map<number, number>();
    await runOnLanes([lane('fast', 2, log), lane('slow', 12, log)], batches, ids, undefined, null, (batch, rows) => {
      batch.indices.forEach((index, r) => seen.set(index, rows[r]!));
    });
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
    for (const [index, value] of seen) expect(value).toBe(index);
    const fast = log.filter((n) => n === 'fast').length;
    expect(fast + log.filter((n) => n === 'slow').length).toBe(30);
    expect(fast).toBeGreaterThan(20);
  });

  it('stops pulling when a lane fails, and reports the failure', async () => {
    let runs = 0;
    const failing: Lane = { run: async () => { await sleep(1); if (++runs === 3) throw new Error('device lost'); return new Float32Array(2); } };
    await expect(runOnLanes([failing], batches, ids, undefined, null, () => {})).rejects.toThrow('device lost');
    expect(runs).toBe(3);
  });

  it('stops within one batch of an abort', async () => {
    const controller = new AbortController();
    let done = 0;
    const log: string[] = [];
    const run = runOnLanes([lane('a', 2, log)], batches, ids, controller.signal, null, () => { if (++done === 4) controller.abort(); });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(done).toBe(4);
  });
});
