#!/usr/bin/env node
// The `embed` command: embed a JSONL/CSV/text file (or stdin) into an Arrow file, resumably;
// search an Arrow file; describe one. Exit codes: 0 done, 1 unexpected failure, 2 usage,
// 3 file not found, 4 bad input, 5 model problem, 6 embeddings file problem, 130 interrupted.
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { parseArgs } from 'node:util';
import { formatOf, parseTextRecords, type TextFormat } from './source/text-formats.js';
import { checkCollection, requantizeBatch, unionRanges, type CollectionFile } from './node/collection.js';
import { exportBatches, partialPath, type ParquetCompression } from './node/export.js';
import { parseShard, shardFileName, shardRecords, type Shard } from './source/shard.js';
import type { EmbedRecord } from './source/records.js';
import { shardFromScheduler, type SchedulerShard } from './source/scheduler.js';
import {
  AbortError, createEmbedder, DEFAULT_MODEL, EmbeddingsFileError, InputFormatError, InvalidOptionError, MissingDependencyError, ModelFileError,
  ModelFormatError, readEmbeddings, searchEmbeddings, type EmbedProgress, type Precision, type Truncation,
} from './node.js';
import { checkPrecision, countEndCodes, needsRanges } from './format/precision.js';
import { precisionOf } from './format/schema.js';
import { FingerprintSet, idFingerprint } from './util/fingerprint-set.js';

const USAGE = `usage:
  embed <input.jsonl|.csv|.txt|-> --out <file.arrow> [--model M] [--device cpu|webgpu|auto] [--dtype fp32|fp16|q8|auto]
        [--max-batch-tokens N] [--resume] [--overwrite] [--text-field text] [--id-field id] [--format jsonl|csv|txt]
        [--keep-text N] (store each text's first N characters in a column "text", which search prints)
        [--precision float32|float16|int8|uint8|binary|ubinary] [--keep-float16] (float16 copy to rescore binary search)
        [--pooling mean|cls|max|lasttoken|model] [--prompt-name NAME | --prompt TEXT] [--dimensions N]
        [--max-tokens N] [--truncation cut|keep-special-tokens] [--normalize | --no-normalize] [--include-prompt | --no-include-prompt]
        [--shard I/N | --shards N|auto (index, and with auto the count, from the scheduler: JOB_COMPLETION_INDEX,
        SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX or CLOUD_RUN_TASK_INDEX)]: --out is then a folder, this shard writes part-I-of-N.arrow there
  embed search <file.arrow|folder>... "<query>" [-k 10] [--model M] [--prompt-name NAME | --prompt TEXT] [--rescore-multiplier 4]
  embed info <file.arrow|folder>...
  embed export <file.arrow|folder>... --format parquet|arrow-file --out <file> [--compression snappy|zstd|none] [--overwrite]`;

class UsageError extends Error {}

/** --NAME / --no-NAME: true, false, or undefined when neither is given (both is a usage error). */
function flagPair(name: string, yes: boolean | undefined, no: boolean | undefined): boolean | undefined {
  if (yes && no) throw new UsageError(`--${name} and --no-${name} exclude each other`);
  return yes ? true : no ? false : undefined;
}

