// A collection: the embeddings files that `search`, `info` and `export` read as one (the parts a
// sharded run wrote in a folder, or files named together). Each reader used to look only at the
// first file, so parts from another model, at another precision or with other int8 ranges were
// read as if they were the first's, parts still being written were read half done, and missing
// parts went unnoticed. Here the whole collection is checked before anything is read or written.
import { basename, dirname, resolve } from 'node:path';
import { makeData, RecordBatch, Schema, Struct, type FixedSizeList } from 'apache-arrow';
import { EmbeddingsFileError, FileLockedError } from '../base/errors.js';
import { precisionOf, type FileDescription } from '../format/schema.js';
import { readSchema } from '../store/arrow-file.js';
import { liveWriter, openNodeFile } from './node-file.js';
import { dequantizer, needsRanges, quantize, type QuantRanges } from '../format/precision.js';

/** What reads the collection: each needs a different part of the files to agree. */
export type CollectionUse = 'search' | 'info' | 'export';

/** One checked file of a collection. */
export interface CollectionFile {
  file: string;
  schema: Schema;
  description: FileDescription;
  /** False for a part with a schema and no rows (an empty shard). */
  hasRows: boolean;
  /** The run still writing this file, when one single file is searched or described while it grows. */
  liveWriter?: string;
}

const PART = /^part-(\d+)-of-(\d+)\.arrow$/;

/**
 * The parts missing from the `part-I-of-N.arrow` files of one folder, by name; throws when the
 * folder mixes two shard counts. Files not named as parts are not judged.
 */
export function missingParts(folder: string, names: readonly string[]): string[] {
  const parts = names.flatMap((name) => {
    const match = PART.exec(name);
    return match ? [{ name, index: Number(match[1]), count: Number(match[2]), width: match[1]!.length }] : [];
  });
  if (!parts.length) return [];
  const counts = [...new Set(parts.map((p) => p.count))];
  if (counts.length > 1) {
    throw new EmbeddingsFileError(folder, `holds parts of ${counts.length} different shardings (${counts.map((c) => `of ${c}`).join(', ')}): not one collection`);
  }
  const count = counts[0]!;
  const have = new Set(parts.map((p) => p.index));
  const pad = (n: number) => String(n).padStart(parts[0]!.width, '0');
  const missing: string[] = [];
  for (let i = 0; i < count; i++) if (!have.has(i)) missing.push(`part-${pad(i)}-of-${pad(count)}.arrow`);
  return missing;
}

/** A description's parts that must agree for a use, as comparable strings (metadata columns by meaning, not key order). */
function agreeing(description: FileDescription, use: CollectionUse): Record<string, string> {
  const precision = precisionOf(description);
  const columns = Object.entries(description.metadataColumns).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, string> = {
    // The weights' fingerprint where parts record it (shards on machines with other paths are one model); else the name.
    model: JSON.stringify(description.modelFingerprint ? `${description.model}, weights ${description.modelFingerprint}` : description.model),
    dim: JSON.stringify(description.dim),
    'model dim': JSON.stringify(description.modelDim ?? null),
    pooling: JSON.stringify(description.pooling),
    normalize: JSON.stringify(description.normalize),
    dtype: JSON.stringify(description.dtype),
    prompt: JSON.stringify(description.prompt ?? ''),
    // Scores of different precisions are on different scales (Hamming ranks, sign cosines): never merged.
    precision: JSON.stringify(precision),
  };
  // How texts were cut, where the file says (files from before issue 23 do not): compared when both say.
  if (description.maxTokens !== undefined) out['max tokens'] = JSON.stringify(description.maxTokens);
  if (description.truncation !== undefined) out.truncation = JSON.stringify(description.truncation);
  if (use !== 'search') {
    // One exported schema holds one set of columns and one float16 copy or none. int8/uint8 ranges
    // may differ between parts (each shard calibrates its own): search decodes each part with its
    // own, info shows each, and export requantizes the parts to one set (unionRanges).
    out['metadata columns'] = JSON.stringify(Object.fromEntries(columns));
    out['float16 copy'] = JSON.stringify(description.keepFloat16 ?? false);
  }
  return out;
}

/**
 * The one set of int8/uint8 ranges an export of the collection is written with: each part
 * calibrated its own, so parts whose ranges differ are requantized to the union of all (every
 * part's values fit in it). Null when all parts share their ranges, or the precision has none.
 */
export function unionRanges(parts: readonly CollectionFile[]): QuantRanges | null {
  const withRows = parts.filter((p) => p.hasRows);
  const first = withRows[0]?.description;
  if (!first || !needsRanges(precisionOf(first))) return null;
  if (withRows.every((p) => JSON.stringify(p.description.ranges) === JSON.stringify(first.ranges))) return null;
  const min = first.ranges!.min.map((_, j) => Math.min(...withRows.map((p) => p.description.ranges!.min[j]!)));
  const max = first.ranges!.max.map((_, j) => Math.max(...withRows.map((p) => p.description.ranges!.max[j]!)));
  return { min, max };
}

/**
 * A batch of a part with its int8/uint8 codes requantized from the part's ranges to `ranges`: each
 * code's value (the middle of its step, within the range) is quantized again, and the schema's
 * description says the new ranges. The error is at most one step of the wider ranges.
 */
