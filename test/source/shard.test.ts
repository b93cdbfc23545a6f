// Sharded runs: four `embed --shard I/4` processes on one machine (one SIGKILLed and resumed, one
// taking its index from JOB_COMPLETION_INDEX as a Kubernetes Indexed Job's pod does) write four
// files whose union holds every id exactly once, with a single run's vectors; search and info read
// the folder and refuse files that share an id.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/base/errors.js';
import { createEmbedder, readRecordFile } from '../../src/node.js';
import { fnv1a32, parseShard, shardFileName, shardFromEnvironment, shardOf } from '../../src/source/shard.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { runCli } from '../helpers/cli.js';
import { rowsOf, unionOfParts, worstDifference } from '../helpers/rows.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-shard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('shard assignment', () => {
  it('FNV-1a 32 gives the published test vectors, so any language can reproduce the split', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('spreads ids evenly: 20,000 ids over 4 shards, each within 5% of a quarter', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[shardOf(`rec-${i}`, 4)]!++;
    for (const c of counts) expect(Math.abs(c - 5000)).toBeLessThan(250);
  });

  it('parses I/N and JOB_COMPLETION_INDEX, and says what is wrong with a bad one', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(shardFromEnvironment({ JOB_COMPLETION_INDEX: '3' }, 4)).toEqual({ index: 3, count: 4 });
    expect(shardFileName({ index: 3, count: 16 })).toBe('part-00003-of-00016.arrow');
    expect(() => parseShard('4/4')).toThrow('option shard: index 4 is not below the shard count 4 (indexes run from 0)');
    expect(() => parseShard('1-4')).toThrow(InvalidOptionError);
    expect(() => shardFromEnvironment({}, 4)).toThrow('option shards: needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job sets it) or --shard I/N; JOB_COMPLETION_INDEX is not set');
  });
});

const COUNT = 4000;
const input = join(dir, 'records.jsonl');
const gen = textGenerator(4444);
writeFileSync(input, Array.from({ length: COUNT }, (_, i) => JSON.stringify({ id: `doc-${i}`, text: gen.text(gen.logNormalCount(14, 0.8, 1, 60)) })).join('\n') + '\n');

describe('four shard processes', () => {
  const out = join(dir, 'parts');

  it('write four disjoint files whose union is every id once, with the vectors of a single run', { timeout: 240_000 }, async () => {
    const reference = join(dir, 'single.arrow');
    const embedder = await createEmbedder({ model: TINY });
    await embedder.embedTo(readRecordFile(input), reference, { parsed: true });
    await embedder.dispose();

    const common = [input, '--out', out, '--model', TINY, '--window', '128'];
    // Shard 1 is killed a third of the way through its share, then resumed; shard 3 reads its index from the environment.
    const runs = await Promise.all([
      runCli([...common, '--shard', '0/4']),
      runCli([...common, '--shard', '1/4'], { killAt: Math.floor(COUNT / 12) }),
      runCli([...common, '--shard', '2/4']),
      runCli([...common, '--shards', '4'], { env: { JOB_COMPLETION_INDEX: '3' } }),
    ]);
    expect(runs[1]!.signal, runs[1]!.stderr.slice(-400)).toBe('SIGKILL');
    for (const i of [0, 2, 3]) expect(runs[i]!.code, runs[i]!.stderr.slice(-400)).toBe(0);
    expect(JSON.parse(runs[3]!.stdout).shard).toBe('3/4');
    const resumed = await runCli([...common, '--shard', '1/4', '--resume']);
    expect(resumed.code, resumed.stderr.slice(-400)).toBe(0);
    expect(JSON.parse(resumed.stdout).skipped).toBeGreaterThan(0); // it kept what the killed run committed

    expect(readdirSync(out).sort()).toEqual([0, 1, 2, 3].map((index) => shardFileName({ index, count: 4 })));
    const single = (await rowsOf(reference)).rows;
    const { union, misplaced, repeated } = await unionOfParts(out, 4);
    expect(repeated).toBe(0);
    expect(misplaced).toEqual([]);
    expect(union.size).toBe(COUNT);
    expect(worstDifference(union, single)).toBeLessThanOrEqual(1e-5); // other batch compositions, same vectors
  });

  it('info and search read the folder as one collection', async () => {
    const info = await runCli(['info', out]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).rows).toBe(COUNT);
    const search = await runCli(['search', out, 'the river garden', '-k', '5']);
    expect(search.code, search.stderr).toBe(0);
    const hits = search.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; score: number });
    expect(hits).toHaveLength(5);
    expect(hits.map((h) => h.score)).toEqual([...hits.map((h) => h.score)].sort((a, b) => b - a));
  });

  it('refuses a folder whose files share an id, naming the id and both files', async () => {
    const bad = join(dir, 'overlapping');
    mkdirSync(bad);
    copyFileSync(join(out, shardFileName({ index: 2, count: 4 })), join(bad, 'a.arrow'));
    copyFileSync(join(out, shardFileName({ index: 2, count: 4 })), join(bad, 'b.arrow'));
    const search = await runCli(['search', bad, 'river']);
    expect(search.code).toBe(6);
    expect(search.stderr).toMatch(new RegExp('embed: .*b\\.arrow.*id "doc-\\d+" is also in .*a\\.arrow: the files are not disjoint shards of one collection'));
  });

  it('--out must be a folder when sharding', async () => {
    const run = await runCli([input, '--out', input, '--shard', '0/2', '--model', TINY]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('must be a folder when sharding');
  });
});
