// Counts the GPU buffer bytes that this worker's WebGPU device holds, by wrapping
// GPUDevice.createBuffer before ONNX Runtime creates its device. The worker is ours alone, so
// every buffer counted is one the library allocated.

let liveBytes = 0;
let installed = false;

/** Starts counting (once per worker); a no-op where WebGPU is absent. */
export function trackGpuBuffers(): void {
  const Device = (globalThis as { GPUDevice?: { prototype: { createBuffer(d: { size: number }): { destroy(): void } } } }).GPUDevice;
  if (installed || !Device) return;
  installed = true;
  const create = Device.prototype.createBuffer;
  Device.prototype.createBuffer = function (this: unknown, descriptor: { size: number }) {
    const buffer = create.call(this, descriptor);
    const size = Number(descriptor.size) || 0;
    liveBytes += size;
    let alive = true;
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      if (alive) {
        alive = false;
        liveBytes -= size;
      }
      destroy();
    };
    return buffer;
  };
}

/** Bytes in GPU buffers created and not yet destroyed. */
export const gpuBufferBytes = (): number => liveBytes;
