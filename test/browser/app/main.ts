// Exposes the built package to Playwright, and records every worker the page starts and ends,
// so tests can check that dispose() leaves no worker running.
import * as bulkEmbed from '../../../dist/index.js';

const started: { name: string; terminated: boolean }[] = [];
const NativeWorker = globalThis.Worker;
globalThis.Worker = class extends NativeWorker {
  private readonly record: { name: string; terminated: boolean };
  constructor(url: string | URL, options?: WorkerOptions) {
    super(url, options);
    this.record = { name: options?.name ?? String(url), terminated: false };
    started.push(this.record);
  }
  override terminate(): void {
    this.record.terminated = true;
    super.terminate();
  }
} as typeof Worker;

const longTasks: { start: number; duration: number }[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) longTasks.push({ start: entry.startTime, duration: entry.duration });
}).observe({ type: 'longtask', buffered: true });

/**
 * Fault injection through the workerFactory seam. Counts the batches sent to workers (across all of
 * them, with each batch's shape), and terminates the worker that received batch n for each n in
 * `killAt`, `delayMs` after sending it (mid-batch). `everyRun` kills at every batch. `gpuFaults`
 * makes workers that can have their GPU device destroyed (see gpu-fault-worker.ts).
 */
function faultyFactory(options: { killAt?: number[]; delayMs?: number; everyRun?: boolean; gpuFaults?: boolean } = {}) {
  const log = { runs: 0, killed: 0, shapes: [] as { rows: number; seq: number }[], started: 0 };
  const kill = new Set(options.killAt ?? []);
  const factory = (name: string): Worker => {
    log.started++;
    const worker = options.gpuFaults
      ? new Worker(new URL('./gpu-fault-worker.ts', import.meta.url), { type: 'module', name })
      : bulkEmbed.defaultWorkerFactory(name);
    const post = worker.postMessage.bind(worker) as (message: unknown, transfer?: Transferable[]) => void;
    worker.postMessage = ((message: any, transfer?: Transferable[]) => {
      if (message?.type === 'APPLY' && message.path?.[0] === 'run') {
        const rows = message.argumentList[0].value;
        log.shapes.push({ rows: rows.offsets.length - 1, seq: message.argumentList[1].value });
        log.runs++;
        if (options.everyRun || kill.has(log.runs)) {
          setTimeout(() => {
            log.killed++;
            worker.terminate();
          }, options.delayMs ?? 5);
        }
      }
      post(message, transfer);
    }) as Worker['postMessage'];
    return worker;
  };
  return { factory, log };
}

const faults = new BroadcastChannel('bulk-embed-test-faults');
const destroyGpuDevice = () => faults.postMessage('destroy-device');

Object.assign(globalThis, { bulkEmbed, workerLog: started, longTasks, faultyFactory, destroyGpuDevice });
document.getElementById('status')!.textContent = 'ready';
