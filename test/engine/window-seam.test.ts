// The seam between windows: a lane that finds a window's batches all taken starts on the next
// window's while another lane still runs the last batch, and a failure anywhere still ends the call
// with its own error, only once every batch in flight is back. Lanes and the tokenizer are fakes
// (the engine's seam), so each test decides which batch is slow and which one fails.
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Lane } from '../../src/engine/engine.js';
import { createEmbedder } from '../../src/node.js';
import { AbortError, InvalidOutputError } from '../../src/base/errors.js';
import type { EmbedderInfo } from '../../src/base/types.js';
import { modelDir } from '../helpers/models.js';

let info: EmbedderInfo;
beforeAll(async () => {
  const loaded = await createEmbedder({ model: modelDir('fixture-tiny'), device: 'cpu', tokenizerThreads: 0 });
  info = { ...loaded.info, reasons: [], maxBatchTokens: 3 }; // 3-token texts: one text a batch
  await loaded.dispose();
});

const texts = Array.from({ length: 12 }, (_, i) => `text ${i}`);
/** Text i's ids are [1, 10 + i, 2]: every batch says which text it holds. */
const textOf = (row: Int32Array) => row[1]! - 10;
const tick = () => new Promise((r) => setTimeout(r, 1));

/** A lane that records which texts it started and answers with a one-hot vector per text (unit length, so it passes the check). */
function fakeLane(name: string, log: string[], hold: (text: number) => Promise<void> | undefined = () => undefined, bad = -1): Lane {
  return {
    name,
    async run(rows) {
      const which = rows.map(textOf);
      log.push(`${name} ${which.join(',')}`);
      await (which.map(hold).find(Boolean) ?? tick());
      const out = new Float32Array(rows.length * info.dim);
      which.forEach((t, r) => (out[r * info.dim + (t % info.dim)] = t === bad ? NaN : 1));
      return out;
    },
  };
}

/** An engine over the fake lanes, windows of 4 texts (3 windows for the 12 texts) unless `settings` say otherwise. */
function engineOf(lanes: Lane[], tokenizeFails = -1, settings: { lookahead?: number; maxBatchTokens?: number } = {}) {
  let window = 0;
  return createEngine({
    info: { ...info, maxBatchTokens: settings.maxBatchTokens ?? info.maxBatchTokens },
    tokenizeNextAtOnce: () => true,
    tokenize: async (batch) => {
      if (window++ === tokenizeFails) throw new Error(`tokenizer failed on window ${tokenizeFails}`);
      return { ids: batch.map((t) => Int32Array.of(1, 10 + Number(t.split(' ')[1]), 2)), truncated: 0 };
    },
    lanes,
    release: async () => undefined,
  }, { lookahead: settings.lookahead ?? 4, targetBatchMs: settings.maxBatchTokens ? 250 : Infinity });
}

/** Waits until `test` holds, or `ms` pass. */
async function until(test: () => boolean, ms = 1000): Promise<boolean> {
  const end = performance.now() + ms;
  while (!test() && performance.now() < end) await tick();
  return test();
}

