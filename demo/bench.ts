// The Benchmark tab (and `?bench`, which opens it and runs at once): a fixed generated corpus
// through this library and the transformers.js pipeline (input-order chunks of 32, mean pooling,
// normalised), same device and model, alternating after a warm-up. Shows each run as it goes, then
// a table, a bar chart of texts/s with the ratio, the chart as a PNG to share, and the results as
// JSON to download. `npm run bench:browser` and bench:ci drive `?bench`.
import { env, pipeline } from '@huggingface/transformers';
import { createEmbedder } from '../dist/index.js';
import { mixedCorpus } from '../tools/fixtures/corpus.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/models/';
env.backends.onnx.wasm!.wasmPaths = new URL('/ort/', location.href).href; // the app's own files, never a CDN

export interface BenchRequest {
  device: 'webgpu' | 'wasm';
  model: string;
  texts: number;
  runs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Where the benchmark reports: a live status line, the run log, the table, the chart, the download. */
export interface BenchView {
  status: HTMLElement;
  log: HTMLElement;
  table: HTMLTableElement;
  chart: HTMLElement;
  download: HTMLElement;
}

const LABELS = { bulkEmbed: 'bulk-embed', transformersJs: 'transformers.js' } as const;

/** How the model is named and found: `label` as the model picker shows it; `hubHost` for a hub model. */
export interface BenchModel {
  label: string;
  hubHost?: string;
}

/** Runs the benchmark, showing its progress in `view`; returns every run's seconds and the medians. */
export async function runBench(request: BenchRequest, view: BenchView, model: BenchModel = { label: request.model }) {
  const { table } = view;
  const say = (text: string) => { view.status.textContent = text; };
  const texts = mixedCorpus(request.texts, 1001);
  const local = request.model.startsWith('fixture-');
  // Test models are the app's own files; a hub model comes from the hub (or the stand-in a test serves), as the app loads it.
  env.allowRemoteModels = !local;
  if (model.hubHost) env.remoteHost = `${model.hubHost.replace(/\/+$/, '')}/`;
  say(`Loading ${model.label} in both libraries on ${request.device}...`);
  const ours = await createEmbedder({
    model: local ? `/models/${request.model}` : request.model, device: request.device, dtype: 'fp32', ...(model.hubHost ? { hub: { remoteHost: model.hubHost } } : {}),
  });
  const extractor = await pipeline('feature-extraction', request.model, { device: request.device, dtype: 'fp32' });
  const tjs = async (batch: string[]) => {
    for (let i = 0; i < batch.length; i += 32) await extractor(batch.slice(i, i + 32), { pooling: 'mean', normalize: true });
  };
  // At most 64 texts, and never more than a run: bench:ci's small run must not pay for a larger warm-up.
  const warm = texts.slice(0, Math.min(64, request.texts));
  say(`Warming up both libraries (${warm.length} texts each)...`);
  await ours.embed(warm);
  await tjs(warm);
  const seconds = { bulkEmbed: [] as number[], transformersJs: [] as number[] };
  for (let r = 0; r < request.runs; r++) {
    const order = r % 2 ? (['transformersJs', 'bulkEmbed'] as const) : (['bulkEmbed', 'transformersJs'] as const);
    for (const which of order) {
      say(`Run ${r + 1} of ${request.runs}: ${LABELS[which]} is embedding ${request.texts} texts on ${request.device}...`);
      const t0 = performance.now();
      if (which === 'bulkEmbed') await ours.embed(texts);
      else await tjs(texts);
      seconds[which].push((performance.now() - t0) / 1000);
      const line = `Run ${r + 1} of ${request.runs}, ${LABELS[which]}: ${seconds[which].at(-1)!.toFixed(2)} s`;
      view.log.insertAdjacentHTML('beforeend', `<li>${line}</li>`);
      console.log(`${request.device} run ${r + 1} ${which}: ${seconds[which].at(-1)!.toFixed(2)} s`);
    }
  }
  const info = ours.info;
  await ours.dispose();
  await extractor.dispose();
  const medians = { bulkEmbed: median(seconds.bulkEmbed), transformersJs: median(seconds.transformersJs) };
  table.replaceChildren();
  table.insertAdjacentHTML('beforeend', `<caption>bulk-embed and the transformers.js pipeline: ${escapeHtml(model.label)}, ${request.device}, ${request.texts} texts</caption><thead><tr><th scope="col">library</th><th scope="col">median s</th><th scope="col">texts/s</th></tr></thead><tbody>
    <tr><td>bulk-embed (${info.device}, ${info.dtype})</td><td>${medians.bulkEmbed.toFixed(2)}</td><td>${(request.texts / medians.bulkEmbed).toFixed(1)}</td></tr>
    <tr><td>transformers.js (chunks of 32)</td><td>${medians.transformersJs.toFixed(2)}</td><td>${(request.texts / medians.transformersJs).toFixed(1)}</td></tr>
    <tr><td>ratio</td><td colspan="2">${(medians.transformersJs / medians.bulkEmbed).toFixed(2)}x</td></tr></tbody>`);
  const result = {
    request,
    info,
    seconds,
    medians,
    textsPerSec: { bulkEmbed: request.texts / medians.bulkEmbed, transformersJs: request.texts / medians.transformersJs },
    date: new Date().toISOString(),
    userAgent: navigator.userAgent,
  };
  drawBars(view.chart, request, model.label, info.device, result.textsPerSec);
  const json = JSON.stringify(result, null, 2);
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  const base = `bench-${request.device}-${request.model.replace(/[^\w.-]+/g, '-')}`;
  link.download = `${base}.json`;
  link.textContent = `Download the results (${link.download})`;
  const png = document.createElement('a');
  png.id = 'bench-png';
  png.href = URL.createObjectURL(await chartPng(request, model.label, info.device, result.textsPerSec, result.date));
  png.download = `${base}.png`;
  png.textContent = `Download the chart as PNG (${png.download})`;
  view.download.replaceChildren(png, link);
  say(`Done: bulk-embed ${(medians.transformersJs / medians.bulkEmbed).toFixed(2)}x the texts/s of transformers.js on ${request.device}, median of ${request.runs} runs.`);
  return result;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const COLOURS = { bulkEmbed: '#1f4e79', transformersJs: '#b45309' } as const;

/** Horizontal bars of texts/s per library, labelled with the number, and the ratio. */
function drawBars(chart: HTMLElement, request: BenchRequest, label: string, device: string, textsPerSec: Record<keyof typeof LABELS, number>): void {
  const max = Math.max(...Object.values(textsPerSec));
  chart.innerHTML = (Object.keys(LABELS) as (keyof typeof LABELS)[]).map((which) => `
    <div class="bar-row"><span class="bar-label">${LABELS[which]} (${which === 'bulkEmbed' ? device : request.device})</span>
      <span class="bar" style="width: ${Math.max(2, (100 * textsPerSec[which]) / max).toFixed(1)}%"></span>
      <span class="bar-value">${textsPerSec[which].toFixed(1)} texts/s</span></div>`).join('') +
    `<p class="muted">texts per second, ${escapeHtml(label)}, ${request.texts} texts, median of ${request.runs} runs; longer bar is faster. Ratio ${(textsPerSec.bulkEmbed / textsPerSec.transformersJs).toFixed(2)}x.</p>`;
}

/** The same chart drawn on a canvas, with its title, setup and date, as a PNG to share. */
async function chartPng(request: BenchRequest, label: string, device: string, textsPerSec: Record<keyof typeof LABELS, number>, date: string): Promise<Blob> {
  const W = 960, H = 360, left = 250, right = 150;
  const canvas = new OffscreenCanvas(W, H);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#1a1a1a';
  ctx.font = 'bold 24px system-ui, sans-serif';
  ctx.fillText('Texts per second: bulk-embed and transformers.js', 32, 48);
  ctx.font = '16px system-ui, sans-serif';
  ctx.fillStyle = '#4a4a4a';
  ctx.fillText(`${label}, ${request.device}, ${request.texts} texts, median of ${request.runs} run${request.runs > 1 ? 's' : ''}`, 32, 78);
  const max = Math.max(...Object.values(textsPerSec));
  (Object.keys(LABELS) as (keyof typeof LABELS)[]).forEach((which, i) => {
    const y = 120 + i * 80;
    const w = Math.max(4, ((W - left - right) * textsPerSec[which]) / max);
    ctx.fillStyle = '#1a1a1a';
    ctx.font = '18px system-ui, sans-serif';
    ctx.fillText(`${LABELS[which]} (${which === 'bulkEmbed' ? device : request.device})`, 32, y + 28);
    ctx.fillStyle = COLOURS[which];
    ctx.fillRect(left, y, w, 44);
    ctx.fillStyle = '#1a1a1a';
    ctx.fillText(`${textsPerSec[which].toFixed(1)} texts/s`, left + w + 12, y + 28);
  });
  ctx.font = '16px system-ui, sans-serif';
  ctx.fillText(`Ratio ${(textsPerSec.bulkEmbed / textsPerSec.transformersJs).toFixed(2)}x (longer bar is faster)`, 32, 300);
  ctx.fillStyle = '#4a4a4a';
  ctx.font = '13px system-ui, sans-serif';
  ctx.fillText(`${date.slice(0, 10)} · ${navigator.userAgent.match(/(Chrome|Firefox|Safari)\/[\d.]+/)?.[0] ?? 'browser'} · bulk-embed demo`, 32, 336);
  return canvas.convertToBlob({ type: 'image/png' });
}
