// Top-k search over a stored embeddings file, reading only the vector column: each record batch's
// message header says where its buffers lie, so the scan reads the embedding buffer alone (48
// bytes a row for 384-dim binary vectors, 768 for float16). For the hits it returns it reads their
// batches' small columns and their own vector bytes, and checks each hit row against its checksum.
// The scan itself does not verify checksums: a flipped bit can reorder candidates, never hand out
// a damaged row.
//
// Float vectors are scored exactly by cosine; int8/uint8 by cosine of the values their codes stand
// for. Binary vectors are ranked by Hamming distance to the query's sign bits, then the best
// `rescoreMultiplier * k` are rescored: against their float16 copy when the file keeps one, else
// as sentence-transformers rescores, the float query against the candidates' +1/-1 bits.
import { makeData, makeVector, type Schema, type Vector } from 'apache-arrow';
import type { MetadataValue } from '../source/records.js';
import { EmbeddingsFileError } from '../base/errors.js';
import { positiveInteger } from '../base/validate.js';
import { fromHalfBits } from '../util/half.js';
import { rowChecksums } from '../format/checksum.js';
import { decodeSchema, rowCountProblem } from '../format/decode.js';
import { readFrames, type MessageFrame, type WalkEnd } from '../format/frames.js';
import { bufferIn, columnPlaces, valueBufferIndex } from '../format/layout.js';
import { readBatchHeader, type BatchHeader } from '../format/message.js';
import { dequantizer, isBinary, quantize, storedBytes, type Precision } from '../format/precision.js';
import { readExactly, type RandomAccessFile } from '../format/random-access.js';
import { describeSchema, positionOf, precisionOf, type FileDescription } from '../format/schema.js';

/** A top-k hit. */
export interface SearchHit {
  id: string;
  score: number;
  /** The row's other columns (text_hash and the caller's metadata). */
  row: Record<string, unknown>;
}

/** Search options. */
export interface SearchOptions {
  /** On a truncated or corrupt tail, search the whole batches before it instead of throwing. */
  allowTruncated?: boolean;
  /** Binary files: Hamming candidates rescored per hit asked for (default 4, as sentence-transformers). */
  rescoreMultiplier?: number;
}

/** A seam for the OPFS worker and tests: counts the bytes a search read from the file. */
export interface SearchSeams {
  stats?: { bytesRead: number };
}

interface BatchPlace {
  start: number;
  end: number;
  bodyStart: number;
  bodyLength: number;
  rows: number;
  /** The position in the file of the batch's first row. */
  firstRow: number;
  /** Byte offsets in the body of the embedding values and of the float16 copy's values. */
  vectors: number;
  float16: number;
  header: BatchHeader;
}

interface Candidate {
  rank: number;
  batch: number;
  row: number;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, i) => {
  let n = 0;
  for (let v = i; v; v >>= 1) n += v & 1;
  return n;
});

