// `npm run bench:fusion`: what onnxruntime-node fuses in the graphs the engine runs, and what
// fusing attention at load (src/model/fuse-attention.ts) changes, on the cpu EP and on the webgpu
// EP (Dawn on Mesa's lavapipe, a CPU Vulkan driver: relative cost and correctness, not GPU speed).
//
// For fixture-minilm and fixture-bert-base, fp32 and fp16 files: the pooled graph as the loader
// builds it (mean pooling, normalised), unfused and with attention fused, each optimised with
// graphOptimizationLevel 'all' and written out with optimizedModelFilePath; op types are counted
// before and after. The same sessions then run one padded batch: median time per batch, and the
// cosine of every pooled row to the unfused graph on the same EP and to CPU fp32.
// Last, MultiHeadAttention alone on both EPs over key lengths 16..128 (random inputs): the check
// that keeps the fusion off by default.
//
// Environment: BENCH_RUNS (default 3), BENCH_MODELS (comma list, default both).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.json';
if (!existsSync(LAVAPIPE)) {
  console.error(`${LAVAPIPE} is missing: run bash tools/ensure-lavapipe.sh (Debian 12, root) first.`);
  process.exit(1);
}
process.env.VK_ICD_FILENAMES = LAVAPIPE; // before Dawn starts

const ort = await import('onnxruntime-node');
const { appendPooling } = await import('../src/pool/pooling-graph.js');
const { fuseAttention, MS_DOMAIN } = await import('../src/model/fuse-attention.js');
const { readFields, fieldString } = await import('../src/util/protobuf.js');
const { halfToFloat32 } = await import('../src/util/half.js');
const { onnx, DataType } = await import('../tools/fixtures/onnx-proto.js');
const { median, printTable, writeJson } = await import('./lib.js');

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MODELS_DIR = resolve(import.meta.dirname, '..', 'models');
const OUT = resolve(import.meta.dirname, 'results', 'fusion.json');
const work = mkdtempSync(join(tmpdir(), 'bench-fusion-'));

/** One padded batch per model: rows of decreasing length, so masking matters. */
const BATCHES: Record<string, { rows: number; seq: number }> = {
  'fixture-minilm': { rows: 8, seq: 128 },
  // BERT-base on lavapipe costs about 10x MiniLM a token: a smaller batch keeps the bench to minutes.
  'fixture-bert-base': { rows: 2, seq: 128 },
};
const models = (process.env.BENCH_MODELS ?? Object.keys(BATCHES).join(',')).split(',');
for (const m of models) {
  if (!existsSync(join(MODELS_DIR, m, 'onnx', 'model.onnx'))) {
    console.error(`${m} is missing: npx tsx tools/generate-models.ts ${m}`);
    process.exit(1);
  }
}

