// The demo: embed a user's documents on their device, watch progress, store collections in OPFS
// (Arrow), search them, download or delete them; works offline as a PWA. `?bench` runs the
// browser benchmark; `?model=&device=&dtype=` preselect options.
import { registerSW } from 'virtual:pwa-register';
import {
  createEmbedder, detectCapabilities, opfsArrowSink, readBlobRecords, readEmbeddings, searchEmbeddings,
  type BrowserEmbedder, type EmbedProgress, type EmbedRecord,
} from '../dist/index.js';
import { runBench } from './bench.js';

registerSW({ immediate: true });

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const MANIFEST_KEY = 'bulk-embed-demo:collections';

interface CollectionState {
  model: string;
  device: string;
  dtype: string;
  status: 'running' | 'done' | 'cancelled' | 'failed';
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
    const location = model.startsWith('fixture-') ? `/models/${model}` : model;
    const created = createEmbedder({ model: location, device: device as 'auto', dtype: dtype as 'auto', onProgress });
    created.catch(() => embedders.delete(key));
    embedders.set(key, created);
  }
  return embedders.get(key)!;
}

// --- input ------------------------------------------------------------------------------------
const drop = $('drop');
let dropped: File[] = [];
const chosenFiles = (): File[] => [...($<HTMLInputElement>('files').files ?? []), ...dropped];
/** Lists the chosen and dropped files by name and size, since the file input only shows its own. */
function showFiles(): void {
  const files = chosenFiles();
  $('file-list').innerHTML = files.map((f) => `<li>${escapeHtml(f.name)} <span class="muted">${formatBytes(f.size)}</span></li>`).join('');
  $('file-count').textContent = files.length ? `${files.length} file${files.length > 1 ? 's' : ''} ready` : '';
}
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const files = e.dataTransfer?.files;
  // Hand the dropped files to the file input, so it names them too; keep them aside where it cannot take them.
  try {
    if (files) $<HTMLInputElement>('files').files = files;
    dropped = [];
  } catch {
    dropped = [...(files ?? [])];
  }
  showFiles();
});
$('files').addEventListener('change', showFiles);

