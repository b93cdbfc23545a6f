// Node's side of the file seam: a RandomAccessFile over fs/promises. A writer holds a lock file
// beside its target (PATH.lock, created exclusively), so two runs never append to one file; the
// lock is a lease its holder renews (mtime heartbeat), so a lock left by a killed run is taken over
// once it lapses, or at once when its process is visibly dead on this host. OS
// errors (a directory, a read-only disk, a full disk...) become EmbeddingsFileErrors naming the path.
import { open, readFile, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { EmbeddingsFileError, FileLockedError } from '../base/errors.js';
import type { RandomAccessFile } from '../format/random-access.js';

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

/** What a full disk means for a file written whole or not at all (an export): nothing of it stays. */
const WHOLE_FILE_PROBLEMS: Record<string, string> = {
  ENOSPC: 'cannot grow: the disk is full (nothing was written; export again once there is space)',
  EDQUOT: 'cannot grow: the disk quota is exhausted (nothing was written; export again once there is space)',
};

/**
 * Turns an fs error about `path` into an EmbeddingsFileError with its code; other errors pass
 * through. `wholeFile`: the file is written whole or not at all, so a full disk leaves nothing.
 */
export function fileError(path: string, error: unknown, wholeFile = false): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (!code || !(code in OS_PROBLEMS)) return error;
  const problem = (wholeFile ? WHOLE_FILE_PROBLEMS[code] : undefined) ?? OS_PROBLEMS[code];
  return Object.assign(new EmbeddingsFileError(path, `${problem} (${code})`), { code, cause: error });
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

/**
 * How long a writer's lock counts as held after its last heartbeat: the writer touches the lock
 * file's mtime every third of it. 30 s by default; BULK_EMBED_LOCK_LEASE_MS overrides it (tests,
 * slow shared volumes). A process id alone cannot tell a dead holder in containers: a pod's node
 * runs as PID 1, and the same PID 1 of the next container (or a live process elsewhere on a shared
 * volume) looks alive, so the lease decides.
 */
export function lockLeaseMs(env: Record<string, string | undefined> = process.env): number {
  const raw = env.BULK_EMBED_LOCK_LEASE_MS;
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(n) && n >= 100 ? n : 30_000;
}

/** Lock files this process holds now: a lock naming our own pid and host that is not here was left by an earlier process with our pid (PID 1 in a restarted container). */
const heldHere = new Set<string>();

interface LockHolder {
  pid?: number;
  host?: string;
  since?: string;
  leaseMs?: number;
}

/** What a lock file says about its holder, and whether it is stale without waiting; null when there is no lock. */
async function inspectLock(lockPath: string): Promise<{ holder: LockHolder; mtimeMs: number; stale: boolean; describe: string } | null> {
  let holder: LockHolder = {};
  let mtimeMs = 0;
  try {
    mtimeMs = (await stat(lockPath)).mtimeMs;
    holder = JSON.parse(await readFile(lockPath, 'utf8')) as LockHolder;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // Empty or half-written: a run taking the lock this instant (it fills it right after creating
    // it), or one killed in between; only the second is stale, told apart by the lock's age.
    const taking = Date.now() - mtimeMs < Math.min(lockLeaseMs(), 5_000);
    return { holder, mtimeMs, stale: !taking, describe: taking ? 'a run taking the lock at this moment' : 'a run killed while taking the lock' };
  }
  const me = hostname();
  const lease = typeof holder.leaseMs === 'number' && holder.leaseMs > 0 ? holder.leaseMs : lockLeaseMs();
  const sameHost = holder.host === me;
  const stale = holder.pid === undefined ||
    (sameHost && holder.pid === process.pid && !heldHere.has(lockPath)) ||
    (sameHost && !alive(holder.pid)) ||
    Date.now() - mtimeMs > lease;
  const describe = `process ${holder.pid} on ${holder.host} since ${holder.since}, lease renewed ${Math.round((Date.now() - mtimeMs) / 1000)} s ago`;
  return { holder, mtimeMs, stale, describe };
}

/**
 * The live writer of `path`, described, or null when none holds it (no lock, or a stale one).
 * Readers of a whole collection (export, info, search of a folder) refuse a file still being written.
 */
export async function liveWriter(path: string): Promise<string | null> {
  const lock = await inspectLock(`${path}.lock`);
  return lock && !lock.stale ? lock.describe : null;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Takes the writer's lock on `path`; throws FileLockedError naming the holder when a live run has
 * it. The lock is a lease: its holder renews the file's mtime every third of the lease, and a lock
 * not renewed for a whole lease is stale and taken over. A lock from another host (another pod on a
 * shared volume) that is still inside its lease is watched for at most one lease: renewed, it is
 * live and refused; not renewed, it was left by a killed run.
 */
export async function lockFile(path: string): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  const lease = lockLeaseMs();
  const me = { pid: process.pid, host: hostname(), since: new Date().toISOString(), leaseMs: lease };
  const mine = JSON.stringify(me);
  // Only a lock that still holds our own words is renewed or removed: had this process stalled past
  // its lease (SIGSTOP, a frozen VM) and another run taken the file over, touching or deleting the
  // lock would make that run's lock look stale or vanish.
  const stillMine = async () => (await readFile(lockPath, 'utf8').catch(() => '')) === mine;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(mine);
      await handle.close();
      heldHere.add(lockPath);
      const heartbeat = setInterval(() => {
        void stillMine().then((ours) => {
          const now = new Date();
          if (ours) return utimes(lockPath, now, now);
        }).catch(() => undefined);
      }, Math.max(50, Math.floor(lease / 3)));
      heartbeat.unref();
      return async () => {
        clearInterval(heartbeat);
        heldHere.delete(lockPath);
        if (await stillMine()) await unlink(lockPath).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(lockPath, error);
    }
    let lock = await inspectLock(lockPath);
    if (lock && !lock.stale && lock.holder.host !== me.host) {
      // Another host: its pid means nothing here. Watch the lease until it is renewed or runs out.
      const first = lock.mtimeMs;
      const holderLease = lock.holder.leaseMs ?? lease;
      while (lock && !lock.stale && lock.mtimeMs === first) {
        await sleep(Math.min(500, Math.max(20, holderLease / 10)));
        lock = await inspectLock(lockPath);
      }
    }
    if (lock && !lock.stale) throw new FileLockedError(path, lock.describe);
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
