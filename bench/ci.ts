// `npm run bench:ci`: the compact benchmark suite CI runs after `npm test`, and its gate.
//
// Every figure is a RATIO of two things measured side by side in the same process, alternating,
// so that a slower or busier machine moves both sides alike and the ratio stays put (absolute
// texts/s on a shared 2-core runner would swing with the neighbours' load). Each part runs in its
// own child process: RSS figures are not inflated by models another part loaded, and one part's
// thread pools never compete with the next one's.
//
// The figures are checked against the bounds in bench/gates.json; the run ends with a plain table
// of every gated figure, its value, its bound and the verdict, and exits 1 when any figure crosses
// its bound (or is missing). Each run appends one line to bench/results/history.jsonl (commit,
// machine, figures and the details the report draws); `npm run bench:report` renders it.
//
// The parts reuse the benchmarks' own measuring functions (bench/shared.ts) at smaller sizes:
//   node      engine vs the transformers.js pipeline vs the raw session.run ceiling, mixed corpus, fixture-minilm (CPU)
//   pipeline  the engine with inference made free (tokenizer threads = cores) vs one-thread tokenize-only
//   stream    embedTo vs embed(), and the RSS curve of one embedTo run from 20K to 200K records (fixture-tiny)
//   search    binary + rescoring vs exact float16 on 100K generated vectors: speed-up and recall@10
//   priority  a high-priority call's latency, and the time to the first vector, in mean bulk batches
//   browser   this library vs transformers.js in the same Chromium page, WASM, one small run
//
// BENCH_CI_PARTS=node,search runs only those parts (the gate then reports the others as missing).
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { median, printTable } from './lib.js';
import type { FigureValues, Gate, HistoryLine } from './history.js';

const ROOT = resolve(import.meta.dirname, '..');
const MODELS_DIR = join(ROOT, 'models');
const CORES = availableParallelism();
const PARTS = ['node', 'pipeline', 'stream', 'search', 'priority', 'browser'] as const;
type Part = (typeof PARTS)[number];

/** What one part reports: its gated figures and the details the report draws. */
interface PartResult { figures: FigureValues; details: Record<string, unknown> }

// ---------------------------------------------------------------------------------------------
// The parts (each runs in a child process: `tsx bench/ci.ts --part <name>`)

/** Engine vs transformers.js vs the raw ceiling: 200 mixed texts, medians of 3 alternating runs (transformers.js takes ~80% of the time). */
async function nodePart(): Promise<PartResult> {
  const TEXTS = 200;
  const RUNS = 3;
  const { mixedCorpus } = await import('../tools/fixtures/corpus.js');
  const { alternate, cpuSessionOptions, engineRunner, loadCpuPeers, prepareCeiling, transformersJsRunner } = await import('./shared.js');
  const model = 'fixture-minilm';
  const { engine, extractor, tokenizer, session, maxTokens } = await loadCpuPeers(MODELS_DIR, model, cpuSessionOptions(CORES));
  const texts = mixedCorpus(TEXTS, 1001);
  const runners = { engine: engineRunner(engine), transformersJs: transformersJsRunner(extractor, tokenizer, maxTokens) };
  const ceiling = prepareCeiling(session, tokenizer, maxTokens, texts);
  // Warm-up on a slice that covers short and long shapes (JIT, ORT's arena, the batch budget).
  const warm = texts.slice(0, 64);
  await runners.engine(warm);
  await runners.transformersJs(warm);
  await prepareCeiling(session, tokenizer, maxTokens, warm)();
  const s = await alternate({ engine: () => runners.engine(texts), transformersJs: () => runners.transformersJs(texts), ceiling }, RUNS, 'node ');
  const perSec = (k: keyof typeof s) => texts.length / median(s[k].seconds);
  await engine.dispose();
  await extractor.dispose();
  return {
    figures: { engineVsTransformersJs: perSec('engine') / perSec('transformersJs'), engineVsCeiling: perSec('engine') / perSec('ceiling') },
    details: { model, texts: TEXTS, runs: RUNS, textsPerSec: { engine: perSec('engine'), transformersJs: perSec('transformersJs'), ceiling: perSec('ceiling') }, seconds: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.seconds])) },
  };
}

