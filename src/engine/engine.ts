// The embed loop shared by every runtime: tokenize a window -> sort and pack -> lanes pull
// batches (pooled on the device) -> rows written back in input order. A lane is anything that
// runs one batch at a time: an in-process session in Node, a worker in the browser. Lanes pull
// from one queue, so a faster lane takes more batches.
import { DEFAULT_BATCH_OVERHEAD_TOKENS, packSorted, sortByLengthDescending } from '../batch/pack.js';
import { createBatchBudget, type BudgetLimit, type ModelWidths } from '../batch/budget.js';
import { fillDuplicates, foldDuplicates, scatterRows } from '../batch/order.js';
import type { TokenizedTexts } from '../tokenize/tokenizer.js';
import { AbortError, DisposedError, InvalidOptionError, InvalidTextError } from '../base/errors.js';
import { raceAgainst } from '../util/race.js';
import { positiveInteger } from '../base/validate.js';
import type { Priority } from './lane-gate.js';
import { laneSlots, runOnLanes, type Lane, type LaneEvents, type ResiliencePolicy } from './lane-runner.js';
import type { EmbedCallOptions, EmbedderInfo, EmbedderStats, Embeddings, EmbedProgress } from '../base/types.js';
import type { Embedder } from '../base/types.js';

export type { Lane } from './lane-runner.js';

/** What a runtime hands the engine. */
export interface EngineParts {
  info: EmbedderInfo;
  /** Tokenizes with the model's tokenizer, truncation as in info. */
  tokenize(texts: string[]): Promise<TokenizedTexts>;
  /**
   * True while the next window's tokenizing costs the batches running now nothing: `tokenize` hands
   * the texts to threads that run no batches (tokenizer threads or workers; false once they are
   * all lost), or to a worker that tokenizes in slices between its batches. It then starts at once
   * rather than a tick later, since a tick can last a whole batch where a run holds the thread
   * (onnxruntime-node runs synchronously).
   */
  tokenizeNextAtOnce?: () => boolean;
  /** The WebGPU device is a software adapter (SwiftShader): it computes on the CPU, so batches are packed as on a CPU. */
  softwareAdapter?: boolean;
  lanes: Lane[];
  release(): Promise<void>;
  /** Extra fields for each progress report (e.g. memory in the browser). */
  progressExtras?: () => Partial<EmbedProgress>;
  /** The model's widths, for the time and memory budgets (default: guessed from info.modelDim by BERT's ratios). */
  widths?: ModelWidths | null;
  /**
   * Round padded lengths up to a multiple of this (default 1). GPUs compile kernels per shape,
   * so a few shape buckets, warmed up once, beat exact lengths.
   */
  padMultiple?: number;
}

export const DEFAULT_LOOKAHEAD = 4096;
/** A variable of the process's environment, where the runtime has one (never in a browser). */
const testEnv = (name: string): string | undefined => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
/**
 * @internal Test switch, never set in CI: BULK_EMBED_TEST_PAD_TO_MAX=1 pads every batch to
 * maxTokens, a deliberate slowdown that shows `npm run bench:ci`'s gate catches a regression.
 */
const TEST_PAD_TO_MAX = testEnv('BULK_EMBED_TEST_PAD_TO_MAX') === '1';
/** The first window's size: small, so the first vectors (and the first progress) come after one small batch. */
export const FIRST_WINDOW = 256;

/**
 * How much larger each window of a ramp is than the one before. The next window is tokenized
 * while the lanes run this one, so the device waits at a step unless tokenizing outpaces it by
 * this factor: a jump from 256 texts to 4,096 left an H200 idle for 450 ms of a 2.3 s MiniLM run
 * while 8 tokenizer threads worked through the large window. Steps are not finer than doubling
 * (as streams ramp too): a small window packs mixed lengths into more, smaller batches.
 */
