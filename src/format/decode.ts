// Reading the embeddings format back: a batch header's declared counts cross-checked against its
// schema before anything is decoded, and apache-arrow's decoding of a schema message and of a
// batch message (given its stream's schema message).
import { FixedSizeList, Struct, tableFromIPC, type DataType, type Field, type RecordBatch, type Schema } from 'apache-arrow';
import { EOS } from './frames.js';
import type { BatchHeader } from './message.js';

/** The row count and field nodes a record batch's header declares (`readBatchHeader` reads them). */
export type BatchCounts = Pick<BatchHeader, 'length' | 'nodes'>;

/**
 * Cross-checks a batch's declared row count against every column's own length (the field nodes,
 * one per column and one per list child, `listSize` times the rows). The row checksums cover each
 * row's bytes but not how many rows there are: a flipped bit in the count would otherwise hand out
 * a batch cut short whose every row still matches its checksum. Returns the problem, or null.
 */
export function rowCountProblem(schema: Schema, counts: BatchCounts): string | null {
  const rows = counts.length;
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
    const declared = counts.nodes[i]!.length;
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