/** Op types of a model's main graph, "domain:op" for contrib ops, counted at the wire level (no decode of the weights). */
function countOps(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of readFields(bytes)) {
    if (f.field !== 7 || f.wireType !== 2) continue;
    for (const g of readFields(bytes, f.valueStart, f.valueEnd)) {
      if (g.field !== 1 || g.wireType !== 2) continue;
      let op = '';
      let domain = '';
      for (const n of readFields(bytes, g.valueStart, g.valueEnd)) {
        if (n.field === 4 && n.wireType === 2) op = fieldString(bytes, n);
        if (n.field === 7 && n.wireType === 2) domain = fieldString(bytes, n);
      }
      const key = domain && domain !== 'ai.onnx' ? `${domain === MS_DOMAIN ? 'ms' : domain}:${op}` : op;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

function feedsFor(model: string): { feeds: Record<string, InstanceType<typeof ort.Tensor>>; rows: number } {
  const { rows, seq } = BATCHES[model]!;
  const ids = new BigInt64Array(rows * seq);
  const mask = new BigInt64Array(rows * seq);
  for (let r = 0; r < rows; r++) {
    const length = Math.max(2, Math.round(seq * (1 - r / (rows + 1))));
    for (let s = 0; s < seq; s++) {
      const real = s < length;
      ids[r * seq + s] = real ? BigInt(s === 0 ? 101 : s === length - 1 ? 102 : 1000 + ((r * 7919 + s * 104729) % 20000)) : 0n;
      mask[r * seq + s] = real ? 1n : 0n;
    }
  }
  const t = (data: BigInt64Array) => new ort.Tensor('int64', data, [rows, seq]);
  return { feeds: { input_ids: t(ids), attention_mask: t(mask), token_type_ids: t(new BigInt64Array(rows * seq)) }, rows };
}

const rowCosines = (a: Float32Array, b: Float32Array, rows: number): number[] => {
  const dim = a.length / rows;
  return Array.from({ length: rows }, (_, r) => {
    let dot = 0, na = 0, nb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      dot += a[j]! * b[j]!;
      na += a[j]! * a[j]!;
      nb += b[j]! * b[j]!;
    }
    return Number.isFinite(dot) ? dot / Math.sqrt(na * nb) : -1;
  });
};
const round = (x: number, digits: number) => Number(x.toFixed(digits));

interface Cell {
  model: string;
  dtype: 'fp32' | 'fp16';
  variant: 'unfused' | 'fused';
  ep: 'cpu' | 'webgpu';
  fusedLayers: number;
  opsBefore: Record<string, number>;
  opsAfter: Record<string, number> | null;
  batch: string;
  msPerBatch: number | null;
  /** Least row cosine to the unfused graph on the same EP and dtype (null for the unfused graph itself). */
  cosineToUnfused: number | null;
  /** Least row cosine to CPU fp32 unfused. */
  cosineToCpuFp32: number | null;
  error?: string;
}

// Other engineers share this machine's 2 cores: the load says how far to trust the times.
const loadAverageAtStart = loadavg().map((x) => Number(x.toFixed(2)));
const cells: Cell[] = [];
for (const model of models) {
  const { feeds, rows } = feedsFor(model);
  const { seq } = BATCHES[model]!;
  let reference: Float32Array | null = null; // CPU fp32 unfused
  for (const dtype of ['fp32', 'fp16'] as const) {
    const file = join(MODELS_DIR, model, 'onnx', dtype === 'fp32' ? 'model.onnx' : 'model_fp16.onnx');
    const weights = new Uint8Array(readFileSync(file));
    const fused = fuseAttention(weights);
    const graphs = {
      unfused: appendPooling(weights, { pooling: 'mean', normalize: true }, file).bytes,
      fused: appendPooling(fused.bytes, { pooling: 'mean', normalize: true }, file).bytes,
    };
    for (const ep of ['cpu', 'webgpu'] as const) {
      // Both graphs loaded side by side and timed alternately, so load from other processes on
      // this shared machine falls on both alike.
      const pair = (['unfused', 'fused'] as const).map((variant) => ({
        variant,
        session: null as Awaited<ReturnType<typeof ort.InferenceSession.create>> | null,
        out: null as Float32Array | null,
        times: [] as number[],
        cell: {
          model, dtype, variant, ep, fusedLayers: variant === 'fused' ? fused.layers : 0, opsBefore: countOps(graphs[variant]), opsAfter: null,
          batch: `${rows} x ${seq}`, msPerBatch: null, cosineToUnfused: null, cosineToCpuFp32: null,
        } as Cell,
      }));
      const attempt = async (p: (typeof pair)[number], step: () => Promise<void>) => {
        if (p.cell.error) return;
        try {
          await step();
        } catch (error) {
          p.cell.error = (error as Error).message.split('\n')[0]!;
          console.error(`  ${p.variant} failed: ${p.cell.error}`);
        }
      };
      const runOnce = async (p: (typeof pair)[number], timed: boolean) => {
        const started = performance.now();
        const result = (await p.session!.run(feeds)).bulk_embed_vectors!;
        if (timed) p.times.push(performance.now() - started);
        p.out = result.type === 'float16' ? halfToFloat32(result.data as Uint16Array) : (result.data as Float32Array);
      };
      for (const p of pair) {
        console.error(`${model} ${dtype} ${p.variant} on ${ep}...`);
        const optimized = join(work, `${model}-${dtype}-${p.variant}-${ep}.onnx`);
        await attempt(p, async () => {
          p.session = await ort.InferenceSession.create(graphs[p.variant], {
            executionProviders: [ep], graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3,
          });
          p.cell.opsAfter = countOps(new Uint8Array(readFileSync(optimized)));
          rmSync(optimized, { force: true });
          await runOnce(p, false); // the first run compiles shaders
        });
      }
      for (let i = 0; i < RUNS; i++) {
        for (const p of i % 2 ? [...pair].reverse() : pair) await attempt(p, () => runOnce(p, true));
      }
      const [plain, fusedRun] = pair as [(typeof pair)[number], (typeof pair)[number]];
      for (const p of pair) {
        await p.session?.release();
        if (p.cell.error || !p.out) {
          cells.push(p.cell);
          continue;
        }
        p.cell.msPerBatch = round(median(p.times), 1);
        if (dtype === 'fp32' && ep === 'cpu' && p === plain) reference = p.out;
        if (p === fusedRun && plain.out) p.cell.cosineToUnfused = round(Math.min(...rowCosines(plain.out, p.out, rows)), 7);
        if (reference) p.cell.cosineToCpuFp32 = round(Math.min(...rowCosines(reference, p.out, rows)), 7);
        cells.push(p.cell);
      }
    }
  }
}

/** MultiHeadAttention alone, CPU against WebGPU, on random query/key/value [1, S, 12 x 32]. */
async function kernelCheck(): Promise<{ heads: number; headSize: number; sequence: number; maxAbsDiff: number }[]> {
  const heads = 12, headSize = 32, hidden = heads * headSize;
  const io = (name: string) => ({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimParam: 's' }, { dimValue: hidden }] } } } });
  const model = onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, { domain: MS_DOMAIN, version: 1 }],
    graph: {
      name: 'mha',
      node: [{ opType: 'MultiHeadAttention', domain: MS_DOMAIN, input: ['q', 'k', 'v'], output: ['o'], attribute: [{ name: 'num_heads', type: onnx.AttributeProto.AttributeType.INT, i: heads }] }],
      input: [io('q'), io('k'), io('v')],
      output: [io('o')],
    },
  })).finish();
  const [cpu, gpu] = await Promise.all(['cpu', 'webgpu'].map((ep) => ort.InferenceSession.create(model, { executionProviders: [ep], logSeverityLevel: 3 })));
  let seed = 1;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const results = [];
  for (const sequence of [16, 24, 31, 32, 33, 64, 128]) {
    const tensor = (scale: number) => new ort.Tensor('float32', Float32Array.from({ length: sequence * hidden }, () => random() * scale), [1, sequence, hidden]);
    const feeds = { q: tensor(3), k: tensor(3), v: tensor(1) };
    const a = (await cpu!.run(feeds)).o!.data as Float32Array;
    const b = (await gpu!.run(feeds)).o!.data as Float32Array;
    let maxAbsDiff = 0;
    for (let i = 0; i < a.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i]! - b[i]!));
    results.push({ heads, headSize, sequence, maxAbsDiff: Number(maxAbsDiff.toExponential(2)) });
  }
  await Promise.all([cpu!.release(), gpu!.release()]);
  return results;
}
console.error('MultiHeadAttention alone, cpu vs webgpu...');
const kernel = await kernelCheck();
rmSync(work, { recursive: true, force: true });

