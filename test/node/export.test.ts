// `embed export`: a collection (here two shard files) into Parquet and the Arrow IPC file format,
// read back by readers that share no code with the writers: hyparquet for Parquet, flechette for
// Arrow files. Rows, ids, vectors and metadata columns must all come through.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tableFromIPC } from '@uwdata/flechette';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder, readEmbeddings, readRecordFile, shardFileName, shardRecords } from '../../src/node.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { CLI_ARGS, runCli } from '../helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-export-'));
const parts = join(dir, 'parts');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COUNT = 1500;
const want = new Map<string, { vector: Float32Array; topic: string }>();

beforeAll(async () => {
  const input = join(dir, 'records.jsonl');
  const gen = textGenerator(1234);
  writeFileSync(input, Array.from({ length: COUNT }, (_, i) => JSON.stringify({ id: `r${i}`, text: gen.text(gen.between(3, 40)), topic: `t${i % 7}` })).join('\n') + '\n');
  mkdirSync(parts);
  const embedder = await createEmbedder({ model: TINY });
  for (const index of [0, 1]) {
    const records = shardRecords(readRecordFile(input), { index, count: 2 });
    await embedder.embedTo(records, join(parts, shardFileName({ index, count: 2 })), { parsed: true, windowSize: 256 });
  }
  await embedder.dispose();
  for (const index of [0, 1]) {
    for await (const batch of readEmbeddings(join(parts, shardFileName({ index, count: 2 })))) {
      const ids = batch.getChild('id')!.toArray() as string[];
      ids.forEach((id, r) => want.set(id, { vector: Float32Array.from(batch.getChild('embedding')!.get(r)!.toArray() as Float32Array), topic: String(batch.getChild('topic')!.get(r)) }));
    }
  }
  expect(want.size).toBe(COUNT);
});

describe('embed export', () => {
  it('Parquet: hyparquet reads every row with its id, vector and metadata, and the Arrow schema with the model description', async () => {
    const out = join(dir, 'all.parquet');
    const run = await runCli(['export', parts, '--format', 'parquet', '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ format: 'parquet', files: 2, rows: COUNT });
    const bytes = readFileSync(out);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const rows = (await parquetReadObjects({ file })) as { id: string; embedding: number[]; topic: string; text_hash: string }[];
    expect(rows.length).toBe(COUNT);
    expect(Object.keys(rows[0]!).sort()).toEqual(['embedding', 'id', 'text_hash', 'topic']); // the checksum column stays behind
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(want.keys()));
    for (const row of rows) {
      const expected = want.get(row.id)!;
      expect(row.topic).toBe(expected.topic);
      expect(Float32Array.from(row.embedding)).toEqual(expected.vector); // float32 in, the same float32 out
    }
    const metadata = await parquetMetadataAsync(file);
    expect(metadata.key_value_metadata?.map((kv) => kv.key)).toContain('ARROW:schema');
  });

  it('Arrow IPC file: flechette reads the footer-indexed file, the same rows and vectors, and refuses to overwrite without --overwrite', async () => {
    const out = join(dir, 'all.arrow-file');
    const run = await runCli(['export', parts, '--format', 'arrow-file', '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    const bytes = readFileSync(out);
    expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1'); // the file format's magic, not a stream
    expect(bytes.subarray(bytes.length - 6).toString('latin1')).toBe('ARROW1');
    const table = tableFromIPC(bytes);
    expect(table.numRows).toBe(COUNT);
    const ids = table.getChild('id')!.toArray() as string[];
    const vectors = table.getChild('embedding')!;
    const topics = table.getChild('topic')!;
    ids.forEach((id, r) => {
      expect(Float32Array.from(vectors.at(r) as Float32Array)).toEqual(want.get(id)!.vector);
      expect(topics.at(r)).toBe(want.get(id)!.topic);
    });
    expect(table.schema.metadata?.get('bulk-embed')).toContain('fixture-tiny');
    const again = await runCli(['export', parts, '--format', 'arrow-file', '--out', out]);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('exists: pass --overwrite to replace it');
  });
});

describe('embed export stopped by Ctrl-C', () => {
  it('SIGINT mid-export exits 130 and leaves neither the output nor its .partial file', async () => {
    // A file large enough that the export is still writing when the signal comes: 60 batches of
    // 1,000 rows of 384 dimensions, written straight through the sink (no model needed).
    const source = join(dir, 'large.arrow');
    const { arrowFile } = await import('../../src/node.js');
    const sink = await arrowFile(source);
    const dim = 384;
    const description = { model: 'synthetic', dim, pooling: 'mean', normalize: true, dtype: 'fp32', float16: false, metadataColumns: {}, checksum: 'crc32' as const, precision: 'float32' as const };
    const gen = textGenerator(99);
    for (let b = 0; b < 60; b++) {
      const ids = Array.from({ length: 1000 }, (_, i) => `row-${b}-${i}`);
      const vectors = Float32Array.from({ length: 1000 * dim }, () => gen.between(0, 1000) / 1000);
      await sink.write(description, { ids, vectors, textHashes: ids.map(() => 'x'.repeat(16)), metadata: ids.map(() => ({})) });
    }
    await sink.close();
    const out = join(dir, 'large.parquet');
    const { spawn } = await import('node:child_process');
    const { existsSync, readdirSync } = await import('node:fs');
    const child = spawn(process.execPath, [...CLI_ARGS, 'export', source, '--format', 'parquet', '--compression', 'zstd', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const partials = () => readdirSync(dir).filter((f) => f.startsWith('large.parquet.partial'));
    // Signal once the temporary file exists, that is mid-export.
    const signalled = await new Promise<boolean>((done) => {
      const poll = setInterval(() => {
        if (partials().length) {
          clearInterval(poll);
          child.kill('SIGINT');
          done(true);
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(poll);
        done(false);
      });
    });
    const code = child.exitCode ?? (await new Promise<number | null>((done) => child.on('exit', (c) => done(c))));
    expect(signalled, `the export ended before its .partial file was seen: ${stderr}`).toBe(true);
    expect(code).toBe(130);
    expect(stderr).toMatch(/export stopped by SIGINT; nothing was written/);
    expect(existsSync(out)).toBe(false);
    expect(partials()).toEqual([]);
  }, 120_000);
});
