// The browser createEmbedder where no dedicated worker can be made (here Node, which has no global
// Worker; a SharedWorker or a service worker alike): a typed error naming the context, at once.
import { describe, expect, it } from 'vitest';
import { createEmbedder, InvalidOptionError, WorkerUnavailableError } from '../../src/index.js';

describe('browser createEmbedder without Worker', () => {
  it('rejects with WorkerUnavailableError naming the context, before any download', async () => {
    expect(typeof (globalThis as { Worker?: unknown }).Worker).toBe('undefined');
    let fetched = 0;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (...args: Parameters<typeof fetch>) => (fetched++, realFetch(...args))) as typeof fetch;
    try {
      const error = await createEmbedder({ model: 'Xenova/all-MiniLM-L6-v2' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerUnavailableError);
      expect((error as Error).message).toMatch(/dedicated Web Workers.*Node: import 'bulk-embed\/node' there/);
      expect(fetched).toBe(0);
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it('refuses a timeout a timer cannot wait, or none, by name, before anything starts', async () => {
    for (const [option, value, says] of [
      ['batchTimeoutMs', 3e9, /batchTimeoutMs.*3000000000 ms is longer than a timer can wait \(2147483647 ms\)/],
      ['loadTimeoutMs', 2 ** 31, /loadTimeoutMs.*longer than a timer can wait/],
      ['batchTimeoutMs', 0, /batchTimeoutMs.*0 is not a positive integer/],
    ] as const) {
      const error = await createEmbedder({ model: 'Xenova/all-MiniLM-L6-v2', [option]: value }).catch((e: unknown) => e);
      expect(error, option).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toMatch(says);
    }
  });
});
