// runBench(device, texts, runs): after a warm-up, alternates this library's embed() and the
// transformers.js pipeline on input-order chunks of 32 (mean pooling, normalised), and returns
// every run's seconds. transformers.js runs in the page, as its users call it.
import { env, pipeline } from '@huggingface/transformers';
import { createEmbedder } from '../../dist/index.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/models/';
env.backends.onnx.wasm!.wasmPaths = new URL('/ort/', location.href).href; // the app's own files, never a CDN

const log = (line: string) => {
  document.getElementById('log')!.textContent += line + '\n';
  console.log(line);
};

async function runBench(device: 'webgpu' | 'wasm', model: string, texts: string[], runs: number) {
  const ours = await createEmbedder({ model: `/models/${model}`, device, dtype: 'fp32' });
  const extractor = await pipeline('feature-extraction', model, { device, dtype: 'fp32' });
  const tjs = async (batch: string[]) => {
    for (let i = 0; i < batch.length; i += 32) await extractor(batch.slice(i, i + 32), { pooling: 'mean', normalize: true });
  };
  const warm = texts.slice(0, 64);
  await ours.embed(warm);
  await tjs(warm);
  const seconds = { bulkEmbed: [] as number[], transformersJs: [] as number[] };
  for (let r = 0; r < runs; r++) {
    const order = r % 2 ? (['transformersJs', 'bulkEmbed'] as const) : (['bulkEmbed', 'transformersJs'] as const);
    for (const which of order) {
      const t0 = performance.now();
      if (which === 'bulkEmbed') await ours.embed(texts);
      else await tjs(texts);
      seconds[which].push((performance.now() - t0) / 1000);
      log(`${device} run ${r + 1} ${which}: ${seconds[which].at(-1)!.toFixed(2)} s`);
    }
  }
  const info = ours.info;
  const stats = ours.stats;
  await ours.dispose();
  await extractor.dispose();
  return { info, stats, seconds };
}

Object.assign(globalThis, { runBench });
document.getElementById('status')!.textContent = 'ready';
