// A database's promise for the embeddings file: what was committed stays, nothing else is ever
// touched. Each case is one a hostile but realistic user met: resume onto files we did not
// write, two writers, shadowed columns, BOMs, lone surrogates, coerced values, interrupts, bad
// counts, OS errors, flipped bits, and texts whose contents changed since they were committed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Table, tableToIPC, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, arrowFileSink, createEmbedder, EmbeddingsFileError, FileLockedError, readEmbeddings, searchEmbeddings, type NodeEmbedder,
} from '../../src/node.js';
import { openNodeFile } from '../../src/node/node-file.js';
import type { RandomAccessFile } from '../../src/format/random-access.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { createRng } from '../../tools/fixtures/rng.js';
import { CLI_ARGS } from '../helpers/cli.js';
import { expectExactly } from '../helpers/rows.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-safety-'));
const gen = textGenerator(1010);
const docs = (n: number, prefix = 'd') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, text: gen.text(gen.between(2, 30)), n: i }));
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const file = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const CLI = CLI_ARGS;
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
/** Starts the CLI; resolves on exit. `onProgress` sees each JSON progress line (done count). */
function cliAsync(args: string[], onProgress?: (done: number, child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; signal: string | null; stderr: string; stdout: string }>((done) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const line of chunk.split('\n')) if (line.startsWith('{"event":"progress"')) onProgress?.((JSON.parse(line) as { done: number }).done, child);
    });
    child.on('exit', (code, signal) => done({ code, signal, stderr, stdout }));
  });
}
const noStack = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at /);

async function readIds(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of readEmbeddings(path)) out.push(...(batch.getChild('id')!.toArray() as string[]));
  return out;
}

async function readRows(path: string): Promise<Map<string, number[]>> {
  const rows = new Map<string, number[]>();
  for await (const batch of readEmbeddings(path)) {
    const ids = batch.getChild('id')!.toArray() as string[];
    ids.forEach((id, r) => {
      if (rows.has(id)) throw new Error(`duplicate id ${id}`);
      rows.set(id, Array.from(batch.getChild('embedding')!.get(r)!.toArray() as Float32Array));
    });
  }
  return rows;
}

let embedder: NodeEmbedder;
beforeAll(async () => {
  embedder = await createEmbedder({ model: TINY });
});
afterAll(async () => {
  await embedder.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('resume touches only files this library wrote', () => {
  const input = file('in.jsonl', jsonl(docs(20)));

  it('a text file named notes.arrow is left byte-identical (exit 6)', () => {
    const notes = file('notes.arrow', 'my notes, not embeddings\n'.repeat(50));
    const before = readFileSync(notes);
    const r = cli(input, '--out', notes, '--model', TINY, '--resume');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/notes\.arrow: is not an Arrow embeddings stream .*left unchanged/);
    expect(readFileSync(notes)).toEqual(before);
  });

  it('a foreign Arrow stream is left byte-identical (exit 6)', () => {
    const foreign = file('foreign.arrow', tableToIPC(new Table({ x: vectorFromArray([1, 2, 3]) }), 'stream'));
    const before = readFileSync(foreign);
    const r = cli(input, '--out', foreign, '--model', TINY, '--resume');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/an Arrow stream that bulk-embed did not write: left unchanged/);
    expect(readFileSync(foreign)).toEqual(before);
  });

  it('writing onto the input itself is refused and the input kept (exit 2)', () => {
    const own = file('own.jsonl', jsonl(docs(5)));
    const before = readFileSync(own);
    const r = cli(own, '--out', own, '--model', TINY, '--resume');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is the input file: refusing to write onto it/);
    expect(readFileSync(own)).toEqual(before);
  });
});

