// Issue 23: the features that landed after the first wave (export, shards, stored precisions,
// search over folders) keep the database promise. Every case here was met by a hostile but
// realistic user: a flipped bit or a cut tail exported as a short file with exit 0, a flipped row
// count, folders whose parts disagree, degenerate int8 calibration, and ids that lost digits.
// Each test asserts what the file holds or which typed error came back, never a fixed result.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tableFromIPC } from '@uwdata/flechette';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, createEmbedder, EmbeddingsFileError, InputFormatError, readEmbeddings, searchEmbeddings, shardOf, type NodeEmbedder } from '../../src/node.js';
import { describeSchema, type FileDescription } from '../../src/format/schema.js';
import { readMessageHeader } from '../../src/format/message.js';
import { countClamped, dequantizer, type Precision, type QuantRanges } from '../../src/format/precision.js';
import { exportBatches, type ExportFormat } from '../../src/node/export.js';
import { createRng } from '../../tools/fixtures/rng.js';
import { CLI_ARGS, runCli } from '../helpers/cli.js';
import { cosine } from '../helpers/models.js';

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
    const parsed = (await parquetReadObjects({ file })) as { id: string; embedding: number[] }[];
    for (const row of parsed) rows.set(row.id, vectorKey(Float32Array.from(row.embedding)));
  } else {
    const table = tableFromIPC(bytes);
    const ids = table.getChild('id')!.toArray() as string[];
    ids.forEach((id, r) => rows.set(id, vectorKey(table.getChild('embedding')!.at(r) as Float32Array)));
  }
  return rows;
}

async function readIdList(path: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const batch of readEmbeddings(path)) ids.push(...(batch.getChild('id')!.toArray() as string[]));
  return ids;
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

