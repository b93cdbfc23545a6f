// The seam between the engine and an inference runtime. onnxruntime-node and onnxruntime-web
// expose the same InferenceSession/Tensor API, so one adapter serves both; each entry point
// injects its own module and session options.
import { POOLED_OUTPUT, POOLING_MASK_INPUT } from '../pool/pooling-graph.js';

/** One padded batch, ready to feed: int64 tensors [rows, seq]. */
export interface PreparedBatch {
  rows: number;
  seq: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  /** The attention mask less each row's first `maskPrefix` tokens (the prompt), for models pooled without them. */
  poolingMask: BigInt64Array;
}

/** A session of the pooled model: runs a batch, returns [rows, dim] float32 vectors. */
export interface EncoderSession {
  run(batch: PreparedBatch): Promise<Float32Array>;
  release(): Promise<void>;
}

/** The subset of the onnxruntime-node / onnxruntime-web module that the engine uses. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: 'int64', data: BigInt64Array, dims: readonly number[]) => unknown;
}

interface OrtSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/**
 * Pads the texts at `indices` to `seq` tokens and lays them out as int64 tensors. `maskPrefix`
 * leading tokens of each row are left out of the pooling mask (a prompt and its [CLS]).
 */
export function prepareBatch(ids: readonly Int32Array[], indices: readonly number[], seq: number, padId: number, maskPrefix = 0): PreparedBatch {
  const rows = indices.length;
  const inputIds = new BigInt64Array(rows * seq).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(rows * seq);
  indices.forEach((index, r) => {
    const row = ids[index]!;
    const base = r * seq;
    for (let t = 0; t < row.length; t++) {
      inputIds[base + t] = BigInt(row[t]!);
      attentionMask[base + t] = 1n;
    }
  });
  let poolingMask = attentionMask;
  if (maskPrefix > 0) {
    poolingMask = attentionMask.slice();
    for (let r = 0; r < rows; r++) poolingMask.fill(0n, r * seq, r * seq + Math.min(maskPrefix, seq));
  }
  return { rows, seq, inputIds, attentionMask, tokenTypeIds: new BigInt64Array(rows * seq), poolingMask };
}

/** Creates an encoder session on an ONNX Runtime module; feeds only the inputs the model declares. */
export async function createOrtSession(ort: OrtModule, model: Uint8Array, sessionOptions: object): Promise<EncoderSession> {
  const session = await ort.InferenceSession.create(model, sessionOptions);
  const wants = new Set(session.inputNames);
  return {
    async run(batch) {
      const dims = [batch.rows, batch.seq];
      const feeds: Record<string, unknown> = { input_ids: new ort.Tensor('int64', batch.inputIds, dims) };
      if (wants.has('attention_mask')) feeds.attention_mask = new ort.Tensor('int64', batch.attentionMask, dims);
      if (wants.has('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', batch.tokenTypeIds, dims);
      if (wants.has(POOLING_MASK_INPUT)) feeds[POOLING_MASK_INPUT] = new ort.Tensor('int64', batch.poolingMask, dims);
      const output = (await session.run(feeds))[POOLED_OUTPUT]!;
      return output.data as Float32Array;
    },
    release: () => session.release(),
  };
}
