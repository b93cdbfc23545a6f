// The demo: embed a user's documents on their device, watch progress, store collections in OPFS
// (Arrow), search them as you type, see them on a map, download them (CSV, JSONL, Arrow); works
// offline as a PWA. `?bench` runs the browser benchmark; `?model=&device=&dtype=` preselect
// options; `?hub=URL` replaces the model hub (tests serve a hub-layout folder locally).
import { registerSW } from 'virtual:pwa-register';
import {
  createEmbedder, DEFAULT_HUB, detectCapabilities, opfsArrowSink, readBlobRecords, readEmbeddings, searchEmbeddings,
  type BrowserEmbedder, type EmbedProgress, type EmbedRecord, type SearchHit,
} from '../dist/index.js';
import { runBench } from './bench.js';
import { EXTRACTED, extractText } from './extract.js';
import { drawMap, layout, type DrawnMap, type MapRow } from './map.js';
import { body, csvField, escapeHtml, highlight, queryWords, snippet, splitParagraphs } from './text.js';

registerSW({ immediate: true });

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const MANIFEST_KEY = 'bulk-embed-demo:collections';
const LAST_KEY = 'bulk-embed-demo:last';
const HUB_MODEL = 'Xenova/all-MiniLM-L6-v2';
const hubHost = params.get('hub') ?? DEFAULT_HUB.remoteHost;
const hubUrl = (file: string) => `${hubHost.replace(/\/+$/, '')}/${HUB_MODEL}/resolve/main/${file}`;
const isFixture = (model: string) => model.startsWith('fixture-');
/** The bundled sample corpus is embedded into this collection. */
const SAMPLES = 'samples';

interface CollectionState {
  model: string;
  device: string;
  dtype: string;
  status: 'running' | 'done' | 'cancelled' | 'failed' | 'interrupted';
  total: number;
  rows?: number;
}

const manifest = (): Record<string, CollectionState> => JSON.parse(localStorage.getItem(MANIFEST_KEY) ?? '{}');
const saveManifest = (m: Record<string, CollectionState>) => localStorage.setItem(MANIFEST_KEY, JSON.stringify(m));
const setCollection = (name: string, state: Partial<CollectionState>) => {
  const m = manifest();
  m[name] = { ...m[name]!, ...state };
  saveManifest(m);
};

for (const key of ['model', 'device', 'dtype'] as const) {
  const value = params.get(key);
  if (value) $<HTMLSelectElement>(key).value = value;
}

// --- the model: the trained one where it can be had, the labelled test models otherwise ---------
const modelSelect = $<HTMLSelectElement>('model');
let userPickedModel = false;
let hubState: 'checking' | 'cached' | 'reachable' | 'unreachable' | 'offline' = 'checking';

/** Whether the service worker holds the trained model's weights (cached on its first download). */
async function hubCached(): Promise<boolean> {
  if (!('caches' in globalThis) || !(await caches.has('hub-models'))) return false;
  const keys = await (await caches.open('hub-models')).keys();
  return keys.some((r) => r.url.includes(`/${HUB_MODEL}/`) && r.url.endsWith('.onnx'));
}

/** The precision of the trained model's weights the service worker holds (q8, fp16 or fp32), if any. */
async function hubCachedDtype(): Promise<string | null> {
  if (!('caches' in globalThis) || !(await caches.has('hub-models'))) return null;
  const urls = (await (await caches.open('hub-models')).keys()).map((r) => r.url).filter((u) => u.includes(`/${HUB_MODEL}/`));
  const has = (file: string) => urls.some((u) => u.endsWith(`/onnx/${file}`));
  return has('model_quantized.onnx') ? 'q8' : has('model_fp16.onnx') ? 'fp16' : has('model.onnx') ? 'fp32' : null;
}

/** Says what the chosen model is: trained or random, downloaded or stored, and why when the trained one cannot be had. */
function describeModel(): void {
  const note = $('model-note');
  const model = modelSelect.value;
  const why = hubState === 'offline' ? 'This device is offline and the trained model is not stored on it'
    : hubState === 'unreachable' ? 'The model hub cannot be reached, so the trained model cannot be downloaded now' : '';
  note.classList.toggle('warn', isFixture(model) || (model === HUB_MODEL && why !== ''));
  if (model === HUB_MODEL) {
    note.textContent = hubState === 'cached' ? 'all-MiniLM-L6-v2 (trained) is stored on this device: available offline.'
      : why ? `${why}: choose a test model below (random weights: results are not meaningful).`
      : hubState === 'checking' ? 'Checking that the trained model can be downloaded...'
      : 'all-MiniLM-L6-v2 is a trained model: it is downloaded once (about 23 MB), then works offline.';
  } else if (isFixture(model)) {
    note.textContent = `${why ? `${why}: a test model is selected. ` : ''}${model} is a test model with random weights: it runs everything offline, but its results are not meaningful.`;
  } else {
    note.textContent = '';
  }
}
modelSelect.addEventListener('change', () => { userPickedModel = true; describeModel(); });

/** Picks the default model: the trained one when stored or reachable, else fixture-tiny, saying why. */
async function chooseModel(): Promise<void> {
  if (await hubCached().catch(() => false)) hubState = 'cached';
  else if (!navigator.onLine) hubState = 'offline';
  else {
    describeModel();
    try {
      const response = await fetch(hubUrl('config.json'), { signal: AbortSignal.timeout(2500) });
      hubState = response.ok ? 'reachable' : 'unreachable';
    } catch {
      hubState = 'unreachable';
    }
  }
  if (!params.get('model') && !userPickedModel) modelSelect.value = hubState === 'cached' || hubState === 'reachable' ? HUB_MODEL : 'fixture-tiny';
  describeModel();
}
addEventListener('offline', () => { if (hubState !== 'cached') { hubState = 'offline'; describeModel(); } });
addEventListener('online', () => void chooseModel());
const modelChosen = chooseModel();
if (!params.get('model')) await modelChosen;

// --- capabilities ---------------------------------------------------------------------------
const caps = await detectCapabilities();
const capRows: [string, string][] = [
  ['WebGPU adapter', caps.webgpu ? caps.adapter ?? 'yes' : 'none'],
  ['shader-f16', caps.shaderF16 ? 'yes' : 'no'],
  ['Cross-origin isolated', caps.crossOriginIsolated ? 'yes (WASM threads)' : 'no (one single-threaded worker per core)'],
  ['Threads (cores)', String(caps.cores)],
  ['Network', navigator.onLine ? 'online' : 'offline'],
];
$('caps').innerHTML = capRows.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('');

