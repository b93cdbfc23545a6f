// `npm run bench:stream`: streams 2,000,000 generated records through the tiny model into an Arrow
// file and reports peak RSS at 20K, 200K, 1M and 2M records, the bytes of per-id bookkeeping, and
// the throughput against embed() on the same texts (alternating runs, medians; embed() holds the
// whole corpus, so it is measured on at most 200,000 texts: BENCH_COMPARE).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { tableFromIPC } from 'apache-arrow';
import { createEmbedder, readEmbeddings } from '../src/node.js';
import { rowChecksums } from '../src/format/checksum.js';
import { textHash } from '../src/format/text-hash.js';
import { median, printTable, writeJson } from './lib.js';
import { streamRecords, streamRun } from './shared.js';
import { arrowFileSink } from '../src/store/arrow-file.js';
import type { FileLedger } from '../src/store/committed.js';
import { openNodeFile } from '../src/node/node-file.js';
import { FingerprintSet, idFingerprint } from '../src/util/fingerprint-set.js';

const COUNT = Number(process.env.BENCH_RECORDS ?? 2_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? (COUNT > 200_000 ? 1 : 3));
const COMPARE = Number(process.env.BENCH_COMPARE ?? Math.min(COUNT, 200_000));
/** embedTo's window: the library's default (ramping to 4096) unless BENCH_WINDOW fixes one. */
const WINDOW = process.env.BENCH_WINDOW ? Number(process.env.BENCH_WINDOW) : undefined;
const MILESTONES = [20_000, 200_000, 1_000_000, 2_000_000, COUNT].filter((m, i, all) => m <= COUNT && all.indexOf(m) === i);
/** Growth is measured from here to the end: the bound is "at 2M within 10% of the peak at 200K". */
const BASE = MILESTONES.includes(200_000) && COUNT > 200_000 ? 200_000 : MILESTONES[0]!;
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-bench-stream-'));

const records = streamRecords;

const arena = process.env.BENCH_ARENA !== '0'; // BENCH_ARENA=0 measures with enableCpuMemArena: false
const embedder = await createEmbedder({ model: resolve(import.meta.dirname, '../models/fixture-tiny'), sessionOptions: arena ? {} : { enableCpuMemArena: false } });
await embedder.embed(Array.from(records(2000), (r) => r.text)); // warm-up (2,000 records, not the corpus)

const streamSeconds: number[] = [];
const embedSeconds: number[] = [];
let rssAt: Record<string, number> = {};
const heapAt: Record<string, number> = {};
let fileBytes = 0;
let readCost = { verifiedSeconds: 0, plainSeconds: 0 };
let resumeLedger = { bytesPerId: 0, seconds: 0 };

/** Builds the resume ledger of a finished file, as `--resume` does, and reports its memory per row. */
async function measureResumeLedger(path: string) {
  const started = performance.now();
  const sink = arrowFileSink(await openNodeFile(path), { resume: true });
  const state = await sink.resumeState();
  const seconds = (performance.now() - started) / 1000;
  const bytes = (state.committed as FileLedger).bytes;
  if (state.committed.size !== COUNT) throw new Error(`resume found ${state.committed.size} rows of ${COUNT}`);
  await sink.close();
  return { bytesPerId: bytes / COUNT, seconds };
}

/** The stream's duplicate check, built as embedStream builds it (one run a window), and a Set of the same ids for comparison. */
function seenBookkeeping(windowSize: number) {
  const set = new FingerprintSet();
  let window: bigint[] = [];
  for (let i = 0; i < COUNT; i++) {
    window.push(idFingerprint(`r${i}`));
    if (window.length === windowSize) {
      set.addAll(window);
      window = [];
    }
  }
  set.addAll(window);
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const strings = new Set<string>();
  for (let i = 0; i < COUNT; i++) strings.add(`r${i}`);
  globalThis.gc?.();
  const setBytes = process.memoryUsage().heapUsed - before;
  if (strings.size !== set.size) throw new Error('sizes differ');
  return { fingerprintBytesPerId: set.bytes / COUNT, stringSetBytesPerId: setBytes / COUNT };
}

/** Reads the file through readEmbeddings (every row checked) and through apache-arrow alone. */
async function measureReads(path: string) {
  let t0 = performance.now();
  let rows = 0;
  for await (const batch of readEmbeddings(path)) rows += batch.numRows;
  const verifiedSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const plain = tableFromIPC(readFileSync(path)).numRows;
  const plainSeconds = (performance.now() - t0) / 1000;
  if (plain !== rows) throw new Error(`read ${rows} rows, apache-arrow ${plain}`);
  return { verifiedSeconds, plainSeconds };
}

