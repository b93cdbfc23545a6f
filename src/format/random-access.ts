/** The file operations the Arrow sink and readers need: Node file handles and OPFS sync handles both fit. */
export interface RandomAccessFile {
  readonly name: string;
  size(): Promise<number>;
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