// --- embedders, cached per setup --------------------------------------------------------------
const embedders = new Map<string, Promise<BrowserEmbedder>>();
function embedderFor(model: string, device: string, dtype: string, onProgress?: (p: EmbedProgress) => void): Promise<BrowserEmbedder> {
  const key = `${model}|${device}|${dtype}`;
  if (!embedders.has(key)) {
    const location = isFixture(model) ? `/models/${model}` : model;
    const created = (async () => {
      // Without the hub, 'auto' cannot ask which weights exist: use the ones stored.
      const stored = model === HUB_MODEL && dtype === 'auto' && hubState !== 'reachable' ? await hubCachedDtype().catch(() => null) : null;
      return createEmbedder({ model: location, device: device as 'auto', dtype: (stored ?? dtype) as 'auto', onProgress, hub: { remoteHost: hubHost } });
    })();
    created.catch(() => embedders.delete(key));
    embedders.set(key, created);
  }
  return embedders.get(key)!;
}

// --- input: a list of files the user can add to, remove from and clear -------------------------
const drop = $('drop');
const fileInput = $<HTMLInputElement>('files');
let selected: File[] = [];
const NOT_YET = /\.(doc|odt|rtf|pptx?|xlsx?|png|jpe?g|gif|webp|zip)$/i;

function addFiles(files: Iterable<File>): void {
  for (const f of files) if (!selected.some((s) => s.name === f.name && s.size === f.size && s.lastModified === f.lastModified)) selected.push(f);
  showFiles();
}
/** Lists the chosen files by name and size, each with a Remove button; says which will be skipped and why. */
function showFiles(): void {
  const list = $('file-list');
  list.replaceChildren(...selected.map((f, i) => {
    const li = document.createElement('li');
    const skip = NOT_YET.test(f.name) ? ' <span class="skip">(not supported yet: will be skipped)</span>' : '';
    li.innerHTML = `<span>${escapeHtml(f.name)} <span class="muted">${formatBytes(f.size)}</span>${skip}</span>`;
    li.append(button('Remove', () => { selected.splice(i, 1); showFiles(); drop.focus(); }, `Remove ${f.name}`));
    return li;
  }));
  const unsupported = selected.filter((f) => NOT_YET.test(f.name)).length;
  $('file-count').textContent = selected.length
    ? `${selected.length} file${selected.length > 1 ? 's' : ''} ready${unsupported ? `, ${unsupported} of them not supported yet (old .doc, other Office files and images are skipped)` : ''}` : '';
  $('clear-files').hidden = selected.length === 0;
}
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  addFiles(e.dataTransfer?.files ?? []);
});
drop.addEventListener('keydown', (e) => {
  if (e.target === drop && (e.key === 'Enter' || e.key === ' ')) {
    e.preventDefault();
    fileInput.click();
  }
});
fileInput.addEventListener('change', () => {
  addFiles(fileInput.files ?? []);
  fileInput.value = '';
});
$('clear-files').addEventListener('click', () => { selected = []; showFiles(); drop.focus(); });

/** Why a file cannot be read as text: empty, or bytes that are not UTF-8 text (a PNG renamed .txt). */
async function unreadable(file: File): Promise<string | null> {
  if (NOT_YET.test(file.name)) return 'old .doc, other Office files and images are not supported yet';
  if (file.size === 0) return 'empty';
  if (EXTRACTED.test(file.name)) return null; // binary: its text comes from the extraction worker
  const head = new Uint8Array(await file.slice(0, 8192).arrayBuffer());
  if (head.includes(0)) return 'binary, not text';
  try {
    // A cut multi-byte character at the end of the slice is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, file.size > head.length ? head.length - 4 : head.length));
  } catch {
    return 'binary, not UTF-8 text';
  }
  return null;
}

/** Files skipped by the last read, with the reason. */
let skipped: string[] = [];

/**
 * Documents from files and pasted text: JSONL/CSV records, or the paragraphs of text files, each
 * headed by its section's heading. Every row keeps its source, 1-based paragraph number, a readable
 * title and its full text (content), for results, the map and the downloads.
 */
async function* documents(files: File[], pasted: string): AsyncGenerator<EmbedRecord> {
  skipped = [];
  const paragraphs = function* (source: string, text: string): Generator<EmbedRecord> {
    for (const [i, p] of splitParagraphs(text).entries()) {
      const title = `${source === 'pasted' ? 'pasted text' : source}, paragraph ${i + 1}`;
      yield { id: `${source}:${i + 1}`, text: p.text, metadata: { source, paragraph: i + 1, heading: p.heading, title, content: p.text } };
    }
  };
  for (const file of files) {
    const why = await unreadable(file);
    if (why) {
      skipped.push(`${file.name} (${why})`);
      continue;
    }
    if (/\.(jsonl|ndjson|csv)$/i.test(file.name)) {
      let n = 0;
      for await (const record of readBlobRecords(file)) {
        n++;
        yield { ...record, id: `${file.name}:${record.id}`, metadata: { ...record.metadata, source: file.name, paragraph: n, heading: '', title: `${file.name}, ${record.id}`, content: record.text } };
      }
    } else if (EXTRACTED.test(file.name)) {
      // PDF (pdf.js) and DOCX (mammoth), read in a worker.
      let text: string;
      try {
        text = await extractText(file);
      } catch (error) {
        skipped.push(`${file.name} (could not read its text: ${(error as Error).message})`);
        continue;
      }
      if (!text.trim()) skipped.push(`${file.name} (no text in it: a scanned PDF needs OCR, which this demo does not do)`);
      else yield* paragraphs(file.name, text);
    } else {
      yield* paragraphs(file.name, await file.text());
    }
  }
  yield* paragraphs('pasted', pasted);
}

// --- OPFS helpers -----------------------------------------------------------------------------
async function collectionsDir(): Promise<FileSystemDirectoryHandle> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle('collections', { create: true });
}
async function fileSize(name: string): Promise<number> {
  try {
    return (await (await (await collectionsDir()).getFileHandle(name)).getFile()).size;
  } catch {
    return 0;
  }
}

/** Keeps the input as JSONL in OPFS, so a run can resume after a reload. */
async function saveInput(name: string, records: EmbedRecord[]): Promise<void> {
  const handle = await (await collectionsDir()).getFileHandle(`${name}.input.jsonl`, { create: true });
  const writable = await handle.createWritable();
  await writable.write(records.map((r) => JSON.stringify({ id: r.id, text: r.text, ...r.metadata })).join('\n') + '\n');
  await writable.close();
}

