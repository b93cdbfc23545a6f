// Writing the embeddings format: rows encoded as one record batch (vectors stored at the file's
// precision, each row's checksum, the float16 copy when kept) in a complete IPC stream, and that
// stream split into the schema message and the batch message a file appends.
import { FixedSizeList, Float16, makeData, RecordBatch, Struct, Table, tableToIPC, Uint32, Utf8, vectorFromArray, type Schema } from 'apache-arrow';
import type { MetadataValue } from '../source/records.js';
import { toHalfBits } from '../util/half.js';
import { rowChecksums } from './checksum.js';
import { utf8Column, type Utf8Column } from './utf8-column.js';
import { walkMessages } from './frames.js';
import { quantize } from './precision.js';
import { columnType, elementType, positionOf, precisionOf, type FileDescription } from './schema.js';

/** Rows to write: ids, vectors (row-major), text hashes and metadata. */
export interface BatchRows {
  ids: string[];
  vectors: Float32Array;
  textHashes: string[];
  metadata: Record<string, MetadataValue>[];
}

/** Encodes rows as one record batch in a complete IPC stream: schema + batch + EOS; `firstRow` is the batch's first row's position in its file. */
export function encodeStream(schema: Schema, description: FileDescription, rows: BatchRows, firstRow: number): Uint8Array {
  const n = rows.ids.length;
  const embeddingType = schema.fields[1]!.type as FixedSizeList;
  const precision = precisionOf(description);
  const stored = quantize(rows.vectors, description.dim, precision, description.ranges);
  const values = makeData({ type: elementType(precision), length: n * embeddingType.listSize, data: stored } as never);
  const half = description.keepFloat16 ? Uint16Array.from(rows.vectors, toHalfBits) : null;
  const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const vectorBytes = half ? [bytesOf(stored), bytesOf(half)] : bytesOf(stored);
  const ids = utf8Column(rows.ids);
  const hashes = utf8Column(rows.textHashes);
  const sums = () => rowChecksums(ids, hashes, vectorBytes, rows.metadata, description.metadataColumns, positionOf(description, firstRow));
  const checksums = description.checksum ? [makeData({ type: new Uint32(), length: n, data: sums() })] : [];
  const halfColumn = half
    ? [makeData({ type: schema.fields.find((f) => f.name === 'embedding_float16')!.type as FixedSizeList, length: n, nullCount: 0, child: makeData({ type: new Float16(), length: n * description.dim, data: half } as never) })]
    : [];
  // Values are checked against their column's kind before they get here (embedTo): none is coerced.
  const children = [
    stringData(ids),
    makeData({ type: embeddingType, length: n, nullCount: 0, child: values }),
    stringData(hashes),
    ...checksums,
    ...halfColumn,
    ...Object.entries(description.metadataColumns).map(([name, kind]) => vectorFromArray(rows.metadata.map((m) => m[name] ?? null), columnType(kind)).data[0]!),
  ];
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
  return tableToIPC(new Table([batch]), 'stream');
}

/** A non-null Utf8 column's Arrow data from its encoded strings. */
function stringData(column: Utf8Column) {
  return makeData({ type: new Utf8(), length: column.offsets.length - 1, nullCount: 0, valueOffsets: column.offsets, data: column.bytes });
}

/** Splits an encoded stream into its schema message and its batch message. */
export function splitStream(stream: Uint8Array): { schema: Uint8Array; batch: Uint8Array } {
  const walk = walkMessages(stream);
  const schema = walk.frames.find((f) => f.kind === 'schema');
  const batch = walk.frames.find((f) => f.kind === 'batch');
  if (!schema || !batch) throw new Error('encodeStream produced no schema or no batch');
  return { schema: stream.subarray(schema.start, schema.end), batch: stream.subarray(batch.start, batch.end) };
}
