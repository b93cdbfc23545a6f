// Runs packed batches on lanes that can fail. Lanes pull from one queue, so a faster lane takes
// more. A batch whose lane fails goes back to the front of the queue and runs again on whichever
// lane frees up first, while the failed lane is rebuilt in the background (a new worker, a new GPU
// device); a batch too big for a lane's memory is split; a reduced-precision result with a NaN,
// an Inf or an off-unit row is run again in full precision. Every wait is bounded: a batch runs at
// most `maxAttempts` times and a lane is rebuilt at most `maxRecoveries` times in a row.
import type { PackedBatch } from '../batch/pack.js';
import { AbortError, DisposedError, InvalidOutputError, LaneFaultError, LanesFailedError } from '../base/errors.js';
import { createLaneGate, type LaneGate, type Priority } from './lane-gate.js';
import { jitteredBackoff } from '../util/backoff.js';

/** Runs one padded batch of token rows at a time and returns its [rows, dim] vectors. */
export interface Lane {
  /** Names the lane in errors and reports (a worker's name). */
  readonly name?: string;
  /** `maskPrefix`: leading tokens of each row (a prompt) left out of the pooling, for models pooled without their prompt. */
  run(rows: Int32Array[], seq: number, maskPrefix?: number): Promise<Float32Array>;
  /** Runs in full precision; offered by lanes whose `run` is reduced precision (fp16). */
  runExact?(rows: Int32Array[], seq: number, maskPrefix?: number): Promise<Float32Array>;
  /** The most rows of `seq` tokens one run may take (the device's buffer limits); absent: no limit. */
  maxRows?(seq: number): number;
  /**
   * Rebuilds the lane after a LaneFaultError (a new worker, a new device); absent: retried as it
   * is. Resolves false when another lane over the same worker rebuilt it (counted once).
   */
  recover?(fault: LaneFaultError): Promise<boolean | void>;
}

/** How failures are retried; every field has a default. */
export interface ResiliencePolicy {
  /** Runs of one batch before the call fails (default 3). */
  maxAttempts?: number;
  /** Rebuilds of one lane in a row before it is given up (default 3). */
  maxRecoveries?: number;
  /** First backoff delay, doubled each time, with ±50% jitter (default 100 ms). */
  baseDelayMs?: number;
  /** Largest backoff delay (default 2,000 ms). */
  maxDelayMs?: number;
}

/** What the runner did about failures: counted in stats, said in info.reasons. */
export interface LaneEvents {
  retried?(lane: string, error: Error): void;
  recovered?(lane: string, ms: number): void;
  lost?(lane: string, error: Error): void;
  split?(lane: string, rows: number, seq: number, error: Error): void;
  rerunExact?(lane: string, rows: number): void;
}

/** A lane with what the runner remembers of it across calls. */
export interface LaneSlot {
  lane: Lane;
  name: string;
  gate: LaneGate;
  /** Set while the lane is rebuilt; its loops wait for it. */
  recovering: Promise<void> | null;
  /** Why the lane is out for good. */
  dead: Error | null;
  /** Tokens one run may take on this lane, lowered after an out-of-memory failure. */
  tokenBudget: number;
  /** Failures since the last success, for the backoff. */
  failures: number;
}

/** Wraps lanes into slots (one gate each). */
export function laneSlots(lanes: readonly Lane[]): LaneSlot[] {
  return lanes.map((lane, i) => ({
    lane, name: lane.name ?? `lane ${i}`, gate: createLaneGate(), recovering: null, dead: null, tokenBudget: Infinity, failures: 0,
  }));
}

/** How a call's rows are checked and handed back. */
export interface LaneRunOptions {
  signal?: AbortSignal;
  /** null: no gates (one caller owns the lanes). */
  priority: Priority | null;
  policy?: ResiliencePolicy;
  events?: LaneEvents;
  /** Vector length; with it every row is checked (finite, and unit length when `normalized`). */
  dim?: number;
  normalized?: boolean;
  /** Leading tokens of every row left out of the pooling (the call's prompt, when the model excludes it). */
  maskPrefix?: number;
  /** Maps a batch's row index to the caller's text index, for error messages. */
  textIndex?: (index: number) => number;
  random?: () => number;
  /**
   * Called once, when every batch has been handed to a lane (some may still run, or come back to
   * be retried): the caller may start the next batches then, so no lane idles at the seam.
   */
  onDrained?: () => void;
}

