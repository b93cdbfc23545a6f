// Order restoration and duplicate folding: the model runs on distinct texts in length order,
// and rows are written back where the caller put each text.

/** Characters of a text read for its sketch: enough to tell apart nearly all distinct texts of one length. */
const SKETCH_SAMPLES = 8;

/**
 * A small integer from a text's length and a few of its characters, spread from the first to the
 * last (a template's number is often at one end); a short text's every character. Equal texts
 * have equal sketches; texts with different sketches differ, so only texts whose sketch another
 * text already has need their whole string hashed.
 */
function sketchOf(text: string): number {
  const n = text.length;
  // Reads k of 0..last at k * (n - 1) / last: every character where n <= SKETCH_SAMPLES.
  const last = Math.min(n, SKETCH_SAMPLES) - 1;
  let h = n;
  for (let k = 0; k <= last; k++) h = Math.imul(h ^ text.charCodeAt(last === 0 ? 0 : Math.floor((k * (n - 1)) / last)), 0x9e3779b1);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

/**
 * Maps each text to the first position holding the same string, so each string runs once. A Map
 * keyed on the strings hashes every character of every text (13-19 ms for 9,000 mixed texts, more
 * than 1 % of a tokenizer-bound run); texts are first told apart by a sketch of a few characters,
 * and only those sharing a sketch are compared whole (where every text repeats one template and
 * all share a sketch, this costs about what hashing each text would: 21-25 ms against 20 for 20,000).
 */
export function foldDuplicates(texts: readonly string[]): { unique: number[]; firstOf: Int32Array } {
  /** Sketch -> the one text seen with it, or -1 once two were (their strings are then in `whole`). */
  const bySketch = new Map<number, number>();
  const whole = new Map<string, number>();
  const unique: number[] = [];
  const firstOf = new Int32Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!;
    const sketch = sketchOf(text);
    const only = bySketch.get(sketch);
    let first: number | undefined;
    if (only === undefined) {
      bySketch.set(sketch, i);
    } else {
      if (only >= 0) {
        whole.set(texts[only]!, only);
        bySketch.set(sketch, -1);
      }
      first = whole.get(text);
      if (first === undefined) whole.set(text, i);
    }
    if (first === undefined) {
      unique.push(i);
      firstOf[i] = i;
    } else {
      firstOf[i] = first;
    }
  }
  return { unique, firstOf };
}

/**
 * Writes batch row r (of `rows`, row-major) to output row targets[r], or to positions[targets[r]]
 * where `positions` is given (a window's text positions), so the caller need not map a batch's
 * indices into a new array first.
 */
export function scatterRows(output: Float32Array, dim: number, targets: readonly number[], rows: Float32Array, positions?: readonly number[]): void {
  if (rows.length !== targets.length * dim) {
    throw new RangeError(`scatterRows: ${rows.length} values for ${targets.length} rows of ${dim}`);
  }
  for (let r = 0; r < targets.length; r++) {
    const target = positions ? positions[targets[r]!]! : targets[r]!;
    output.set(rows.subarray(r * dim, (r + 1) * dim), target * dim);
  }
}

/** Copies the row of each duplicate from the row of its first occurrence. */
export function fillDuplicates(output: Float32Array, dim: number, firstOf: Int32Array): void {
  for (let i = 0; i < firstOf.length; i++) {
    const first = firstOf[i]!;
    if (first !== i) output.copyWithin(i * dim, first * dim, (first + 1) * dim);
  }
}
