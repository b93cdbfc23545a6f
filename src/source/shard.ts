// Sharded runs: N processes (or the pods of a Kubernetes Indexed Job) each embed the records whose
// id hashes to their index, into a file of their own. The hash is FNV-1a (32-bit) over the id's
// UTF-8 bytes: stable across runs, machines and languages, so a retried shard takes exactly the
// same records and its resume is exact.
import { InvalidOptionError } from '../base/errors.js';
import { markParsed, type EmbedRecord } from './records.js';

/** One shard of a sharded run: this process's index (0-based, as JOB_COMPLETION_INDEX) and the count. */
export interface Shard {
  index: number;
  count: number;
}

const encoder = new TextEncoder();

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash >>> 0;
}

/** The shard (0..count-1) a record id belongs to. */
export function shardOf(id: string, count: number): number {
  return fnv1a32(id) % count;
}

/** Parses "I/N" (0 <= I < N), as `--shard` takes it. */
export function parseShard(spec: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!match) throw new InvalidOptionError('shard', `"${spec}" is not I/N (this process's index from 0, then the shard count), e.g. 0/4`);
  return checkShard(Number(match[1]), Number(match[2]), 'shard');
}

/** The shard of a Kubernetes Indexed Job's pod: JOB_COMPLETION_INDEX, with the count from an option. */
export function shardFromEnvironment(env: Record<string, string | undefined>, count: number): Shard {
  const value = env.JOB_COMPLETION_INDEX;
  if (value === undefined || !/^\d+$/.test(value.trim())) {
    throw new InvalidOptionError('shards', `needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job sets it) or --shard I/N; JOB_COMPLETION_INDEX is ${value === undefined ? 'not set' : `"${value}"`}`);
  }
  return checkShard(Number(value), count, 'shards');
}

function checkShard(index: number, count: number, option: string): Shard {
  if (!Number.isSafeInteger(count) || count < 1) throw new InvalidOptionError(option, `the shard count must be at least 1, not ${count}`);
  if (!Number.isSafeInteger(index) || index >= count) throw new InvalidOptionError(option, `index ${index} is not below the shard count ${count} (indexes run from 0)`);
  return { index, count };
}

/** The file a shard writes in the output folder: part-00003-of-00016.arrow. */
export function shardFileName(shard: Shard): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `part-${pad(shard.index)}-of-${pad(shard.count)}.arrow`;
}

/** The records of `records` that belong to `shard`, in order (marked as parsed: embedStream takes them as they are). */
export function shardRecords(records: AsyncIterable<EmbedRecord>, shard: Shard): AsyncGenerator<EmbedRecord> {
  return markParsed(onlyShard(records, shard));
}

async function* onlyShard(records: AsyncIterable<EmbedRecord>, shard: Shard): AsyncGenerator<EmbedRecord> {
  for await (const record of records) if (shardOf(record.id, shard.count) === shard.index) yield record;
}
