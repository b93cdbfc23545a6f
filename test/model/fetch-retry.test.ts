// Model downloads survive a flaky server: 503s (with Retry-After), 429s and cut connections are
// tried again with a growing, jittered delay; a 404 or 403 fails at once naming the file; the
// retries stop at their bound, and an abort ends the wait.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, createEmbedder, ModelFileError, type RetryNotice } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { RetryableFetchError, retryAfterMs, withRetries } from '../../src/model/fetch-retry.js';
import { startModelServer, type ModelServer } from '../helpers/model-server.js';

/** A model server whose next `failures` answers are `status` (or cut connections for status 0). */
let failures = 0;
let status = 503;
let requests = 0;
/** Paths requested, in order. */
const paths: string[] = [];
let server: ModelServer;
let base = '';
beforeAll(async () => {
  server = await startModelServer((path, req, res) => {
    requests++;
    paths.push(path);
    if (path.startsWith('forbidden/')) {
      res.statusCode = 403;
      res.end();
      return true;
    }
    if (failures <= 0) return false;
    failures--;
    if (status === 0) req.socket.destroy();
    else {
      res.statusCode = status;
      res.setHeader('Retry-After', '0');
      res.end('busy');
    }
    return true;
  });
  base = server.base;
});
afterAll(() => server.close());

const fast = { baseDelayMs: 5, maxDelayMs: 20 };

describe('model downloads', () => {
  it('a server failing the first 3 requests with 503 then serving: the load succeeds, each retry reported', async () => {
    failures = 3;
    status = 503;
    const notices: RetryNotice[] = [];
    const e = await createEmbedder({ model: `${base}/fixture-tiny`, retry: fast, onRetry: (n) => notices.push(n) });
    expect((await e.embed(['river garden'])).dim).toBe(64);
    await e.dispose();
    expect(notices.map((n) => [n.attempt, n.reason])).toEqual([[1, 'HTTP 503'], [2, 'HTTP 503'], [3, 'HTTP 503']]);
    expect(notices[0]!.url).toBe(`${base}/fixture-tiny/config.json`);
  });

  it('429 and cut connections are retried too', async () => {
    for (const s of [429, 0]) {
      failures = 2;
      status = s;
      const files = await resolveModelFiles(`${base}/fixture-tiny`, { retry: fast });
      expect(JSON.parse(new TextDecoder().decode(await files.read('config.json'))).hidden_size).toBe(64);
    }
  });

  it('a 404 or a 403 fails at once, naming the file', async () => {
    failures = 0;
    const before = requests;
    await expect(createEmbedder({ model: `${base}/missing`, retry: fast })).rejects.toThrow(`model file config.json at ${base}/missing: not found (HTTP 404)`);
    await expect(createEmbedder({ model: `${base}/forbidden`, retry: fast })).rejects.toThrow(`model file config.json at ${base}/forbidden: HTTP 403`); // the URL once
    expect(requests - before).toBe(2);
  });

  it('the tokenizer thread starting beside the load shares its downloads: each file is requested once', async () => {
    failures = 0;
    const from = paths.length;
    const e = await createEmbedder({ model: `${base}/fixture-tiny`, device: 'cpu', tokenizerThreads: 1, retry: fast });
    try {
      expect(e.info.reasons.join('\n')).toMatch(/tokenizing on 1 worker thread/);
      const asked = paths.slice(from);
      for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
        expect(asked.filter((p) => p === `fixture-tiny/${file}`), file).toHaveLength(1);
      }
      expect((await e.embed(['river garden'])).dim).toBe(64);
    } finally {
      await e.dispose();
    }
  });

  it('gives up after its retries with a ModelFileError naming the file, the reason and the tries', async () => {
    failures = 100;
    status = 503;
    const files = await resolveModelFiles(`${base}/fixture-tiny`, { retry: { ...fast, retries: 2 } });
    const error = await files.read('config.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toBe(`model file config.json at ${base}/fixture-tiny: HTTP 503, 3 tries`);
    failures = 0;
  });

  it('an abort ends the wait between retries', async () => {
    failures = 100;
    status = 503;
    const controller = new AbortController();
    const files = await resolveModelFiles(`${base}/fixture-tiny`, { retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, totalMs: 600_000 }, signal: controller.signal });
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    await expect(files.read('config.json')).rejects.toThrow(AbortError);
    expect(Date.now() - started).toBeLessThan(5000);
    failures = 0;
  });
});

describe('withRetries', () => {
  it('doubles the delay with jitter, honours a longer Retry-After, and stays within the total bound', async () => {
    const delays: number[] = [];
    let calls = 0;
    await expect(withRetries('u', async () => {
      calls++;
      throw new RetryableFetchError('HTTP 503', calls === 3 ? 400 : undefined);
    }, (reason, tries) => new Error(`${reason} x${tries}`), { policy: { retries: 4, baseDelayMs: 10, maxDelayMs: 1000 }, random: () => 0.5, onRetry: (n) => delays.push(n.delayMs) })).rejects.toThrow('HTTP 503 x5');
    expect(delays).toEqual([10, 20, 400, 80]); // 10 * 2^k at jitter 1.0; the third carried Retry-After 400 ms
    const bounded: number[] = [];
    await expect(withRetries('u', async () => {
      throw new RetryableFetchError('HTTP 500');
    }, () => new Error('gave up'), { policy: { retries: 10, baseDelayMs: 30, totalMs: 100 }, random: () => 0.5, onRetry: (n) => bounded.push(n.delayMs) })).rejects.toThrow('gave up');
    expect(bounded).toEqual([30, 60]); // the next (120 ms) would pass the 100 ms bound
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString(), Date.now())).toBeGreaterThan(3000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