/** A count option (--window, --max-batch-tokens, -k): a positive integer, or a usage error. */
function count(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${option} must be a positive whole number, not "${value}"`);
  return n;
}

/** True when both paths name one existing file (also through links or different spellings). */
function sameFile(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

const EXIT = { usage: 2, notFound: 3, input: 4, model: 5, file: 6, missingPackage: 7 } as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command ? 0 : EXIT.usage;
  }
  if (command === 'search') return search(rest);
  if (command === 'info') return info(rest);
  if (command === 'export') return exportFiles(rest);
  return embedFile(argv);
}

async function embedFile(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      out: { type: 'string', short: 'o' }, model: { type: 'string' }, device: { type: 'string' }, dtype: { type: 'string' },
      'max-batch-tokens': { type: 'string' }, resume: { type: 'boolean' }, overwrite: { type: 'boolean' },
      'text-field': { type: 'string' }, 'id-field': { type: 'string' }, format: { type: 'string' },
      window: { type: 'string' }, pooling: { type: 'string' }, prompt: { type: 'string' }, 'prompt-name': { type: 'string' },
      dimensions: { type: 'string' }, shard: { type: 'string' }, shards: { type: 'string' },
      precision: { type: 'string' }, 'keep-float16': { type: 'boolean' },
      'max-tokens': { type: 'string' }, truncation: { type: 'string' }, normalize: { type: 'boolean' }, 'no-normalize': { type: 'boolean' },
      'include-prompt': { type: 'boolean' }, 'no-include-prompt': { type: 'boolean' }, 'keep-text': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one input expected, got ${positionals.length}` : 'no input file given');
  if (!values.out) throw new UsageError('--out <file.arrow> is required');
  if (values.shard !== undefined && values.shards !== undefined) throw new UsageError('--shard I/N and --shards N exclude each other');
  // --shards takes this task's index (and with `auto` the count) from its scheduler's array variables.
  const scheduled: SchedulerShard | null = values.shards === undefined ? null
    : shardFromScheduler(process.env, values.shards.trim() === 'auto' ? undefined : count('--shards', values.shards));
  const shard: Shard | null = values.shard !== undefined ? parseShard(values.shard) : scheduled;
  if (scheduled) console.error(`embed: shard ${scheduled.index}/${scheduled.count} from ${scheduled.variables.join(' ')} (${scheduled.schedulers.join(', ')})`);
  // Option values are checked before anything is created: a bad one is a usage error (exit 2), never a 0-byte output.
  if (values.precision !== undefined) checkPrecision(values.precision);
  const outFolder = shard ? values.out : null;
  if (shard) {
    // A shard writes its own file in the output folder; resume then works per shard.
    if (existsSync(values.out) && !statSync(values.out).isDirectory()) throw new UsageError(`--out ${values.out} must be a folder when sharding (each shard writes part-I-of-N.arrow in it)`);
    values.out = join(values.out, shardFileName(shard));
  }
  const input = positionals[0]!;
  if (input !== '-' && !existsSync(input)) return fail(EXIT.notFound, `input file not found: ${input}`);
  if (input !== '-' && statSync(input).isDirectory()) return fail(EXIT.notFound, `input ${input} is a directory, not a file`);
  if (input !== '-' && sameFile(input, values.out)) throw new UsageError(`--out ${values.out} is the input file: refusing to write onto it`);
  const format = (values.format ?? (input === '-' ? 'jsonl' : formatOf(input))) as TextFormat;
  if (!['jsonl', 'csv', 'txt'].includes(format)) throw new UsageError(`--format must be jsonl, csv or txt, not ${format}`);
  const maxBatchTokens = count('--max-batch-tokens', values['max-batch-tokens']);
  const maxTokens = count('--max-tokens', values['max-tokens']);
  if (values.truncation !== undefined && !['cut', 'keep-special-tokens'].includes(values.truncation)) throw new UsageError(`--truncation must be cut or keep-special-tokens, not ${values.truncation}`);
  const normalize = flagPair('normalize', values.normalize, values['no-normalize']);
  const includePrompt = flagPair('include-prompt', values['include-prompt'], values['no-include-prompt']);
  const windowSize = count('--window', values.window);
  const keepText = count('--keep-text', values['keep-text']);
  // A shard's share of the records is known only after reading them: no total, so no ETA.
  const total = input === '-' || shard ? undefined : await countRecords(input, format);

  const embedder = await createEmbedder({
    model: values.model ?? DEFAULT_MODEL,
    device: values.device as 'cpu' | undefined, dtype: values.dtype as 'fp32' | undefined, maxBatchTokens,
    pooling: values.pooling as 'mean' | undefined, dimensions: count('--dimensions', values.dimensions),
    ...(maxTokens ? { maxTokens } : {}), ...(values.truncation ? { truncation: values.truncation as Truncation } : {}),
    ...(normalize !== undefined ? { normalize } : {}), ...(includePrompt !== undefined ? { includePrompt } : {}),
  });
  const prompt = { prompt: values.prompt, promptName: values['prompt-name'] };
  if (outFolder) mkdirSync(outFolder, { recursive: true });
  const controller = new AbortController();
  const chunks = input === '-' ? stdinText(controller.signal) : createReadStream(input, { encoding: 'utf8', highWaterMark: 1 << 16 });
  const sourceName = input === '-' ? 'stdin' : input;
  const parsed = parseTextRecords(chunks, format, { textField: values['text-field'], idField: values['id-field'], sourceName });
  const sharded = shard ? shardRecords(parsed, shard) : parsed;
  const records = keepText ? withTextColumn(sharded, keepText) : sharded;
  const progress = progressPrinter();
  const started = performance.now();
  // Ctrl-C or a stop request: finish cleanly at a window boundary; committed rows stay.
  let stoppedBy: keyof typeof SIGNAL_EXIT | null = null;
  for (const signal of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
    process.once(signal, () => {
      stoppedBy = signal;
      controller.abort(new Error(`stopped by ${signal}`));
    });
  }
  let result;
  try {
    result = await embedder.embedTo(records, resolve(values.out), {
      parsed: true, resume: values.resume, overwrite: values.overwrite, total, signal: controller.signal,
      ...(values.precision ? { precision: values.precision as Precision } : {}), ...(values['keep-float16'] ? { keepFloat16: true } : {}),
      windowSize, onProgress: progress.update, ...prompt,
    });
  } catch (error) {
    if (!(error instanceof AbortError) || !stoppedBy) throw error;
    await embedder.dispose();
    console.error(`embed: stopped by ${stoppedBy}; ${error.committed ?? 0} rows of this run committed to ${values.out}; run the same command with --resume to continue`);
    return SIGNAL_EXIT[stoppedBy as keyof typeof SIGNAL_EXIT];
  } finally {
    progress.end();
  }
  await embedder.dispose();
  const seconds = (performance.now() - started) / 1000;
  if (result.repaired) console.error(`embed: resume cut a damaged tail off ${values.out}: ${result.repaired}`);
  if (result.calibration?.widened) console.error(`embed: ${result.calibration.widened} of ${result.file!.dim} dimensions of the ${values.precision} calibration sample (${result.calibration.rows} rows) were too narrow to hold later vectors and were widened`);
  if (result.clamped?.values) console.error(`embed: ${result.clamped.values} values in ${result.clamped.rows} rows lay outside the file's ${values.precision ?? 'int8/uint8'} ranges and were stored as the end codes`);
  if (result.changed.count) console.error(`embed: ${result.changed.count} ids were committed from a different text than the input has now (e.g. ${result.changed.ids.slice(0, 5).join(', ')}); their stored vectors were kept`);
  console.log(JSON.stringify({
    out: values.out, ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}), ...(scheduled ? { shardFrom: scheduled.variables } : {}), written: result.written, skipped: result.skipped, changed: result.changed.count, ...(result.clamped ? { clamped: result.clamped.values } : {}), seconds: Number(seconds.toFixed(2)),
    textsPerSec: Number((result.written / seconds).toFixed(1)),
  }));
  return 0;
}