/**
 * The loop's ceiling (inference made free, tokenizer threads = cores) vs one-thread tokenize-only:
 * 9,000 sample texts, bench:pipeline's size before it took 36,000 (with 3,000 the first window and
 * the window boundaries weigh so much that the threads showed no gain), medians of 3.
 */
async function pipelinePart(): Promise<PartResult> {
  const TEXTS = 9000;
  const RUNS = 3;
  const { createEmbedder, nodeFileAccess } = await import('../src/node.js');
  const { resolveModelFiles } = await import('../src/model/files.js');
  const { loadTokenizer } = await import('../src/tokenize/tokenizer.js');
  const { sampleCorpus } = await import('../tools/fixtures/corpus.js');
  const { alternate, freeBackend } = await import('./shared.js');
  const dir = join(MODELS_DIR, 'fixture-minilm');
  const dim = Number(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).hidden_size);
  const tokenizer = await loadTokenizer(await resolveModelFiles(dir, nodeFileAccess));
  const engine = await createEmbedder({ model: dir, backend: freeBackend(dim), tokenizerThreads: CORES });
  const texts = sampleCorpus(TEXTS, 2026);
  const maxTokens = engine.info.maxTokens;
  tokenizer.encode(texts.slice(0, 500), maxTokens);
  await engine.embed(texts.slice(0, 500));
  const s = await alternate({
    tokenizeOnly: async () => { tokenizer.encode(texts, maxTokens); },
    engine: async () => { await engine.embed(texts); },
  }, RUNS, 'pipeline ');
  await engine.dispose();
  // Both sides tokenize the same texts, so the ratio of their times is the ratio of their tokens/s.
  const ratio = median(s.tokenizeOnly.seconds) / median(s.engine.seconds);
  return { figures: { pipelineVsTokenizeOnly: ratio }, details: { model: 'fixture-minilm', texts: TEXTS, runs: RUNS, tokenizerThreads: CORES, seconds: { tokenizeOnly: s.tokenizeOnly.seconds, engine: s.engine.seconds } } };
}

/**
 * fixture-tiny: first one embedTo run of 200K records in this fresh process, with peak RSS
 * sampled at every 20K (the curve; growth = 200K over 20K), then embedTo vs embed() on 20K
 * records, medians of 3 alternating runs.
 */
