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

Object.assign(globalThis, { bulkEmbed, workerLog: started, longTasks });
document.getElementById('status')!.textContent = 'ready';
