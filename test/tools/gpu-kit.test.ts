// The GPU kit (npm run gpu:kit): built here, it must fit a device call and run with no Node on the
// PATH. On lavapipe (CI installs it) it runs end to end on a small corpus, and its report holds
// an fp16 and an fp32 row of the engine with the raw ceiling beside each, and the families check's rows.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKit, KIT_LIMIT_BYTES } from '../../tools/gpu-kit/build.js';
import { LAVAPIPE_ICD, runKitSmall } from '../../tools/gpu-kit/check.js';

describe('GPU kit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpu-kit-test-'));
  const kit = join(dir, 'gpu-kit');
  let bytes = 0;
  beforeAll(async () => {
    bytes = await buildKit(kit);
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fits in 60 MiB and carries Node, onnxruntime, the Vulkan loader, the bundles and the Python peer', () => {
    expect(bytes).toBeLessThanOrEqual(KIT_LIMIT_BYTES);
    const files = readdirSync(kit, { recursive: true }).map(String).sort();
    for (const f of ['run.sh', 'README.md', 'node.xz', 'libonnxruntime.so.1.xz', 'lib/libvulkan.so.1', 'lib/libGLX.so.0', 'app/bench-gpu.mjs', 'app/generate.mjs', 'app/report.mjs', 'app/pipeline.mjs', 'app/families.mjs', 'app/tokenizer-worker.mjs', 'app/gpu_st.py',
      'app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'app/node_modules/onnxruntime-common/package.json']) {
      expect(files).toContain(f);
    }
    // Node and onnxruntime travel compressed: the raw binaries alone are 140 MB.
    expect(statSync(join(kit, 'node.xz')).size).toBeLessThan(40 * 2 ** 20);
    expect(files.some((f) => f.endsWith('libonnxruntime.so.1'))).toBe(false);
  });

  it.runIf(existsSync(LAVAPIPE_ICD))('runs on lavapipe from a fresh folder with no node on PATH: fp16 and fp32 rows, and the loop ceiling by threads', () => {
    // The engine rows on 8 texts of 128 tokens, 2 of them measured: on lavapipe the mixed corpus's
    // 512-token fp16 probe alone took a minute. What is checked is that every step of the kit runs
    // from the copy and writes its rows, not the rates, so the corpus need not be larger.
    const { report, pipeline, families, output, status } = runKitSmall(kit, LAVAPIPE_ICD, { GPU_BENCH_TEXTS: '8', GPU_BENCH_WARMUP: '2', GPU_BENCH_CORPUS_NAMES: '128 tokens' });
    expect(status, output).toBe(0);
    const rows = report.compared as { model: string; dtype: string; tokensPerSec: number; ceilingTokensPerSec: number; texts: number }[];
    expect(rows.map((r) => r.dtype).sort(), output).toEqual(['fp16', 'fp32']);
    for (const r of rows) {
      expect(r.model).toBe('fixture-minilm');
      expect(r.tokensPerSec).toBeGreaterThan(0);
      expect(r.ceilingTokensPerSec).toBeGreaterThan(0);
    }
    expect(report.engine.errors).toEqual([]);
    expect(report.engine.vulkanIcd).toBe(LAVAPIPE_ICD);
    const modes = (pipeline.rows as { model: string; mode: string; medianTokensPerSec: number }[]).map((r) => `${r.model}: ${r.mode}`);
    for (const model of ['fixture-minilm', 'fixture-xlmr']) {
      expect(modes).toEqual(expect.arrayContaining([`${model}: tokenize only, one thread`, `${model}: engine, main thread`, `${model}: engine, 2 tokenizer threads`]));
    }
    for (const r of pipeline.rows) expect(r.medianTokensPerSec).toBeGreaterThan(0);
    // The threads really ran inside the bundle (their script is emitted beside it).
    const threaded = pipeline.rows.find((r: { mode: string }) => r.mode === 'engine, 2 tokenizer threads');
    expect(threaded.reasons).toContain('tokenizing on 2 worker threads beside the main thread');
    // The families check: fixture-tiny on the device in fp16 and fp32, each row's vectors against CPU fp32.
    const familyRows = families.rows as { model: string; setting: string; dtype: string; minCosine: number; error?: string }[];
    expect(familyRows.map((r) => `${r.model} ${r.setting} ${r.dtype}`), output).toEqual(['fixture-tiny webgpu fp16 fp16', 'fixture-tiny webgpu fp32 fp32']);
    for (const r of familyRows) expect(r.minCosine).toBeGreaterThanOrEqual(0.999);
  }, 600_000);
});
