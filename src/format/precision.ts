// How vectors are stored: float32, float16, or quantized as sentence-transformers'
// quantize_embeddings does (int8/uint8 scaled per dimension between calibrated bounds; binary and
// ubinary one sign bit a dimension, packed eight to a byte, most significant bit first).
import { InvalidOptionError } from '../base/errors.js';
import { toHalfBits } from '../util/half.js';

/** A storage precision for vectors. */
export type Precision = 'float32' | 'float16' | 'int8' | 'uint8' | 'binary' | 'ubinary';

/** Every precision, smallest last. */
export const PRECISIONS: readonly Precision[] = ['float32', 'float16', 'int8', 'uint8', 'binary', 'ubinary'];

/** Per-dimension bounds of int8/uint8 quantization: a value at min maps to the lowest code, at max to the highest. */
export interface QuantRanges {
  min: number[];
  max: number[];
}

/** Checks a precision name. */
export function checkPrecision(value: unknown): Precision {
  if (!PRECISIONS.includes(value as Precision)) throw new InvalidOptionError('precision', `must be one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as Precision;
}

/** True for the scaled-integer precisions, which need ranges. */
export const needsRanges = (precision: Precision): boolean => precision === 'int8' || precision === 'uint8';

/** True for the packed sign-bit precisions. */
export const isBinary = (precision: Precision): boolean => precision === 'binary' || precision === 'ubinary';

/** Elements a stored row has: dim, or dim / 8 rounded up for the bit-packed precisions. */
export const storedWidth = (precision: Precision, dim: number): number => (isBinary(precision) ? Math.ceil(dim / 8) : dim);

/** Bytes a stored row's vector takes. */
export const storedBytes = (precision: Precision, dim: number): number =>
  storedWidth(precision, dim) * (precision === 'float32' ? 4 : precision === 'float16' ? 2 : 1);

/** Per-dimension min and max of row-major vectors: the calibration sentence-transformers does. */
export function calibrate(vectors: Float32Array, dim: number): QuantRanges {
  const min = Array.from({ length: dim }, () => Infinity);
  const max = Array.from({ length: dim }, () => -Infinity);
  for (let i = 0; i < vectors.length; i++) {
    const j = i % dim;
    const v = vectors[i]!;
    if (v < min[j]!) min[j] = v;
    if (v > max[j]!) max[j] = v;
  }
  return { min, max };
}

/** Rows int8/uint8 ranges are calibrated from when none are given: the first windows are held until this many are embedded (or the source ends). */
export const CALIBRATION_ROWS = 1024;

/**
 * Calibrates int8/uint8 ranges that can represent the data: the per-dimension min and max of the
 * sample (as sentence-transformers does), except for a degenerate dimension. A sample of one
 * vector, of equal vectors or of near-identical texts has zero or tiny widths, and every later
 * vector would be clamped to the end codes (all rows could store one code vector). A dimension
 * narrower than 1 / sqrt(dim) times the sample's mean vector length (diverse texts span about 4)
 * is widened about its centre to 8 / sqrt(dim) of it: about the span of a whole corpus's values,
 * at a step still far below a component's size. Returns the ranges and how many were widened.
 */
export function calibrateRanges(vectors: Float32Array, dim: number): { ranges: QuantRanges; widened: number } {
  const ranges = calibrate(vectors, dim);
  const rows = vectors.length / dim;
  let norms = 0;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += vectors[r * dim + j]! ** 2;
    norms += Math.sqrt(sum);
  }
  const scale = rows && norms > 0 ? norms / rows : 1;
  const narrow = scale / Math.sqrt(dim);
  const width = (8 * scale) / Math.sqrt(dim);
  let widened = 0;
  for (let j = 0; j < dim; j++) {
    const [min, max] = [ranges.min[j]!, ranges.max[j]!];
    if (!(max - min < narrow)) continue;
    const centre = Number.isFinite(min) ? (min + max) / 2 : 0;
    ranges.min[j] = Math.fround(centre - width / 2);
    ranges.max[j] = Math.fround(centre + width / 2);
    widened++;
  }
  return { ranges, widened };
}

/** Values of row-major vectors outside their dimension's range (stored as the end codes), and the rows that hold any. */
export function countClamped(vectors: Float32Array, dim: number, ranges: QuantRanges): { values: number; rows: number } {
  let values = 0;
  let rows = 0;
  for (let base = 0; base < vectors.length; base += dim) {
    let here = 0;
    for (let j = 0; j < dim; j++) {
      const v = vectors[base + j]!;
      if (v < ranges.min[j]! || v > ranges.max[j]!) here++;
    }
    values += here;
    if (here) rows++;
  }
  return { values, rows };
}

/** Checks caller-given ranges against the vector length. */
export function checkRanges(ranges: QuantRanges, dim: number): QuantRanges {
  const ok = ranges && Array.isArray(ranges.min) && Array.isArray(ranges.max) && ranges.min.length === dim && ranges.max.length === dim &&
    ranges.min.every((v, j) => Number.isFinite(v) && Number.isFinite(ranges.max[j]) && v <= ranges.max[j]!);
  if (!ok) throw new InvalidOptionError('ranges', `needs min and max arrays of ${dim} finite numbers, each min <= max`);
  return { min: [...ranges.min], max: [...ranges.max] };
}

/**
 * Stores row-major float vectors at a precision. int8/uint8 follow quantize_embeddings:
 * code = trunc((v - min) / step) with step = (max - min) / 255, minus 128 for int8; values beyond
 * the calibrated bounds are clamped to the end codes (numpy would wrap them around).
 */
export function quantize(vectors: Float32Array, dim: number, precision: Precision, ranges?: QuantRanges): Float32Array | Uint16Array | Int8Array | Uint8Array {
  if (precision === 'float32') return vectors;
  if (precision === 'float16') return Uint16Array.from(vectors, toHalfBits);
  const rows = vectors.length / dim;
  if (isBinary(precision)) {
    const width = storedWidth(precision, dim);
    const out = precision === 'binary' ? new Int8Array(rows * width) : new Uint8Array(rows * width);
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < width; b++) {
        let byte = 0;
        for (let k = 0; k < 8; k++) {
          const j = b * 8 + k;
          if (j < dim && vectors[r * dim + j]! > 0) byte |= 0x80 >>> k;
        }
        out[r * width + b] = precision === 'binary' ? byte - 128 : byte;
      }
    }
    return out;
  }
  if (!ranges) throw new Error(`${precision} needs ranges`);
  const out = precision === 'int8' ? new Int8Array(vectors.length) : new Uint8Array(vectors.length);
  const low = precision === 'int8' ? -128 : 0;
  // float32 arithmetic throughout, as numpy does on float32 embeddings: a value at the top of its
  // range lands on 254 or 255 as it does there.
  const f = Math.fround;
  const steps = dequantizer(precision, ranges).step;
  for (let i = 0; i < vectors.length; i++) {
    const j = i % dim;
    const step = steps[j]!;
    const scaled = step > 0 ? f(f(f(vectors[i]!) - f(ranges.min[j]!)) / step) : 0;
    out[i] = Math.min(low + 255, Math.max(low, Math.trunc(low ? f(scaled + low) : scaled)));
  }
  return out;
}

/**
 * Stored int8/uint8 codes at either end code, and the rows that hold any: where values clamped
 * outside the calibrated ranges landed. A file does not record which values were clamped, so this
 * is an upper bound: values within one step above a range's min, or exactly at its max, land there too.
 */
export function countEndCodes(codes: Int8Array | Uint8Array, dim: number): { values: number; rows: number } {
  const [low, high] = codes instanceof Int8Array ? [-128, 127] : [0, 255];
  let values = 0;
  let rows = 0;
  for (let base = 0; base < codes.length; base += dim) {
    let here = 0;
    for (let j = base; j < base + dim; j++) if (codes[j] === low || codes[j] === high) here++;
    values += here;
    if (here) rows++;
  }
  return { values, rows };
}

/** What stored int8/uint8 codes stand for: value = start[j] + (code + offset) * step[j] (the low end of its step). */
export function dequantizer(precision: Precision, ranges: QuantRanges): { start: Float64Array; step: Float64Array; offset: number } {
  const f = Math.fround;
  const step = Float64Array.from(ranges.min, (min, j) => f(f(f(ranges.max[j]!) - f(min)) / 255));
  return { start: Float64Array.from(ranges.min), step, offset: precision === 'int8' ? 128 : 0 };
}
