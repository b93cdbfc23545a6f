// A dedicated module worker: loads the model (tokenizer + pooled ONNX session) and serves
// tokenize and run calls from the coordinator. onnxruntime-web is imported here, in our own
// worker, because its proxy mode does not work with WebGPU.
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web/webgpu';
import { loadCheckingFp16, loadModel, prepareRows, runRows, type InferenceBackend, type LoadedModel } from '../engine/load.js';
import { resolveModelFiles } from '../model/files.js';
import { loadTokenizer, unflattenRows, type TextTokenizer, type Truncation } from '../tokenize/tokenizer.js';
import { encodeFlatSliced, taskPause, TURN_FROM_TEXTS } from '../tokenize/sliced.js';
import type { RetryNotice } from '../model/fetch-retry.js';
import { createOrtSession, recycleBatch, type OrtModule } from '../run/session.js';
import { gpuBufferBytes, trackGpuBuffers } from './gpu-memory.js';
import { checkRuntimeFiles } from './runtime-files.js';
import { createInTurn } from '../util/in-turn.js';
import { raceAgainst } from '../util/race.js';
import { isOutOfMemory } from '../engine/lane-runner.js';
import type { WorkerApi, WorkerLoadRequest } from './protocol.js';

trackGpuBuffers();

let model: LoadedModel | null = null;
/** A tokenizer-only worker's tokenizer and cut (loadTokenizer). */
let tokenizerOnly: { tokenizer: TextTokenizer; maxTokens: number; truncation: Truncation } | null = null;
/** The fp32 model, loaded on first need, for batches whose fp16 result is bad. */
let exactModel: (() => Promise<LoadedModel>) | null = null;
let exactLoaded: LoadedModel | null = null;
/** Lets queued messages and finished device work run between tokenizing slices (made on first use). */
let pause: (() => Promise<void>) | null = null;
/** Windows tokenized in slices take turns: the engine sends the next while this one is tokenized. */
const windowTurn = createInTurn();
/**
 * Runs wait their turn: the coordinator sends the next batch while one runs (batchesInFlight), so
 * it is ready the moment the device frees.
 */
const inTurn = createInTurn();

/**
 * Holds a Web Lock for as long as this worker lives: the browser releases it when the worker ends
 * in any way (terminated, crashed, killed for memory), which is how the coordinator learns of it.
 * Resolves whether it holds it: a worker without Web Locks, or whose requests are refused (an opaque
 * origin), loads without it, and the coordinator must not wait on a lock nobody holds.
 */
function holdForLife(name: string | undefined): Promise<boolean> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks || !name) return Promise.resolve(false);
  return new Promise((held) => void locks.request(name, () => {
    held(true);
    return new Promise<never>(() => {});
  }).catch(() => held(false)));
}

/** The parts of a GPUDevice used here (no dependency on WebGPU's type package). */
interface DeviceLike {
  lost: Promise<{ reason: string; message: string }>;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}

let deviceLost: Error | null = null;
let markLost: (e: Error) => void = () => {};
const lostSignal = new Promise<never>((_, reject) => (markLost = reject));
lostSignal.catch(() => undefined);
/** Races a run against the device's loss without keeping its vectors afterwards (util/race.ts). */
const untilLost = raceAgainst(lostSignal);

/** After a device loss every run fails at once with an error the coordinator recognises. */
function watchDevice(device: DeviceLike): void {
  void device.lost.then((info) => {
    deviceLost = Object.assign(new Error(`GPU device lost (${info.reason}${info.message ? `: ${info.message}` : ''})`), { name: 'DeviceLostError' });
    markLost(deviceLost);
  });
}

function backendFor(device: 'webgpu' | 'wasm', dtype: WorkerLoadRequest['dtype']): InferenceBackend {
  return {
    choose: async () => ({ device, dtype, reasons: [] }),
    createSession: (bytes, _device, externalData) =>
      createOrtSession(ort as unknown as OrtModule, bytes, {
        executionProviders: [device === 'webgpu' ? 'webgpu' : 'wasm'],
        graphOptimizationLevel: 'all',
        ...(externalData ? { externalData } : {}),
      }),
  };
}

/** The free session's unit rows in memory the page shares (crossOriginIsolated), grown as batches need. */
let sharedUnitRows: { dim: number; rows: Float32Array } | null = null;
/** Every buffer unitRows has shared: only these cross to the page as they are (run). */
const sharedByFreeSession = new WeakSet<ArrayBufferLike>();

