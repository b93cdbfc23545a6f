// Node's tokenizer threads: worker_threads running node/tokenizer-worker, one tokenizer each.
// From dist/ the worker is tokenizer-worker.js beside this file; from the TypeScript sources (tests,
// benchmarks under tsx) it is tokenizer-worker.ts, run through tsx's loader.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TokenizerThreadError, WorkerStartError } from '../base/errors.js';
import type { TokenizerThread } from '../tokenize/parallel.js';
import { unflattenRows, type TokenizedTexts, type Truncation } from '../tokenize/tokenizer.js';

interface Reply { id: number; flat?: Int32Array<ArrayBuffer>; offsets?: Int32Array<ArrayBuffer>; truncated?: number; error?: string }

/**
 * The worker to start: tokenizer-worker.js beside this file (dist/), or tokenizer-worker.mjs (a bundle that
 * emitted it as its own entry, as the GPU kit does); else, from the TypeScript sources (tests and
 * benchmarks under tsx), tokenizer-worker.ts behind a bootstrap that registers tsx's loader first
 * (`--import tsx` in execArgv does not reach a worker's entry module on Node 20). A bundle that
 * emitted none of them gets a WorkerStartError naming where it looked.
 */
function workerEntry(name: string): string | URL {
  for (const file of ['./tokenizer-worker.js', './tokenizer-worker.mjs']) {
    const url = new URL(file, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  const ts = new URL('./tokenizer-worker.ts', import.meta.url);
  if (existsSync(fileURLToPath(ts))) return `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ts.href)}); });`;
  throw new WorkerStartError(name, `its script is not beside ${fileURLToPath(import.meta.url)} (tokenizer-worker.js or tokenizer-worker.mjs): a bundler that inlined bulk-embed/node must also emit src/node/tokenizer-worker as an entry there, or set tokenizerThreads: 0`);
}

/** Starts one tokenizer thread for the tokenizer that `json` and `config` describe; resolves once it is ready. */
export async function startNodeTokenizerThread(
  json: Record<string, unknown>, config: Record<string, unknown>, location: string, name: string,
): Promise<TokenizerThread> {
  const entry = workerEntry(name);
  const worker = new Worker(entry, { workerData: { json, config, location }, eval: typeof entry === 'string', name });
  const pending = new Map<number, { resolve: (r: TokenizedTexts) => void; reject: (e: Error) => void }>();
  let next = 0;
  let failure: Error | null = null;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    // Once stopping (failure set), the thread stays held until its exit, even as its last replies come in.
    if (pending.size === 0 && started && !failure) worker.unref();
    if (reply.error !== undefined) return p.reject(new TokenizerThreadError(name, reply.error));
    p.resolve({ ids: unflattenRows({ flat: reply.flat!, offsets: reply.offsets! }), truncated: reply.truncated! });
  });
  let started = false;
  const fault = (reason: string, cause?: unknown) =>
    (started ? new TokenizerThreadError(name, reason, { cause }) : new WorkerStartError(name, reason, { cause }));
  worker.on('error', (error) => failAll(fault(error.message, error)));
  worker.on('exit', (code) => failAll(fault(`exited with code ${code}`)));
  // Ready when it answers a first (empty) slice: a tokenizer that cannot be built fails here, at load.
  const thread: TokenizerThread = {
    encode(texts, maxTokens, truncation: Truncation) {
      if (failure) return Promise.reject(failure);
      const id = next++;
      return new Promise<TokenizedTexts>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref(); // a slice in progress keeps the process alive; an idle thread does not
        worker.postMessage({ id, texts, maxTokens, truncation });
      });
    },
    async terminate() {
      failure ??= new TokenizerThreadError(name, 'stopped');
      // An idle thread is unref'd, and so is its exit: without ref() the process could run out of
      // work and end (exit 0, the caller's next lines never run) before this promise settles.
      worker.ref();
      await worker.terminate();
    },
  };
  try {
    await thread.encode([], 8, 'cut');
  } catch (error) {
    await worker.terminate().catch(() => undefined);
    throw error;
  }
  started = true;
  worker.unref(); // an idle tokenizer thread must not keep the process alive
  return thread;
}
