// Exactly once under SIGKILL: a child `embed` process is killed at three seeded-random moments
// and resumed each time; the file ends with one row per id, each equal to an uninterrupted run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tableFromIPC } from '@uwdata/flechette';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbedder, readEmbeddings } from '../../src/node.js';
import { createRng } from '../../tools/fixtures/rng.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { runCli } from '../helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COUNT = 20_000;
const input = join(dir, 'records.jsonl');
const gen = textGenerator(555);
writeFileSync(input, Array.from({ length: COUNT }, (_, i) => JSON.stringify({ id: `rec-${i}`, text: gen.text(gen.logNormalCount(12, 0.8, 1, 60)), group: i % 5 })).join('\n') + '\n');

async function readAll(path: string, allowTruncated = false) {
  const rows = new Map<string, Float32Array>();
  const duplicates: string[] = [];
  for await (const batch of readEmbeddings(path, { allowTruncated })) {
    const ids = batch.getChild('id')!.toArray() as string[];
    const embedding = batch.getChild('embedding')!;
    ids.forEach((id, r) => {
      if (rows.has(id)) duplicates.push(id);
      rows.set(id, Float32Array.from(embedding.get(r)!.toArray() as Float32Array));
    });
  }
  return { rows, duplicates };
}

describe('resume after SIGKILL', () => {
  it('ends with exactly one row per id, each equal to an uninterrupted run', async () => {
    const reference = join(dir, 'reference.arrow');
    const embedder = await createEmbedder({ model: TINY });
    const { readRecordFile } = await import('../../src/node.js');
    await embedder.embedTo(readRecordFile(input), reference, { parsed: true });
    await embedder.dispose();

    const out = join(dir, 'out.arrow');
    const rng = createRng(20261124);
    const kills: number[] = [];
    for (let k = 0; k < 3; k++) {
      // Seeded-random moments spread over the run: the k-th kill lands in the k-th quarter of what is left.
      const killAt = Math.floor(COUNT * (0.15 + 0.25 * k + 0.2 * rng.next()));
      kills.push(killAt);
      const run = await runCli([input, '--out', out, '--model', TINY, '--window', '512', ...(k ? ['--resume'] : [])], { killAt });
      expect(run.signal, run.stderr.slice(-500)).toBe('SIGKILL');
      // Whatever the kill left is readable up to its last whole batch, with no id twice.
      const partial = await readAll(out, true);
      expect(partial.duplicates).toEqual([]);
      expect(partial.rows.size).toBeLessThan(COUNT);
    }
    const final = await runCli([input, '--out', out, '--model', TINY, '--window', '512', '--resume']);
    expect(final.code, final.stderr.slice(-500)).toBe(0);

    const got = await readAll(out);
    const want = await readAll(reference);
    expect(got.duplicates).toEqual([]);
    expect(got.rows.size).toBe(COUNT);
    expect(new Set(got.rows.keys())).toEqual(new Set(want.rows.keys()));
    for (const [id, vector] of want.rows) {
      const other = got.rows.get(id)!;
      let dot = 0;
      for (let j = 0; j < vector.length; j++) dot += vector[j]! * other[j]!;
      expect(dot, id).toBeGreaterThanOrEqual(0.9999);
    }

    // An independent Arrow implementation (flechette) reads the same ids and vectors.
    const table = tableFromIPC(readFileSync(out));
    expect(table.numRows).toBe(COUNT);
    const ids = table.getChild('id')!.toArray() as string[];
    const embeddings = table.getChild('embedding')!;
    expect(new Set(ids).size).toBe(COUNT);
    for (let r = 0; r < COUNT; r += 997) {
      const theirs = embeddings.at(r) as Float32Array;
      expect(Array.from(theirs)).toEqual(Array.from(got.rows.get(ids[r]!)!));
    }
    expect(table.getChild('group')!.at(3)).toBe(Number(ids[3]!.slice(4)) % 5);
  });
});