/**
 * `rows` unit vectors e0 of `dim`: where the page is cross-origin isolated, a view of one buffer of
 * shared memory, which crosses to the page without a copy or a transfer and so serves every batch,
 * as bench/shared.ts's free session in Node hands out views of one buffer; elsewhere a new array
 * (a transferred buffer is gone from the worker). A new array a batch cost the worker about 50 µs
 * (its first writes fault in the pages): about 25 ms of a 36,000-text MiniLM pass.
 */
function unitRows(rows: number, dim: number): Float32Array {
  const length = rows * dim;
  const filled = (out: Float32Array) => {
    for (let at = 0; at < out.length; at += dim) out[at] = 1;
    return out;
  };
  if (!globalThis.crossOriginIsolated) return filled(new Float32Array(length));
  if (!sharedUnitRows || sharedUnitRows.dim !== dim || sharedUnitRows.rows.length < length) {
    const size = Math.max(length, 2 * (sharedUnitRows?.dim === dim ? sharedUnitRows.rows.length : 0));
    sharedUnitRows = { dim, rows: filled(new Float32Array(new SharedArrayBuffer(4 * size))) };
    sharedByFreeSession.add(sharedUnitRows.rows.buffer);
  }
  return sharedUnitRows.rows.subarray(0, length);
}

/**
 * A backend whose sessions cost nothing (BrowserSeams.freeInference): every row comes back as the
 * unit vector e0 at once (unitRows), so what is measured is the loop around inference. `dim` is
 * read at run time because the model's dim is known only once loadModel has created the session.
 */
function freeBackend(device: 'webgpu' | 'wasm', dim: () => number): InferenceBackend {
  return {
    // fp32: the one dtype every model has, and no fp16 probe (it would run the free session against itself).
    choose: async () => ({ device, dtype: 'fp32', reasons: ['inference made free (bench:pipeline:browser): sessions return unit vectors at once, no GPU device is used'] }),
    createSession: async () => ({
      run: async (batch) => unitRows(batch.rows, dim()),
      release: async () => undefined,
    }),
  };
}

/** How long a run queued behind a failed one waits for the device to be reported lost. */
const LOSS_GRACE_MS = 250;
let lastRunFailed = false;

/**
 * Runs a batch whose turn has come. A failed run can be the first sign of a lost device (its
 * buffers fail before `device.lost` settles), and a run started on a lost device may never end:
 * after a failure the next run waits briefly for the loss to show, and is refused if it does.
 */
async function runAfterCheck(model: LoadedModel, feeds: ReturnType<typeof prepareRows>): Promise<Float32Array> {
  if (lastRunFailed && !deviceLost) await Promise.race([lostSignal.catch(() => undefined), new Promise((r) => setTimeout(r, LOSS_GRACE_MS))]);
  if (deviceLost) throw deviceLost;
  try {
    const vectors = await model.session.run(feeds);
    lastRunFailed = false;
    return vectors;
  } catch (error) {
    // A batch too big for the device's memory is split and sent again: no sign of a lost device.
    lastRunFailed = !isOutOfMemory(error);
    throw error;
  }
}

