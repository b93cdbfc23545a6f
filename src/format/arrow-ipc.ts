// Arrow IPC stream format, one record batch at a time. The file is a schema message followed by
// record-batch messages; each is appended whole and counts once it is flushed. A file cut short
// (a killed run) is walked message by message to find its last whole batch: readers can stop
// there, and a resumed run truncates to there and appends.
import {
  Bool, Field, FixedSizeList, Float16, Float32, Float64, makeData, Message, RecordBatch, Schema, Struct, Table, tableFromIPC, tableToIPC,
  Int8, Uint8, Uint32, Utf8, vectorFromArray, type DataType,
} from 'apache-arrow';
import { needsRanges, PRECISIONS, quantize, storedWidth, type Precision, type QuantRanges } from './precision.js';
import type { MetadataValue } from '../source/records.js';
import { toHalfBits } from '../util/half.js';
import { checkMessageBounds } from './arrow-guard.js';
import { rowChecksums } from './checksum.js';
import { kindOf, type ColumnKind } from './columns.js';

const CONTINUATION = 0xffffffff;
/** End-of-stream marker: continuation + zero length. */
export const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
const HEADER_SCHEMA = 1;
const HEADER_RECORD_BATCH = 3;

/** One framed IPC message inside a byte buffer. */
export interface Frame {
  start: number;
  end: number;
  kind: 'schema' | 'batch' | 'other';
}

/** Result of walking a stream's bytes. */
export interface Walk {
  frames: Frame[];
  /** Bytes up to the end of the last whole message. */
  validEnd: number;
  /** An end-of-stream marker closes the stream. */
  closed: boolean;
  /** Why the walk stopped early: truncated or corrupt, with the byte offset. */
  problem?: string;
}

/** What the 8-byte prefix of a message at `at` says: end of stream, a metadata length, or a problem. */
export type FramePrefix = { eos: true } | { eos: false; metaLength: number } | { problem: string };

/** Checks the prefix of the message at `at` (`head` holds its first 8 bytes, or fewer at the end). */
export function readFramePrefix(head: DataView, at: number, size: number): FramePrefix {
  if (size - at < 8) return { problem: `truncated at byte ${at}: ${size - at} bytes of a message header` };
  if (head.getUint32(0, true) !== CONTINUATION) return { problem: `corrupt at byte ${at}: no IPC message starts here` };
  const metaLength = head.getInt32(4, true);
  if (metaLength === 0) return { eos: true };
  if (metaLength < 0 || metaLength % 8 !== 0) return { problem: `corrupt at byte ${at}: bad metadata length ${metaLength}` };
  if (at + 8 + metaLength > size) return { problem: `truncated at byte ${at}: the message header needs ${metaLength} bytes, ${size - at - 8} remain` };
  return { eos: false, metaLength };
}

/** Checks the metadata of the message at `at` (`meta` views its metaLength bytes): its kind and end, or a problem. */
export function readFrameBody(meta: DataView, at: number, size: number): { kind: Frame['kind']; end: number } | { problem: string } {
  const header = readMessageHeader(meta, 0, meta.byteLength);
  if (!header) return { problem: `corrupt at byte ${at}: unreadable message metadata` };
  const outside = checkMessageBounds(meta);
  if (outside) return { problem: `corrupt at byte ${at}: ${outside}` };
  const end = at + 8 + meta.byteLength + header.bodyLength;
  if (end > size) return { problem: `truncated at byte ${at}: a message of ${end - at} bytes, ${size - at} remain` };
  return { kind: header.type === HEADER_SCHEMA ? 'schema' : header.type === HEADER_RECORD_BATCH ? 'batch' : 'other', end };
}

/**
 * Walks IPC messages: each is 0xFFFFFFFF, an int32 metadata length, a flatbuffer Message and a
 * body of Message.bodyLength bytes. Stops at the first incomplete or malformed message.
 */
