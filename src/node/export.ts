// Exports embeddings files into the formats the data stack reads: the Arrow IPC *file* format
// (with its footer: DuckDB, Polars, pyarrow) and Parquet (through parquet-wasm, an optional peer
// dependency: Arrow's Rust writer compiled to WebAssembly). Both stream batch by batch, so memory
// stays one batch deep; the integrity column (checksum) stays behind, ids, vectors, text hashes
// and metadata columns go, and the schema metadata (model, pooling...) travels with them.
import { createWriteStream, statSync, type WriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { makeData, RecordBatch, RecordBatchFileWriter, Schema, Struct, Table, tableToIPC } from 'apache-arrow';
import { EmbeddingsFileError, MissingDependencyError } from '../base/errors.js';
import { fileError } from './node-file.js';

export type ExportFormat = 'parquet' | 'arrow-file';

/** Columns written by the library for its own checks, left out of an export. */
const INTERNAL_COLUMNS = new Set(['checksum']);

/** What an export wrote. */
export interface ExportResult {
  rows: number;
  batches: number;
  bytes: number;
}

/** The temporary file an export writes before renaming it to `out` (removed on failure, and by the CLI on Ctrl-C). */
export const partialPath = (out: string): string => `${out}.partial-${process.pid}`;

/** Parquet page compression: snappy (the default: every Parquet reader has it), zstd (smaller), or none. */
export type ParquetCompression = 'snappy' | 'zstd' | 'none';

/** Export options. */
export interface ExportOptions {
  /** Parquet only: how pages are compressed (default snappy). */
  compression?: ParquetCompression;
}

/** Writes `batches` to `out` in `format`, through a temporary file renamed at the end (never a half file at `out`). */
export async function exportBatches(
  batches: AsyncIterable<RecordBatch>, format: ExportFormat, out: string, options: ExportOptions = {},
): Promise<ExportResult> {
  const tmp = partialPath(out);
  let rows = 0;
  let count = 0;
  // The writers may swallow an error thrown by their source (parquet-wasm ends its stream as if
  // the input had ended): the source's own error and whether it was read to its end are kept
  // here, and checked after writing, so a batch that fails verification never leaves a short file.
  let sourceError: { error: unknown } | null = null;
  let exhausted = false;
  const counted = async function* () {
    try {
      let target: Schema | null = null;
      for await (const batch of batches) {
        target ??= new Schema(batch.schema.fields.filter((f) => !INTERNAL_COLUMNS.has(f.name)), batch.schema.metadata);
        const slim = conform(batch, target, out);
        rows += slim.numRows;
        count++;
        yield slim;
      }
      exhausted = true;
    } catch (error) {
      sourceError = { error };
      throw error;
    }
  };
  try {
    if (format === 'arrow-file') await writeArrowFile(counted(), tmp);
    else await writeParquet(counted(), tmp, options.compression ?? 'snappy');
    if (sourceError) throw (sourceError as { error: unknown }).error;
    if (!exhausted) throw new EmbeddingsFileError(out, `the ${format} writer stopped after ${rows} rows before its input ended: nothing was written`);
    await rename(tmp, out);
  } catch (error) {
    await rm(tmp, { force: true });
    // OS errors (no such folder, a folder in the way, a full disk) name the output, not a stack.
    throw sourceError ? (sourceError as { error: unknown }).error : fileError(out, error, true);
  }
  return { rows, batches: count, bytes: statSync(out).size };
}

/**
 * A batch with the export's columns in the export's order, matched by name: parts of one
 * collection may list their metadata columns in another order, and the writers silently drop or
 * garble a batch whose schema is not the first's. Columns that differ in name or type are an
 * EmbeddingsFileError (the collection check names the file before it gets here).
 */
function conform(batch: RecordBatch, target: Schema, out: string): RecordBatch {
  const fields = batch.schema.fields;
  const index = new Map(fields.map((f, i) => [f.name, i]));
  const kept = fields.filter((f) => !INTERNAL_COLUMNS.has(f.name));
  const shape = (f: { name: string; type: unknown; nullable: boolean }) => `${f.name}: ${String(f.type)}${f.nullable ? '' : ' not null'}`;
  const same = kept.length === target.fields.length && target.fields.every((f) => index.has(f.name) && shape(fields[index.get(f.name)!]!) === shape(f));
  if (!same) throw new EmbeddingsFileError(out, `a batch's columns (${kept.map(shape).join(', ')}) differ from the first batch's (${target.fields.map(shape).join(', ')}): not one collection`);
  // By position: apache-arrow's RecordBatch.select(names) pairs the kept fields with the wrong children.
  const children = target.fields.map((f) => batch.data.children[index.get(f.name)!]!);
  return new RecordBatch(target, makeData({ type: new Struct(target.fields), length: batch.numRows, nullCount: 0, children }));
}

/**
 * Runs `write` on a new file stream at `path` and settles only once that stream is closed, done
 * or failed. The stream opens its file on libuv's thread pool: a caller that removed the file as
 * soon as `write` failed could run its unlink before that open, and the open would then create
 * the file after the cleanup (an export fuzz run on two busy cores left a `.partial` file so).
 */
async function intoFile(path: string, write: (file: WriteStream) => Promise<void>): Promise<void> {
  const file = createWriteStream(path);
  const closed = new Promise<void>((done) => file.once('close', done));
  try {
    await write(file);
  } catch (error) {
    file.destroy();
    await closed;
    throw error;
  }
  await closed;
}

/**
 * Writes the Arrow file through a file handle opened (and awaited) first, so the file exists
 * before any cleanup can remove it. A pump writes the writer's bytes in order; the batches stop at
 * the first failed write (a full disk), whose error is thrown. No Node stream is involved:
 * apache-arrow's node stream, destroyed midway, leaves rejected promises of its own unhandled.
 */
async function writeArrowFile(batches: AsyncIterable<RecordBatch>, path: string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const writer = new RecordBatchFileWriter();
    let writeFailed: { error: unknown } | null = null;
    let sourceFailed: { error: unknown } | null = null;
    const pump = (async () => {
      for await (const chunk of writer) await handle.write(chunk);
    })().catch((error: unknown) => void (writeFailed = { error }));
    try {
      for await (const batch of batches) {
        if (writeFailed) break;
        writer.write(batch);
      }
    } catch (error) {
      // The source's error, or the writer's once a failed write closed its queue (the write's own error wins below).
      sourceFailed = { error };
    }
    // Ending the writer ends the pump. A failed write has closed the writer's queue already, and
    // ending it then throws: that write's own error is the one thrown below.
    try {
      if (writeFailed || sourceFailed) writer.close();
      else writer.finish();
    } catch (error) {
      sourceFailed ??= { error };
    }
    await pump;
    const failure = (writeFailed ?? sourceFailed) as { error: unknown } | null;
    if (failure) throw failure.error;
  } finally {
    await handle.close();
  }
}