// --- the run panel: download, warm-up, embed, save, each pending, active, done, failed or cancelled
type Step = 'download' | 'warmup' | 'embed' | 'save';
type StepState = 'pending' | 'active' | 'done' | 'skipped' | 'failed' | 'cancelled';
const STEP_WORDS: Record<StepState, string> = { pending: 'waiting', active: 'in progress', done: 'done', skipped: 'not needed', failed: 'failed', cancelled: 'cancelled' };
const stepItem = (step: Step) => document.querySelector<HTMLLIElement>(`#run-steps li[data-step="${step}"]`)!;
const stepState = (step: Step) => stepItem(step).dataset.state as StepState;
/** Sets a step's state, and its detail when given. */
function setStep(step: Step, state: StepState, detail?: string): void {
  const li = stepItem(step);
  if (li.dataset.state !== state) {
    li.dataset.state = state;
    li.querySelector('.step-state')!.textContent = STEP_WORDS[state];
  }
  if (detail !== undefined) li.querySelector('.step-detail')!.textContent = detail;
}
/** The step in progress, if any. */
const activeStep = (): Step | null => (['download', 'warmup', 'embed', 'save'] as Step[]).find((s) => stepState(s) === 'active') ?? null;
/** A new run: every step back to pending, the previous run's words gone. */
function resetSteps(): void {
  $('run-steps').hidden = false;
  for (const step of ['download', 'warmup', 'embed', 'save'] as Step[]) setStep(step, 'pending', '');
  stepTimes.clear();
  etaShown = null;
  loadBytes = 0;
}
const stepTimes = new Map<Step, number>();
const since = (step: Step) => ((performance.now() - (stepTimes.get(step) ?? performance.now())) / 1000).toFixed(1);
const startStep = (step: Step, detail: string) => { stepTimes.set(step, performance.now()); setStep(step, 'active', detail); };

// --- progress UI ------------------------------------------------------------------------------
const rates: { seconds: number; texts: number; tokens: number }[] = [];
/** The ETA shown, smoothed so it does not jump with each window. */
let etaShown: number | null = null;
/** The model's size, from the last load report that gave it. */
let loadBytes = 0;
function showProgress(p: EmbedProgress): void {
  const bar = $<HTMLProgressElement>('progress');
  if (p.phase !== 'embed') {
    const mb = (b?: number) => ((b ?? 0) / 2 ** 20).toFixed(1);
    const loaded = p.phase === 'compile' || (!!p.totalBytes && (p.loadedBytes ?? 0) >= p.totalBytes);
    if (!controller) return; // a model loaded for a search, not a run
    loadBytes = Math.max(loadBytes, p.totalBytes ?? 0);
    // The download is done when the warm-up starts (the first worker to report may have only its small files yet).
    if (p.phase === 'load' && stepState('download') === 'active') {
      setStep('download', 'active', p.retry ? `retrying (${p.retry.reason})` : `${mb(p.loadedBytes)} of ${mb(p.totalBytes)} MB`);
    } else if (p.phase === 'compile' && stepState('warmup') === 'pending') {
      setStep('download', 'done', loadBytes ? `${mb(loadBytes)} MB in ${since('download')} s` : `loaded in ${since('download')} s`);
      startStep('warmup', 'compiling the kernels on the first texts...');
    }
    $('progress-text').textContent = p.phase === 'load' && !loaded ? `Loading model: ${mb(p.loadedBytes)} of ${mb(p.totalBytes)} MB` : 'Warming up the model (compiling kernels)...';
    return;
  }
  const fraction = p.total > 0 ? p.done / p.total : 0;
  bar.value = fraction;
  // An ETA only once there is enough work behind it to estimate from: from the average rate of the
  // run so far (not the last window's), smoothed, and rounded to 5 s above 20 s, so it reads steady.
  const steady = p.elapsedMs > 1500 && p.done >= Math.min(32, p.total / 10) && p.done < p.total;
  let eta = '';
  if (steady) {
    const raw = ((p.total - p.done) * p.elapsedMs) / p.done;
    etaShown = etaShown === null ? raw : 0.7 * Math.min(etaShown, raw * 2) + 0.3 * raw;
    eta = `, ETA ${formatDuration(etaShown > 20_000 ? Math.round(etaShown / 5000) * 5000 : etaShown)}`;
  }
  $('progress-text').textContent = `${Math.round(fraction * 100)}%: ${p.done} of ${p.total} documents, ${p.textsPerSec.toFixed(0)} texts/s${eta}`;
  if (controller && stepState('embed') === 'active') setStep('embed', 'active', `${p.done} of ${p.total} documents, ${p.textsPerSec.toFixed(0)} texts/s${eta}`);
  rates.push({ seconds: p.elapsedMs / 1000, texts: p.textsPerSec, tokens: p.tokensPerSec });
  drawChart();
  void showMemory(p.memory);
}

