// The benchmarks' statistics: a share's interval is what tells a real change from a 2-core machine's
// spread, so it must be the order statistics that hold the median with 95 % confidence, whatever
// the order the runs came in, and turn the pairs' ratios into shares the right way round.
import { describe, expect, it } from 'vitest';
import { medianInterval, shareCell, shareFigures } from '../../bench/lib.js';

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
/** A fixed shuffle, so that the order of the runs is not sorted. */
const shuffled = (xs: number[]) => xs.map((x, i) => [(i * 7919) % xs.length, x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);

describe('bench statistics', () => {
  it('takes the order statistics that hold the median with at least 95 %', () => {
    // Tables of the sign test: 2nd to 8th of 9 (96.1 %), 4th to 12th of 15 (96.5 %), 6th to 15th of 20, 14th to 27th of 40.
    expect(medianInterval(shuffled(oneTo(9)))).toEqual([2, 8]);
    expect(medianInterval(shuffled(oneTo(15)))).toEqual([4, 12]);
    expect(medianInterval(shuffled(oneTo(20)))).toEqual([6, 15]);
    expect(medianInterval(shuffled(oneTo(40)))).toEqual([14, 27]);
    // Five runs cannot reach 95 % (2 / 32 miss): the whole range, never a narrower one.
    expect(medianInterval([5, 1, 4, 2, 3])).toEqual([1, 5]);
    expect(medianInterval([3])).toEqual([3, 3]);
    expect(medianInterval([])).toEqual([NaN, NaN]);
  });

  it('turns the ratios of pairs into shares, low to high', () => {
    const alone = shuffled(oneTo(9).map((i) => 2e6 + 1e5 * i));
    const even = shareFigures(alone.map((t) => 0.95 * t), alone);
    expect([even.low95, even.high95].map((x) => x.toFixed(6))).toEqual(['0.050000', '0.050000']);
    // Ratios 0.91 .. 0.99: the share's interval is 1 - the 8th ratio to 1 - the 2nd.
    const engine = alone.map((t, i) => t * (0.9 + 0.01 * ((i * 4) % 9 + 1)));
    const { share, low95, high95 } = shareFigures(engine, alone);
    expect(low95).toBeCloseTo(0.02, 9);
    expect(high95).toBeCloseTo(0.08, 9);
    expect(share).toBeCloseTo(0.05, 9);
    expect(shareCell(engine, alone)).toBe('5.0% (2.0 to 8.0)');
    expect(() => shareFigures(engine.slice(1), alone)).toThrow(/8 engine runs against 9/);
    // Three runs: the pairs' whole range, said to be only that.
    expect(shareCell(engine.slice(0, 3), alone.slice(0, 3))).toMatch(/^\d+\.\d% \(range -?\d+\.\d to -?\d+\.\d\)$/);
  });
});
