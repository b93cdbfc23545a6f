// Compact per-id bookkeeping: 64-bit fingerprints of ids in sorted typed arrays (8 bytes an id,
// 12 with a reference), instead of JS strings in a Set (about 60 bytes an id). Fingerprints can
// collide, so a hit only says "maybe": callers confirm hits exactly against the data (the file's
// rows) or the ids kept exactly for the current windows.
//
// Entries arrive in runs (one window or one file batch at a time). Runs are kept sorted and merged
// like a log-structured merge tree: a run is merged into the one before it while that one is not
// more than twice its size, so a lookup binary-searches a few runs and adding n ids costs
// O(n log n) in all.

/** A 64-bit fingerprint of an id: two 32-bit multiplicative hashes of its UTF-16 code units. */
export function idFingerprint(id: string): bigint {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9 ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  // Final mixing spreads the last characters over all bits (ids often differ only at the end).
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  a ^= a >>> 13;
  b = Math.imul(b ^ (b >>> 15), 0xc2b2ae35);
  b ^= b >>> 16;
  return (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0);
}

interface Run {
  keys: BigUint64Array;
  refs: Uint32Array | null;
}

/** A multiset of 64-bit fingerprints, each with an optional 32-bit reference (a row number). */
export class FingerprintSet {
  private runs: Run[] = [];
  private count = 0;

  /** Whether entries carry references. */
  constructor(private readonly withRefs = false) {}

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the entries' arrays. */
  get bytes(): number {
    return this.runs.reduce((sum, run) => sum + run.keys.byteLength + (run.refs?.byteLength ?? 0), 0);
  }

  /** Adds entries (any order); `refs[i]` goes with `keys[i]` when the set keeps references. */
  addAll(keys: readonly bigint[] | BigUint64Array, refs?: readonly number[] | Uint32Array): void {
    if (keys.length === 0) return;
    if (this.withRefs !== (refs !== undefined)) throw new Error(this.withRefs ? 'this set needs a reference for each key' : 'this set keeps no references');
    if (refs && refs.length !== keys.length) throw new Error(`${keys.length} keys but ${refs.length} references`);
    let run: Run;
    if (refs) {
      const order = Array.from(keys.keys()).sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : 0));
      run = { keys: BigUint64Array.from(order, (i) => keys[i]!), refs: Uint32Array.from(order, (i) => refs[i]!) };
    } else {
      run = { keys: BigUint64Array.from(keys).sort(), refs: null };
    }
    this.runs.push(run);
    this.count += keys.length;
    while (this.runs.length > 1 && this.runs.at(-2)!.keys.length <= 2 * this.runs.at(-1)!.keys.length) {
      const last = this.runs.pop()!;
      this.runs.push(merge(this.runs.pop()!, last));
    }
  }

  /** True when some entry has this fingerprint. */
  has(key: bigint): boolean {
    return this.runs.some((run) => {
      const at = lowerBound(run.keys, key);
      return at < run.keys.length && run.keys[at] === key;
    });
  }

  /** The references of every entry with this fingerprint (several only when ids collided). */
  refsOf(key: bigint): number[] {
    const found: number[] = [];
    for (const run of this.runs) {
      for (let at = lowerBound(run.keys, key); at < run.keys.length && run.keys[at] === key; at++) found.push(run.refs ? run.refs[at]! : -1);
    }
    return found;
  }
}

function lowerBound(keys: BigUint64Array, key: bigint): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function merge(a: Run, b: Run): Run {
  const n = a.keys.length + b.keys.length;
  const keys = new BigUint64Array(n);
  const refs = a.refs && b.refs ? new Uint32Array(n) : null;
  let i = 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    const fromA = j >= b.keys.length || (i < a.keys.length && a.keys[i]! <= b.keys[j]!);
    if (fromA) {
      keys[k] = a.keys[i]!;
      if (refs) refs[k] = a.refs![i]!;
      i++;
    } else {
      keys[k] = b.keys[j]!;
      if (refs) refs[k] = b.refs![j]!;
      j++;
    }
  }
  return { keys, refs };
}