let storage: StorageEstimate | null = null;
let storageAt = 0;
/** Memory as far as the browser tells: JS heap (Chromium), GPU buffers the library allocated, storage used of quota. */
async function showMemory(memory: EmbedProgress['memory'] = {}): Promise<void> {
  const heap = memory.jsHeapBytes ?? (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
  if (performance.now() - storageAt > 2000) {
    storageAt = performance.now();
    storage = await navigator.storage.estimate().catch(() => null);
  }
  const parts = [
    heap !== undefined ? `JS heap ${formatBytes(heap)}` : 'JS heap: not reported by this browser',
    memory.gpuBytes !== undefined ? `GPU buffers ${formatBytes(memory.gpuBytes)}` : '',
    storage?.usage !== undefined && storage.quota ? `storage ${formatBytes(storage.usage)} of ${formatBytes(storage.quota)}` : '',
  ].filter(Boolean);
  $('memory').textContent = `Memory: ${parts.join(', ')}`;
}

/** 42 s, 3 min 5 s, 16 h 12 min. */
function formatDuration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MB`;
  return `${(bytes / 2 ** 30).toFixed(2)} GB`;
}

/** Shows an error as an error: styled, and announced (role="alert"). */
function showError(message: string): void {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}
const clearError = () => { $('error').hidden = true; $('error').textContent = ''; };

/** Rates over elapsed time, with axes and units; the legend is HTML below the canvas, readable at any width. */
function drawChart(): void {
  const canvas = $<HTMLCanvasElement>('chart');
  // Drawn at the size it is shown, so its labels stay 12 px on a phone as on a desktop.
  const scale = devicePixelRatio || 1;
  const width = Math.max(200, canvas.clientWidth || 640);
  const height = 160;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const left = 52, right = 52, top = 10, bottom = 28;
  const plotW = width - left - right, plotH = height - top - bottom;
  const tMax = Math.max(1, ...rates.map((r) => r.seconds));
  ctx.strokeStyle = '#5a6b7d';
  ctx.lineWidth = 1;
  ctx.strokeRect(left, top, plotW, plotH);
  ctx.font = '12px system-ui';
  ctx.fillStyle = '#1a1a1a';
  ctx.textAlign = 'center';
  for (let i = 0; i <= 4; i++) ctx.fillText(`${((tMax * i) / 4).toFixed(tMax < 20 ? 1 : 0)}`, left + (plotW * i) / 4, height - 12);
  ctx.fillText('elapsed (s)', left + plotW / 2, height - 1);
  const series: [keyof Omit<(typeof rates)[0], 'seconds'>, string, 'left' | 'right'][] = [['texts', '#1f4e79', 'left'], ['tokens', '#b45309', 'right']];
  for (const [key, color, side] of series) {
    const max = Math.max(1, ...rates.map((r) => r[key]));
    ctx.fillStyle = color;
    ctx.textAlign = side === 'left' ? 'right' : 'left';
    const x = side === 'left' ? left - 4 : left + plotW + 4;
    ctx.fillText(max.toFixed(0), x, top + 10);
    ctx.fillText('0', x, top + plotH);
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    rates.forEach((r, i) => {
      const px = left + (r.seconds / tMax) * plotW;
      const py = top + plotH - (r[key] / max) * plotH;
      if (i === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    });
    ctx.stroke();
  }
  const last = rates.at(-1);
  $('chart-legend').textContent = last ? `Blue, left axis: ${last.texts.toFixed(0)} texts/s. Orange, right axis: ${last.tokens.toFixed(0)} tokens/s.` : '';
}


// --- embedding --------------------------------------------------------------------------------
let controller: AbortController | null = null;
/** The collection a run in this page is writing, if any. */
let running: string | null = null;

/**
 * Records per window: small enough that a cancel keeps most of the work (each window is committed
 * before the next is read; only the window in flight is lost), big enough to keep the workers busy.
 */
const windowFor = (total: number) => Number(params.get('window')) || Math.min(256, Math.max(16, Math.ceil(total / 20)));

async function run(name: string, resume: boolean): Promise<void> {
  const state = manifest()[name]!;
  controller = new AbortController();
  running = name;
  $<HTMLButtonElement>('embed').disabled = true;
  $<HTMLButtonElement>('cancel').disabled = false;
  rates.length = 0;
  resetSteps();
  $<HTMLProgressElement>('progress').value = 0;
  $('progress-text').textContent = `${resume ? 'Resuming' : 'Starting'} "${name}": loading the model...`;
  $('cancel').focus(); // the pressed button is now disabled: focus goes where the next action is
  try {
    // Offline, a hub model that is not stored cannot load: say so now rather than after the download's retries.
    startStep('download', isFixture(state.model) ? `${state.model} (test model)` : state.model);
    if (!navigator.onLine && !isFixture(state.model) && !(await hubCached().catch(() => false))) throw new Error(`cannot fetch ${hubUrl('config.json')} while offline`);
    const loadedBefore = embedders.has(`${state.model}|${state.device}|${state.dtype}`);
    const embedder = await embedderFor(state.model, state.device, state.dtype, showProgress);
    // A model this page loaded before (an earlier run, a search) is neither downloaded nor warmed up again: say so.
    if (stepState('download') !== 'done') {
      setStep('download', 'done', loadedBefore ? 'already loaded in this page' : `${loadBytes ? `${(loadBytes / 2 ** 20).toFixed(1)} MB` : 'loaded'} in ${since('download')} s`);
    }
    // Only WebGPU compiles kernels ahead (a warm-up run per shape); WASM has none, and a software adapter skips it.
    const skipped = embedder.info.reasons.find((r) => r.startsWith('warm-up skipped'));
    if (stepState('warmup') === 'active') setStep('warmup', 'done', `${since('warmup')} s`);
    else if (embedder.info.device === 'webgpu' && !skipped) setStep('warmup', 'done', loadedBefore ? 'already warm' : 'done');
    else setStep('warmup', 'skipped', skipped ?? 'WASM compiles no kernels ahead: nothing to warm up');
    $('reasons').textContent = `Running on ${embedder.info.device} (${embedder.info.dtype}). ${embedder.info.reasons.join('; ')}`;
    const input = await (await (await collectionsDir()).getFileHandle(`${name}.input.jsonl`)).getFile();
    const sink = await opfsArrowSink(`collections/${name}.arrow`, { resume, overwrite: !resume });
    setCollection(name, { status: 'running' });
    await refreshCollections();
    startStep('embed', `${resume ? 'resuming: ' : ''}${state.total} documents`);
    const result = await embedder.embedTo(input, sink, {
      resume,
      total: state.total,
      signal: controller.signal,
      onProgress: showProgress,
      windowSize: windowFor(state.total),
    });
    forgetRows(name);
    if (controller.signal.aborted) {
      setStep('embed', 'cancelled', `stopped at ${result.written + result.skipped} of ${state.total}`);
      await saveStep(name, result.written + result.skipped);
      setCollection(name, { status: 'cancelled', rows: result.written + result.skipped });
      $('progress-text').textContent = `Cancelled: ${result.written + result.skipped} of ${state.total} stored. Resume on its row continues where it stopped.`;
    } else {
      setStep('embed', 'done', `${state.total} documents in ${since('embed')} s`);
      await saveStep(name, result.written + result.skipped);
      setCollection(name, { status: 'done', rows: result.written + result.skipped });
      $<HTMLProgressElement>('progress').value = 1;
      $('progress-text').textContent = `Done: 100%, ${state.total} documents stored in "${name}".`;
    }
    localStorage.setItem(LAST_KEY, name);
  } catch (error) {
    forgetRows(name);
    // Windows committed before the stop stay in the file: count them from the file itself.
    const rows = await storedRows(name);
    const step = activeStep();
    if ((error as Error).name === 'AbortError') {
      if (step) setStep(step, 'cancelled', `cancelled; ${rows} of ${state.total} kept`);
      setCollection(name, { status: 'cancelled', rows });
      $('progress-text').textContent = `Cancelled: ${rows} of ${state.total} stored. Resume on its row continues where it stopped.`;
      if (rows > 0) localStorage.setItem(LAST_KEY, name);
    } else {
      if (step) setStep(step, 'failed', (error as Error).message.split('\n')[0]!.slice(0, 160));
      showError(`Embedding "${name}" failed: ${await offlineHint(state.model, error as Error)}`);
      if (rows === 0 && !resume) {
        // Nothing was stored (the model did not load, say): leave no empty collection behind.
        await removeCollection(name).catch(() => setCollection(name, { status: 'failed', rows }));
        $('progress-text').textContent = 'Failed: nothing was stored.';
      } else {
        setCollection(name, { status: 'failed', rows });
        $('progress-text').textContent = `Failed: ${rows} of ${state.total} stored.`;
      }
    }
  } finally {
    controller = null;
    running = null;
    $<HTMLButtonElement>('embed').disabled = false;
    $<HTMLButtonElement>('cancel').disabled = true;
    await refreshCollections(localStorage.getItem(LAST_KEY) ?? undefined);
    void showOfflineModels(); // a model used for the first time is cached now
    $('progress-text').focus();
  }
}

/**
 * The save step: every window was committed to OPFS as the run went; this checks what the file
 * holds (rows counted from the file itself, not from the run's own count) and says so.
 */
async function saveStep(name: string, expected: number): Promise<void> {
  startStep('save', 'checking the stored file...');
  const rows = await storedRows(name);
  const size = await fileSize(`${name}.arrow`);
  if (rows === expected) setStep('save', 'done', `${rows} rows, ${formatBytes(size)} in this browser's storage (OPFS)`);
  else setStep('save', 'failed', `the file holds ${rows} rows, the run wrote ${expected}`);
}

