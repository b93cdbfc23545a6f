// Device planning for the browser: which workers to start, on what, and why. Pure, so the rules
// ("fp16 only with shader-f16 and a passing probe", "WASM threads only when cross-origin
// isolated") are tested directly.
import { InvalidOptionError } from '../base/errors.js';
import type { Dtype, WeightsDtype } from '../base/types.js';

/** What the page can find out about itself before loading anything. */
export interface BrowserCapabilities {
  /** A WebGPU adapter was granted. */
  webgpu: boolean;
  /** The adapter has the shader-f16 feature. */
  shaderF16: boolean;
  crossOriginIsolated: boolean;
  /** navigator.hardwareConcurrency. */
  cores: number;
  /** Adapter description for info (vendor / architecture). */
  adapter?: string;
  /** A software adapter (SwiftShader): correct, but warming up kernels costs more than it saves. */
  softwareAdapter?: boolean;
  /** A buffer limit in bytes below the GPU device's own (forcing smaller GPU batches; tests). */
  maxBufferBytes?: number;
}

export type BrowserDevice = 'webgpu' | 'wasm';
/** A device, 'auto', 'cpu' (= 'wasm' in a browser), or several devices to run together. */
export type BrowserDeviceRequest = 'auto' | 'cpu' | BrowserDevice | BrowserDevice[];

/** Workers to start. */
export interface DevicePlan {
  gpu: null | { dtype: WeightsDtype; tryFp16: boolean };
  /** WASM workers, each with `wasmThreads` threads. */
  wasmWorkers: number;
  wasmThreads: number;
  wasmDtype: WeightsDtype;
  /** Workers that only tokenize (a GPU worker alone would tokenize and feed on one thread). */
  tokenizerWorkers: number;
  reasons: string[];
}

/** Most tokenizer workers beside a lone GPU worker: a few keep any GPU fed (one tokenizes 0.3-0.6M tokens/s). */
export const MAX_TOKENIZER_WORKERS = 4;

/**
 * Decides the workers from the request and the capabilities. `available` lists the dtypes whose
 * weights the model has (null: unknown), for 'auto' to pick q8 on WASM as transformers.js does;
 * `tokenizerWorkersAsked` (the tokenizerWorkers option) replaces the tokenizer workers' default.
 */
