// Node's side of the file seam: a RandomAccessFile over fs/promises. A writer holds a lock file
// beside its target (PATH.lock, created exclusively), so two runs never append to one file; a
// lock left by a killed run is recognised as stale by its dead process id and taken over. OS
// errors (a directory, a read-only disk, a full disk...) become EmbeddingsFileErrors naming the path.
import { open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { EmbeddingsFileError, FileLockedError } from '../core/errors.js';
import type { RandomAccessFile } from './random-access.js';

const OS_PROBLEMS: Record<string, string> = {
  EISDIR: 'is a directory',
  ENOTDIR: 'has a path component that is not a directory',
  EROFS: 'is on a read-only file system',
  EACCES: 'cannot be accessed (permission denied)',
  EPERM: 'cannot be accessed (operation not permitted)',
  ENOSPC: 'cannot grow: the disk is full (the rows committed so far stay; resume once there is space)',
  EDQUOT: 'cannot grow: the disk quota is exhausted (the rows committed so far stay; resume once there is space)',
  EIO: 'met an input/output error of the device',
  ENOENT: 'does not exist',
};

/** Turns an fs error about `path` into an EmbeddingsFileError with its code; other errors pass through. */
export function fileError(path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (!code || !(code in OS_PROBLEMS)) return error;
  return Object.assign(new EmbeddingsFileError(path, `${OS_PROBLEMS[code]} (${code})`), { code, cause: error });
}

async function guarded<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw fileError(path, error);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the writer's lock on `path`; throws FileLockedError naming the holder when a live run has it. */
export async function lockFile(path: string): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  const me = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(JSON.stringify(me));
      await handle.close();
      return async () => {
        await unlink(lockPath).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(lockPath, error);
    }
    let holder: { pid?: number; host?: string; since?: string } = {};
    try {
      holder = JSON.parse(await readFile(lockPath, 'utf8'));
    } catch {
      // Written by a run killed between creating and filling the lock: treat as stale below.
    }
    const stale = holder.pid === undefined || (holder.host === me.host && !alive(holder.pid));
    if (!stale) throw new FileLockedError(path, `process ${holder.pid} on ${holder.host} since ${holder.since}`);
    await unlink(lockPath).catch(() => undefined);
  }
  throw new FileLockedError(path, 'another run that took the lock at the same moment');
}

/**
 * Opens a file: for reading and appending (creating it if needed, and taking the writer's
 * lock), or with `readOnly` an existing file (no lock: readers never block).
 */
export async function openNodeFile(path: string, readOnly = false): Promise<RandomAccessFile> {
  const unlock = readOnly ? null : await lockFile(path);
  let handle: FileHandle;
  let size: number;
  try {
    handle = await guarded(path, () => open(path, readOnly ? 'r' : 'a+'));
    size = (await handle.stat()).size;
  } catch (error) {
    await unlock?.();
    throw error;
  }
  return {
    name: path,
    size: async () => size,
    read: (offset, length) => guarded(path, async () => {
      const buffer = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buffer, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buffer : buffer.subarray(0, got);
    }),
    append: (bytes) => guarded(path, async () => {
      let written = 0;
      try {
        while (written < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
          written += bytesWritten;
        }
      } finally {
        size += written; // a partial append (disk full) is a torn tail that resume cuts off
      }
    }),
    truncate: (length) => guarded(path, async () => {
      await handle.truncate(length);
      size = length;
    }),
    sync: () => guarded(path, () => handle.datasync()),
    close: async () => {
      try {
        await handle.close();
      } finally {
        await unlock?.();
      }
    },
  };
}
