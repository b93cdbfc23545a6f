// The coordinator on the main thread: starts workers, loads the model in each, and presents
// them to the shared engine as lanes. The main thread only coordinates: tokenizing and inference
// run in the workers, and token rows and vectors cross as transferred buffers.
import * as Comlink from 'comlink';
import { AbortError, LaneFaultError, TokenizerThreadError, WorkerStartError } from '../base/errors.js';
import type { EmbedderInfo } from '../base/types.js';
import type { TokenizerThread } from '../tokenize/parallel.js';
import { unflattenRows } from '../tokenize/tokenizer.js';
import type { TokenizerLoadRequest, WorkerApi, WorkerLoadProgress, WorkerLoadRequest, WorkerLoadResult } from './protocol.js';
import { raceAgainst, withTimeout } from '../util/race.js';

/** Makes a dedicated module worker running worker.js; injectable for tests and unusual bundlers. */
export type WorkerFactory = (name: string) => Worker;

// Written exactly as `new Worker(new URL(...), ...)`: that is the form bundlers (Vite among them)
// recognise to build the worker with its imports; a URL made apart is copied as a raw asset.
export const defaultWorkerFactory: WorkerFactory = (name) =>
  new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name });

/** A loaded worker. */
export interface PoolMember {
  name: string;
  device: 'webgpu' | 'wasm';
  info: EmbedderInfo;
  api: Comlink.Remote<WorkerApi>;
  worker: Worker;
  /** GPU buffer bytes this worker held after its last batch. */
  gpuBytes: number;
  shape: WorkerLoadResult['shape'];
  maxBufferBytes: number | null;
  /** Settles with the fault when the worker ends or throws an uncaught error; never rejects. */
  died: Promise<LaneFaultError>;
  /** Set when the pool ends the worker itself, so its end is not a fault. */
  stopping: boolean;
}

/** Default of `loadTimeoutMs`: how long a loading worker may go without reporting progress. */
export const DEFAULT_LOAD_TIMEOUT_MS = 60_000;
/** Default of `batchTimeoutMs`: the longest one batch may run before its worker is counted as hung. */
export const DEFAULT_BATCH_TIMEOUT_MS = 300_000;

const WORKER_ENDED = 'the worker ended (terminated, crashed or out of memory)';

let lockSerial = 0;

/**
 * A Web Lock for a worker to hold for its whole life, and a way to learn when it ends: the browser
 * grants the lock here the moment the worker ends in any way (terminated, crashed, killed for
 * memory), where no event says so. No name where the browser has no Web Locks; `onEnd` is called
 * only once the worker says it holds the lock (else the lock would be granted at once), and a
 * request the page is refused (an opaque origin) learns nothing.
 */
function aliveLockFor(name: string): { lock?: string; onEnd: (ended: () => void) => void } {
  const locks = (globalThis.navigator as Navigator & { locks?: LockManager } | undefined)?.locks;
  if (!locks) return { onEnd: () => undefined };
  const lock = `bulk-embed-alive-${name}-${Date.now()}-${lockSerial++}-${Math.random().toString(36).slice(2)}`;
  return { lock, onEnd: (ended) => void locks.request(lock, () => ended()).catch(() => undefined) };
}

/**
 * Starts one worker and loads the model in it. Rejects with the load's own error when loading
 * throws, or a WorkerStartError when the worker's script fails or the worker reports no progress
 * for `timeoutMs` (a blocked request can leave a load waiting forever), or an AbortError when
 * `signal` aborts; the worker is terminated.
 */
export async function startMember(
  factory: WorkerFactory, name: string, request: WorkerLoadRequest, onProgress: (name: string, p: WorkerLoadProgress) => void,
  timeoutMs = DEFAULT_LOAD_TIMEOUT_MS, signal?: AbortSignal,
): Promise<PoolMember> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fail: (error: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const abort = () => fail(new AbortError(signal?.reason));
  signal?.addEventListener('abort', abort, { once: true });
  if (signal?.aborted) abort();
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => fail(new WorkerStartError(name, `no progress for ${timeoutMs} ms while loading (see loadTimeoutMs)`)), timeoutMs);
  };
  arm();
  let worker: Worker | undefined;
  let faulted: (fault: LaneFaultError) => void = () => {};
  const died = new Promise<LaneFaultError>((r) => (faulted = r));
  let loaded = false;
  try {
    worker = factory(name);
    const api = Comlink.wrap<WorkerApi>(worker);
    worker.addEventListener('error', (e) => {
      if (loaded) {
        faulted(new LaneFaultError(name, 'error', `uncaught error in the worker: ${e.message || 'unknown'}`));
        return;
      }
      // A module script that fails to load gives an ErrorEvent with no message; say what that means,
      // which script it was, and how each bundler is told to emit it.
      const reason = e.message ||
        "its script (bulk-embed's worker.js, as the app's bundler emitted it) did not load or threw while importing " +
          '(a missing or blocked file, or an import the bundler left unresolved: the browser console shows which). ' +
          "With Vite, add the plugin from 'bulk-embed/vite'; with esbuild or Rollup, make 'bulk-embed/worker' an entry named worker " +
          "in your script's output folder; webpack and Parcel build it themselves (Parcel: see its package.json fields); elsewhere " +
          'pass a workerFactory that starts it (README, "Other bundlers, no bundler, your own worker")';
      fail(new WorkerStartError(name, reason));
    });
    const report = Comlink.proxy((p: WorkerLoadProgress) => {
      arm();
      onProgress(name, p);
    });
    const alive = aliveLockFor(name);
    const result = await Promise.race([api.load({ ...request, aliveLock: alive.lock }, report), failed]);
    const member: PoolMember = {
      name, device: request.device, info: result.info, api, worker, gpuBytes: await Promise.race([api.gpuBytes(), failed]),
      shape: result.shape, maxBufferBytes: result.maxBufferBytes, died, stopping: false,
    };
    loaded = true;
    if (result.aliveLockHeld) alive.onEnd(() => faulted(new LaneFaultError(name, 'crashed', WORKER_ENDED)));
    return member;
  } catch (error) {
    // Errors thrown by the load itself arrive through Comlink with their name and message kept.
    worker?.terminate();
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
}