export function requantizeBatch(batch: RecordBatch, from: FileDescription, ranges: QuantRanges): RecordBatch {
  const precision = precisionOf(from);
  const dim = from.dim;
  const index = batch.schema.fields.findIndex((f) => f.name === 'embedding');
  const column = batch.data.children[index]!;
  const child = column.children[0]!;
  const codes = (child.values as Int8Array | Uint8Array).subarray((column.offset + child.offset), (column.offset + child.offset) + batch.numRows * dim);
  let newColumn = column;
  // A part already at these ranges keeps its codes: only its description changes.
  if (JSON.stringify(from.ranges) !== JSON.stringify(ranges)) {
    const { start, step, offset } = dequantizer(precision, from.ranges!);
    const values = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) {
      const j = i % dim;
      values[i] = Math.min(from.ranges!.max[j]!, start[j]! + (codes[i]! + offset + 0.5) * step[j]!);
    }
    const stored = quantize(values, dim, precision, ranges);
    const embeddingField = batch.schema.fields[index]!;
    newColumn = makeData({
      type: embeddingField.type as FixedSizeList, length: batch.numRows, nullCount: 0,
      child: makeData({ type: child.type, length: stored.length, data: stored } as never),
    });
  }
  const description: FileDescription = { ...from, ranges };
  const metadata = new Map(batch.schema.metadata);
  metadata.set('bulk-embed', JSON.stringify(description));
  const schema = new Schema(batch.schema.fields, metadata);
  const children = batch.data.children.map((c, i) => (i === index ? newColumn : c));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
}

/**
 * Checks a collection as a whole before it is read as one: no file is still being written (its
 * lock is live), every file is an embeddings file this library wrote, and all agree on what `use`
 * needs (model, dim, pooling, prompt, precision, maxTokens and truncation where recorded; for info
 * and export also the metadata columns by meaning and the float16 copy); the parts missing from
 * a folder named in `options.folders` that holds `part-I-of-N.arrow` files are named. Throws an
 * EmbeddingsFileError (FileLockedError for a live writer) naming the file and what differs;
 * returns each file's schema and description.
 */
export async function checkCollection(files: readonly string[], use: CollectionUse, options: { folders?: readonly string[] } = {}): Promise<CollectionFile[]> {
  // Parts are counted in the folders named as folders: a part file named on its own is read as itself.
  const folders = new Set((options.folders ?? []).map((f) => resolve(f)));
  const byFolder = new Map<string, string[]>();
  for (const file of files) {
    const folder = dirname(file);
    if (!folders.has(resolve(folder))) continue;
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), basename(file)]);
  }
  for (const [folder, names] of byFolder) {
    const missing = missingParts(folder, names);
    if (missing.length) {
      const count = Number(PART.exec(names.find((n) => PART.test(n))!)![2]);
      throw new EmbeddingsFileError(folder, `${missing.length} of its ${count} parts are missing (${missing.join(', ')}): their rows would be left out; wait for those shards or run them`);
    }
  }
  const checked: CollectionFile[] = [];
  for (const file of files) {
    const writer = await liveWriter(file);
    // One file watched while its run goes on (info or search of it alone) is read as it is now, and
    // said so by the caller; a collection or an export of a file still being written is refused.
    const watching = files.length === 1 && use !== 'export';
    if (writer && !watching) throw new FileLockedError(file, writer, ' (read it once that run has finished)');
    const handle = await openNodeFile(file, true);
    let head;
    try {
      head = await readSchema(handle);
    } finally {
      await handle.close();
    }
    if (!head.description) throw new EmbeddingsFileError(file, 'is an Arrow stream that bulk-embed did not write: not part of an embeddings collection');
    checked.push({ file, schema: head.schema, description: head.description, hasRows: head.hasRows, ...(writer ? { liveWriter: writer } : {}) });
  }
  const first = checked[0];
  if (!first) return checked;
  // Metadata columns come from a part's rows: a part without rows (an empty shard)
  // has none to disagree with, so those are compared among parts with rows only.
  const fromRows = (key: string) => key === 'metadata columns';
  const firstWithRows = checked.find((c) => c.hasRows);
  const shown = (v: string | undefined) => (v && v.length > 80 ? `${v.slice(0, 77)}...` : v);
  for (const other of checked.slice(1)) {
    const got = agreeing(other.description, use);
    for (const key of Object.keys(got)) {
      const reference = fromRows(key) ? firstWithRows : first;
      if (!reference || reference === other || (fromRows(key) && !other.hasRows)) continue;
      const want = agreeing(reference.description, use)[key];
      if (want === undefined) continue; // the reference does not record it (an older file)
      // One model's weights under two names (shards on machines with other paths) are one model.
      const sameWeights = key === 'model' && other.description.modelFingerprint !== undefined &&
        other.description.modelFingerprint === reference.description.modelFingerprint;
      if (got[key] !== want && !sameWeights) {
        throw new EmbeddingsFileError(other.file, `its ${key} (${shown(got[key])}) differs from ${reference.file}'s (${shown(want)}): not one collection`);
      }
    }
  }
  return checked;
}
