// The coordinator on the main thread: starts workers, loads the model in each, and presents
// them to the shared engine as lanes. The main thread only coordinates: tokenizing and inference
// run in the workers, and token rows and vectors cross as transferred buffers.
import * as Comlink from 'comlink';
import type { Lane } from '../core/engine.js';
import { EmbedError } from '../core/errors.js';
import type { EmbedderInfo } from '../core/types.js';
import type { FlatRows, WorkerApi, WorkerLoadProgress, WorkerLoadRequest } from './protocol.js';
import { flattenRows, unflattenRows } from './protocol.js';

/** Makes a dedicated module worker running worker.js; injectable for tests and unusual bundlers. */
export type WorkerFactory = (name: string) => Worker;

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
}

/** Starts one worker and loads the model in it; the worker is terminated if loading fails. */
export async function startMember(
  factory: WorkerFactory, name: string, request: WorkerLoadRequest, onProgress: (name: string, p: WorkerLoadProgress) => void,
): Promise<PoolMember> {
  const worker = factory(name);
  const api = Comlink.wrap<WorkerApi>(worker);
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (e) => reject(new EmbedError(`worker ${name} failed to start: ${e.message || 'script error'}`)));
  });
  try {
    const { info } = await Promise.race([api.load(request, Comlink.proxy((p: WorkerLoadProgress) => onProgress(name, p))), failed]);
    return { name, device: request.device, info, api, worker, gpuBytes: await api.gpuBytes() };
  } catch (error) {
    worker.terminate();
    throw error;
  }
}

/** A member as an engine lane. */
export function memberLane(member: PoolMember): Lane {
  return {
    async run(rows, seq) {
      const flat = flattenRows(rows);
      const { vectors, gpuBytes } = await member.api.run(Comlink.transfer(flat, [flat.flat.buffer, flat.offsets.buffer]), seq);
      member.gpuBytes = gpuBytes;
      return vectors;
    },
  };
}

/** Tokenizes on the members in turn. */
export function roundRobinTokenizer(members: readonly PoolMember[]) {
  let turn = 0;
  return async (texts: string[]) => {
    const member = members[turn++ % members.length]!;
    const result: FlatRows & { truncated: number } = await member.api.tokenize(texts);
    return { ids: unflattenRows(result), truncated: result.truncated };
  };
}

/** Releases every member's session (freeing GPU memory) and ends its worker. */
export async function stopMembers(members: readonly PoolMember[]): Promise<void> {
  await Promise.all(members.map(async (m) => {
    try {
      await m.api.dispose();
    } finally {
      m.api[Comlink.releaseProxy]();
      m.worker.terminate();
    }
  }));
}
