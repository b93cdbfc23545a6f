// What a sink already holds, for resume: asked one window of ids at a time, answered exactly. The
// Arrow file's ledger keeps only a fingerprint and a row number per committed row in memory
// (12 bytes) and confirms each hit against the row in the file, so memory stays small however many
// rows the file has, and a fingerprint collision can never skip a record that was not written.
import { decodeBatch } from '../format/decode.js';
import { readExactly, type RandomAccessFile } from '../format/random-access.js';
import { FingerprintSet, idFingerprint } from '../util/fingerprint-set.js';

/** The ids a sink held when the run started. */
export interface CommittedIds {
  /** Number of committed rows. */
  readonly size: number;
  /**
   * For each id, exactly: the text hash it was committed with ('' where the sink keeps none), or
   * undefined if it is not committed. Each committed id asked about counts as reached.
   */
  lookup(ids: readonly string[]): Promise<(string | undefined)[]>;
  /** Whether a committed id was already asked about (true), not yet (false); undefined if it is not committed. */
  reached(id: string): Promise<boolean | undefined>;
}

/** Committed ids held in memory as a Set (small sinks; the `skipIds` option). */
export function committedFromSet(ids: ReadonlySet<string>, textHashes?: ReadonlyMap<string, string>): CommittedIds {
  const reached = new Set<string>();
  return {
    size: ids.size,
    lookup: async (asked) => asked.map((id) => {
      if (!ids.has(id)) return undefined;
      reached.add(id);
      return textHashes?.get(id) ?? '';
    }),
    reached: async (id) => (ids.has(id) ? reached.has(id) : undefined),
  };
}

interface BatchSpan {
  start: number;
  end: number;
  firstRow: number;
}

interface BatchColumns {
  ids: string[];
  textHashes: string[];
}

/** Batches whose id and text-hash columns are kept decoded: a resume in the file's order reads each once. */
const CACHED_BATCHES = 4;

/** The committed rows of an Arrow embeddings file: fingerprints in memory, ids confirmed from the file. */
export class FileLedger implements CommittedIds {
  private readonly fingerprints = new FingerprintSet(true);
  private readonly spans: BatchSpan[] = [];
  private readonly cache = new Map<number, BatchColumns>();
  private rows = 0;
  /** One bit a row: asked about already (a second time means the source repeats the id). */
  private reachedRows = new Uint8Array(0);

  constructor(
    private readonly file: RandomAccessFile,
    private readonly schemaMessage: () => Uint8Array,
    private readonly fingerprint: (id: string) => bigint = idFingerprint,
  ) {}

  get size(): number {
    return this.rows;
  }

  /** Bytes of bookkeeping held in memory (fingerprints, row numbers, reached bits, batch spans). */
  get bytes(): number {
    return this.fingerprints.bytes + this.reachedRows.byteLength + this.spans.length * 24;
  }

  /** Records one committed batch: where its message lies in the file, and its ids. */
  addBatch(start: number, end: number, ids: readonly string[]): void {
    this.spans.push({ start, end, firstRow: this.rows });
    this.fingerprints.addAll(ids.map(this.fingerprint), ids.map((_, r) => this.rows + r));
    this.rows += ids.length;
    if (this.reachedRows.length * 8 < this.rows) {
      const grown = new Uint8Array(Math.ceil((this.rows * 1.5) / 8));
      grown.set(this.reachedRows);
      this.reachedRows = grown;
    }
  }

  async lookup(asked: readonly string[]): Promise<(string | undefined)[]> {
    const answers: (string | undefined)[] = [];
    for (const id of asked) {
      const found = await this.find(id);
      if (found) this.reachedRows[found.row >>> 3]! |= 1 << (found.row & 7);
      answers.push(found?.textHash);
    }
    return answers;
  }

  async reached(id: string): Promise<boolean | undefined> {
    const found = await this.find(id);
    return found ? (this.reachedRows[found.row >>> 3]! & (1 << (found.row & 7))) !== 0 : undefined;
  }

  /** The committed row holding this id, confirmed against the file. */
  private async find(id: string): Promise<{ row: number; textHash: string } | undefined> {
    for (const row of this.fingerprints.refsOf(this.fingerprint(id))) {
      const { batch, index } = this.locate(row);
      const columns = await this.columns(batch);
      if (columns.ids[index] === id) return { row, textHash: columns.textHashes[index]! };
    }
    return undefined;
  }

  private locate(row: number): { batch: number; index: number } {
    let lo = 0;
    let hi = this.spans.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.spans[mid]!.firstRow <= row) lo = mid;
      else hi = mid - 1;
    }
    return { batch: lo, index: row - this.spans[lo]!.firstRow };
  }

  private async columns(batch: number): Promise<BatchColumns> {
    const cached = this.cache.get(batch);
    if (cached) {
      this.cache.delete(batch); // re-inserted below: most recently used last
      this.cache.set(batch, cached);
      return cached;
    }
    const span = this.spans[batch]!;
    const decoded = decodeBatch(this.schemaMessage(), await readExactly(this.file, span.start, span.end - span.start));
    const columns = { ids: decoded.getChild('id')!.toArray() as string[], textHashes: decoded.getChild('text_hash')!.toArray() as string[] };
    this.cache.set(batch, columns);
    if (this.cache.size > CACHED_BATCHES) this.cache.delete(this.cache.keys().next().value!);
    return columns;
  }
}
