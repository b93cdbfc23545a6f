// Model file resolution: a local folder, a URL base in hub layout, or a hub id resolved the way
// transformers.js resolves it (the same settings as its `env`: localModelPath, allowLocalModels,
// remoteHost, remotePathTemplate, allowRemoteModels). Reading local files is injected, so the
// same code runs in Node (fs) and in browsers (fetch only).
import { AbortError, ModelFileError } from '../base/errors.js';
import type { WeightsDtype } from '../base/types.js';
import { RetryableFetchError, retryAfterMs, withRetries, type RetryNotice, type RetryPolicy } from './fetch-retry.js';

/** How hub ids are resolved; the fields and defaults of transformers.js `env`. */
export interface HubSettings {
  /** Default 'https://huggingface.co/'. */
  remoteHost?: string;
  /** Default '{model}/resolve/{revision}/'. */
  remotePathTemplate?: string;
  /** Default 'main'. */
  revision?: string;
  /** Folder or URL path tried first when allowLocalModels is on (default '/models/'). */
  localModelPath?: string;
  /** Default true. */
  allowRemoteModels?: boolean;
  /** Default false. */
  allowLocalModels?: boolean;
}

/** The settings hub ids are resolved with when none are given. */
export const DEFAULT_HUB: Required<HubSettings> = {
  remoteHost: 'https://huggingface.co/',
  remotePathTemplate: '{model}/resolve/{revision}/',
  revision: 'main',
  localModelPath: '/models/',
  allowRemoteModels: true,
  allowLocalModels: false,
};

/** Reads the files of one model folder in hub layout. */
export interface ModelFiles {
  /** Human-readable location, used in info and errors. */
  readonly location: string;
  /**
   * What a file written with this model records as its model (default `location`): a folder
   * relative to the working directory when inside it, a same-origin URL's path, a hub id as is;
   * never a machine's absolute path where a shorter stable name exists. Resume recognises the model by
   * its fingerprint, not by this name.
   */
  readonly recordedAs?: string;
  /**
   * Bytes of a file relative to the model root (e.g. "onnx/model.onnx"). `optional`: a file the
   * model may lack, fetched once without retries; a failed request throws a ModelFileError with
   * `unreachable` set (offline, say), which callers may treat as absent.
   */
  read(name: string, options?: { optional?: boolean }): Promise<Uint8Array>;
  /**
   * Each read returns new bytes the caller owns (the library's own folders, URLs and hub): a load
   * then frees the weights as soon as ONNX Runtime holds its copy. Absent (injected files, which may
   * hand out bytes they keep): the load leaves them alone.
   */
  readonly freshReads?: boolean;
  /** Whether a file is there, without reading it (a HEAD request for URLs); absent: unknown. */
  exists?(name: string): Promise<boolean>;
}

/**
 * `files` with the named files read once however many readers ask (each gets its own copy, so
 * `freshReads` stays true): a load and the tokenizer threads starting beside it share one download
 * of config.json and the tokenizer. `forget` drops what was kept, once every reader has its bytes;
 * later reads (a lazily loaded second session) go straight to `files`.
 */
export function sharingReads(files: ModelFiles, names: readonly string[]): { files: ModelFiles; forget: () => void } {
  const kept = new Map<string, Promise<Uint8Array>>();
  let keeping = true;
  // Named field by field: injected files may be a class, whose methods and getters a spread would drop.
  const shared: ModelFiles = {
    location: files.location,
    recordedAs: files.recordedAs,
    freshReads: files.freshReads,
    read(name, options) {
      if (!keeping || !names.includes(name)) return files.read(name, options);
      let pending = kept.get(name);
      if (!pending) kept.set(name, (pending = files.read(name, options)));
      return pending.then((bytes) => bytes.slice());
    },
    ...(files.exists ? { exists: (name: string) => files.exists!(name) } : {}),
  };
  return { files: shared, forget: () => { keeping = false; kept.clear(); } };
}

/** Runtime hooks for reaching files; Node injects fs, browsers rely on fetch. */
export interface FileAccess {
  /** Reads a local file, or returns null when it does not exist. */
  readLocal?: (path: string) => Promise<Uint8Array | null>;
  /** True when a local file exists. */
  localFileExists?: (path: string) => Promise<boolean>;
  /** True when `path` is an existing local directory. */
  isLocalDirectory?: (path: string) => Promise<boolean>;
  /** Makes a local path absolute, so files are read the same whichever way the folder was named. */
  resolveLocal?: (path: string) => string;
  /** The name a local folder is recorded under (ModelFiles.recordedAs), e.g. relative to the working directory. */
  recordLocal?: (absolutePath: string) => string;
  fetch?: typeof fetch;
  /** Told as bytes of a fetched file arrive (total is 0 when the server gives no length). */
  onDownload?: (url: string, loaded: number, total: number) => void;
  /** How hub ids are resolved (defaults: DEFAULT_HUB). */
  hub?: HubSettings;
  /** How failed downloads are retried (network errors, 429, 5xx; never 404/403). */
  retry?: RetryPolicy;
  /** Told before each retry. */
  onRetry?: (notice: RetryNotice) => void;
  /** Cancels downloads and the waits between retries. */
  signal?: AbortSignal;
}

