// Node entry (`bulk-embed/node`): the shared engine on onnxruntime-node, reading models from disk.
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createEngine, type EngineSettings } from './core/engine.js';
import { inProcessParts, loadModel, type InferenceBackend } from './core/load.js';
import type { Embedder, EmbedderOptions } from './core/types.js';
import { resolveModelFiles, type FileAccess, type ModelFiles } from './model/files.js';
import { createOrtSession, type OrtModule } from './run/session.js';
import { InvalidOptionError } from './core/errors.js';

export * from './core/types.js';
export * from './core/errors.js';
export type { ModelFiles } from './model/files.js';
export type { InferenceBackend } from './core/load.js';

/** The model used when none is named: resolved through transformers.js `env` like any hub id. */
export const DEFAULT_MODEL = 'Xenova/all-MiniLM-L6-v2';

/** Node options: the shared ones, plus injectable parts. */
export interface NodeEmbedderOptions extends EmbedderOptions, EngineSettings {
  /** Extra onnxruntime-node session options (threads, optimisation level...). */
  sessionOptions?: Record<string, unknown>;
  /** Replaces model file resolution (e.g. an in-memory model). */
  files?: ModelFiles;
  /** Replaces the inference runtime. */
  backend?: InferenceBackend;
}

/** Node file access: local folders through fs, URLs through fetch. */
export const nodeFileAccess: FileAccess = {
  async readLocal(path) {
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') return null;
      throw error;
    }
  },
  async isLocalDirectory(path) {
    try {
      return (await stat(resolve(path))).isDirectory();
    } catch {
      return false;
    }
  },
};

/** onnxruntime-node as an inference backend: 'cpu', or 'webgpu' through Dawn. */
export function nodeBackend(sessionOptions: Record<string, unknown> = {}): InferenceBackend {
  return {
    async choose(options) {
      const reasons: string[] = [];
      const requested = options.device ?? 'auto';
      if (requested !== 'cpu' && requested !== 'webgpu' && requested !== 'auto') {
        throw new InvalidOptionError('device', `"${String(requested)}" is not 'cpu', 'webgpu' or 'auto'`);
      }
      const device = requested === 'webgpu' ? 'webgpu' : 'cpu';
      if (requested === 'auto') reasons.push('device auto in Node: cpu (onnxruntime-node WebGPU needs a Vulkan GPU; ask for it with device: "webgpu")');
      const dtypeRequested = options.dtype ?? 'auto';
      if (!['fp32', 'fp16', 'q8', 'auto'].includes(dtypeRequested)) {
        throw new InvalidOptionError('dtype', `"${String(dtypeRequested)}" is not 'fp32', 'fp16', 'q8' or 'auto'`);
      }
      const dtype = dtypeRequested === 'auto' ? 'fp32' : dtypeRequested;
      if (dtypeRequested === 'auto') reasons.push(`dtype auto: fp32 (exact vectors; fp16 ${device === 'cpu' ? 'has no speed-up on CPU' : 'must be asked for in Node'})`);
      return { device, dtype, reasons };
    },
    createSession(model, device) {
      return createOrtSession(ort as unknown as OrtModule, model, {
        executionProviders: [device === 'webgpu' ? 'webgpu' : 'cpu'],
        graphOptimizationLevel: 'all',
        ...sessionOptions,
      });
    },
  };
}

/** Loads a model and returns an embedder running on onnxruntime-node. */
export async function createEmbedder(options: NodeEmbedderOptions = {}): Promise<Embedder> {
  const files = options.files ?? (await resolveModelFiles(options.model ?? DEFAULT_MODEL, nodeFileAccess));
  const model = await loadModel(options, { files, backend: options.backend ?? nodeBackend(options.sessionOptions) });
  return createEngine(inProcessParts(model), options);
}

/** Cores this process may use; the default ONNX Runtime thread count. */
export const defaultThreads = (): number => availableParallelism();
