// A model's identity for the files written with it: the same weights give the same fingerprint
// wherever they are read from (another folder, machine or URL), other weights a different one.
// Reading every byte of a large model would cost seconds; fine-tunes and dtypes differ throughout
// their weights, so evenly spread samples and the exact lengths tell them apart.
import { idFingerprint } from '../util/fingerprint-set.js';

const SAMPLES = 512;
const SAMPLE_BYTES = 64;

/** A 64-bit fingerprint (16 hex digits) of a model: its config, and samples of its graph and external weight files with their lengths. */
export function modelFingerprint(config: unknown, files: readonly Uint8Array[]): string {
  const parts = [JSON.stringify(config ?? null)];
  for (const bytes of files) {
    parts.push(`|${bytes.length}|`);
    const stride = Math.max(SAMPLE_BYTES, Math.floor(bytes.length / SAMPLES));
    let chunk = '';
    for (let at = 0; at < bytes.length; at += stride) chunk += String.fromCharCode(...bytes.subarray(at, Math.min(at + SAMPLE_BYTES, bytes.length)));
    parts.push(chunk);
  }
  return idFingerprint(parts.join('')).toString(16).padStart(16, '0');
}
