// The Arrow embeddings file over any RandomAccessFile: a sink that appends one record batch per
// write and syncs it, resuming after a crash by truncating to the last whole batch; and lazy
// readers that decode one batch at a time, so files larger than memory are read and searched.
import type { RecordBatch, Schema } from 'apache-arrow';
import { EmbeddingsFileError } from '../base/errors.js';
import { decodeBatch, decodeSchema, rowCountProblem } from '../format/decode.js';
import { encodeStream, splitStream, type BatchRows } from '../format/encode.js';
import { EOS, readFrames, type WalkEnd } from '../format/frames.js';
import { readBatchHeader } from '../format/message.js';
import { readExactly, type RandomAccessFile } from '../format/random-access.js';
import { buildSchema, describeSchema, positionOf, schemaMatchesDescription, type FileDescription } from '../format/schema.js';
import { firstCorruptRow } from '../format/checksum.js';
import { committedFromSet, FileLedger, type CommittedIds } from './committed.js';

/** What a sink holds from earlier runs. */
export interface ResumeState {
  /** Ids already committed, with the text hash each was committed with where the sink keeps them. */
  committed: CommittedIds;
  /** The description they were written with. */
  description: FileDescription | null;
  /** What resume cut off: a half-written or corrupt tail, with the byte it started at. */
  repaired?: string;
}

/** A place rows are committed to; `resumeState` tells which ids a previous run committed. */
export interface EmbeddingSink {
  /** Ids already committed, and the description they were written with (resume). */
  resumeState(): Promise<ResumeState>;
  /** Commits rows: when this resolves they are durable and readable. */
  write(description: FileDescription, rows: BatchRows): Promise<void>;
  /** Ends the stream (end-of-stream marker) and closes. */
  close(): Promise<void>;
  /** Exactly whether the sink holds a row with this id now (confirms a duplicate id); absent where the sink cannot tell. */
  contains?(id: string): Promise<boolean>;
  /** The file or store, as messages name it (a path, opfs:..., indexeddb:...). */
  readonly name?: string;
}

/** Reading options. */
export interface ReadOptions {
  /** On a truncated or corrupt tail, yield the whole batches before it instead of throwing. */
  allowTruncated?: boolean;
}

interface WalkState extends WalkEnd {
  schema?: Schema;
  schemaMessage?: Uint8Array;
  description?: FileDescription | null;
  /** The schema names this library as its writer but does not match its own description. */
  damagedSchema?: boolean;
}

/**
 * Walks the file's committed batches, decoding each and checking its rows against their
 * checksums; stops at the first message that is truncated, corrupt or out of place, leaving
 * `state.problem` and `state.validEnd` (where the good part ends).
 */
async function* verifiedBatches(file: RandomAccessFile, state: WalkState): AsyncGenerator<{ start: number; end: number; batch: RecordBatch }> {
  const fail = (problem: string): void => void (state.problem = problem);
  let verify = false;
  let rows = 0;
  for await (const frame of readFrames(file, state)) {
    if (frame.kind === 'other') continue;
    const bytes = await readExactly(file, frame.start, frame.end - frame.start);
    if (frame.kind === 'schema') {
      if (state.schemaMessage) return fail(`a second schema at byte ${frame.start}`);
      // Everything that reads the decoded schema is guarded: a damaged one can hold malformed types.
      try {
        state.schema = decodeSchema(bytes.slice());
        state.description = describeSchema(state.schema);
        const missing = ['id', 'embedding'].filter((name) => !state.schema!.fields.some((f) => f.name === name));
        if (missing.length) return fail(`the schema at byte ${frame.start} has no ${missing.join(' or ')} column: not an embeddings file`);
        if (state.description && !schemaMatchesDescription(state.schema, state.description)) {
          state.damagedSchema = true;
          return fail(`the schema at byte ${frame.start} does not match its own description: it is damaged`);
        }
      } catch (cause) {
        state.damagedSchema = state.schema?.metadata instanceof Map && state.schema.metadata.has('bulk-embed');
        return fail(`unreadable schema at byte ${frame.start}: ${(cause as Error).message}`);
      }
      // A description that says 'crc32' matched the schema above, so the column is the one test.
      verify = state.schema.fields.some((f) => f.name === 'checksum');
      state.schemaMessage = bytes.slice();
    } else {
      if (!state.schemaMessage) return fail(`a record batch before the schema at byte ${frame.start}`);
      let batch: RecordBatch;
      try {
        const counts = state.description ? rowCountProblem(state.schema!, readBatchHeader(frame.meta)) : null;
        if (counts) return fail(`corrupt record batch at byte ${frame.start}: ${counts}`);
        batch = decodeBatch(state.schemaMessage, bytes);
      } catch (cause) {
        return fail(`corrupt record batch at byte ${frame.start}: ${(cause as Error).message}`);
      }
      let bad: number;
      try {
        bad = verify ? firstCorruptRow(batch, positionOf(state.description, rows)) : -1;
      } catch {
        bad = 0; // a corrupt batch can make reading its columns throw
      }
      if (bad >= 0) {
        const where = positionOf(state.description, rows) === null ? '' : ` (or its batch is out of place: row ${rows + bad} of the file expected there)`;
        return fail(`corrupt record batch at byte ${frame.start}: row ${bad} does not match its checksum${where}`);
      }
      rows += batch.numRows;
      yield { start: frame.start, end: frame.end, batch };
    }
  }
  if (state.closed && !state.problem && (await file.size()) > state.validEnd) fail(`bytes after the end-of-stream marker at byte ${state.validEnd}`);
}