async function search(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      k: { type: 'string', short: 'k' }, model: { type: 'string' }, prompt: { type: 'string' }, 'prompt-name': { type: 'string' },
      'rescore-multiplier': { type: 'string' },
    },
  });
  const rescoreMultiplier = count('--rescore-multiplier', values['rescore-multiplier']);
  if (positionals.length < 2) throw new UsageError('search takes one or more files or folders, then a query');
  const query = positionals.at(-1)!;
  const k = count('-k', values.k) ?? 10;
  const files = embeddingFiles(positionals.slice(0, -1));
  if (typeof files === 'number') return files;
  const [{ description, liveWriter: writer }] = (await checkCollection(files, 'search', { folders: folderArgs(positionals.slice(0, -1)) })) as [CollectionFile];
  if (writer) console.error(`embed: ${files[0]} is still being written by ${writer}: searching the rows committed so far`);
  if (files.length > 1) await checkUniqueIds(files);
  // The query is embedded as the file was: same pooling, normalisation and Matryoshka truncation.
  const embedder = await createEmbedder({
    model: values.model ?? description.model, pooling: description.pooling as 'mean', normalize: description.normalize,
    ...(description.modelDim ? { dimensions: description.dim } : {}),
    ...(description.maxTokens ? { maxTokens: description.maxTokens } : {}),
    ...(description.truncation ? { truncation: description.truncation as Truncation } : {}),
  });
  const { data } = await embedder.embed([query], { prompt: values.prompt, promptName: values['prompt-name'] });
  await embedder.dispose();
  const perFile = await Promise.all(files.map((file) => searchEmbeddings(file, data, k, rescoreMultiplier ? { rescoreMultiplier } : {})));
  const hits = perFile.flat().sort((a, b) => b.score - a.score).slice(0, k);
  for (const hit of hits) console.log(JSON.stringify({ id: hit.id, score: Number(hit.score.toFixed(6)), ...hit.row }));
  return 0;
}