export const WINDOW_GROWTH = 2;
/**
 * Windows being tokenized at once where the runtime says the next window's tokenizing costs the
 * lanes nothing (EngineParts.tokenizeNextAtOnce: the browser's tokenizer workers or its GPU worker
 * between batches, Node's tokenizer threads beside a GPU): this one and the next. Costs one more
 * window of ids in memory.
 */
export const TOKENIZE_AHEAD = 2;
/**
 * @internal Benchmark switch, never set in CI: BULK_EMBED_TEST_WINDOW_GROWTH replaces
 * WINDOW_GROWTH, so `bench/gpu.ts` can compare ramps on a GPU (16 is the old jump from 256 to 4,096).
 */
const TEST_WINDOW_GROWTH = ((g) => (g >= 1 && Number.isFinite(g) ? g : null))(Number(testEnv('BULK_EMBED_TEST_WINDOW_GROWTH')));

/** The window after one of `size` in a ramp: `growth` times larger, at most `lookahead`. */
export function nextWindowSize(size: number, lookahead: number, growth = WINDOW_GROWTH): number {
  return Math.min(lookahead, Math.ceil(size * (TEST_WINDOW_GROWTH ?? growth)));
}

/**
 * Cuts `items` into windows growing from FIRST_WINDOW to `lookahead` by `growth`: the first rows
 * arrive after a small window, and a fast device is not left waiting while a much larger one is
 * tokenized. Infinity: one small window, then full ones (a CPU, where tokenizing outpaces inference
 * many times, so smaller windows would only cost batches).
 */
export function rampWindows<T>(items: readonly T[], lookahead: number, growth = WINDOW_GROWTH): T[][] {
  return cutWindows(items, lookahead, Math.min(lookahead, FIRST_WINDOW), growth);
}

/** Cuts `items` into windows of `lookahead`, ramping up from `first` where it is smaller. */
function cutWindows<T>(items: readonly T[], lookahead: number, first = lookahead, growth = WINDOW_GROWTH): T[][] {
  const windows: T[][] = [];
  for (let start = 0, size = first; start < items.length; start += size, size = nextWindowSize(size, lookahead, growth)) {
    windows.push(items.slice(start, start + size));
  }
  return windows;
}
const MAX_REASONS = 200;

/** Adds a line to info.reasons: what went wrong at run time and what was done about it (bounded: a long run may retry often). */
export function addReason(info: EmbedderInfo, line: string): void {
  if (info.reasons.length < MAX_REASONS) info.reasons.push(line);
}
export const MAX_BATCH_SIZE = 512;
/** Default wanted time of one batch (ms). */
export const DEFAULT_TARGET_BATCH_MS = 250;
/** Tokens a batch may take before any batch was timed: the first window's batches are small, so the first vector is quick. */
export const START_BATCH_TOKENS = 1024;
/**
 * A batch's cost in padded tokens on WebGPU. Each run there has a fixed cost of milliseconds
 * (dispatch, the read back): on an H200, MiniLM's runs took about 4.3 ms plus 1.2 µs a token, so a
 * batch costs as much as 3,600 tokens of padding, BERT-base's about 540. Packing at a CPU's 32
 * split mixed texts into three times the batches; 1,024 keeps most of the gain for small models
 * without padding large ones much.
 */
export const GPU_BATCH_OVERHEAD_TOKENS = 1024;
/**
 * The cost of one more batch that packing weighs against padding on `device`, unless `settings`
 * name one; a `software` WebGPU adapter computes on the CPU, so it packs as a CPU does.
 */
export function batchOverheadTokens(device: string, settings: Pick<EngineSettings, 'batchOverheadTokens'> = {}, software = false): number {
  return settings.batchOverheadTokens ?? (device === 'webgpu' && !software ? GPU_BATCH_OVERHEAD_TOKENS : DEFAULT_BATCH_OVERHEAD_TOKENS);
}

