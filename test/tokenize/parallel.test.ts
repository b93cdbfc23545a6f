import { describe, expect, it } from 'vitest';
import { parallelTokenize, splitByCharacters, type TokenizerThread } from '../../src/tokenize/parallel.js';
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
const thread = (fail = false): TokenizerThread & { calls: number } => ({
  calls: 0,
  async encode(texts, maxTokens) {
    this.calls++;
    if (fail) throw new Error('thread died');
    return encode(texts, maxTokens);
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
    expect(threads.map((t) => t.calls)).toEqual([1, 1, 1]);
  });
  it('tokenizes a failed thread\'s slice in place, drops the thread and says so', async () => {
    const lost: string[] = [];
    const threads = [thread(), thread(true)];
    const tokenize = parallelTokenize(threads, encode, (e, left) => lost.push(`${e.message}, ${left} left`));
    expect(await tokenize(texts, 30, 'cut')).toEqual(encode(texts, 30));
    expect(lost).toEqual(['thread died, 1 left']);
    expect(await tokenize(texts, 30, 'cut')).toEqual(encode(texts, 30));
    expect(threads[1]!.calls).toBe(1); // not asked again
  });
});