export function walkMessages(bytes: Uint8Array, offset = 0): Walk {
  const view = (start: number, length: number) => new DataView(bytes.buffer, bytes.byteOffset + start, Math.max(0, Math.min(length, bytes.length - start)));
  const frames: Frame[] = [];
  let at = offset;
  while (at < bytes.length) {
    const prefix = readFramePrefix(view(at, 8), at, bytes.length);
    if ('problem' in prefix) return { frames, validEnd: at, closed: false, problem: prefix.problem };
    if (prefix.eos) return { frames, validEnd: at + 8, closed: true };
    const body = readFrameBody(view(at + 8, prefix.metaLength), at, bytes.length);
    if ('problem' in body) return { frames, validEnd: at, closed: false, problem: body.problem };
    frames.push({ start: at, end: body.end, kind: body.kind });
    at = body.end;
  }
  return { frames, validEnd: at, closed: false };
}

/** Reads header_type (field 1) and bodyLength (field 3) of a flatbuffer Message table. */
export function readMessageHeader(view: DataView, start: number, length: number): { type: number; bodyLength: number } | null {
  const limit = start + length;
  if (length < 8) return null;
  const table = start + view.getUint32(start, true);
  if (table + 4 > limit) return null;
  const vtable = table - view.getInt32(table, true);
  if (vtable < start || vtable + 4 > limit) return null;
  const vtableSize = view.getUint16(vtable, true);
  const field = (index: number): number => {
    const slot = 4 + 2 * index;
    return slot + 2 <= vtableSize ? view.getUint16(vtable + slot, true) : 0;
  };
  const typeOffset = field(1);
  const bodyOffset = field(3);
  if (table + typeOffset + 1 > limit || table + bodyOffset + 8 > limit) return null;
  const type = typeOffset ? view.getUint8(table + typeOffset) : 0;
  const bodyLength = bodyOffset ? Number(view.getBigInt64(table + bodyOffset, true)) : 0;
  if (bodyLength < 0 || !Number.isSafeInteger(bodyLength)) return null;
  return { type, bodyLength };
}

/** What an embeddings file holds, stored in the Arrow schema's metadata. */
export interface FileDescription {
  model: string;
  dim: number;
  pooling: string;
  normalize: boolean;
  dtype: string;
  float16: boolean;
  metadataColumns: Record<string, ColumnKind>;
  /** 'crc32': each row carries a checksum column (files of version 0.1 have none). */
  checksum?: 'crc32';
  /** The prompt put before every text ('' for none; absent in files written before prompts). */
  prompt?: string;
  /** The model's own vector length, when `dim` is a Matryoshka truncation of it. */
  modelDim?: number;
  /** How vectors are stored (absent in older files: float16 says which float). */
  precision?: Precision;
  /** The int8/uint8 bounds each dimension was scaled between. */
  ranges?: QuantRanges;
  /** The file also keeps each vector in float16 (column embedding_float16), to rescore binary search. */
  keepFloat16?: boolean;
  /** Tokens a text was cut to, and how (absent in files written before issue 23): a resume must make vectors the same way. */
  maxTokens?: number;
  truncation?: string;
}

/** The precision a file's vectors are stored at. */
export const precisionOf = (description: FileDescription): Precision => description.precision ?? (description.float16 ? 'float16' : 'float32');

function elementType(precision: Precision): DataType {
  return precision === 'float32' ? new Float32() : precision === 'float16' ? new Float16() : precision === 'int8' || precision === 'binary' ? new Int8() : new Uint8();
}

const DESCRIPTION_KEY = 'bulk-embed';

/** The Arrow schema: id, embedding, text_hash, then the caller's metadata columns. */
export function buildSchema(description: FileDescription): Schema {
  const precision = precisionOf(description);
  const item = new Field('item', elementType(precision), false);
  const fields = [
    new Field('id', new Utf8(), false),
    new Field('embedding', new FixedSizeList(storedWidth(precision, description.dim), item), false),
    new Field('text_hash', new Utf8(), false),
    ...(description.checksum ? [new Field('checksum', new Uint32(), false)] : []),
    ...(description.keepFloat16 ? [new Field('embedding_float16', new FixedSizeList(description.dim, new Field('item', new Float16(), false)), false)] : []),
    ...Object.entries(description.metadataColumns).map(([name, kind]) => new Field(name, columnType(kind), true)),
  ];
  return new Schema(fields, new Map([[DESCRIPTION_KEY, JSON.stringify(description)]]));
}

