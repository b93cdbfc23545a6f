import { EmbeddingsFileError } from '../base/errors.js';

/** The file operations the Arrow sink and readers need: Node file handles and OPFS sync handles both fit. */
export interface RandomAccessFile {
  readonly name: string;
  size(): Promise<number>;
  /** Every byte asked for below size() (fewer only past the end: readers take that as the file cut under them). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Writes at the end of the file. */
  append(bytes: Uint8Array): Promise<void>;
  truncate(length: number): Promise<void>;
  /** Flushes written bytes to storage; a batch counts as committed once this returns. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Runs `use` on a file opened from a path (closed after), or on a file the caller opened (left open). */
export async function withFile<T>(
  file: string | RandomAccessFile, open: (path: string) => Promise<RandomAccessFile>, use: (file: RandomAccessFile) => Promise<T>,
): Promise<T> {
  const handle = typeof file === 'string' ? await open(file) : file;
  try {
    return await use(handle);
  } finally {
    if (typeof file === 'string') await handle.close();
  }
}

/**
 * Reads `length` bytes at `offset`, all of them: a reader asks only for bytes below the size it
 * read at the start, so fewer means the file was cut while it read (a writer resuming or
 * overwriting it), which is an EmbeddingsFileError naming the file rather than garbage or a RangeError.
 */
export async function readExactly(file: Pick<RandomAccessFile, 'name' | 'read'>, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await file.read(offset, length);
  if (bytes.byteLength < length) {
    throw new EmbeddingsFileError(file.name, `changed while being read: ${bytes.byteLength} of ${length} bytes at byte ${offset} (a writer cut it; read it again once the writer is done)`);
  }
  return bytes;
}