const KEY_OPS = ['ms:MultiHeadAttention', 'ms:Attention', 'ms:SkipLayerNormalization', 'LayerNormalization', 'ms:BiasGelu', 'ms:FastGelu', 'ms:Gelu', 'ms:FusedMatMul', 'MatMul', 'Softmax', 'Transpose', 'Reshape', 'Add'];
const opCell = (ops: Record<string, number> | null, op: string) => (ops ? ops[op] ?? 0 : '-');
printTable(
  ['model', 'dtype', 'graph', 'EP', ...KEY_OPS.map((o) => o.replace(/^ms:/, '')), 'ms/batch', 'cos to unfused', 'cos to CPU fp32'],
  cells.map((c) => [
    c.model, c.dtype, c.variant, c.ep, ...KEY_OPS.map((o) => opCell(c.opsAfter, o)),
    c.msPerBatch ?? (c.error ? 'failed' : '-'), c.cosineToUnfused ?? '-', c.cosineToCpuFp32 ?? '-',
  ]),
);
console.log('\nOps before optimisation (the pooled graph as loaded):');
printTable(
  ['model', 'dtype', 'graph', ...KEY_OPS.map((o) => o.replace(/^ms:/, ''))],
  cells.filter((c) => c.ep === 'cpu').map((c) => [c.model, c.dtype, c.variant, ...KEY_OPS.map((o) => opCell(c.opsBefore, o))]),
);
console.log('\nMultiHeadAttention alone (12 heads x 32), max |cpu - webgpu| by key length:');
printTable(['S', ...kernel.map((k) => String(k.sequence))], [['max abs diff', ...kernel.map((k) => k.maxAbsDiff)]]);

writeJson(OUT, {
  what: 'onnxruntime-node graph fusions of the pooled graphs, unfused and with attention fused at load (src/model/fuse-attention.ts), per EP; time per batch and cosines on the same sessions; MultiHeadAttention alone on cpu vs webgpu',
  device: 'webgpu = onnxruntime-node Dawn on Mesa lavapipe (CPU Vulkan): relative cost and correctness, not GPU speed; 2 shared CPU cores',
  onnxruntimeNode: (await import('onnxruntime-node/package.json', { with: { type: 'json' } })).default.version,
  runs: RUNS,
  timing: 'median of the runs after one warm-up run; unfused and fused sessions loaded together and run alternately',
  loadAverageAtStart,
  loadAverageAtEnd: loadavg().map((x) => round(x, 2)),
  date: new Date().toISOString(),
  cells,
  multiHeadAttentionCpuVsWebgpu: kernel,
});
console.log(`\nwrote ${OUT}`);
