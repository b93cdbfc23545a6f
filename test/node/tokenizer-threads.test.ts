// A tokenizer thread's hold on the process: idle, none (an idle thread must not keep a finished
// program alive); stopping, until the thread has exited. A CLI stopped by SIGTERM once ended with
// exit 0 and no summary: dispose() awaited the termination of an idle, unref'd thread, and the event
// loop, with nothing else to wait for, ended before that exit was reported. The thread's Worker is a
// fake here, so the test reads the hold directly instead of racing a real thread's exit.
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';

/** A Worker that answers each slice with one token per text and records whether it holds the process. */
class FakeWorker extends EventEmitter {
  static last: FakeWorker;
  held = true; // a new Worker is ref'd
  heldAtExit: boolean | null = null;
  constructor() {
    super();
    FakeWorker.last = this;
  }
  ref() { this.held = true; }
  unref() { this.held = false; }
  postMessage({ id, texts }: { id: number; texts: string[] }) {
    const flat = Int32Array.from(texts, (_, i) => i);
    const offsets = Int32Array.from({ length: texts.length + 1 }, (_, i) => i);
    setImmediate(() => this.emit('message', { id, flat, offsets, truncated: 0 }));
  }
  /** Stops after the replies already on their way (as a real thread's queued messages still arrive). */
  terminate() {
    return new Promise<number>((resolve) => setImmediate(() => {
      this.heldAtExit = this.held;
      this.emit('exit', 1);
      resolve(1);
    }));
  }
}
vi.mock('node:worker_threads', () => ({ Worker: FakeWorker }));
const { startNodeTokenizerThread } = await import('../../src/node/tokenizer-threads.js');

describe('a Node tokenizer thread', () => {
  it('holds the process only while a slice is in flight, and, stopped with one in flight, until its exit', async () => {
    const thread = await startNodeTokenizerThread({}, {}, '/models/x', 'tokenizer 1');
    const worker = FakeWorker.last;
    expect(worker.held).toBe(false); // ready and idle
    const slice = thread.encode(['a', 'b'], 16, 'cut');
    expect(worker.held).toBe(true); // a slice in progress
    expect((await slice).ids.map((row) => [...row])).toEqual([[0], [1]]);
    expect(worker.held).toBe(false);
    const cut = thread.encode(['c'], 16, 'cut'); // in flight when the thread is stopped, as after an abort
    cut.catch(() => undefined);
    await thread.terminate();
    expect(worker.heldAtExit).toBe(true); // its last reply came in before the exit, and did not let go
    await expect(thread.encode(['after'], 16, 'cut')).rejects.toThrow(/stopped/);
  });

  it('idle when stopped (as dispose() finds it after a run), holds the process until its exit', async () => {
    const thread = await startNodeTokenizerThread({}, {}, '/models/x', 'tokenizer 1');
    const worker = FakeWorker.last;
    await thread.encode(['a'], 16, 'cut');
    expect(worker.held).toBe(false);
    await thread.terminate();
    expect(worker.heldAtExit).toBe(true);
  });
});
