// The library's worker, plus a way for a test to destroy its GPU device mid-run: the same
// onnxruntime-web instance, so the device destroyed is the one the sessions run on.
import '../../../dist/browser/worker.js';
import * as ort from 'onnxruntime-web/webgpu';

const channel = new BroadcastChannel('bulk-embed-test-faults');
channel.onmessage = async (event) => {
  if (event.data === 'destroy-device') ((await ort.env.webgpu.device) as unknown as { destroy(): void }).destroy();
};
