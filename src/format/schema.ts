// The embeddings file's schema: what a file holds (its description, kept as JSON in the Arrow
// schema's metadata), the Arrow schema that description implies (id, embedding, text_hash, the
// checksum and float16 columns when asked for, then the caller's metadata columns), and the
// checks that read a description back from a schema.
import { Bool, Field, FixedSizeList, Float16, Float32, Float64, Int8, Schema, Uint8, Uint32, Utf8, type DataType } from 'apache-arrow';
import type { MetadataValue } from '../source/records.js';
import { needsRanges, PRECISIONS, storedWidth, type Precision, type QuantRanges } from './precision.js';
import { kindOf, type ColumnKind } from './columns.js';

/** How a file's rows are checksummed (see FileDescription.checksum). */
export type ChecksumKind = 'crc32' | 'crc32-position';

/** What new files are written with. */
export const CHECKSUM_KIND: ChecksumKind = 'crc32-position';

/** The position a file's checksums feed for a row, or null where they cover the row's bytes only. */
export const positionOf = (description: Pick<FileDescription, 'checksum'> | null | undefined, row: number): number | null =>
  description?.checksum === 'crc32-position' ? row : null;

/** What an embeddings file holds, stored in the Arrow schema's metadata. */
export interface FileDescription {
  /** The model as recorded (EmbedderInfo.model): a hub id, a folder relative to the working directory, a URL. */
  model: string;
  /** The weights' fingerprint (EmbedderInfo.modelFingerprint; absent in files written before it): resume and collections compare it, not the name. */
  modelFingerprint?: string;
  dim: number;
  pooling: string;
  normalize: boolean;
  dtype: string;
  float16: boolean;
  metadataColumns: Record<string, ColumnKind>;
  /**
   * Each row carries a checksum column (files of version 0.1 have none). 'crc32-position': the
   * checksum also covers the row's position in the file, so batches swapped, repeated or dropped
   * from the middle are found; 'crc32' (files written before it) covers the row's bytes only.
   */
  checksum?: ChecksumKind;
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


/** The Arrow type of a stored vector element at a precision. */
export function elementType(precision: Precision): DataType {
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
    typeof d.float16 === 'boolean' && (d.checksum === undefined || d.checksum === 'crc32' || d.checksum === 'crc32-position') && (d.prompt === undefined || typeof d.prompt === 'string') &&
    (d.precision === undefined || PRECISIONS.includes(d.precision)) && (!needsRanges(precisionOf(d)) || (Array.isArray(d.ranges?.min) && d.ranges.min.length === d.dim && d.ranges.max?.length === d.dim)) && d.metadataColumns !== null && typeof d.metadataColumns === 'object' &&
    Object.values(d.metadataColumns).every((k) => kinds.includes(k));
  if (!wellFormed) throw new Error(`the ${DESCRIPTION_KEY} description in the schema is malformed`);
  return d;
}

/** The Arrow type of a metadata column kind. */
export function columnType(kind: ColumnKind): DataType {
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