/** Top k rows of an embeddings file by cosine with `query` (see the module comment for each precision). */
export async function searchFile(file: RandomAccessFile, query: Float32Array, k: number, options: SearchOptions & SearchSeams = {}): Promise<SearchHit[]> {
  positiveInteger('k', k);
  const multiplier = positiveInteger('rescoreMultiplier', options.rescoreMultiplier ?? 4);
  const stats = options.stats ?? { bytesRead: 0 };
  const read = async (at: number, length: number) => {
    stats.bytesRead += length;
    return readExactly(file, at, length);
  };
  const size = await file.size();
  let schema: Schema | null = null;
  // Where each batch's vector buffers sit among its buffers, and a stored row's bytes: fixed by the schema.
  let layout = { vectors: -1, float16: -1, rowBytes: 0 };
  let description: FileDescription | null = null;
  let precision: Precision = 'float32';
  const batches: BatchPlace[] = [];
  let problem: string | undefined;
  let scorer: ((bytes: Uint8Array, rows: number, batch: number) => void) | null = null;
  const top: Candidate[] = [];
  // Returns the rank a row must beat from now on, so scorers skip the call for most rows.
  const keep = (rank: number, batch: number, row: number, limit: number): number => {
    if (top.length < limit || rank < top[top.length - 1]!.rank) {
      let i = top.length;
      while (i > 0 && top[i - 1]!.rank > rank) i--;
      top.splice(i, 0, { rank, batch, row });
      if (top.length > limit) top.pop();
    }
    return top.length < limit ? Infinity : top[top.length - 1]!.rank;
  };
  // A stored float vector that is NaN or infinite scores NaN, which no comparison keeps: a row the
  // scan would drop without a word. Such a row is damaged (the writer refuses non-finite vectors),
  // so the search refuses the file, naming the batch and row, as readEmbeddings would.
  const damaged = (batch: number, row: number): never => {
    const place = batches[batch]!;
    throw new EmbeddingsFileError(file.name, `corrupt record batch at byte ${place.start}: row ${row}'s vector is not a finite number: the file is damaged`, place.start);
  };
  // One frame walk over the file (each message's prefix and metadata read together); a batch's
  // header is checked through the bounded reader before any of its body is read.
  const walk: WalkEnd = { validEnd: 0, closed: false };
  const frames = readFrames({ name: file.name, size: async () => size, read }, walk);
  let at = 0;
  let next: Promise<IteratorResult<MessageFrame>> = frames.next();
  for (let step = await next; !step.done; step = await next) {
    const frame = step.value;
    at = frame.start;
    if (frame.kind === 'schema') {
      if (schema) throw new EmbeddingsFileError(file.name, `a second schema at byte ${at}`);
      schema = decodeSchema(await read(at, frame.end - at));
      description = describeSchema(schema);
      if (!description) throw new EmbeddingsFileError(file.name, 'was not written by bulk-embed: no description of its vectors');
      if (description.dim !== query.length) throw new EmbeddingsFileError(file.name, `vectors have ${description.dim} dimensions, the query ${query.length}`);
      precision = precisionOf(description);
      layout = {
        vectors: valueBufferIndex(schema, 'embedding'),
        float16: description.keepFloat16 ? valueBufferIndex(schema, 'embedding_float16') : -1,
        rowBytes: storedBytes(precision, description.dim),
      };
      scorer = makeScorer(description, precision, query, k * (isBinary(precision) ? multiplier : 1), keep, damaged);
    } else if (frame.kind === 'batch') {
      if (!schema || !scorer) throw new EmbeddingsFileError(file.name, `a record batch before the schema at byte ${at}`);
      const checked = checkBatch(frame, schema, layout, query.length);
      if (typeof checked === 'string') {
        problem = checked;
        break;
      }
      const { header, rows } = checked;
      const place: BatchPlace = {
        start: at, end: frame.end, bodyStart: frame.bodyStart, bodyLength: frame.bodyLength, rows,
        firstRow: batches.length ? batches.at(-1)!.firstRow + batches.at(-1)!.rows : 0,
        vectors: header.buffers[layout.vectors]!.offset, float16: layout.float16 >= 0 ? header.buffers[layout.float16]!.offset : -1, header,
      };
      batches.push(place);
      const vectors = read(place.bodyStart + place.vectors, rows * layout.rowBytes);
      next = frames.next(); // the next header is read while these vectors are scored
      next.catch(() => undefined);
      scorer(await vectors, rows, batches.length - 1);
      continue;
    }
    next = frames.next();
  }
  if (walk.problem && problem === undefined) {
    problem = walk.problem;
    at = walk.validEnd;
  }
  if (!options.allowTruncated) {
    if (!schema) throw new EmbeddingsFileError(file.name, size === 0 ? 'the file is empty' : `not an Arrow IPC stream (${problem ?? 'no schema'})`);
    if (problem) throw new EmbeddingsFileError(file.name, `${problem} (the whole batches before it can be searched with allowTruncated)`, at);
  }
  if (!description) return [];

  let ranked: { score: number; batch: number; row: number }[];
  if (isBinary(precision)) {
    const dim = description.dim;
    const width = storedBytes(precision, dim);
    ranked = await Promise.all(top.map(async (c) => {
      const place = batches[c.batch]!;
      const score = place.float16 >= 0
        ? halfCosine(query, typed(await read(place.bodyStart + place.float16 + c.row * dim * 2, dim * 2), Uint16Array), 0, dim)
        : signCosine(query, await read(place.bodyStart + place.vectors + c.row * width, width), precision === 'binary');
      return { score, batch: c.batch, row: c.row };
    }));
    ranked.sort((a, b) => b.score - a.score);
    ranked = ranked.slice(0, k);
  } else {
    ranked = top.map((c) => ({ score: -c.rank, batch: c.batch, row: c.row }));
  }
  return hitsOf(ranked, batches, schema!, description, read, file.name);
}

/**
 * Reads a batch's header through the bounded reader and checks it before any of its body is read:
 * its declared counts against the schema, and its vector buffers inside its body, large enough for
 * its rows. Returns the header and row count, or the problem.
 */
function checkBatch(
  frame: MessageFrame, schema: Schema, layout: { vectors: number; float16: number; rowBytes: number }, dim: number,
): { header: BatchHeader; rows: number } | string {
  const corrupt = (why: string) => `corrupt record batch at byte ${frame.start}: ${why}`;
  let header: BatchHeader;
  try {
    header = readBatchHeader(frame.meta);
  } catch (cause) {
    return corrupt((cause as Error).message);
  }
  const rows = header.length;
  const counts = rowCountProblem(schema, header);
  if (counts) return corrupt(counts);
  const vectors = bufferIn(header, layout.vectors, frame.bodyLength);
  if (header.compressed || !vectors || vectors.length < rows * layout.rowBytes) return corrupt(`its embedding buffer does not hold ${rows} vectors`);
  const half = layout.float16 >= 0 ? bufferIn(header, layout.float16, frame.bodyLength) : undefined;
  if (layout.float16 >= 0 && (!half || half.length < rows * dim * 2)) return corrupt(`its float16 buffer does not hold ${rows} vectors`);
  return { header, rows };
}

