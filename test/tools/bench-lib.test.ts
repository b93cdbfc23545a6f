// The benchmarks' statistics: a share's interval is what tells a real change from a 2-core machine's
// spread, so it must contain the median it brackets, narrow as runs are added, and not move between
// two reports of the same runs.
import { describe, expect, it } from 'vitest';
import { median, medianInterval, pairedShare, pairedShareInterval, seededRandom, shareCell } from '../../bench/lib.js';

/** `n` values around `center`, spread evenly by +-`spread` (relative), in a shuffled order. */
function spreadAround(center: number, spread: number, n: number): number[] {
  const values = Array.from({ length: n }, (_, i) => center * (1 - spread + (2 * spread * i) / (n - 1)));
  const random = seededRandom(7);
  return values.sort(() => random() - 0.5);
}

describe('bench statistics', () => {
  it('brackets the median, and narrows with more runs', () => {
    const nine = spreadAround(1, 0.15, 9);
    const eightyOne = spreadAround(1, 0.15, 81);
    const [lo9, hi9] = medianInterval(nine);
    const [lo81, hi81] = medianInterval(eightyOne);
    expect(lo9).toBeLessThanOrEqual(median(nine));
    expect(hi9).toBeGreaterThanOrEqual(median(nine));
    expect(hi9 - lo9).toBeGreaterThan(0.05);
    expect(hi81 - lo81).toBeLessThan((hi9 - lo9) / 2);
    expect(medianInterval(nine)).toEqual([lo9, hi9]);
  });

  it('gives a share of exactly 5 % a point interval, and turns ratios into shares low to high', () => {
    const alone = spreadAround(2e6, 0.15, 9);
    expect(pairedShareInterval(alone.map((t) => 0.95 * t), alone).map((x) => x.toFixed(6))).toEqual(['0.050000', '0.050000']);
    const engine = alone.map((t, i) => t * (0.9 + (i % 3) * 0.05));
    const [low, high] = pairedShareInterval(engine, alone);
    expect(low).toBeLessThanOrEqual(pairedShare(engine, alone));
    expect(high).toBeGreaterThanOrEqual(pairedShare(engine, alone));
    expect(low).toBeGreaterThanOrEqual(0);
    expect(high).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(shareCell(alone.map((t) => 0.95 * t), alone)).toBe('5.0% (5.0 to 5.0)');
  });
});
