// The Arrow file: torn tails at any byte resume to exactly one row per id; truncated or corrupt
// files give clear errors or their valid prefix; Float16 storage; no silent overwrite.
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tableFromIPC } from '@uwdata/flechette';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrowFile, createEmbedder, EmbeddingsFileError, readEmbeddings, searchEmbeddings, type NodeEmbedder } from '../../src/node.js';
import { walkMessages } from '../../src/format/frames.js';
import { describeSchema } from '../../src/format/schema.js';
import type { SinkSeams } from '../../src/store/arrow-file.js';
import type { StreamSeams } from '../../src/stream/embed-stream.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';

const TINY = resolve(import.meta.dirname, '../../models/fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-arrow-'));
const gen = textGenerator(808);
const records = Array.from({ length: 700 }, (_, i) => ({ id: `id-${i}`, text: gen.text(gen.between(1, 25)), score: i / 7, flag: i % 2 === 0, tag: `t${i % 3}` }));
let embedder: NodeEmbedder;
let complete: string;

beforeAll(async () => {
  embedder = await createEmbedder({ model: TINY });
  complete = join(dir, 'complete.arrow');
  await embedder.embedTo(records, complete, { windowSize: 100 });
});
afterAll(async () => {
  await embedder.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function ids(path: string, allowTruncated = false): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of readEmbeddings(path, { allowTruncated })) out.push(...(batch.getChild('id')!.toArray() as string[]));
  return out;
}