/** Builds the per-batch scorer of a precision; it offers each row to `keep` with a rank (lower is better). */
function makeScorer(
  description: FileDescription, precision: Precision, query: Float32Array, limit: number,
  keep: (rank: number, batch: number, row: number, limit: number) => number,
  damaged: (batch: number, row: number) => never,
) {
  let worst = Infinity;
  const dim = description.dim;
  if (isBinary(precision)) {
    const queryBits = quantize(query, dim, 'ubinary') as Uint8Array;
    const width = queryBits.length;
    const flip = precision === 'binary' ? 0x80 : 0; // binary stores each packed byte minus 128: its top bit flipped
    if (width % 4 === 0) {
      // Four bytes at a time: XOR with the query's words, then a branch-free 32-bit popcount.
      const words = width / 4;
      const queryWords = typed(queryBits, Uint32Array).map((word) => word ^ (flip * 0x01010101));
      return (bytes: Uint8Array, rows: number, batch: number) => {
        const stored = typed(bytes, Uint32Array);
        for (let r = 0, base = 0; r < rows; r++, base += words) {
          let distance = 0;
          for (let w = 0; w < words; w++) {
            let x = stored[base + w]! ^ queryWords[w]!;
            x -= (x >>> 1) & 0x55555555;
            x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
            distance += Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
          }
          if (distance < worst) worst = keep(distance, batch, r, limit);
        }
      };
    }
    return (bytes: Uint8Array, rows: number, batch: number) => {
      for (let r = 0, base = 0; r < rows; r++, base += width) {
        let distance = 0;
        for (let b = 0; b < width; b++) distance += POPCOUNT[(bytes[base + b]! ^ flip) ^ queryBits[b]!]!;
        if (distance < worst) worst = keep(distance, batch, r, limit);
      }
    };
  }
  if (precision === 'float32' || precision === 'float16') {
    const half = precision === 'float16';
    return (bytes: Uint8Array, rows: number, batch: number) => {
      if (half) {
        const values = typed(bytes, Uint16Array);
        for (let r = 0; r < rows; r++) {
          const rank = -halfCosine(query, values, r * dim, dim);
          if (rank < worst) worst = keep(rank, batch, r, limit);
          else if (rank !== rank) damaged(batch, r);
        }
      } else {
        const values = typed(bytes, Float32Array);
        for (let r = 0; r < rows; r++) {
          const rank = -cosine(query, values, r * dim, dim);
          if (rank < worst) worst = keep(rank, batch, r, limit);
          else if (rank !== rank) damaged(batch, r);
        }
      }
    };
  }
  const { start, step, offset } = dequantizer(precision, description.ranges!);
  return (bytes: Uint8Array, rows: number, batch: number) => {
    const codes = precision === 'int8' ? new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length) : bytes;
    for (let r = 0; r < rows; r++) {
      let dot = 0;
      let norm = 0;
      for (let j = 0; j < dim; j++) {
        const v = start[j]! + (codes[r * dim + j]! + offset) * step[j]!;
        dot += v * query[j]!;
        norm += v * v;
      }
      const rank = -dot / ((Math.sqrt(norm) || 1) * queryNorm(query));
      if (rank < worst) worst = keep(rank, batch, r, limit);
    }
  };
}

const norms = new WeakMap<Float32Array, number>();
function queryNorm(query: Float32Array): number {
  let n = norms.get(query);
  if (n === undefined) {
    n = Math.sqrt(query.reduce((s, v) => s + v * v, 0)) || 1;
    norms.set(query, n);
  }
  return n;
}

function cosine(query: Float32Array, values: Float32Array, base: number, dim: number): number {
  let dot = 0;
  let norm = 0;
  for (let j = 0; j < dim; j++) {
    const v = values[base + j]!;
    dot += v * query[j]!;
    norm += v * v;
  }
  return dot / (queryNorm(query) * (Math.sqrt(norm) || 1));
}

/** Every half-float bit pattern's value: a table lookup is several times faster than decoding each. */
let halfTable: Float32Array | null = null;

function halfCosine(query: Float32Array, bits: Uint16Array, base: number, dim: number): number {
  halfTable ??= Float32Array.from({ length: 65536 }, (_, b) => fromHalfBits(b));
  const table = halfTable;
  let dot = 0;
  let norm = 0;
  for (let j = 0; j < dim; j++) {
    const v = table[bits[base + j]!]!;
    dot += v * query[j]!;
    norm += v * v;
  }
  return dot / (queryNorm(query) * (Math.sqrt(norm) || 1));
}

