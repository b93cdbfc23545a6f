// Typed errors: each names the problem and where it is (which text, which file), so callers can
// branch on the class and users can read the message.

/** Base class of every error this library throws on purpose. */
// Names are literal strings: minifiers rename classes, and callers match on error.name.
export class EmbedError extends Error {
  override name = 'EmbedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * An input that is not a string: names its position in the input. An EmbedError like every error
 * the library throws on purpose (it was a TypeError before issue 23).
 */
export class InvalidTextError extends EmbedError {
  override name = 'InvalidTextError';
  constructor(readonly index: number, value: unknown) {
    super(`text at index ${index} is ${describe(value)}, not a string`);
  }
}

/** An option with a value the library cannot use. */
export class InvalidOptionError extends EmbedError {
  override name = 'InvalidOptionError';
  constructor(readonly option: string, message: string) {
    super(`option ${option}: ${message}`);
  }
}

/** A model file that could not be found or read: names the file and where it was looked for. */
export class ModelFileError extends EmbedError {
  override name = 'ModelFileError';
  /** True when the file does not exist (as opposed to existing but unreadable or malformed). */
  readonly notFound: boolean;
  /** True when an optional file could not be fetched at all (offline, a failing server). */
  readonly unreachable: boolean;
  constructor(readonly file: string, readonly location: string, reason: string, options?: { cause?: unknown; notFound?: boolean; unreachable?: boolean }) {
    super(`model file ${file} at ${location}: ${reason}`, options);
    this.notFound = options?.notFound ?? false;
    this.unreachable = options?.unreachable ?? false;
  }
}

/** A model whose graph the library cannot use (no hidden-state output, wrong rank...). */
export class ModelFormatError extends EmbedError {
  override name = 'ModelFormatError';
}

/** A model family the engine cannot run: names its model_type and the graph inputs or outputs it saw. */
export class UnsupportedModelError extends ModelFormatError {
  override name = 'UnsupportedModelError';
  constructor(readonly modelType: string, readonly inputs: string[], readonly outputs: string[], reason: string) {
    super(`model type "${modelType || 'unknown'}" is not supported: ${reason} (graph inputs: ${inputs.join(', ') || 'none'}; outputs: ${outputs.join(', ') || 'none'})`);
  }
}

/** A call on an embedder after dispose(). */
export class DisposedError extends EmbedError {
  override name = 'DisposedError';
  constructor() {
    super('the embedder was disposed');
  }
}

/**
 * An embed cancelled through its AbortSignal; from embedTo, `committed` rows of this run were
 * written and stay; from embedStream, `yielded` records were handed out before it.
 */
export class AbortError extends EmbedError {
  override name = 'AbortError';
  readonly committed?: number;
  readonly yielded?: number;
  constructor(reason?: unknown, details: { committed?: number; yielded?: number } = {}) {
    // A bare abort() gives a DOMException named AbortError whose message adds nothing.
    const plain = reason === undefined || (reason instanceof Error && reason.name === 'AbortError');
    const committed = details.committed === undefined ? '' : `; ${details.committed} rows of this run were committed and stay (resume continues)`;
    const yielded = details.yielded === undefined ? '' : `; ${details.yielded} records were yielded before it`;
    super(`embedding was aborted${plain ? '' : `: ${reason instanceof Error ? reason.message : String(reason)}`}${committed}${yielded}`);
    if (details.committed !== undefined) this.committed = details.committed;
    if (details.yielded !== undefined) this.yielded = details.yielded;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : type === 'undefined' ? 'undefined' : `a ${type}`;
}

/** A malformed input file or record: names the file (or source) and the line or record. */
export class InputFormatError extends EmbedError {
  override name = 'InputFormatError';
  constructor(readonly where: string, message: string, options?: { cause?: unknown }) {
    // Input text quoted in a message (a bad JSON line's parser error) is shown with its control
    // characters escaped: a NUL or an escape sequence must not reach the terminal raw.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    super(`${where}: ${message}`.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), options);
  }
}

/** An Arrow embeddings file that is truncated, corrupt, or not what was expected. */
export class EmbeddingsFileError extends EmbedError {
  override name = 'EmbeddingsFileError';
  constructor(readonly file: string, message: string, readonly validBytes?: number) {
    super(`${file}: ${message}`);
  }
}

/** An optional package this entry point needs is not installed: names it and the install command. */
export class MissingDependencyError extends EmbedError {
  override name = 'MissingDependencyError';
  constructor(readonly packageName: string, purpose: string, options?: { cause?: unknown }) {
    super(`${purpose} needs the package ${packageName}, which is not installed: run \`npm install ${packageName}\``, options);
  }
}

/** A worker that failed to start or to load the model, or went silent past the load timeout. */
export class WorkerStartError extends EmbedError {
  override name = 'WorkerStartError';
  constructor(readonly worker: string, reason: string, options?: { cause?: unknown }) {
    super(`worker ${worker} failed to start: ${reason}`, options);
  }
}

/** The browser `createEmbedder` ran where dedicated workers cannot be made (a SharedWorker, a service worker). */
export class WorkerUnavailableError extends EmbedError {
  override name = 'WorkerUnavailableError';
  constructor(readonly context: string) {
    super(
      `createEmbedder runs its model in dedicated Web Workers, and this context (${context}) cannot start them: ` +
        'call it from a page or from a dedicated worker of your own, or pass workerFactory',
    );
  }
}

/** A tokenizer thread that failed after it started (its slice is then tokenized in place). */
export class TokenizerThreadError extends EmbedError {
  override name = 'TokenizerThreadError';
  constructor(readonly thread: string, reason: string, options?: { cause?: unknown }) {
    super(`tokenizer thread ${thread}: ${reason}`, options);
  }
}

/** onnxruntime-web's .wasm/.mjs files are not where the library looks for them: says how to serve them. */
export class RuntimeAssetsError extends EmbedError {
  override name = 'RuntimeAssetsError';
  constructor(readonly url: string, reason: string) {
    super(
      `onnxruntime-web's file ${url} ${reason}. Add the plugin from 'bulk-embed/vite' to your Vite config ` +
        '(plugins: [onnxRuntimeAssets()]), or serve onnxruntime-web\'s dist/ files yourself and pass their folder as wasmPaths.',
    );
  }
}

/** Another writer holds the embeddings file: names the holder, so the user can tell which run it is. */
export class FileLockedError extends EmbeddingsFileError {
  override name = 'FileLockedError';
  constructor(file: string, readonly holder: string, hint = ` (if no such run is alive, delete ${file}.lock)`) {
    super(file, `is being written by ${holder}; one writer at a time${hint}`);
  }
}

/** What broke a lane: its worker died or hung, or its GPU device was lost. */
export type LaneFaultKind = 'crashed' | 'timeout' | 'device-lost' | 'error';

/**
 * A lane that cannot go on as it is (a worker terminated or silent past its bound, a lost GPU
 * device). The engine runs the batch again elsewhere and rebuilds the lane.
 */
export class LaneFaultError extends EmbedError {
  override name = 'LaneFaultError';
  constructor(readonly lane: string, readonly kind: LaneFaultKind, reason: string, options?: { cause?: unknown }) {
    super(`${lane}: ${reason}`, options);
  }
}

/** No lane could run the work: every retry of a batch failed, or every lane is out for good. Names the causes. */
export class LanesFailedError extends EmbedError {
  override name = 'LanesFailedError';
  constructor(message: string, readonly causes: readonly Error[]) {
    super(message, { cause: causes[causes.length - 1] });
  }
}

/** The model gave a vector with NaN or Inf (or off unit length when normalising) even in full precision: names the text. */
export class InvalidOutputError extends EmbedError {
  override name = 'InvalidOutputError';
  constructor(readonly index: number, reason: string) {
    super(`the vector of text ${index} ${reason}`);
  }
}

/**
 * Scheduler variables that cannot give one shard: none set, a value that is not a whole number,
 * two schedulers (or a scheduler and `--shards`) that disagree, a Slurm array with gaps.
 * A usage error of the `shards` option (the CLI exits 2).
 */
export class SchedulerShardError extends InvalidOptionError {
  override name = 'SchedulerShardError';
  constructor(message: string, readonly variables: string[] = []) {
    super('shards', message);
  }
}