interface ParquetWasm {
  Table: { fromIPCStream(bytes: Uint8Array): { recordBatches(): unknown[] } };
  transformParquetStream(stream: ReadableStream, properties?: unknown): Promise<ReadableStream<Uint8Array>>;
  WriterPropertiesBuilder: new () => { setCompression(value: number): { build(): unknown } };
  Compression: Record<'UNCOMPRESSED' | 'SNAPPY' | 'ZSTD', number>;
}

async function loadParquetWasm(): Promise<ParquetWasm> {
  try {
    const m = (await import('parquet-wasm')) as unknown as ParquetWasm & { default?: ParquetWasm };
    return m.Table ? m : m.default!;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') throw new MissingDependencyError('parquet-wasm', 'export to Parquet', { cause });
    throw cause;
  }
}

async function writeParquet(batches: AsyncIterable<RecordBatch>, path: string, compression: ParquetCompression): Promise<void> {
  const parquet = await loadParquetWasm();
  const codec = { snappy: parquet.Compression.SNAPPY, zstd: parquet.Compression.ZSTD, none: parquet.Compression.UNCOMPRESSED }[compression];
  const properties = new parquet.WriterPropertiesBuilder().setCompression(codec).build();
  const iterator = batches[Symbol.asyncIterator]();
  // Each batch crosses into WebAssembly as a one-batch IPC stream; the writer emits row groups as it goes.
  const source = new ReadableStream({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done) controller.close();
      else for (const wasmBatch of parquet.Table.fromIPCStream(tableToIPC(new Table([value]), 'stream')).recordBatches()) controller.enqueue(wasmBatch);
    },
  });
  const bytes = await parquet.transformParquetStream(source, properties);
  await intoFile(path, (file) => bytes.pipeTo(Writable.toWeb(file) as WritableStream<Uint8Array>));
}