export function planDevices(
  request: BrowserDeviceRequest, dtype: Dtype, caps: BrowserCapabilities, workers?: number,
  available: readonly WeightsDtype[] | null = null, tokenizerWorkersAsked?: number,
): DevicePlan {
  const wanted = normalise(request);
  const reasons: string[] = [];
  let useGpu = false;
  let useWasm = false;
  if (wanted === 'auto') {
    // A software adapter (SwiftShader) runs WebGPU on the CPU, far slower than WASM (40 paragraphs:
    // 221 s against 7.5 s here); it is used only when asked for by name.
    useGpu = caps.webgpu && !caps.softwareAdapter;
    useWasm = !useGpu;
    reasons.push(
      useGpu ? `device auto: webgpu (adapter ${caps.adapter ?? 'found'})`
        : caps.webgpu ? `device auto: wasm (the WebGPU adapter${caps.adapter ? ` ${caps.adapter}` : ''} is a software one, slower than WASM; ask for device 'webgpu' to use it anyway)`
          : 'device auto: wasm (no WebGPU adapter)',
    );
  } else {
    if (wanted.includes('webgpu')) {
      if (!caps.webgpu) throw new InvalidOptionError('device', 'webgpu was asked for, but this browser grants no WebGPU adapter');
      useGpu = true;
    }
    useWasm = wanted.includes('wasm');
  }
  let gpu: DevicePlan['gpu'] = null;
  if (useGpu) {
    if (dtype !== 'auto' && dtype !== 'fp16') {
      gpu = { dtype, tryFp16: false };
    } else if (!caps.shaderF16) {
      gpu = { dtype: 'fp32', tryFp16: false };
      reasons.push(`fp16 refused: the adapter lacks shader-f16${dtype === 'fp16' ? ' (fp16 was asked for; using fp32)' : ''}`);
    } else {
      gpu = { dtype: 'fp16', tryFp16: true }; // confirmed or refused by the probe in the GPU worker
    }
  }
  let wasmDtype: WeightsDtype = dtype === 'auto' || dtype === 'fp16' ? 'fp32' : dtype;
  if (useWasm && dtype === 'fp16') reasons.push('fp16 refused on wasm: no speed-up on CPU; using fp32');
  if (useWasm && dtype === 'auto') {
    // transformers.js's default on WASM is the 8-bit file: smaller to download, faster on CPU.
    if (available?.includes('q8')) wasmDtype = 'q8';
    reasons.push(wasmDtype === 'q8'
      ? 'dtype auto on wasm: q8 (the model has onnx/model_quantized.onnx; transformers.js picks it on WASM too)'
      : `dtype auto on wasm: fp32 (${available ? 'the model has no q8 file' : 'could not tell whether the model has a q8 file'})`);
  }
  let wasmWorkers = 0;
  let wasmThreads = 1;
  if (useWasm) {
    const cores = Math.max(1, caps.cores || 1);
    // A GPU worker also needs a core to feed it.
    const free = Math.max(1, useGpu ? cores - 1 : cores);
    if (caps.crossOriginIsolated) {
      wasmWorkers = 1;
      wasmThreads = Math.min(workers ?? free, free);
      reasons.push(`wasm: one worker with ${wasmThreads} threads (cross-origin isolated)`);
    } else {
      wasmWorkers = Math.min(workers ?? free, free);
      reasons.push(`wasm: ${wasmWorkers} single-threaded worker(s), one per core (not cross-origin isolated, so no WASM threads)`);
    }
  }
  // A GPU worker alone would tokenize every window itself between its batches: the other cores tokenize.
  const lone = gpu !== null && wasmWorkers === 0;
  const tokenizerWorkers = tokenizerWorkersAsked ?? (lone ? Math.min(MAX_TOKENIZER_WORKERS, Math.max(0, (caps.cores || 1) - 1)) : 0);
  const asked = tokenizerWorkersAsked === undefined ? '' : ` (tokenizerWorkers: ${tokenizerWorkersAsked})`;
  const some = `${tokenizerWorkers} tokenizer worker${tokenizerWorkers > 1 ? 's' : ''}`;
  if (lone && tokenizerWorkers) reasons.push(`${some} beside the GPU worker${asked}, so it only feeds and runs`);
  else if (lone && asked) reasons.push(`no tokenizer workers${asked}: the GPU worker tokenizes between its batches`);
  else if (lone) reasons.push('no tokenizer workers: one core, the GPU worker tokenizes');
  else if (tokenizerWorkers) reasons.push(`${some} beside the model workers${asked}`); // only when asked: none by default beside WASM workers
  return { gpu, wasmWorkers, wasmThreads, wasmDtype, tokenizerWorkers, reasons };
}

function normalise(request: BrowserDeviceRequest): 'auto' | BrowserDevice[] {
  if (request === 'auto') return 'auto';
  const list = Array.isArray(request) ? request : [request === 'cpu' ? 'wasm' : request];
  if (list.length === 0) throw new InvalidOptionError('device', 'an empty list names no device');
  for (const d of list) {
    if (d !== 'webgpu' && d !== 'wasm') throw new InvalidOptionError('device', `"${String(d)}" is not 'webgpu', 'wasm', 'cpu' or 'auto'`);
  }
  return list;
}

/**
 * The most rows of `seq` tokens whose largest activation fits in `limitBytes`: the attention
 * scores (heads x seq x seq a row) or the feed-forward layer (seq x intermediate a row), counted
 * at 4 bytes a value whatever the dtype, since kernels may compute in fp32. At least 1.
 */
export function maxRowsWithin(limitBytes: number, seq: number, shape: { heads: number; intermediate: number }): number {
  const perRow = 4 * seq * Math.max(shape.heads * seq, shape.intermediate);
  return Math.max(1, Math.floor(limitBytes / perRow));
}
