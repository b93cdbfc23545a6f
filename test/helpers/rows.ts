// Reads embeddings files back for the tests that compare runs: each id's vector, ids held twice,
// and a sharded run's parts as one union.
import { join } from 'node:path';
import { expect } from 'vitest';
import { readEmbeddings } from '../../src/node.js';
import { shardFileName, shardOf } from '../../src/source/shard.js';

/** The rows of an embeddings file (id -> float32 vector), and how many ids appear more than once. */
export async function rowsOf(path: string): Promise<{ rows: Map<string, Float32Array>; duplicates: number }> {
  const rows = new Map<string, Float32Array>();
  let duplicates = 0;
  for await (const batch of readEmbeddings(path)) {
    const ids = batch.getChild('id')!.toArray() as string[];
    const vectors = batch.getChild('embedding')!;
    ids.forEach((id, r) => {
      if (rows.has(id)) duplicates++;
      rows.set(id, Float32Array.from(vectors.get(r)!.toArray() as Float32Array));
    });
  }
  return { rows, duplicates };
}

/**
 * The union of a sharded run's parts, part-I-of-N.arrow in `folder`: each id's vector, the ids
 * found in a part their hash does not name, and how many ids were seen more than once.
 */
export async function unionOfParts(folder: string, count: number): Promise<{ union: Map<string, Float32Array>; misplaced: string[]; repeated: number }> {
  const union = new Map<string, Float32Array>();
  const misplaced: string[] = [];
  let repeated = 0;
  for (let index = 0; index < count; index++) {
    const { rows, duplicates } = await rowsOf(join(folder, shardFileName({ index, count })));
    repeated += duplicates;
    for (const [id, vector] of rows) {
      if (shardOf(id, count) !== index) misplaced.push(id);
      if (union.has(id)) repeated++;
      union.set(id, vector);
    }
  }
  return { union, misplaced, repeated };
}

/** The largest difference between a vector of `rows` and the reference's for the same id (Infinity for an id it lacks). */
export function worstDifference(rows: Map<string, Float32Array>, reference: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [id, vector] of rows) {
    const want = reference.get(id);
    if (!want) return Infinity;
    for (let j = 0; j < vector.length; j++) worst = Math.max(worst, Math.abs(vector[j]! - want[j]!));
  }
  return worst;
}

/**
 * Expects `got` to hold exactly `want`'s values (Object.is, index by index, so a hole in a sparse
 * array is a difference); `expect` runs only on a mismatch, for its message, which keeps sweeps
 * over thousands of rows or texts fast.
 */
export function expectExactly(got: ArrayLike<number>, want: ArrayLike<number> | undefined, where: string): void {
  let same = !!want && got.length === want.length;
  for (let i = 0; same && i < want!.length; i++) same = Object.is(got[i], want![i]);
  if (!same) expect(Array.from(got), where).toEqual(want && Array.from(want));
}