/** Cosine of the float query with a vector of +1 (bit set) and -1 (bit clear). */
function signCosine(query: Float32Array, bits: Uint8Array, flipped: boolean): number {
  let dot = 0;
  for (let j = 0; j < query.length; j++) {
    const byte = flipped ? bits[j >> 3]! ^ 0x80 : bits[j >> 3]!;
    dot += byte & (0x80 >>> (j & 7)) ? query[j]! : -query[j]!;
  }
  return dot / (queryNorm(query) * Math.sqrt(query.length));
}

/** A typed view of bytes, copied when they are not aligned for it. */
type ViewOf<T> = { new (buffer: ArrayBufferLike, offset: number, length: number): T; BYTES_PER_ELEMENT: number };
function typed<T extends ArrayBufferView>(bytes: Uint8Array, Ctor: ViewOf<T>): T {
  const copy = bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? bytes : new Uint8Array(bytes);
  return new Ctor(copy.buffer, copy.byteOffset, Math.floor(copy.byteLength / Ctor.BYTES_PER_ELEMENT));
}

/**
 * Reads the hits' rows: each batch's small columns (ids, text hashes, checksums, metadata) whole,
 * and of the vector columns only the hit rows' bytes, then checks each hit row against its checksum.
 */
async function hitsOf(
  ranked: { score: number; batch: number; row: number }[], batches: BatchPlace[], schema: Schema, description: FileDescription,
  read: (at: number, length: number) => Promise<Uint8Array>, name: string,
): Promise<SearchHit[]> {
  const columns = new Map<number, Promise<Map<string, Vector>>>();
  const hits: SearchHit[] = [];
  for (const { score, batch, row } of ranked) {
    const place = batches[batch]!;
    if (!columns.has(batch)) columns.set(batch, smallColumns(place, schema, read, name));
    const small = await columns.get(batch)!;
    const id = small.get('id')!.get(row) as string;
    const textHash = small.get('text_hash')!.get(row) as string;
    const metadata: Record<string, MetadataValue> = {};
    for (const field of Object.keys(description.metadataColumns)) metadata[field] = (small.get(field)?.get(row) ?? null) as MetadataValue;
    const sums = small.get('checksum');
    if (sums) {
      const vectorBytes: Uint8Array[] = [];
      const stored = storedBytes(precisionOf(description), description.dim);
      vectorBytes.push(await read(place.bodyStart + place.vectors + row * stored, stored));
      if (place.float16 >= 0) vectorBytes.push(await read(place.bodyStart + place.float16 + row * description.dim * 2, description.dim * 2));
      const position = positionOf(description, place.firstRow + row);
      if (rowChecksums([id], [textHash], vectorBytes, [metadata], description.metadataColumns, position)[0] !== sums.get(row)) {
        throw new EmbeddingsFileError(name, `corrupt record batch at byte ${place.start}: row ${row} does not match its checksum`, place.start);
      }
    }
    hits.push({ id, score, row: { text_hash: textHash, ...metadata } });
  }
  return hits;
}

/** Decodes a batch's columns other than the vectors from their buffers alone. */
async function smallColumns(
  place: BatchPlace, schema: Schema, read: (at: number, length: number) => Promise<Uint8Array>, name: string,
): Promise<Map<string, Vector>> {
  const header = place.header;
  const out = new Map<string, Vector>();
  for (const column of columnPlaces(schema)) {
    if (column.name.startsWith('embedding')) continue;
    const regions = Array.from({ length: column.buffers }, (_, i) => bufferIn(header, column.buffer + i, place.bodyLength));
    if (regions.some((r) => !r)) throw new EmbeddingsFileError(name, `corrupt record batch at byte ${place.start}: a buffer of column ${column.name} lies outside its body`, place.start);
    const bytes = await Promise.all(regions.map((r) => (r!.length ? read(place.bodyStart + r!.offset, r!.length) : Promise.resolve(new Uint8Array(0)))));
    const { length, nullCount } = header.nodes[column.node]!;
    const nullBitmap = nullCount > 0 ? bytes[0] : undefined;
    const type = column.type;
    const data = String(type) === 'Utf8'
      ? makeData({ type, length, nullCount, nullBitmap, valueOffsets: typed(bytes[1]!, Int32Array), data: bytes[2]! } as never)
      : makeData({ type, length, nullCount, nullBitmap, data: String(type) === 'Float64' ? typed(bytes[1]!, Float64Array) : String(type) === 'Uint32' ? typed(bytes[1]!, Uint32Array) : bytes[1]! } as never);
    out.set(column.name, makeVector(data as never));
  }
  return out;
}
