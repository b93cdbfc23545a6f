// The pull scheduler: lanes take batches from one queue, so a faster lane takes more; a failed
// batch runs again elsewhere while its lane is rebuilt; a batch that does not fit is split; a bad
// reduced-precision result runs again in full precision. Faults are injected through the Lane seam.
import { describe, expect, it } from 'vitest';
import { backoffMs, chunkRanges, firstBadRow, isOutOfMemory, laneSlots, runOnLanes, type Lane, type LaneRunOptions } from '../../src/engine/lane-runner.js';
import { AbortError, InvalidOutputError, LaneFaultError, LanesFailedError } from '../../src/base/errors.js';
import type { PackedBatch } from '../../src/batch/pack.js';

const batches: PackedBatch[] = Array.from({ length: 30 }, (_, b) => ({ indices: [2 * b, 2 * b + 1], paddedLength: 3 }));
const ids = Array.from({ length: 60 }, (_, i) => Int32Array.from([i, i, i]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fast = { baseDelayMs: 1, maxDelayMs: 5 };

/** dim 1: a row's vector is its first token id, so every row says which text it is. */
function lane(name: string, ms: number, log: string[] = []): Lane {
  return {
    name,
    async run(rows) {
      await sleep(ms);
      log.push(name);
      return Float32Array.from(rows.map((r) => r[0]!));
    },
  };
}

async function collect(lanes: Lane[], options: Partial<LaneRunOptions> = {}, list = batches): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  await runOnLanes(laneSlots(lanes), list, ids, { priority: null, policy: fast, dim: 1, ...options }, (batch, rows) => {
    batch.indices.forEach((index, r) => {
      expect(seen.has(index)).toBe(false); // every row handed back once
      seen.set(index, rows[r]!);
    });
  });
  return seen;
}

function expectAllRows(seen: Map<number, number>, count = 60): void {
  expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
  for (const [index, value] of seen) expect(value).toBe(index);
}

describe('runOnLanes', () => {
  it('runs every batch once, faster lanes taking more, and hands back the right rows', async () => {
    const log: string[] = [];
    expectAllRows(await collect([lane('fast', 2, log), lane('slow', 12, log)]));
    const fastRuns = log.filter((n) => n === 'fast').length;
    expect(fastRuns + log.filter((n) => n === 'slow').length).toBe(30);
    expect(fastRuns).toBeGreaterThan(20);
  });

  it('stops within one batch of an abort', async () => {
    const controller = new AbortController();
    let done = 0;
    const run = runOnLanes(laneSlots([lane('a', 2)]), batches, ids, { signal: controller.signal, priority: null }, () => { if (++done === 4) controller.abort(); });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(done).toBe(4);
  });

  it('a lane that crashes at 3 moments is rebuilt each time, its batches run elsewhere, and every row comes back right', async () => {
    const crashAt = new Set([2, 9, 17]);
    let runs = 0;
    let recoveries = 0;
    let broken = false;
    const flaky: Lane = {
      name: 'flaky',
      async run(rows) {
        await sleep(2);
        if (broken) throw new LaneFaultError('flaky', 'crashed', 'still down'); // must not be used before recover
        if (crashAt.has(++runs)) {
          broken = true;
          throw new LaneFaultError('flaky', 'crashed', `worker terminated at run ${runs}`);
        }
        return Float32Array.from(rows.map((r) => r[0]!));
      },
      async recover() {
        await sleep(5);
        recoveries++;
        broken = false;
      },
    };
    const retried: string[] = [];
    const seen = await collect([flaky, lane('steady', 4)], { events: { retried: (l) => retried.push(l) } });
    expectAllRows(seen);
    expect(recoveries).toBe(3);
    expect(retried).toEqual(['flaky', 'flaky', 'flaky']);
  });

  it('two lanes over one worker (two batches in flight): a crash fails both, the worker is rebuilt once and counted once', async () => {
    let generation = 0;
    let rebuilds = 0;
    let rebuilding: Promise<void> | null = null;
    let runs = 0;
    const crashAt = new Set([5, 14]);
    // The worker's two lanes see the same crash; the first to recover rebuilds it, the other joins.
    const overWorker = (name: string): Lane => ({
      name,
      async run(rows) {
        const mine = generation;
        await sleep(2);
        if (crashAt.has(++runs)) generation = -Math.abs(generation) - 1; // the worker dies
        if (generation < 0 || mine !== generation) throw new LaneFaultError(name, 'crashed', 'the worker ended');
        return Float32Array.from(rows.map((r) => r[0]!));
      },
      async recover() {
        if (generation >= 0) return false; // rebuilt already by the other lane
        if (rebuilding) return rebuilding.then(() => false);
        rebuilding = (async () => {
          await sleep(5);
          rebuilds++;
          generation = rebuilds;
        })().finally(() => (rebuilding = null));
        return rebuilding.then(() => true);
      },
    });
    const recovered: string[] = [];
    const seen = await collect([overWorker('gpu'), overWorker('gpu')], { events: { recovered: (l) => recovered.push(l) } });
    expectAllRows(seen);
    expect(rebuilds).toBe(2);
    expect(recovered).toEqual(['gpu', 'gpu']);
  });

  it('with every lane failing, rejects with LanesFailedError naming the cause, within its bounds', async () => {
    const dying = (name: string): Lane => ({
      name,
      run: async () => { throw new LaneFaultError(name, 'crashed', 'worker terminated'); },
      recover: async () => undefined,
    });
    const started = performance.now();
    const error = await collect([dying('w0'), dying('w1')]).catch((e) => e);
    expect(error).toBeInstanceOf(LanesFailedError);
    expect(error.message).toMatch(/failed 3 times; last on w[01]: w[01]: worker terminated/);
    expect(error.causes).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('gives up a lane that cannot be rebuilt and finishes on the others; with none left, says so', async () => {
    const cannot: Lane = {
      name: 'gpu',
      run: async () => { throw new LaneFaultError('gpu', 'device-lost', 'GPU device lost'); },
      recover: async () => { throw new Error('no adapter'); },
    };
    const lost: string[] = [];
    expectAllRows(await collect([cannot, lane('wasm', 3)], { events: { lost: (l) => lost.push(l) } }));
    expect(lost).toEqual(['gpu']);
    const alone = await collect([cannot], { policy: { ...fast, maxAttempts: 10 } }).catch((e) => e);
    expect(alone).toBeInstanceOf(LanesFailedError);
    expect(alone.message).toMatch(/no lane is left to run 30 batches: gpu could not be rebuilt after 3 tries: no adapter/);
  });

  it('retries an ordinary failure with backoff, and fails after maxAttempts with every cause', async () => {
    let runs = 0;
    const hiccup: Lane = { name: 'h', run: async (rows) => { if (++runs === 5) throw new Error('transient'); return Float32Array.from(rows.map((r) => r[0]!)); } };
    expectAllRows(await collect([hiccup]));
    const broken: Lane = { name: 'b', run: async () => { throw new Error('always'); } };
    const error = await collect([broken]).catch((e) => e);
    expect(error).toBeInstanceOf(LanesFailedError);
    expect(error.causes.map((e: Error) => e.message)).toEqual(['always', 'always', 'always']);
  });

  it('splits a batch that runs out of memory, and the lane takes smaller batches from then on', async () => {
    const big: PackedBatch[] = Array.from({ length: 6 }, (_, b) => ({ indices: Array.from({ length: 10 }, (_, i) => b * 10 + i), paddedLength: 3 }));
    const sizes: number[] = [];
    let ooms = 0;
    const small: Lane = {
      name: 'gpu',
      async run(rows) {
        if (rows.length > 4) {
          ooms++;
          throw new Error('WebGPU: failed to allocate a buffer (out of memory)');
        }
        sizes.push(rows.length);
        return Float32Array.from(rows.map((r) => r[0]!));
      },
    };
    const split: number[] = [];
    expectAllRows(await collect([small], { events: { split: (_, rows) => split.push(rows) } }, big));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    // 10 rows fail, 5 fail, then the lane's budget is 2 rows x 3 tokens: no more failures.
    expect(split).toEqual([10, 5]);
    expect(ooms).toBe(2);
  });

  it('keeps every run within a lane\'s maxRows', async () => {
    const sizes: number[] = [];
    const limited: Lane = { ...lane('l', 0), maxRows: (seq) => (seq >= 3 ? 1 : 8), run: async (rows) => { sizes.push(rows.length); return Float32Array.from(rows.map((r) => r[0]!)); } };
    expectAllRows(await collect([limited]));
    expect(sizes.every((n) => n === 1)).toBe(true);
  });

  it('runs a batch again in full precision when a row comes back NaN, Inf or off unit length', async () => {
    const unit = (rows: Int32Array[]) => Float32Array.from(rows.flatMap((r) => [Math.cos(r[0]!), Math.sin(r[0]!)]));
    let exact = 0;
    const half: Lane = {
      name: 'fp16',
      run: async (rows) => {
        const out = unit(rows);
        rows.forEach((r, k) => {
          if (r[0] === 7) out[2 * k + 1] = NaN;
          if (r[0] === 20) out[2 * k] = 3;
        });
        return out;
      },
      runExact: async (rows) => { exact++; return unit(rows); },
    };
    const seen = new Map<number, number>();
    await runOnLanes(laneSlots([half]), batches, ids, { priority: null, dim: 2, normalized: true }, (batch, rows) => {
      batch.indices.forEach((index, r) => seen.set(index, Math.atan2(rows[2 * r + 1]!, rows[2 * r]!)));
    });
    expect(exact).toBe(2);
    for (const [index, angle] of seen) expect(Math.abs(Math.atan2(Math.sin(index), Math.cos(index)) - angle)).toBeLessThan(1e-6);
    const noExact: Lane = { name: 'fp32', run: half.run };
    const error = await runOnLanes(
      laneSlots([noExact]), batches, ids, { priority: null, dim: 2, normalized: true, textIndex: (i) => 1000 + i }, () => {},
    ).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOutputError);
    expect(error.message).toBe('the vector of text 1007 has NaN or Inf components');
  });
});

describe('resilience helpers', () => {
  it('classifies allocation failures', () => {
    expect(isOutOfMemory(new Error('Failed to allocate memory for requested buffer of size 123'))).toBe(true);
    expect(isOutOfMemory(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isOutOfMemory(Object.assign(new Error('x'), { name: 'GPUOutOfMemoryError' }))).toBe(true);
    expect(isOutOfMemory(new Error('Binding size (300000000) is larger than the maximum binding size (134217728). maxStorageBufferBindingSize'))).toBe(true);
    expect(isOutOfMemory(new Error('invalid input'))).toBe(false);
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffMs(1, { baseDelayMs: 100 }, () => 0.5)).toBe(100);
    expect(backoffMs(3, { baseDelayMs: 100 }, () => 0.5)).toBe(400);
    expect(backoffMs(3, { baseDelayMs: 100 }, () => 0)).toBe(200);
    expect(backoffMs(20, { baseDelayMs: 100, maxDelayMs: 2000 }, () => 0.999)).toBeLessThan(3000);
  });

  it('finds the first bad row and chunks ranges', () => {
    expect(firstBadRow(Float32Array.from([1, 0, 0, 1]), 2, true)).toBeNull();
    expect(firstBadRow(Float32Array.from([1, 0, Infinity, 0]), 2, true)?.row).toBe(1);
    expect(firstBadRow(Float32Array.from([2, 0]), 2, false)).toBeNull();
    expect(chunkRanges(10, 4)).toEqual([[0, 4], [4, 8], [8, 10]]);
  });

  it('checks every component of rows of any width: a NaN, an Inf or a wrong length anywhere in a row is found', () => {
    for (const dim of [1, 3, 4, 6, 384, 387]) {
      const rows = 5;
      // Unit rows whose length comes from all components alike (1 / sqrt(dim) each).
      const unit = () => Float32Array.from({ length: rows * dim }, () => 1 / Math.sqrt(dim));
      expect(firstBadRow(unit(), dim, true)).toBeNull();
      // A spread of columns (every one for narrow rows), so the four running sums and the remainder each meet a bad value.
      for (let col = 0; col < dim; col += Math.max(1, Math.floor(dim / 7))) {
        for (const [bad, reason] of [[NaN, /NaN or Inf/], [-Infinity, /NaN or Inf/], [3, /has length/]] as const) {
          const v = unit();
          v[3 * dim + col] = bad;
          const found = firstBadRow(v, dim, true);
          expect(found?.row, `dim ${dim}, column ${col}, value ${bad}`).toBe(3);
          expect(found?.reason).toMatch(reason);
        }
      }
      // Unnormalized output: only non-finite values count.
      const long = unit().map((x) => 5 * x);
      expect(firstBadRow(long, dim, false)).toBeNull();
      expect(firstBadRow(long, dim, true)?.row).toBe(0);
    }
  });
});
