// A column of strings as Arrow stores it: UTF-8 bytes end to end, with offsets. Built once per
// batch and used for both the Arrow column and the row checksums, so each string is encoded once,
// without a TextEncoder call (and an allocation) per string: ids and text hashes are short ASCII.

/** Strings encoded end to end: string i is `bytes[offsets[i] .. offsets[i + 1])`. */
export interface Utf8Column {
  offsets: Int32Array;
  bytes: Uint8Array;
}

const encoder = new TextEncoder();

/** Encodes `values` as one UTF-8 buffer with offsets (lone surrogates become U+FFFD, as TextEncoder does). */
export function utf8Column(values: readonly string[]): Utf8Column {
  let chars = 0;
  for (const v of values) chars += v.length;
  // 3 bytes per UTF-16 unit bounds any string (a surrogate pair's 4 bytes are 2 units).
  let bytes = new Uint8Array(Math.max(16, chars + 64));
  const offsets = new Int32Array(values.length + 1);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (at + 3 * v.length > bytes.length) {
      const grown = new Uint8Array(Math.max(2 * bytes.length, at + 3 * v.length));
      grown.set(bytes.subarray(0, at));
      bytes = grown;
    }
    let ascii = true;
    for (let k = 0; k < v.length; k++) {
      const c = v.charCodeAt(k);
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      bytes[at + k] = c;
    }
    at += ascii ? v.length : encoder.encodeInto(v, bytes.subarray(at)).written;
    offsets[i + 1] = at;
  }
  return { offsets, bytes: bytes.subarray(0, at) };
}