describe('search reports damaged rows', () => {
  it('a row whose stored vector became NaN is refused by search, naming the batch and row, never dropped from the ranking in silence', async () => {
    const bytes = readFileSync(source);
    let vector: Float32Array | null = null;
    for await (const batch of readEmbeddings(source)) {
      const ids = batch.getChild('id')!.toArray() as string[];
      const r = ids.indexOf('r150');
      if (r >= 0) vector = Float32Array.from(batch.getChild('embedding')!.get(r)!.toArray() as Float32Array);
    }
    const at = bytes.indexOf(Buffer.from(vector!.buffer));
    expect(at).toBeGreaterThan(0);
    bytes.writeUInt32LE(0x7fc00000, at + 8); // the third value of r150's vector: NaN
    const path = join(dir, 'nan.arrow');
    writeFileSync(path, bytes);
    await expect(rowsOf(path)).rejects.toThrow(EmbeddingsFileError); // the reader refuses it: the search must not answer
    const error = await searchEmbeddings(path, vector!, 5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddingsFileError);
    expect(String(error)).toMatch(/corrupt record batch at byte \d+: row 50's vector is not a finite number/);
  });
});

describe('a refused export leaves nothing behind', () => {
  it('a source that fails before its first batch or after it: the error is the source\'s, and no partial file appears, then or later', async () => {
    const batches: import('apache-arrow').RecordBatch[] = [];
    for await (const batch of readEmbeddings(source)) batches.push(batch);
    for (const format of ['arrow-file', 'parquet'] as ExportFormat[]) {
      for (const failAfter of [0, 1]) {
        const stem = `early-${format}-${failAfter}`;
        const failing = async function* () {
          for (let i = 0; i < failAfter; i++) yield batches[i]!;
          throw new EmbeddingsFileError(source, `damaged after ${failAfter} batches`);
        };
        // A busy thread pool runs the output's open late: here it is made late on purpose.
        const open = fs.open;
        fs.open = ((...args: Parameters<typeof fs.open>) => void setTimeout(() => open(...args), 30)) as typeof fs.open;
        try {
          await expect(exportBatches(failing(), format, join(dir, `${stem}.out`))).rejects.toThrow(`damaged after ${failAfter} batches`);
        } finally {
          fs.open = open;
        }
        expect(leftovers(dir, stem), `${format}, failing after ${failAfter}`).toEqual([]);
        // The output stream opens its file asynchronously: a file opened after the cleanup would appear now.
        await new Promise((r) => setTimeout(r, 50));
        expect(leftovers(dir, stem), `${format}, failing after ${failAfter}, 50 ms later`).toEqual([]);
      }
    }
  });
});

describe('an export whose disk fills up', () => {
  it('a write failing with ENOSPC mid-export: a typed error naming the output and saying nothing was written, no partial file, no crash', async () => {
    const batches: import('apache-arrow').RecordBatch[] = [];
    for await (const batch of readEmbeddings(source)) batches.push(batch);
    const slowly = async function* () {
      for (const batch of batches) {
        await new Promise((r) => setTimeout(r, 5));
        yield batch;
      }
    };
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    // The Arrow writer writes through a FileHandle, Parquet through a write stream (fs.write / fs.writev).
    const probe = await fs.promises.open(join(dir, 'probe'), 'w');
    const handleProto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    for (const format of ['arrow-file', 'parquet'] as ExportFormat[]) {
      const stem = `full-${format}`;
      let writes = 0;
      const saved = { handle: handleProto.write, write: fs.write, writev: fs.writev };
      // Arrow's first write (the file's header) goes through and the next ones find the disk full;
      // parquet-wasm writes this small file in one go, so that write fails.
      const failFrom = format === 'arrow-file' ? 2 : 1;
      handleProto.write = function (this: unknown, ...args: unknown[]) {
        return ++writes >= failFrom ? Promise.reject(full) : saved.handle.apply(this, args);
      };
      const failing = (...args: unknown[]) => {
        const done = args.at(-1) as (error: Error) => void;
        if (++writes >= failFrom) process.nextTick(() => done(full));
        else (saved.write as (...a: unknown[]) => void)(...args);
      };
      fs.write = failing as typeof fs.write;
      fs.writev = failing as unknown as typeof fs.writev;
      try {
        const error = await exportBatches(slowly(), format, join(dir, `${stem}.out`)).catch((e: unknown) => e);
        expect(error, format).toBeInstanceOf(EmbeddingsFileError);
        expect(String(error), format).toMatch(new RegExp(`${stem}\\.out: cannot grow: the disk is full \\(nothing was written; export again once there is space\\) \\(ENOSPC\\)`));
      } finally {
        handleProto.write = saved.handle;
        fs.write = saved.write;
        fs.writev = saved.writev;
      }
      expect(writes, format).toBeGreaterThanOrEqual(failFrom);
      await new Promise((r) => setTimeout(r, 50));
      expect(leftovers(dir, stem), format).toEqual([]);
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

describe('locks are leases: the Indexed Job flow', () => {
  const CLI = CLI_ARGS;
  const unshare = spawnSync('unshare', ['--pid', '--fork', '--kill-child', '--map-root-user', process.execPath, '-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const canUnshare = unshare.status === 0 && unshare.stdout === '1';
  const LEASE = { BULK_EMBED_LOCK_LEASE_MS: '1500' };

  /** Runs the CLI (inside a new pid namespace when `isolated`, as node runs as PID 1 in a pod), SIGKILLing it once `killAt` records are done. */
  function shardRun(args: string[], isolated: boolean, killAt?: number) {
    const command = isolated ? 'unshare' : process.execPath;
    const argv = isolated ? ['--pid', '--fork', '--kill-child', '--map-root-user', process.execPath, ...CLI, ...args] : [...CLI, ...args];
    return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(command, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...LEASE } });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        for (const line of chunk.split('\n')) {
          if (killAt !== undefined && line.startsWith('{"event":"progress"') && (JSON.parse(line) as { done: number }).done >= killAt) child.kill('SIGKILL');
        }
      });
      child.on('exit', (code, signal) => done({ code, signal, stdout, stderr }));
    });
  }

  const input = join(dir, 'job.jsonl');
  beforeAll(() => writeFileSync(input, jsonl(records(2400, 'job'))));
  const expected = (index: number) => records(2400, 'job').map((r) => r.id).filter((id) => shardOf(id, 2) === index).sort();
  const ids = async (path: string) => (await readIdList(path)).sort();

  it.runIf(canUnshare)('a shard SIGKILLed as PID 1 of its pid namespace leaves its lock; the retry, PID 1 of a new namespace, completes with --resume', async () => {
    const out = join(dir, 'job-ns');
    const args = [input, '--out', out, '--model', TINY, '--window', '100', '--shard', '0/2', '--resume'];
    const killed = await shardRun(args, true, 300);
    expect(killed.signal ?? killed.code).not.toBe(0);
    const lock = join(out, 'part-00000-of-00002.arrow.lock');
    expect(existsSync(lock)).toBe(true);
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(1); // what a pod's node writes
    const retry = await shardRun(args, true);
    expect(retry.code, retry.stderr).toBe(0);
    expect(await ids(join(out, 'part-00000-of-00002.arrow'))).toEqual(expected(0));
    expect(existsSync(lock)).toBe(false);
  });

  it('a lock left by a killed pod on another host (a shared volume) lapses after its lease; the retry on a new host completes with --resume', async () => {
    const out = join(dir, 'job-host');
    const args = [input, '--out', out, '--model', TINY, '--window', '100', '--shard', '1/2', '--resume'];
    const killed = await shardRun(args, false, 300);
    expect(killed.signal).toBe('SIGKILL');
    const lock = join(out, 'part-00001-of-00002.arrow.lock');
    // The killed pod's lock as another host wrote it: its pid (1) is alive here, so a pid check alone refuses forever.
    const { mtime } = statSync(lock);
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'embed-job-1-x7k2p', since: new Date().toISOString(), leaseMs: 1500 }));
    utimesSync(lock, mtime, mtime);
    const retry = await shardRun(args, false);
    expect(retry.code, retry.stderr).toBe(0);
    expect(await ids(join(out, 'part-00001-of-00002.arrow'))).toEqual(expected(1));
  });

  it('a lock whose holder renews its lease is refused (FileLockedError, exit 6), whatever host it names', async () => {
    const out = join(dir, 'held.arrow');
    const lock = `${out}.lock`;
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'embed-job-2-live', since: new Date().toISOString(), leaseMs: 1500 }));
    const renew = setInterval(() => utimesSync(lock, new Date(), new Date()), 200);
    try {
      const run = await shardRun([input, '--out', out, '--model', TINY], false);
      expect(run.code).toBe(6);
      expect(run.stderr).toContain('is being written by process 1 on embed-job-2-live');
      expect(existsSync(out) ? statSync(out).size : 0).toBe(0);
    } finally {
      clearInterval(renew);
    }
  });
});