/** Checks the engine settings a caller gave, before any model loads; throws InvalidOptionError naming the first bad one. */
export function checkEngineSettings(settings: EngineSettings): void {
  if (settings.lookahead !== undefined) positiveInteger('lookahead', settings.lookahead);
  if (settings.batchOverheadTokens !== undefined) positiveInteger('batchOverheadTokens', settings.batchOverheadTokens);
  const targetMs = settings.targetBatchMs ?? DEFAULT_TARGET_BATCH_MS;
  if (!(targetMs > 0)) throw new InvalidOptionError('targetBatchMs', `${String(targetMs)} is not a positive number of ms (Infinity: no time bound)`);
  if (settings.maxMemoryMB !== undefined && !(settings.maxMemoryMB > 0 && Number.isFinite(settings.maxMemoryMB))) {
    throw new InvalidOptionError('maxMemoryMB', `${String(settings.maxMemoryMB)} is not a positive number of MB`);
  }
}

/** BERT's ratios (intermediate 4 x hidden, 64-wide heads) where a runtime does not know a model's widths. */
const guessWidths = (hidden: number): ModelWidths => ({ hidden, intermediate: 4 * hidden, heads: Math.max(1, Math.round(hidden / 64)) });

/** Engine settings that are not model options. */
export interface EngineSettings {
  lookahead?: number;
  /** Least time between progress reports (the last one is always sent). */
  progressIntervalMs?: number;
  /** How failed batches and lanes are retried (a crashed worker, a lost GPU device). */
  resilience?: ResiliencePolicy;
  /**
   * Wanted wall time of one batch in ms (default 250): the token budget adapts to measured batch
   * times, so a high-priority call waits about one batch per lane. Infinity: batches fill
   * maxBatchTokens whatever they take.
   */
  targetBatchMs?: number;
  /** Activation memory one batch may use, in MB (default: no bound but maxBatchTokens); sets the token budget from the model's widths. */
  maxMemoryMB?: number;
  /**
   * What one more batch costs, in padded tokens (a positive integer): packing weighs padding
   * against the number of batches with it. Default 1,024 on WebGPU, where each run has a fixed cost
   * of milliseconds; 32 on a CPU, WASM and a browser's software adapter (SwiftShader). Node cannot
   * tell a software Vulkan driver (lavapipe) from a GPU, so there WebGPU packs as on a GPU.
   */
  batchOverheadTokens?: number;
}

/** An embedder plus the window-level call that streaming builds on. */
export interface Engine extends Embedder {
  /** Embeds one window of texts with no progress of its own (or the caller's reporter). */
  embedWindow(
    texts: readonly string[],
    call?: { signal?: AbortSignal; progress?: ProgressReporter; priority?: Priority; prompt?: string; promptName?: string },
  ): Promise<Embeddings>;
  /** The prompt a call's options select: `prompt`, else the model's prompt named `promptName` or its default; '' for none. */
  resolvePrompt(call: { prompt?: string; promptName?: string }): string;
  /** A progress reporter with this engine's interval and fields, so every path (embed, streams) reports alike. */
  reporter(total: number, onProgress?: (progress: EmbedProgress) => void): ProgressReporter;
}

