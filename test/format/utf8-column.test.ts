import { describe, expect, it } from 'vitest';
import { utf8Column } from '../../src/format/utf8-column.js';
import { rowChecksums } from '../../src/format/checksum.js';

const encoder = new TextEncoder();
const strings = ['', 'r0', 'a-much-longer-ascii-id-0123456789', 'café', '日本語のテキスト', '😀 emoji', 'lone \uD800 high', 'lone \uDC00 low', 'x'.repeat(5000) + 'é'];

describe('utf8Column', () => {
  it('holds each string as TextEncoder encodes it, end to end with offsets', () => {
    const { offsets, bytes } = utf8Column(strings);
    expect(offsets.length).toBe(strings.length + 1);
    strings.forEach((s, i) => expect(Array.from(bytes.subarray(offsets[i]!, offsets[i + 1]!))).toEqual(Array.from(encoder.encode(s))));
    expect(bytes.length).toBe(strings.reduce((n, s) => n + encoder.encode(s).length, 0));
  });

  it('grows past its first guess for long multi-byte strings', () => {
    const many = Array.from({ length: 300 }, (_, i) => '語'.repeat(i));
    const { offsets, bytes } = utf8Column(many);
    expect(offsets.at(-1)).toBe(bytes.length);
    expect(new TextDecoder().decode(bytes)).toBe(many.join(''));
  });

  it('gives the same row checksums from strings as from their columns', () => {
    const ids = strings.map((s, i) => `${i}:${s}`);
    const hashes = strings.map((_, i) => i.toString(16).padStart(16, '0'));
    const vectors = new Uint8Array(ids.length * 8).map((_, i) => i * 7);
    const meta = ids.map((_, i) => ({ note: i % 2 ? 'odd' : null }));
    const fromStrings = rowChecksums(ids, hashes, vectors, meta, { note: 'utf8' }, 5);
    expect(rowChecksums(utf8Column(ids), utf8Column(hashes), vectors, meta, { note: 'utf8' }, 5)).toEqual(fromStrings);
    // A changed id byte changes that row's sum only.
    const changed = rowChecksums(['0:x', ...ids.slice(1)], hashes, vectors, meta, { note: 'utf8' }, 5);
    expect(changed[0]).not.toBe(fromStrings[0]);
    expect(Array.from(changed.slice(1))).toEqual(Array.from(fromStrings.slice(1)));
  });
});
