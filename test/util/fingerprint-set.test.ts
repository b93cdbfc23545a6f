// The compact id bookkeeping: fingerprints are found after any order of adds, collisions keep every
// reference, and memory is the typed arrays' 8 (or 12) bytes an id.
import { describe, expect, it } from 'vitest';
import { FingerprintSet, idFingerprint } from '../../src/util/fingerprint-set.js';

describe('FingerprintSet', () => {
  it('finds every added fingerprint and no other, across runs merged in any sizes', () => {
    const set = new FingerprintSet();
    const added: bigint[] = [];
    let n = 0;
    for (const size of [1, 7, 300, 2, 2, 1000, 5, 64, 64, 64, 3000]) {
      const run = Array.from({ length: size }, () => idFingerprint(`doc-${n++}`));
      set.addAll(run);
      added.push(...run);
    }
    expect(set.size).toBe(n);
    expect(added.every((k) => set.has(k))).toBe(true);
    expect(Array.from({ length: 2000 }, (_, i) => idFingerprint(`other-${i}`)).some((k) => set.has(k))).toBe(false);
    expect(set.bytes).toBe(8 * n);
  });

  it('keeps each reference of fingerprints that collide', () => {
    const set = new FingerprintSet(true);
    set.addAll([5n, 9n, 5n], [0, 1, 2]);
    set.addAll([9n, 1n], [3, 4]);
    set.addAll([5n], [5]);
    expect(set.refsOf(5n).sort()).toEqual([0, 2, 5]);
    expect(set.refsOf(9n).sort()).toEqual([1, 3]);
    expect(set.refsOf(7n)).toEqual([]);
    expect(set.bytes).toBe(12 * 6);
  });

  it('gives distinct fingerprints to a million ids that differ only in their last characters', () => {
    const keys = new BigUint64Array(1_000_000);
    for (let i = 0; i < keys.length; i++) keys[i] = idFingerprint(`r${i}`);
    keys.sort();
    let repeats = 0;
    for (let i = 1; i < keys.length; i++) if (keys[i] === keys[i - 1]) repeats++;
    expect(repeats).toBe(0);
  });
});
