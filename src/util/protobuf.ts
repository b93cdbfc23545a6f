// The protobuf wire format, just enough to read a few fields of a message and to write new ones.
// Editing at this level lets a model be changed by splicing byte ranges: the weights (most of an
// ONNX file) are never decoded into objects or copied more than once.

/** Wire types of the protobuf encoding. */
export const WireType = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

/** One field of a message: where its bytes are, and its value where it is a number. */
export interface WireField {
  field: number;
  wireType: number;
  /** Start of the field's tag: bytes [start, end) are the whole field, ready to copy. */
  start: number;
  end: number;
  /** For LEN fields: the payload's range. */
  valueStart: number;
  valueEnd: number;
  /** For VARINT fields: the value (exact up to 2^53). */
  varint: number;
}

/** Thrown when bytes are not a well-formed protobuf message. */
export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

function readVarint(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new WireFormatError(`varint runs past the end at byte ${pos}`);
    const b = bytes[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
  throw new WireFormatError(`varint longer than 10 bytes at byte ${pos}`);
}

/** Iterates the fields of the message in bytes [start, end); throws WireFormatError on malformed input. */
export function* readFields(bytes: Uint8Array, start = 0, end = bytes.length): Generator<WireField> {
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) throw new WireFormatError(`field number 0 at byte ${fieldStart}`);
    pos = afterTag;
    let valueStart = pos, valueEnd = pos, varint = 0;
    if (wireType === WireType.VARINT) {
      [varint, pos] = readVarint(bytes, pos);
    } else if (wireType === WireType.I64) {
      pos += 8;
    } else if (wireType === WireType.I32) {
      pos += 4;
    } else if (wireType === WireType.LEN) {
      const [length, afterLength] = readVarint(bytes, pos);
      valueStart = afterLength;
      valueEnd = pos = afterLength + length;
    } else {
      throw new WireFormatError(`unsupported wire type ${wireType} at byte ${fieldStart}`);
    }
    if (pos > end) throw new WireFormatError(`field ${field} at byte ${fieldStart} runs past the end of its message`);
    yield { field, wireType, start: fieldStart, end: pos, valueStart, valueEnd, varint };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/** Decodes a LEN field's payload as UTF-8. */
export const fieldString = (bytes: Uint8Array, f: WireField): string => utf8.decode(bytes.subarray(f.valueStart, f.valueEnd));

/** Builds a message as a list of byte chunks, so large payloads are referenced, not copied. */
export class MessageWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private push(chunk: Uint8Array): this {
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    return this;
  }

  private pushVarint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return this.push(Uint8Array.from(out));
  }

  private tag(field: number, wireType: number): this {
    return this.pushVarint(field * 8 + wireType);
  }

  /** A varint field (int32, int64 and enums; negatives as 64-bit two's complement). */
  varint(field: number, value: number | bigint): this {
    return this.tag(field, WireType.VARINT).pushVarint(value);
  }

  /** A float field (fixed 32 bits). */
  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.tag(field, WireType.I32).push(b);
  }

  /** A bytes or embedded-message field. */
  bytes(field: number, payload: Uint8Array): this {
    return this.tag(field, WireType.LEN).pushVarint(payload.byteLength).push(payload);
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  /** An embedded message written by `build`. */
  message(field: number, build: (w: MessageWriter) => void): this {
    const inner = new MessageWriter();
    build(inner);
    this.tag(field, WireType.LEN).pushVarint(inner.size);
    for (const c of inner.chunks) this.push(c);
    return this;
  }

  /** Bytes copied as they are (fields already encoded elsewhere). */
  raw(encoded: Uint8Array): this {
    return this.push(encoded);
  }

  /** The message's bytes. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.byteLength;
    }
    return out;
  }
}
