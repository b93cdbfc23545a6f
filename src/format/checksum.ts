// Row checksums of the embeddings file: a CRC-32 over each row's stored bytes (id, text hash,
// vector, metadata), kept in a `checksum` column. Any bit flipped in a committed batch, in its
// values or in the Arrow metadata that locates them, changes some row's bytes, so readers and
// resume notice it instead of returning a wrong row. Files written since 'crc32-position' also
// feed each row's position in the file first, so whole batches swapped, repeated or dropped from
// the middle (each intact on its own) are caught too. Independent Arrow readers see one more
// uint32 column.
import type { RecordBatch, Vector } from 'apache-arrow';
import type { MetadataValue } from '../source/records.js';
import { RESERVED_COLUMNS, type ColumnKind } from './columns.js';
import { utf8Column, type Utf8Column } from './utf8-column.js';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Continues a CRC-32 (IEEE) over `bytes[start .. end)`; start with 0xffffffff, finish with `~crc >>> 0`. */
export function crc32Update(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** CRC-32 of bytes. */
export const crc32 = (bytes: Uint8Array): number => ~crc32Update(0xffffffff, bytes) >>> 0;

// Each value is fed as a tag byte, then its bytes (strings with their length, so that moving a
// byte from one field to the next changes the sum).
const TAG = { NULL: 0, UTF8: 1, FLOAT64: 2, BOOL: 3 } as const;
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);
const tagByte = new Uint8Array(1);

/** Feeds a tag, then `bytes[start .. end)` (a string's bytes preceded by their length); no views made. */
function feedTagged(crc: number, tag: number, bytes: Uint8Array | null, start = 0, end = bytes?.length ?? 0): number {
  tagByte[0] = tag;
  crc = crc32Update(crc, tagByte);
  if (tag === TAG.UTF8) {
    scratch.setUint32(0, end - start, true);
    crc = crc32Update(crc, scratchBytes, 0, 4);
  }
  return bytes ? crc32Update(crc, bytes, start, end) : crc;
}

function feedNumber(crc: number, value: number): number {
  scratch.setFloat64(0, value, true);
  return feedTagged(crc, TAG.FLOAT64, scratchBytes);
}

const utf8 = new TextEncoder();

function feedValue(crc: number, kind: ColumnKind | undefined, v: MetadataValue | undefined): number {
  if (v === null || v === undefined) return feedTagged(crc, TAG.NULL, null);
  if (kind === 'float64') return feedNumber(crc, v as number);
  if (kind === 'bool') return feedTagged(crc, TAG.BOOL, Uint8Array.of(v ? 1 : 0));
  return feedTagged(crc, TAG.UTF8, utf8.encode(v as string));
}

/**
 * Checksums of rows about to be written; `vectorBytes` is the stored vector data (then a kept
 * float16 copy's), as stored. `firstRow` is the first row's position in the file where the
 * checksums cover positions ('crc32-position'), null where they do not ('crc32').
 */
export function rowChecksums(
  ids: readonly string[] | Utf8Column, textHashes: readonly string[] | Utf8Column, vectorBytes: Uint8Array | readonly Uint8Array[],
  metadata: readonly Record<string, MetadataValue>[], columns: Record<string, ColumnKind>, firstRow: number | null,
): Uint32Array {
  // Strings are fed from their UTF-8 column (the writer passes the columns it stores).
  const id = Array.isArray(ids) ? utf8Column(ids) : (ids as Utf8Column);
  const hash = Array.isArray(textHashes) ? utf8Column(textHashes) : (textHashes as Utf8Column);
  const n = id.offsets.length - 1;
  const vectors = vectorBytes instanceof Uint8Array ? [vectorBytes] : vectorBytes;
  const strides = vectors.map((bytes) => bytes.length / Math.max(n, 1));
  const names = Object.keys(columns);
  const out = new Uint32Array(n);
  for (let r = 0; r < n; r++) {
    let crc = firstRow === null ? 0xffffffff : feedNumber(0xffffffff, firstRow + r);
    crc = feedTagged(crc, TAG.UTF8, id.bytes, id.offsets[r]!, id.offsets[r + 1]!);
    crc = feedTagged(crc, TAG.UTF8, hash.bytes, hash.offsets[r]!, hash.offsets[r + 1]!);
    for (let c = 0; c < vectors.length; c++) crc = crc32Update(crc, vectors[c]!, r * strides[c]!, (r + 1) * strides[c]!);
    for (const name of names) crc = feedValue(crc, columns[name], metadata[r]![name]);
    out[r] = ~crc >>> 0;
  }
  return out;
}

