// The Arrow embeddings file over any RandomAccessFile: a sink that appends one record batch per
// write and syncs it, resuming after a crash by truncating to the last whole batch; and lazy
// readers that decode one batch at a time, so files larger than memory are read and searched.
import type { RecordBatch, Schema } from 'apache-arrow';
import { EmbeddingsFileError } from '../core/errors.js';
import {
  buildSchema, decodeBatch, decodeSchema, describeSchema, encodeStream, EOS, readFrameBody, readFramePrefix, schemaMatchesDescription, splitStream,
  type BatchRows, type FileDescription,
} from './arrow-ipc.js';
import type { RandomAccessFile } from './random-access.js';
import { fromHalfBits } from '../util/half.js';
import { firstCorruptRow } from './checksum.js';
import { positiveInteger } from '../core/validate.js';

/** What a sink holds from earlier runs. */
export interface ResumeState {
  /** Ids already committed. */
  committed: Set<string>;
  /** The description they were written with. */
  description: FileDescription | null;
  /** Each committed id's text hash, where the sink keeps them (to report texts changed since). */
  textHashes?: ReadonlyMap<string, string>;
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
}

interface Message {
  start: number;
  end: number;
  kind: 'schema' | 'batch' | 'other';
  bytes: Uint8Array;
}

/**
 * Reads whole IPC messages from a file one at a time (positional reads: memory holds one
 * message). Stops at the end-of-stream marker, or at a truncated or corrupt message, leaving
 * `state.problem` set.
 */
async function* fileMessages(file: RandomAccessFile, state: { validEnd: number; closed: boolean; problem?: string }): AsyncGenerator<Message> {
  const size = await file.size();
  let at = 0;
  while (at < size) {
    const head = await file.read(at, 8);
    const prefix = readFramePrefix(new DataView(head.buffer, head.byteOffset, head.byteLength), at, size);
    if ('problem' in prefix) return void (state.problem = prefix.problem);
    if (prefix.eos) {
      state.validEnd = at + 8;
      state.closed = true;
      return;
    }
    const meta = await file.read(at + 8, prefix.metaLength);
    const body = readFrameBody(new DataView(meta.buffer, meta.byteOffset, meta.byteLength), at, size);
    if ('problem' in body) return void (state.problem = body.problem);
    const bytes = await file.read(at, body.end - at);
    yield { start: at, end: body.end, kind: body.kind, bytes };
    at = body.end;
    state.validEnd = at;
  }
}

/** Reading options. */
export interface ReadOptions {
  /** On a truncated or corrupt tail, yield the whole batches before it instead of throwing. */
  allowTruncated?: boolean;
}