/** True for the failures of an allocation: ORT's and WebGPU's out-of-memory, a buffer over the device's limits. */
export function isOutOfMemory(error: unknown): boolean {
  const e = error as { name?: string; message?: string } | null;
  if (!e) return false;
  if (e.name === 'OutOfMemoryError' || e.name === 'GPUOutOfMemoryError') return true;
  return /out of memory|\boom\b|bad_alloc|failed to allocate|allocation failed|exceeds the max(imum)? (buffer|binding)|maxStorageBufferBindingSize|maxBufferSize/i.test(e.message ?? '');
}

/**
 * The first row that is not a finite vector (of unit length when normalized), with why; null when all are.
 * Every value of every batch passes through here, on the thread that runs the lanes: four
 * independent sums take about half the time of one (bench/README.md, 2026-11-28).
 */
export function firstBadRow(vectors: Float32Array, dim: number, normalized: boolean): { row: number; reason: string } | null {
  const rows = vectors.length / dim;
  for (let r = 0; r < rows; r++) {
    const end = (r + 1) * dim;
    let j = r * dim;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; j + 4 <= end; j += 4) {
      const a = vectors[j]!, b = vectors[j + 1]!, c = vectors[j + 2]!, d = vectors[j + 3]!;
      s0 += a * a;
      s1 += b * b;
      s2 += c * c;
      s3 += d * d;
    }
    for (; j < end; j++) s0 += vectors[j]! * vectors[j]!;
    const sum = s0 + s1 + s2 + s3;
    if (!Number.isFinite(sum)) return { row: r, reason: 'has NaN or Inf components' };
    // fp16 outputs cast to fp32 keep unit length to about 1e-3.
    if (normalized && Math.abs(Math.sqrt(sum) - 1) > 1e-2) return { row: r, reason: `has length ${Math.sqrt(sum).toFixed(4)} after normalisation` };
  }
  return null;
}

/** Exponential backoff with ±50% jitter: the delay before the n-th retry (n from 1). */
export function backoffMs(n: number, policy: ResiliencePolicy = {}, random: () => number = Math.random): number {
  const { baseDelayMs = 100, maxDelayMs = 2000 } = policy;
  return Math.round(jitteredBackoff(n, baseDelayMs, maxDelayMs, random));
}

/** Splits `count` rows into consecutive chunks of at most `size`. */
export function chunkRanges(count: number, size: number): [number, number][] {
  const step = Math.max(1, Math.floor(size));
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += step) ranges.push([start, Math.min(count, start + step)]);
  return ranges;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface WorkItem {
  batch: PackedBatch;
  attempts: number;
  errors: Error[];
}

/**
 * Runs every batch on the lanes and hands each batch's rows to `onRows`, in completion order.
 * Rejects with AbortError on abort, InvalidOutputError for a bad vector in full precision, or
 * LanesFailedError when a batch has failed `maxAttempts` times or no lane is left.
 */