/** Builds an Embedder over the given parts. */
export function createEngine(parts: EngineParts, settings: EngineSettings = {}): Engine {
  const { info } = parts;
  const dim = info.dim;
  checkEngineSettings(settings);
  const lookahead = settings.lookahead ?? DEFAULT_LOOKAHEAD;
  // A browser pool with a GPU worker packs for it: its WASM workers (beside it, or after it was
  // lost) then compute up to a few percent more padding than they would pack for themselves.
  const batchOverhead = batchOverheadTokens(info.device, settings, parts.softwareAdapter);
  if (info.device === 'webgpu' && settings.batchOverheadTokens === undefined) {
    addReason(info, parts.softwareAdapter
      ? `packing as on a CPU (batchOverheadTokens ${batchOverhead}): the WebGPU adapter is a software one`
      : `packing counts a batch as ${batchOverhead} padded tokens (batchOverheadTokens): each WebGPU run has a fixed cost, so fewer, fuller batches beat the least padding`);
  }
  const stats: EmbedderStats = {
    texts: 0, tokens: 0, paddingTokens: 0, truncatedTexts: 0, batches: 0,
    retriedBatches: 0, recoveredLanes: 0, lostLanes: 0, splitBatches: 0, exactReruns: 0,
  };
  let disposed = false;
  let queue: Promise<unknown> = Promise.resolve();
  const extras = parts.progressExtras ?? processMemory;
  const reporter = (total: number, onProgress?: (progress: EmbedProgress) => void) =>
    progressReporter(total, onProgress, settings.progressIntervalMs ?? 100, extras);
  const running = new Set<Promise<unknown>>();
  const targetMs = settings.targetBatchMs ?? DEFAULT_TARGET_BATCH_MS;
  const budget = createBatchBudget({
    widths: parts.widths ?? guessWidths(info.modelDim),
    targetMs: Number.isFinite(targetMs) ? targetMs : null,
    memoryBytes: settings.maxMemoryMB === undefined ? null : settings.maxMemoryMB * 2 ** 20,
    bytesPerValue: info.dtype === 'fp16' ? 2 : 4,
    maxTokens: info.maxBatchTokens,
    startTokens: Math.min(info.maxBatchTokens, START_BATCH_TOKENS),
  });
  let limitSaid: BudgetLimit | null = null;
  /** Says in info.reasons when another limit starts to set the budget (at a typical length). */
  const sayLimit = (seq: number) => {
    const limit = budget.limitAt(seq);
    if (limit === limitSaid || limit === 'start') return;
    limitSaid = limit;
    const why = { time: `a batch should take about ${targetMs} ms (targetBatchMs)`, memory: `activations within ${settings.maxMemoryMB} MB (maxMemoryMB)`, maxBatchTokens: `maxBatchTokens ${info.maxBatchTokens}` }[limit];
    addReason(info, `batch budget set by ${limit}: ${why}; ${budget.tokensAt(seq)} tokens at length ${seq}, ${budget.tokensAt(info.maxTokens)} at ${info.maxTokens}`);
  };
  // Each lane's runs are timed, so the budget learns how long a batch takes on this device. The
  // wrapper inherits everything else from the lane, live: a browser seat's name and runExact are
  // getters that change when its worker is replaced (an fp16 GPU worker by an fp32 WASM one).
  const timedLanes: Lane[] = parts.lanes.map((lane) => Object.create(lane, {
    run: {
      value: async (rows: Int32Array[], seq: number, maskPrefix?: number) => {
        const started = performance.now();
        const out = await lane.run(rows, seq, maskPrefix);
        budget.observe(rows.length, seq, performance.now() - started);
        return out;
      },
    },
  }) as Lane);
  const slots = laneSlots(timedLanes);
  const say = (line: string) => addReason(info, line);
  const events: LaneEvents = {
    retried: (lane, error) => {
      stats.retriedBatches++;
      say(`${lane}: a batch failed (${error.message}); it runs again`);
    },
    recovered: (lane, ms) => {
      stats.recoveredLanes++;
      say(`${lane}: rebuilt in ${Math.round(ms)} ms`);
    },
    lost: (lane, error) => {
      stats.lostLanes++;
      say(`${lane}: out for good (${error.message})`);
    },
    split: (lane, rows, seq, error) => {
      stats.splitBatches++;
      say(`${lane}: a batch of ${rows} x ${seq} tokens did not fit (${error.message}); split, and this lane takes at most ${Math.floor(rows / 2) * seq} tokens a batch from now on`);
    },
    rerunExact: (lane, rows) => {
      stats.exactReruns++;
      if (stats.exactReruns <= 10) say(`${lane}: a batch of ${rows} texts gave a NaN, Inf or off-unit vector in reduced precision; it ran again in fp32`);
    },
  };

  const resolvePrompt = (call: { prompt?: string; promptName?: string }): string => {
    if (call.prompt !== undefined) {
      if (typeof call.prompt !== 'string') throw new InvalidOptionError('prompt', `must be a string, got ${typeof call.prompt}`);
      return call.prompt;
    }
    const name = call.promptName ?? info.defaultPromptName;
    if (name === null || name === undefined) return '';
    if (!Object.hasOwn(info.prompts, name)) {
      const known = Object.keys(info.prompts);
      throw new InvalidOptionError('promptName', `"${String(name)}" is not one of the model's prompts (${known.length ? known.join(', ') : 'it declares none'})`);
    }
    return info.prompts[name]!;
  };

  /**
   * Plans a list of texts' work and starts tokenizing its first windows at once (the first, a tick
   * later, where it tokenizes in place), before the call's turn comes: a stream's next window is
   * tokenized while the lanes run this one. `ramp`: a small first window, so the first rows come quickly (a stream ramps its own).
   */
  const planWork = (texts: readonly string[], call: EmbedCallOptions, ramp: boolean) => {
    // The prompt is part of the text, so it counts against maxTokens as in sentence-transformers.
    const prompt = resolvePrompt(call);
    // A model pooled without its prompt masks [CLS] and the prompt's tokens out of the pooling, as
    // sentence-transformers does: the prompt's length with special tokens, less the closing one.
    const maskPrefix = prompt && !info.includePrompt ? parts.tokenize([prompt]).then((t) => Math.max(0, t.ids[0]!.length - 1)) : Promise.resolve(0);
    maskPrefix.catch(() => undefined); // awaited when the work runs
    const { unique, firstOf } = foldDuplicates(texts);
    // On a CPU the second window is full at once: npm start made 256 batches instead of 214 and ran 2 % slower with doubling.
    const windows = ramp ? rampWindows(unique, lookahead, info.device === 'webgpu' ? WINDOW_GROWTH : Infinity) : cutWindows(unique, lookahead);
    const started: (Promise<TokenizedTexts> | undefined)[] = [];
    /**
     * Window w's ids, its tokenizing started now unless it already was, with the windows after it:
     * TOKENIZE_AHEAD of them where it costs the lanes nothing (tokenizeNextAtOnce), so the tokenizer always
     * has the next window's texts in hand when it finishes one (handing them over then left it idle
     * for a round trip, and the page's copy of the texts, at every seam); one, a tick later, where
     * it happens in place, so the lanes start on this window first.
     */
    const tokenized = (w: number): Promise<TokenizedTexts> => {
      const atOnce = parts.tokenizeNextAtOnce?.() ?? false;
      for (let k = w; k < Math.min(windows.length, w + (atOnce ? TOKENIZE_AHEAD : 1)); k++) {
        if (started[k]) continue;
        const turn = atOnce ? Promise.resolve() : new Promise((r) => setTimeout(r, 0));
        const pending = turn.then(() => parts.tokenize(windows[k]!.map((i) => prompt + texts[i]!)));
        pending.catch(() => undefined); // awaited in turn; this only silences the early-rejection warning
        started[k] = pending;
      }
      return started[w]!;
    };
    /** Window w's ids are in hand: its promise is dropped (the ids go with its batches) and the windows after it start. */
    const taken = (w: number) => {
      started[w] = undefined;
      if (w + 1 < windows.length) tokenized(w + 1);
    };
    if (windows.length) tokenized(0);
    return { texts, unique, firstOf, windows, tokenized, taken, maskPrefix };
  };

  /**
   * Embeds planned work into `data` (row i at i * dim), window by window: the next window is
   * tokenized while lanes run this one, and packed and started as soon as this one's last batch
   * is taken, so a lane never idles while another runs the window's last batch.
   */
  const embedInto = async (work: ReturnType<typeof planWork>, data: Float32Array, call: EmbedCallOptions, progress: ProgressReporter): Promise<void> => {
    const priority = call.priority ?? 'normal';
    const { texts, unique, firstOf, windows, tokenized } = work;
    const maskPrefix = await work.maskPrefix;
    let firstFailure: { error: unknown } | null = null;
    let failed!: (error: unknown) => void;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => undefined);
    // Every wait below ends at the first failure; raced so that no window's ids outlive its turn.
    const orFailure = raceAgainst(failure);
    // Windows overlap, so one that fails stops the others. The call's own abort stops them all, and
    // ends a wait for a window's tokenizing at once.
    const stop = new AbortController();
    const forwardAbort = () => {
      stop.abort(call.signal!.reason);
      failed(new AbortError(call.signal!.reason));
    };
    if (call.signal?.aborted) forwardAbort();
    else call.signal?.addEventListener('abort', forwardAbort, { once: true });
    const running: Promise<void>[] = [];
    try {
      for (let w = 0; w < windows.length; w++) {
        const window = windows[w]!;
        const { ids, truncated } = await orFailure(tokenized(w));
        work.taken(w);
        stats.truncatedTexts += truncated;
        const lengths = ids.map((row) => row.length);
        const sorted = sortByLengthDescending(lengths);
        if (sorted.length) sayLimit(lengths[sorted[sorted.length >> 1]!]!);
        const batches = packSorted(sorted, lengths, {
          maxBatchTokens: info.maxBatchTokens, maxBatchSize: MAX_BATCH_SIZE, tokensAt: budget.tokensAt, batchOverheadTokens: batchOverhead,
        });
        const multiple = parts.padMultiple ?? 1;
        // Rows are never longer than maxTokens, so capping there keeps every shape valid for the model.
        if (multiple > 1) for (const b of batches) b.paddedLength = Math.min(Math.ceil(b.paddedLength / multiple) * multiple, info.maxTokens);
        if (TEST_PAD_TO_MAX) for (const b of batches) b.paddedLength = info.maxTokens;
        let drained!: () => void;
        const allTaken = new Promise<void>((r) => (drained = r));
        const options = {
          signal: stop.signal, priority, policy: settings.resilience, events, dim, normalized: info.normalize, maskPrefix,
          textIndex: (i: number) => window[i]!, onDrained: drained,
        };
        const windowRun = runOnLanes(slots, batches, ids, options, (batch, rows) => {
          scatterRows(data, dim, batch.indices, rows, window);
          let tokens = 0;
          for (const i of batch.indices) tokens += lengths[i]!;
          stats.tokens += tokens;
          stats.paddingTokens += batch.indices.length * batch.paddedLength - tokens;
          stats.batches++;
          stats.texts += batch.indices.length;
          progress.add(batch.indices.length, tokens);
        });
        windowRun.catch((error: unknown) => {
          firstFailure ??= { error };
          stop.abort();
          failed(error);
        });
        running.push(windowRun);
        await orFailure(allTaken);
        // Until a batch has been timed the next window would be packed to the start budget (small
        // batches for the whole window): the first seam waits for this window's batches.
        if (budget.msPerCost === null) await orFailure(windowRun);
      }
      await Promise.all(running);
    } catch (error) {
      // The first failure is the cause; the aborts it sets off in the other windows are not.
      const cause = firstFailure ? firstFailure.error : error;
      stop.abort();
      // No batch of this call may still be running when it rejects: the next call gets clean lanes.
      await Promise.allSettled(running);
      throw cause;
    } finally {
      call.signal?.removeEventListener('abort', forwardAbort);
    }
    fillDuplicates(data, dim, firstOf);
    stats.texts += texts.length - unique.length;
    progress.add(texts.length - unique.length, 0);
  };

  const run = async (texts: readonly string[], call: EmbedCallOptions): Promise<Embeddings> => {
    const count = texts.length;
    const data = new Float32Array(count * dim);
    if (count === 0) return { count, dim, data };
    const progress = reporter(count, call.onProgress);
    await embedInto(planWork(texts, call, true), data, call, progress);
    progress.finish();
    return { count, dim, data };
  };

  /**
   * Checks the texts, then schedules the work: normal calls run one after another (concurrent
   * bulk calls would only fight over the same cores); a high-priority call starts at once, and
   * its batches take each lane before the waiting batches of normal calls.
   */
  const schedule = <T>(texts: readonly unknown[], priority: Priority | undefined, work: () => Promise<T>): Promise<T> => {
    if (disposed) return Promise.reject(new DisposedError());
    if (priority !== undefined && priority !== 'high' && priority !== 'normal') {
      return Promise.reject(new InvalidOptionError('priority', `"${String(priority)}" is not 'high' or 'normal'`));
    }
    const bad = texts.findIndex((t) => typeof t !== 'string');
    if (bad >= 0) return Promise.reject(new InvalidTextError(bad, texts[bad]));
    const start = () => {
      if (disposed) throw new DisposedError();
      return work();
    };
    const result = priority === 'high' ? Promise.resolve().then(start) : queue.then(start);
    if (priority !== 'high') queue = result.catch(() => undefined);
    const settled = result.catch(() => undefined);
    running.add(settled);
    void settled.then(() => running.delete(settled));
    return result;
  };

  return {
    info,
    resolvePrompt,
    reporter,
    get stats() {
      return { ...stats };
    },
    embed(texts, call = {}) {
      if (!Array.isArray(texts)) return Promise.reject(new TypeError(`embed() takes an array of strings, got ${typeof texts}`));
      return schedule(texts, call.priority, () => run(texts, call));
    },
    embedWindow(texts, call = {}) {
      // Planned (and its tokenizing started) now, run in its turn: see planWork.
      let work: ReturnType<typeof planWork> | undefined;
      const checked = !disposed && texts.every((t) => typeof t === 'string');
      try {
        if (checked) work = planWork(texts, call, false);
      } catch (error) {
        return Promise.reject(error);
      }
      return schedule(texts, call.priority, async () => {
        const data = new Float32Array(texts.length * dim);
        await embedInto(work!, data, call, call.progress ?? progressReporter(texts.length, undefined, 0));
        return { count: texts.length, dim, data };
      });
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.all([queue, ...running]);
      await parts.release();
    },
  };
}

