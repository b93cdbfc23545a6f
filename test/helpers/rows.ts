// Reads an embeddings file back for the tests that compare runs: each id's vector, and how many ids it holds twice.
import { readEmbeddings } from '../../src/node.js';

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