/**
 * True when a file's schema is exactly the one its own description implies (field names, types,
 * nullability, metadata): a damaged schema that still parses is told apart from an intact one.
 */
export function schemaMatchesDescription(schema: Schema, description: FileDescription): boolean {
  const expected = buildSchema(description);
  const shape = (s: Schema) => JSON.stringify({
    fields: s.fields.map((f) => [f.name, String(f.type), f.nullable]),
    metadata: [...s.metadata.entries()].sort(),
  });
  return shape(schema) === shape(expected);
}

/** Reads the description back from a schema (null for files not written by this library). */
export function describeSchema(schema: Schema): FileDescription | null {
  const raw = schema.metadata.get(DESCRIPTION_KEY);
  if (!raw) return null;
  const d = JSON.parse(raw) as FileDescription;
  const kinds = ['utf8', 'float64', 'bool'];
  const wellFormed = d !== null && typeof d === 'object' && typeof d.model === 'string' && Number.isInteger(d.dim) && d.dim > 0 &&
    typeof d.float16 === 'boolean' && (d.prompt === undefined || typeof d.prompt === 'string') &&
    (d.precision === undefined || PRECISIONS.includes(d.precision)) && (!needsRanges(precisionOf(d)) || (Array.isArray(d.ranges?.min) && d.ranges.min.length === d.dim && d.ranges.max?.length === d.dim)) && d.metadataColumns !== null && typeof d.metadataColumns === 'object' &&
    Object.values(d.metadataColumns).every((k) => kinds.includes(k));
  if (!wellFormed) throw new Error(`the ${DESCRIPTION_KEY} description in the schema is malformed`);
  return d;
}

function columnType(kind: ColumnKind): DataType {
  return kind === 'float64' ? new Float64() : kind === 'bool' ? new Bool() : new Utf8();
}

/** Infers metadata column kinds from records: each column takes the kind of its first non-null value (text if all are null). */
export function inferColumns(rows: readonly Record<string, MetadataValue>[]): Record<string, ColumnKind> {
  const kinds: Record<string, ColumnKind | null> = {};
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) kinds[key] ??= kindOf(value);
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, v ?? 'utf8']));
}

/** Rows to write: ids, vectors (row-major), text hashes and metadata. */
export interface BatchRows {
  ids: string[];
  vectors: Float32Array;
  textHashes: string[];
  metadata: Record<string, MetadataValue>[];
}

/** Encodes rows as one record batch in a complete IPC stream: schema + batch + EOS. */
export function encodeStream(schema: Schema, description: FileDescription, rows: BatchRows): Uint8Array {
  const n = rows.ids.length;
  const embeddingType = schema.fields[1]!.type as FixedSizeList;
  const precision = precisionOf(description);
  const stored = quantize(rows.vectors, description.dim, precision, description.ranges);
  const values = makeData({ type: elementType(precision), length: n * embeddingType.listSize, data: stored } as never);
  const half = description.keepFloat16 ? Uint16Array.from(rows.vectors, toHalfBits) : null;
  const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const checksums = description.checksum
    ? [makeData({ type: new Uint32(), length: n, data: rowChecksums(rows.ids, rows.textHashes, half ? [bytesOf(stored), bytesOf(half)] : bytesOf(stored), rows.metadata, description.metadataColumns) })]
    : [];
  const halfColumn = half
    ? [makeData({ type: schema.fields.find((f) => f.name === 'embedding_float16')!.type as FixedSizeList, length: n, nullCount: 0, child: makeData({ type: new Float16(), length: n * description.dim, data: half } as never) })]
    : [];
  // Values are checked against their column's kind before they get here (embedTo): none is coerced.
  const children = [
    vectorFromArray(rows.ids, new Utf8()).data[0]!,
    makeData({ type: embeddingType, length: n, nullCount: 0, child: values }),
    vectorFromArray(rows.textHashes, new Utf8()).data[0]!,
    ...checksums,
    ...halfColumn,
    ...Object.entries(description.metadataColumns).map(([name, kind]) => vectorFromArray(rows.metadata.map((m) => m[name] ?? null), columnType(kind)).data[0]!),
  ];
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
  return tableToIPC(new Table([batch]), 'stream');
}