const deathRaces = new WeakMap<PoolMember, <T>(call: Promise<T>) => Promise<T>>();
/** Races a member's calls against its death, one race per member (see util/race.ts: a plain race kept every batch's vectors). */
function untilDeath(member: PoolMember): <T>(call: Promise<T>) => Promise<T> {
  let race = deathRaces.get(member);
  if (!race) deathRaces.set(member, (race = raceAgainst(member.died.then((fault) => Promise.reject(fault)))));
  return race;
}

/** Calls a worker, bounded: a worker that ends, throws uncaught, loses its GPU or exceeds the timeout gives a LaneFaultError. */
export async function callMember<T>(member: PoolMember, call: () => Promise<T>, timeoutMs: number): Promise<T> {
  try {
    return await withTimeout(untilDeath(member)(call()), timeoutMs,
      () => new LaneFaultError(member.name, 'timeout', `a call took longer than ${timeoutMs} ms (see batchTimeoutMs)`));
  } catch (error) {
    if ((error as Error).name === 'DeviceLostError') throw new LaneFaultError(member.name, 'device-lost', (error as Error).message, { cause: error });
    throw error;
  }
}

/** Ends a member's worker, releasing its session first when it still answers. */
export async function stopMember(member: PoolMember, graceMs = 2000): Promise<void> {
  // Stopped already (a replaced worker whose replacement failed stays in its seat): its proxy is released.
  if (member.stopping) return;
  member.stopping = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // A dead or hung worker cannot answer: wait for its goodbye only so long.
    await Promise.race([member.api.dispose().catch(() => undefined), member.died, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  } finally {
    clearTimeout(timer);
    member.api[Comlink.releaseProxy]();
    member.worker.terminate();
  }
}

/** Releases every member's session (freeing GPU memory) and ends its worker. */
export async function stopMembers(members: readonly PoolMember[]): Promise<void> {
  await Promise.all(members.map((m) => stopMember(m)));
}

/**
 * Starts a worker that only tokenizes (worker.js, loading the tokenizer files alone). Rejects with
 * a WorkerStartError when it does not load within `timeoutMs`; a worker that fails later (ends,
 * throws, or takes longer than `callTimeoutMs` over a call) rejects its calls, and the caller
 * tokenizes those texts elsewhere.
 */
export async function startTokenizerWorker(
  factory: WorkerFactory, name: string, request: TokenizerLoadRequest, timeoutMs = DEFAULT_LOAD_TIMEOUT_MS, signal?: AbortSignal,
  callTimeoutMs = DEFAULT_BATCH_TIMEOUT_MS,
): Promise<TokenizerThread> {
  const worker = factory(name);
  const api = Comlink.wrap<WorkerApi>(worker);
  let fail: (error: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  const abort = () => fail(new AbortError(signal?.reason));
  signal?.addEventListener('abort', abort, { once: true });
  if (signal?.aborted) abort();
  let loaded = false;
  worker.addEventListener('error', (e) => fail(loaded
    ? new TokenizerThreadError(name, `uncaught error in the worker: ${e.message || 'unknown'}`)
    : new WorkerStartError(name, e.message || 'its script did not load or threw')));
  const timer = setTimeout(() => fail(new WorkerStartError(name, `the tokenizer did not load in ${timeoutMs} ms`)), timeoutMs);
  const alive = aliveLockFor(name);
  let aliveLockHeld = false;
  try {
    ({ aliveLockHeld } = await Promise.race([api.loadTokenizer({ ...request, aliveLock: alive.lock }), failed]));
  } catch (error) {
    worker.terminate();
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
  loaded = true;
  // A worker that ends fails its calls still out (else they would wait for ever); after a stop, a no-op.
  if (aliveLockHeld) alive.onEnd(() => fail(new TokenizerThreadError(name, WORKER_ENDED)));
  const untilFailed = raceAgainst(failed);
  let stopped = false;
  return {
    async encode(texts) {
      // A worker that neither ends nor answers (stuck) is bounded as a model worker's batch is.
      const result = await withTimeout(untilFailed(api.tokenize(texts)), callTimeoutMs,
        () => new TokenizerThreadError(name, `a call took longer than ${callTimeoutMs} ms (see batchTimeoutMs)`));
      return { ids: unflattenRows(result), truncated: result.truncated };
    },
    async terminate() {
      // Once: a worker dropped after a failure is stopped again at dispose, and a released proxy throws.
      if (stopped) return;
      stopped = true;
      // Calls still out end now, as in Node: releasing the proxy drops their replies unanswered.
      fail(new TokenizerThreadError(name, 'stopped'));
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
