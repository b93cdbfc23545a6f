// Issue 23: the features that landed after the first wave (export, shards, stored precisions,
// search over folders) keep the database promise. Every case here was met by a hostile but
// realistic user: a flipped bit or a cut tail exported as a short file with exit 0, a flipped row
// count, folders whose parts disagree, degenerate int8 calibration, and ids that lost digits.
// Each test asserts what the file holds or which typed error came back, never a fixed result.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tableFromIPC } from '@uwdata/flechette';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder, EmbeddingsFileError, readEmbeddings, searchEmbeddings, type NodeEmbedder } from '../../src/node.js';
import { readMessageHeader } from '../../src/sink/arrow-ipc.js';
import { exportBatches, type ExportFormat } from '../../src/sink/export.js';
import { createRng } from '../../tools/fixtures/rng.js';
import { runCli } from '../helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-db-promise-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const records = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, text: `record ${prefix} ${i} about topic ${i % 17}`, topic: `t${i % 5}` }));

let embedder: NodeEmbedder;
/** A file of three committed batches of 100 rows (windowSize 100). */
let source: string;
/** Its rows as written: id -> stored float32 vector bytes. */
const sourceRows = new Map<string, string>();

/** Where each IPC message of a file starts, its metadata length and kind (1 schema, 3 batch). */
function messages(bytes: Buffer): { start: number; metaLength: number; end: number }[] {
  const out = [];
  let at = 0;
  while (at < bytes.length) {
    const metaLength = bytes.readInt32LE(at + 4);
    if (metaLength === 0) break;
    const body = readMessageHeader(new DataView(bytes.buffer, bytes.byteOffset + at + 8, metaLength), 0, metaLength)!.bodyLength;
    out.push({ start: at, metaLength, end: at + 8 + metaLength + body });
    at = at + 8 + metaLength + body;
  }
  return out;
}

const vectorKey = (v: ArrayLike<number>) => Array.from(v, (x) => x.toFixed(7)).join(',');

async function rowsOf(path: string): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  for await (const batch of readEmbeddings(path)) {
    const ids = batch.getChild('id')!.toArray() as string[];
    ids.forEach((id, r) => rows.set(id, vectorKey(batch.getChild('embedding')!.get(r)!.toArray() as Float32Array)));
  }
  return rows;
}

/** The rows an exported file holds, read by readers that share no code with the writers. */
async function exportedRows(path: string, format: ExportFormat): Promise<Map<string, string>> {
  const bytes = readFileSync(path);
  const rows = new Map<string, string>();
  if (format === 'parquet') {
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    for (const row of (await parquetReadObjects({ file })) as { id: string; embedding: number[] }[]) rows.set(row.id, vectorKey(Float32Array.from(row.embedding)));
  } else {
    const table = tableFromIPC(bytes);
    const ids = table.getChild('id')!.toArray() as string[];
    ids.forEach((id, r) => rows.set(id, vectorKey(table.getChild('embedding')!.at(r) as Float32Array)));
  }
  return rows;
}

const leftovers = (folder: string, stem: string) => readdirSync(folder).filter((f) => f.startsWith(stem));

beforeAll(async () => {
  embedder = await createEmbedder({ model: TINY });
  const input = join(dir, 'three.jsonl');
  writeFileSync(input, jsonl(records(300)));
  source = join(dir, 'three.arrow');
  await embedder.embedTo(input, source, { windowSize: 100 });
  for (const [id, v] of await rowsOf(source)) sourceRows.set(id, v);
  expect(sourceRows.size).toBe(300);
  expect(messages(readFileSync(source)).length).toBe(4); // the schema and three batches
});
afterAll(() => embedder?.dispose());