/** The checksum work of one stream run alone: the same rows, in the same windows, with vectors of the model's size. */
function checksumSeconds(windowSize: number, dim: number): number {
  const vectors = new Float32Array(windowSize * dim).map((_, i) => Math.sin(i));
  let ids: string[] = [], hashes: string[] = [], meta: Record<string, number>[] = [];
  let total = 0;
  let firstRow = 0;
  const flush = () => {
    const t0 = performance.now();
    rowChecksums(ids, hashes, new Uint8Array(vectors.buffer, 0, ids.length * dim * 4), meta, { shard: 'float64' }, firstRow);
    total += performance.now() - t0;
    firstRow += ids.length;
    ids = []; hashes = []; meta = [];
  };
  for (const r of records(COUNT)) {
    ids.push(r.id);
    hashes.push(textHash(r.text));
    meta.push({ shard: r.shard });
    if (ids.length === windowSize) flush();
  }
  if (ids.length) flush();
  return total / 1000;
}
for (let run = 0; run < RUNS; run++) {
  const order = run % 2 ? ['embed', 'stream'] : ['stream', 'embed'];
  for (const which of order) {
    if (which === 'stream') {
      const out = join(dir, `run-${run}.arrow`);
      const r = await streamRun(embedder, COUNT, out, MILESTONES, WINDOW);
      Object.assign(heapAt, r.heapAt);
      streamSeconds.push(r.seconds);
      if (run === 0) rssAt = r.rssAt;
      fileBytes = statSync(out).size;
      if (run === 0) readCost = await measureReads(out);
      if (run === 0) resumeLedger = await measureResumeLedger(out);
      rmSync(out);
    } else {
      // The records are generated inside the timing on both sides: the stream generates its own as it reads.
      const started = performance.now();
      const texts = Array.from(records(COMPARE), (r) => r.text);
      await embedder.embed(texts);
      embedSeconds.push((performance.now() - started) / 1000);
    }
    console.error(`run ${run + 1}/${RUNS} ${which}: ${(which === 'stream' ? streamSeconds : embedSeconds).at(-1)!.toFixed(1)} s`);
  }
}
const dim = embedder.info.dim;
await embedder.dispose();
rmSync(dir, { recursive: true, force: true });
const checksumCost = median(Array.from({ length: RUNS }, () => checksumSeconds(WINDOW ?? 4096, dim)));

const mb = (b: number) => b / 2 ** 20;
const first = rssAt[String(BASE)]!;
const last = rssAt[String(MILESTONES.at(-1))]!;
const stream = COUNT / median(streamSeconds);
const direct = COMPARE / median(embedSeconds);
const seen = seenBookkeeping(WINDOW ?? 4096);
const result = {
  records: COUNT, model: 'fixture-tiny', runs: RUNS,
  peakHeapMbAt: Object.fromEntries(Object.entries(heapAt).map(([k, v]) => [k, Number(mb(v).toFixed(1))])),
  onnxRuntimeArena: arena,
  peakRssMbAt: Object.fromEntries(Object.entries(rssAt).map(([k, v]) => [k, Number(mb(v).toFixed(1))])),
  rssGrowthFrom: BASE,
  rssGrowth: (last - first) / first,
  bookkeeping: {
    duplicateCheckBytesPerId: seen.fingerprintBytesPerId,
    resumeLedgerBytesPerId: resumeLedger.bytesPerId,
    resumeLedgerSeconds: resumeLedger.seconds,
    jsSetOfIdStringsBytesPerId: seen.stringSetBytesPerId,
  },
  embedComparedOn: COMPARE,
  peakRssMb: Number(mb(Math.max(...Object.values(rssAt))).toFixed(1)),
  streamTextsPerSec: stream, embedTextsPerSec: direct, streamVsEmbed: stream / direct,
  streamSeconds, embedSeconds, fileMb: Number(mb(fileBytes).toFixed(1)),
  checksumSeconds: checksumCost, checksumShareOfStream: checksumCost / median(streamSeconds),
  readVerifiedSeconds: readCost.verifiedSeconds, readApacheArrowSeconds: readCost.plainSeconds,
  targets: { rssGrowthBelow: 0.1, peakRssMbBelow: 1024, streamVsEmbedAtLeast: 0.95, checksumShareBelow: 0.03 },
  date: new Date().toISOString(),
};
writeJson(resolve(import.meta.dirname, 'results', 'stream.json'), result);
printTable(['measure', 'value', 'target'], [
  ...Object.entries(result.peakRssMbAt).map(([k, v]) => [`peak RSS at ${Number(k) / 1000}K records`, `${v} MB`, '']),
  [`RSS growth ${BASE / 1000}K -> ${COUNT / 1000}K`, `${(100 * result.rssGrowth).toFixed(1)}%`, '< 10%'],
  ['duplicate check: bytes per id', seen.fingerprintBytesPerId.toFixed(1), ''],
  [`resume ledger of ${COUNT / 1000}K rows: bytes per id, build time`, `${resumeLedger.bytesPerId.toFixed(1)}, ${resumeLedger.seconds.toFixed(1)} s`, ''],
  ['(a JS Set of the same id strings: bytes per id)', seen.stringSetBytesPerId.toFixed(1), ''],
  ['peak RSS', `${result.peakRssMb} MB`, '< 1024 MB'],
  ['embedTo (stream) texts/s', stream.toFixed(0), ''],
  [`embed() texts/s (${COMPARE / 1000}K texts at once)`, direct.toFixed(0), ''],
  ['stream / embed()', `${(100 * result.streamVsEmbed).toFixed(1)}%`, '>= 95%'],
  ['Arrow file', `${result.fileMb} MB`, ''],
  ['row checksums (CRC-32) while writing', `${checksumCost.toFixed(2)} s = ${(100 * result.checksumShareOfStream).toFixed(2)}% of the stream`, '< 3%'],
  ['read whole file, every row verified', `${readCost.verifiedSeconds.toFixed(2)} s`, ''],
  ['read whole file, apache-arrow alone', `${readCost.plainSeconds.toFixed(2)} s`, ''],
]);