describe('one writer per file', () => {
  it('two CLI processes started together: exactly one writes, the other exits 6 naming the holder', async () => {
    // Enough records that the first writer is still writing when the second has started (with 300, a
    // quiet machine let the first finish before the second reached the lock, and both exited 0).
    const input = file('pair.jsonl', jsonl(docs(3000)));
    const out = join(dir, 'pair.arrow');
    const runs = await Promise.all([0, 1].map(() => cliAsync([input, '--out', out, '--model', TINY, '--resume', '--window', '50'])));
    const codes = runs.map((r) => r.code).sort();
    expect(codes).toEqual([0, 6]);
    const loser = runs.find((r) => r.code === 6)!;
    expect(loser.stderr).toMatch(/is being written by process \d+ on .* one writer at a time/);
    noStack(loser.stderr);
    const ids = await readIds(out);
    expect(ids.length).toBe(3000);
    expect(new Set(ids).size).toBe(3000);
    expect(existsSync(`${out}.lock`)).toBe(false);
  });

  it('a second embedTo on a file being written fails at once with FileLockedError', async () => {
    const out = join(dir, 'two-embedto.arrow');
    const first = await openNodeFile(out);
    await expect(embedder.embedTo(docs(3), out)).rejects.toThrow(FileLockedError);
    await first.close();
    await expect(embedder.embedTo(docs(3), out)).resolves.toMatchObject({ written: 3 });
  });

  it("a SIGKILLed writer's lock does not block --resume", async () => {
    const input = file('killed.jsonl', jsonl(docs(3000)));
    const out = join(dir, 'killed.arrow');
    const killed = await cliAsync([input, '--out', out, '--model', TINY, '--window', '100'], (done, child) => done >= 500 && child.kill('SIGKILL'));
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(`${out}.lock`)).toBe(true);
    const resumed = cli(input, '--out', out, '--model', TINY, '--resume', '--window', '100');
    expect(resumed.code, resumed.stderr).toBe(0);
    const ids = await readIds(out);
    expect(new Set(ids).size).toBe(3000);
    expect(ids.length).toBe(3000);
  });
});

describe('strict columns and well-formed input', () => {
  const out = (name: string) => join(dir, `${name}.arrow`);

  for (const field of ['embedding', 'text_hash', 'checksum']) {
    it(`a record field named ${field} is an error naming it, not a second column (exit 4)`, () => {
      const input = file(`${field}.jsonl`, jsonl([{ id: 'a', text: 'one' }, { id: 'b', text: 'two', [field]: 'x' }]));
      const r = cli(input, '--out', out(field), '--model', TINY);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(new RegExp(`record "b": field "${field}" has the name of a column the file itself uses`));
    });
  }

  it('with --id-field doc, a record that also has an id field is an error naming it (exit 4)', () => {
    const input = file('docid.jsonl', jsonl([{ doc: 'a', id: 7, text: 'one' }]));
    const r = cli(input, '--out', out('docid'), '--model', TINY, '--id-field', 'doc');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/record "a": field "id" has the name of a column/);
  });

  it('a leading UTF-8 BOM is skipped in JSONL, CSV and text', async () => {
    const bom = '\uFEFF';
    const cases = {
      'bom.jsonl': `${bom}${jsonl([{ id: 'x1', text: 'first' }, { id: 'x2', text: 'second' }])}`,
      'bom.csv': `${bom}id,text\nx1,first\nx2,second\n`,
      'bom.txt': `${bom}first\nsecond\n`,
    };
    for (const [name, content] of Object.entries(cases)) {
      const r = cli(file(name, content), '--out', out(name), '--model', TINY);
      expect(r.code, r.stderr).toBe(0);
      expect(await readIds(out(name))).toEqual(name.endsWith('.txt') ? ['0', '1'] : ['x1', 'x2']);
    }
  });

  it('an id with a lone surrogate is an error naming the record (exit 4)', () => {
    const input = file('surrogate.jsonl', '{"id":"ok","text":"fine"}\n{"id":"bad\\ud800","text":"x"}\n');
    const r = cli(input, '--out', out('surrogate'), '--model', TINY);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/surrogate\.jsonl line 2: field "id" is not well-formed Unicode/);
  });

  it('a later value that does not fit its column is an error naming record and field, never coerced (exit 4)', async () => {
    const first = docs(5).map((d) => ({ ...d, flag: true }));
    for (const [name, bad] of [['number', { id: 'late', text: 'x', n: 'many', flag: false }], ['boolean', { id: 'late', text: 'x', n: 1, flag: 'yes' }]] as const) {
      const input = file(`coerce-${name}.jsonl`, jsonl([...first, bad]));
      const r = cli(input, '--out', out(`coerce-${name}`), '--model', TINY, '--window', '5');
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(name === 'number' ? /record "late": field "n" is "many" \(utf8\), but its column holds float64/ : /record "late": field "flag" is "yes" \(utf8\), but its column holds bool/);
      expect(await readIds(out(`coerce-${name}`))).toEqual(first.map((d) => d.id)); // the committed window stays
    }
  });
});

