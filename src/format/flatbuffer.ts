// The one bounded flatbuffer reader of the format: every table, vtable, field, vector and string
// read from an Arrow IPC message's metadata goes through it, and every position is checked against
// the metadata's own bounds first. A flipped bit can then make a read fail (OutOfBounds), never
// reach outside the metadata or trust a length that does not fit.

/** A position or length in the metadata that does not fit inside it. */
export class OutOfBounds extends Error {}

/** A bounded view of one flatbuffer (little-endian, as the format stores it). */
export class Flatbuffer {
  readonly view: DataView;

  constructor(bytes: DataView | Uint8Array) {
    this.view = bytes instanceof DataView ? bytes : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Throws unless `bytes` bytes at `pos` lie inside the buffer. */
  need(pos: number, bytes: number): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + bytes > this.view.byteLength) throw new OutOfBounds(`${bytes} bytes at ${pos}`);
  }

  u8(pos: number): number {
    this.need(pos, 1);
    return this.view.getUint8(pos);
  }

  i16(pos: number): number {
    this.need(pos, 2);
    return this.view.getInt16(pos, true);
  }

  u32(pos: number): number {
    this.need(pos, 4);
    return this.view.getUint32(pos, true);
  }

  /** An int64 as a number; throws when it is not a safe integer. */
  i64(pos: number): number {
    this.need(pos, 8);
    const value = this.view.getBigInt64(pos, true);
    if (value < BigInt(Number.MIN_SAFE_INTEGER) || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new OutOfBounds(`the int64 at ${pos} (${value}) is not a safe integer`);
    return Number(value);
  }

  /** The root table (the offset at the buffer's start). */
  root(): number {
    return this.target(0);
  }

  /** The position of field `slot` of the table at `table`, or null when absent. */
  field(table: number, slot: number): number | null {
    this.need(table, 4);
    const vtable = table - this.view.getInt32(table, true);
    this.need(vtable, 4);
    // Read as apache-arrow's flatbuffers decoder reads them (int16 sizes and offsets, a field present
    // when its entry starts inside the vtable), so the checks cover exactly what it will visit.
    const size = this.view.getInt16(vtable, true);
    const entry = 4 + 2 * slot;
    if (entry >= size) return null;
    this.need(vtable, entry + 2);
    const offset = this.view.getInt16(vtable + entry, true);
    return offset ? table + offset : null;
  }

  /** Follows the offset stored at `pos` (a table, vector or string). */
  target(pos: number): number {
    return pos + this.u32(pos);
  }

  /** The table whose offset field `slot` of `table` holds, or null when absent. */
  table(table: number, slot: number): number | null {
    const pos = this.field(table, slot);
    return pos === null ? null : this.target(pos);
  }

  /** Length of the vector at `vector`, checked to fit with `elementBytes` per element; its elements start at `vector + 4`. */
  vector(vector: number, elementBytes: number): number {
    const length = this.u32(vector);
    this.need(vector + 4, length * elementBytes);
    return length;
  }

  /** Checks the string whose offset is stored at `pos` (absent: null). */
  string(pos: number | null): void {
    if (pos !== null) this.vector(this.target(pos), 1);
  }
}