describe('Arrow embeddings file', () => {
  it('holds every record once, with its metadata columns, readable by flechette', async () => {
    expect(await ids(complete)).toEqual(records.map((r) => r.id));
    const table = tableFromIPC(readFileSync(complete));
    expect(table.numRows).toBe(700);
    expect(table.schema.fields.map((f) => f.name)).toEqual(['id', 'embedding', 'text_hash', 'checksum', 'score', 'flag', 'tag']);
    expect(table.getChild('tag')!.at(5)).toBe('t2');
    expect(table.getChild('flag')!.at(5)).toBe(false);
    expect(table.getChild('score')!.at(14)).toBeCloseTo(2);
    const mine = await embedder.embed([records[123]!.text]);
    expect(Array.from(table.getChild('embedding')!.at(123) as Float32Array)).toEqual(Array.from(mine.data).map((v) => Math.fround(v)));
  });

  it('resumes from a tail torn at any byte to exactly one row per id', async () => {
    const bytes = readFileSync(complete);
    const frames = walkMessages(bytes).frames;
    // Cut inside the schema, at a message boundary, inside a batch's header and inside its body, and just before the end marker.
    const cuts = [10, frames[1]!.start, frames[3]!.start + 5, frames[3]!.start + 200, frames[5]!.end - 3, bytes.length - 8];
    for (const cut of cuts) {
      const path = join(dir, `torn-${cut}.arrow`);
      copyFileSync(complete, path);
      truncateSync(path, cut);
      const before = await ids(path, true);
      const result = await embedder.embedTo(records, path, { windowSize: 100, resume: true });
      expect(result.skipped).toBe(before.length);
      expect(result.written).toBe(700 - before.length);
      const after = await ids(path);
      expect(after.length).toBe(700);
      expect(new Set(after).size).toBe(700);
    }
  });

  it('gives a truncated file a clear error, or its valid prefix when asked', async () => {
    const path = join(dir, 'truncated.arrow');
    copyFileSync(complete, path);
    const frames = walkMessages(readFileSync(path)).frames;
    truncateSync(path, frames[4]!.start + 100);
    await expect(ids(path)).rejects.toBeInstanceOf(EmbeddingsFileError);
    await expect(ids(path)).rejects.toThrow(`${path}: truncated at byte ${frames[4]!.start}`);
    expect(await ids(path, true)).toEqual(records.slice(0, 300).map((r) => r.id));
  });

  it('gives a corrupt file a clear error naming the byte', async () => {
    const path = join(dir, 'corrupt.arrow');
    const bytes = readFileSync(complete);
    const frames = walkMessages(bytes).frames;
    bytes.fill(0x41, frames[2]!.start, frames[2]!.start + 4);
    writeFileSync(path, bytes);
    await expect(ids(path)).rejects.toThrow(`${path}: corrupt at byte ${frames[2]!.start}: no IPC message starts here`);
    expect((await ids(path, true)).length).toBe(100);
    writeFileSync(join(dir, 'empty.arrow'), '');
    await expect(ids(join(dir, 'empty.arrow'))).rejects.toThrow('the file is empty');
    writeFileSync(join(dir, 'text.arrow'), 'this is not arrow at all');
    await expect(ids(join(dir, 'text.arrow'))).rejects.toThrow('corrupt at byte 0');
  });

  it('finds whole batches swapped, repeated or dropped, each intact on its own, and resumes from the good prefix', async () => {
    const bytes = readFileSync(complete);
    const frames = walkMessages(bytes).frames;
    const [schema, ...batches] = frames;
    expect(batches).toHaveLength(7);
    const piece = (f: { start: number; end: number }) => bytes.subarray(f.start, f.end);
    const eos = bytes.subarray(batches.at(-1)!.end);
    const layouts = { swapped: [0, 2, 1, 3, 4, 5, 6], repeated: [0, 1, 1, 2, 3, 4, 5, 6], dropped: [0, 2, 3, 4, 5, 6] };
    for (const [name, order] of Object.entries(layouts)) {
      const path = join(dir, `order-${name}.arrow`);
      writeFileSync(path, Buffer.concat([piece(schema!), ...order.map((b) => piece(batches[b]!)), eos]));
      const misplaced = order[1] === 1 ? 2 : 1; // the first batch in a place it was not written in
      await expect(ids(path), name).rejects.toThrow(EmbeddingsFileError);
      await expect(ids(path), name).rejects.toThrow(`does not match its checksum (or its batch is out of place: row ${misplaced * 100} of the file expected there)`);
      // The rows before the misplaced batch are the ones written there; none after it is handed out.
      expect(await ids(path, true), name).toEqual(records.slice(0, misplaced * 100).map((r) => r.id));
      // A query that lands in the misplaced batch is refused, not answered from it.
      const query = (await embedder.embed([records[order[misplaced]! * 100 + 7]!.text])).data;
      await expect(searchEmbeddings(path, query, 3), name).rejects.toThrow(/does not match its checksum/);
      const result = await embedder.embedTo(records, path, { windowSize: 100, resume: true });
      expect(result.repaired, name).toMatch(/out of place/);
      expect(await ids(path), name).toEqual(records.map((r) => r.id));
    }
  });

  it('still reads and resumes files whose checksums cover the rows\' bytes only (crc32, written before positions)', async () => {
    const path = join(dir, 'legacy-crc32.arrow');
    const description = { model: 'm', dim: 4, pooling: 'mean', normalize: true, dtype: 'fp32', float16: false, metadataColumns: {}, checksum: 'crc32' as const, precision: 'float32' as const };
    const rows = (k: number) => ({
      ids: [`a${k}`, `b${k}`], vectors: Float32Array.from({ length: 8 }, (_, i) => i + k), textHashes: ['0', '0'], metadata: [{}, {}],
    });
    const first = await arrowFile(path);
    await first.resumeState();
    await first.write(description, rows(1));
    await first.write(description, rows(2));
    await first.close();
    const again = await arrowFile(path, { resume: true });
    expect((await again.resumeState()).description?.checksum).toBe('crc32');
    await again.write(description, rows(3));
    await again.close();
    expect(await ids(path)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it('records the model by a stable name and knows it by its weights: the same folder copied elsewhere resumes the file', async () => {
    const elsewhere = join(dir, 'copy-of-tiny');
    cpSync(TINY, elsewhere, { recursive: true });
    const path = join(dir, 'moved-model.arrow');
    await embedder.embedTo(records.slice(0, 300), path, { windowSize: 100 });
    const recorded = describeSchema(tableFromIPC(readFileSync(path)).schema as never);
    // Vitest runs in the repository: the model folder is recorded relative to it, not as this machine's absolute path.
    expect(recorded).toMatchObject({ model: 'models/fixture-tiny', modelFingerprint: embedder.info.modelFingerprint });
    expect(embedder.info.modelFingerprint).toMatch(/^[0-9a-f]{16}$/);
    const copy = await createEmbedder({ model: elsewhere });
    try {
      expect(copy.info.model).toBe(elsewhere); // outside the working directory: absolute
      expect(copy.info.modelFingerprint).toBe(embedder.info.modelFingerprint);
      const result = await copy.embedTo(records, path, { windowSize: 100, resume: true });
      expect(result.skipped).toBe(300);
      expect(await ids(path)).toEqual(records.map((r) => r.id));
    } finally {
      await copy.dispose();
    }
    // Other weights under the same name are another model.
    const other = join(dir, 'other-weights.arrow');
    await embedder.embedTo(records.slice(0, 100), other);
    const st = await createEmbedder({ model: resolve(import.meta.dirname, '../../models/fixture-st-cls') });
    try {
      expect(st.info.modelFingerprint).not.toBe(embedder.info.modelFingerprint);
      await expect(st.embedTo(records, other, { resume: true })).rejects.toThrow(/was written with another model.*weights/);
    } finally {
      await st.dispose();
    }
  });

  it('refuses to overwrite or to resume with another model setup', async () => {
    await expect(embedder.embedTo(records.slice(0, 5), complete)).rejects.toThrow('already exists: resume it, overwrite it, or choose another file');
    const cls = await createEmbedder({ model: TINY, pooling: 'cls' });
    await expect(cls.embedTo(records, complete, { resume: true })).rejects.toThrow(/was written with another pooling/);
    await cls.dispose();
    expect(statSync(complete).size).toBe(readFileSync(complete).length);
    expect((await ids(complete)).length).toBe(700);
  });

  it('stores Float16 vectors when asked, at half the size, close to Float32', async () => {
    const path = join(dir, 'half.arrow');
    await embedder.embedTo(records, path, { windowSize: 100, precision: 'float16' });
    expect(statSync(path).size).toBeLessThan(statSync(complete).size * 0.75);
    const hits = await searchEmbeddings(path, (await embedder.embed([records[42]!.text])).data, 1);
    expect(hits[0]!.id).toBe('id-42');
    expect(hits[0]!.score).toBeGreaterThan(0.999);
    const table = tableFromIPC(readFileSync(path));
    expect((table.schema.fields[1]!.type as unknown as { children: { type: { precision: number } }[] }).children[0]!.type.precision).toBe(0); // HALF
  });

  it('searches by cosine while streaming the file', async () => {
    const query = (await embedder.embed([records[321]!.text])).data;
    const hits = await searchEmbeddings(complete, query, 5);
    expect(hits).toHaveLength(5);
    expect(hits[0]).toMatchObject({ id: 'id-321', row: { tag: 't0' } });
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
  });

  it('resumes and refuses repeated ids exactly even when every id fingerprint collides', async () => {
    // Fingerprints by length alone: hundreds of ids share each one, so every answer must come from the ids themselves.
    const fingerprint = (id: string) => BigInt(id.length);
    const path = join(dir, 'collide.arrow');
    copyFileSync(complete, path);
    truncateSync(path, walkMessages(readFileSync(path)).frames[4]!.end); // the schema and 4 batches: 400 rows
    const more = [...records, ...Array.from({ length: 50 }, (_, i) => ({ id: `new-${i}`, text: gen.text(5), score: 0, flag: true, tag: 'n' }))];
    // The fingerprint is an internal seam (not in the public option types), passed through as the library passes it.
    const seam: SinkSeams & StreamSeams = { fingerprint };
    const result = await embedder.embedTo(more, await arrowFile(path, { resume: true, ...seam }), { windowSize: 100, resume: true, ...seam });
    expect([result.skipped, result.written]).toEqual([400, 350]);
    expect((await ids(path)).sort()).toEqual(more.map((r) => r.id).sort());
    const repeated = [...records.slice(0, 250), { ...records[120]!, text: 'again' }];
    const again = join(dir, 'collide-repeat.arrow');
    await expect(embedder.embedTo(repeated, await arrowFile(again, { overwrite: false, ...seam }), { windowSize: 100, ...seam })).rejects.toThrow(/record 251.*"id-120" appears more than once/);
    expect((await ids(again)).length).toBe(200); // the windows before the repeat stay committed
  });
});