describe('options, interrupts and OS errors', () => {
  const input = file('opts.jsonl', jsonl(docs(10)));

  it('count options are checked before any work: exit 2 with the usage line', () => {
    for (const args of [['--window', '0'], ['--max-batch-tokens', '0'], ['--window', '1.5'], ['--max-batch-tokens', 'lots']]) {
      const r = cli(input, '--out', join(dir, 'opts.arrow'), '--model', TINY, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/must be a positive whole number[\s\S]*usage:/);
    }
    const ok = cli(input, '--out', join(dir, 'opts.arrow'), '--model', TINY);
    expect(ok.code).toBe(0);
    const k0 = cli('search', join(dir, 'opts.arrow'), 'query', '-k', '0');
    expect(k0.code).toBe(2);
    expect(k0.stderr).toMatch(/-k must be a positive whole number/);
  });

  const ROWS = 30_000;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} stops at a window boundary, says what is committed, exits ${code} with no stack; --resume finishes`, async () => {
      // The signal goes once two windows' rows are done, with most of 30,000 rows to go. Under load
      // (about 1 run in 40 beside 4 busy cores) this once exited 0 with no message: dispose() awaited
      // an idle tokenizer thread's termination, which the event loop did not wait for
      // (test/node/tokenizer-threads.test.ts).
      const big = file(`${signal}.jsonl`, jsonl(docs(ROWS, signal)));
      const out = join(dir, `${signal}.arrow`);
      let sent = false;
      const r = await cliAsync([big, '--out', out, '--model', TINY, '--window', '100'], (done, child) => {
        if (done >= 200 && !sent) {
          sent = true;
          child.kill(signal);
        }
      });
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(new RegExp(`stopped by ${signal}; \\d+ rows of this run committed to .*--resume to continue`));
      noStack(r.stderr);
      const committed = Number(/; (\d+) rows of this run/.exec(r.stderr)![1]);
      expect(committed).toBeGreaterThan(0); // stopped mid-run: some windows committed, not all
      expect(committed).toBeLessThan(ROWS);
      expect((await readIds(out)).length).toBe(committed);
      const resumed = cli(big, '--out', out, '--model', TINY, '--window', '100', '--resume');
      expect(resumed.code).toBe(0);
      expect(new Set(await readIds(out)).size).toBe(ROWS);
    });
  }

  it('an aborted embedTo always rejects with an AbortError carrying the committed count, and the file resumes', async () => {
    const out = join(dir, 'aborted.arrow');
    const controller = new AbortController();
    const records = docs(500, 'ab');
    const error = await embedder.embedTo(records, out, {
      windowSize: 50, signal: controller.signal,
      onProgress: (p) => p.done >= 100 && controller.abort(),
    }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    const committed = (error as AbortError).committed!;
    expect(committed).toBeGreaterThanOrEqual(100);
    expect((await readIds(out)).length).toBe(committed);
    await embedder.embedTo(records, out, { windowSize: 50, resume: true });
    expect(new Set(await readIds(out)).size).toBe(500);
  });

  it('an --out that is a directory is a typed error with the path (exit 6), no stack', () => {
    const folder = join(dir, 'a-folder.arrow');
    mkdirSync(folder, { recursive: true });
    const r = cli(input, '--out', folder, '--model', TINY);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/a-folder\.arrow: is a directory \(EISDIR\)/);
    noStack(r.stderr);
  });

  it('a full disk fails with a typed error naming the path; once there is space, resume ends with every row once', async () => {
    const path = join(dir, 'full.arrow');
    const real = await openNodeFile(path);
    let budget = 6000; // bytes the "disk" takes before it is full
    const fullDisk: RandomAccessFile = {
      ...real,
      async append(bytes) {
        if (bytes.length > budget) {
          await real.append(bytes.subarray(0, budget)); // a torn write, as a full disk leaves
          budget = 0;
          throw Object.assign(new EmbeddingsFileError(path, 'cannot grow: the disk is full (ENOSPC)'), { code: 'ENOSPC' });
        }
        budget -= bytes.length;
        await real.append(bytes);
      },
    };
    const records = docs(200, 'full');
    await expect(embedder.embedTo(records, arrowFileSink(fullDisk), { windowSize: 20 })).rejects.toThrow(/full\.arrow: cannot grow: the disk is full/);
    const result = await embedder.embedTo(records, path, { windowSize: 20, resume: true });
    expect(result.repaired).toMatch(/truncated|corrupt/);
    const rows = await readRows(path);
    expect(rows.size).toBe(200);
  });
});

describe('integrity', () => {
  const records = docs(120, 'fz');
  let good = '';
  let want: Map<string, number[]>;
  beforeAll(async () => {
    good = join(dir, 'fuzz-source.arrow');
    await embedder.embedTo(records, good, { windowSize: 20 });
    want = await readRows(good);
  });

  /** Reads a damaged file: every row it gives must be right; the only failure allowed is a typed one. Returns whether it read cleanly. */
  async function rightRowsOrTypedError(path: string, where: string): Promise<boolean> {
    try {
      for await (const batch of readEmbeddings(path)) {
        const ids = batch.getChild('id')!.toArray() as string[];
        ids.forEach((id, r) => expectExactly(batch.getChild('embedding')!.get(r)!.toArray() as Float32Array, want.get(id), `${where}, ${id}`));
      }
      return true;
    } catch (error) {
      if (!(error instanceof EmbeddingsFileError)) throw new Error(`${where}: untyped ${String(error)}`);
      return false;
    }
  }

  it('a file cut while it is read (a writer resuming or overwriting it): reads and searches fail with a typed error naming it, after right rows only', async () => {
    const bytes = new Uint8Array(readFileSync(good));
    /** The good file until `cutAfter` reads have answered; from then on cut to its first 100 bytes. */
    const cutWhileRead = (name: string, cutAfter: number): RandomAccessFile => {
      let reads = 0;
      const now = () => (reads > cutAfter ? bytes.subarray(0, 100) : bytes);
      return {
        name, size: async () => now().length, read: async (at, length) => (reads++, now().slice(at, at + length)),
        append: async () => undefined, truncate: async () => undefined, sync: async () => undefined, close: async () => undefined,
      };
    };
    const query = Float32Array.from(want.values().next().value!);
    for (const cutAfter of [1, 2, 4]) {
      let rows = 0;
      const reading = (async () => {
        for await (const batch of readEmbeddings(cutWhileRead('cut.arrow', cutAfter))) {
          const ids = batch.getChild('id')!.toArray() as string[];
          ids.forEach((id, r) => expect(Array.from(batch.getChild('embedding')!.get(r)!.toArray() as Float32Array)).toEqual(want.get(id)));
          rows += ids.length;
        }
      })();
      await expect(reading, `cut after ${cutAfter} reads`).rejects.toThrow(/^cut\.arrow: changed while being read: \d+ of \d+ bytes at byte \d+/);
      expect(rows).toBeLessThan(records.length);
      const searching = searchEmbeddings(cutWhileRead('cut-search.arrow', cutAfter), query, 5);
      await expect(searching, `cut after ${cutAfter} reads`).rejects.toThrow(EmbeddingsFileError);
      await expect(searchEmbeddings(cutWhileRead('cut-search.arrow', cutAfter), query, 5)).rejects.toThrow(/^cut-search\.arrow: changed while being read/);
    }
  });

  it('bits flipped at 200 seeded places: every read gives the right rows or a typed error; every resume ends with each id once and the right vectors', async () => {
    const bytes = readFileSync(good);
    const rng = createRng(4242);
    let typed = 0;
    for (let trial = 0; trial < 200; trial++) {
      const flipped = new Uint8Array(bytes);
      const at = Math.floor(rng.next() * flipped.length);
      flipped[at]! ^= 1 << Math.floor(rng.next() * 8);
      const path = file(`flip-${trial}.arrow`, flipped);
      if (!(await rightRowsOrTypedError(path, `byte ${at}`))) typed++;
      try {
        await embedder.embedTo(records, path, { windowSize: 20, resume: true });
      } catch (error) {
        // A flip in the schema makes the file unprovably ours: refused, never cut.
        expect(error, `byte ${at}`).toBeInstanceOf(EmbeddingsFileError);
        expect(readFileSync(path), `byte ${at}`).toEqual(Buffer.from(flipped));
        continue;
      }
      const rows = await readRows(path);
      expect(rows.size, `byte ${at}`).toBe(records.length);
      for (const [id, v] of rows) expectExactly(v, want.get(id), `byte ${at}, ${id}`);
      rmSync(path);
    }
    expect(typed).toBeGreaterThan(100); // most flips land in checksummed bytes and are caught
  });

  it('a bit flipped in every byte of the schema and the first batch header: a typed error or the right rows, never a crash', async () => {
    const bytes = readFileSync(good);
    const rng = createRng(77);
    const firstBatchEnd = 2048; // the schema message (about 700 bytes) and the first batch's metadata
    for (let at = 0; at < firstBatchEnd; at++) {
      const flipped = new Uint8Array(bytes);
      flipped[at]! ^= 1 << Math.floor(rng.next() * 8);
      const path = file('flip-head.arrow', flipped);
      await rightRowsOrTypedError(path, `byte ${at}`);
    }
  });

  it('resume reports ids whose text changed since they were committed', async () => {
    const path = join(dir, 'changed.arrow');
    await embedder.embedTo(records.slice(0, 80), path, { windowSize: 40 });
    const edited = records.map((r, i) => (i === 3 || i === 50 ? { ...r, text: `${r.text} edited` } : r));
    const result = await embedder.embedTo(edited, path, { windowSize: 40, resume: true });
    expect(result.changed).toEqual({ count: 2, ids: ['fz3', 'fz50'] });
    expect(result).toMatchObject({ written: 40, skipped: 80 });
  });
});
