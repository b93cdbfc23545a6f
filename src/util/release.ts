// Giving memory back at once. A load reads the weights and builds a rewritten graph from them; once
// ONNX Runtime has its own copy, those JS buffers are garbage that V8 frees only at its next major
// GC, which a run that allocates little may not reach for minutes (with a BERT-base model, two
// copies of 415 MB held the process 830 MB over its memory budget). Detaching a buffer frees it now.

/**
 * Frees the memory behind byte arrays the caller owns and will never read again; each must cover
 * its whole ArrayBuffer (partial views and shared memory are left to the GC). The arrays read as
 * empty afterwards.
 */
export function releaseBytes(arrays: readonly (Uint8Array | null | undefined)[]): void {
  const buffers = new Set<ArrayBuffer>();
  for (const a of arrays) {
    if (!a || !(a.buffer instanceof ArrayBuffer) || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.byteLength === 0) continue;
    buffers.add(a.buffer);
  }
  if (buffers.size === 0) return;
  const transfer = (ArrayBuffer.prototype as { transfer?: (length: number) => ArrayBuffer }).transfer;
  if (transfer) {
    for (const buffer of buffers) transfer.call(buffer, 0);
    return;
  }
  // Before ArrayBuffer.prototype.transfer (Node 20): a message no one will read takes the buffers,
  // and closing the channel drops it with them.
  if (typeof MessageChannel !== 'function') return;
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(null, [...buffers]);
  port1.close();
  port2.close();
}
