// An IPC message's flatbuffer metadata (Message.fbs, Schema.fbs), read through the one bounded
// reader: the message header (its kind and body length), a record batch's header (row count,
// field nodes, buffer regions), and the bounds check run before apache-arrow decodes a message.
// That decoder trusts vector lengths: one flipped bit in a schema can make it loop over billions
// of fields and exhaust memory. Here every table, string and vector it will visit must lie inside
// the metadata, so a corrupt message becomes an error instead. Field numbers are those of the
// Arrow format's .fbs files.
import { Flatbuffer, OutOfBounds } from './flatbuffer.js';

/** Message.header_type of a schema and of a record batch. */
export const HEADER_SCHEMA = 1;
export const HEADER_RECORD_BATCH = 3;
/** Message.version of the format's V4, the oldest whose buffer layout this reads (V1 to V3 had a page id in each buffer). */
const VERSION_V4 = 3;

/** Reads header_type (field 1) and bodyLength (field 3) of the Message table in `length` bytes at `start`; null when unreadable. */
export function readMessageHeader(view: DataView, start: number, length: number): { type: number; bodyLength: number } | null {
  if (length < 8) return null;
  const fb = new Flatbuffer(new DataView(view.buffer, view.byteOffset + start, Math.max(0, Math.min(length, view.byteLength - start))));
  try {
    const message = fb.root();
    const typeAt = fb.field(message, 1);
    const bodyAt = fb.field(message, 3);
    const type = typeAt === null ? 0 : fb.u8(typeAt);
    const bodyLength = bodyAt === null ? 0 : fb.i64(bodyAt);
    return bodyLength < 0 ? null : { type, bodyLength };
  } catch (error) {
    if (error instanceof OutOfBounds || error instanceof RangeError) return null;
    throw error;
  }
}

/** A record batch's header: its row count, one node per column (and list child), and where its buffers lie in the body. */
export interface BatchHeader {
  length: number;
  nodes: { length: number; nullCount: number }[];
  buffers: { offset: number; length: number }[];
  /** The body is compressed (this library never writes one). */
  compressed: boolean;
}

/** Reads the RecordBatch header of a batch message's metadata; throws when it is not one or does not fit. */
export function readBatchHeader(meta: DataView | Uint8Array): BatchHeader {
  const fb = new Flatbuffer(meta);
  try {
    const message = fb.root();
    const typeAt = fb.field(message, 1);
    const batch = fb.table(message, 2);
    if (typeAt === null || fb.u8(typeAt) !== HEADER_RECORD_BATCH || batch === null) throw new Error('the message is not a record batch');
    const versionAt = fb.field(message, 0);
    const version = versionAt === null ? 0 : fb.i16(versionAt);
    if (version < VERSION_V4) throw new Error(`its metadata version (${version}) predates V4: the file was not written by this library`);
    const lengthAt = fb.field(batch, 0);
    const structs = (slot: number) => {
      const vector = fb.table(batch, slot);
      const n = vector === null ? 0 : fb.vector(vector, 16);
      return Array.from({ length: n }, (_, i) => [fb.i64(vector! + 4 + 16 * i), fb.i64(vector! + 12 + 16 * i)] as const);
    };
    return {
      length: lengthAt === null ? 0 : fb.i64(lengthAt),
      nodes: structs(1).map(([length, nullCount]) => ({ length, nullCount })), // FieldNode { length, null_count }
      buffers: structs(2).map(([offset, length]) => ({ offset, length })), // Buffer { offset, length }
      compressed: fb.field(batch, 3) !== null,
    };
  } catch (error) {
    if (error instanceof OutOfBounds || error instanceof RangeError) throw new Error(`message metadata points outside itself (${error.message})`);
    throw error;
  }
}

const MAX_DEPTH = 64;

function checkKeyValues(fb: Flatbuffer, pos: number | null): void {
  if (pos === null) return;
  const vector = fb.target(pos);
  const n = fb.vector(vector, 4);
  for (let i = 0; i < n; i++) {
    const kv = fb.target(vector + 4 + 4 * i);
    fb.string(fb.field(kv, 0));
    fb.string(fb.field(kv, 1));
  }
}

function checkFields(fb: Flatbuffer, pos: number | null, depth: number): void {
  if (pos === null) return;
  if (depth > MAX_DEPTH) throw new OutOfBounds('fields nested too deeply');
  const vector = fb.target(pos);
  const n = fb.vector(vector, 4);
  for (let i = 0; i < n; i++) {
    const field = fb.target(vector + 4 + 4 * i);
    fb.string(fb.field(field, 0)); // name
    const type = fb.field(field, 3);
    if (type !== null) fb.field(fb.target(type), 0); // the type table is readable
    checkFields(fb, fb.field(field, 5), depth + 1); // children
    checkKeyValues(fb, fb.field(field, 6));
  }
}

/**
 * Checks the metadata of one IPC message (the flatbuffer after its 8-byte prefix); returns a
 * problem, or null when every part the decoder reads lies within it.
 */
export function checkMessageBounds(meta: DataView): string | null {
  const fb = new Flatbuffer(meta);
  try {
    const message = fb.root();
    const headerType = fb.field(message, 1);
    const header = fb.field(message, 2);
    checkKeyValues(fb, fb.field(message, 4));
    if (header === null || headerType === null) return null;
    const kind = fb.u8(headerType);
    const table = fb.target(header);
    if (kind === HEADER_SCHEMA) {
      checkFields(fb, fb.field(table, 1), 0); // Schema.fields
      checkKeyValues(fb, fb.field(table, 2)); // Schema.custom_metadata
      const features = fb.field(table, 3);
      if (features !== null) fb.vector(fb.target(features), 8);
    } else if (kind === HEADER_RECORD_BATCH) {
      for (const slot of [1, 2]) {
        const vector = fb.field(table, slot); // RecordBatch.nodes, .buffers: structs of 16 bytes
        if (vector !== null) fb.vector(fb.target(vector), 16);
      }
      const counts = fb.field(table, 4);
      if (counts !== null) fb.vector(fb.target(counts), 8);
    }
    return null;
  } catch (error) {
    if (error instanceof OutOfBounds || error instanceof RangeError) return `message metadata points outside itself (${error.message})`;
    throw error;
  }
}