/** Reads a JSON file of a model. */
export async function readModelJson<T = Record<string, unknown>>(files: ModelFiles, name: string): Promise<T> {
  return parseModelJson<T>(await files.read(name), files, name);
}

/** Parses the bytes of a model's JSON file; malformed JSON is a ModelFileError naming the file. */
export function parseModelJson<T = Record<string, unknown>>(bytes: Uint8Array, files: ModelFiles, name: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (cause) {
    throw new ModelFileError(name, files.location, `not valid JSON (${(cause as Error).message})`, { cause });
  }
}

const HUB_ID = /^[\w.-]+(\/[\w.-]+)?$/;

/** Picks the reader for a model location: URL base, local folder, or hub id. */
export async function resolveModelFiles(location: string, access: FileAccess = {}): Promise<ModelFiles> {
  if (/^https?:\/\//i.test(location)) return urlFiles(location, access);
  if (access.isLocalDirectory && (await access.isLocalDirectory(location))) return localFiles(location, access);
  if (HUB_ID.test(location) && !location.includes('..')) return hubFiles(location, access);
  throw new ModelFileError('(model root)', location, 'not an existing folder, an http(s) URL, or a hub id like "Xenova/all-MiniLM-L6-v2"');
}

function localFiles(root: string, access: FileAccess): ModelFiles {
  const location = (access.resolveLocal?.(root) ?? root).replace(/\/+$/, '');
  return {
    location,
    recordedAs: access.recordLocal?.(location) ?? location,
    freshReads: true,
    async read(name) {
      const bytes = await access.readLocal!(`${location}/${name}`);
      if (!bytes) throw new ModelFileError(name, location, 'file not found', { notFound: true });
      return bytes;
    },
    ...(access.localFileExists ? { exists: (name: string) => access.localFileExists!(`${location}/${name}`) } : {}),
  };
}

function urlFiles(base: string, access: FileAccess): ModelFiles {
  const location = base.replace(/\/+$/, '');
  // A model served by the page's own origin is recorded by its path: the same app on another port or host is the same model.
  const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
  return {
    location,
    recordedAs: origin && origin !== 'null' && location.startsWith(`${origin}/`) ? location.slice(origin.length) : location,
    freshReads: true,
    async read(name, options) {
      const bytes = await fetchMaybeOptional(`${location}/${name}`, name, location, access, options?.optional);
      if (!bytes) throw new ModelFileError(name, location, 'not found (HTTP 404)', { notFound: true });
      return bytes;
    },
    exists: (name) => urlExists(`${location}/${name}`, access),
  };
}

function hubFiles(id: string, access: FileAccess): ModelFiles {
  return {
    location: id,
    freshReads: true,
    async exists(name) {
      const env = { ...DEFAULT_HUB, ...access.hub };
      if (env.allowLocalModels && env.localModelPath) {
        const path = `${String(env.localModelPath).replace(/\/+$/, '')}/${id}/${name}`;
        if (access.localFileExists ? await access.localFileExists(path) : await urlExists(path, access)) return true;
      }
      if (!env.allowRemoteModels) return false;
      const folder = env.remotePathTemplate.replaceAll('{model}', id).replaceAll('{revision}', env.revision);
      return urlExists(`${env.remoteHost.replace(/\/+$/, '')}/${folder.replace(/^\/+|\/+$/g, '')}/${name}`, access);
    },
    async read(name, options) {
      const tried: string[] = [];
      const env = { ...DEFAULT_HUB, ...access.hub };
      if (env.allowLocalModels && env.localModelPath) {
        const path = `${String(env.localModelPath).replace(/\/+$/, '')}/${id}/${name}`;
        tried.push(path);
        const local = access.readLocal ? await access.readLocal(path) : await fetchBytes(path, access).catch(() => null);
        if (local) return local;
      }
      if (env.allowRemoteModels) {
        const folder = env.remotePathTemplate.replaceAll('{model}', id).replaceAll('{revision}', env.revision);
        const url = `${env.remoteHost.replace(/\/+$/, '')}/${folder.replace(/^\/+|\/+$/g, '')}/${name}`;
        tried.push(url);
        const remote = await fetchMaybeOptional(url, name, id, access, options?.optional);
        if (remote) return remote;
      }
      const reason = tried.length
        ? `not found (tried ${tried.join(', ')})`
        : 'not found: the hub settings allow neither local nor remote models';
      throw new ModelFileError(name, id, reason, { notFound: tried.length > 0 });
    },
  };
}

/** fetchBytes, or for an optional file one try whose failure is reported as `unreachable`. */
async function fetchMaybeOptional(url: string, name: string, location: string, access: FileAccess, optional = false): Promise<Uint8Array | null> {
  if (!optional) return fetchBytes(url, access);
  try {
    return await fetchBytes(url, { ...access, retry: { retries: 0 } });
  } catch (error) {
    if (error instanceof AbortError) throw error;
    throw new ModelFileError(name, location, `could not be fetched (${(error as Error).message})`, { cause: error, unreachable: true });
  }
}

/**
 * True for an HTML page served in place of a model file: single-page-app servers (Vite's dev and
 * preview servers among them) answer a missing path with index.html and status 200, which must
 * count as absent, not as a malformed file.
 */
function spaFallback(url: string, response: Response): boolean {
  return response.ok && /^text\/html\b/i.test(response.headers.get('content-type') ?? '') && !/\.html?$/i.test(new URL(url, 'http://x/').pathname);
}

/** Whether a URL answers a HEAD request with success (any failure counts as absent). */
async function urlExists(url: string, access: FileAccess): Promise<boolean> {
  const doFetch = access.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!doFetch) return false;
  try {
    const response = await doFetch(url, { method: 'HEAD', ...(access.signal ? { signal: access.signal } : {}) });
    return response.ok && !spaFallback(url, response);
  } catch {
    return false;
  }
}

