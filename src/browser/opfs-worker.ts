// A dedicated worker holding OPFS sync access handles: createSyncAccessHandle exists only in
// dedicated workers, and gives exclusive, synchronous, flushable writes.
import * as Comlink from 'comlink';
import { searchFile, type SearchHit, type SearchOptions } from '../search/vector-search.js';
import { installErrorTransfer } from './error-transfer.js';
import { createInTurn } from '../util/in-turn.js';

installErrorTransfer(); // its EmbeddingsFileErrors reach the page as EmbeddingsFileErrors

interface SyncHandle {
  getSize(): number;
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

const handles = new Map<number, SyncHandle>();
let nextId = 1;

const handle = (id: number): SyncHandle => {
  const h = handles.get(id);
  if (!h) throw new Error(`OPFS handle ${id} is closed`);
  return h;
};

/** The OPFS file operations, by handle id. */
export const opfsApi = {
  async open(path: string, create: boolean): Promise<number> {
    let dir = await navigator.storage.getDirectory();
    const parts = path.split('/').filter(Boolean);
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create });
    const file = await dir.getFileHandle(parts.at(-1)!, { create });
    const h = (await (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle());
    const id = nextId++;
    handles.set(id, h);
    return id;
  },
  size: (id: number): number => handle(id).getSize(),
  read(id: number, offset: number, length: number): Uint8Array {
    const buffer = new Uint8Array(length);
    const got = handle(id).read(buffer, { at: offset });
    const out = got === length ? buffer : buffer.slice(0, got);
    return Comlink.transfer(out, [out.buffer]);
  },
  append(id: number, bytes: Uint8Array): void {
    const h = handle(id);
    const at = h.getSize();
    let written = 0;
    while (written < bytes.length) written += h.write(bytes.subarray(written), { at: at + written });
  },
  truncate: (id: number, size: number): void => handle(id).truncate(size),
  flush: (id: number): void => handle(id).flush(),
  close(id: number): void {
    handles.get(id)?.close();
    handles.delete(id);
  },
  /**
   * Searches a stored file here, in the worker: the page's thread only receives the hits. Searches of
   * one file take turns: a sync access handle is exclusive, so a second search opening the file while
   * the first reads it failed (a query typed, then submitted).
   */
  search(path: string, query: Float32Array, k: number, options: Omit<SearchOptions, 'stats'>): Promise<{ hits: SearchHit[]; bytesRead: number }> {
    let turn = searchTurns.get(path);
    if (!turn) searchTurns.set(path, (turn = createInTurn()));
    return turn(() => searchOnce(path, query, k, options));
  },
};

const searchTurns = new Map<string, <T>(task: () => Promise<T>) => Promise<T>>();

/** One search of a stored file through its own sync access handle, closed at the end. */
async function searchOnce(path: string, query: Float32Array, k: number, options: Omit<SearchOptions, 'stats'>): Promise<{ hits: SearchHit[]; bytesRead: number }> {
  const id = await opfsApi.open(path, false);
  const stats = { bytesRead: 0 };
  try {
    const file = {
      name: `opfs:${path}`,
      size: async () => opfsApi.size(id),
      read: async (offset: number, length: number) => {
        const buffer = new Uint8Array(length);
        const got = handle(id).read(buffer, { at: offset });
        return got === length ? buffer : buffer.slice(0, got);
      },
      append: async () => { throw new Error('read only'); },
      truncate: async () => { throw new Error('read only'); },
      sync: async () => undefined,
      close: async () => undefined,
    };
    return { hits: await searchFile(file, query, k, { ...options, stats }), bytesRead: stats.bytesRead };
  } finally {
    opfsApi.close(id);
  }
}

export type OpfsApi = typeof opfsApi;

Comlink.expose(opfsApi);
