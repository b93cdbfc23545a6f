// Bounds checks of an Arrow IPC message's flatbuffer metadata (Message.fbs, Schema.fbs), run
// before apache-arrow decodes it. The decoder trusts vector lengths: one flipped bit in a schema
// can make it loop over billions of fields and exhaust memory. Here every table, string and
// vector the decoder will visit must lie inside the metadata, so a corrupt message becomes an
// error instead. Field numbers are those of the Arrow format's .fbs files.

class OutOfBounds extends Error {}

/** A bounded view of one flatbuffer. */
class Flatbuffer {
  constructor(private readonly view: DataView) {}

  private need(pos: number, bytes: number): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + bytes > this.view.byteLength) throw new OutOfBounds(`${bytes} bytes at ${pos}`);
  }

  u32(pos: number): number {
    this.need(pos, 4);
    return this.view.getUint32(pos, true);
  }

  /** The position of field `slot` of the table at `table`, or null when absent. */
  field(table: number, slot: number): number | null {
    this.need(table, 4);
    const vtable = table - this.view.getInt32(table, true);
    this.need(vtable, 4);
    const size = this.view.getUint16(vtable, true);
    const entry = 4 + 2 * slot;
    if (entry + 2 > size) return null;
    this.need(vtable, entry + 2);
    const offset = this.view.getUint16(vtable + entry, true);
    return offset ? table + offset : null;
  }

  /** Follows the offset stored at `pos` (a table, vector or string). */
  target(pos: number): number {
    return pos + this.u32(pos);
  }

  /** Length of the vector at `vector`, checked to fit with `elementBytes` per element. */
  vector(vector: number, elementBytes: number): number {
    const length = this.u32(vector);
    this.need(vector + 4, length * elementBytes);
    return length;
  }

  /** Checks the string whose offset is stored at `pos`. */
  string(pos: number | null): void {
    if (pos !== null) this.vector(this.target(pos), 1);
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
    const message = fb.target(0);
    const headerType = fb.field(message, 1);
    const header = fb.field(message, 2);
    checkKeyValues(fb, fb.field(message, 4));
    if (header === null || headerType === null) return null;
    const kind = meta.getUint8(headerType);
    const table = fb.target(header);
    if (kind === 1) {
      checkFields(fb, fb.field(table, 1), 0); // Schema.fields
      checkKeyValues(fb, fb.field(table, 2)); // Schema.custom_metadata
      const features = fb.field(table, 3);
      if (features !== null) fb.vector(fb.target(features), 8);
    } else if (kind === 3) {
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
