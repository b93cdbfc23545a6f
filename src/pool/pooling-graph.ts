// Appends pooling and L2 normalisation to an encoder's ONNX graph at load time, so a run hands
// back [batch, hidden] instead of [batch, sequence, hidden]: on a GPU only the final vectors are
// read back, and on a CPU no JS loop walks the hidden states. The appended nodes use only ops
// whose signatures have not changed across opsets (MatMul, Reshape, Transpose, Gather, Cast,
// Div, Max, Sqrt), so they work in any BERT-family model, whatever opset it was exported with.
import { ModelFormatError } from '../core/errors.js';
import type { Pooling } from '../core/types.js';
import { OnnxType, appendToGraph, readModelSummary, type ModelSummary, type NewInitializer, type NewNode } from '../model/onnx-model.js';

export const POOLED_OUTPUT = 'sentence_embedding';
const PREFIX = 'bulk_embed_pool/';

/** What the pooling step found out about the encoder while rewriting it. */
export interface PooledModel {
  /** The rewritten model, whose only output is `sentence_embedding` [batch, hidden] float32. */
  bytes: Uint8Array;
  /** Model input names (token_type_ids is absent from some families). */
  inputNames: string[];
  /** Hidden size, when the graph states it. */
  hidden: number | null;
  /** Element type of the encoder's hidden states: 'float32' or 'float16'. */
  hiddenType: 'float32' | 'float16';
}

/** Rewrites an encoder model so that it outputs pooled (and optionally normalised) vectors. */
export function appendPooling(modelBytes: Uint8Array, pooling: Pooling, normalize: boolean, source = 'model'): PooledModel {
  let summary: ModelSummary;
  try {
    summary = readModelSummary(modelBytes);
  } catch (cause) {
    throw new ModelFormatError(`${source} is not a readable ONNX model: ${(cause as Error).message}`, { cause });
  }
  const inputNames = summary.inputs.map((i) => i.name);
  if (!inputNames.includes('input_ids')) throw new ModelFormatError(`${source} has no input_ids input (inputs: ${inputNames.join(', ')})`);
  if (pooling === 'mean' && !inputNames.includes('attention_mask')) {
    throw new ModelFormatError(`${source} has no attention_mask input, which mean pooling needs`);
  }
  const hiddenOutput =
    summary.outputs.find((o) => o.name === 'last_hidden_state') ??
    summary.outputs.find((o) => o.shape?.length === 3);
  if (!hiddenOutput) {
    throw new ModelFormatError(`${source} has no last_hidden_state output (outputs: ${summary.outputs.map((o) => o.name).join(', ')})`);
  }
  const elemType = hiddenOutput.elemType;
  if (elemType !== OnnxType.FLOAT && elemType !== OnnxType.FLOAT16) {
    throw new ModelFormatError(`${source}: ${hiddenOutput.name} has element type ${elemType}; float32 or float16 expected`);
  }
  const hiddenDim = hiddenOutput.shape?.[2];
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
  if (pooling === 'mean') {
    const mask = op('Cast', ['attention_mask'], { to: OnnxType.FLOAT });
    const maskRow = op('Reshape', [mask, int64([0, 1, -1])]); // [batch, 1, seq]
    const maskCol = op('Reshape', [mask, int64([0, -1, 1])]); // [batch, seq, 1]
    const sum = op('MatMul', [maskRow, states]);
    const count = op('Max', [op('MatMul', [maskRow, maskCol]), float(1e-9)]); // [batch, 1, 1]
    pooled = op('Div', [sum, count]);
  } else {
    pooled = op('Gather', [states, int64([0])], { axis: 1 });
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
    outputs: [{ name: POOLED_OUTPUT, elemType: OnnxType.FLOAT, shape: [batchDim, hidden ?? 'hidden'] }],
  });
  return { bytes, inputNames, hidden, hiddenType: elemType === OnnxType.FLOAT16 ? 'float16' : 'float32' };
}