/** Deletes a collection's files and its entry; a file that cannot be removed (in use) keeps the entry and says so. */
async function removeCollection(name: string): Promise<void> {
  const dir = await collectionsDir();
  for (const f of [`${name}.arrow`, `${name}.input.jsonl`]) {
    await dir.removeEntry(f).catch((error: Error) => {
      if (error.name !== 'NotFoundError') throw new Error(`cannot remove ${f} (${error.message}): it is in use (a read, a search or a run, here or in another tab); try again`);
    });
  }
  forgetRows(name);
  const m = manifest();
  delete m[name];
  saveManifest(m);
}

/** Rows in a collection's Arrow file: every whole window committed, however the run ended. */
async function storedRows(name: string): Promise<number> {
  if ((await fileSize(`${name}.arrow`)) === 0) return 0;
  let rows = 0;
  try {
    for await (const batch of readEmbeddings(`collections/${name}.arrow`, { allowTruncated: true })) rows += batch.numRows;
  } catch {
    return 0;
  }
  return rows;
}

interface StoredRow {
  id: string;
  meta: Record<string, unknown>;
  vector: Float32Array;
}
const rowsCache = new Map<string, Promise<StoredRow[]>>();
const forgetRows = (name: string) => rowsCache.delete(name);
const HIDDEN_COLUMNS = new Set(['id', 'embedding', 'embedding_float16', 'checksum', 'text_hash']);

/** A collection's stored rows: id, metadata (full text in content) and vector; read once, kept. */
function storedRowsOf(name: string): Promise<StoredRow[]> {
  if (!rowsCache.has(name)) {
    const read = (async () => {
      const rows: StoredRow[] = [];
      for await (const batch of readEmbeddings(`collections/${name}.arrow`, { allowTruncated: true })) {
        const names = batch.schema.fields.map((f) => f.name).filter((n) => !HIDDEN_COLUMNS.has(n));
        const ids = batch.getChild('id')!;
        const vectors = batch.getChild('embedding')!;
        for (let i = 0; i < batch.numRows; i++) {
          const meta: Record<string, unknown> = {};
          for (const n of names) meta[n] = batch.getChild(n)!.get(i);
          rows.push({ id: String(ids.get(i)), meta, vector: Float32Array.from(vectors.get(i)!.toArray() as ArrayLike<number>) });
        }
      }
      return rows;
    })();
    read.catch(() => rowsCache.delete(name));
    rowsCache.set(name, read);
  }
  return rowsCache.get(name)!;
}

/** The error's message, once, and a word about the network when a hub model fails offline. */
async function offlineHint(model: string, error: Error): Promise<string> {
  if (navigator.onLine) return error.message;
  const stored = await offlineModels();
  if (stored.includes(model)) return error.message;
  return `this device is offline and ${model} is not stored on it (${error.message.split('\n')[0]}). ` +
    `Available offline: ${stored.join(', ') || 'none yet (visit once online)'}.`;
}

/** The models whose weights this browser has cached (precached with the app, or cached on first use). */
async function offlineModels(): Promise<string[]> {
  if (!('caches' in globalThis)) return [];
  const models = [...modelSelect.options].map((o) => o.value);
  const cached = await Promise.all(models.map(async (m) => {
    if (!isFixture(m)) return m === HUB_MODEL && (await hubCached().catch(() => false));
    return (await caches.match(`/models/${m}/onnx/model.onnx`, { ignoreSearch: true })) !== undefined;
  }));
  return models.filter((_, i) => cached[i]);
}

/** Says which models work offline, on the page and in the model list. */
async function showOfflineModels(): Promise<void> {
  const stored = await offlineModels();
  $('offline-models').textContent = `Available offline on this device: ${stored.join(', ') || 'none yet (the app caches its default model on the first visit)'}.`;
  for (const option of modelSelect.options) {
    option.textContent = option.textContent!.replace(/ · offline$/, '') + (stored.includes(option.value) ? ' · offline' : '');
  }
  if (stored.includes(HUB_MODEL) && hubState !== 'cached') {
    hubState = 'cached';
    describeModel();
  }
}

/** Reads the documents, keeps them in OPFS and embeds them into `name`; asks before replacing unless told not to. */
async function embedInto(name: string, files: File[], pasted: string, { ask = true } = {}): Promise<void> {
  if (controller) return;
  const records: EmbedRecord[] = [];
  clearError();
  try {
    for await (const record of documents(files, pasted)) records.push(record);
  } catch (error) {
    $('progress-text').textContent = `Could not read the input: ${(error as Error).message}`;
    return;
  }
  const skippedNote = skipped.length ? `Skipped ${skipped.join(', ')}.` : '';
  if (!records.length) {
    showError(skippedNote ? `Nothing to embed: ${skippedNote}` : 'Nothing to embed: choose or drop files, or paste text.');
    return;
  }
  if (skippedNote) showError(skippedNote);
  const existing = manifest()[name];
  if (existing && ask && !confirm(`A collection "${name}" exists (${existing.rows ?? 0} of ${existing.total} rows). Replace it?`)) return;
  if (existing) {
    try {
      await removeCollection(name);
    } catch (error) {
      showError(`Could not replace "${name}": ${(error as Error).message}`);
      return;
    }
  }
  await saveInput(name, records);
  const m = manifest();
  m[name] = { model: modelSelect.value, device: $<HTMLSelectElement>('device').value, dtype: $<HTMLSelectElement>('dtype').value, status: 'running', total: records.length };
  saveManifest(m);
  await run(name, false);
}

const collectionName = () => $<HTMLInputElement>('collection').value.trim().replace(/[^\w.-]+/g, '-') || 'documents';
$('embed').addEventListener('click', () => void embedInto(collectionName(), selected, $<HTMLTextAreaElement>('paste').value));
$('collection').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !controller) {
    e.preventDefault();
    $('embed').click();
  }
});
$('cancel').addEventListener('click', () => controller?.abort());

let sampleQueries: string[] = [];
$('sample').addEventListener('click', async () => {
  const sample = $<HTMLButtonElement>('sample');
  sample.disabled = true;
  try {
    const index = await (await fetch('samples/index.json')).json() as { files: string[]; queries: string[] };
    const files = await Promise.all(index.files.map(async (f) => new File([await (await fetch(`samples/${f}`)).blob()], f, { type: 'text/markdown' })));
    sampleQueries = index.queries;
    $<HTMLInputElement>('collection').value = SAMPLES;
    await embedInto(SAMPLES, files, '', { ask: false });
    showSuggestions();
  } catch (error) {
    showError(`Could not load the sample documents: ${(error as Error).message}`);
  } finally {
    sample.disabled = false;
  }
});