/** An error naming the file once: "model file config.json at https://host/model/resolve/main: ...". */
function urlError(url: string, reason: string): ModelFileError {
  const cut = url.lastIndexOf('/');
  return new ModelFileError(url.slice(cut + 1), url.slice(0, cut), reason);
}

/** Downloads a file (null on 404), retrying network errors, 429 and 5xx as `access.retry` says. */
async function fetchBytes(url: string, access: FileAccess): Promise<Uint8Array | null> {
  const doFetch = access.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!doFetch) throw urlError(url, 'no fetch() in this runtime');
  const { onDownload, signal } = access;
  const once = async (): Promise<Uint8Array | null> => {
    let response: Response;
    try {
      response = await doFetch(url, signal ? { signal } : undefined);
    } catch (cause) {
      if (signal?.aborted) throw new AbortError(signal.reason);
      throw new RetryableFetchError(`request failed (${(cause as Error).message})`);
    }
    if (response.status === 404 || spaFallback(url, response)) {
      await response.body?.cancel();
      return null;
    }
    if (response.status === 429 || response.status >= 500) {
      await response.body?.cancel();
      throw new RetryableFetchError(`HTTP ${response.status}`, retryAfterMs(response.headers.get('retry-after')));
    }
    if (!response.ok) throw urlError(url, `HTTP ${response.status}`);
    if (!onDownload || !response.body) return new Uint8Array(await response.arrayBuffer());
    const total = Number(response.headers.get('content-length') ?? 0) || 0;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.byteLength;
        onDownload(url, loaded, total);
      }
    } catch (cause) {
      if (signal?.aborted) throw new AbortError(signal.reason);
      throw new RetryableFetchError(`download cut off after ${loaded} bytes (${(cause as Error).message})`);
    }
    // Without a Content-Length the last chunk is not recognisable as the last: say so once more.
    if (total !== loaded) onDownload(url, loaded, loaded);
    const bytes = new Uint8Array(loaded);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return bytes;
  };
  return withRetries(url, once, (reason, tries) => urlError(url, `${reason}, ${tries} tries`), {
    policy: access.retry, signal, onRetry: access.onRetry,
  });
}

/** The weights file of each dtype in the hub layout, named as transformers.js names them. */
export const DTYPE_FILES = {
  fp32: 'onnx/model.onnx',
  fp16: 'onnx/model_fp16.onnx',
  q8: 'onnx/model_quantized.onnx',
  int8: 'onnx/model_int8.onnx',
  uint8: 'onnx/model_uint8.onnx',
  q4: 'onnx/model_q4.onnx',
  q4f16: 'onnx/model_q4f16.onnx',
  bnb4: 'onnx/model_bnb4.onnx',
} as const satisfies Record<WeightsDtype, string>;

export const WEIGHTS_DTYPES = Object.keys(DTYPE_FILES) as WeightsDtype[];
export type { WeightsDtype };

/** The dtypes whose weights file a model has (each checked without downloading it); null when the files cannot tell. */
export async function availableDtypes(files: ModelFiles): Promise<WeightsDtype[] | null> {
  if (!files.exists) return null;
  const found = await Promise.all(WEIGHTS_DTYPES.map((d) => files.exists!(DTYPE_FILES[d])));
  return WEIGHTS_DTYPES.filter((_, i) => found[i]);
}
