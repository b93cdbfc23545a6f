import { describe, expect, it } from 'vitest';
import { planDevices, type BrowserCapabilities } from '../../src/browser/plan.js';
import { InvalidOptionError } from '../../src/base/errors.js';

const gpuF16: BrowserCapabilities = { webgpu: true, shaderF16: true, crossOriginIsolated: true, cores: 8, adapter: 'nvidia ampere' };
const gpuNoF16: BrowserCapabilities = { ...gpuF16, shaderF16: false };
const noGpu: BrowserCapabilities = { webgpu: false, shaderF16: false, crossOriginIsolated: false, cores: 4 };

describe('planDevices', () => {
  it('auto with a shader-f16 adapter: one GPU worker that tries fp16 (the probe decides)', () => {
    const plan = planDevices('auto', 'auto', gpuF16);
    expect(plan.gpu).toEqual({ dtype: 'fp16', tryFp16: true });
    expect(plan.wasmWorkers).toBe(0);
    expect(plan.reasons[0]).toBe('device auto: webgpu (adapter nvidia ampere)');
  });

  it('a GPU worker alone gets tokenizer workers on the other cores (at most 4); none beside WASM workers or on one core', () => {
    expect(planDevices('auto', 'auto', gpuF16).tokenizerWorkers).toBe(4);
    expect(planDevices('auto', 'auto', { ...gpuF16, cores: 3 }).tokenizerWorkers).toBe(2);
    expect(planDevices('webgpu', 'auto', { ...gpuF16, cores: 1 })).toMatchObject({ tokenizerWorkers: 0, reasons: expect.arrayContaining(['no tokenizer workers: one core, the GPU worker tokenizes']) });
    expect(planDevices('auto', 'auto', gpuF16).reasons).toContain('4 tokenizer workers beside the GPU worker, so it only feeds and runs');
    expect(planDevices(['webgpu', 'wasm'], 'auto', gpuF16).tokenizerWorkers).toBe(0);
    expect(planDevices('auto', 'auto', noGpu).tokenizerWorkers).toBe(0);
  });

  it('tokenizerWorkers as asked replaces the default, and the reasons give the layout that runs', () => {
    const none = planDevices('auto', 'auto', gpuF16, undefined, null, 0);
    expect(none.tokenizerWorkers).toBe(0);
    expect(none.reasons).toContain('no tokenizer workers (tokenizerWorkers: 0): the GPU worker tokenizes between its batches');
    expect(none.reasons.join(' ')).not.toMatch(/beside the GPU worker/);
    const two = planDevices('auto', 'auto', gpuF16, undefined, null, 2);
    expect(two.tokenizerWorkers).toBe(2);
    expect(two.reasons).toContain('2 tokenizer workers beside the GPU worker (tokenizerWorkers: 2), so it only feeds and runs');
    const besideWasm = planDevices(['webgpu', 'wasm'], 'auto', gpuF16, undefined, null, 1);
    expect(besideWasm).toMatchObject({ tokenizerWorkers: 1, reasons: expect.arrayContaining(['1 tokenizer worker beside the model workers (tokenizerWorkers: 1)']) });
    expect(planDevices(['webgpu', 'wasm'], 'auto', gpuF16, undefined, null, 0).reasons.join(' ')).not.toMatch(/tokenizer/);
  });

  it('auto without shader-f16: fp32 on the GPU, with the reason', () => {
    const plan = planDevices('auto', 'auto', gpuNoF16);
    expect(plan.gpu).toEqual({ dtype: 'fp32', tryFp16: false });
    expect(plan.reasons).toContain('fp16 refused: the adapter lacks shader-f16');
  });

  it('fp16 asked for without shader-f16: falls back to fp32 and says so', () => {
    expect(planDevices('webgpu', 'fp16', gpuNoF16).reasons).toContain('fp16 refused: the adapter lacks shader-f16 (fp16 was asked for; using fp32)');
  });

  it('explicit fp32 or q8 on the GPU is taken as asked, without a probe', () => {
    expect(planDevices('webgpu', 'fp32', gpuF16).gpu).toEqual({ dtype: 'fp32', tryFp16: false });
    expect(planDevices('webgpu', 'q8', gpuF16).gpu).toEqual({ dtype: 'q8', tryFp16: false });
  });

  it('no adapter: WASM, one single-threaded worker per core when not cross-origin isolated', () => {
    const plan = planDevices('auto', 'auto', noGpu);
    expect(plan).toMatchObject({ gpu: null, wasmWorkers: 4, wasmThreads: 1, wasmDtype: 'fp32' });
    expect(plan.reasons[0]).toBe('device auto: wasm (no WebGPU adapter)');
  });

  it('cross-origin isolated: one WASM worker with a thread per core', () => {
    expect(planDevices('wasm', 'auto', { ...noGpu, crossOriginIsolated: true })).toMatchObject({ wasmWorkers: 1, wasmThreads: 4 });
    expect(planDevices('cpu', 'auto', { ...noGpu, crossOriginIsolated: true }, 2)).toMatchObject({ wasmWorkers: 1, wasmThreads: 2 });
  });

  it('webgpu and wasm together leave a core to feed the GPU', () => {
    const plan = planDevices(['webgpu', 'wasm'], 'fp32', { ...gpuNoF16, crossOriginIsolated: false, cores: 4 });
    expect(plan.gpu).toEqual({ dtype: 'fp32', tryFp16: false });
    expect(plan.wasmWorkers).toBe(3);
  });

  it('refuses webgpu where there is no adapter, and unknown devices', () => {
    expect(() => planDevices('webgpu', 'auto', noGpu)).toThrow(InvalidOptionError);
    expect(() => planDevices('webgpu', 'auto', noGpu)).toThrow('option device: webgpu was asked for, but this browser grants no WebGPU adapter');
    expect(() => planDevices('tpu' as 'wasm', 'auto', noGpu)).toThrow(/"tpu" is not/);
    expect(() => planDevices([], 'auto', noGpu)).toThrow(/empty list/);
  });

  it("auto prefers WASM when the only WebGPU adapter is a software one; 'webgpu' by name still uses it", () => {
    const swiftshader = { ...gpuNoF16, adapter: 'google swiftshader', softwareAdapter: true };
    const auto = planDevices('auto', 'auto', swiftshader);
    expect(auto.gpu).toBeNull();
    expect(auto.wasmWorkers).toBeGreaterThan(0);
    expect(auto.reasons[0]).toBe("device auto: wasm (the WebGPU adapter google swiftshader is a software one, slower than WASM; ask for device 'webgpu' to use it anyway)");
    expect(planDevices('webgpu', 'auto', swiftshader).gpu).toEqual({ dtype: 'fp32', tryFp16: false });
  });

  it("dtype 'auto' on WASM takes q8 when the model has it, as transformers.js does; an asked-for dtype is kept", () => {
    const q8 = planDevices('wasm', 'auto', noGpu, undefined, ['q8']);
    expect(q8.wasmDtype).toBe('q8');
    expect(q8.reasons).toContain('dtype auto on wasm: q8 (the model has onnx/model_quantized.onnx; transformers.js picks it on WASM too)');
    expect(planDevices('wasm', 'auto', noGpu, undefined, []).reasons).toContain('dtype auto on wasm: fp32 (the model has no q8 file)');
    expect(planDevices('wasm', 'auto', noGpu).reasons).toContain('dtype auto on wasm: fp32 (could not tell whether the model has a q8 file)');
    expect(planDevices('wasm', 'fp32', noGpu, undefined, ['q8']).wasmDtype).toBe('fp32');
    expect(planDevices('webgpu', 'auto', gpuF16, undefined, ['q8']).gpu).toEqual({ dtype: 'fp16', tryFp16: true }); // q8 is a WASM default only
  });
});