/** The paths named that are folders (a folder's part-I-of-N files are checked for missing parts). */
const folderArgs = (paths: string[]): string[] => paths.filter((p) => existsSync(p) && statSync(p).isDirectory());

/** The Arrow files named: files as given, folders as their *.arrow files in name order; or an exit code. */
function embeddingFiles(paths: string[]): string[] | number {
  const files: string[] = [];
  for (const path of paths) {
    if (!existsSync(path)) return fail(EXIT.notFound, `embeddings file or folder not found: ${path}`);
    if (!statSync(path).isDirectory()) {
      files.push(path);
      continue;
    }
    const inside = readdirSync(path).filter((f) => f.endsWith('.arrow')).sort().map((f) => join(path, f));
    if (!inside.length) return fail(EXIT.notFound, `no .arrow files in the folder ${path}`);
    files.push(...inside);
  }
  return files;
}

/** Refuses files that share an id (two shards' outputs of overlapping inputs, a copied part): names the id and both files. */
/**
 * Refuses files that share an id. Ids are kept as 64-bit fingerprints (8 bytes an id); a match is
 * confirmed by reading the files back for that id, so a fingerprint collision is never reported.
 */
async function checkUniqueIds(files: string[]): Promise<void> {
  const seen = new FingerprintSet();
  for (const [index, file] of files.entries()) {
    for await (const batch of readEmbeddings(file)) {
      const ids = batch.getChild('id')!.toArray() as string[];
      const keys = ids.map(idFingerprint);
      for (let r = 0; r < ids.length; r++) {
        if (!seen.has(keys[r]!)) continue;
        const holders = await filesHolding(files.slice(0, index + 1), ids[r]!);
        const first = holders.find((h) => h.file !== file || h.count > 1);
        if (first) throw new EmbeddingsFileError(file, `id "${ids[r]}" is also in ${first.file}: the files are not disjoint shards of one collection`);
      }
      seen.addAll(keys);
    }
  }
}

/** The files that hold a row with this id, and how many times each does. */
async function filesHolding(files: string[], id: string): Promise<{ file: string; count: number }[]> {
  const found = [];
  for (const file of files) {
    let count = 0;
    for await (const batch of readEmbeddings(file)) for (const other of batch.getChild('id')!.toArray() as string[]) if (other === id) count++;
    if (count) found.push({ file, count });
  }
  return found;
}