describe('folders are checked as a whole before anything is read as one', () => {
  const folder = (name: string) => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    return path;
  };
  const part = (path: string, index: number, count: number) => join(path, `part-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.arrow`);
  const withColumns = (n: number, prefix: string, order: 'ab' | 'ba') => records(n, prefix).map((r, i) => (order === 'ab' ? { ...r, a: `a${i}`, b: i } : { id: r.id, text: r.text, topic: r.topic, b: i, a: `a${i}` }));

  it('parts whose metadata columns are in another order export every row of every part (Arrow file and Parquet), matched by name', async () => {
    const parts = folder('order');
    await embedder.embedTo(withColumns(120, 'p0-', 'ab'), part(parts, 0, 2), { windowSize: 50 });
    await embedder.embedTo(withColumns(80, 'p1-', 'ba'), part(parts, 1, 2), { windowSize: 50 });
    const want = new Map([...(await rowsOf(part(parts, 0, 2))), ...(await rowsOf(part(parts, 1, 2)))]);
    expect(want.size).toBe(200);
    for (const format of ['arrow-file', 'parquet'] as const) {
      const out = join(dir, `order-out.${format}`);
      const run = await runCli(['export', parts, '--format', format, '--out', out]);
      expect(run.code, run.stderr).toBe(0);
      expect(await exportedRows(out, format)).toEqual(want);
    }
    const table = tableFromIPC(readFileSync(join(dir, 'order-out.arrow-file')));
    const bs = table.getChild('b')!.toArray() as Float64Array;
    const as = table.getChild('a')!.toArray() as string[];
    as.forEach((a, r) => expect(a).toBe(`a${bs[r]}`)); // each row's columns stayed its own
  });

  /** Runs export (both formats), info and search over `parts`; each must exit 6 with `message`, creating no file. */
  async function refusedEverywhere(parts: string, message: RegExp, uses: ('export' | 'info' | 'search')[] = ['export', 'info', 'search']) {
    for (const use of uses) {
      const formats = use === 'export' ? (['parquet', 'arrow-file'] as const) : [null];
      for (const format of formats) {
        const out = join(dir, `refused.${format}`);
        const args = use === 'export' ? ['export', parts, '--format', format!, '--out', out] : use === 'info' ? ['info', parts] : ['search', parts, 'topic 3', '--model', TINY];
        const run = await runCli(args);
        expect(run.code, `${use}: ${run.stderr}`).toBe(6);
        expect(run.stderr, use).toMatch(message);
        expect(run.stdout, use).toBe('');
        if (format) {
          expect(existsSync(out)).toBe(false);
          expect(leftovers(dir, `refused.${format}`)).toEqual([]);
        }
      }
    }
  }

  it('a part at another precision (int8 among float32) is refused by export, info and search, naming the part and the precision', async () => {
    const parts = folder('mixed-precision');
    await embedder.embedTo(records(60, 'f'), part(parts, 0, 2));
    await embedder.embedTo(records(60, 'q'), part(parts, 1, 2), { precision: 'int8' });
    await refusedEverywhere(parts, /part-00001-of-00002\.arrow: its precision \("int8"\) differs from .*part-00000-of-00002\.arrow's \("float32"\)/);
  });

  it('search over float32 parts and a binary part is refused, never ranked on two scales', async () => {
    const parts = folder('binary-mix');
    await embedder.embedTo(records(40, 'f'), part(parts, 0, 2));
    await embedder.embedTo(records(40, 'b'), part(parts, 1, 2), { precision: 'binary' });
    await refusedEverywhere(parts, /its precision \("binary"\) differs/, ['search']);
  });

  it('a part written by another model of the same dim is refused, never labelled with the first model', async () => {
    const parts = folder('two-models');
    await embedder.embedTo(records(30, 'x'), part(parts, 0, 2));
    const other = await createEmbedder({ model: join(ROOT, 'models', 'fixture-st-cls') });
    try {
      await other.embedTo(records(30, 'y'), part(parts, 1, 2));
    } finally {
      await other.dispose();
    }
    await refusedEverywhere(parts, /part-00001-of-00002\.arrow: its model \(.*fixture-st-cls.*\) differs from/);
  });

  it('int8 parts calibrated to different ranges are exported under one set (their union), every row decoding to its own values; search reads each with its own', async () => {
    const parts = folder('int8-ranges');
    await embedder.embedTo(records(50, 'i'), part(parts, 0, 2), { precision: 'int8' });
    await embedder.embedTo(records(50, 'j').map((r) => ({ ...r, text: `${r.text} with other words entirely, long enough to move the vector` })), part(parts, 1, 2), { precision: 'int8' });
    // Each part's rows as their own ranges decode them.
    const own = new Map<string, Float64Array>();
    for (const index of [0, 1]) {
      for await (const batch of readEmbeddings(part(parts, index, 2))) {
        const description = describeSchema(batch.schema)!;
        const { start, step, offset } = dequantizer('int8', description.ranges!);
        const ids = batch.getChild('id')!.toArray() as string[];
        ids.forEach((id, r) => own.set(id, Float64Array.from(batch.getChild('embedding')!.get(r)!.toArray() as Int8Array, (c, j) => start[j]! + (c + offset) * step[j]!)));
      }
    }
    const out = join(dir, 'int8-union.arrow-file');
    const run = await runCli(['export', parts, '--format', 'arrow-file', '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rows: 100 });
    expect(run.stderr).toMatch(/int8 parts were calibrated to different ranges; \d of 2 were requantized to their union/);
    const table = tableFromIPC(readFileSync(out));
    const description = JSON.parse(table.schema.metadata!.get('bulk-embed')!) as FileDescription;
    const { start, step, offset } = dequantizer('int8', description.ranges!);
    const ids = table.getChild('id')!.toArray() as string[];
    expect(ids.length).toBe(100);
    ids.forEach((id, r) => {
      const exported = Float64Array.from(table.getChild('embedding')!.at(r) as Int8Array, (c, j) => start[j]! + (c + offset) * step[j]!);
      expect(cosine(exported, own.get(id)!), id).toBeGreaterThan(0.99);
    });
    const search = await runCli(['search', parts, 'topic 3', '--model', TINY, '-k', '100']);
    expect(search.code, search.stderr).toBe(0);
    expect(search.stdout.trim().split('\n').length).toBe(100);
    const info = await runCli(['info', parts]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).rows).toBe(100);
  });

  it('a part still being written (its lock is live) is refused by export, info and search', async () => {
    const parts = folder('live');
    await embedder.embedTo(records(30, 'l'), part(parts, 0, 2));
    await embedder.embedTo(records(30, 'm'), part(parts, 1, 2));
    const { openNodeFile } = await import('../../src/node/node-file.js');
    const writing = await openNodeFile(part(parts, 1, 2)); // holds the lock, as a running shard does
    try {
      await refusedEverywhere(parts, /part-00001-of-00002\.arrow: is being written by process \d+/);
      // The one file alone, watched while it grows: described as it is now, and said so.
      const alone = await runCli(['info', part(parts, 1, 2)]);
      expect(alone.code, alone.stderr).toBe(0);
      expect(alone.stderr).toMatch(/is still being written by process \d+.*rows committed so far/);
      expect((await runCli(['export', part(parts, 1, 2), '--format', 'parquet', '--out', join(dir, 'alone.parquet')])).code).toBe(6);
    } finally {
      await writing.close();
    }
    expect((await runCli(['info', parts])).code).toBe(0);
  });

  it('a folder missing parts of part-I-of-N is refused, naming the missing parts', async () => {
    const parts = folder('missing');
    await embedder.embedTo(records(20, 's0-'), part(parts, 0, 4));
    await embedder.embedTo(records(20, 's2-'), part(parts, 2, 4));
    await refusedEverywhere(parts, /2 of its 4 parts are missing \(part-00001-of-00004\.arrow, part-00003-of-00004\.arrow\)/);
  });
});

describe('int8/uint8 calibration that can represent the data', () => {
  /** Each stored row decoded to the values its codes stand for, by id, with the file's ranges. */
  async function decoded(path: string): Promise<{ rows: Map<string, Float64Array>; codes: Set<string>; ranges: QuantRanges; precision: Precision }> {
    const rows = new Map<string, Float64Array>();
    const codes = new Set<string>();
    let ranges: QuantRanges | undefined;
    let precision: Precision = 'int8';
    for await (const batch of readEmbeddings(path)) {
      const description = describeSchema(batch.schema)!;
      precision = description.precision!;
      ranges = description.ranges!;
      const { start, step, offset } = dequantizer(precision, ranges);
      const ids = batch.getChild('id')!.toArray() as string[];
      ids.forEach((id, r) => {
        const stored = batch.getChild('embedding')!.get(r)!.toArray() as Int8Array | Uint8Array;
        codes.add(stored.join(','));
        rows.set(id, Float64Array.from(stored, (code, j) => start[j]! + (code + offset) * step[j]!));
      });
    }
    return { rows, codes, ranges: ranges!, precision };
  }
  /** Checks every stored row against the float vector of its text, and the reported clamp count against an independent count. */
  async function expectFaithful(path: string, texts: Map<string, string>, clamped: { values: number } | undefined) {
    const file = await decoded(path);
    expect(file.rows.size).toBe(texts.size);
    const ids = [...texts.keys()];
    const { data, dim } = await embedder.embed(ids.map((id) => texts.get(id)!));
    const worst = Math.min(...ids.map((id, i) => cosine(file.rows.get(id)!, data.subarray(i * dim, (i + 1) * dim))));
    expect(worst).toBeGreaterThan(0.99);
    const independent = countClamped(data, dim, file.ranges).values;
    expect(clamped).toBeDefined();
    expect(Math.abs(clamped!.values - independent)).toBeLessThanOrEqual(Math.max(2, independent * 0.01));
    return file;
  }

  it('one record, then --resume with 400 (int8): 400 distinct code vectors, each decoding to its own vector, not one code vector for all', async () => {
    const input = records(400, 'one');
    const path = join(dir, 'one-then-400.arrow');
    await embedder.embedTo(input.slice(0, 1), path, { precision: 'int8' });
    const result = await embedder.embedTo(input, path, { precision: 'int8', resume: true });
    const file = await expectFaithful(path, new Map(input.map((r) => [r.id, r.text])), result.clamped);
    expect(file.codes.size).toBe(400);
  });

  it('50 rows of "N/A" first (uint8): every other row keeps its own codes', async () => {
    const input = records(400, 'na').map((r, i) => (i < 50 ? { ...r, text: 'N/A' } : r));
    const path = join(dir, 'na-first.arrow');
    const result = await embedder.embedTo(input, path, { precision: 'uint8', windowSize: 50 });
    const file = await expectFaithful(path, new Map(input.map((r) => [r.id, r.text])), result.clamped);
    expect(file.codes.size).toBe(351);
  });

  it('a first window of 1,024 near-identical texts: later rows are not clamped in silence, and search finds what float32 search finds', async () => {
    const input = [
      ...Array.from({ length: 1024 }, (_, i) => ({ id: `same${i}`, text: `the same note about rivers ${i % 2 ? 'and' : 'or'} gardens`, topic: 't0' })),
      ...records(300, 'later'),
    ];
    const path = join(dir, 'near-identical.arrow');
    const result = await embedder.embedTo(input, path, { precision: 'int8' });
    expect(result.calibration).toMatchObject({ rows: 1024 });
    await expectFaithful(path, new Map(input.map((r) => [r.id, r.text])), result.clamped);
    const exact = join(dir, 'near-identical-float32.arrow');
    await embedder.embedTo(input, exact);
    let found = 0;
    for (const probe of ['later7', 'later77', 'later150', 'later299']) {
      const { data } = await embedder.embed([input.find((r) => r.id === probe)!.text]);
      const want = new Set((await searchEmbeddings(exact, data, 10)).map((h) => h.id));
      found += (await searchEmbeddings(path, data, 10)).filter((h) => want.has(h.id)).length;
    }
    expect(found / 40).toBeGreaterThanOrEqual(0.9);
  });

  it('an id repeated across windows held for calibration is still refused as a duplicate', async () => {
    const input = records(60, 'dup');
    input[45] = { ...input[45]!, id: 'dup3' };
    const path = join(dir, 'dup-held.arrow');
    await expect(embedder.embedTo(input, path, { precision: 'int8', windowSize: 10 })).rejects.toThrow(/id "dup3" appears more than once/);
  });

  it('values clamped outside the ranges are counted: in the CLI JSON line and in embedTo results', async () => {
    const input = join(dir, 'clamp.jsonl');
    writeFileSync(input, jsonl(records(40, 'c')));
    const out = join(dir, 'clamp.arrow');
    // Ranges pinned to a band around zero: most values lie outside and are clamped.
    const first = await runCli([input, '--out', out, '--model', TINY, '--precision', 'int8']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toHaveProperty('clamped');
    const { ranges } = await decoded(out);
    const { data, dim } = await embedder.embed(records(40, 'c').map((r) => r.text));
    expect(JSON.parse(first.stdout).clamped).toBe(countClamped(data, dim, ranges).values);
    const narrow = { min: ranges.min.map(() => -0.01), max: ranges.max.map(() => 0.01) };
    const pinned = await embedder.embedTo(records(40, 'c'), join(dir, 'pinned.arrow'), { precision: 'int8', ranges: narrow });
    expect(pinned.clamped!.values).toBe(countClamped(data, dim, narrow).values);
    expect(pinned.clamped!.values).toBeGreaterThan(0);
    // info counts the values at the end codes: every clamped value, plus the few in-range values
    // that share an end code; the calibrated file keeps that share small, the pinned one does not.
    const calibratedInfo = await runCli(['info', out]);
    const pinnedInfo = await runCli(['info', join(dir, 'pinned.arrow')]);
    expect(pinnedInfo.code, pinnedInfo.stderr).toBe(0);
    const ends = JSON.parse(pinnedInfo.stdout).endCodes as { values: number; rows: number; share: number };
    expect(ends.values).toBeGreaterThanOrEqual(pinned.clamped!.values);
    expect(ends.values).toBeLessThanOrEqual(pinned.clamped!.values + data.length * 0.02);
    expect(ends.rows).toBe(pinned.clamped!.rows);
    const calibrated = JSON.parse(calibratedInfo.stdout).endCodes as { values: number; share: number };
    expect(calibrated.values).toBeGreaterThanOrEqual(JSON.parse(first.stdout).clamped);
    expect(calibrated.share).toBeLessThan(0.05);
    expect(ends.share).toBeGreaterThan(0.5);
  });
});

describe('numeric ids', () => {
  it('JSONL ids given as numbers keep their exact source text (Snowflake-sized, 2^53 and 2^53+1, 1.50)', async () => {
    const ids = ['1234567890123456789', '9007199254740992', '9007199254740993', '1.50', '1.5', '-7', '3e2'];
    const input = join(dir, 'numeric-ids.jsonl');
    writeFileSync(input, ids.map((id, i) => `{"id": ${id}, "text": "text ${i}"}`).join('\n') + '\n');
    const out = join(dir, 'numeric-ids.arrow');
    const run = await runCli([input, '--out', out, '--model', TINY]);
    expect(run.code, run.stderr).toBe(0);
    expect(await readIdList(out)).toEqual(ids);
  });

  it('a number id beyond 2^53 from a JavaScript source (its digits already lost) is refused, saying to quote it', async () => {
    const error = await embedder.embedTo([{ id: 2 ** 53 + 2, text: 'x' }], join(dir, 'js-big-id.arrow')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFormatError);
    expect(String(error)).toMatch(/source record 1: field "id" is the number 9007199254740994, beyond 2\^53.*quote them/);
  });
});

describe('streams end honestly, empty parts are valid, usage errors create nothing', () => {
  it('embedStream with a signal aborted during window 2 throws AbortError with the count yielded, never ends as if the source had ended', async () => {
    const controller = new AbortController();
    let yielded = 0;
    const run = async () => {
      for await (const batch of embedder.embedStream(records(5000, 'ab'), { windowSize: 256, signal: controller.signal })) {
        yielded += batch.ids.length;
        controller.abort(); // during window 2: it is being embedded while this one is handled
      }
    };
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).yielded).toBe(yielded);
    expect(yielded).toBeLessThan(5000);
  });

  it('a shard that gets no records writes a valid file with a schema and no rows; info, search and export of the folder work', async () => {
    const input = join(dir, 'lonely.jsonl');
    const only = records(1, 'lonely')[0]!;
    writeFileSync(input, jsonl([only]));
    const out = join(dir, 'lonely-parts');
    const empty = shardOf(only.id, 2) === 0 ? 1 : 0;
    for (const index of [0, 1]) {
      const run = await runCli([input, '--out', out, '--model', TINY, '--shard', `${index}/2`]);
      expect(run.code, run.stderr).toBe(0);
    }
    const emptyPart = join(out, `part-0000${empty}-of-00002.arrow`);
    expect(await readIdList(emptyPart)).toEqual([]);
    const info = await runCli(['info', out]);
    expect(info.code, info.stderr).toBe(0);
    const described = JSON.parse(info.stdout) as { rows: number; files: { rows: number; columns: string[] }[] };
    expect(described.rows).toBe(1);
    expect(described.files.find((f) => f.rows === 0)!.columns).toContain('embedding: FixedSizeList[64]<Float32>');
    const search = await runCli(['search', out, only.text, '--model', TINY, '-k', '3']);
    expect(search.code, search.stderr).toBe(0);
    expect(JSON.parse(search.stdout.trim()).id).toBe(only.id);
    const exported = join(dir, 'lonely.parquet');
    const exportRun = await runCli(['export', out, '--format', 'parquet', '--out', exported]);
    expect(exportRun.code, exportRun.stderr).toBe(0);
    expect([...(await exportedRows(exported, 'parquet')).keys()]).toEqual([only.id]);
  });

  it('an int8 file an empty run left is resumed with ranges calibrated from the rows, not from none', async () => {
    const path = join(dir, 'empty-int8.arrow');
    await embedder.embedTo([], path, { precision: 'int8' });
    const result = await embedder.embedTo(records(200, 'e8'), path, { precision: 'int8', resume: true });
    expect(result.calibration).toMatchObject({ rows: 200 });
    expect(result.clamped!.values).toBe(0);
  });

  for (const [label, args, env] of [
    ['--shard 4/4', ['--shard', '4/4'], {}],
    ['--shard 0/0', ['--shard', '0/0'], {}],
    ['--shards 4 without JOB_COMPLETION_INDEX', ['--shards', '4'], { JOB_COMPLETION_INDEX: '' }],
    ['--precision int4', ['--precision', 'int4'], {}],
    ['--pooling foo', ['--pooling', 'foo'], {}],
  ] as [string, string[], Record<string, string>][]) {
    it(`${label} is a usage error (exit 2) found before any file or folder is created`, async () => {
      const input = join(dir, 'usage.jsonl');
      writeFileSync(input, jsonl(records(3, 'u')));
      const out = join(dir, `usage-${label.replace(/\W+/g, '-')}`);
      const run = await runCli([input, '--out', out, '--model', TINY, ...args], { env });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('export into a missing folder (exit 3) or onto a folder (exit 2) says so, without a stack', async () => {
    const missing = await runCli(['export', source, '--format', 'parquet', '--out', join(dir, 'no-such-folder', 'x.parquet')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no-such-folder');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const onto = await runCli(['export', source, '--format', 'arrow-file', '--out', dir]);
    expect(onto.code).toBe(2);
    expect(onto.stderr).toContain('is a folder');
  });
});

describe('input text formats', () => {
  it('line splitting is linear: an 8 MB line arriving in 1 KB chunks is one line, at once', async () => {
    const { lines } = await import('../../src/source/text-formats.js');
    const big = 'x'.repeat(8 << 20);
    async function* chunks() {
      const text = `short\n${big}\r\nlast`;
      for (let i = 0; i < text.length; i += 1024) yield text.slice(i, i + 1024);
    }
    const started = performance.now();
    const got = [];
    for await (const { line, number } of lines(chunks())) got.push({ length: line.length, number });
    expect(got).toEqual([{ length: 5, number: 1 }, { length: big.length, number: 2 }, { length: 4, number: 3 }]);
    expect(performance.now() - started).toBeLessThan(5000); // quadratic splitting took minutes here
  }, 20_000);

  for (const [encoding, bom, encode] of [
    ['UTF-16LE', [0xff, 0xfe], (t: string) => Buffer.from(t, 'utf16le')],
    ['UTF-16BE', [0xfe, 0xff], (t: string) => Buffer.from(t, 'utf16le').swap16()],
  ] as const) {
    it(`a ${encoding} .txt with a byte-order mark is refused naming the encoding (exit 4), not embedded as records full of NULs`, async () => {
      const input = join(dir, `${encoding}.txt`);
      writeFileSync(input, Buffer.concat([Buffer.from(bom), encode('first line\nsecond line\n')]));
      const out = join(dir, `${encoding}.arrow`);
      const run = await runCli([input, '--out', out, '--model', TINY]);
      expect(run.code).toBe(4);
      expect(run.stderr).toContain(`${input} line 1: the file is ${encoding}`);
      expect(run.stderr).not.toContain('\0');
    });
  }

  it('an input error quoting an id with a NUL prints it escaped', async () => {
    const input = join(dir, 'nul.jsonl');
    writeFileSync(input, '{"id": "a\\u0000", "text": "ok"}\n{"id": "a\\u0000", "text": "again"}\n');
    const run = await runCli([input, '--out', join(dir, 'nul.arrow'), '--model', TINY]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('id "a\\u0000" appears more than once');
    expect(run.stderr).not.toContain('\0');
  });
});

describe('records and messages name where they come from', () => {
  it("records from the library's own readers are recognised without a flag: their metadata fields are columns, not one JSON string", async () => {
    const input = join(dir, 'readers.jsonl');
    writeFileSync(input, jsonl(records(40, 'rd')));
    const { readRecordFile, shardRecords } = await import('../../src/node.js');
    const direct = join(dir, 'readers-direct.arrow');
    const sharded = join(dir, 'readers-sharded.arrow');
    const wrapped = join(dir, 'readers-wrapped.arrow');
    await embedder.embedTo(readRecordFile(input), direct);
    await embedder.embedTo(shardRecords(readRecordFile(input), { index: 0, count: 2 }), sharded);
    // The caller's own generator around a reader: the records still arrive as { id, text, metadata }.
    async function* mine() {
      for await (const record of readRecordFile(input)) yield record;
    }
    await embedder.embedTo(mine(), wrapped);
    for (const path of [direct, sharded, wrapped]) {
      for await (const batch of readEmbeddings(path)) {
        expect(batch.schema.fields.map((f) => f.name)).toContain('topic');
        expect(batch.schema.fields.map((f) => f.name)).not.toContain('metadata');
        const ids = batch.getChild('id')!.toArray() as string[];
        ids.forEach((id, r) => expect(batch.getChild('topic')!.get(r)).toBe(records(40, 'rd').find((x) => x.id === id)!.topic));
      }
    }
  });

  it('a repeated id in a file names the file and its 1-based line; a resume refusal names the file, not "sink"', async () => {
    const input = join(dir, 'repeat.jsonl');
    writeFileSync(input, jsonl([...records(3, 'rp'), records(3, 'rp')[1]!]));
    const error = await embedder.embedTo(input, join(dir, 'repeat.arrow')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFormatError);
    expect(String(error)).toContain('repeat.jsonl line 4: id "rp1" appears more than once');
    const path = join(dir, 'named.arrow');
    await embedder.embedTo(records(3, 'nm'), path);
    const again = await embedder.embedTo(records(3, 'nm'), path).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(EmbeddingsFileError);
    expect(String(again)).toContain(`${path}: `);
    const other = await embedder.embedTo(records(3, 'nm'), path, { resume: true, precision: 'int8' }).catch((e: unknown) => e);
    expect(String(other)).toContain(`${path}: was written with another precision`);
  });
});

describe('Ctrl-C while waiting for input', () => {
  it('embed - with a stalled stdin stops on SIGINT at once (exit 130), not when input next arrives', async () => {
    const out = join(dir, 'stalled.arrow');
    const child = spawn(process.execPath, [...CLI_ARGS, '-', '--out', out, '--model', TINY], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdin.write(`${JSON.stringify({ id: 'first', text: 'one record, then nothing' })}\n`); // stdin stays open and silent
    const exited = new Promise<{ code: number | null; at: number }>((done) => child.on('exit', (code) => done({ code, at: performance.now() })));
    await new Promise((r) => setTimeout(r, 5000)); // the model is loaded and the read is waiting
    const sent = performance.now();
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const { code, at } = await exited;
    clearTimeout(timer);
    expect(code, stderr).toBe(130);
    expect(at - sent).toBeLessThan(10_000);
    expect(stderr).toContain('stopped by SIGINT');
  }, 40_000);
});

describe('how texts were cut is recorded', () => {
  it('maxTokens and truncation are in the file; a resume with another maxTokens is refused naming it, never mixing vectors made two ways', async () => {
    const path = join(dir, 'cut-64.arrow');
    const long = records(30, 'mt').map((r) => ({ ...r, text: `${r.text} ${'and a long tail of words '.repeat(20)}` }));
    const cut64 = await createEmbedder({ model: TINY, maxTokens: 64 });
    const cut32 = await createEmbedder({ model: TINY, maxTokens: 32 });
    try {
      const first = await cut64.embedTo(long.slice(0, 10), path);
      expect(first.file).toMatchObject({ maxTokens: 64, truncation: cut64.info.truncation });
      const error = await cut32.embedTo(long, path, { resume: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmbeddingsFileError);
      expect(String(error)).toMatch(/was written with another maxTokens \(maxTokens: 64 now 32\)/);
      expect(await readIdList(path)).toEqual(long.slice(0, 10).map((r) => r.id));
      const resumed = await cut64.embedTo(long, path, { resume: true });
      expect(resumed.written).toBe(20);
    } finally {
      await cut64.dispose();
      await cut32.dispose();
    }
  });
});

describe('Parquet compression', () => {
  for (const [option, codec] of [[null, 'SNAPPY'], ['zstd', 'ZSTD'], ['none', 'UNCOMPRESSED']] as const) {
    it(`export --format parquet${option ? ` --compression ${option}` : ''} writes ${codec} pages${option === 'zstd' ? '' : ', every row read back'}`, async () => {
      const out = join(dir, `compressed-${option ?? 'default'}.parquet`);
      const run = await runCli(['export', source, '--format', 'parquet', '--out', out, ...(option ? ['--compression', option] : [])]);
      expect(run.code, run.stderr).toBe(0);
      const bytes = readFileSync(out);
      const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const metadata = await parquetMetadataAsync(file);
      const codecs = new Set(metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)));
      expect([...codecs]).toEqual([codec]);
      // hyparquet reads snappy and uncompressed pages itself (zstd needs its optional decompressors).
      if (option !== 'zstd') expect(await exportedRows(out, 'parquet')).toEqual(sourceRows);
    });
  }
});

describe('a lease lost is not taken back', () => {
  it('a writer whose lock was taken over (it stalled past its lease) neither renews nor removes the new holder\'s lock', async () => {
    const { lockFile } = await import('../../src/node/node-file.js');
    const path = join(dir, 'taken-over.arrow');
    const previous = process.env.BULK_EMBED_LOCK_LEASE_MS;
    process.env.BULK_EMBED_LOCK_LEASE_MS = '300';
    try {
      const release = await lockFile(path);
      // Another host's run took the file over and now holds the lock.
      const theirs = JSON.stringify({ pid: 4242, host: 'other-host', since: new Date().toISOString(), leaseMs: 300 });
      writeFileSync(`${path}.lock`, theirs);
      const old = new Date(Date.now() - 60_000);
      utimesSync(`${path}.lock`, old, old);
      await new Promise((r) => setTimeout(r, 400)); // heartbeats of the first writer come and go
      expect(statSync(`${path}.lock`).mtimeMs).toBeLessThan(Date.now() - 30_000); // not renewed on their behalf
      await release();
      expect(readFileSync(`${path}.lock`, 'utf8')).toBe(theirs); // not removed
    } finally {
      if (previous === undefined) delete process.env.BULK_EMBED_LOCK_LEASE_MS;
      else process.env.BULK_EMBED_LOCK_LEASE_MS = previous;
    }
  });
});
