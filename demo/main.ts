// The demo: embed a user's documents on their device, watch progress, store collections in OPFS
// (Arrow), search them, download or delete them; works offline as a PWA. `?bench` runs the
// browser benchmark; `?model=&device=&dtype=` preselect options.
import { registerSW } from 'virtual:pwa-register';
import {
  createEmbedder, detectCapabilities, opfsArrowSink, readBlobRecords, searchEmbeddings,
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
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  dropped = [...(e.dataTransfer?.files ?? [])];
  $('progress-text').textContent = `${dropped.length} file(s) dropped`;
});

/** Documents from the chosen files and pasted text: JSONL/CSV records, or paragraphs of text files. */
async function* documents(): AsyncGenerator<EmbedRecord> {
  const files = [...($<HTMLInputElement>('files').files ?? []), ...dropped];
  for (const file of files) {
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
const rates: { texts: number; tokens: number }[] = [];
function showProgress(p: EmbedProgress): void {
  const bar = $<HTMLProgressElement>('progress');
  if (p.phase !== 'embed') {
    const mb = (b?: number) => ((b ?? 0) / 2 ** 20).toFixed(1);
    $('progress-text').textContent = p.phase === 'load' ? `Loading model: ${mb(p.loadedBytes)} of ${mb(p.totalBytes)} MB` : 'Compiling kernels';
    return;
  }
  const fraction = p.total > 0 ? p.done / p.total : 0;
  bar.value = fraction;
  const eta = Number.isFinite(p.etaMs) ? `, ETA ${Math.ceil(p.etaMs / 1000)} s` : '';
  $('progress-text').textContent = `${Math.round(fraction * 100)}%: ${p.done} of ${p.total} documents, ${p.textsPerSec.toFixed(0)} texts/s${eta}`;
  rates.push({ texts: p.textsPerSec, tokens: p.tokensPerSec });
  drawChart();
  const m = p.memory ?? {};
  const parts = [m.jsHeapBytes !== undefined ? `JS heap ${(m.jsHeapBytes / 2 ** 20).toFixed(0)} MB` : '', m.gpuBytes !== undefined ? `GPU buffers ${(m.gpuBytes / 2 ** 20).toFixed(1)} MB` : ''].filter(Boolean);
  $('memory').textContent = parts.length ? `Memory: ${parts.join(', ')}` : '';
}

function drawChart(): void {
  const canvas = $<HTMLCanvasElement>('chart');
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const series: [keyof (typeof rates)[0], string][] = [['texts', '#1f4e79'], ['tokens', '#b45309']];
  for (const [key, color] of series) {
    const max = Math.max(1, ...rates.map((r) => r[key]));
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    rates.forEach((r, i) => {
      const x = (i / Math.max(1, rates.length - 1)) * (canvas.width - 10) + 5;
      const y = canvas.height - 5 - (r[key] / max) * (canvas.height - 20);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  ctx.fillStyle = '#1a1a1a';
  ctx.font = '12px system-ui';
  const last = rates.at(-1);
  if (last) ctx.fillText(`texts/s ${last.texts.toFixed(0)} (blue), tokens/s ${last.tokens.toFixed(0)} (orange)`, 8, 14);
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
    setCollection(name, { status: 'failed' });
    $('progress-text').textContent = `Failed: ${(error as Error).message}`;
  } finally {
    controller = null;
    $<HTMLButtonElement>('embed').disabled = false;
    $<HTMLButtonElement>('cancel').disabled = true;
    await refreshCollections();
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
  if (!records.length) {
    $('progress-text').textContent = 'Nothing to embed: choose or drop files, or paste text.';
    return;
  }
  await saveInput(name, records);
  const m = manifest();
  m[name] = { model: $<HTMLSelectElement>('model').value, device: $<HTMLSelectElement>('device').value, dtype: $<HTMLSelectElement>('dtype').value, status: 'running', total: records.length };
  saveManifest(m);
  await run(name, false);
});
$('cancel').addEventListener('click', () => controller?.abort());
$('resume').addEventListener('click', () => {
  const pending = Object.entries(manifest()).find(([, s]) => s.status === 'running' || s.status === 'cancelled');
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
    li.innerHTML = `<strong>${escapeHtml(name)}</strong> <span>${state.rows ?? 0} of ${state.total} rows, ${(size / 2 ** 20).toFixed(2)} MB, ${state.status}, ${escapeHtml(state.model)}</span>`;
    const download = button(`Download ${name}.arrow`, async () => {
      const file = await (await (await collectionsDir()).getFileHandle(`${name}.arrow`)).getFile();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file);
      a.download = `${name}.arrow`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    });
    const remove = button(`Delete ${name}`, async () => {
      const dir = await collectionsDir();
      for (const f of [`${name}.arrow`, `${name}.input.jsonl`]) await dir.removeEntry(f).catch(() => undefined);
      const m = manifest();
      delete m[name];
      saveManifest(m);
      await refreshCollections();
    });
    li.append(download, remove);
    list.append(li);
    if (state.status === 'done' || (state.rows ?? 0) > 0) select.add(new Option(name, name));
    if (state.status === 'running' || state.status === 'cancelled') $('resume').hidden = controller !== null;
  }
}

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
  if (!name || !query) {
    results.innerHTML = '<li>Choose a collection and type a query.</li>';
    return;
  }
  const state = manifest()[name]!;
  const embedder = await embedderFor(state.model, state.device, state.dtype);
  const { data } = await embedder.embed([query], { onProgress: () => undefined }); // a query is not a run: leave the run's progress shown
  const hits = await searchEmbeddings(`collections/${name}.arrow`, data, Number($<HTMLInputElement>('k').value) || 5);
  results.innerHTML = hits.map((h) => `<li><strong>${escapeHtml(h.id)}</strong> <span class="score">${h.score.toFixed(3)}</span><br>${escapeHtml(String(h.row.snippet ?? ''))}</li>`).join('') || '<li>No results.</li>';
});

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

await refreshCollections();
if (params.has('bench')) {
  $('bench-section').hidden = false;
  const result = await runBench({
    device: (params.get('device') ?? 'wasm') as 'wasm', model: params.get('model') ?? 'fixture-minilm',
    texts: Number(params.get('texts') ?? 400), runs: Number(params.get('runs') ?? 3),
  }, $('bench-table') as HTMLTableElement);
  Object.assign(globalThis, { benchResult: result });
}
document.body.dataset.ready = 'true';
