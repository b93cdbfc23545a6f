// Browser storage for embeddings: Arrow files in OPFS (written from a dedicated worker through
// createSyncAccessHandle) and IndexedDB (one entry per id; a batch's rows and the run's description
// in one transaction, read with idb-keyval),
// with quota checks before and while writing.
import * as Comlink from 'comlink';
import { clear, entries, get, keys, promisifyRequest, type UseStore } from 'idb-keyval';
import { EmbedError, EmbeddingsFileError, FileLockedError } from '../base/errors.js';
import { precisionOf, type FileDescription } from '../format/schema.js';
import type { BatchRows } from '../format/encode.js';
import { quantize, storedBytes, storedWidth } from '../format/precision.js';
import { arrowFileSink, type ArrowSinkOptions, type EmbeddingSink } from '../store/arrow-file.js';
import type { RandomAccessFile } from '../format/random-access.js';
import { committedFromSet } from '../store/committed.js';
import type { OpfsApi } from './opfs-worker.js';
import { installErrorTransfer, registerErrorClass } from './error-transfer.js';
import type { SearchHit, SearchOptions, SearchSeams } from '../search/vector-search.js';

/** The storage is (nearly) full: names how much was needed and what was left. */
export class StorageQuotaError extends EmbedError {
  override name = 'StorageQuotaError';
  constructor(readonly needed: number, readonly available: number, options?: { cause?: unknown }) {
    super(`storage quota exceeded: about ${needed} bytes needed, ${available} available; the rows committed so far stay readable, resume once space is freed`, options);
  }
}

// The OPFS worker's errors (EmbeddingsFileError, StorageQuotaError) keep their class on this side.
registerErrorClass('StorageQuotaError', StorageQuotaError);
installErrorTransfer();

let opfsWorker: { api: Comlink.Remote<OpfsApi>; worker: Worker } | null = null;

/** Makes the OPFS worker; injectable for unusual bundlers. */
export type OpfsWorkerFactory = () => Worker;
const defaultOpfsWorker: OpfsWorkerFactory = () => new Worker(new URL('./opfs-worker.js', import.meta.url), { type: 'module', name: 'bulk-embed-opfs' });

function opfs(factory: OpfsWorkerFactory = defaultOpfsWorker): Comlink.Remote<OpfsApi> {
  if (!opfsWorker) {
    const worker = factory();
    opfsWorker = { worker, api: Comlink.wrap<OpfsApi>(worker) };
  }
  return opfsWorker.api;
}

/** Ends the OPFS worker (its handles close with it). */
export function closeOpfsWorker(): void {
  opfsWorker?.worker.terminate();
  opfsWorker = null;
}

/** An OPFS file (path within the origin's private file system) as a RandomAccessFile. */
export async function openOpfsFile(path: string, options: { create?: boolean; factory?: OpfsWorkerFactory } = {}): Promise<RandomAccessFile> {
  const api = opfs(options.factory);
  let id: number;
  try {
    id = await api.open(path, options.create ?? true);
  } catch (error) {
    throw new EmbeddingsFileError(`opfs:${path}`, `cannot open (${(error as Error).message})`);
  }
  const name = `opfs:${path}`;
  return {
    name,
    size: () => api.size(id),
    read: (offset, length) => api.read(id, offset, length),
    append: async (bytes) => {
      try {
        const copy = bytes.slice();
        await api.append(id, Comlink.transfer(copy, [copy.buffer]));
      } catch (error) {
        if ((error as Error).name === 'QuotaExceededError') throw new StorageQuotaError(bytes.length, 0, { cause: error });
        throw error;
      }
    },
    truncate: (length) => api.truncate(id, length),
    sync: () => api.flush(id),
    close: () => api.close(id),
  };
}

interface LockManagerLike {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<void> | void): Promise<unknown>;
}

/**
 * Takes the Web Lock that makes `target` single-writer across this origin's tabs and workers;
 * throws FileLockedError when another holds it. The lock goes with the page, so a closed or
 * crashed tab never leaves it behind. Returns the release function.
 */