/** Suggested queries for the sample collection, as buttons that search it. */
function showSuggestions(): void {
  const box = $('suggestions');
  const have = manifest()[SAMPLES];
  box.hidden = !have || !(have.rows ?? 0);
  if (box.hidden) return;
  if (!sampleQueries.length) sampleQueries = ['how do I bake bread', 'what do whales eat', 'pacing on race day', 'keeping slugs off plants', 'seeing planets with a telescope'];
  box.replaceChildren(Object.assign(document.createElement('span'), { className: 'muted', textContent: 'Try:' }), ...sampleQueries.map((q) => button(q, () => {
    $<HTMLSelectElement>('search-collection').value = SAMPLES;
    $<HTMLInputElement>('query').value = q;
    if (mapOf !== SAMPLES) void showMap();
    void search();
  })));
}

// --- collections ------------------------------------------------------------------------------
const ALL = '*all*';
/** Collections with rows to search. */
const searchable = () => Object.entries(manifest()).filter(([, s]) => s.status === 'done' || (s.rows ?? 0) > 0).map(([n]) => n);

/** Lists the collections, each with its state, Resume where it stopped, downloads and Delete; `prefer` becomes the searched one. */
async function refreshCollections(prefer?: string): Promise<void> {
  const list = $('collections');
  const select = $<HTMLSelectElement>('search-collection');
  const previous = select.value;
  list.innerHTML = '';
  const entries = Object.entries(manifest());
  if (!entries.length) list.innerHTML = '<li>No collections yet.</li>';
  for (const [name, state] of entries) {
    const size = await fileSize(`${name}.arrow`);
    const rows = state.rows ?? 0;
    const li = document.createElement('li');
    const status = name === running ? 'running' : state.status;
    li.innerHTML = `<strong>${escapeHtml(name)}</strong> <span class="state">${status}, ${rows} of ${state.total} stored, ${formatBytes(size)}, ${escapeHtml(state.model)}</span>`;
    const actions = document.createElement('span');
    actions.className = 'actions';
    if (resumable(state) && name !== running) actions.append(button('Resume', () => { clearError(); void run(name, true); }, `Resume ${name}`, 'primary'));
    if (rows > 0) {
      actions.append(
        button('CSV', () => void download(name, 'csv'), `Download ${name}.csv`),
        button('JSONL', () => void download(name, 'jsonl'), `Download ${name}.jsonl`),
        button('Parquet', () => void download(name, 'parquet'), `Download ${name}.parquet`),
        button('Arrow', () => void download(name, 'arrow'), `Download ${name}.arrow`),
      );
    }
    if (name !== running) {
      actions.append(button('Delete', async () => {
        if (!confirm(`Delete "${name}" and its ${rows} stored rows?`)) return;
        try {
          await removeCollection(name);
        } catch (error) {
          showError(`Could not delete "${name}": ${(error as Error).message}`);
        }
        await refreshCollections();
      }, `Delete ${name}`));
    }
    li.append(actions);
    list.append(li);
  }
  const names = searchable();
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.length > 1) select.add(new Option(`All collections (${names.length})`, ALL));
  const want = [prefer, previous, localStorage.getItem(LAST_KEY)].find((n) => n && (n === ALL ? names.length > 1 : names.includes(n)));
  if (want) select.value = want;
  showSuggestions();
  if (select.value !== mapOf) void showMap();
}

/** A run that stopped before its end (cut by a reload, cancelled, or failed) continues from its file. */
const resumable = (s: CollectionState) => s.status === 'running' || s.status === 'interrupted' || s.status === 'cancelled' || (s.status === 'failed' && (s.rows ?? 0) < s.total);

function button(label: string, onClick: () => void, ariaLabel?: string, kind: 'primary' | 'secondary' = 'secondary'): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  if (kind === 'secondary') b.className = 'secondary';
  b.textContent = label;
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  b.addEventListener('click', onClick);
  return b;
}

