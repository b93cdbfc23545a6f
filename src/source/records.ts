// Sources of texts: arrays, (async) iterables and ReadableStreams of strings or of records
// { id, text, ...metadata }. Everything becomes one async stream of records, read lazily, so a
// slow consumer slows the reading.
import { InputFormatError } from '../base/errors.js';

/** A metadata value kept in its own column. */
export type MetadataValue = string | number | boolean | null;

/** One text to embed, with its id and the caller's other fields. */
export interface EmbedRecord {
  id: string;
  text: string;
  metadata: Record<string, MetadataValue>;
}

/** What callers may pass as one item. */
export type SourceItem = string | Record<string, unknown>;

/** Anything records can be read from. */
export type RecordSource = Iterable<SourceItem> | AsyncIterable<SourceItem> | ReadableStream<SourceItem>;

/** How records are read: which fields hold the text and the id. */
export interface RecordOptions {
  textField?: string;
  idField?: string;
  /** Names the source in errors (e.g. a file name). */
  sourceName?: string;
}

// Streams of records made by this library's readers (readRecordFile, readBlobRecords,
// parseTextRecords, shardRecords): embedStream takes their records as they are, with no flag to
// forget. Passed as raw items they would be read again, and their metadata stored as one JSON
// string column named "metadata".
const parsedSources = new WeakSet<object>();

/** Marks a stream of EmbedRecords made by one of the library's readers; returns it. */
export function markParsed<T extends AsyncIterable<EmbedRecord>>(source: T): T {
  parsedSources.add(source);
  return source;
}

/** True for a stream marked by markParsed. */
export const isParsed = (source: unknown): boolean => typeof source === 'object' && source !== null && parsedSources.has(source);

// Where each record came from ("docs.jsonl line 12", "source record 3"), for errors found later
// (a repeated id): kept beside the record, not in it, so records stay plain { id, text, metadata }.
const origins = new WeakMap<EmbedRecord, string>();

/** Where a record came from, when one of the library's readers made it. */
export const recordOrigin = (record: EmbedRecord): string | undefined => origins.get(record);

/**
 * True for an item shaped exactly as an EmbedRecord ({ id, text, metadata: {...} } and nothing
 * else), such as one a reader made that reached here through the caller's own generator: its
 * metadata fields are taken as columns instead of a JSON string column named "metadata".
 */
function isRecordShaped(item: unknown, textField: string, idField: string): item is EmbedRecord {
  if (item === null || typeof item !== 'object' || textField !== 'text' || idField !== 'id') return false;
  const keys = Object.keys(item);
  const metadata = (item as { metadata?: unknown }).metadata;
  return keys.length === 3 && keys.includes('id') && keys.includes('text') && metadata !== null && typeof metadata === 'object' &&
    !Array.isArray(metadata) && Object.getPrototypeOf(metadata) === Object.prototype;
}

/** Turns any source into an async stream of records; a record without an id gets its position. */
export async function* readRecords(source: RecordSource, options: RecordOptions = {}): AsyncGenerator<EmbedRecord> {
  const textField = options.textField ?? 'text';
  const idField = options.idField ?? 'id';
  const name = options.sourceName ?? 'source';
  let position = 0;
  for await (const item of iterate(source)) {
    if (isRecordShaped(item, textField, idField)) {
      const { metadata, ...rest } = item;
      yield toRecord({ ...metadata, ...rest }, position, textField, idField, name);
    } else {
      yield toRecord(item, position, textField, idField, name);
    }
    position++;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Converts one item; `where` names it in errors (records are counted from 1). `rawId` is a numeric
 * id's source text (JSONL), kept as the id instead of the float64 JSON.parse made of it.
 */
export function toRecord(item: unknown, position: number, textField: string, idField: string, name: string, where = `${name} record ${position + 1}`, rawId?: string): EmbedRecord {
  const record = toRecordAt(item, position, textField, idField, where, rawId);
  origins.set(record, where);
  return record;
}

function toRecordAt(item: unknown, position: number, textField: string, idField: string, where: string, rawId?: string): EmbedRecord {
  if (typeof item === 'string') return { id: String(position), text: item, metadata: {} };
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    throw new InputFormatError(where, `expected a string or an object with a "${textField}" field, got ${item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item}`);
  }
  const record = item as Record<string, unknown>;
  const text = record[textField];
  if (text === undefined) throw new InputFormatError(where, `missing field "${textField}"`);
  if (typeof text !== 'string') throw new InputFormatError(where, `field "${textField}" is ${typeof text}, not a string`);
  const givenId = record[idField];
  if (givenId !== undefined && givenId !== null && typeof givenId !== 'string' && typeof givenId !== 'number') {
    throw new InputFormatError(where, `field "${idField}" must be a string or a number`);
  }
  // A number past 2^53 is not the integer the source had (tweet and Snowflake ids are this large),
  // and two such ids can become one: refused, unless its source text is known (JSONL).
  if (typeof givenId === 'number' && rawId === undefined && Number.isInteger(givenId) && !Number.isSafeInteger(givenId)) {
    throw new InputFormatError(where, `field "${idField}" is the number ${givenId}, beyond 2^53, where numbers lose digits: pass ids this large as strings (quote them)`);
  }
  const metadata: Record<string, MetadataValue> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key === textField || key === idField) continue;
    metadata[key] = value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : JSON.stringify(value);
  }
  const id = givenId === undefined || givenId === null ? String(position) : rawId ?? String(givenId);
  // A lone surrogate cannot be stored as UTF-8: two such ids would both become U+FFFD and collide.
  if (LONE_SURROGATE.test(id)) throw new InputFormatError(where, `field "${idField}" is not well-formed Unicode (a lone surrogate at index ${id.search(LONE_SURROGATE)})`);
  return { id, text, metadata };
}

async function* iterate(source: RecordSource): AsyncGenerator<unknown> {
  if (typeof (source as ReadableStream).getReader === 'function' && !(Symbol.asyncIterator in source)) {
    const reader = (source as ReadableStream<unknown>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* source as AsyncIterable<unknown>;
}

/** Reads up to `size` records: the next window of a stream (empty at the end). */
export async function takeWindow<T>(iterator: AsyncIterator<T>, size: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < size) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}
