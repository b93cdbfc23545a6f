// `npm run bench:pipeline:browser`: bench:pipeline's Chromium half, the browser loop's own ceiling
// with inference made free. The browser embedder's internal `freeInference` seam gives every worker
// a session that returns unit vectors at once and touches no GPU device, and lays the workers out
// as for a hardware GPU (one GPU worker, tokenizer workers beside it), so the layout a real GPU gets
// is measured in headless Chromium without one. Over the 36,000 mixed texts a pass bench:pipeline uses
// (the sample corpus's mix), for fixture-minilm, fixture-xlmr and fixture-decoder:
//   - tokenize only, one worker: the model's tokenizer alone in one of the library's workers;
//   - tokenize only, the GPU worker: the engine's own GPU worker tokenizing a pass in one call, the
//     baseline of the GPU worker's share (two identical workers in one page tokenized 10-18 % apart,
//     pass after pass: each worker's compiled code is its own, so another worker's speed is no baseline);
//   - the engine with 0 tokenizer workers (the GPU worker tokenizes, feeds and runs);
//   - the engine with 1..N tokenizer workers (N: the default here, or the core count if more).
// Every pass gets texts of its own (sampleCorpus(36000, 2026 + pass)), as in bench:pipeline, so a
// worker's word memo never sees a pass twice. Medians of BENCH_RUNS runs (default 3) after a warm-up, alternating, each share with a 95 % interval of its median; bench/results/pipeline-browser.json
// (BENCH_OUT: another folder; BENCH_MODELS, BENCH_TEXTS and BENCH_WORKERS=0,1,2 narrow it; BENCH_IN_FLIGHT=1 sets batchesInFlight; BENCH_OPTIONS adds embedder options as JSON). The page is
// the browser tests' app (test/browser/app, the built dist/), built into its own folder and served on
// APP_PORT (default 4373, or the next free port). A separate script from bench:pipeline because it
// needs dist/ built and Chromium, which the Node half does not.
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.js';
import { sampleCorpus } from '../tools/fixtures/corpus.js';
import { median, shareCell, shareFigures, printTable, writeJson } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MODELS = (process.env.BENCH_MODELS ?? 'fixture-minilm,fixture-xlmr,fixture-decoder').split(',');
const OUT = resolve(process.env.BENCH_OUT ?? join(import.meta.dirname, 'results'));
const ROOT = resolve(import.meta.dirname, '..');
const TEXTS = Number(process.env.BENCH_TEXTS ?? 36000);
/** The texts of one pass: the same mix under seed 2026 + pass (a few short texts recur by chance; no pass repeats another). */
const textsOf = (pass: number) => sampleCorpus(TEXTS, 2026 + pass);
const TOKENIZE_ONLY = 'tokenize only, one worker';
const GPU_WORKER_ALONE = 'tokenize only, the GPU worker';
/** BENCH_IN_FLIGHT=1: the GPU worker takes one batch at a time (batchesInFlight), to compare with the default 2. */
const IN_FLIGHT = process.env.BENCH_IN_FLIGHT ? Number(process.env.BENCH_IN_FLIGHT) : undefined;
/** BENCH_OPTIONS: more embedder options as JSON (e.g. '{"maxBatchTokens":65536}'), for experiments. */
const EXTRA_OPTIONS: Record<string, unknown> = (() => {
  try {
    return JSON.parse(process.env.BENCH_OPTIONS ?? '{}');
  } catch (error) {
    throw new Error(`BENCH_OPTIONS is not JSON (${(error as Error).message}): ${process.env.BENCH_OPTIONS}`);
  }
})();

