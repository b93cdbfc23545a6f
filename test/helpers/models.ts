// Paths and small numeric helpers shared by the tests.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromHalfBits } from '../../src/util/half.js';

export const MODELS_DIR = resolve(import.meta.dirname, '..', '..', 'models');
export const modelDir = (name: string): string => join(MODELS_DIR, name);
export const onnxPath = (name: string, file = 'model.onnx'): string => join(MODELS_DIR, name, 'onnx', file);
export const readJson = <T = any>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** Mean over the unmasked tokens of one row of a [batch, seq, hidden] tensor (fp32 or fp16 bits). */
export function meanPoolRow(data: ArrayLike<number>, isHalf: boolean, row: number, seq: number, hidden: number, mask: readonly number[]): Float64Array {
  const out = new Float64Array(hidden);
  let count = 0;
  for (let s = 0; s < seq; s++) {
    if (!mask[s]) continue;
    count++;
    const base = (row * seq + s) * hidden;
    for (let j = 0; j < hidden; j++) out[j]! += isHalf ? fromHalfBits(data[base + j]!) : data[base + j]!;
  }
  return out.map((v) => v / count);
}

/** Cosine similarity of two vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** Pads token-id rows to one length; returns ids, mask and token types as plain arrays. */
export function padBatch(rows: number[][]): { inputIds: number[][]; attentionMask: number[][]; tokenTypeIds: number[][] } {
  const len = Math.max(...rows.map((r) => r.length));
  return {
    inputIds: rows.map((r) => [...r, ...new Array(len - r.length).fill(0)]),
    attentionMask: rows.map((r) => [...r.map(() => 1), ...new Array(len - r.length).fill(0)]),
    tokenTypeIds: rows.map(() => new Array(len).fill(0)),
  };
}

/** The lowest cosine between corresponding rows of two row-major matrices of width `dim`. */
export function minRowCosine(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number {
  let worst = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) { dot += a[j]! * b[j]!; na += a[j]! ** 2; nb += b[j]! ** 2; }
    worst = Math.min(worst, dot / Math.sqrt(na * nb));
  }
  return worst;
}