/** Splits an encoded stream into its schema message and its batch message. */
export function splitStream(stream: Uint8Array): { schema: Uint8Array; batch: Uint8Array } {
  const walk = walkMessages(stream);
  const schema = walk.frames.find((f) => f.kind === 'schema');
  const batch = walk.frames.find((f) => f.kind === 'batch');
  if (!schema || !batch) throw new Error('encodeStream produced no schema or no batch');
  return { schema: stream.subarray(schema.start, schema.end), batch: stream.subarray(batch.start, batch.end) };
}

/** The row count and field nodes a record batch message's header declares. */
export interface BatchCounts {
  length: number | bigint;
  nodes: { length: number | bigint; nullCount: number | bigint }[];
}

/** Reads the row count and field nodes from a whole batch message (prefix, metadata, body). */
export function batchCounts(batchMessage: Uint8Array): BatchCounts {
  const metaLength = new DataView(batchMessage.buffer, batchMessage.byteOffset + 4, 4).getInt32(0, true);
  return Message.decode(batchMessage.subarray(8, 8 + metaLength)).header() as unknown as BatchCounts;
}

/**
 * Cross-checks a batch's declared row count against every column's own length (the field nodes,
 * one per column and one per list child, `listSize` times the rows). The row checksums cover each
 * row's bytes but not how many rows there are: a flipped bit in the count would otherwise hand out
 * a batch cut short whose every row still matches its checksum. Returns the problem, or null.
 */
export function rowCountProblem(schema: Schema, counts: BatchCounts): string | null {
  const rows = Number(counts.length);
  const expected: { name: string; length: number }[] = [];
  let checkable = true;
  const visit = (name: string, type: DataType, length: number): void => {
    expected.push({ name, length });
    const children = (type as { children?: Field[] }).children ?? [];
    if (type instanceof FixedSizeList) visit(`${name}.item`, children[0]!.type, length * type.listSize);
    else if (type instanceof Struct) for (const child of children) visit(`${name}.${child.name}`, child.type, length);
    else if (children.length) checkable = false; // variable-length lists: their child's length is in the offsets, not implied
  };
  for (const field of schema.fields) visit(field.name, field.type, rows);
  if (!checkable) return null;
  if (counts.nodes.length !== expected.length) return `it declares ${counts.nodes.length} column nodes, its schema has ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const declared = Number(counts.nodes[i]!.length);
    if (declared !== expected[i]!.length) {
      return `its row count (${rows}) disagrees with column ${expected[i]!.name}, which holds ${declared} values where ${expected[i]!.length} belong`;
    }
  }
  return null;
}

/** Decodes one batch message given the stream's schema message. */
export function decodeBatch(schemaMessage: Uint8Array, batchMessage: Uint8Array): RecordBatch {
  const bytes = new Uint8Array(schemaMessage.length + batchMessage.length + EOS.length);
  bytes.set(schemaMessage, 0);
  bytes.set(batchMessage, schemaMessage.length);
  bytes.set(EOS, schemaMessage.length + batchMessage.length);
  return tableFromIPC(bytes).batches[0]!;
}

/** Decodes a schema message. */
export function decodeSchema(schemaMessage: Uint8Array): Schema {
  const bytes = new Uint8Array(schemaMessage.length + EOS.length);
  bytes.set(schemaMessage, 0);
  bytes.set(EOS, schemaMessage.length);
  return tableFromIPC(bytes).schema;
}

/** A 64-bit fingerprint of a text (two 32-bit FNV-1a passes with different seeds), as hex. */
export function textHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
