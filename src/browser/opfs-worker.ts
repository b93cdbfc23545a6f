// A dedicated worker holding OPFS sync access handles: createSyncAccessHandle exists only in
// dedicated workers, and gives exclusive, synchronous, flushable writes.
import * as Comlink from 'comlink';
import { searchFile, type SearchHit, type SearchOptions } from '../search/vector-search.js';
import { installErrorTransfer } from './error-transfer.js';

installErrorTransfer(); // its EmbeddingsFileErrors reach the page as EmbeddingsFileErrors

interface SyncHandle {
  getSize(): number;
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

// One sync access handle per file, shared by every open of it in this worker: a handle is exclusive
// (a second createSyncAccessHandle on the file fails while one is open), and reads name their
// offset, so a search, the rows read for a map and a run's writer can use one handle at once. A
// writer that cuts the file under a reader makes that reader fail with a typed error
// (format/random-access.ts readExactly), never read garbage.
interface SharedHandle { path: string; handle: SyncHandle; users: number }
/** An open's use of a shared handle: whether it wrote (its close then flushes). */
interface Use { shared: SharedHandle; wrote: boolean }
const byPath = new Map<string, Promise<SharedHandle>>();
const uses = new Map<number, Use>();
let nextId = 1;

const use = (id: number): Use => {
  const u = uses.get(id);
  if (!u) throw new Error(`OPFS handle ${id} is closed`);
  return u;
};
const handle = (id: number): SyncHandle => use(id).shared.handle;
const writing = (id: number): SyncHandle => {
  const u = use(id);
  u.wrote = true;
  return u.shared.handle;
};

/** Up to `length` bytes at `offset` (fewer past the end of the file). */
function readAt(id: number, offset: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  const got = handle(id).read(buffer, { at: offset });
  return got === length ? buffer : buffer.slice(0, got);
}

async function openShared(path: string, create: boolean): Promise<SharedHandle> {
  let dir = await navigator.storage.getDirectory();
  const parts = path.split('/').filter(Boolean);
  for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create });
  const file = await dir.getFileHandle(parts.at(-1)!, { create });
  const h = await (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle();
  return { path: parts.join('/'), handle: h, users: 0 };
}

/** Makes `pending` the open of `key` that later opens share, until it fails. */
function share(key: string, pending: Promise<SharedHandle>): Promise<SharedHandle> {
  byPath.set(key, pending);
  pending.catch(() => {
    if (byPath.get(key) === pending) byPath.delete(key);
  });
  return pending;
}

/** The OPFS file operations, by handle id. */
export const opfsApi = {
  async open(path: string, create: boolean): Promise<number> {
    const key = path.split('/').filter(Boolean).join('/');
    const inFlight = byPath.get(key);
    // Kept while it opens, so two opens at once share one handle too. An open that may create the
    // file does not inherit the NotFound of one in flight that may not (a search beside a new run).
    const pending = !inFlight ? share(key, openShared(path, create))
      : create ? share(key, inFlight.catch((error: Error) => (error.name === 'NotFoundError' ? openShared(path, true) : Promise.reject(error))))
        : inFlight;
    const shared = await pending;
    shared.users += 1;
    const id = nextId++;
    uses.set(id, { shared, wrote: false });
    return id;
  },
  size: (id: number): number => handle(id).getSize(),
  read(id: number, offset: number, length: number): Uint8Array {
    const out = readAt(id, offset, length);
    return Comlink.transfer(out, [out.buffer]);
  },
  append(id: number, bytes: Uint8Array): void {
    const h = writing(id);
    const at = h.getSize();
    let written = 0;
    while (written < bytes.length) written += h.write(bytes.subarray(written), { at: at + written });
  },
  truncate: (id: number, size: number): void => writing(id).truncate(size),
  flush: (id: number): void => handle(id).flush(),
  close(id: number): void {
    const u = uses.get(id);
    if (!u) return;
    uses.delete(id);
    const { shared } = u;
    shared.users -= 1;
    if (shared.users > 0) {
      if (u.wrote) shared.handle.flush(); // what this user wrote is on disk, as a close would leave it
      return;
    }
    byPath.delete(shared.path); // no open can be waiting on it: one would have counted itself already
    shared.handle.close();
  },
  /** Searches a stored file here, in the worker (the page's thread only receives the hits), through its shared handle. */
  async search(path: string, query: Float32Array, k: number, options: Omit<SearchOptions, 'stats'>): Promise<{ hits: SearchHit[]; bytesRead: number }> {
    const id = await opfsApi.open(path, false);
    const stats = { bytesRead: 0 };
    try {
      const file = {
        name: `opfs:${path}`,
        size: async () => opfsApi.size(id),
        read: async (offset: number, length: number) => readAt(id, offset, length),
        append: async () => { throw new Error('read only'); },
        truncate: async () => { throw new Error('read only'); },
        sync: async () => undefined,
        close: async () => undefined,
      };
      return { hits: await searchFile(file, query, k, { ...options, stats }), bytesRead: stats.bytesRead };
    } finally {
      opfsApi.close(id);
    }
  },
};

export type OpfsApi = typeof opfsApi;

Comlink.expose(opfsApi);
