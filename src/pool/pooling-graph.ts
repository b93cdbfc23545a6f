// Appends pooling and L2 normalisation to an encoder's ONNX graph at load time, so a run hands
// back [batch, hidden] instead of [batch, sequence, hidden]: on a GPU only the final vectors are
// read back, and on a CPU no JS loop walks the hidden states. The appended nodes use only ops
// whose signatures have not changed across opsets (MatMul, Reshape, Transpose, Gather, Cast,
// Div, Max, Sqrt), so they work in any BERT-family model, whatever opset it was exported with.
import { ModelFormatError } from '../core/errors.js';
import type { Pooling } from '../core/types.js';
import { DataType, onnx, type AttributeProto, type DecodedGraph, type ModelProto, type NodeProto, type TensorProto, int64ToNumber } from '../util/onnx-proto.js';

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
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(modelBytes);
  } catch (cause) {
    throw new ModelFormatError(`${source} is not a readable ONNX model: ${(cause as Error).message}`, { cause });
  }
  const graph = model.graph as DecodedGraph | null;
  if (!graph) throw new ModelFormatError(`${source} has no graph`);
  const inputNames = graph.input.map((i) => i.name ?? "").filter((n) => !graph.initializer.some((t) => t.name === n));
  if (!inputNames.includes('input_ids')) throw new ModelFormatError(`${source} has no input_ids input (inputs: ${inputNames.join(', ')})`);
  if (pooling === 'mean' && !inputNames.includes('attention_mask')) {
    throw new ModelFormatError(`${source} has no attention_mask input, which mean pooling needs`);
  }
  const hiddenOutput =
    graph.output.find((o) => o.name === 'last_hidden_state') ??
    graph.output.find((o) => o.type?.tensorType?.shape?.dim?.length === 3);
  if (!hiddenOutput) {
    throw new ModelFormatError(`${source} has no last_hidden_state output (outputs: ${graph.output.map((o) => o.name).join(', ')})`);
  }
  const elemType = hiddenOutput.type?.tensorType?.elemType;
  if (elemType !== DataType.FLOAT && elemType !== DataType.FLOAT16) {
    throw new ModelFormatError(`${source}: ${hiddenOutput.name} has element type ${elemType}; float32 or float16 expected`);
  }
  const hiddenDim = int64ToNumber(hiddenOutput.type?.tensorType?.shape?.dim?.[2]?.dimValue);

  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const op = (opType: string, inputs: string[], attribute: AttributeProto[] = []): string => {
    const out = `${PREFIX}${opType}_${nodes.length}`;
    nodes.push({ opType, input: inputs, output: [out], name: `${out}_node`, attribute });
    return out;
  };
  const int64 = (values: number[]): string => {
    const name = `${PREFIX}const_${inits.length}`;
    inits.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer) });
    return name;
  };
  const float = (value: number): string => {
    const name = `${PREFIX}const_${inits.length}`;
    inits.push({ name, dims: [], dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array([value]).buffer) });
    return name;
  };
  const INT = onnx.AttributeProto.AttributeType.INT;
  const INTS = onnx.AttributeProto.AttributeType.INTS;

  // Pool in float32 even for fp16 models: sums over 512 tokens lose precision in half floats.
  const hidden = elemType === DataType.FLOAT16 ? op('Cast', [hiddenOutput.name!], [{ name: 'to', type: INT, i: DataType.FLOAT }]) : hiddenOutput.name!;
  let pooled: string; // [batch, 1, hidden]
  if (pooling === 'mean') {
    const mask = op('Cast', ['attention_mask'], [{ name: 'to', type: INT, i: DataType.FLOAT }]);
    const maskRow = op('Reshape', [mask, int64([0, 1, -1])]); // [batch, 1, seq]
    const maskCol = op('Reshape', [mask, int64([0, -1, 1])]); // [batch, seq, 1]
    const sum = op('MatMul', [maskRow, hidden]);
    const count = op('Max', [op('MatMul', [maskRow, maskCol]), float(1e-9)]); // [batch, 1, 1]
    pooled = op('Div', [sum, count]);
  } else {
    pooled = op('Gather', [hidden, int64([0])], [{ name: 'axis', type: INT, i: 1 }]);
  }
  if (normalize) {
    const column = op('Transpose', [pooled], [{ name: 'perm', type: INTS, ints: [0, 2, 1] }]);
    const norm = op('Max', [op('Sqrt', [op('MatMul', [pooled, column])]), float(1e-12)]);
    pooled = op('Div', [pooled, norm]);
  }
  nodes.push({ opType: 'Reshape', input: [pooled, int64([0, -1])], output: [POOLED_OUTPUT], name: `${PREFIX}output_node` });

  graph.node.push(...nodes.map((n) => onnx.NodeProto.create(n)));
  graph.initializer.push(...inits.map((t) => onnx.TensorProto.create(t)));
  const batchDim = hiddenOutput.type?.tensorType?.shape?.dim?.[0] ?? { dimParam: 'batch_size' };
  graph.output = [onnx.ValueInfoProto.create({
    name: POOLED_OUTPUT,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [batchDim, hiddenDim ? { dimValue: hiddenDim } : { dimParam: 'hidden' }] } } },
  })];
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputNames,
    hidden: typeof hiddenDim === 'number' && hiddenDim > 0 ? hiddenDim : null,
    hiddenType: elemType === DataType.FLOAT16 ? 'float16' : 'float32',
  };
}