async function info(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length < 1) throw new UsageError('info takes one or more files or folders');
  const files = embeddingFiles(positionals);
  if (typeof files === 'number') return files;
  const checked = await checkCollection(files, 'info', { folders: folderArgs(positionals) });
  if (checked[0]?.liveWriter) console.error(`embed: ${files[0]} is still being written by ${checked[0].liveWriter}: these are the rows committed so far`);
  if (files.length > 1) await checkUniqueIds(files);
  const described = [];
  // The schema comes from the file's head, so a part with no rows (an empty shard) is described too.
  for (const { file, schema, description } of checked) {
    let rows = 0;
    let batches = 0;
    // int8/uint8: how many stored values sit at the end codes, where clamped values land.
    const quantized = description && needsRanges(precisionOf(description)) ? { values: 0, rows: 0 } : null;
    for await (const batch of readEmbeddings(file)) {
      rows += batch.numRows;
      batches++;
      if (quantized) {
        const list = batch.getChild('embedding')!.data[0]!;
        const at = list.offset * description!.dim + list.children[0]!.offset;
        const codes = (list.children[0]!.values as Int8Array | Uint8Array).subarray(at, at + batch.numRows * description!.dim);
        const counted = countEndCodes(codes, description!.dim);
        quantized.values += counted.values;
        quantized.rows += counted.rows;
      }
    }
    const endCodes = quantized && {
      ...quantized, share: rows ? Number((quantized.values / (rows * description!.dim)).toFixed(4)) : 0,
      note: 'values stored at the end codes of the int8/uint8 ranges: values clamped outside the calibrated ranges, and values within one step of a range\'s min or at its max',
    };
    described.push({ file, rows, batches, columns: schema.fields.map((f) => `${f.name}: ${f.type}`), description, ...(endCodes ? { endCodes } : {}) });
  }
  const one = described.length === 1 && !statSync(positionals[0]!).isDirectory();
  console.log(JSON.stringify(one ? described[0] : { files: described, rows: described.reduce((a, d) => a + d.rows, 0) }, null, 2));
  return 0;
}

async function exportFiles(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { format: { type: 'string' }, out: { type: 'string', short: 'o' }, overwrite: { type: 'boolean' }, compression: { type: 'string' } },
  });
  const compression = values.compression ?? 'snappy';
  if (!['snappy', 'zstd', 'none'].includes(compression)) throw new UsageError(`--compression must be snappy, zstd or none, not ${compression}`);
  if (values.compression !== undefined && values.format !== 'parquet') throw new UsageError('--compression applies to --format parquet only');
  if (positionals.length < 1) throw new UsageError('export takes one or more files or folders');
  if (values.format !== 'parquet' && values.format !== 'arrow-file') throw new UsageError(`--format must be parquet or arrow-file, not ${values.format ?? 'missing'}`);
  if (!values.out) throw new UsageError('--out <file> is required');
  if (existsSync(values.out) && statSync(values.out).isDirectory()) throw new UsageError(`--out ${values.out} is a folder: name the file to write`);
  if (!existsSync(dirname(resolve(values.out)))) return fail(EXIT.notFound, `the folder for --out ${values.out} does not exist: ${dirname(resolve(values.out))}`);
  if (existsSync(values.out) && !values.overwrite) return fail(EXIT.file, `${values.out} exists: pass --overwrite to replace it`);
  const files = embeddingFiles(positionals);
  if (typeof files === 'number') return files;
  if (files.some((f) => sameFile(f, values.out!))) throw new UsageError(`--out ${values.out} is one of the inputs: refusing to write onto it`);
  // The whole collection is checked before the output is created: parts that disagree, are still
  // being written or are missing are refused, never exported under the first part's description.
  const parts = await checkCollection(files, 'export', { folders: folderArgs(positionals) });
  if (files.length > 1) await checkUniqueIds(files);
  // int8/uint8 parts calibrated their own ranges: exported under one set, their union, each part's codes requantized to it.
  const ranges = unionRanges(parts);
  let requantized = 0;
  async function* batches() {
    for (const part of parts) {
      const convert = ranges && JSON.stringify(part.description.ranges) !== JSON.stringify(ranges);
      if (convert && part.hasRows) requantized++;
      for await (const batch of readEmbeddings(part.file)) yield ranges ? requantizeBatch(batch, part.description, ranges) : batch;
    }
  }
  // Ctrl-C or SIGTERM mid-export: the temporary file goes too, nothing half-written is left.
  const out = values.out;
  for (const signal of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
    process.once(signal, () => {
      rmSync(partialPath(out), { force: true });
      console.error(`embed: export stopped by ${signal}; nothing was written to ${out}`);
      process.exit(SIGNAL_EXIT[signal]);
    });
  }
  const result = await exportBatches(batches(), values.format, values.out, { compression: compression as ParquetCompression });
  if (requantized) console.error(`embed: the ${parts[0]!.description.precision} parts were calibrated to different ranges; ${requantized} of ${parts.length} were requantized to their union (at most one step of error a value)`);
  console.log(JSON.stringify({ out: values.out, format: values.format, files: files.length, ...result, ...(requantized ? { requantized } : {}) }));
  return 0;
}