const api: WorkerApi = {
  async load(request, onProgress) {
    const aliveLockHeld = await holdForLife(request.aliveLock);
    ort.env.wasm.wasmPaths = request.wasmPaths; // never a CDN: the app serves these files
    ort.env.wasm.numThreads = request.threads;
    ort.env.wasm.proxy = false;
    await checkRuntimeFiles(request.wasmPaths, request.threads > 1, globalThis.crossOriginIsolated === true);
    const downloads = new Map<string, [number, number]>();
    const report = (phase: 'load' | 'compile', retry?: RetryNotice) => {
      let loaded = 0, total = 0;
      for (const [l, t] of downloads.values()) { loaded += l; total += Math.max(t, l); }
      onProgress?.({ phase, loadedBytes: loaded, totalBytes: total, ...(retry ? { retry } : {}) });
    };
    let lastReport = 0;
    const files = await resolveModelFiles(request.model, {
      hub: request.hub,
      retry: request.retry,
      onRetry: (notice) => report('load', notice),
      onDownload: (url, loaded, total) => {
        downloads.set(url, [loaded, total]);
        const now = performance.now();
        if (now - lastReport > 100 || loaded === total) { lastReport = now; report('load'); }
      },
    });
    let freeDim = 0;
    const backend = (dtype: WorkerLoadRequest['dtype']) => (request.freeInference ? freeBackend(request.device, () => freeDim) : backendFor(request.device, dtype));
    const load = (dtype: WorkerLoadRequest['dtype']) => loadModel({ ...request.options, dtype }, { files, backend: backend(dtype) });
    const checked = await loadCheckingFp16(() => load(request.tryFp16 ? 'fp16' : request.dtype), () => load('fp32'));
    const chosen = checked.model;
    freeDim = chosen.info.dim;
    exactModel = checked.exact;
    // A free session has no kernels to compile, and must work where there is no GPU at all.
    if (request.warmup && !request.freeInference) {
      // Compile the kernels once, before the first embed: first runs are 2-4x slower (shader
      // compilation). One run per power-of-two length bucket covers the kernel variants.
      report('compile');
      for (let seq = request.padMultiple; seq <= chosen.info.maxTokens; seq *= 2) {
        const rows = [new Int32Array(seq).fill(chosen.padId), new Int32Array(seq).fill(chosen.padId)];
        await runRows(chosen, rows, seq);
        report('compile');
      }
    }
    model = chosen;
    let maxBufferBytes: number | null = null;
    if (request.device === 'webgpu' && !request.freeInference) {
      const device = (await ort.env.webgpu.device) as unknown as DeviceLike;
      watchDevice(device);
      maxBufferBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    }
    return { info: chosen.info, shape: chosen.shape, maxBufferBytes, aliveLockHeld };
  },

  async loadTokenizer(request) {
    const aliveLockHeld = await holdForLife(request.aliveLock);
    const files = await resolveModelFiles(request.model, { hub: request.hub, retry: request.retry });
    tokenizerOnly = { tokenizer: await loadTokenizer(files), maxTokens: request.maxTokens, truncation: request.truncation };
    return { aliveLockHeld };
  },

  async tokenize(texts, inOneGo) {
    const source = model ? { tokenizer: model.tokenizer, maxTokens: model.info.maxTokens, truncation: model.info.truncation } : tokenizerOnly;
    if (!source) throw new Error('worker: tokenize before load');
    // The GPU worker tokenizes (no tokenizer workers beside it): slices, so a batch waiting in its
    // queue, or one finishing on the device, is served while it tokenizes. Not on WASM, where a run
    // holds the thread for the whole batch and the next one is always queued: slices there would
    // get one turn per batch and finish the window long after its batches.
    const sliced = () => encodeFlatSliced(source.tokenizer, texts, source.maxTokens, source.truncation, (pause ??= taskPause()));
    const rows = model?.info.device === 'webgpu' && !inOneGo
      ? await (texts.length >= TURN_FROM_TEXTS ? windowTurn(sliced) : sliced())
      : source.tokenizer.encodeFlat(texts, source.maxTokens, source.truncation);
    return Comlink.transfer(rows, [rows.flat.buffer, rows.offsets.buffer]);
  },

  async run(rows, seq, exact, maskPrefix) {
    if (!model) throw new Error('worker: run before load');
    if (deviceLost) throw deviceLost;
    const chosen = model;
    // The feeds are laid out at once, while the batch before may still be running (the fp32 model
    // reads the same tokenizer files: the same pad id and side, the same feeds).
    const feeds = prepareRows(chosen, unflattenRows(rows), seq, maskPrefix);
    const turn = inTurn(async () => {
      // The fp32 model is created in a turn of its own, never beside a running batch on the device.
      try {
        const target = exact && exactModel ? (exactLoaded = await exactModel()) : chosen;
        return await runAfterCheck(target, feeds);
      } finally {
        // Once the run has settled, never sooner: a run outlived by a lost device's wait below may still read them.
        recycleBatch(feeds);
      }
    });
    // A lost device can leave a run waiting forever: the loss ends the wait.
    const vectors = await untilLost(turn);
    // The free session's shared rows never change, so the page may see them as they are. Any other
    // shared memory (a threaded WASM heap) would be overwritten by later runs: it is copied below.
    if (sharedByFreeSession.has(vectors.buffer)) return { vectors, gpuBytes: gpuBufferBytes() };
    const out = vectors.byteOffset === 0 && vectors.byteLength === vectors.buffer.byteLength ? vectors : vectors.slice();
    return Comlink.transfer({ vectors: out, gpuBytes: gpuBufferBytes() }, [out.buffer]);
  },

  gpuBytes: () => gpuBufferBytes(),

  async dispose() {
    const m = model;
    model = null;
    sharedUnitRows = null;
    await m?.session.release();
    await exactLoaded?.session.release();
  },
};

Comlink.expose(api);