/** An Arrow record batch of the embeddings file, with its schema. */
export type EmbeddingBatch = RecordBatch & { schema: Schema };

/**
 * The batches of a file named by path (opened with the runtime's `open`, closed when the reader
 * stops) or of a file the caller opened (left open): what each entry's readEmbeddings is.
 */
export async function* readEmbeddingBatches(
  file: string | RandomAccessFile, open: (path: string) => Promise<RandomAccessFile>, options: ReadOptions = {},
): AsyncGenerator<EmbeddingBatch> {
  const handle = typeof file === 'string' ? await open(file) : file;
  try {
    for await (const { batch } of readBatches(handle, options)) yield batch as EmbeddingBatch;
  } finally {
    if (typeof file === 'string') await handle.close();
  }
}

/** Yields the file's record batches lazily, with its schema; every row is checked before it is yielded. */
export async function* readBatches(file: RandomAccessFile, options: ReadOptions = {}): AsyncGenerator<{ schema: Schema; batch: RecordBatch }> {
  const state: WalkState = { validEnd: 0, closed: false };
  for await (const { batch } of verifiedBatches(file, state)) yield { schema: state.schema!, batch };
  if (options.allowTruncated) return;
  if (!state.schema) throw new EmbeddingsFileError(file.name, (await file.size()) === 0 ? 'the file is empty' : `not an Arrow IPC stream (${state.problem ?? 'no schema'})`);
  if (state.problem) throw new EmbeddingsFileError(file.name, `${state.problem} (the whole batches before it can be read with allowTruncated)`, state.validEnd);
}

/**
 * Reads a file's schema and description without reading its rows (the first batch is decoded and
 * checked on the way), and whether it holds any rows. Throws an EmbeddingsFileError for an empty file, a file with no readable
 * schema, or a damaged one; the rows themselves are verified by whoever reads them next.
 */
export async function readSchema(file: RandomAccessFile): Promise<{ schema: Schema; description: FileDescription | null; hasRows: boolean }> {
  const state: WalkState = { validEnd: 0, closed: false };
  let hasRows = false;
  for await (const _ of verifiedBatches(file, state)) {
    hasRows = true;
    break;
  }
  if (!state.schema || state.damagedSchema) {
    throw new EmbeddingsFileError(file.name, (await file.size()) === 0 ? 'the file is empty' : `not a readable Arrow IPC stream (${state.problem ?? 'no schema'})`);
  }
  // A damaged first batch counts as rows: its reader reports it.
  return { schema: state.schema, description: state.description ?? null, hasRows: hasRows || state.problem !== undefined };
}

/** Sink options. */
export interface ArrowSinkOptions {
  /** Continue a file a previous run left (default false). */
  resume?: boolean;
  /** Replace an existing file instead of refusing (default false). */
  overwrite?: boolean;
}

/** A seam for tests, not an option users set: replaces the 64-bit id fingerprint of the resume ledger (to force collisions). */
export interface SinkSeams {
  fingerprint?: (id: string) => bigint;
}

/**
 * An Arrow IPC stream file as a sink. Each write appends one record batch and syncs; on resume the
 * file is cut back to its last whole batch (dropping a half-written one), and its ids are reported
 * as committed, so a run killed at any moment ends, once resumed, with exactly one row per id.
 */
