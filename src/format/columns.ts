// The column vocabulary of the embeddings file, below both the Arrow encoding and the checksums
// that use it: the file's own column names and the kinds a metadata column can have.
import type { MetadataValue } from '../source/records.js';

/** Column names the file itself uses: a record's metadata may not take them. */
export const RESERVED_COLUMNS: readonly string[] = ['id', 'embedding', 'text_hash', 'checksum', 'embedding_float16'];

/** Kind of a metadata column. */
export type ColumnKind = 'utf8' | 'float64' | 'bool';

/** The kind a metadata value needs (null fits any column). */
export function kindOf(value: MetadataValue): ColumnKind | null {
  return value === null ? null : typeof value === 'number' ? 'float64' : typeof value === 'boolean' ? 'bool' : 'utf8';
}
