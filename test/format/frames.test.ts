// The format's one bounded flatbuffer reader and one frame walk, against apache-arrow's decoder:
// under thousands of flipped bits and cut tails, the walk over a RandomAccessFile and the walk over
// bytes find the same frames and stop at the same byte for the same reason, and a batch header
// read through the bounded reader says what Message.decode says, or refuses it.
import { Message } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { encodeStream, splitStream } from '../../src/format/encode.js';
import { EOS, readFrames, walkMessages, type WalkEnd } from '../../src/format/frames.js';
import { readBatchHeader } from '../../src/format/message.js';
import { buildSchema, type FileDescription } from '../../src/format/schema.js';
import { createRng } from '../../tools/fixtures/rng.js';

const description: FileDescription = {
  model: 'm', dim: 16, pooling: 'mean', normalize: true, dtype: 'fp32', float16: false, precision: 'binary', keepFloat16: true, prompt: '',
  metadataColumns: { topic: 'utf8', n: 'float64' }, checksum: 'crc32',
};
const rows = (k: number) => ({
  ids: Array.from({ length: 5 }, (_, i) => `r${k}-${i}`), vectors: Float32Array.from({ length: 80 }, (_, i) => Math.sin(i + k)),
  textHashes: Array(5).fill('0000000000000000'), metadata: Array.from({ length: 5 }, (_, i) => ({ topic: `t${i}`, n: i })),
});
const schema = buildSchema(description);
const first = splitStream(encodeStream(schema, description, rows(1), 0));
const second = splitStream(encodeStream(schema, description, rows(2), 5));
const stream = new Uint8Array([...first.schema, ...first.batch, ...second.batch, ...EOS]);

async function fileWalk(bytes: Uint8Array) {
  const end: WalkEnd = { validEnd: 0, closed: false };
  const frames = [];
  const file = { name: 'bytes', size: async () => bytes.length, read: async (at: number, length: number) => bytes.slice(at, at + length) };
  for await (const { start, end: stop, kind } of readFrames(file, end)) frames.push({ start, end: stop, kind });
  return { frames, ...end };
}

describe('one frame walk, one bounded reader', () => {
  it('walks a file as it walks bytes: the same frames, the same end, the same problem, under flipped bits and cut tails', async () => {
    const whole = walkMessages(stream);
    expect(whole.frames.map((f) => f.kind)).toEqual(['schema', 'batch', 'batch']);
    expect(whole).toMatchObject({ closed: true, validEnd: stream.length });
    const rng = createRng(2424);
    for (let trial = 0; trial < 2000; trial++) {
      const damaged = new Uint8Array(stream);
      damaged[Math.floor(rng.next() * damaged.length)]! ^= 1 << Math.floor(rng.next() * 8);
      const bytes = trial % 4 ? damaged : damaged.subarray(0, Math.floor(rng.next() * damaged.length));
      const { frames, validEnd, closed, problem } = walkMessages(bytes);
      expect(await fileWalk(bytes)).toEqual({ frames, validEnd, closed, ...(problem ? { problem } : {}) });
    }
  });

  it('reads a batch header as apache-arrow decodes it, or refuses it, for a bit flipped anywhere in the header', () => {
    const metaLength = new DataView(first.batch.buffer, first.batch.byteOffset).getInt32(4, true);
    let compared = 0;
    for (let at = 0; at < metaLength; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const meta = first.batch.slice(8, 8 + metaLength);
        meta[at]! ^= 1 << bit;
        let ours: unknown;
        let theirs: unknown;
        try {
          ours = readBatchHeader(meta);
        } catch {
          continue; // refused: nothing is read from it
        }
        try {
          const h = Message.decode(meta).header() as unknown as {
            length: number; nodes: { length: number; nullCount: number }[]; buffers: { offset: number; length: number }[]; compression: unknown;
          };
          theirs = {
            length: h.length, nodes: h.nodes.map((n) => ({ length: n.length, nullCount: n.nullCount })),
            buffers: h.buffers.map((b) => ({ offset: b.offset, length: b.length })), compressed: h.compression != null,
          };
        } catch {
          continue; // apache-arrow throws where the bounded reader does not (it reads nothing out of bounds either way)
        }
        expect(ours, `bit ${bit} of header byte ${at}`).toEqual(theirs);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(metaLength * 4);
  });
});
