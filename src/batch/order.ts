// Order restoration and duplicate folding: the model runs on distinct texts in length order,
// and rows are written back where the caller put each text.

/** Maps each text to the first position holding the same string, so each string runs once. */
export function foldDuplicates(texts: readonly string[]): { unique: number[]; firstOf: Int32Array } {
  const seen = new Map<string, number>();
  const unique: number[] = [];
  const firstOf = new Int32Array(texts.length);
  texts.forEach((text, i) => {
    const first = seen.get(text);
    if (first === undefined) {
      seen.set(text, i);
      unique.push(i);
      firstOf[i] = i;
    } else {
      firstOf[i] = first;
    }
  });
  return { unique, firstOf };
}

/** Writes batch row r (of `rows`, row-major) to output row targets[r]. */
export function scatterRows(output: Float32Array, dim: number, targets: readonly number[], rows: Float32Array): void {
  if (rows.length !== targets.length * dim) {
    throw new RangeError(`scatterRows: ${rows.length} values for ${targets.length} rows of ${dim}`);
  }
  targets.forEach((target, r) => output.set(rows.subarray(r * dim, (r + 1) * dim), target * dim));
}

/** Copies the row of each duplicate from the row of its first occurrence. */
export function fillDuplicates(output: Float32Array, dim: number, firstOf: Int32Array): void {
  for (let i = 0; i < firstOf.length; i++) {
    const first = firstOf[i]!;
    if (first !== i) output.copyWithin(i * dim, first * dim, (first + 1) * dim);
  }
}
