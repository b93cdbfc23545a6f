// Appends pooling, Matryoshka truncation and L2 normalisation to an encoder's ONNX graph at load
// time, so a run hands back [batch, dim] instead of [batch, sequence, hidden]: on a GPU only the
// final vectors are read back, and on a CPU no JS loop walks the hidden states. The appended nodes
// use ops whose signatures have not changed since opset 11 (MatMul, Reshape, Transpose, Gather,
// Cast, Div, Max, Sqrt, Mul, Sub, Add, Equal, CumSum); ReduceMax, whose axes moved from an
// attribute to an input in opset 18, is written for the model's own opset.
import { InvalidOptionError, ModelFormatError } from '../base/errors.js';
import type { Pooling } from '../base/types.js';
import { OnnxType, appendToGraph, readModelSummary, type ModelSummary, type NewInitializer, type NewNode } from '../model/onnx-model.js';

/** The rewritten model's only output. Not 'sentence_embedding', which some exports already have. */
export const POOLED_OUTPUT = 'bulk_embed_vectors';
/** The output of an export that pools inside its graph (EmbeddingGemma: mean pooling, Dense layers, Normalize). */
export const MODEL_POOLED_OUTPUT = 'sentence_embedding';
/** Extra input of a model pooled without its prompt tokens: the attention mask with the prompt's tokens zeroed. */
export const POOLING_MASK_INPUT = 'bulk_embed_pooling_mask';
const PREFIX = 'bulk_embed_pool/';

/** What the pooling step found out about the encoder while rewriting it. */
export interface PooledModel {
  /** The rewritten model, whose only output is POOLED_OUTPUT [batch, dim] float32. */
  bytes: Uint8Array;
  /** Model input names (token_type_ids is absent from some families). */
  inputNames: string[];
  /** Hidden size, when the graph states it. */
  hidden: number | null;
  /** Output vector length (dimensions when truncated, else hidden), when known. */
  dim: number | null;
  /** Element type of the encoder's hidden states: 'float32' or 'float16'. */
  hiddenType: 'float32' | 'float16';
  /** External data files the weights live in (relative to the model file); the rewrite leaves them unread. */
  externalFiles: string[];
}

/** What to append: the pooling mode ('model': start from the graph's sentence_embedding), L2 normalisation, and Matryoshka truncation. */
export interface PoolingPlan {
  pooling: Pooling;
  normalize: boolean;
  /** Keep the first `dimensions` components before normalising (null: all). */
  dimensions?: number | null;
  /**
   * Pool over POOLING_MASK_INPUT instead of attention_mask, so prompt tokens can be left out of
   * the pooling while attention still sees them (sentence-transformers' include_prompt: false).
   */
  poolingMask?: boolean;
}