interface WalkState {
  validEnd: number;
  closed: boolean;
  problem?: string;
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
async function* verifiedBatches(file: RandomAccessFile, state: WalkState): AsyncGenerator<{ start: number; batch: RecordBatch }> {
  const fail = (problem: string): void => void (state.problem = problem);
  let verify = false;
  for await (const message of fileMessages(file, state)) {
    if (message.kind === 'schema') {
      if (state.schemaMessage) return fail(`a second schema at byte ${message.start}`);
      // Everything that reads the decoded schema is guarded: a damaged one can hold malformed types.
      try {
        state.schema = decodeSchema(message.bytes.slice());
        state.description = describeSchema(state.schema);
        const missing = ['id', 'embedding'].filter((name) => !state.schema!.fields.some((f) => f.name === name));
        if (missing.length) return fail(`the schema at byte ${message.start} has no ${missing.join(' or ')} column: not an embeddings file`);
        if (state.description && !schemaMatchesDescription(state.schema, state.description)) {
          state.damagedSchema = true;
          return fail(`the schema at byte ${message.start} does not match its own description: it is damaged`);
        }
      } catch (cause) {
        state.damagedSchema = state.schema?.metadata instanceof Map && state.schema.metadata.has('bulk-embed');
        return fail(`unreadable schema at byte ${message.start}: ${(cause as Error).message}`);
      }
      // A description that says 'crc32' matched the schema above, so the column is the one test.
      verify = state.schema.fields.some((f) => f.name === 'checksum');
      state.schemaMessage = message.bytes.slice();
    } else if (message.kind === 'batch') {
      if (!state.schemaMessage) return fail(`a record batch before the schema at byte ${message.start}`);
      let batch: RecordBatch;
      try {
        batch = decodeBatch(state.schemaMessage, message.bytes);
      } catch (cause) {
        return fail(`corrupt record batch at byte ${message.start}: ${(cause as Error).message}`);
      }
      let bad: number;
      try {
        bad = verify ? firstCorruptRow(batch) : -1;
      } catch {
        bad = 0; // a corrupt batch can make reading its columns throw
      }
      if (bad >= 0) return fail(`corrupt record batch at byte ${message.start}: row ${bad} does not match its checksum`);
      yield { start: message.start, batch };
    }
  }
  if (state.closed && !state.problem && (await file.size()) > state.validEnd) fail(`bytes after the end-of-stream marker at byte ${state.validEnd}`);
}

/** Yields the file's record batches lazily, with its schema; every row is checked before it is yielded. */
export async function* readBatches(file: RandomAccessFile, options: ReadOptions = {}): AsyncGenerator<{ schema: Schema; batch: RecordBatch }> {
  const state: WalkState = { validEnd: 0, closed: false };
  for await (const { batch } of verifiedBatches(file, state)) yield { schema: state.schema!, batch };
  if (options.allowTruncated) return;
  if (!state.schema) throw new EmbeddingsFileError(file.name, (await file.size()) === 0 ? 'the file is empty' : `not an Arrow IPC stream (${state.problem ?? 'no schema'})`);
  if (state.problem) throw new EmbeddingsFileError(file.name, `${state.problem} (the whole batches before it can be read with allowTruncated)`, state.validEnd);
}

/** A top-k hit. */
export interface SearchHit {
  id: string;
  score: number;
  /** The row's other columns (text_hash and the caller's metadata). */
  row: Record<string, unknown>;
}

/** Top k rows by cosine with `query`, streaming the file batch by batch (never loading it whole). */
export async function searchBatches(file: RandomAccessFile, query: Float32Array, k: number, options: ReadOptions = {}): Promise<SearchHit[]> {
  positiveInteger('k', k);
  let queryNorm = 0;
  for (const q of query) queryNorm += q * q;
  queryNorm = Math.sqrt(queryNorm) || 1;
  const top: SearchHit[] = [];
  for await (const { batch } of readBatches(file, options)) {
    const embedding = batch.getChild('embedding')!;
    const dim = (embedding.type as { listSize: number }).listSize;
    if (dim !== query.length) throw new EmbeddingsFileError(file.name, `vectors have ${dim} dimensions, the query ${query.length}`);
    const values = embedding.data[0]!.children[0]!.values as Float32Array | Uint16Array;
    const offset = embedding.data[0]!.children[0]!.offset;
    const half = values instanceof Uint16Array;
    for (let r = 0; r < batch.numRows; r++) {
      let dot = 0;
      let norm = 0;
      const base = offset + r * dim;
      for (let j = 0; j < dim; j++) {
        const v = half ? fromHalfBits(values[base + j]!) : values[base + j]!;
        dot += v * query[j]!;
        norm += v * v;
      }
      const score = dot / (queryNorm * (Math.sqrt(norm) || 1));
      if (top.length < k || score > top[top.length - 1]!.score) {
        const row = batch.get(r)!.toJSON() as Record<string, unknown>;
        const { id, embedding: _drop, checksum: _check, ...rest } = row;
        insertSorted(top, { id: String(id), score, row: rest }, k);
      }
    }
  }
  return top;
}

function insertSorted(top: SearchHit[], hit: SearchHit, k: number): void {
  let i = top.length;
  while (i > 0 && top[i - 1]!.score < hit.score) i--;
  top.splice(i, 0, hit);
  if (top.length > k) top.pop();
}

/** Sink options. */
export interface ArrowSinkOptions {
  /** Continue a file a previous run left (default false). */
  resume?: boolean;
  /** Replace an existing file instead of refusing (default false). */
  overwrite?: boolean;
}

/**
 * An Arrow IPC stream file as a sink. Each write appends one record batch and syncs; on resume the
 * file is cut back to its last whole batch (dropping a half-written one), and its ids are reported
 * as committed, so a run killed at any moment ends, once resumed, with exactly one row per id.
 */
export function arrowFileSink(file: RandomAccessFile, options: ArrowSinkOptions = {}): EmbeddingSink {
  let schemaMessage: Uint8Array | null = null;
  let prepared = false;
  let writtenDescription: FileDescription | null = null;
  let broken = false;

  const prepare = async (): Promise<ResumeState> => {
    prepared = true;
    const committed = new Set<string>();
    const size = await file.size();
    if (size === 0) return { committed, description: null };
    if (!options.resume) {
      if (!options.overwrite) throw new EmbeddingsFileError(file.name, 'already exists: resume it, overwrite it, or choose another file');
      await file.truncate(0);
      return { committed, description: null };
    }
    const state: WalkState = { validEnd: 0, closed: false };
    const textHashes = new Map<string, string>();
    for await (const { batch } of verifiedBatches(file, state)) {
      if (!state.description) break; // not ours: refused below, before anything is cut
      const ids = batch.getChild('id')!;
      const hashes = batch.getChild('text_hash')!;
      for (let r = 0; r < batch.numRows; r++) {
        const id = String(ids.get(r));
        committed.add(id);
        textHashes.set(id, String(hashes.get(r)));
      }
    }
    // A run killed while writing the first message leaves a torn Arrow header and no rows: start over.
    const tornFirstMessage = !state.schemaMessage && state.validEnd === 0 && state.problem?.startsWith('truncated');
    if (tornFirstMessage && (await file.read(0, 4)).every((b) => b === 0xff)) {
      await file.truncate(0);
      return { committed, description: null, repaired: `${state.problem}: a first message cut short, no rows; started over` };
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
    return { committed, description: state.description, textHashes, repaired };
  };

  return {
    resumeState: prepare,
    async write(description, rows) {
      if (!prepared) await prepare();
      if (rows.ids.length === 0) return;
      const schema = buildSchema(description);
      const { schema: schemaBytes, batch } = splitStream(encodeStream(schema, description, rows));
      if (writtenDescription && JSON.stringify(writtenDescription) !== JSON.stringify(description)) {
        throw new EmbeddingsFileError(file.name, `was written with ${JSON.stringify(writtenDescription)}; this run has ${JSON.stringify(description)}`);
      }
      try {
        if (!schemaMessage) {
          await file.append(schemaBytes);
          schemaMessage = schemaBytes.slice();
          writtenDescription = description;
        }
        await file.append(batch);
        await file.sync();
      } catch (error) {
        broken = true; // the tail may be torn: no end-of-stream marker after it; resume cuts it off
        throw error;
      }
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
