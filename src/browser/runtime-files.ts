// Checks, before onnxruntime-web needs them, that its runtime files are served where wasmPaths
// says. Without this, a missing file surfaces as ORT's "no available backend found", and a
// thread worker blocked by cross-origin isolation leaves the load waiting forever.
import { RuntimeAssetsError } from '../base/errors.js';

/** The onnxruntime-web build this library runs (onnxruntime-web/webgpu) loads these two files. */
export const RUNTIME_FILES = ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'] as const;

async function probe(url: string, doFetch: typeof fetch, small: boolean): Promise<Response> {
  // HEAD spares downloading the wasm, but offline a service worker's precache answers GET only.
  if (!small) {
    const head = await doFetch(url, { method: 'HEAD' }).catch(() => null);
    if (head && head.status !== 405 && head.status !== 501) return head;
  }
  const get = await doFetch(url);
  await get.body?.cancel();
  return get;
}

/**
 * Throws a RuntimeAssetsError naming the file and the fix when a runtime file is missing, is
 * answered by an HTML fallback page, or (threads under cross-origin isolation) lacks the
 * Cross-Origin-Embedder-Policy header that the browser requires of a worker script.
 */
export async function checkRuntimeFiles(wasmPaths: string, threaded: boolean, isolated: boolean, doFetch: typeof fetch = fetch): Promise<void> {
  for (const file of RUNTIME_FILES) {
    const url = new URL(file, wasmPaths).href;
    let response: Response;
    try {
      response = await probe(url, doFetch, file.endsWith('.mjs'));
    } catch (cause) {
      throw new RuntimeAssetsError(url, `could not be requested (${(cause as Error).message})`);
    }
    if (!response.ok) throw new RuntimeAssetsError(url, `was not found (HTTP ${response.status})`);
    const type = response.headers.get('content-type') ?? '';
    if (/text\/html/i.test(type)) throw new RuntimeAssetsError(url, 'was answered with an HTML page (a fallback route), not the file');
    if (threaded && isolated && file.endsWith('.mjs') && !response.headers.get('cross-origin-embedder-policy')) {
      throw new RuntimeAssetsError(
        url,
        'is served without a Cross-Origin-Embedder-Policy header, so this cross-origin-isolated page cannot start it as a thread worker ' +
          '(send COOP/COEP on every response: onnxRuntimeAssets({ crossOriginIsolation: true }) does it in Vite)',
      );
    }
  }
}
