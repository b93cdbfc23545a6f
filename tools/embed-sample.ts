// `npm start`: the main job. Embeds the bundled sample corpus with the generated MiniLM-shaped
// model on the CPU and reports throughput.
import { join, resolve } from 'node:path';
import { createEmbedder } from '../src/node.js';
import { sampleCorpus } from './fixtures/corpus.js';

const model = process.argv[2] ?? join(resolve(import.meta.dirname, '..', 'models'), 'fixture-minilm');
const texts = sampleCorpus();

const loadStart = performance.now();
const embedder = await createEmbedder({ model, device: 'cpu' });
const loadMs = performance.now() - loadStart;

let firstVectorMs = NaN;
const started = performance.now();
const result = await embedder.embed(texts, {
  onProgress: (p) => {
    if (Number.isNaN(firstVectorMs) && p.done > 0) firstVectorMs = performance.now() - started;
  },
});
const seconds = (performance.now() - started) / 1000;
const { tokens, paddingTokens, truncatedTexts, batches } = embedder.stats;
await embedder.dispose();

const rows: [string, string][] = [
  ['model', `${embedder.info.model} (${embedder.info.device}, ${embedder.info.dtype}; generated, untrained)`],
  ['count', String(result.count)],
  ['dim', String(result.dim)],
  ['load', `${loadMs.toFixed(0)} ms`],
  ['time to first vector', `${firstVectorMs.toFixed(0)} ms`],
  ['total time', `${seconds.toFixed(2)} s`],
  ['texts/s', (result.count / seconds).toFixed(1)],
  ['tokens/s', (tokens / seconds).toFixed(0)],
  ['padding fraction', `${((100 * paddingTokens) / (tokens + paddingTokens)).toFixed(2)} %`],
  ['batches', String(batches)],
  ['truncated texts', String(truncatedTexts)],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
