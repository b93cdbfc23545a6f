// `?bench`: a fixed generated corpus through this library and the transformers.js pipeline
// (input-order chunks of 32, mean pooling, normalised), same device and model, alternating after
// a warm-up. Shows each run as it goes, then a table, a bar chart of texts/s with the ratio, and
// the results as JSON to download. `npm run bench:browser` drives this mode.
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

/** Runs the benchmark, showing its progress in `view`; returns every run's seconds and the medians. */
export async function runBench(request: BenchRequest, view: BenchView) {
  const { table } = view;
  const say = (text: string) => { view.status.textContent = text; };
  const texts = mixedCorpus(request.texts, 1001);
  say(`Loading ${request.model} in both libraries on ${request.device}...`);
  const ours = await createEmbedder({ model: `/models/${request.model}`, device: request.device, dtype: 'fp32' });
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
  table.insertAdjacentHTML('beforeend', `<thead><tr><th scope="col">library</th><th scope="col">median s</th><th scope="col">texts/s</th></tr></thead><tbody>
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
  drawBars(view.chart, request, info.device, result.textsPerSec);
  const json = JSON.stringify(result, null, 2);
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  link.download = `bench-${request.device}-${request.model}.json`;
  link.textContent = `Download the results (${link.download})`;
  view.download.replaceChildren(link);
  say(`Done: bulk-embed ${(medians.transformersJs / medians.bulkEmbed).toFixed(2)}x the texts/s of transformers.js on ${request.device}, median of ${request.runs} runs.`);
  return result;
}

/** Horizontal bars of texts/s per library, labelled with the number, and the ratio. */
function drawBars(chart: HTMLElement, request: BenchRequest, device: string, textsPerSec: Record<keyof typeof LABELS, number>): void {
  const max = Math.max(...Object.values(textsPerSec));
  chart.innerHTML = (Object.keys(LABELS) as (keyof typeof LABELS)[]).map((which) => `
    <div class="bar-row"><span class="bar-label">${LABELS[which]} (${which === 'bulkEmbed' ? device : request.device})</span>
      <span class="bar" style="width: ${Math.max(2, (100 * textsPerSec[which]) / max).toFixed(1)}%"></span>
      <span class="bar-value">${textsPerSec[which].toFixed(1)} texts/s</span></div>`).join('') +
    `<p class="muted">texts per second, ${request.model}, ${request.texts} texts, median of ${request.runs} runs; longer bar is faster. Ratio ${(textsPerSec.bulkEmbed / textsPerSec.transformersJs).toFixed(2)}x.</p>`;
}
