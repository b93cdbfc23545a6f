// Browser entry (`bulk-embed`): the shared engine over a pool of dedicated module workers running
// onnxruntime-web on WebGPU (fp16 where it is safe) or WASM. Node users import `bulk-embed/node`.
import type { ReadOptions } from './store/arrow-file.js';
import type { SearchHit, SearchOptions } from './search/vector-search.js';
import type { RandomAccessFile } from './format/random-access.js';
import { openOpfsFile, searchOpfsFile, type OpfsWorkerFactory } from './browser/storage.js';
import { createBrowserEmbedder, type BrowserEmbedder, type BrowserEmbedderOptions } from './browser/embedder.js';
import { readEmbeddingBatches, type EmbeddingBatch } from './store/arrow-file.js';
import { searchFile } from './search/vector-search.js';

export * from './api.js';
export { planDevices, type BrowserCapabilities, type BrowserDeviceRequest, type DevicePlan } from './browser/plan.js';
export { defaultWorkerFactory, type WorkerFactory } from './browser/pool.js';
export { opfsArrowSink, indexedDbSink, readIndexedDb, openOpfsFile, closeOpfsWorker, withQuotaCheck, StorageQuotaError, type StoredEmbedding, type StorageEstimate, type OpfsWorkerFactory } from './browser/storage.js';
export { detectCapabilities, readBlobRecords, type BlobOptions, type BrowserEmbedder, type BrowserEmbedderOptions, type BrowserSource } from './browser/embedder.js';

/** Loads a model in a pool of workers (WebGPU, else WASM) and returns an embedder; `signal` aborts loading. */
export function createEmbedder(options: BrowserEmbedderOptions = {}): Promise<BrowserEmbedder> {
  return createBrowserEmbedder(options);
}

/** Yields the record batches of an Arrow embeddings file (an OPFS path or an open file), lazily. */
export function readEmbeddings(file: string | RandomAccessFile, options: ReadOptions = {}): AsyncGenerator<EmbeddingBatch> {
  return readEmbeddingBatches(file, (path) => openOpfsFile(path, { create: false }), options);
}

/**
 * Top k rows of an Arrow embeddings file (an OPFS path or an open file) by cosine with `query`,
 * reading its vector column only. An OPFS path is searched inside the OPFS worker, off the page's thread.
 */
export function searchEmbeddings(
  file: string | RandomAccessFile, query: Float32Array, k = 10, options: SearchOptions & { factory?: OpfsWorkerFactory } = {},
): Promise<SearchHit[]> {
  return typeof file === 'string' ? searchOpfsFile(file, query, k, options) : searchFile(file, query, k, options);
}