describe('export verifies every batch it reads', () => {
  for (const format of ['parquet', 'arrow-file'] as const) {
    it(`${format}: one flipped bit in batch 2 of 3 is a typed error (exit 6), with no output file and no partial file left`, async () => {
      const bytes = readFileSync(source);
      const batch2 = messages(bytes)[2]!;
      bytes[batch2.start + 8 + batch2.metaLength + 500]! ^= 4; // inside the body: an id, a vector or a checksum
      const damaged = join(dir, `flip-${format}.arrow`);
      writeFileSync(damaged, bytes);
      const out = join(dir, `flip-out.${format}`);
      const run = await runCli(['export', damaged, '--format', format, '--out', out]);
      expect(run.code, run.stderr).toBe(6);
      expect(run.stderr).toContain(damaged);
      expect(run.stderr).toMatch(/corrupt record batch at byte \d+/);
      expect(existsSync(out)).toBe(false);
      expect(leftovers(dir, `flip-out.${format}`)).toEqual([]);
    });

    it(`${format}: a cut tail is refused, never exported as the whole batches before it`, async () => {
      const bytes = readFileSync(source);
      const cut = join(dir, `cut-${format}.arrow`);
      writeFileSync(cut, bytes.subarray(0, bytes.length - 700));
      const out = join(dir, `cut-out.${format}`);
      await expect(exportBatches(readEmbeddings(cut), format, out)).rejects.toThrow(EmbeddingsFileError);
      expect(existsSync(out)).toBe(false);
      expect(leftovers(dir, `cut-out.${format}`)).toEqual([]);
    });
  }
});

describe('row counts are cross-checked', () => {
  it('a flipped bit in any row count of a batch header (100 -> 36) is refused by readEmbeddings, search and export', async () => {
    const bytes = readFileSync(source);
    const batch2 = messages(bytes)[2]!;
    const meta = batch2.start + 8;
    // Every int64 that says 100 in the header: the batch's own length and each column's length.
    const places = [];
    for (let i = meta; i + 8 <= meta + batch2.metaLength; i += 4) if (bytes.readBigInt64LE(i) === 100n) places.push(i);
    expect(places.length).toBeGreaterThanOrEqual(5);
    for (const place of places) {
      const damaged = Buffer.from(bytes);
      damaged[place]! ^= 64; // 100 -> 36
      const path = join(dir, 'rowcount.arrow');
      writeFileSync(path, damaged);
      await expect(rowsOf(path), `int64 at header byte ${place - meta}`).rejects.toThrow(EmbeddingsFileError);
      await expect(rowsOf(path)).rejects.toThrow(/corrupt record batch at byte \d+/);
      await expect(searchEmbeddings(path, new Float32Array(32).fill(0.1), 5)).rejects.toThrow(EmbeddingsFileError);
      await expect(exportBatches(readEmbeddings(path), 'parquet', join(dir, 'rowcount.parquet'))).rejects.toThrow(EmbeddingsFileError);
      expect(existsSync(join(dir, 'rowcount.parquet'))).toBe(false);
    }
  });
});

describe('export fuzz', () => {
  it('bits flipped at 200 seeded places: every export refuses (typed error, no file left) or writes exactly the source rows', async () => {
    const bytes = readFileSync(source);
    const rng = createRng(2323);
    const outcomes = { refused: 0, exact: 0 };
    for (let trial = 0; trial < 200; trial++) {
      const damaged = Buffer.from(bytes);
      const at = rng.int(damaged.length);
      damaged[at]! ^= 1 << rng.int(8);
      const path = join(dir, 'fuzz.arrow');
      writeFileSync(path, damaged);
      const format: ExportFormat = trial % 2 ? 'parquet' : 'arrow-file';
      const out = join(dir, `fuzz-out.${format}`);
      for (const f of leftovers(dir, 'fuzz-out.')) rmSync(join(dir, f), { force: true });
      try {
        await exportBatches(readEmbeddings(path), format, out);
      } catch (error) {
        expect(error, `byte ${at}: ${String(error)}`).toBeInstanceOf(EmbeddingsFileError);
        expect(existsSync(out)).toBe(false);
        expect(leftovers(dir, 'fuzz-out.')).toEqual([]);
        outcomes.refused++;
        continue;
      }
      expect(await exportedRows(out, format), `byte ${at} flipped, exported anyway`).toEqual(sourceRows);
      outcomes.exact++;
    }
    expect(outcomes.refused + outcomes.exact).toBe(200);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});
