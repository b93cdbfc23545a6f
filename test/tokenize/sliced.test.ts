// Tokenizing in slices (the worker that also runs batches): the same rows as one call, with the
// thread given back between slices, and concurrent calls interleaving at their pauses.
import { describe, expect, it } from 'vitest';
import { nodeFileAccess } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { FlatRowsWriter, loadTokenizer } from '../../src/tokenize/tokenizer.js';
import { encodeFlatSliced, taskPause, TEXTS_PER_STEP } from '../../src/tokenize/sliced.js';
import { mixedCorpus } from '../../tools/fixtures/corpus.js';
import { modelDir } from '../helpers/models.js';

describe('encodeFlatSliced', () => {
  it('gives the rows and truncation count of one encodeFlat call, pausing between slices', async () => {
    const tokenizer = await loadTokenizer(await resolveModelFiles(modelDir('fixture-minilm'), nodeFileAccess));
    const texts = [...mixedCorpus(300, 9), '', 'x '.repeat(400), 'ünïcödé — text', ''];
    for (const truncation of ['cut', 'keep-special-tokens'] as const) {
      const whole = tokenizer.encodeFlat(texts, 128, truncation);
      let clock = 0;
      let pauses = 0;
      // Every look at the clock is a millisecond later: a 4 ms slice is 4 steps of TEXTS_PER_STEP texts.
      const sliced = await encodeFlatSliced(tokenizer, texts, 128, truncation, async () => void pauses++, 4, () => clock++);
      expect(sliced.flat).toEqual(whole.flat);
      expect(sliced.offsets).toEqual(whole.offsets);
      expect(sliced.truncated).toBe(whole.truncated);
      expect(whole.truncated).toBeGreaterThan(0);
      // A pause after every 4 steps but the last.
      expect(pauses).toBe(Math.floor((Math.ceil(texts.length / TEXTS_PER_STEP) - 1) / 4));
    }
    const none = await encodeFlatSliced(tokenizer, [], 128, 'cut', async () => undefined);
    expect([...none.offsets]).toEqual([0]);
    expect(none.flat.length).toBe(0);
  });

  it('concurrent calls take turns at the pauses, each getting rows of its own texts', async () => {
    // One id per text, its length: rows say which texts they came from.
    const encodeInto = (texts: readonly string[], from: number, to: number, _max: number, _cut: unknown, out: FlatRowsWriter) => {
      for (let r = from; r < to; r++) {
        out.put([texts[r]!.length], 0, 1);
        out.endRow();
      }
    };
    const pause = taskPause();
    const log: string[] = [];
    const traced = (name: string) => {
      const t = { encodeInto: (...args: Parameters<typeof encodeInto>) => (log.push(name), encodeInto(...args)) };
      return encodeFlatSliced(t, Array.from({ length: 64 }, (_, i) => 'x'.repeat(i)), 10, 'cut', pause, 0);
    };
    const [a, b] = await Promise.all([traced('a'), traced('b')]);
    expect(log.join('')).toBe('ab'.repeat(64 / TEXTS_PER_STEP));
    expect([...a.flat]).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect([...b.offsets]).toEqual(Array.from({ length: 65 }, (_, i) => i));
  });
});

describe('FlatRowsWriter', () => {
  it('writes rows one after another, growing past its first guess, and counts what was cut', () => {
    // Four short texts: a first buffer of 64 ids (its floor), grown once below.
    const out = new FlatRowsWriter(['ab', '', 'c', 'de'], 512);
    expect(out.capacity).toBe(64);
    out.put([1, 2, 9], 0, 2);
    out.endRow();
    out.endRow();
    out.put([3], 0, 1);
    out.truncated++;
    out.endRow();
    // 200 ids: past twice the first buffer's 64, in one step.
    const long = Array.from({ length: 250 }, (_, i) => i);
    out.put(long, 5, 205);
    out.endRow();
    const rows = out.finish();
    expect([...rows.offsets]).toEqual([0, 2, 2, 3, 203]);
    expect([...rows.flat]).toEqual([1, 2, 3, ...long.slice(5, 205)]);
    expect(rows.flat.buffer.byteLength).toBe(203 * 4);
    expect(rows.truncated).toBe(1);
  });

  it('guesses the ids from the characters, never more than the cut: a 20 MB text starts a buffer of its cut, not of its length', () => {
    // 2 + 4,000 / 4 ids for the first, the cut of 128 for the other two.
    const out = new FlatRowsWriter(['w'.repeat(4000), 'w'.repeat(20_000_000), 'w'.repeat(600)], 128);
    expect(out.capacity).toBe(128 + 128 + 128);
    expect(new FlatRowsWriter(['w'.repeat(400), 'w'.repeat(1000)], 1000).capacity).toBe(102 + 252);
  });
});

it('windows take turns from the engine\'s first window size on, so every bulk window does and a query does not', async () => {
  const { FIRST_WINDOW } = await import('../../src/engine/engine.js');
  const { TURN_FROM_TEXTS } = await import('../../src/tokenize/sliced.js');
  const { SMALL_CALL_TEXTS } = await import('../../src/tokenize/parallel.js');
  expect(TURN_FROM_TEXTS).toBe(FIRST_WINDOW);
  expect(SMALL_CALL_TEXTS).toBeLessThan(TURN_FROM_TEXTS);
});