/** Rewrites an encoder model so that it outputs pooled (optionally truncated and normalised) vectors; `known` is its summary when already read. */
export function appendPooling(modelBytes: Uint8Array, plan: PoolingPlan, source = 'model', known?: ModelSummary): PooledModel {
  const { pooling, normalize, dimensions = null } = plan;
  const usesPoolingMask = Boolean(plan.poolingMask) && pooling !== 'cls' && pooling !== 'model';
  let summary: ModelSummary;
  try {
    summary = known ?? readModelSummary(modelBytes);
  } catch (cause) {
    throw new ModelFormatError(`${source} is not a readable ONNX model: ${(cause as Error).message}`, { cause });
  }
  const inputNames = summary.inputs.map((i) => i.name);
  if (!inputNames.includes('input_ids')) throw new ModelFormatError(`${source} has no input_ids input (inputs: ${inputNames.join(', ')})`);
  if (pooling !== 'cls' && pooling !== 'model' && !inputNames.includes('attention_mask')) {
    throw new ModelFormatError(`${source} has no attention_mask input, which ${pooling} pooling needs`);
  }
  const outputNames = summary.outputs.map((o) => o.name).join(', ');
  const hiddenOutput = pooling === 'model'
    ? summary.outputs.find((o) => o.name === MODEL_POOLED_OUTPUT)
    : summary.outputs.find((o) => o.name === 'last_hidden_state') ?? summary.outputs.find((o) => o.shape?.length === 3);
  if (!hiddenOutput) {
    throw new ModelFormatError(pooling === 'model'
      ? `${source} has no ${MODEL_POOLED_OUTPUT} output, which pooling 'model' needs (outputs: ${outputNames})`
      : `${source} has no last_hidden_state output (outputs: ${outputNames})`);
  }
  const elemType = hiddenOutput.elemType;
  if (elemType !== OnnxType.FLOAT && elemType !== OnnxType.FLOAT16) {
    throw new ModelFormatError(`${source}: ${hiddenOutput.name} has element type ${elemType}; float32 or float16 expected`);
  }
  const hiddenDim = hiddenOutput.shape?.[pooling === 'model' ? 1 : 2];
  const hidden = typeof hiddenDim === 'number' && hiddenDim > 0 ? hiddenDim : null;

  const nodes: NewNode[] = [];
  const inits: NewInitializer[] = [];
  const op = (opType: string, inputs: string[], attributes?: NewNode['attributes']): string => {
    const out = `${PREFIX}${opType}_${nodes.length}`;
    nodes.push({ opType, inputs, outputs: [out], name: `${out}_node`, attributes });
    return out;
  };
  const constant = (type: NewInitializer['type'], values: number[], dims: number[]): string => {
    const name = `${PREFIX}const_${inits.length}`;
    inits.push({ name, type, dims, values });
    return name;
  };
  const int64 = (values: number[]) => constant('int64', values, [values.length]);
  const float = (value: number) => constant('float32', [value], []);

  // Pool in float32 even for fp16 models: sums over 512 tokens lose precision in half floats.
  const states = elemType === OnnxType.FLOAT16 ? op('Cast', [hiddenOutput.name], { to: OnnxType.FLOAT }) : hiddenOutput.name;
  let pooled: string; // [batch, 1, hidden]
  if (pooling === 'model') {
    pooled = op('Reshape', [states, int64([0, 1, -1])]);
  } else if (pooling === 'cls') {
    pooled = op('Gather', [states, int64([0])], { axis: 1 });
  } else {
    const mask = op('Cast', [usesPoolingMask ? POOLING_MASK_INPUT : 'attention_mask'], { to: OnnxType.FLOAT });
    const maskRow = op('Reshape', [mask, int64([0, 1, -1])]); // [batch, 1, seq]
    const maskCol = op('Reshape', [mask, int64([0, -1, 1])]); // [batch, seq, 1]
    const count = op('MatMul', [maskRow, maskCol]); // [batch, 1, 1]: real tokens (mask x mask = mask)
    if (pooling === 'mean') {
      pooled = op('Div', [op('MatMul', [maskRow, states]), op('Max', [count, float(1e-9)])]);
    } else if (pooling === 'max') {
      // Padding sinks to -1e9, as in sentence-transformers, so only real tokens can be the max.
      const masked = op('Add', [states, op('Mul', [op('Sub', [maskCol, float(1)]), float(1e9)])]);
      pooled = (summary.opset ?? 13) >= 18
        ? op('ReduceMax', [masked, int64([1])], { keepdims: 1 })
        : op('ReduceMax', [masked], { axes: [1], keepdims: 1 });
    } else {
      // The last real token: where the running count of real tokens reaches the row's total.
      // Exact for right padding (encoders) and left padding (decoders) alike.
      const running = op('Reshape', [op('CumSum', [mask, int64([1])]), int64([0, 1, -1])]); // [batch, 1, seq]
      const last = op('Mul', [op('Cast', [op('Equal', [running, count])], { to: OnnxType.FLOAT }), maskRow]);
      pooled = op('MatMul', [last, states]);
    }
  }
  let dim = hidden;
  if (dimensions !== null) {
    if (hidden !== null && dimensions > hidden) {
      throw new InvalidOptionError('dimensions', `${dimensions} is more than the model's ${hidden} dimensions`);
    }
    pooled = op('Gather', [pooled, int64(Array.from({ length: dimensions }, (_, i) => i))], { axis: 2 });
    dim = dimensions;
  }
  if (normalize) {
    const column = op('Transpose', [pooled], { perm: [0, 2, 1] });
    const norm = op('Max', [op('Sqrt', [op('MatMul', [pooled, column])]), float(1e-12)]);
    pooled = op('Div', [pooled, norm]);
  }
  nodes.push({ opType: 'Reshape', inputs: [pooled, int64([0, -1])], outputs: [POOLED_OUTPUT], name: `${PREFIX}output_node` });

  const batchDim = hiddenOutput.shape?.[0] ?? 'batch_size';
  const bytes = appendToGraph(modelBytes, {
    nodes,
    initializers: inits,
    outputs: [{ name: POOLED_OUTPUT, elemType: OnnxType.FLOAT, shape: [batchDim, dim ?? 'hidden'] }],
    inputs: usesPoolingMask ? [{ name: POOLING_MASK_INPUT, elemType: OnnxType.INT64, shape: [batchDim, 'sequence_length'] }] : [],
  });
  return { bytes, inputNames: usesPoolingMask ? [...inputNames, POOLING_MASK_INPUT] : inputNames, hidden, dim, hiddenType: elemType === OnnxType.FLOAT16 ? 'float16' : 'float32', externalFiles: summary.externalFiles };
}