describe('the seam between windows', () => {
  it('a lane that finds a window taken starts the next one while the other lane runs the last batch, and every row lands right', async () => {
    const log: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // The slow lane's first batch (text 0, window 0) is held until the test lets it go.
    const slow = fakeLane('slow', log, (t) => (t === 0 ? held : undefined));
    const engine = engineOf([slow, fakeLane('fast', log)]);
    const result = engine.embed(texts);
    const nextWindowStarted = await until(() => log.some((l) => /^fast [4-7]$/.test(l)));
    const startedWhileHeld = log.length;
    release();
    const { data } = await result;
    await engine.dispose();
    expect(nextWindowStarted).toBe(true);
    expect(startedWhileHeld).toBeGreaterThanOrEqual(5); // window 0's four batches and at least one of window 1's
    texts.forEach((_, i) => expect(data[i * info.dim + (i % info.dim)], `row ${i}`).toBe(1));
  });

  it('a bad vector in the next window ends the call with its InvalidOutputError naming the text, after the held batch is back, and nothing runs after', async () => {
    const log: string[] = [];
    let heldBack = false;
    const slow = fakeLane('slow', log, (t) => (t === 0 ? new Promise<void>((r) => setTimeout(() => { heldBack = true; r(); }, 150)) : undefined));
    const engine = engineOf([slow, fakeLane('fast', log, () => undefined, 5)]);
    const error = await engine.embed(texts).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOutputError);
    expect((error as InvalidOutputError).index).toBe(5);
    expect(heldBack).toBe(true);
    const runs = log.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(log.length).toBe(runs);
    expect(log.some((l) => /^(slow|fast) (8|9|10|11)$/.test(l))).toBe(false); // window 2 never started: window 1 failed first
    // The lanes are clean for the next call.
    const again = engineOf([fakeLane('a', []), fakeLane('b', [])]);
    expect((await again.embed(texts)).count).toBe(12);
    await Promise.all([engine.dispose(), again.dispose()]);
  });

  it('the next window\'s tokenizer failing ends the call with that error, not an abort, after the batches in flight are back', async () => {
    const log: string[] = [];
    let heldBack = false;
    const slow = fakeLane('slow', log, (t) => (t === 0 ? new Promise<void>((r) => setTimeout(() => { heldBack = true; r(); }, 100)) : undefined));
    const engine = engineOf([slow, fakeLane('fast', log)], 1);
    const error = await engine.embed(texts).then(() => null, (e: unknown) => e);
    expect((error as Error).message).toBe('tokenizer failed on window 1');
    expect(heldBack).toBe(true);
    await engine.dispose();
  });

  it('the first seam waits for a timed batch: the second window is packed to the learned budget, not the start budget', async () => {
    // 256 texts of 3 tokens are one batch under the start budget (1,024 tokens): that window drains
    // at once, before any batch is timed. 4,096 more then make 8 batches of 512 rows (the row cap)
    // once the budget has learned that a batch takes a millisecond, not 12 of 341 rows.
    const log: string[] = [];
    const many = Array.from({ length: 256 + 4096 }, (_, i) => `text ${i}`);
    const lanes = Array.from({ length: 8 }, (_, k) => fakeLane(`lane ${k}`, log));
    const engine = engineOf(lanes, -1, { lookahead: 4096, maxBatchTokens: 1 << 20 });
    expect((await engine.embed(many)).count).toBe(many.length);
    await engine.dispose();
    expect(log.length).toBe(1 + 8);
  });

  it('the caller\'s abort stops every window: an AbortError with its reason, and no batch starts after', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const slow = fakeLane('slow', log, (t) => (t === 0 ? new Promise<void>((r) => setTimeout(r, 100)) : undefined));
    const engine = engineOf([slow, fakeLane('fast', log, (t) => (t === 5 ? (controller.abort('enough'), undefined) : undefined))]);
    const error = await engine.embed(texts, { signal: controller.signal }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(String((error as AbortError).message)).toContain('enough');
    const runs = log.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(log.length).toBe(runs);
    expect(log.some((l) => /^(slow|fast) (8|9|10|11)$/.test(l))).toBe(false);
    await engine.dispose();
  });

  it('tokenizing off the lanes\' thread is two windows ahead: the window after next is asked for when a window\'s ids arrive', async () => {
    const asked = async (atOnce: boolean) => {
      const log: string[] = [];
      const answers: (() => void)[] = [];
      const engine = createEngine({
        info,
        tokenizeNextAtOnce: () => atOnce,
        // Each window's ids come only when the test says so.
        tokenize: (batch) => {
          const w = answers.length;
          log.push(`asked ${w}`);
          return new Promise((resolve) => answers.push(() => {
            log.push(`answered ${w}`);
            resolve({ ids: batch.map((t) => Int32Array.of(1, 10 + Number(t.split(' ')[1]), 2)), truncated: 0 });
          }));
        },
        lanes: [fakeLane('lane', [])],
        release: async () => undefined,
      }, { lookahead: 4, targetBatchMs: Infinity });
      const result = engine.embed(texts); // 3 windows of 4 texts
      for (let w = 0; w < 3; w++) {
        await until(() => answers.length > w);
        await tick();
        answers[w]!();
      }
      const { data } = await result;
      await engine.dispose();
      texts.forEach((_, i) => expect(data[i * info.dim + (i % info.dim)], `row ${i}`).toBe(1));
      return log;
    };
    // Off the thread: windows 0 and 1 at once, window 2 as soon as window 0's ids are in.
    expect(await asked(true)).toEqual(['asked 0', 'asked 1', 'answered 0', 'asked 2', 'answered 1', 'answered 2']);
    // In place: one window at a time, the next asked for once this one's ids are in.
    expect(await asked(false)).toEqual(['asked 0', 'answered 0', 'asked 1', 'answered 1', 'asked 2', 'answered 2']);
  });

  it('an abort while the next window is being tokenized ends the call at once with an AbortError, not the tokenizer\'s later failure', async () => {
    let window = 0;
    const engine = createEngine({
      info,
      tokenizeNextAtOnce: () => true,
      // Window 0 at once; window 1 takes a second, then fails.
      tokenize: async (batch) => {
        if (window++ === 0) return { ids: batch.map((t) => Int32Array.of(1, 10 + Number(t.split(' ')[1]), 2)), truncated: 0 };
        await new Promise((r) => setTimeout(r, 1000));
        throw new Error('tokenizer broke');
      },
      lanes: [fakeLane('lane', [])],
      release: async () => undefined,
    }, { lookahead: 4, targetBatchMs: Infinity });
    const controller = new AbortController();
    const started = performance.now();
    const result = engine.embed(texts, { signal: controller.signal });
    setTimeout(() => controller.abort('user left'), 50);
    const error = await result.catch((e: unknown) => e);
    const ms = performance.now() - started;
    await engine.dispose();
    expect(error).toBeInstanceOf(AbortError);
    expect(ms).toBeLessThan(500);
  });
});