async function streamPart(): Promise<PartResult> {
  const RSS_RECORDS = 200_000;
  const COMPARE = 20_000;
  const RUNS = 3;
  const { createEmbedder } = await import('../src/node.js');
  const { alternate, streamRecords, streamRun } = await import('./shared.js');
  const embedder = await createEmbedder({ model: join(MODELS_DIR, 'fixture-tiny') });
  await embedder.embed(Array.from(streamRecords(2000), (r) => r.text));
  const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-bench-ci-'));
  try {
    const milestones = Array.from({ length: RSS_RECORDS / 20_000 }, (_, i) => (i + 1) * 20_000);
    const curve = await streamRun(embedder, RSS_RECORDS, join(dir, 'rss.arrow'), milestones);
    rmSync(join(dir, 'rss.arrow'));
    const rssMb = Object.fromEntries(Object.entries(curve.rssAt).map(([k, v]) => [k, v / 2 ** 20]));
    let n = 0;
    const s = await alternate({
      embedTo: async () => {
        const out = join(dir, `run-${n++}.arrow`);
        await embedder.embedTo(streamRecords(COMPARE), out, { total: COMPARE });
        rmSync(out);
      },
      // The records are generated inside the timing on both sides, as embedTo's source generates its own.
      embed: async () => { await embedder.embed(Array.from(streamRecords(COMPARE), (r) => r.text)); },
    }, RUNS, 'stream ');
    await embedder.dispose();
    const first = rssMb['20000']!;
    const last = rssMb[String(RSS_RECORDS)]!;
    return {
      figures: { embedToVsEmbed: median(s.embed.seconds) / median(s.embedTo.seconds), rssGrowth20Kto200K: (last - first) / first },
      details: { model: 'fixture-tiny', rssRecords: RSS_RECORDS, rssMbAt: rssMb, rssRunSeconds: curve.seconds, compareRecords: COMPARE, runs: RUNS, seconds: { embedTo: s.embedTo.seconds, embed: s.embed.seconds } },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 100K generated vectors, 20 queries; every query timed for binary, 10 for the exact float16 scan. */
async function searchPart(): Promise<PartResult> {
  const VECTORS = 100_000;
  const QUERIES = 20;
  const { SEARCH_LAYOUTS, searchFixture, timeQueries } = await import('./shared.js');
  const fixture = await searchFixture(VECTORS, QUERIES, SEARCH_LAYOUTS);
  try {
    const layouts = [];
    for (const file of fixture.files) layouts.push({ layout: file.name, ...(await timeQueries(file.path, fixture.queries, fixture.truth, file.precision === 'binary' ? QUERIES : 10)) });
    const [exact, rescored] = layouts;
    return {
      figures: { searchSpeedup: exact!.medianQuerySeconds / rescored!.medianQuerySeconds, searchRecallAt10: rescored!.recallAt10 },
      details: { vectors: VECTORS, queries: QUERIES, generateSeconds: fixture.generateSeconds, layouts },
    };
  } finally {
    fixture.cleanup();
  }
}

/**
 * fixture-minilm on the CPU, 600 mixed texts: a whole first run (the batch budget learns this
 * machine's speed), then 3 rounds of (a bulk run alone; a bulk run with a 1-text high-priority call
 * at half its time). Latency and time to the first vector are divided by the mean bulk batch time.
 */
async function priorityPart(): Promise<PartResult> {
  const TEXTS = 600;
  const RUNS = 3;
  const { createEmbedder } = await import('../src/node.js');
  const { mixedCorpus } = await import('../tools/fixtures/corpus.js');
  const { highPriorityRun, timedBulkRun } = await import('./shared.js');
  const embedder = await createEmbedder({ model: join(MODELS_DIR, 'fixture-minilm') });
  const texts = mixedCorpus(TEXTS, 2718);
  const query = ['where is the river garden'];
  await embedder.embed(query);
  await embedder.embed(texts);
  const batchMs: number[] = [];
  const firstMs: number[] = [];
  const latencyMs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const bulk = await timedBulkRun(embedder, texts);
    batchMs.push(bulk.ms / bulk.batches);
    firstMs.push(bulk.firstVectorMs);
    const call = await highPriorityRun(embedder, texts, query, bulk.ms / 2);
    latencyMs.push(call.latencyMs);
    console.error(`priority run ${run + 1}/${RUNS}: batch ${batchMs.at(-1)!.toFixed(0)} ms, first vector ${bulk.firstVectorMs.toFixed(0)} ms, call ${call.latencyMs.toFixed(0)} ms`);
  }
  await embedder.dispose();
  const batch = median(batchMs);
  return {
    figures: { priorityLatencyBatches: median(latencyMs) / batch, firstVectorBatches: median(firstMs) / batch },
    details: { model: 'fixture-minilm', texts: TEXTS, runs: RUNS, meanBatchMs: batchMs, firstVectorMs: firstMs, latencyMs },
  };
}

/**
 * The demo's ?bench page in headless Chromium, WASM, fixture-minilm: 32 texts (one transformers.js
 * chunk), one run after a warm-up of the same 32 texts. transformers.js embeds about 3 texts/s
 * here, so this single small run already costs ~25 s; more runs would not fit the budget.
 */
async function browserPart(): Promise<PartResult> {
  const TEXTS = 32;
  const RUNS = 1;
  const { chromium } = await import('@playwright/test');
  const { CHROMIUM_ARGS } = await import('../playwright.config.js');
  const { pageBench, serveDemo } = await import('./shared.js');
  const server = await serveDemo();
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const r = await pageBench(browser, server.url, 'wasm', 'fixture-minilm', TEXTS, RUNS);
    return {
      figures: { browserWasmVsTransformersJs: r.medians.transformersJs / r.medians.bulkEmbed },
      details: { device: 'wasm', model: 'fixture-minilm', texts: TEXTS, runs: RUNS, textsPerSec: { engine: TEXTS / r.medians.bulkEmbed, transformersJs: TEXTS / r.medians.transformersJs }, seconds: r.seconds },
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

const RUN_PART: Record<Part, () => Promise<PartResult>> = {
  node: nodePart,
  pipeline: pipelinePart,
  stream: streamPart,
  search: searchPart,
  priority: priorityPart,
  browser: browserPart,
};

// ---------------------------------------------------------------------------------------------
// The gate

/**
 * Checks every gate: value, bound and verdict. A missing figure fails, unless its part was left
 * out on purpose (BENCH_CI_PARTS, never set in CI): then it is 'skipped', which does not fail.
 */
function checkGates(gates: Record<string, Gate>, figures: FigureValues, ran: readonly string[]) {
  return Object.entries(gates).map(([id, g]) => {
    const value = figures[id];
    const bound = g.min !== undefined ? `>= ${g.min}` : `<= ${g.max}`;
    const ok = value !== undefined && Number.isFinite(value) && (g.min === undefined || value >= g.min) && (g.max === undefined || value <= g.max);
    const verdict = value !== undefined ? (ok ? 'pass' : 'FAIL') : ran.includes(g.part) ? 'MISSING' : 'skipped';
    return { id, label: g.label, value, bound, verdict };
  });
}

/** The commit this tree is at (with "+dirty" when it has uncommitted changes to tracked files). */
function commitOf(): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short=12', 'HEAD').stdout.trim() || 'unknown';
  return git('diff', '--quiet', 'HEAD', '--', 'src', 'bench', 'package.json').status === 1 ? `${head}+dirty` : head;
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--part');
  if (at > 0) {
    const result = await RUN_PART[process.argv[at + 1] as Part]();
    console.log(`BENCH_CI_RESULT ${JSON.stringify(result)}`);
    return;
  }
  const wanted = (process.env.BENCH_CI_PARTS ?? PARTS.join(',')).split(',') as Part[];
  const started = performance.now();
  const figures: FigureValues = {};
  const details: Record<string, unknown> = {};
  const partSeconds: Record<string, number> = {};
  const failures: string[] = [];
  for (const part of PARTS.filter((p) => wanted.includes(p))) {
    const t0 = performance.now();
    console.error(`bench:ci: ${part}...`);
    // A fresh process per part (see the header); --expose-gc as bench:stream has it.
    const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', import.meta.filename, '--part', part], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
    partSeconds[part] = (performance.now() - t0) / 1000;
    const line = child.stdout.split('\n').find((l) => l.startsWith('BENCH_CI_RESULT '));
    if (child.status !== 0 || !line) {
      failures.push(`${part} (exit ${child.status ?? child.signal})`);
      continue;
    }
    const result = JSON.parse(line.slice('BENCH_CI_RESULT '.length)) as PartResult;
    Object.assign(figures, result.figures);
    details[part] = result.details;
    console.error(`bench:ci: ${part} done in ${partSeconds[part]!.toFixed(0)} s: ${Object.entries(result.figures).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const { gates } = JSON.parse(readFileSync(join(import.meta.dirname, 'gates.json'), 'utf8')) as { gates: Record<string, Gate> };
  const rows = checkGates(gates, figures, PARTS.filter((p) => wanted.includes(p)));

  // The slowed-engine test switch measures a deliberately broken engine: never part of the history.
  const switched = process.env.BULK_EMBED_TEST_PAD_TO_MAX === '1';
  if (!switched && !process.env.BENCH_CI_NO_HISTORY) {
    const line: HistoryLine = {
      commit: commitOf(), date: new Date().toISOString(),
      machine: { cores: CORES, cpu: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
      wallSeconds, partSeconds, figures, verdicts: Object.fromEntries(rows.map((r) => [r.id, r.verdict])), details,
    };
    mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
    appendFileSync(join(import.meta.dirname, 'results', 'history.jsonl'), JSON.stringify(line) + '\n');
  }

  console.log(`\nbench:ci on ${CORES} cores (${cpus()[0]?.model ?? 'unknown'}), ${wallSeconds.toFixed(0)} s (${Object.entries(partSeconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')})${switched ? '; TEST SWITCH BULK_EMBED_TEST_PAD_TO_MAX=1 set: history not written' : ''}`);
  for (const f of failures) console.log(`part failed: ${f}`);
  printTable(['figure', 'what', 'value', 'bound', 'verdict'], rows.map((r) => [r.id, r.label, r.value === undefined ? '-' : r.value.toFixed(3), r.bound, r.verdict]));
  const failed = rows.filter((r) => r.verdict === 'FAIL' || r.verdict === 'MISSING').length + failures.length;
  if (failed) process.exitCode = 1;
}

await main();