export async function holdWriterLock(target: string): Promise<() => void> {
  const locks = (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
  if (!locks) return () => undefined; // no Web Locks here: nothing to coordinate with
  const release = await new Promise<(() => void) | null>((granted) => {
    void locks.request(`bulk-embed-writer:${target}`, { ifAvailable: true }, (lock) => {
      if (!lock) return granted(null);
      return new Promise<void>((done) => granted(done));
    });
  });
  if (!release) throw new FileLockedError(target, 'another tab or worker of this page', ' (the lock is freed when that run ends or its tab closes)');
  return release;
}

function forwardContains(sink: EmbeddingSink): Pick<EmbeddingSink, 'contains'> {
  return sink.contains ? { contains: (id) => sink.contains!(id) } : {};
}

/** Searches an OPFS file inside the OPFS worker (off the page's thread); errors keep their type and name the file. */
export async function searchOpfsFile(
  path: string, query: Float32Array, k: number, options: SearchOptions & SearchSeams & { factory?: OpfsWorkerFactory } = {},
): Promise<SearchHit[]> {
  const { stats, factory, ...rest } = options;
  let result: { hits: SearchHit[]; bytesRead: number };
  try {
    result = await opfs(factory).search(path, query, k, rest);
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (/InvalidOptionError/.test((error as Error).name ?? '')) throw error;
    throw new EmbeddingsFileError(`opfs:${path}`, /NotFound|could not be found/i.test(`${(error as Error).name} ${message}`) ? `cannot open (${message})` : message.replace(/^opfs:\S+: /, ''));
  }
  if (stats) stats.bytesRead += result.bytesRead;
  return result.hits;
}

/** A sink that holds the writer's lock until it closes. */
function lockedUntilClose(sink: EmbeddingSink, release: () => void): EmbeddingSink {
  return {
    name: sink.name,
    resumeState: () => sink.resumeState(),
    ...forwardContains(sink),
    write: (description, rows) => sink.write(description, rows),
    async close() {
      try {
        await sink.close();
      } finally {
        release();
      }
    },
  };
}

/** Estimates free storage; injectable for tests. */
export type StorageEstimate = () => Promise<{ usage?: number; quota?: number }>;
const defaultEstimate: StorageEstimate = () => navigator.storage.estimate();

/** Wraps a sink so every write first checks that storage has room for it (twice its size). */
export function withQuotaCheck(sink: EmbeddingSink, estimate: StorageEstimate = defaultEstimate): EmbeddingSink {
  return {
    name: sink.name,
    resumeState: () => sink.resumeState(),
    ...forwardContains(sink),
    async write(description, rows) {
      const needed = rows.ids.length * (storedBytes(precisionOf(description), description.dim) + (description.keepFloat16 ? description.dim * 2 : 0) + 96);
      const { usage = 0, quota = Infinity } = await estimate();
      if (quota - usage < 2 * needed) throw new StorageQuotaError(needed, Math.max(0, quota - usage));
      await sink.write(description, rows);
    },
    close: () => sink.close(),
  };
}

/** An Arrow IPC file in OPFS as a sink, checked against the storage quota. */
export async function opfsArrowSink(path: string, options: ArrowSinkOptions & { estimate?: StorageEstimate } = {}): Promise<EmbeddingSink> {
  const release = await holdWriterLock(`opfs:${path}`);
  try {
    return lockedUntilClose(withQuotaCheck(arrowFileSink(await openOpfsFile(path), options), options.estimate), release);
  } catch (error) {
    release();
    throw error;
  }
}

/** One stored row in IndexedDB. */
export interface StoredEmbedding {
  id: string;
  /** Float32Array for float precisions; the int8/uint8/binary/ubinary codes otherwise. */
  embedding: Float32Array | Int8Array | Uint8Array;
  textHash: string;
  metadata: Record<string, unknown>;
}

const DESCRIPTION_KEY = 'description';
const ROWS_STORE = 'embeddings';
const META_STORE = 'meta';

/**
 * The database `name` with its two object stores (rows by id, and the run's description), so a
 * batch and its description commit in one transaction. Version 2: version 1 (idb-keyval's own
 * store) had the rows alone, the description in a second database.
 */
function embeddingsDb(name: string): Promise<IDBDatabase> {
  const request = indexedDB.open(name, 2);
  request.onupgradeneeded = () => {
    for (const store of [ROWS_STORE, META_STORE]) if (!request.result.objectStoreNames.contains(store)) request.result.createObjectStore(store);
  };
  return promisifyRequest(request);
}

/** One object store of the database as idb-keyval's store seam. */
const storeOf = (db: Promise<IDBDatabase>, store: string): UseStore => (mode, callback) =>
  db.then((d) => callback(d.transaction(store, mode).objectStore(store)));

/**
 * An IndexedDB database `name` as a sink: one entry per id, and each batch committed in one
 * transaction with the run's description (a write that fails leaves neither). The writer's lock
 * is taken when the run starts (resumeState) and freed when it closes.
 */
export function indexedDbSink(name: string, options: { resume?: boolean; overwrite?: boolean; estimate?: StorageEstimate } = {}): EmbeddingSink {
  const db = embeddingsDb(name);
  db.catch(() => undefined); // awaited by every use; this only silences an early rejection
  const rows = storeOf(db, ROWS_STORE);
  const meta = storeOf(db, META_STORE);
  let release: (() => void) | null = null;
  const sink: EmbeddingSink = {
    name: `indexeddb:${name}`,
    async resumeState() {
      release ??= await holdWriterLock(`indexeddb:${name}`);
      const committed = new Set((await keys(rows)).map(String));
      const description = (await get<FileDescription>(DESCRIPTION_KEY, meta)) ?? null;
      if (committed.size && !options.resume) {
        if (!options.overwrite) throw new EmbeddingsFileError(`indexeddb:${name}`, 'already holds rows: resume it, overwrite it, or choose another name');
        await clear(rows);
        await clear(meta);
        return { committed: committedFromSet(new Set()), description: null };
      }
      return { committed: committedFromSet(committed), description };
    },
    contains: async (id) => (await get(id, rows)) !== undefined,
    async write(description: FileDescription, batch: BatchRows) {
      const dim = description.dim;
      // Floats stay Float32Array (as before precisions existed); quantized precisions store their codes.
      const precision = precisionOf(description);
      const quantized = precision === 'float32' || precision === 'float16' ? null : quantize(batch.vectors, dim, precision, description.ranges);
      const width = storedWidth(precision, dim);
      const tx = (await db).transaction([ROWS_STORE, META_STORE], 'readwrite');
      try {
        tx.objectStore(META_STORE).put(description, DESCRIPTION_KEY);
        const store = tx.objectStore(ROWS_STORE);
        batch.ids.forEach((id, r) => store.put({
          id, embedding: quantized ? quantized.slice(r * width, (r + 1) * width) as Int8Array | Uint8Array : batch.vectors.slice(r * dim, (r + 1) * dim),
          textHash: batch.textHashes[r]!, metadata: batch.metadata[r]!,
        } satisfies StoredEmbedding, id));
        await promisifyRequest(tx);
      } catch (error) {
        // A put that throws (a value that cannot be stored) leaves the transaction open: abort it, so nothing of the batch lands.
        try { tx.abort(); } catch { /* already finished or aborted */ }
        if ((error as Error).name === 'QuotaExceededError') throw new StorageQuotaError(batch.ids.length * dim * 4, 0, { cause: error });
        throw error;
      }
    },
    async close() {
      release?.();
      release = null;
      (await db.catch(() => null))?.close();
    },
  };
  return withQuotaCheck(sink, options.estimate);
}

/** Reads every row of an IndexedDB embeddings store. */
export async function readIndexedDb(name: string, store?: UseStore): Promise<StoredEmbedding[]> {
  const db = store ? null : embeddingsDb(name);
  try {
    return (await entries<string, StoredEmbedding>(store ?? storeOf(db!, ROWS_STORE))).map(([, value]) => value);
  } finally {
    if (db) (await db).close();
  }
}
