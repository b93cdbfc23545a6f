// The Arrow embeddings file over any RandomAccessFile: a sink that appends one record batch per
// write and syncs it, resuming after a crash by truncating to the last whole batch; and lazy
// readers that decode one batch at a time, so files larger than memory are read and searched.
import type { RecordBatch, Schema } from 'apache-arrow';
import { EmbeddingsFileError } from '../core/errors.js';
import {
  buildSchema, decodeBatch, decodeSchema, describeSchema, encodeStream, EOS, readFrameBody, readFramePrefix, splitStream,
  type BatchRows, type FileDescription,
} from './arrow-ipc.js';
import type { RandomAccessFile } from './random-access.js';
import { fromHalfBits } from '../util/half.js';

/** A place rows are committed to; `resumeState` tells which ids a previous run committed. */
export interface EmbeddingSink {
  /** Ids already committed, and the description they were written with (resume). */
  resumeState(): Promise<{ committed: Set<string>; description: FileDescription | null }>;
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
 * message). On a truncated or corrupt tail it throws, or with `allowTruncated` stops there.
 */
async function* fileMessages(file: RandomAccessFile, allowTruncated: boolean, state: { validEnd: number; closed: boolean; problem?: string }): AsyncGenerator<Message> {
  const size = await file.size();
  let at = 0;
  const stop = (problem: string): void => {
    state.problem = problem;
    if (!allowTruncated) throw new EmbeddingsFileError(file.name, `${problem} (the whole batches before it can be read with allowTruncated)`, at);
  };
  while (at < size) {
    const head = await file.read(at, 8);
    const prefix = readFramePrefix(new DataView(head.buffer, head.byteOffset, head.byteLength), at, size);
    if ('problem' in prefix) return stop(prefix.problem);
    if (prefix.eos) {
      state.validEnd = at + 8;
      state.closed = true;
      return;
    }
    const meta = await file.read(at + 8, prefix.metaLength);
    const body = readFrameBody(new DataView(meta.buffer, meta.byteOffset, meta.byteLength), at, size);
    if ('problem' in body) return stop(body.problem);
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

/** Yields the file's record batches lazily, with its schema. */
export async function* readBatches(file: RandomAccessFile, options: ReadOptions = {}): AsyncGenerator<{ schema: Schema; batch: RecordBatch }> {
  const state = { validEnd: 0, closed: false };
  let schemaMessage: Uint8Array | null = null;
  let schema: Schema | null = null;
  for await (const message of fileMessages(file, options.allowTruncated ?? false, state)) {
    if (message.kind === 'schema') {
      if (schemaMessage) throw new EmbeddingsFileError(file.name, `a second schema at byte ${message.start}`);
      schemaMessage = message.bytes.slice();
      schema = decodeSchema(schemaMessage);
    } else if (message.kind === 'batch') {
      if (!schemaMessage || !schema) throw new EmbeddingsFileError(file.name, `a record batch before the schema at byte ${message.start}`);
      let batch: RecordBatch;
      try {
        batch = decodeBatch(schemaMessage, message.bytes);
      } catch (cause) {
        if (options.allowTruncated) return;
        throw new EmbeddingsFileError(file.name, `corrupt record batch at byte ${message.start}: ${(cause as Error).message}`);
      }
      yield { schema, batch };
    }
  }
  if (!schema && !options.allowTruncated) throw new EmbeddingsFileError(file.name, (await file.size()) === 0 ? 'the file is empty' : 'no schema: not an Arrow IPC stream');
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
        const { id, embedding: _drop, ...rest } = row;
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

  const prepare = async (): Promise<{ committed: Set<string>; description: FileDescription | null }> => {
    prepared = true;
    const committed = new Set<string>();
    const size = await file.size();
    if (size === 0) return { committed, description: null };
    if (!options.resume) {
      if (!options.overwrite) throw new EmbeddingsFileError(file.name, 'already exists: resume it, overwrite it, or choose another file');
      await file.truncate(0);
      return { committed, description: null };
    }
    const state = { validEnd: 0, closed: false };
    let description: FileDescription | null = null;
    for await (const message of fileMessages(file, true, state)) {
      if (message.kind === 'schema') {
        schemaMessage = message.bytes.slice();
        description = describeSchema(decodeSchema(schemaMessage));
        if (!description) throw new EmbeddingsFileError(file.name, 'was not written by bulk-embed: cannot resume it');
      } else if (message.kind === 'batch' && schemaMessage) {
        const ids = decodeBatch(schemaMessage, message.bytes).getChild('id')!;
        for (const id of ids) committed.add(String(id));
      }
    }
    // Drop a half-written batch and a closing end-of-stream marker: new batches go after the last whole one.
    const keep = schemaMessage ? (state.closed ? state.validEnd - EOS.length : state.validEnd) : 0;
    if (keep !== size) await file.truncate(keep);
    writtenDescription = description;
    return { committed, description };
  };

  return {
    resumeState: prepare,
    async write(description, rows) {
      if (!prepared) await prepare();
      if (rows.ids.length === 0) return;
      const schema = buildSchema(description);
      const { schema: schemaBytes, batch } = splitStream(encodeStream(schema, description, rows));
      if (!schemaMessage) {
        schemaMessage = schemaBytes.slice();
        writtenDescription = description;
        await file.append(schemaBytes);
      } else if (writtenDescription && JSON.stringify(writtenDescription) !== JSON.stringify(description)) {
        throw new EmbeddingsFileError(file.name, `was written with ${JSON.stringify(writtenDescription)}; this run has ${JSON.stringify(description)}`);
      }
      await file.append(batch);
      await file.sync();
    },
    async close() {
      if (schemaMessage) {
        await file.append(EOS);
        await file.sync();
      }
      await file.close();
    },
  };
}