/** Why a file cannot be read as text: empty, or bytes that are not UTF-8 text (a PNG renamed .txt). */
async function unreadable(file: File): Promise<string | null> {
  if (file.size === 0) return 'empty';
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

/** Documents from the chosen files and pasted text: JSONL/CSV records, or paragraphs of text files. */
async function* documents(): AsyncGenerator<EmbedRecord> {
  skipped = [];
  for (const file of chosenFiles()) {
    const why = await unreadable(file);
    if (why) {
      skipped.push(`${file.name} (${why})`);
      continue;
    }
    if (/\.(jsonl|ndjson|csv)$/i.test(file.name)) {
      for await (const record of readBlobRecords(file)) yield { ...record, id: `${file.name}:${record.id}`, metadata: { ...record.metadata, source: file.name } };
    } else {
      const paragraphs = (await file.text()).split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
      for (const [i, text] of paragraphs.entries()) yield { id: `${file.name}:${i}`, text, metadata: { source: file.name } };
    }
  }
  const pasted = $<HTMLTextAreaElement>('paste').value.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
  for (const [i, text] of pasted.entries()) yield { id: `pasted:${i}`, text, metadata: { source: 'pasted' } };
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
  await writable.write(records.map((r) => JSON.stringify({ id: r.id, text: r.text, ...r.metadata, snippet: r.text.slice(0, 240) })).join('\n') + '\n');
  await writable.close();
}

// --- progress UI ------------------------------------------------------------------------------
const rates: { seconds: number; texts: number; tokens: number }[] = [];
function showProgress(p: EmbedProgress): void {
  const bar = $<HTMLProgressElement>('progress');
  if (p.phase !== 'embed') {
    const mb = (b?: number) => ((b ?? 0) / 2 ** 20).toFixed(1);
    $('progress-text').textContent = p.phase === 'load' ? `Loading model: ${mb(p.loadedBytes)} of ${mb(p.totalBytes)} MB` : 'Compiling kernels';
    return;
  }
  const fraction = p.total > 0 ? p.done / p.total : 0;
  bar.value = fraction;
  const eta = Number.isFinite(p.etaMs) ? `, ETA ${formatDuration(p.etaMs)}` : '';
  $('progress-text').textContent = `${Math.round(fraction * 100)}%: ${p.done} of ${p.total} documents, ${p.textsPerSec.toFixed(0)} texts/s${eta}`;
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

async function run(name: string, resume: boolean): Promise<void> {
  const state = manifest()[name]!;
  controller = new AbortController();
  $<HTMLButtonElement>('embed').disabled = true;
  $<HTMLButtonElement>('cancel').disabled = false;
  $('resume').hidden = true;
  rates.length = 0;
  $('cancel').focus(); // the pressed button is now disabled: focus goes where the next action is
  try {
    const embedder = await embedderFor(state.model, state.device, state.dtype, showProgress);
    $('reasons').textContent = `Running on ${embedder.info.device} (${embedder.info.dtype}). ${embedder.info.reasons.join('; ')}`;
    const input = await (await (await collectionsDir()).getFileHandle(`${name}.input.jsonl`)).getFile();
    const sink = await opfsArrowSink(`collections/${name}.arrow`, { resume, overwrite: !resume });
    setCollection(name, { status: 'running' });
    await refreshCollections();
    const result = await embedder.embedTo(input, sink, { resume, total: state.total, signal: controller.signal, onProgress: showProgress, windowSize: 256 });
    if (controller.signal.aborted) {
      setCollection(name, { status: 'cancelled', rows: result.written + result.skipped });
      $('progress-text').textContent = `Cancelled: ${result.written + result.skipped} of ${state.total} stored. Resume continues where it stopped.`;
    } else {
      setCollection(name, { status: 'done', rows: result.written + result.skipped });
      $<HTMLProgressElement>('progress').value = 1;
      $('progress-text').textContent = `Done: 100%, ${state.total} documents stored in "${name}".`;
    }
  } catch (error) {
    // Windows committed before the stop stay in the file: count them from the file itself.
    const rows = await storedRows(name);
    if ((error as Error).name === 'AbortError') {
      setCollection(name, { status: 'cancelled', rows });
      $('progress-text').textContent = `Cancelled: ${rows} of ${state.total} stored. Resume continues where it stopped.`;
    } else {
      showError(`Embedding "${name}" failed: ${await offlineHint(state.model, error as Error)}`);
      if (rows === 0 && !resume) {
        // Nothing was stored (the model did not load, say): leave no empty collection behind.
        await removeCollection(name);
        $('progress-text').textContent = 'Failed: nothing was stored.';
      } else {
        setCollection(name, { status: 'failed', rows });
        $('progress-text').textContent = `Failed: ${rows} of ${state.total} stored.`;
      }
    }
  } finally {
    controller = null;
    $<HTMLButtonElement>('embed').disabled = false;
    $<HTMLButtonElement>('cancel').disabled = true;
    await refreshCollections();
    void showOfflineModels(); // a model used for the first time is cached now
    $('progress-text').focus();
  }
}

/** Deletes a collection's files and its entry. */
async function removeCollection(name: string): Promise<void> {
  const dir = await collectionsDir();
  for (const f of [`${name}.arrow`, `${name}.input.jsonl`]) await dir.removeEntry(f).catch(() => undefined);
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
  const models = [...$<HTMLSelectElement>('model').options].map((o) => o.value);
  const cached = await Promise.all(models.map(async (m) => {
    const url = m.startsWith('fixture-') ? `/models/${m}/onnx/model.onnx` : null;
    return url !== null && (await caches.match(url, { ignoreSearch: true })) !== undefined;
  }));
  return models.filter((_, i) => cached[i]);
}

/** Says which models work offline, on the page and in the model list. */
async function showOfflineModels(): Promise<void> {
  const stored = await offlineModels();
  $('offline-models').textContent = `Available offline on this device: ${stored.join(', ') || 'none yet (the app caches its default model on the first visit)'}.`;
  for (const option of $<HTMLSelectElement>('model').options) {
    option.textContent = option.textContent!.replace(/ · offline$/, '') + (stored.includes(option.value) ? ' · offline' : '');
  }
}

$('embed').addEventListener('click', async () => {
  const name = $<HTMLInputElement>('collection').value.trim().replace(/[^\w.-]+/g, '-') || 'documents';
  const records: EmbedRecord[] = [];
  try {
    for await (const record of documents()) records.push(record);
  } catch (error) {
    $('progress-text').textContent = `Could not read the input: ${(error as Error).message}`;
    return;
  }
  clearError();
  const skippedNote = skipped.length ? `Skipped ${skipped.join(', ')}.` : '';
  if (!records.length) {
    showError(skippedNote ? `Nothing to embed: ${skippedNote}` : 'Nothing to embed: choose or drop files, or paste text.');
    return;
  }
  if (skippedNote) showError(skippedNote);
  const existing = manifest()[name];
  if (existing && !confirm(`A collection "${name}" exists (${existing.rows ?? 0} of ${existing.total} rows). Replace it?`)) return;
  await saveInput(name, records);
  const m = manifest();
  m[name] = { model: $<HTMLSelectElement>('model').value, device: $<HTMLSelectElement>('device').value, dtype: $<HTMLSelectElement>('dtype').value, status: 'running', total: records.length };
  saveManifest(m);
  await run(name, false);
});
$('cancel').addEventListener('click', () => controller?.abort());
$('resume').addEventListener('click', () => {
  clearError();
  const pending = Object.entries(manifest()).find(([, s]) => resumable(s));
  if (pending) void run(pending[0], true);
});

// --- collections ------------------------------------------------------------------------------
async function refreshCollections(): Promise<void> {
  const list = $('collections');
  const select = $<HTMLSelectElement>('search-collection');
  list.innerHTML = '';
  select.innerHTML = '';
  const entries = Object.entries(manifest());
  if (!entries.length) list.innerHTML = '<li>No collections yet.</li>';
  for (const [name, state] of entries) {
    const size = await fileSize(`${name}.arrow`);
    const li = document.createElement('li');
    li.innerHTML = `<strong>${escapeHtml(name)}</strong> <span>${state.rows ?? 0} of ${state.total} rows, ${formatBytes(size)}, ${state.status}, ${escapeHtml(state.model)}</span>`;
    const download = (state.rows ?? 0) > 0 && button(`Download ${name}.arrow`, async () => {
      const file = await (await (await collectionsDir()).getFileHandle(`${name}.arrow`)).getFile();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file);
      a.download = `${name}.arrow`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    });
    const remove = button(`Delete ${name}`, async () => {
      if (!confirm(`Delete "${name}" and its ${state.rows ?? 0} stored rows?`)) return;
      await removeCollection(name);
      await refreshCollections();
    });
    if (download) li.append(download);
    li.append(remove);
    list.append(li);
    if (state.status === 'done' || (state.rows ?? 0) > 0) select.add(new Option(name, name));
    if (resumable(state)) $('resume').hidden = controller !== null;
  }
}

/** A run that stopped before its end (cut by a reload, cancelled, or failed) continues from its file. */
const resumable = (s: CollectionState) => s.status === 'running' || s.status === 'cancelled' || (s.status === 'failed' && (s.rows ?? 0) < s.total);

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'secondary';
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

// --- search -----------------------------------------------------------------------------------
$('search-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $<HTMLSelectElement>('search-collection').value;
  const query = $<HTMLInputElement>('query').value.trim();
  const results = $('results');
  const status = $('search-status');
  if (!name || !query) {
    status.textContent = 'Choose a collection and type a query.';
    return;
  }
  const submit = $<HTMLButtonElement>('search-button');
  submit.disabled = true;
  results.setAttribute('aria-busy', 'true');
  status.textContent = `Searching "${name}"...`;
  try {
    const state = manifest()[name]!;
    const embedder = await embedderFor(state.model, state.device, state.dtype);
    const started = performance.now();
    const { data } = await embedder.embed([query], { onProgress: () => undefined, priority: 'high' }); // a query is not a run: leave the run's progress shown
    const hits = await searchEmbeddings(`collections/${name}.arrow`, data, Number($<HTMLInputElement>('k').value) || 5, { allowTruncated: true });
    results.innerHTML = hits.map((h) => `<li><strong>${escapeHtml(h.id)}</strong> <span class="score">${h.score.toFixed(3)}</span><br>${escapeHtml(String(h.row.snippet ?? ''))}</li>`).join('');
    status.textContent = hits.length ? `${hits.length} results in ${Math.round(performance.now() - started)} ms.` : 'No results.';
  } catch (error) {
    status.textContent = '';
    showError(`Search failed: ${(error as Error).message}`);
  } finally {
    submit.disabled = false;
    results.removeAttribute('aria-busy');
  }
});

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

await refreshCollections();
void navigator.serviceWorker?.ready.then(() => showOfflineModels());
await showOfflineModels();
if (params.has('bench')) {
  $('bench-section').hidden = false;
  $('progress-text').textContent = 'Benchmark running: see its progress below.';
  const result = await runBench({
    device: (params.get('device') ?? 'wasm') as 'wasm', model: params.get('model') ?? 'fixture-minilm',
    texts: Number(params.get('texts') ?? 400), runs: Number(params.get('runs') ?? 3),
  }, { status: $('bench-status'), log: $('bench-log'), table: $('bench-table') as HTMLTableElement, chart: $('bench-chart'), download: $('bench-download') });
  $('progress-text').textContent = 'Benchmark done.';
  Object.assign(globalThis, { benchResult: result });
}
document.body.dataset.ready = 'true';
