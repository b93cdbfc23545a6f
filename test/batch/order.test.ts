import { describe, expect, it } from 'vitest';
import { fillDuplicates, foldDuplicates, scatterRows } from '../../src/batch/order.js';

describe('foldDuplicates', () => {
  it('keeps the first occurrence of each string and points repeats at it', () => {
    const { unique, firstOf } = foldDuplicates(['a', 'b', 'a', '', 'b', '']);
    expect(unique).toEqual([0, 1, 3]);
    expect(Array.from(firstOf)).toEqual([0, 1, 0, 3, 1, 3]);
  });

  it('tells apart texts of one length that differ only between the characters it samples, and folds their repeats', () => {
    // 300 distinct texts of one length and template (one digit pair differs), each twice, shuffled,
    // beside texts of other lengths: the first occurrence of each string wins, exactly as a Map would.
    const texts: string[] = [];
    for (let i = 0; i < 600; i++) texts.push(`doc ${String((i * 7919) % 300).padStart(3, '0')} ${'same words '.repeat(20)}`);
    for (let i = 0; i < 50; i++) texts.push('x'.repeat(i % 10), `short ${i % 25}`);
    const want = new Map<string, number>();
    const expected = texts.map((t, i) => (want.has(t) ? want.get(t)! : (want.set(t, i), i)));
    const { unique, firstOf } = foldDuplicates(texts);
    expect(Array.from(firstOf)).toEqual(expected);
    expect(unique).toEqual(expected.flatMap((first, i) => (first === i ? [i] : [])));
    expect(unique.length).toBe(300 + 10 + 25);
  });
});

describe('scatterRows + fillDuplicates', () => {
  it('restores input order from batch order and copies repeated rows', () => {
    const dim = 2;
    const out = new Float32Array(5 * dim);
    // Batches ran positions 3, 0 then 1; position 2 repeats 0 and 4 repeats 3.
    scatterRows(out, dim, [3, 0], Float32Array.from([30, 31, 0, 1]));
    scatterRows(out, dim, [1], Float32Array.from([10, 11]));
    fillDuplicates(out, dim, Int32Array.from([0, 1, 0, 3, 3]));
    expect(Array.from(out)).toEqual([0, 1, 10, 11, 0, 1, 30, 31, 30, 31]);
  });

  it('maps batch indices through a window\'s text positions', () => {
    const dim = 2;
    const out = new Float32Array(4 * dim);
    // A window holding texts 3 and 1 (window indices 0 and 1); its batch ran window index 1, then 0.
    scatterRows(out, dim, [1, 0], Float32Array.from([10, 11, 30, 31]), [3, 1]);
    expect(Array.from(out)).toEqual([0, 0, 10, 11, 0, 0, 30, 31]);
  });

  it('refuses a result of the wrong size', () => {
    expect(() => scatterRows(new Float32Array(4), 2, [0, 1], new Float32Array(3))).toThrow(RangeError);
  });
});
