// Node's side of the file seam: a RandomAccessFile over fs/promises.
import { open, type FileHandle } from 'node:fs/promises';
import type { RandomAccessFile } from './random-access.js';

/** Opens (creating if needed) a file for reading and appending; `readOnly` opens an existing file. */
export async function openNodeFile(path: string, readOnly = false): Promise<RandomAccessFile> {
  const handle: FileHandle = await open(path, readOnly ? 'r' : 'a+');
  let size = (await handle.stat()).size;
  return {
    name: path,
    size: async () => size,
    async read(offset, length) {
      const buffer = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buffer, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buffer : buffer.subarray(0, got);
    },
    async append(bytes) {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      size += bytes.length;
    },
    async truncate(length) {
      await handle.truncate(length);
      size = length;
    },
    sync: () => handle.datasync(),
    close: () => handle.close(),
  };
}