/** The process's memory where the runtime has one (Node, Deno, Bun); the browser passes its own readout. */
function processMemory(): Partial<EmbedProgress> {
  const g = globalThis as { process?: { memoryUsage?(): { rss: number; heapUsed: number } } };
  const m = g.process?.memoryUsage?.();
  return m ? { memory: { jsHeapBytes: m.heapUsed, rssBytes: m.rss } } : {};
}

/** Counts work done and reports it, throttled. */
export interface ProgressReporter {
  add(texts: number, tokens: number): void;
  finish(): void;
}

/** A progress reporter for `total` texts (total may grow: streams learn their size as they go). */
export function progressReporter(
  total: number, onProgress: ((p: EmbedProgress) => void) | undefined, intervalMs: number, extras?: () => Partial<EmbedProgress>,
): ProgressReporter {
  const started = performance.now();
  let done = 0;
  let tokens = 0;
  let lastSent = -Infinity;
  const send = (): void => {
    const elapsedMs = performance.now() - started;
    const seconds = Math.max(elapsedMs, 1e-3) / 1000;
    const textsPerSec = done / seconds;
    onProgress!({
      phase: 'embed', done, total, tokens, elapsedMs, textsPerSec, tokensPerSec: tokens / seconds,
      etaMs: done >= total ? 0 : !Number.isFinite(total) ? NaN : textsPerSec > 0 ? ((total - done) / textsPerSec) * 1000 : Infinity,
      ...extras?.(),
    });
    lastSent = performance.now();
  };
  return {
    add(texts: number, batchTokens: number) {
      if (texts === 0 && batchTokens === 0) return;
      done += texts;
      tokens += batchTokens;
      if (onProgress && !(done >= total) && (done === texts || performance.now() - lastSent >= intervalMs)) send();
    },
    finish() {
      if (Number.isFinite(total)) done = total; // duplicates were filled in without running
      if (onProgress) send();
    },
  };
}
