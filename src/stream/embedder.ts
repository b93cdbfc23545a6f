// The embedder every runtime hands out: the engine's embed and dispose, plus streaming, with the
// runtime's own shorthands (a file path in Node, a Blob in the browser) turned into records and
// sinks by two adapter functions. One facade, so both entries stream the same way.
import type { Engine } from '../engine/engine.js';
import type { EmbeddingSink } from '../store/arrow-file.js';
import type { EmbedRecord, RecordSource } from '../source/records.js';
import type { Embedder, EmbedProgress } from '../base/types.js';
import { embedStream, embedTo, type EmbedToOptions, type EmbedToResult, type StreamBatch, type StreamOptions } from './embed-stream.js';

/**
 * `parsed: true` says the source already yields EmbedRecord objects ({ id, text, metadata }). Not
 * needed for the library's own readers (readRecordFile, readBlobRecords, shardRecords), which are
 * recognised, nor for items shaped exactly { id, text, metadata: {...} }.
 */
export interface ParsedOption {
  parsed?: boolean;
}

/** Records, or a runtime's shorthand for them. */
export type GenericSource = RecordSource | AsyncIterable<EmbedRecord>;

/** How a runtime turns its shorthands into what the stream takes. */
export interface StreamAdapters<Source, Sink, Extra> {
  /** Records (and the options to stream them with) for a source or its shorthand. */
  records(source: Source, options: StreamOptions & ParsedOption & Extra): [GenericSource, StreamOptions & ParsedOption];
  /** A sink for a sink or its shorthand. */
  sink(target: Sink, options: EmbedToOptions & Extra): Promise<EmbeddingSink>;
  /** Progress for calls that pass none (the browser's createEmbedder-level onProgress). */
  onProgress?: (progress: EmbedProgress) => void;
}

/** An embedder that also streams sources of any size into batches or a sink. */
export interface StreamingEmbedder<Source, Sink, Extra> extends Embedder {
  /** Embeds a source lazily; yields one batch per window, in source order. */
  embedStream(source: Source, options?: StreamOptions & ParsedOption & Extra): AsyncIterable<StreamBatch>;
  /** Drives a source into a sink, committing window by window. */
  embedTo(source: Source, sink: Sink, options?: EmbedToOptions & ParsedOption & Extra): Promise<EmbedToResult>;
}

/** The embedder facade over an engine, with a runtime's source and sink adapters. */
export function streamingEmbedder<Source, Sink, Extra>(engine: Engine, adapters: StreamAdapters<Source, Sink, Extra>): StreamingEmbedder<Source, Sink, Extra> {
  const { onProgress } = adapters;
  return {
    get info() {
      return engine.info;
    },
    get stats() {
      return engine.stats;
    },
    embed: (texts, call = {}) => engine.embed(texts, onProgress && !call.onProgress ? { ...call, onProgress } : call),
    dispose: () => engine.dispose(),
    embedStream(source, options = {} as StreamOptions & ParsedOption & Extra) {
      const [records, opts] = adapters.records(source, options);
      return embedStream(engine, records, opts);
    },
    async embedTo(source, sink, options = {} as EmbedToOptions & ParsedOption & Extra) {
      const target = await adapters.sink(sink, options);
      const [records, opts] = adapters.records(source, options);
      return embedTo(engine, records, target, { ...options, ...opts, onProgress: options.onProgress ?? onProgress });
    },
  };
}
