// The GPU kit's report: `node report.mjs OUT` reads OUT/gpu.json (bench/gpu.ts) and OUT/st.json
// (bench/gpu_st.py) and writes OUT/report.json and OUT/report.md: each engine row beside the raw
// ceiling, sentence-transformers on the same texts (batch 32, its default, and its best batch),
// and the fp16/fp32 ratio; then the targets (GPU utilisation >= 80 % in fp16; BERT-base at least
// half of sentence-transformers' CUDA fp16 tokens/s), met or not.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface EngineRow {
  model: string; variant?: string; dtype: string; corpus: string; maxBatchTokens: number; texts: number; tokensPerSec: number; textsPerSec: number;
  ceilingTokensPerSec: number; ratioToCeiling: number; minCosineToDefault?: number | null; gpuUtilization: number | null; gpuMemoryMiB: number | null;
  flopsPerToken: number; tflops: number; fractionOfShaderPeak: number | null;
}
interface StRow {
  model: string; dtype: string; corpus: string; batchSize: number; tokensPerSec: number;
  gpuUtilization: number | null; gpuMemoryMiB: number | null;
}

const out = resolve(process.argv[2] ?? '.');
const read = (name: string) => (existsSync(join(out, name)) ? JSON.parse(readFileSync(join(out, name), 'utf8')) : null);
const gpu = read('gpu.json') ?? { rows: [], errors: ['gpu.json missing: the engine benchmark did not run'], skipped: [] };
const st = read('st.json') ?? { rows: [], errors: ['st.json missing: the sentence-transformers peer did not run'], skipped: [] };
const engineRows = gpu.rows as EngineRow[];
const stRows = st.rows as StRow[];

const f = (v: number | null | undefined, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
const stFor = (r: EngineRow, batch?: number) => {
  const same = stRows.filter((s) => s.model === r.model && s.dtype === r.dtype && s.corpus === r.corpus && (batch === undefined || s.batchSize === batch));
  return same.sort((a, b) => b.tokensPerSec - a.tokensPerSec)[0] ?? null;
};
const fp32Of = (r: EngineRow) => engineRows.find((x) => x.model === r.model && (x.variant ?? 'default') === (r.variant ?? 'default') && x.dtype === 'fp32' && x.corpus === r.corpus && x.maxBatchTokens === r.maxBatchTokens) ?? null;

const compared = engineRows.map((r) => {
  const st32 = stFor(r, 32);
  const stBest = stFor(r);
  const fp32 = r.dtype === 'fp16' ? fp32Of(r) : null;
  return {
    ...r,
    stBatch32TokensPerSec: st32?.tokensPerSec ?? null, stBestTokensPerSec: stBest?.tokensPerSec ?? null, stBestBatch: stBest?.batchSize ?? null,
    ratioToStBatch32: st32 ? r.tokensPerSec / st32.tokensPerSec : null, ratioToStBest: stBest ? r.tokensPerSec / stBest.tokensPerSec : null,
    fp16OverFp32: fp32 ? r.tokensPerSec / fp32.tokensPerSec : null,
  };
});

const header = ['model', 'engine', 'dtype', 'corpus', 'budget', 'tokens/s', 'texts/s', 'ceiling tokens/s', 'engine/ceiling', 'cosine to default', 'GPU util %', 'GPU MiB', 'fp16/fp32', 'ST fp16 b32 tokens/s', 'engine/ST b32', 'engine/ST best', 'TFLOP/s', 'of shader peak'];
const lines = compared.map((r) => [
  r.model, r.variant ?? 'default', r.dtype, r.corpus, String(r.maxBatchTokens), f(r.tokensPerSec), f(r.textsPerSec), f(r.ceilingTokensPerSec), f(r.ratioToCeiling, 2), f(r.minCosineToDefault, 6), f(r.gpuUtilization), f(r.gpuMemoryMiB),
  f(r.fp16OverFp32, 2), f(r.stBatch32TokensPerSec), f(r.ratioToStBatch32, 2), f(r.ratioToStBest, 2), f(r.tflops, 2), r.fractionOfShaderPeak === null ? '-' : `${f(100 * r.fractionOfShaderPeak, 1)} %`,
]);
const table = (h: string[], rows: string[][]) => [`| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const stTable = table(['model', 'dtype', 'corpus', 'batch', 'tokens/s', 'GPU util %', 'GPU MiB'], stRows.map((s) => [s.model, s.dtype, s.corpus, String(s.batchSize), f(s.tokensPerSec), f(s.gpuUtilization), f(s.gpuMemoryMiB)]));

// The targets, judged on the fp16 rows at the default budget.
const fp16 = compared.filter((r) => r.dtype === 'fp16' && (r.variant ?? 'default') === 'default');
const utilOk = fp16.filter((r) => r.gpuUtilization !== null);
const bertBase = fp16.filter((r) => r.model === 'fixture-bert-base' && r.ratioToStBatch32 !== null);
const targets = {
  gpuUtilizationAtLeast80: utilOk.length ? utilOk.map((r) => ({ row: `${r.model} ${r.corpus} ${r.maxBatchTokens}`, utilization: r.gpuUtilization, met: (r.gpuUtilization ?? 0) >= 80 })) : 'not measured',
  bertBaseHalfOfSentenceTransformers: bertBase.length ? bertBase.map((r) => ({ row: `${r.corpus} ${r.maxBatchTokens}`, ratio: r.ratioToStBatch32, met: (r.ratioToStBatch32 ?? 0) >= 0.5 })) : 'not measured',
};

const md = [
  `# bulk-embed on ${gpu.cardName ?? 'unknown card'}`,
  '',
  `Node ${gpu.node ?? '?'}, onnxruntime-node WebGPU (Dawn) on ${gpu.vulkanIcd ?? 'the default Vulkan driver'}; sentence-transformers ${st.versions?.sentence_transformers ?? '?'} (torch ${st.versions?.torch ?? '?'}, CUDA ${st.versions?.cuda ?? '?'}). Generated, untrained models of the named shapes; medians of ${gpu.runs ?? '?'} runs after a warm-up.`,
  '',
  '## This engine (WebGPU) beside the raw ceiling and sentence-transformers (CUDA)',
  '',
  lines.length ? table(header, lines) : '(no engine rows)',
  '',
  '## sentence-transformers on CUDA',
  '',
  stRows.length ? stTable : '(no rows)',
  '',
  '## Targets',
  '',
  '```json',
  JSON.stringify(targets, null, 2),
  '```',
  ...[...(gpu.skipped ?? []), ...(st.skipped ?? [])].length ? ['', `Skipped for time: ${[...gpu.skipped, ...st.skipped].join('; ')}`] : [],
  ...[...(gpu.errors ?? []), ...(st.errors ?? [])].length ? ['', '## Errors', '', ...[...gpu.errors, ...st.errors].map((e: string) => `- ${e.split('\n').slice(0, 3).join(' / ')}`)] : [],
  '',
].join('\n');
writeFileSync(join(out, 'report.md'), md);
writeFileSync(join(out, 'report.json'), JSON.stringify({ card: gpu.card ?? null, cardName: gpu.cardName ?? null, engine: gpu, sentenceTransformers: st, compared, targets }, null, 2) + '\n');
console.log(md);
