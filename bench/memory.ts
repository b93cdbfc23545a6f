// `npm run bench:memory`: the memory budget on the BERT-base-sized preset. Each budget
// (maxMemoryMB 256, 512, 1024; BENCH_BUDGETS) runs in a fresh process: fixture-bert-base, fp32 on
// the CPU, BENCH_TEXTS mixed texts (default 2,000); RSS sampled every 20 ms. Reports the peak RSS
// over the process's RSS before the model was loaded, against the budget plus the model's bytes
// (the fp32 weights file), and the tokens/s each budget gives. bench/results/memory.json.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createEmbedder } from '../src/node.js';
import { mixedCorpus } from '../tools/fixtures/corpus.js';
import { printTable, writeJson } from './lib.js';

const MODEL = resolve(import.meta.dirname, '..', 'models', 'fixture-bert-base');
const TEXTS = Number(process.env.BENCH_TEXTS ?? 2000);
const BUDGETS = (process.env.BENCH_BUDGETS ?? '256,512,1024').split(',').map(Number);

interface ChildResult {
  budgetMB: number;
  rssBeforeLoadMB: number;
  /** After onnxruntime-node's library is loaded (its code and static data, no model): the runtime's own share. */
  rssWithRuntimeMB: number;
  rssAfterLoadMB: number;
  peakRssMB: number;
  tokens: number;
  seconds: number;
  budgetReason: string | null;
}

async function child(budgetMB: number): Promise<ChildResult> {
  const mb = () => process.memoryUsage.rss() / 2 ** 20;
  const texts = mixedCorpus(TEXTS, 31337);
  const rssBeforeLoadMB = mb();
  await import('onnxruntime-node');
  const rssWithRuntimeMB = mb();
  const embedder = await createEmbedder({ model: MODEL, device: 'cpu', dtype: 'fp32', maxMemoryMB: budgetMB });
  const rssAfterLoadMB = mb();
  let peak = mb();
  const timer = setInterval(() => (peak = Math.max(peak, mb())), 20);
  const started = performance.now();
  await embedder.embed(texts);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, mb());
  const result = { budgetMB, rssBeforeLoadMB, rssWithRuntimeMB, rssAfterLoadMB, peakRssMB: peak, tokens: embedder.stats.tokens, seconds, budgetReason: embedder.info.reasons.find((r) => r.startsWith('batch budget')) ?? null };
  await embedder.dispose();
  return result;
}

const at = process.argv.indexOf('--child');
if (at > 0) {
  console.log(JSON.stringify(await child(Number(process.argv[at + 1]))));
} else {
  const modelMB = statSync(join(MODEL, 'onnx', 'model.onnx')).size / 2 ** 20;
  const rows: (ChildResult & { growthMB: number; overRuntimeMB: number; allowanceMB: number; within: boolean })[] = [];
  for (const budget of BUDGETS) {
    const run = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, '--child', String(budget)], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    const line = run.stdout.trim().split('\n').at(-1);
    if (run.status !== 0 || !line) throw new Error(`budget ${budget} MB failed:\n${run.stderr}`);
    const r = JSON.parse(line) as ChildResult;
    const growthMB = r.peakRssMB - r.rssBeforeLoadMB;
    rows.push({ ...r, growthMB, overRuntimeMB: r.peakRssMB - r.rssWithRuntimeMB, allowanceMB: budget + modelMB, within: growthMB <= budget + modelMB });
    console.error(`budget ${budget} MB: peak RSS ${r.peakRssMB.toFixed(0)} MB (+${growthMB.toFixed(0)} MB over the process before loading)`);
  }
  const table = printTable(['maxMemoryMB', 'RSS before load', 'with runtime', 'after load', 'peak', 'peak - before load', 'peak - with runtime', 'budget + model bytes', 'within', 'tokens/s'], rows.map((r) => [
    r.budgetMB, `${r.rssBeforeLoadMB.toFixed(0)} MB`, `${r.rssWithRuntimeMB.toFixed(0)} MB`, `${r.rssAfterLoadMB.toFixed(0)} MB`, `${r.peakRssMB.toFixed(0)} MB`, `${r.growthMB.toFixed(0)} MB`, `${r.overRuntimeMB.toFixed(0)} MB`, `${r.allowanceMB.toFixed(0)} MB`, r.within ? 'yes' : 'NO', (r.tokens / r.seconds).toFixed(0),
  ]));
  writeJson(resolve(import.meta.dirname, 'results', 'memory.json'), { model: 'fixture-bert-base', device: 'cpu', dtype: 'fp32', texts: TEXTS, modelMB, rows, table, date: new Date().toISOString() });
}