interface Utf8Data {
  valueOffsets: Int32Array;
  values: Uint8Array;
  offset: number;
}

/** Feeds row `row` of a decoded Utf8 column, as the writer fed it. */
function feedUtf8At(crc: number, data: Utf8Data, row: number): number {
  const i = data.offset + row;
  return feedTagged(crc, TAG.UTF8, data.values, data.valueOffsets[i]!, data.valueOffsets[i + 1]!);
}

/**
 * Whether row `row` of a decoded Utf8 column lies within its bytes. A flipped bit in an offset
 * can point a string up to 2 GiB past them: its sum would then be fed from a billion reads past
 * the end, taking seconds, to reach the mismatch this finds at once.
 */
function utf8InBounds(data: Utf8Data, row: number): boolean {
  const i = data.offset + row;
  const start = data.valueOffsets[i]!;
  const end = data.valueOffsets[i + 1]!;
  return start >= 0 && start <= end && end <= (data.values?.length ?? 0);
}

/** A metadata column's kind from its Arrow type, or null for a type this library never writes. */
function kindOfType(typeId: string): ColumnKind | null {
  return typeId === 'Utf8' ? 'utf8' : typeId === 'Float64' ? 'float64' : typeId === 'Bool' ? 'bool' : null;
}

/**
 * Recomputes each row's checksum from the batch as decoded and returns the first row whose
 * stored checksum differs (or that cannot be read), or -1 when every row is intact. The columns
 * come from the schema itself, so a flipped bit in the schema's metadata cannot switch this off.
 * Buffer sizes are checked against the row count first: a corrupt length allocates nothing.
 * `firstRow`: the batch's first row's position in the file, for files whose checksums cover it.
 */
export function firstCorruptRow(batch: RecordBatch, firstRow: number | null): number {
  const n = batch.numRows;
  const id = batch.getChild('id');
  const hash = batch.getChild('text_hash');
  const embedding = batch.getChild('embedding');
  const checksum = batch.getChild('checksum');
  // These columns are never null: a null there is a corrupt validity bitmap or null count.
  const whole = (c: Vector) => c.data.length === 1 && c.length === n && c.nullCount === 0;
  if (!id || !hash || !embedding || !checksum || ![id, hash, embedding, checksum].every(whole)) return 0;
  const idData = id.data[0] as unknown as Utf8Data;
  const hashData = hash.data[0] as unknown as Utf8Data;
  const sums = checksum.data[0]!.values as Uint32Array | undefined;
  if (!(sums instanceof Uint32Array) || sums.length < n) return 0;
  if (!(idData.valueOffsets?.length > n) || !(hashData.valueOffsets?.length > n)) return 0;
  const vectors: { bytes: Uint8Array; start: number; per: number }[] = [];
  for (const column of [embedding, batch.getChild('embedding_float16')]) {
    if (!column) continue;
    if (column.data.length !== 1 || column.length !== n || column.nullCount !== 0) return 0;
    const listSize = (column.type as { listSize: number }).listSize;
    const child = column.data[0]!.children[0];
    const values = child?.values as Float32Array | Uint16Array | Int8Array | Uint8Array | undefined;
    if (!child || !(values instanceof Float32Array || values instanceof Uint16Array || values instanceof Int8Array || values instanceof Uint8Array)) return 0;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const per = values.BYTES_PER_ELEMENT * listSize;
    const start = (column.data[0]!.offset + child.offset) * values.BYTES_PER_ELEMENT;
    if (start + n * per > bytes.length) return 0;
    vectors.push({ bytes, start, per });
  }
  const meta = batch.schema.fields.filter((f) => !RESERVED_COLUMNS.includes(f.name))
    .map((f) => ({ kind: kindOfType(String(f.type)), vector: batch.getChild(f.name) }));
  if (meta.some((m) => m.kind === null || !m.vector || m.vector.length !== n)) return 0;
  for (let r = 0; r < n; r++) {
    if (!utf8InBounds(idData, r) || !utf8InBounds(hashData, r)) return r;
    let crc = firstRow === null ? 0xffffffff : feedNumber(0xffffffff, firstRow + r);
    crc = feedUtf8At(crc, idData, r);
    crc = feedUtf8At(crc, hashData, r);
    for (const v of vectors) crc = crc32Update(crc, v.bytes, v.start + r * v.per, v.start + (r + 1) * v.per);
    for (const m of meta) crc = feedValue(crc, m.kind!, m.vector!.get(r) as MetadataValue);
    if (sums[checksum.data[0]!.offset + r] !== ~crc >>> 0) return r;
  }
  return -1;
}
