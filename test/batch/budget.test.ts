import { describe, expect, it } from 'vitest';
import { activationBytesPerToken, createBatchBudget, tokenCost, type BudgetSettings } from '../../src/batch/budget.js';
import { packBatches } from '../../src/batch/pack.js';

const MINILM = { hidden: 384, intermediate: 1536, heads: 12 };
const settings = (over: Partial<BudgetSettings> = {}): BudgetSettings => ({
  widths: MINILM, targetMs: 250, memoryBytes: null, bytesPerValue: 4, maxTokens: 8192, startTokens: 1024, ...over,
});

describe('token costs and activation bytes', () => {
  it('grow with the padded length (attention), from the dense layers\' cost at length 0', () => {
    expect(tokenCost(MINILM, 0)).toBe(2 * (4 * 384 * 384 + 2 * 384 * 1536));
    expect(tokenCost(MINILM, 512) - tokenCost(MINILM, 0)).toBe(4 * 512 * 384);
    expect(activationBytesPerToken(MINILM, 128, 4)).toBe(4 * (6 * 384 + 2 * 1536 + 2 * 12 * 128));
    expect(activationBytesPerToken(MINILM, 128, 2)).toBe(activationBytesPerToken(MINILM, 128, 4) / 2);
  });
});

describe('createBatchBudget', () => {
  it('starts small, then gives each length the tokens that take the target time', () => {
    const budget = createBatchBudget(settings({ maxTokens: 1e9 }));
    expect(budget.tokensAt(128)).toBe(1024);
    expect(budget.limitAt(128)).toBe('start');
    // 2,048 tokens at length 128 took 100 ms: 250 ms buys 2.5x that at the same length.
    budget.observe(16, 128, 100);
    expect(budget.limitAt(128)).toBe('time');
    expect(budget.tokensAt(128)).toBe(Math.floor(2048 * 2.5));
    // Longer batches cost more a token, so they get fewer tokens for the same time.
    expect(budget.tokensAt(512)).toBeLessThan(budget.tokensAt(128));
    expect(budget.tokensAt(512)).toBe(Math.floor(250 / (budget.msPerCost! * tokenCost(MINILM, 512))));
  });

  it('follows a change in speed (running average), ignoring empty or zero-time samples', () => {
    const budget = createBatchBudget(settings({ maxTokens: 1e9 }));
    budget.observe(16, 128, 100);
    const before = budget.tokensAt(128);
    budget.observe(0, 128, 100);
    budget.observe(16, 128, 0);
    expect(budget.tokensAt(128)).toBe(before);
    for (let i = 0; i < 20; i++) budget.observe(16, 128, 400); // the device became 4x slower
    expect(budget.tokensAt(128)).toBeLessThan(before / 3.5);
  });

  it('one stalled batch (the thread that saw it finish was busy) moves the budget at most a little', () => {
    const budget = createBatchBudget(settings({ maxTokens: 1e9 }));
    for (let i = 0; i < 5; i++) budget.observe(16, 128, 100);
    const steady = budget.tokensAt(128);
    budget.observe(16, 128, 5000); // 50x the usual time: a stall, not the device
    expect(budget.tokensAt(128)).toBeGreaterThanOrEqual(Math.floor(steady / 1.31));
  });

  it('is capped by maxBatchTokens and by the memory budget, which shrinks with length; a single text always fits', () => {
    const budget = createBatchBudget(settings({ memoryBytes: 256 * 2 ** 20 }));
    budget.observe(1, 16, 0.001); // a very fast device: time allows far more than the caps
    expect(budget.tokensAt(16)).toBe(8192);
    expect(budget.limitAt(16)).toBe('maxBatchTokens');
    expect(budget.limitAt(512)).toBe('memory');
    expect(budget.tokensAt(512)).toBe(Math.floor((256 * 2 ** 20) / activationBytesPerToken(MINILM, 512, 4)));
    const tiny = createBatchBudget(settings({ memoryBytes: 1000 }));
    expect(tiny.tokensAt(300)).toBe(300);
  });

  it('without a time bound, fills the caps from the first batch', () => {
    const budget = createBatchBudget(settings({ targetMs: null }));
    expect(budget.tokensAt(64)).toBe(8192);
  });
});

describe('packBatches with a budget that depends on the length', () => {
  it('keeps every batch within the budget at its own padded length', () => {
    const lengths = [400, 390, 300, 200, 200, 120, 100, 90, 64, 64, 64, 30, 20, 10, 8, 8, 8, 8];
    const tokensAt = (seq: number) => 4096 - 4 * seq; // fewer tokens for longer batches
    const batches = packBatches(lengths, { maxBatchTokens: 1e9, tokensAt });
    expect(batches.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    for (const b of batches) expect(b.indices.length * b.paddedLength).toBeLessThanOrEqual(Math.max(b.paddedLength, tokensAt(b.paddedLength)));
    // The same lengths under the fixed budget at the shortest length's size would pack the long ones together.
    expect(batches.find((b) => b.paddedLength === 400)!.indices.length).toBeLessThanOrEqual(Math.floor(tokensAt(400) / 400));
  });
});

describe('rampWindows', () => {
  it('a small first window, doubling each step to full windows, covering every item once in order', async () => {
    const { rampWindows, FIRST_WINDOW } = await import('../../src/engine/engine.js');
    expect(FIRST_WINDOW).toBe(256);
    const items = Array.from({ length: 20_000 }, (_, i) => i);
    const windows = rampWindows(items, 4096);
    // No step more than 2x the one before: the next window is tokenized while this one runs.
    expect(windows.map((w) => w.length)).toEqual([256, 512, 1024, 2048, 4096, 4096, 4096, 20_000 - 3840 - 3 * 4096]);
    expect(windows.flat()).toEqual(items);
    expect(rampWindows(items.slice(0, 100), 4096).map((w) => w.length)).toEqual([100]);
    // A CPU's ramp: one small window, then full ones.
    expect(rampWindows(items, 4096, Infinity).map((w) => w.length)).toEqual([256, 4096, 4096, 4096, 4096, 20_000 - 256 - 4 * 4096]);
    expect(rampWindows(items.slice(0, 300), 64).map((w) => w.length)).toEqual([64, 64, 64, 64, 44]);
  });
});
