// The coordinator on the main thread: starts workers, loads the model in each, and presents
// them to the shared engine as lanes. The main thread only coordinates: tokenizing and inference
// run in the workers, and token rows and vectors cross as transferred buffers.
import * as Comlink from 'comlink';
import type { Lane } from '../core/engine.js';
import { WorkerStartError } from '../core/errors.js';
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

/** Default of `loadTimeoutMs`: how long a loading worker may go without reporting progress. */
export const DEFAULT_LOAD_TIMEOUT_MS = 60_000;

/**
 * Starts one worker and loads the model in it. Rejects with the load's own error when loading
 * throws, or a WorkerStartError when the worker's script fails or the worker reports no progress
 * for `timeoutMs` (a blocked request can leave a load waiting forever); the worker is terminated.
 */
export async function startMember(
  factory: WorkerFactory, name: string, request: WorkerLoadRequest, onProgress: (name: string, p: WorkerLoadProgress) => void,
  timeoutMs = DEFAULT_LOAD_TIMEOUT_MS,
): Promise<PoolMember> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fail: (error: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => fail(new WorkerStartError(name, `no progress for ${timeoutMs} ms while loading (see loadTimeoutMs)`)), timeoutMs);
  };
  arm();
  let worker: Worker | undefined;
  try {
    worker = factory(name);
    const api = Comlink.wrap<WorkerApi>(worker);
    worker.addEventListener('error', (e) => {
      // A module script that fails to load gives an ErrorEvent with no message; say what that means.
      const reason = e.message ||
        "its script did not load or threw while importing (a missing or blocked file; with Vite, add the plugin from 'bulk-embed/vite', " +
          'which builds the workers as ES modules and keeps them out of dependency pre-bundling; the browser console shows the request)';
      fail(new WorkerStartError(name, reason));
    });
    const report = Comlink.proxy((p: WorkerLoadProgress) => {
      arm();
      onProgress(name, p);
    });
    const { info } = await Promise.race([api.load(request, report), failed]);
    return { name, device: request.device, info, api, worker, gpuBytes: await Promise.race([api.gpuBytes(), failed]) };
  } catch (error) {
    // Errors thrown by the load itself arrive through Comlink with their name and message kept.
    worker?.terminate();
    throw error;
  } finally {
    clearTimeout(timer);
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