/** Builds the tests' page into a folder of its own (a test run's build is left alone) and serves it. */
async function servePage(): Promise<{ url: string; close: () => Promise<void> }> {
  const { build, preview } = await import('vite');
  const configFile = join(ROOT, 'test/browser/app/vite.config.ts');
  const outDir = join(ROOT, '.cache/bench-pipeline-browser');
  await build({ configFile, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const server = await preview({ configFile, build: { outDir }, preview: { port: Number(process.env.APP_PORT ?? 4373), strictPort: false } });
  const url = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4373/';
  return { url: url.replace('localhost', '127.0.0.1'), close: () => new Promise<void>((done) => server.httpServer.close(() => done())) };
}

/** One page-side measurement: tokens made and seconds taken. */
interface Sample { tokens: number; seconds: number }
interface Row { model: string; mode: string; workers: number; tokensPerSec: number[]; seconds: number[]; reasons?: string[]; layout?: string[] }

/**
 * Loads `model` in the page: the free-inference embedders (one per tokenizer-worker count) and a
 * tokenizer-only worker of the library, spoken to in Comlink's wire format (the page exposes only the
 * built package, not Comlink). Returns the default tokenizer-worker count and the core count.
 */
async function loadInPage(page: Page, model: string, workerCounts: number[] | null): Promise<{ counts: number[]; cores: number; defaultWorkers: number }> {
  return page.evaluate(async ({ model, workerCounts, inFlight, extra }) => {
    const g = globalThis as any;
    const { createEmbedder, defaultWorkerFactory } = g.bulkEmbed;
    const url = new URL(`/models/${model}`, location.href).href;
    // The workers each embedder started, from the page's log of every Worker (test/browser/app/main.ts).
    const layouts = new Map<number, string[]>();
    // Each embedder's GPU worker, kept to call its tokenizer alone (the baseline of its share).
    const gpuWorkers = new Map<number, Worker>();
    const started = async (options: { tokenizerWorkers?: number }) => {
      const before = g.workerLog.length;
      let gpu: Worker | undefined;
      const workerFactory = (name: string) => {
        const worker = defaultWorkerFactory(name) as Worker;
        if (name === 'bulk-embed-gpu') gpu = worker;
        return worker;
      };
      const inFlightOption = inFlight ? { batchesInFlight: inFlight } : {};
      const e = await createEmbedder({ model: url, freeInference: true, ...extra, ...inFlightOption, ...options, workerFactory });
      return { e, gpu: gpu!, layout: g.workerLog.slice(before).map((w: { name: string }) => w.name) as string[] };
    };
    // The default layout first: it says how many tokenizer workers this browser gets.
    const { e: first, gpu: firstGpu, layout: firstLayout } = await started({});
    const cores = navigator.hardwareConcurrency || 1;
    const def = Number(first.info.reasons.map((r: string) => /^(\d+) tokenizer workers? beside/.exec(r)?.[1]).find(Boolean) ?? 0);
    const counts: number[] = workerCounts ?? [0, ...Array.from({ length: Math.max(def, cores) }, (_, i) => i + 1)];
    const embedders = new Map<number, any>();
    for (const n of counts) {
      const { e, gpu, layout } = n === def ? { e: first, gpu: firstGpu, layout: firstLayout } : await started({ tokenizerWorkers: n });
      embedders.set(n, e);
      gpuWorkers.set(n, gpu);
      layouts.set(n, layout);
    }
    if (!counts.includes(def)) await first.dispose();
    const call = (worker: Worker, method: string, args: unknown[]) => new Promise<any>((done, fail) => {
      const id = `bench-${Math.random().toString(36).slice(2)}`;
      const listen = (e: MessageEvent) => {
        if (e.data?.id !== id) return;
        worker.removeEventListener('message', listen);
        if (e.data.type === 'RAW') done(e.data.value);
        else fail(new Error(`worker ${method}: ${JSON.stringify(e.data.value)}`));
      };
      worker.addEventListener('message', listen);
      worker.postMessage({ id, type: 'APPLY', path: [method], argumentList: args.map((value) => ({ type: 'RAW', value })) });
    });
    const tokenizer = defaultWorkerFactory('bench-tokenize-only');
    const info = first.info;
    await call(tokenizer, 'loadTokenizer', [{ model: url, maxTokens: info.maxTokens, truncation: info.truncation }]);
    g.bench = { embedders, layouts, tokenizer, call, gpuWorkers };
    return { counts, cores, defaultWorkers: def };
  }, { model, workerCounts, inFlight: IN_FLIGHT, extra: EXTRA_OPTIONS });
}

/** `workers` of the GPU worker's own tokenizer alone (tokenize only, in one call). */
const GPU_TOKENIZES = -2;

/** The path the page fetches a pass's texts from (serveTexts answers it). */
const TEXTS_PATH = '/bench-pipeline-texts';
/** The texts the page's next fetch of TEXTS_PATH gets (set before each pass). */
const nextTexts = new WeakMap<Page, string[]>();

/**
 * Hands each pass's texts to the page through an intercepted fetch. Passed as an argument of
 * page.evaluate (as an array or as one JSON string), they stayed in the page's heap for good, as
 * the inspector's evaluations do: about 52 MB a 36,000-text pass, so the heap the engine's
 * coordinator collects grew by that much with every pass of a run.
 */
async function serveTexts(page: Page): Promise<void> {
  await page.route(`**${TEXTS_PATH}`, (route) => {
    const texts = nextTexts.get(page);
    if (!texts) throw new Error(`the page fetched ${TEXTS_PATH} before a pass set its texts`);
    return route.fulfill({ contentType: 'application/json', body: JSON.stringify(texts) });
  });
}

/** One timed pass in the page: -1 is tokenize-only in a worker of its own, -2 in the GPU worker of the engine without tokenizer workers, else the engine with that many tokenizer workers. */
async function timeInPage(page: Page, workers: number, texts: string[]): Promise<Sample> {
  nextTexts.set(page, texts);
  return page.evaluate(async ({ workers, path }) => {
    const texts: string[] = await (await fetch(path)).json();
    const { embedders, tokenizer, call, gpuWorkers } = (globalThis as any).bench;
    if (workers < 0) {
      const t0 = performance.now();
      const rows = workers === -1 ? await call(tokenizer, 'tokenize', [texts]) : await call(gpuWorkers.get(0), 'tokenize', [texts, true]);
      const seconds = (performance.now() - t0) / 1000;
      return { tokens: rows.offsets[rows.offsets.length - 1] as number, seconds };
    }
    const e = embedders.get(workers);
    const before = e.stats.tokens;
    const t0 = performance.now();
    const r = await e.embed(texts);
    const seconds = (performance.now() - t0) / 1000;
    if (r.data.length !== texts.length * r.dim) throw new Error(`${r.data.length / r.dim} vectors for ${texts.length} texts`);
    return { tokens: e.stats.tokens - before, seconds };
  }, { workers, path: TEXTS_PATH });
}

const modeOf = (workers: number) => (workers === GPU_TOKENIZES ? GPU_WORKER_ALONE : workers < 0 ? TOKENIZE_ONLY : workers === 0 ? 'engine, GPU worker tokenizes' : `engine, ${workers} tokenizer worker${workers > 1 ? 's' : ''}`);

const server = await servePage();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
const chromiumVersion = browser.version();
const results: Row[] = [];
let cores = 0;
let defaultWorkers = 0;
try {
  for (const model of MODELS) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
    await serveTexts(page);
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    // tsx compiles the functions below with esbuild's keepNames, which wraps them in a __name helper the page lacks.
    await page.evaluate('globalThis.__name ??= (f) => f');
    const loaded = await loadInPage(page, model, process.env.BENCH_WORKERS ? process.env.BENCH_WORKERS.split(',').map(Number) : null);
    ({ cores, defaultWorkers } = loaded);
    const modes = [-1, ...(loaded.counts.includes(0) ? [GPU_TOKENIZES] : []), ...loaded.counts];
    const rows = new Map<number, Row>(modes.map((w) => [w, { model, mode: modeOf(w), workers: Math.max(w, 0), tokensPerSec: [], seconds: [] }]));
    // Warm-up: JIT, the tokenizers' caches, every worker's first slices (1,000 texts each, their own).
    let pass = 0;
    for (const w of modes) await timeInPage(page, w, textsOf(pass++).slice(0, 1000));
    for (let run = 0; run < RUNS; run++) {
      for (const w of run % 2 ? [...modes].reverse() : modes) {
        const s = await timeInPage(page, w, textsOf(pass++));
        rows.get(w)!.tokensPerSec.push(s.tokens / s.seconds);
        rows.get(w)!.seconds.push(s.seconds);
      }
      console.error(`${model}: run ${run + 1}/${RUNS}`);
    }
    // What each engine says of itself: the free sessions, the layout, whether the tokenizer workers started.
    const described = await page.evaluate(async () => {
      const { embedders, layouts, tokenizer } = (globalThis as any).bench;
      const out: [number, { reasons: string[]; layout: string[] }][] = [];
      for (const [n, e] of embedders) {
        out.push([n, { reasons: e.info.reasons, layout: layouts.get(n) }]);
        await e.dispose();
      }
      tokenizer.terminate();
      return out;
    });
    for (const [n, d] of described) Object.assign(rows.get(n)!, d);
    await page.close();
    results.push(...rows.values());
  }
} finally {
  await browser.close();
  await server.close();
}

const med = (r: Row) => median(r.tokensPerSec);
/** The GPU worker's own tokenizer in one call: the baseline of its model's GPU-worker-tokenizes share. */
const ownTokenizerOf = (r: Row) => results.find((x) => x.model === r.model && x.mode === GPU_WORKER_ALONE);
const table = printTable(['model', 'mode', 'tokens/s', 'vs GPU worker alone', 'tokens/s per tokenizer worker', 'non-tokenizer share (vs the GPU worker\'s own tokenizer; 95 % interval)', 'vs tokenize only, one worker (95 % interval)'], results.map((r) => {
  const alone = results.find((x) => x.model === r.model && x.mode === modeOf(0));
  const tokenizeOnly = results.find((x) => x.model === r.model && x.mode === TOKENIZE_ONLY)!;
  const ownTokenizer = ownTokenizerOf(r);
  const share = (base: Row) => shareCell(r.tokensPerSec, base.tokensPerSec);
  return [
    r.model, r.mode, med(r).toFixed(0),
    alone && r.mode.startsWith('engine') ? `${(med(r) / med(alone)).toFixed(2)}x` : '',
    r.workers && r.mode.startsWith('engine') ? (med(r) / r.workers).toFixed(0) : '',
    r === alone && ownTokenizer ? share(ownTokenizer) : '',
    r.mode.startsWith('engine') && r.workers <= 1 ? share(tokenizeOnly) : '',
  ];
}));
writeJson(join(OUT, 'pipeline-browser.json'), {
  texts: TEXTS, corpus: 'sampleCorpus(texts, 2026 + pass), a seed per pass', runs: RUNS, cores, defaultTokenizerWorkers: defaultWorkers,
  cpu: cpus()[0]?.model ?? null, chromium: chromiumVersion,
  date: new Date().toISOString(),
  rows: results.map((r) => {
    const own = r.mode === modeOf(0) ? ownTokenizerOf(r) : undefined;
    return { ...r, medianTokensPerSec: med(r), ...(own ? { shareVsOwnTokenizer: shareFigures(r.tokensPerSec, own.tokensPerSec) } : {}) };
  }), table,
  notes: 'Inference made free in Chromium\'s workers (the browser embedder\'s freeInference seam): the browser loop\'s own ceiling in the layout a '
    + 'hardware GPU gets (one GPU worker; tokenizer workers beside it). Non-tokenizer share: 1 - the median over runs of (engine / tokenize only) within each run; '
    + 'for the GPU worker alone, against that same worker\'s tokenizer called in one go (two identical workers in one page ran 10-18 % apart, pass after pass), '
    + 'and for it and the one-tokenizer-worker engine also against the separate tokenize-only worker. In brackets, the 95 % interval of that median '
    + '(order statistics of the runs\' pairs, bench/lib.ts medianInterval): single passes of one tokenizer spread by about +-15 % on a 2-core machine; the interval reads that spread within this run, not a drift between runs.',
});