export async function runOnLanes(
  slots: readonly LaneSlot[], batches: readonly PackedBatch[], ids: readonly Int32Array[],
  options: LaneRunOptions, onRows: (batch: PackedBatch, rows: Float32Array) => void,
): Promise<void> {
  const { signal, policy = {}, events = {}, random = Math.random } = options;
  const maxAttempts = policy.maxAttempts ?? 3;
  const queue: WorkItem[] = batches.map((batch) => ({ batch, attempts: 0, errors: [] }));
  let drained = false;
  const drainedOnce = () => {
    if (drained) return;
    drained = true;
    options.onDrained?.();
  };
  if (!queue.length) drainedOnce();
  let inFlight = 0;
  let failure: Error | null = null;
  let wake: () => void = () => {};
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    wake();
    changed = new Promise<void>((r) => (wake = r));
  };
  const stop = (error: Error) => {
    failure ??= error;
    notify();
  };

  const runSized = async (slot: LaneSlot, rows: Int32Array[], seq: number): Promise<Float32Array> => {
    const limit = Math.max(1, Math.min(slot.lane.maxRows?.(seq) ?? Infinity, Math.floor(slot.tokenBudget / seq)));
    if (rows.length > limit) {
      const parts: Float32Array[] = [];
      for (const [a, b] of chunkRanges(rows.length, limit)) parts.push(await runSized(slot, rows.slice(a, b), seq));
      return concat(parts);
    }
    try {
      return await slot.lane.run(rows, seq, options.maskPrefix);
    } catch (error) {
      if (rows.length > 1 && isOutOfMemory(error)) {
        // Memory-aware batch size: this lane takes at most half as many tokens from now on.
        slot.tokenBudget = Math.floor(rows.length / 2) * seq;
        events.split?.(slot.name, rows.length, seq, error as Error);
        return runSized(slot, rows, seq);
      }
      throw error;
    }
  };

  const runChecked = async (slot: LaneSlot, item: WorkItem): Promise<Float32Array> => {
    const rows = item.batch.indices.map((i) => ids[i]!);
    const seq = item.batch.paddedLength;
    let vectors = await runSized(slot, rows, seq);
    if (options.dim === undefined) return vectors;
    let bad = firstBadRow(vectors, options.dim, options.normalized ?? false);
    if (bad && slot.lane.runExact) {
      events.rerunExact?.(slot.name, rows.length);
      vectors = await slot.lane.runExact(rows, seq, options.maskPrefix);
      bad = firstBadRow(vectors, options.dim, options.normalized ?? false);
    }
    if (bad) {
      const index = item.batch.indices[bad.row]!;
      throw new InvalidOutputError(options.textIndex ? options.textIndex(index) : index, `${bad.reason}${slot.lane.runExact ? ' in full precision too' : ''}`);
    }
    return vectors;
  };

  const recover = (slot: LaneSlot, fault: LaneFaultError): Promise<void> => {
    slot.recovering ??= (async () => {
      const started = performance.now();
      const errors: Error[] = [fault];
      for (let n = 1; n <= (policy.maxRecoveries ?? 3); n++) {
        await sleep(backoffMs(n, policy, random));
        try {
          const rebuilt = await slot.lane.recover!(fault);
          if (rebuilt !== false) events.recovered?.(slot.name, performance.now() - started);
          return;
        } catch (error) {
          // Disposed meanwhile: nothing is lost, and nothing is left to rebuild for.
          if (error instanceof DisposedError) return;
          errors.push(error as Error);
        }
      }
      slot.dead = new LanesFailedError(`${slot.name} could not be rebuilt after ${errors.length - 1} tries: ${errors.at(-1)!.message}`, errors);
      events.lost?.(slot.name, slot.dead);
    })().finally(() => {
      slot.recovering = null;
      notify();
    });
    return slot.recovering;
  };

  const laneLoop = async (slot: LaneSlot): Promise<void> => {
    while (!failure) {
      // A failure elsewhere ends the wait for a rebuild, which may take several tries.
      if (slot.recovering) await Promise.race([slot.recovering, changed]);
      if (slot.dead) return;
      if (slot.recovering) continue;
      if (!queue.length) {
        if (!inFlight) return;
        await changed; // a batch in flight elsewhere may come back
        continue;
      }
      const release = options.priority ? await slot.gate.acquire(options.priority) : () => undefined;
      let item: WorkItem | undefined;
      try {
        // Another lane may have taken the last batch while this one waited at its gate.
        if (failure || !queue.length || slot.dead || slot.recovering) continue;
        if (signal?.aborted) throw new AbortError(signal.reason);
        item = queue.shift()!;
        inFlight++;
        if (!queue.length) drainedOnce();
        item.attempts++;
        const rows = await runChecked(slot, item);
        slot.failures = 0;
        if (!failure) onRows(item.batch, rows);
      } catch (error) {
        if (!item || error instanceof AbortError || error instanceof InvalidOutputError || failure) {
          stop(error as Error);
          return;
        }
        item.errors.push(error as Error);
        if (item.attempts >= maxAttempts) {
          stop(new LanesFailedError(`a batch of ${item.batch.indices.length} texts failed ${item.attempts} times; last on ${slot.name}: ${(error as Error).message}`, item.errors));
          return;
        }
        events.retried?.(slot.name, error as Error);
        queue.unshift(item); // next in line, on whichever lane frees up first
        slot.failures++;
        if (error instanceof LaneFaultError && slot.lane.recover) void recover(slot, error);
        else await sleep(backoffMs(slot.failures, policy, random));
      } finally {
        if (item) inFlight--;
        release();
        notify();
      }
    }
  };

  await Promise.all(slots.map(laneLoop));
  if (failure) throw failure;
  if (queue.length) {
    const causes = slots.map((s) => s.dead).filter((e): e is Error => e !== null);
    throw new LanesFailedError(`no lane is left to run ${queue.length} batches: ${causes.map((e) => e.message).join('; ')}`, causes);
  }
}

function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