// --- downloads --------------------------------------------------------------------------------
/** The collection as CSV, JSONL or Parquet (id, title, source, paragraph, heading, full text, other metadata, vector), or its Arrow file. */
async function download(name: string, format: 'csv' | 'jsonl' | 'parquet' | 'arrow'): Promise<void> {
  let blob: Blob;
  if (format === 'arrow') {
    blob = await (await (await collectionsDir()).getFileHandle(`${name}.arrow`)).getFile();
  } else {
    const rows = await storedRowsOf(name);
    const records = rows.map(({ id, meta, vector }) => {
      const { content, title, source, paragraph, heading, ...rest } = meta;
      return { id, title: title ?? id, source: source ?? '', paragraph: paragraph ?? null, heading: heading ?? '', text: content ?? '', ...rest, embedding: [...vector].map((v) => Math.round(v * 1e6) / 1e6) };
    });
    if (format === 'parquet') {
      blob = new Blob([await toParquet(records)], { type: 'application/vnd.apache.parquet' });
    } else if (format === 'jsonl') {
      blob = new Blob([records.map((r) => JSON.stringify(r)).join('\n') + '\n'], { type: 'application/x-ndjson' });
    } else {
      const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
      const line = (r: Record<string, unknown>) => columns.map((c) => csvField(c === 'embedding' ? JSON.stringify(r[c]) : r[c])).join(',');
      blob = new Blob([[columns.join(','), ...records.map(line)].join('\r\n') + '\r\n'], { type: 'text/csv' });
    }
  }
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${name}.${format}`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/**
 * Rows as a Parquet file, written in the page by hyparquet-writer (pure JS, loaded on first use):
 * strings for the text columns, paragraph an INT32, the vector a LIST of FLOAT, other metadata as
 * strings (JSON for non-strings); snappy-compressed, as pandas, polars, DuckDB and Arrow read it.
 */
async function toParquet(records: Record<string, unknown>[]): Promise<ArrayBuffer> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'embedding');
  const str = (v: unknown) => (v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v));
  const columns = keys.map((k) => ({
    name: k,
    data: records.map((r) => (k === 'paragraph' ? (typeof r[k] === 'number' ? r[k] : null) : str(r[k]))),
    schema: k === 'paragraph' ? { name: k, type: 'INT32', repetition_type: 'OPTIONAL' } as const
      : { name: k, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: k === 'id' ? 'REQUIRED' : 'OPTIONAL' } as const,
  }));
  return parquetWriteBuffer({
    columnData: [...columns.map(({ name, data }) => ({ name, data })), { name: 'embedding', data: records.map((r) => r.embedding as number[]) }],
    schema: [
      { name: 'root', num_children: columns.length + 1 },
      ...columns.map((c) => c.schema),
      { name: 'embedding', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', type: 'FLOAT', repetition_type: 'REQUIRED' },
    ],
    createdBy: 'bulk-embed demo (hyparquet-writer)',
  });
}

// --- map --------------------------------------------------------------------------------------
const MAP_ROWS = 3000;
let map: DrawnMap | null = null;
/** The last query marked on the map, marked again when the map is redrawn. */
let lastMark: { collection: string; query: Float32Array | null; ids: string[] } | null = null;
/** The collection on the map. */
let mapOf = '';

/** Draws the searched collection (for "all", the latest) as a map of its paragraphs. */
async function showMap(): Promise<void> {
  const chosen = $<HTMLSelectElement>('search-collection').value;
  const name = chosen === ALL ? (localStorage.getItem(LAST_KEY) ?? searchable()[0] ?? '') : chosen;
  mapOf = chosen;
  const host = $('map');
  $('map-block').hidden = !name || !manifest()[name];
  if (!name || !manifest()[name]) {
    host.innerHTML = '<p class="muted">Embed a collection to see its map.</p>';
    map = null;
    return;
  }
  try {
    const rows = (await storedRowsOf(name)).slice(0, MAP_ROWS);
    if (mapOf !== chosen) return;
    const all = manifest()[name]!.rows ?? rows.length;
    const caption = `Map of ${rows.length} paragraphs of "${name}"${all > rows.length ? ` (the first ${rows.length} of ${all})` : ''}, one colour per file`;
    map?.dispose();
    map = null;
    if (!rows.length) {
      host.innerHTML = '<p class="muted">No rows stored yet.</p>';
      return;
    }
    host.setAttribute('aria-busy', 'true');
    $('map-projection').textContent = '';
    host.innerHTML = `<p class="muted">Placing ${rows.length} paragraphs by meaning...</p>`;
    const laid = await layout(rows.map((r) => r.vector), { umapMax: Number(params.get('umapMax')) || 2000 });
    host.removeAttribute('aria-busy');
    if (mapOf !== chosen) {
      laid.dispose();
      return;
    }
    map = drawMap(host, $('map-tip'), rows.map((r): MapRow => ({
      id: r.id, source: String(r.meta.source ?? name), title: String(r.meta.title ?? r.id), text: body(String(r.meta.content ?? '')), vector: r.vector,
    })), `${caption}, placed by ${laid.projection === 'umap' ? 'UMAP' : 'PCA'}`, laid);
    if (lastMark?.collection === name && lastMark.query) void map.mark(lastMark.query, lastMark.ids);
    $('map-projection').textContent = laid.projection === 'umap'
      ? 'Placed by UMAP (umap-js, computed here): paragraphs near each other mean similar things; distances between far clusters mean little.'
      : `Placed by PCA (the two directions in which the vectors vary most, computed here)${rows.length > 8 ? ': UMAP is used up to 2,000 paragraphs' : ''}.`;
    $('map-title').textContent = `Map of "${name}"`;
  } catch (error) {
    host.removeAttribute('aria-busy');
    host.innerHTML = `<p class="muted">No map: ${escapeHtml((error as Error).message)}</p>`;
    map = null;
  }
}
$('search-collection').addEventListener('change', () => {
  void showMap();
  if ($<HTMLInputElement>('query').value.trim()) void search();
});

// --- search -----------------------------------------------------------------------------------
let searchSeq = 0;

/** A relevance word for a cosine (calibrated loosely on sentence-transformers models). */
const relevanceWord = (score: number) => (score >= 0.55 ? 'strong match' : score >= 0.35 ? 'good match' : score >= 0.2 ? 'weak match' : 'poor match');

/** Searches the chosen collection (or all), and shows the hits grouped by document, on the map too. */
async function search(): Promise<void> {
  const seq = ++searchSeq;
  const chosen = $<HTMLSelectElement>('search-collection').value;
  const query = $<HTMLInputElement>('query').value.trim();
  const results = $('results');
  const status = $('search-status');
  if (!chosen || !query) {
    status.textContent = 'Choose a collection and type a query.';
    results.innerHTML = '';
    lastMark = null;
    void map?.mark(null, []);
    return;
  }
  const names = chosen === ALL ? searchable() : [chosen];
  const k = Math.max(1, Math.min(100, Number($<HTMLInputElement>('k').value) || 5));
  results.setAttribute('aria-busy', 'true');
  status.textContent = `Searching ${chosen === ALL ? 'all collections' : `"${chosen}"`}...`;
  try {
    const started = performance.now();
    const vectors = new Map<string, Float32Array>();
    const hits: (SearchHit & { collection: string })[] = [];
    for (const name of names) {
      const state = manifest()[name]!;
      const key = `${state.model}|${state.device}|${state.dtype}`;
      if (!vectors.has(key)) {
        const embedder = await embedderFor(state.model, state.device, state.dtype);
        // A query is not a run: leave the run's progress shown.
        vectors.set(key, (await embedder.embed([query], { onProgress: () => undefined, priority: 'high' })).data as Float32Array);
      }
      for (const hit of await searchEmbeddings(`collections/${name}.arrow`, vectors.get(key)!, k, { allowTruncated: true })) hits.push({ ...hit, collection: name });
    }
    if (seq !== searchSeq) return; // a newer query was typed meanwhile
    hits.sort((a, b) => b.score - a.score);
    const top = hits.slice(0, k);
    renderResults(top, query, names.length > 1);
    status.textContent = top.length ? `${top.length} results in ${Math.round(performance.now() - started)} ms${names.length > 1 ? ` from ${names.length} collections` : ''}.` : 'No results.';
    const mapped = mapOf === ALL ? (localStorage.getItem(LAST_KEY) ?? '') : mapOf;
    const mappedState = manifest()[mapped];
    if (mappedState) {
      lastMark = { collection: mapped, query: vectors.get(`${mappedState.model}|${mappedState.device}|${mappedState.dtype}`) ?? null, ids: top.filter((h) => h.collection === mapped).map((h) => h.id) };
      void map?.mark(lastMark.query, lastMark.ids);
    }
  } catch (error) {
    if (seq !== searchSeq) return;
    status.textContent = '';
    showError(`Search failed: ${(error as Error).message}`);
  } finally {
    if (seq === searchSeq) results.removeAttribute('aria-busy');
  }
}

/** Hits grouped by document, in the order of each document's best hit. */
function renderResults(hits: (SearchHit & { collection: string })[], query: string, showCollection: boolean): void {
  const words = queryWords(query);
  const groups = new Map<string, typeof hits>();
  for (const hit of hits) {
    const key = `${hit.collection}\u0000${String(hit.row.source ?? hit.id.split(':')[0])}`;
    groups.set(key, [...(groups.get(key) ?? []), hit]);
  }
  const results = $('results');
  results.innerHTML = [...groups.entries()].map(([key, group], g) => {
    const [collection, source] = key.split('\u0000') as [string, string];
    const items = group.map((h) => {
      const title = String(h.row.title ?? h.id);
      const text = String(h.row.content ?? h.row.snippet ?? '');
      const heading = h.row.heading ? `<span class="muted"> · ${escapeHtml(String(h.row.heading))}</span>` : '';
      const pct = Math.round(Math.max(0, Math.min(1, h.score / 0.8)) * 100);
      return `<li class="hit" data-id="${escapeHtml(h.id)}">
        <div class="hit-head"><strong class="title">${escapeHtml(title)}</strong>${heading}
          <span class="relevance" title="cosine similarity ${h.score.toFixed(3)}"><span class="rel-track"><span class="rel-bar" style="width:${pct}%"></span></span> ${relevanceWord(h.score)}</span></div>
        <p class="snippet">${highlight(snippet(body(text), words), words)}</p>
        <details class="context" data-collection="${escapeHtml(h.collection)}" data-id="${escapeHtml(h.id)}"><summary>Show in context</summary><div class="context-body">Loading...</div></details>
      </li>`;
    }).join('');
    return `<section class="group" aria-labelledby="group-${g}"><h3 id="group-${g}">${escapeHtml(source === 'pasted' ? 'pasted text' : source)}${showCollection ? ` <span class="muted">in ${escapeHtml(collection)}</span>` : ''}</h3><ol>${items}</ol></section>`;
  }).join('');
  for (const details of results.querySelectorAll<HTMLDetailsElement>('details.context')) {
    details.addEventListener('toggle', () => { if (details.open) void showContext(details, words); }, { once: true });
  }
}

/** The paragraph with the one before and after it in its document, the hit highlighted. */
async function showContext(details: HTMLDetailsElement, words: string[]): Promise<void> {
  const box = details.querySelector('.context-body')!;
  try {
    const rows = await storedRowsOf(details.dataset.collection!);
    const hit = rows.find((r) => r.id === details.dataset.id);
    if (!hit) throw new Error('the row is not stored');
    const source = hit.meta.source, p = Number(hit.meta.paragraph);
    const near = rows
      .filter((r) => r.meta.source === source && Math.abs(Number(r.meta.paragraph) - p) <= 1)
      .sort((a, b) => Number(a.meta.paragraph) - Number(b.meta.paragraph));
    box.innerHTML = near.map((r) => {
      const text = body(String(r.meta.content ?? ''));
      const heading = r.meta.heading && r.meta.heading !== near[near.indexOf(r) - 1]?.meta.heading ? `<strong>${escapeHtml(String(r.meta.heading))}</strong><br>` : '';
      return `<p class="${r.id === hit.id ? 'current' : 'muted'}">${heading}${r.id === hit.id ? highlight(text, words) : escapeHtml(text)}</p>`;
    }).join('');
  } catch (error) {
    box.textContent = `Cannot show the context: ${(error as Error).message}`;
  }
}

$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(typing);
  void search();
});
/** Search as you type, once typing pauses. */
let typing: ReturnType<typeof setTimeout> | undefined;
$('query').addEventListener('input', () => {
  clearTimeout(typing);
  const query = $<HTMLInputElement>('query').value.trim();
  if (!query) {
    ++searchSeq;
    $('results').innerHTML = '';
    $('search-status').textContent = '';
    lastMark = null;
    void map?.mark(null, []);
    return;
  }
  if (query.length >= 2 && $<HTMLSelectElement>('search-collection').value) typing = setTimeout(() => void search(), 300);
});

// --- tabs: the app and the benchmark -----------------------------------------------------------
const TABS = { app: ['tab-app', 'panel-app'], bench: ['tab-bench', 'bench-section'] } as const;
function showTab(which: keyof typeof TABS): void {
  for (const [name, [tab, panel]] of Object.entries(TABS)) {
    const on = name === which;
    $(tab).setAttribute('aria-selected', String(on));
    $(tab).tabIndex = on ? 0 : -1;
    $(panel).hidden = !on;
  }
  if (which === 'bench') syncBenchModel();
}
for (const [name, [tab]] of Object.entries(TABS)) {
  $(tab).addEventListener('click', () => showTab(name as keyof typeof TABS));
  // Arrow keys move between the tabs, as in any tab list.
  $(tab).addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const other = name === 'app' ? 'bench' : 'app';
    showTab(other);
    $(TABS[other][0]).focus();
  });
}

// --- the benchmark tab ------------------------------------------------------------------------
const benchModel = $<HTMLSelectElement>('bench-model');
/** The bench's model list is the picker's, with the same labels, and the same choice. */
function syncBenchModel(): void {
  benchModel.replaceChildren(...[...modelSelect.children].map((n) => n.cloneNode(true)));
  benchModel.value = modelSelect.value;
}
benchModel.addEventListener('change', () => {
  modelSelect.value = benchModel.value;
  userPickedModel = true;
  describeModel();
});
const benchLabel = () => benchModel.selectedOptions[0]?.textContent?.replace(/ · offline$/, '') ?? benchModel.value;
let benching = false;
/** Runs the benchmark with the tab's settings. */
async function bench() {
  if (benching) return;
  benching = true;
  const run = $<HTMLButtonElement>('bench-run');
  run.disabled = true;
  for (const id of ['bench-log', 'bench-chart', 'bench-download']) $(id).replaceChildren();
  $('bench-table').replaceChildren();
  try {
    return await runBench({
      device: $<HTMLSelectElement>('bench-device').value as 'wasm', model: benchModel.value,
      texts: Math.max(4, Number($<HTMLInputElement>('bench-texts').value) || 400), runs: Math.max(1, Number($<HTMLInputElement>('bench-runs').value) || 3),
    }, { status: $('bench-status'), log: $('bench-log'), table: $('bench-table') as HTMLTableElement, chart: $('bench-chart'), download: $('bench-download') },
    { label: benchLabel(), hubHost });
  } catch (error) {
    $('bench-status').textContent = `The benchmark failed: ${(error as Error).message}`;
    return undefined;
  } finally {
    benching = false;
    run.disabled = false;
  }
}
$('bench-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void bench();
});

// --- start ------------------------------------------------------------------------------------
// A run the page was cut from (a reload, a closed tab) is not running: say so, with what it stored.
for (const [name, state] of Object.entries(manifest())) {
  if (state.status === 'running') setCollection(name, { status: 'interrupted', rows: await storedRows(name) });
}
await refreshCollections();
void navigator.serviceWorker?.ready.then(() => showOfflineModels());
await showOfflineModels();
if (params.has('bench')) {
  // `?bench&device=&model=&texts=&runs=` (bench:browser, bench:ci): the tab, filled in from the URL, run at once.
  if (!params.get('model')) modelSelect.value = 'fixture-minilm';
  showTab('bench');
  $<HTMLSelectElement>('bench-device').value = params.get('device') ?? 'wasm';
  $<HTMLInputElement>('bench-texts').value = params.get('texts') ?? '400';
  $<HTMLInputElement>('bench-runs').value = params.get('runs') ?? '3';
  $('progress-text').textContent = 'Benchmark running: see its progress below.';
  const result = await bench();
  $('progress-text').textContent = 'Benchmark done.';
  Object.assign(globalThis, { benchResult: result });
}
document.body.dataset.ready = 'true';
