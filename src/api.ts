// The universal surface: what both entries export, whatever the runtime. `bulk-embed` (browser)
// and `bulk-embed/node` re-export all of it and add only their adapters and their createEmbedder.

export * from './base/types.js';
export * from './base/errors.js';
export { DEFAULT_MODEL, type ModelOptions } from './base/options.js';
export { fnv1a32, parseShard, shardFileName, shardFromEnvironment, shardOf, shardRecords, type Shard } from './source/shard.js';
export { shardFromScheduler, type SchedulerShard } from './source/scheduler.js';
export { DEFAULT_HUB, type FileAccess, type HubSettings, type ModelFiles } from './model/files.js';
export type { RetryNotice, RetryPolicy } from './model/fetch-retry.js';
export type { ResiliencePolicy } from './engine/lane-runner.js';
export type { EngineSettings } from './engine/engine.js';
export type { InferenceBackend } from './engine/load.js';
export { arrowFileSink, type EmbeddingBatch, type ArrowSinkOptions, type EmbeddingSink, type ReadOptions, type ResumeState } from './store/arrow-file.js';
export type { CommittedIds } from './store/committed.js';
export type { SearchHit, SearchOptions } from './search/vector-search.js';
export { PRECISIONS, type Precision, type QuantRanges } from './format/precision.js';
export type { RandomAccessFile } from './format/random-access.js';
export { textHash } from './format/text-hash.js';
export type { BatchRows } from './format/encode.js';
export type { FileDescription } from './format/schema.js';
export type { StreamBatch, StreamOptions, EmbedToOptions, EmbedToResult } from './stream/embed-stream.js';
export type { GenericSource, ParsedOption, StreamingEmbedder } from './stream/embedder.js';
export type { EmbedRecord, RecordSource, RecordOptions, SourceItem, MetadataValue } from './source/records.js';
export type { TextFormat } from './source/text-formats.js';


