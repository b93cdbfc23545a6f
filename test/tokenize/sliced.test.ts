// Tokenizing in slices (the worker that also runs batches): the same rows as one call, with the
// thread given back between slices, and concurrent calls interleaving at their pauses.
import { describe, expect, it } from 'vitest';
import { nodeFileAccess } from '../../src/node.js';
import { resolveModelFiles } from '../../src/model/files.js';
import { loadTokenizer } from '../../src/tokenize/tokenizer.js';
import { encodeFlatSliced, joinFlatRows, taskPause } from '../../src/tokenize/sliced.js';
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
      // Every look at the clock is a millisecond later: a 4 ms slice is 4 steps of 16 texts.
      const sliced = await encodeFlatSliced(tokenizer, texts, 128, truncation, async () => void pauses++, 4, () => clock++);
      expect(sliced.flat).toEqual(whole.flat);
      expect(sliced.offsets).toEqual(whole.offsets);
      expect(sliced.truncated).toBe(whole.truncated);
      expect(whole.truncated).toBeGreaterThan(0);
      // 16 texts a step and a pause after every 4 steps but the last.
      expect(pauses).toBe(Math.floor((Math.ceil(texts.length / 16) - 1) / 4));
    }
    const none = await encodeFlatSliced(tokenizer, [], 128, 'cut', async () => undefined);
    expect([...none.offsets]).toEqual([0]);
    expect(none.flat.length).toBe(0);
  });

  it('concurrent calls take turns at the pauses, each getting rows of its own texts', async () => {
    // One id per text, its length: rows say which texts they came from.
    const tokenizer = {
      encodeFlat: (texts: readonly string[]) => ({
        flat: Int32Array.from(texts.map((t) => t.length)), offsets: Int32Array.from({ length: texts.length + 1 }, (_, i) => i), truncated: 0,
      }),
    };
    const pause = taskPause();
    const log: string[] = [];
    const traced = (name: string) => {
      const t = { encodeFlat: (texts: readonly string[]) => (log.push(name), tokenizer.encodeFlat(texts)) };
      return encodeFlatSliced(t, Array.from({ length: 64 }, (_, i) => 'x'.repeat(i)), 10, 'cut', pause, 0);
    };
    const [a, b] = await Promise.all([traced('a'), traced('b')]);
    expect(log.join('')).toBe('abababab');
    expect([...a.flat]).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect([...b.offsets]).toEqual(Array.from({ length: 65 }, (_, i) => i));
  });
});

describe('joinFlatRows', () => {
  it('concatenates rows in order and sums truncation', () => {
    const part = (rows: number[][], truncated: number) => {
      const offsets = new Int32Array(rows.length + 1);
      rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.length));
      return { flat: Int32Array.from(rows.flat()), offsets, truncated };
    };
    const joined = joinFlatRows([part([[1, 2], []], 1), part([[3]], 0), part([], 0), part([[4, 5, 6]], 2)], 4);
    expect([...joined.flat]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...joined.offsets]).toEqual([0, 2, 2, 3, 6]);
    expect(joined.truncated).toBe(3);
  });
});

it('windows take turns from the engine\'s first window size on, so every bulk window does and a query does not', async () => {
  const { FIRST_WINDOW } = await import('../../src/engine/engine.js');
  const { TURN_FROM_TEXTS } = await import('../../src/tokenize/sliced.js');
  const { SMALL_CALL_TEXTS } = await import('../../src/tokenize/parallel.js');
  expect(TURN_FROM_TEXTS).toBe(FIRST_WINDOW);
  expect(SMALL_CALL_TEXTS).toBeLessThan(TURN_FROM_TEXTS);
});
