// `?bench`: a fixed generated corpus through this library and the transformers.js pipeline
// (input-order chunks of 32, mean pooling, normalised), same device and model, alternating after
// a warm-up; shows a table. `npm run bench:browser` drives this mode.
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

/** Runs the benchmark and fills `table`; returns every run's seconds and the medians. */
export async function runBench(request: BenchRequest, table: HTMLTableElement) {
  const texts = mixedCorpus(request.texts, 1001);
  const ours = await createEmbedder({ model: `/models/${request.model}`, device: request.device, dtype: 'fp32' });
  const extractor = await pipeline('feature-extraction', request.model, { device: request.device, dtype: 'fp32' });
  const tjs = async (batch: string[]) => {
    for (let i = 0; i < batch.length; i += 32) await extractor(batch.slice(i, i + 32), { pooling: 'mean', normalize: true });
  };
  await ours.embed(texts.slice(0, 64));
  await tjs(texts.slice(0, 64));
  const seconds = { bulkEmbed: [] as number[], transformersJs: [] as number[] };
  for (let r = 0; r < request.runs; r++) {
    const order = r % 2 ? (['transformersJs', 'bulkEmbed'] as const) : (['bulkEmbed', 'transformersJs'] as const);
    for (const which of order) {
      const t0 = performance.now();
      if (which === 'bulkEmbed') await ours.embed(texts);
      else await tjs(texts);
      seconds[which].push((performance.now() - t0) / 1000);
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
  return { request, info, seconds, medians };
}
