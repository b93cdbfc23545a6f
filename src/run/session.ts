// The seam between the engine and an inference runtime. onnxruntime-node and onnxruntime-web
// expose the same InferenceSession/Tensor API, so one adapter serves both; each entry point
// injects its own module and session options.
import { POOLED_OUTPUT, POOLING_MASK_INPUT } from '../pool/pooling-graph.js';
import { readModelSummary } from '../model/onnx-model.js';
import { planFeeds, positionIdsFor } from './feeds.js';

/** One padded batch, ready to feed: int64 tensors [rows, seq]. */
export interface PreparedBatch {
  rows: number;
  seq: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  /** Zeros, shared between batches: read, never written. */
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
  Tensor: new (type: 'int64' | 'float32' | 'float16' | 'bool', data: BigInt64Array | Float32Array | Uint16Array | Uint8Array, dims: readonly number[]) => unknown;
}

interface OrtSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/**
 * Pads the texts at `indices` (null: every row of `ids`, in order) to `seq` tokens and lays them
 * out as int64 tensors, padding on the right, or on the left where the tokenizer declares
 * padding_side 'left' (decoders, so that every row's last token is the batch's last column).
 * `maskPrefix` leading tokens of each row are left out of the pooling mask (a prompt and its [CLS]).
 */
export function prepareBatch(
  ids: readonly Int32Array[], indices: readonly number[] | null, seq: number, padId: number, maskPrefix = 0, padLeft = false,
): PreparedBatch {
  const rows = indices ? indices.length : ids.length;
  const inputIds = int64Buffer(rows * seq);
  const attentionMask = int64Buffer(rows * seq);
  // int64 written as pairs of int32 (low word, then high word: little-endian, as every platform
  // ONNX Runtime runs on): BigInt() per token cost more than the rest of the loop together.
  // Ids and the mask are small non-negative numbers, so every high word stays 0.
  // The view's own words: a recycled buffer may be longer than this batch.
  const idWords = new Int32Array(inputIds.buffer, inputIds.byteOffset, 2 * inputIds.length);
  const starts = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    const row = ids[indices ? indices[r]! : r]!;
    const start = r * seq + (padLeft ? seq - row.length : 0);
    starts[r] = start;
    // A pad id other than 0 (XLM-R's 1, Qwen's 2997) goes to the padding alone, a few % of a
    // packed batch, rather than first to every position and then under the real ids.
    if (padId !== 0) {
      for (let w = 2 * r * seq; w < 2 * start; w += 2) idWords[w] = padId;
      for (let w = 2 * (start + row.length); w < 2 * (r + 1) * seq; w += 2) idWords[w] = padId;
    }
    for (let t = 0, w = 2 * start; t < row.length; t++, w += 2) idWords[w] = row[t]!;
    // The mask's ones in one native fill: a quarter of this loop's time when written word by word.
    attentionMask.fill(1n, start, start + row.length);
  }
  let poolingMask = attentionMask;
  if (maskPrefix > 0) {
    poolingMask = attentionMask.slice();
    starts.forEach((start, r) => poolingMask.fill(0n, start, Math.min(start + maskPrefix, (r + 1) * seq)));
  }
  return { rows, seq, inputIds, attentionMask, tokenTypeIds: int64Zeros(rows * seq), poolingMask };
}

/** Feed buffers of finished batches (recycleBatch), reused by the next ones: at most this many are kept. */
const SPARE_BUFFERS = 6;
const spare: BigInt64Array[] = [];

/**
 * `length` int64 zeros: a spare buffer's view where one is large enough (zeroed again), else a new
 * array. Two fresh feed arrays a batch (about 30 MB per 9,000 MiniLM texts) were garbage for the
 * collector of a GPU worker that also tokenizes.
 */
function int64Buffer(length: number): BigInt64Array {
  for (let i = 0; i < spare.length; i++) {
    const buffer = spare[i]!;
    if (buffer.length >= length) {
      spare.splice(i, 1);
      return buffer.subarray(0, length).fill(0n);
    }
  }
  return new BigInt64Array(length);
}

/**
 * Hands a batch's feed buffers back once its run has settled (the runtimes read their inputs
 * during the run and keep nothing). Call it once per batch, never while the batch may still be read.
 */
export function recycleBatch(batch: PreparedBatch): void {
  const views = [batch.inputIds, batch.attentionMask];
  if (batch.poolingMask !== batch.attentionMask) views.push(batch.poolingMask);
  for (const view of views) {
    if (spare.some((b) => b.buffer === view.buffer)) continue;
    const whole = new BigInt64Array(view.buffer);
    // The largest are kept: a small spare serves small batches only.
    spare.push(whole);
    spare.sort((a, b) => a.length - b.length);
    if (spare.length > SPARE_BUFFERS) spare.shift();
  }
}

let zeros = new BigInt64Array(0);
/**
 * `length` int64 zeros (token_type_ids), a view of one buffer kept for every batch: the runtimes only
 * read inputs (onnxruntime-web would transfer them in its proxy mode, which the worker turns off), and
 * a fresh array a batch was a third of the feeds' allocation and zeroing.
 */
function int64Zeros(length: number): BigInt64Array {
  if (zeros.length < length) zeros = new BigInt64Array(Math.max(length, 2 * zeros.length));
  return zeros.subarray(0, length);
}

/**
 * Creates a session on an ONNX Runtime module. It feeds what the graph declares (see feeds.ts):
 * token_type_ids of zeros, position ids, empty caches; loading has refused inputs it cannot make.
 */
export async function createOrtSession(ort: OrtModule, model: Uint8Array, sessionOptions: object): Promise<EncoderSession> {
  const { plan } = planFeeds(readModelSummary(model).inputs, POOLING_MASK_INPUT);
  const session = await ort.InferenceSession.create(model, sessionOptions);
  return {
    async run(batch) {
      const dims = [batch.rows, batch.seq];
      const feeds: Record<string, unknown> = { input_ids: new ort.Tensor('int64', batch.inputIds, dims) };
      if (plan.attentionMask) feeds.attention_mask = new ort.Tensor('int64', batch.attentionMask, dims);
      if (plan.tokenTypeIds) feeds.token_type_ids = new ort.Tensor('int64', batch.tokenTypeIds, dims);
      if (plan.positionIds) feeds.position_ids = new ort.Tensor('int64', positionIdsFor(batch.attentionMask, batch.rows, batch.seq), dims);
      if (plan.useCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([0]), [1]);
      if (plan.poolingMask) feeds[plan.poolingMask] = new ort.Tensor('int64', batch.poolingMask, dims);
      for (const past of plan.past) {
        feeds[past.name] = new ort.Tensor(past.type, past.type === 'float16' ? new Uint16Array(0) : new Float32Array(0), [batch.rows, past.heads, 0, past.headDim]);
      }
      const output = (await session.run(feeds))[POOLED_OUTPUT]!;
      return output.data as Float32Array;
    },
    release: () => session.release(),
  };
}