export function arrowFileSink(file: RandomAccessFile, options: ArrowSinkOptions & SinkSeams = {}): EmbeddingSink {
  let schemaMessage: Uint8Array | null = null;
  let prepared = false;
  let writtenDescription: FileDescription | null = null;
  let broken = false;
  /** Rows the file holds: the next batch's first row (its checksums cover positions). */
  let rowsHeld = 0;

  const prepare = async (): Promise<ResumeState> => {
    prepared = true;
    const none = committedFromSet(new Set());
    const size = await file.size();
    if (size === 0) return { committed: none, description: null };
    if (!options.resume) {
      if (!options.overwrite) throw new EmbeddingsFileError(file.name, 'already exists: resume it, overwrite it, or choose another file');
      await file.truncate(0);
      return { committed: none, description: null };
    }
    const state: WalkState = { validEnd: 0, closed: false };
    const ledger = new FileLedger(file, () => schemaMessage!, options.fingerprint);
    let batches = 0;
    for await (const { start, end, batch } of verifiedBatches(file, state)) {
      if (!state.description) break; // not ours: refused below, before anything is cut
      ledger.addBatch(start, end, batch.getChild('id')!.toArray() as string[]);
      rowsHeld += batch.numRows;
      batches++;
    }
    // A file an empty run left (its schema, no rows) holds nothing to keep: the resumed run starts
    // it afresh, with its own description (int8 ranges calibrated from rows, not from none).
    if (state.schemaMessage && state.description && batches === 0 && !state.problem) {
      await file.truncate(0);
      return { committed: none, description: null };
    }
    // A run killed while writing the first message leaves a torn Arrow header and no rows: start over.
    const tornFirstMessage = !state.schemaMessage && state.validEnd === 0 && state.problem?.startsWith('truncated');
    if (tornFirstMessage && (await file.read(0, 4)).every((b) => b === 0xff)) {
      await file.truncate(0);
      return { committed: none, description: null, repaired: `${state.problem}: a first message cut short, no rows; started over` };
    }
    // Only a file whose intact schema says this library wrote it is ever cut: anything else stays as it is.
    if (!state.schemaMessage || !state.description) {
      const what = state.damagedSchema
        ? `an embeddings file whose schema is damaged (${state.problem}); its rows cannot be trusted to resume it`
        : state.schema ? 'an Arrow stream that bulk-embed did not write' : `not an Arrow embeddings stream (${state.problem ?? 'no schema'})`;
      throw new EmbeddingsFileError(file.name, `is ${what}: left unchanged; choose another output file`);
    }
    schemaMessage = state.schemaMessage;
    writtenDescription = state.description;
    // Drop a half-written or corrupt tail and a closing end-of-stream marker: new batches go after the last good one.
    const keep = state.closed ? state.validEnd - EOS.length : state.validEnd;
    const repaired = state.problem ? `${state.problem}; cut back to byte ${keep}` : undefined;
    if (keep !== size) await file.truncate(keep);
    return { committed: ledger, description: state.description, repaired };
  };

  return {
    name: file.name,
    resumeState: prepare,
    async write(description, rows) {
      if (!prepared) await prepare();
      // No rows: only a file that has nothing yet gets its schema (an empty run's file is valid and typed).
      if (rows.ids.length === 0 && schemaMessage) return;
      const schema = buildSchema(description);
      const { schema: schemaBytes, batch } = splitStream(encodeStream(schema, description, rows, rowsHeld));
      if (writtenDescription && JSON.stringify(writtenDescription) !== JSON.stringify(description)) {
        throw new EmbeddingsFileError(file.name, `was written with ${JSON.stringify(writtenDescription)}; this run has ${JSON.stringify(description)}`);
      }
      try {
        if (!schemaMessage) {
          await file.append(schemaBytes);
          schemaMessage = schemaBytes.slice();
          writtenDescription = description;
        }
        if (rows.ids.length) await file.append(batch);
        await file.sync();
        rowsHeld += rows.ids.length;
      } catch (error) {
        broken = true; // the tail may be torn: no end-of-stream marker after it; resume cuts it off
        throw error;
      }
    },
    async contains(id) {
      const state: WalkState = { validEnd: 0, closed: false };
      for await (const { batch } of verifiedBatches(file, state)) {
        const ids = batch.getChild('id')!;
        for (let r = 0; r < batch.numRows; r++) if (ids.get(r) === id) return true;
      }
      return false;
    },
    async close() {
      try {
        if (schemaMessage && !broken) {
          await file.append(EOS);
          await file.sync();
        }
      } finally {
        await file.close();
      }
    },
  };
}