/**
 * --keep-text N: each record with the first N characters of its text in a metadata column "text"
 * (a field of that name wins). The record itself is kept (errors name its line through it).
 */
async function* withTextColumn(records: AsyncIterable<EmbedRecord>, chars: number): AsyncGenerator<EmbedRecord> {
  for await (const record of records) {
    if (!('text' in record.metadata)) record.metadata.text = [...record.text].slice(0, chars).join('');
    yield record;
  }
}

/** Counts the records of a file in one quick pass, for the ETA. */
async function countRecords(path: string, format: TextFormat): Promise<number> {
  let lines = 0;
  let last = '\n';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) lines++;
    if (chunk.length) last = chunk[chunk.length - 1]!;
  }
  if (last !== '\n') lines++;
  return format === 'csv' ? Math.max(0, lines - 1) : lines;
}

/** Standard input as text; an abort (Ctrl-C) ends a read that is waiting for input, not only the next window. */
async function* stdinText(signal: AbortSignal): AsyncGenerator<string> {
  process.stdin.setEncoding('utf8');
  addAbortSignal(signal, process.stdin);
  for await (const chunk of process.stdin) yield chunk as string;
}

/** A progress bar on a terminal, JSON lines otherwise (for logs and parent processes). */
function progressPrinter() {
  const tty = process.stderr.isTTY;
  let shown = false;
  return {
    update(p: EmbedProgress) {
      if (!tty) {
        process.stderr.write(JSON.stringify({ event: 'progress', done: p.done, total: Number.isFinite(p.total) ? p.total : null, textsPerSec: Math.round(p.textsPerSec), tokensPerSec: Math.round(p.tokensPerSec), etaMs: Number.isFinite(p.etaMs) ? Math.round(p.etaMs) : null, rssBytes: p.memory?.rssBytes }) + '\n');
        return;
      }
      const fraction = Number.isFinite(p.total) && p.total > 0 ? p.done / p.total : 0;
      const bar = '#'.repeat(Math.round(fraction * 30)).padEnd(30, '.');
      const eta = Number.isFinite(p.etaMs) ? `ETA ${Math.ceil(p.etaMs / 1000)}s` : '';
      process.stderr.write(`\r[${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${p.done}${Number.isFinite(p.total) ? `/${p.total}` : ''} ${p.textsPerSec.toFixed(0)} texts/s ${eta}   `);
      shown = true;
    },
    end() {
      if (tty && shown) process.stderr.write('\n');
    },
  };
}

function fail(code: number, message: string): number {
  console.error(`embed: ${message}`);
  return code;
}

// Every path through main ends in process.exit, so the event loop running dry first means a promise
// nothing will settle: a bug, reported as a failure rather than passed off as success (exit 0).
process.once('beforeExit', () => process.exit(fail(1, 'internal error: the command stopped with its work unfinished (nothing left to wait for); please report it')));
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const e = error as Error;
    if (error instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) process.exit(fail(EXIT.usage, `${e.message}\n${USAGE}`));
    if (error instanceof InputFormatError) process.exit(fail(EXIT.input, e.message));
    // Every InvalidOptionError the CLI can meet comes from a flag's value (--shard, --pooling, --precision...).
    if (error instanceof InvalidOptionError) process.exit(fail(EXIT.usage, `${e.message}\n${USAGE}`));
    // A package to install is not a model problem: its own code, with the install command in the message.
    if (error instanceof MissingDependencyError) process.exit(fail(EXIT.missingPackage, e.message));
    if (error instanceof ModelFileError || error instanceof ModelFormatError) process.exit(fail(EXIT.model, e.message));
    if (error instanceof EmbeddingsFileError) process.exit(fail(EXIT.file, e.message));
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') process.exit(fail(EXIT.notFound, e.message));
    process.exit(fail(1, e.stack ?? String(e)));
  },
);
