// A dedicated module worker: loads the model (tokenizer + pooled ONNX session) and serves
// tokenize and run calls from the coordinator. onnxruntime-web is imported here, in our own
// worker, because its proxy mode does not work with WebGPU.
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web/webgpu';
import { loadModel, type InferenceBackend, type LoadedModel } from '../core/load.js';
import { resolveModelFiles } from '../model/files.js';
import type { RetryNotice } from '../model/fetch-retry.js';
import { createOrtSession, prepareBatch, type OrtModule } from '../run/session.js';
import { gpuBufferBytes, trackGpuBuffers } from './gpu-memory.js';
import { checkRuntimeFiles } from './runtime-files.js';
import { flattenRows, unflattenRows, type WorkerApi, type WorkerLoadRequest } from './protocol.js';

trackGpuBuffers();

let model: LoadedModel | null = null;

/** Probe texts for the fp16 check: short and long, words and numbers. */
const PROBE_TEXTS = [
  'the quick brown fox jumps over the lazy dog',
  'A',
  'Numbers 12345 and 67890, punctuation; quotes "like this" and more.',
  Array.from({ length: 120 }, (_, i) => `word${i % 17} river garden`).join(' '),
];

function backendFor(device: 'webgpu' | 'wasm', dtype: WorkerLoadRequest['dtype']): InferenceBackend {
  return {
    choose: async () => ({ device, dtype, reasons: [] }),
    createSession: (bytes) =>
      createOrtSession(ort as unknown as OrtModule, bytes, {
        executionProviders: [device === 'webgpu' ? 'webgpu' : 'wasm'],
        graphOptimizationLevel: 'all',
      }),
  };
}

function cosineRows(a: Float32Array, b: Float32Array, dim: number): { min: number; finite: boolean } {
  let min = 1;
  let finite = true;
  for (let r = 0; r < a.length / dim; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      if (!Number.isFinite(b[j]!)) finite = false;
      dot += a[j]! * b[j]!;
      na += a[j]! * a[j]!;
      nb += b[j]! * b[j]!;
    }
    min = Math.min(min, dot / Math.sqrt(na * nb));
  }
  return { min: Number.isNaN(min) ? -1 : min, finite };
}

async function runRows(m: LoadedModel, rows: Int32Array[], seq: number): Promise<Float32Array> {
  return m.session.run(prepareBatch(rows, rows.map((_, i) => i), seq, m.padId));
}

const api: WorkerApi = {
  async load(request, onProgress) {
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
    const load = (dtype: WorkerLoadRequest['dtype']) => loadModel({ ...request.options, dtype }, { files, backend: backendFor(request.device, dtype) });
    const reasons: string[] = [];
    let chosen: LoadedModel;
    if (request.tryFp16) {
      const [half, full] = [await load('fp16'), await load('fp32')];
      const { ids } = full.tokenizer.encode(PROBE_TEXTS, full.info.maxTokens, full.info.truncation);
      let verdict: { min: number; finite: boolean };
      try {
        const seq = Math.max(...ids.map((r) => r.length));
        verdict = cosineRows(await runRows(full, ids, seq), await runRows(half, ids, seq), full.info.dim);
      } catch (error) {
        verdict = { min: -1, finite: false };
        reasons.push(`fp16 probe failed to run: ${(error as Error).message}`);
      }
      if (verdict.finite && verdict.min >= 0.999) {
        chosen = half;
        await full.session.release();
        reasons.push(`fp16 accepted: probe batch cosine ${verdict.min.toFixed(5)} >= 0.999 against fp32`);
      } else {
        chosen = full;
        await half.session.release();
        reasons.push(verdict.finite ? `fp16 refused: probe batch cosine ${verdict.min.toFixed(5)} < 0.999 against fp32` : 'fp16 refused: the probe batch gave NaN or Inf');
      }
    } else {
      chosen = await load(request.dtype);
    }
    if (request.warmup) {
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
    return { info: { ...chosen.info, reasons } };
  },

  async tokenize(texts) {
    if (!model) throw new Error('worker: tokenize before load');
    const { ids, truncated } = model.tokenizer.encode(texts, model.info.maxTokens, model.info.truncation);
    const rows = flattenRows(ids);
    return Comlink.transfer({ ...rows, truncated }, [rows.flat.buffer, rows.offsets.buffer]);
  },

  async run(rows, seq) {
    if (!model) throw new Error('worker: run before load');
    const vectors = await runRows(model, unflattenRows(rows), seq);
    const out = vectors.byteOffset === 0 && vectors.byteLength === vectors.buffer.byteLength ? vectors : vectors.slice();
    return Comlink.transfer({ vectors: out, gpuBytes: gpuBufferBytes() }, [out.buffer]);
  },

  gpuBytes: () => gpuBufferBytes(),

  async dispose() {
    const m = model;
    model = null;
    await m?.session.release();
  },
};

Comlink.expose(api);
