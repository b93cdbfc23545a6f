// A seat is a place in the pool that a worker fills. The engine sees each seat as a lane; when its
// worker ends, hangs or loses its GPU, the seat is filled again by a new worker (after repeated
// GPU device losses, by a WASM worker), while the engine runs the failed batch elsewhere.
import * as Comlink from 'comlink';
import { DisposedError, LaneFaultError } from '../base/errors.js';
import type { Lane } from '../engine/lane-runner.js';
import { maxRowsWithin } from './plan.js';
import { callMember, startMember, stopMember, type PoolMember, type WorkerFactory } from './pool.js';
import type { WorkerLoadRequest } from './protocol.js';
import { flattenRows, unflattenRows, type FlatRows } from '../tokenize/tokenizer.js';

/** What a seat needs to fill itself again. */
export interface SeatSettings {
  factory: WorkerFactory;
  loadTimeoutMs: number;
  batchTimeoutMs: number;
  /** A buffer limit below the device's own, for GPU workers. */
  maxBufferBytes?: number;
  /** The WASM worker a GPU seat falls back to after `maxDeviceLosses` losses (null: none). */
  fallback: WorkerLoadRequest | null;
  maxDeviceLosses: number;
  /** Says what happened (info.reasons). */
  say(line: string): void;
  /** True once the pool is disposed: a worker started after that is ended at once. */
  closed(): boolean;
}

/** A place in the pool and the worker filling it. */
export interface Seat {
  member: PoolMember;
  request: WorkerLoadRequest;
  deviceLosses: number;
  respawning: Promise<void> | null;
  /** Set when a new worker took the seat, until a lane counts that rebuild. */
  unclaimedRebuild: boolean;
}

// Which worker a fault came from: a fault of a worker already replaced needs no new one.
const faultedMember = new WeakMap<Error, PoolMember>();

async function call<T>(seat: Seat, settings: SeatSettings, work: (m: PoolMember) => Promise<T>): Promise<T> {
  // A seat being filled again (by the lane runner, or by the tokenizer after a failed tokenize) is
  // waited for: its old worker is already stopped, and a call to it would fail as a batch error.
  await seat.respawning?.catch(() => undefined);
  const member = seat.member;
  try {
    if (member.stopping) throw new LaneFaultError(member.name, 'crashed', 'the worker was stopped and its replacement did not start');
    return await callMember(member, () => work(member), settings.batchTimeoutMs);
  } catch (error) {
    if (error instanceof LaneFaultError) faultedMember.set(error, member);
    throw error;
  }
}

// Workers whose device loss is counted already: the lanes of one worker each see the loss, and a
// failed replacement is tried again for the same fault; one worker's loss counts once.
const lossCounted = new WeakSet<PoolMember>();

/** Fills the seat with a new worker, once per fault: concurrent callers (the lanes of one worker, its tokenizer calls) share the attempt. */
export function respawn(seat: Seat, settings: SeatSettings, fault: LaneFaultError): Promise<void> {
  const from = faultedMember.get(fault);
  if (from && from !== seat.member) return Promise.resolve(); // already replaced
  seat.respawning ??= (async () => {
    // After dispose nothing is replaced (a tokenizer worker's pieces, failed by its stop, come here);
    // the old worker is left to release, which gives it time to free its session.
    if (settings.closed()) throw new DisposedError();
    const old = seat.member;
    void stopMember(old, 0);
    if (fault.kind === 'device-lost' && !lossCounted.has(old)) {
      lossCounted.add(old);
      seat.deviceLosses++;
    }
    let request = seat.request;
    if (request.device === 'webgpu' && seat.deviceLosses >= settings.maxDeviceLosses && settings.fallback) {
      request = settings.fallback;
      settings.say(`${old.name}: GPU device lost ${seat.deviceLosses} times; its work goes to a WASM worker`);
    }
    const next = await startMember(settings.factory, old.name, request, () => undefined, settings.loadTimeoutMs);
    if (settings.closed()) {
      await stopMember(next);
      throw new LaneFaultError(old.name, 'error', 'the embedder was disposed');
    }
    seat.member = next;
    seat.request = request;
    seat.unclaimedRebuild = true;
    settings.say(`${fault.message}; a new ${request.device} worker took its place`);
  })().finally(() => {
    seat.respawning = null;
  });
  return seat.respawning;
}

/** A seat as an engine lane. */
export function seatLane(seat: Seat, settings: SeatSettings): Lane {
  const run = async (rows: Int32Array[], seq: number, exact: boolean, maskPrefix = 0) => {
    const { vectors, gpuBytes } = await call(seat, settings, (m) => {
      const flat = flattenRows(rows);
      return m.api.run(Comlink.transfer(flat, [flat.flat.buffer, flat.offsets.buffer]), seq, exact, maskPrefix);
    });
    seat.member.gpuBytes = gpuBytes;
    return vectors;
  };
  const runExact = (rows: Int32Array[], seq: number, maskPrefix?: number) => run(rows, seq, true, maskPrefix);
  return {
    get name() {
      return seat.member.name;
    },
    run: (rows, seq, maskPrefix) => run(rows, seq, false, maskPrefix),
    get runExact() {
      return seat.member.info.dtype === 'fp16' ? runExact : undefined;
    },
    maxRows(seq) {
      const m = seat.member;
      if (m.device !== 'webgpu' || !m.shape) return Infinity;
      const limit = Math.min(m.maxBufferBytes ?? Infinity, settings.maxBufferBytes ?? Infinity);
      return Number.isFinite(limit) ? maxRowsWithin(limit, seq, m.shape) : Infinity;
    },
    // The first lane back after a rebuild counts it (true); the worker's other lane, or a lane
    // coming back after the tokenizer's call rebuilt it, finds it counted (false).
    recover: async (fault) => {
      await respawn(seat, settings, fault);
      const mine = seat.unclaimedRebuild;
      seat.unclaimedRebuild = false;
      return mine;
    },
  };
}

/**
 * Tokenizes on the WASM seats in turn (the GPU worker is busiest), on any seat when there are none. A seat whose
 * worker fails is filled again and the texts go to the next seat; bounded by the seats' tries.
 */
export function seatTokenizer(seats: readonly Seat[], settings: SeatSettings) {
  let turn = 0;
  return async (texts: string[]) => {
    const wasm = seats.filter((s) => s.member.device === 'wasm');
    const candidates = wasm.length ? wasm : seats;
    let last: Error | null = null;
    for (let tries = 0; tries < candidates.length + 2; tries++) {
      if (settings.closed()) throw new DisposedError();
      const seat = candidates[turn++ % candidates.length]!;
      try {
        await seat.respawning?.catch(() => undefined);
        const result: FlatRows & { truncated: number } = await call(seat, settings, (m) => m.api.tokenize(texts));
        return { ids: unflattenRows(result), truncated: result.truncated };
      } catch (error) {
        if (!(error instanceof LaneFaultError)) throw error;
        last = error;
        await respawn(seat, settings, error).catch((e: Error) => (last = e));
      }
    }
    throw last!;
  };
}
