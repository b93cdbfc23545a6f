import { describe, expect, it } from 'vitest';
import { parallelTokenize, PIECES_HELD, splitByCharacters, type TokenizerThread } from '../../src/tokenize/parallel.js';
import type { TokenizedTexts } from '../../src/tokenize/tokenizer.js';

/** A stand-in tokenizer: one id per character code, cut at maxTokens. */
const encode = (texts: string[], maxTokens: number): TokenizedTexts => {
  let truncated = 0;
  const ids = texts.map((t) => {
    if (t.length > maxTokens) truncated++;
    return Int32Array.from([...t.slice(0, maxTokens)].map((c) => c.charCodeAt(0)));
  });
  return { ids, truncated };
};
const thread = (fail = false, delayMs = 0): TokenizerThread & { calls: number; holding: number; mostHeld: number; seen: string[] } => ({
  calls: 0,
  holding: 0,
  mostHeld: 0,
  seen: [],
  async encode(texts, maxTokens) {
    this.calls++;
    this.seen.push(texts[0]!);
    this.mostHeld = Math.max(this.mostHeld, ++this.holding);
    try {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (fail) throw new Error('thread died');
      return encode(texts, maxTokens);
    } finally {
      this.holding--;
    }
  },
  terminate: async () => undefined,
});

describe('splitByCharacters', () => {
  it('cuts contiguous, non-empty slices that cover every text once, of about equal characters', () => {
    const texts = Array.from({ length: 1000 }, (_, i) => 'x'.repeat((i * 37) % 200));
    for (const parts of [1, 2, 3, 7, 16]) {
      const slices = splitByCharacters(texts, parts);
      expect(slices.length).toBe(parts);
      expect(slices[0]![0]).toBe(0);
      expect(slices.at(-1)![1]).toBe(texts.length);
      for (let i = 1; i < slices.length; i++) expect(slices[i]![0]).toBe(slices[i - 1]![1]);
      const sizes = slices.map(([a, b]) => texts.slice(a, b).reduce((s, t) => s + t.length + 1, 0));
      const total = sizes.reduce((a, b) => a + b, 0);
      for (const s of sizes) expect(Math.abs(s - total / parts)).toBeLessThan(total / parts * 0.1 + 200);
    }
  });
  it('never makes more slices than texts, nor empty ones', () => {
    expect(splitByCharacters(['a', 'b'], 8)).toEqual([[0, 1], [1, 2]]);
    expect(splitByCharacters([], 4)).toEqual([]);
    expect(splitByCharacters(['', '', 'long text here'], 3)).toEqual([[0, 1], [1, 2], [2, 3]]);
  });
});

describe('parallelTokenize', () => {
  const texts = Array.from({ length: 200 }, (_, i) => `text number ${i} ${'y'.repeat(i % 50)}`);
  it('gives the ids of tokenizing in place, in order, with the truncation count', async () => {
    const threads = [thread(), thread(), thread()];
    const got = await parallelTokenize(threads, encode)(texts, 20, 'cut');
    expect(got).toEqual(encode(texts, 20));
    // 200 texts: 7 pieces (about 32 texts each), spread over all three threads.
    expect(threads.reduce((a, t) => a + t.calls, 0)).toBe(7);
    for (const t of threads) expect(t.calls).toBeGreaterThan(0);
  });
  it('hands a slow thread fewer pieces, never more than it may hold, and keeps the order', async () => {
    const many = Array.from({ length: 1024 }, (_, i) => `text ${i} ${'z'.repeat(i % 40)}`);
    const fast = thread();
    const slow = thread(false, 60);
    const got = await parallelTokenize([slow, fast], encode)(many, 30, 'cut');
    expect(got).toEqual(encode(many, 30));
    // 8 pieces: the slow thread holds its first two for 60 ms while the fast one takes the other six.
    expect(slow.calls).toBe(PIECES_HELD);
    expect(fast.calls).toBe(8 - PIECES_HELD);
    expect(Math.max(slow.mostHeld, fast.mostHeld)).toBeLessThanOrEqual(PIECES_HELD);
  });
  it('hands a lone thread each call whole', async () => {
    const only = thread();
    expect(await parallelTokenize([only], encode)(texts, 20, 'cut')).toEqual(encode(texts, 20));
    expect(only.calls).toBe(1);
  });
  it('gives every one of calls made at once its own ids, its pieces handed out after the earlier call\'s', async () => {
    const a = Array.from({ length: 300 }, (_, i) => `first call ${i}`);
    const b = Array.from({ length: 300 }, (_, i) => `second call ${i}`);
    const threads = [thread(false, 5), thread(false, 5)];
    const tokenize = parallelTokenize(threads, encode);
    const [gotA, gotB] = await Promise.all([tokenize(a, 12, 'cut'), tokenize(b, 12, 'cut')]);
    expect(gotA).toEqual(encode(a, 12));
    expect(gotB).toEqual(encode(b, 12));
    // Each thread saw some of each call, and no piece of the first call after one of the second.
    for (const t of threads) {
      const firstOfB = t.seen.findIndex((s) => s.startsWith('second'));
      expect(firstOfB).toBeGreaterThan(0);
      expect(t.seen.slice(firstOfB).every((s) => s.startsWith('second'))).toBe(true);
    }
  });
  it('tokenizes a failed thread\'s pieces in place, drops the thread and says so', async () => {
    const lost: string[] = [];
    const threads = [thread(), thread(true)];
    const tokenize = parallelTokenize(threads, encode, (e, left) => lost.push(`${e.message}, ${left} left`));
    expect(await tokenize(texts, 30, 'cut')).toEqual(encode(texts, 30));
    expect(lost).toEqual(['thread died, 1 left']);
    const asked = threads[1]!.calls;
    expect(await tokenize(texts, 30, 'cut')).toEqual(encode(texts, 30));
    expect(threads[1]!.calls).toBe(asked); // not asked again
  });
  it('tokenizes in place every piece a failed thread held, though the thread never answers the others', async () => {
    const many = Array.from({ length: 512 }, (_, i) => `text ${i}`);
    let asked = 0;
    const silent: TokenizerThread = {
      // The first piece fails; the second is never answered, as by a worker whose proxy was released.
      encode: () => (asked++ === 0 ? Promise.reject(new Error('worker threw')) : new Promise<never>(() => undefined)),
      terminate: async () => undefined,
    };
    const lost: string[] = [];
    const healthy = thread();
    const got = await parallelTokenize([silent, healthy], encode, (e, left) => lost.push(`${e.message}, ${left} left`))(many, 10, 'cut');
    expect(got).toEqual(encode(many, 10));
    expect(asked).toBe(PIECES_HELD);
    expect(lost).toEqual(['worker threw, 1 left']);
  });
  it('still settles every piece when the loss report itself throws', async () => {
    const tokenize = parallelTokenize([thread(true), thread()], encode, () => {
      throw new Error('report failed');
    });
    expect(await tokenize(texts, 15, 'cut')).toEqual(encode(texts, 15));
  });
  it('tokenizes every piece in place once no thread is left', async () => {
    const lost: string[] = [];
    const threads = [thread(true), thread(true)];
    const tokenize = parallelTokenize(threads, encode, (e, left) => lost.push(`${e.message}, ${left} left`));
    expect(await tokenize(texts, 25, 'cut')).toEqual(encode(texts, 25));
    expect(lost).toEqual(['thread died, 1 left', 'thread died, 0 left']);
    expect(tokenize.threadsLeft()).toBe(0);
  });
});
