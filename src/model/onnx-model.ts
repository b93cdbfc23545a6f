// The parts of an ONNX model the library reads and edits, at the protobuf wire level: the graph's
// inputs and outputs, and appending nodes. Field numbers are those of onnx.proto. Weights stay
// untouched byte ranges, so a rewrite costs one copy of the file and no decoding of tensors.
import { MessageWriter, WireFormatError, fieldString, readFields, type WireField } from '../util/protobuf.js';

/** ONNX TensorProto.DataType codes used here. */
export const OnnxType = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

const MODEL = { GRAPH: 7, OPSET_IMPORT: 8 } as const;
const GRAPH = { NODE: 1, INITIALIZER: 5, INPUT: 11, OUTPUT: 12 } as const;
const TENSOR = { DIMS: 1, DATA_TYPE: 2, NAME: 8, RAW_DATA: 9, EXTERNAL_DATA: 13 } as const;
const ATTRIBUTE = { NAME: 1, I: 3, INTS: 8, TYPE: 20 } as const;
const ATTRIBUTE_TYPE = { INT: 2, INTS: 7 } as const;

/** A dimension of a tensor shape: a number, a symbolic name, or unknown. */
export type Dim = number | string | null;

/** A graph input or output: name, element type and shape when declared. */
export interface ValueInfo {
  name: string;
  elemType: number | null;
  shape: Dim[] | null;
}

/** What a model's graph declares. */
export interface ModelSummary {
  /** Graph inputs that are fed at run time (initializers listed as inputs are left out). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Version of the default ONNX operator set the model imports (null: not declared). */
  opset: number | null;
  /** Files holding weights outside the model (external data locations, relative to the model file). */
  externalFiles: string[];
}

/** A node to append: attributes are ints or int lists, all this library needs. */
export interface NewNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes?: Record<string, number | number[]>;
}

/** A constant to append: int64 or float32 values with a shape. */
export interface NewInitializer {
  name: string;
  type: 'int64' | 'float32';
  dims: number[];
  values: number[];
}

function only<T>(iter: Iterable<T>, pick: (x: T) => boolean): T | undefined {
  for (const x of iter) if (pick(x)) return x;
  return undefined;
}

function graphField(bytes: Uint8Array): WireField {
  const graph = only(readFields(bytes), (f) => f.field === MODEL.GRAPH);
  if (!graph || graph.wireType !== 2) throw new WireFormatError('the model has no graph');
  return graph;
}

function readDims(bytes: Uint8Array, shape: WireField): Dim[] {
  const dims: Dim[] = [];
  for (const dim of readFields(bytes, shape.valueStart, shape.valueEnd)) {
    if (dim.field !== 1) continue;
    let value: Dim = null;
    for (const d of readFields(bytes, dim.valueStart, dim.valueEnd)) {
      if (d.field === 1 && d.wireType === 0) value = d.varint;
      else if (d.field === 2 && d.wireType === 2) value = fieldString(bytes, d);
    }
    dims.push(value);
  }
  return dims;
}

function readValueInfo(bytes: Uint8Array, f: WireField): ValueInfo {
  const info: ValueInfo = { name: '', elemType: null, shape: null };
  for (const v of readFields(bytes, f.valueStart, f.valueEnd)) {
    if (v.field === 1 && v.wireType === 2) info.name = fieldString(bytes, v);
    if (v.field !== 2 || v.wireType !== 2) continue;
    const tensor = only(readFields(bytes, v.valueStart, v.valueEnd), (t) => t.field === 1 && t.wireType === 2);
    if (!tensor) continue;
    for (const t of readFields(bytes, tensor.valueStart, tensor.valueEnd)) {
      if (t.field === 1 && t.wireType === 0) info.elemType = t.varint;
      if (t.field === 2 && t.wireType === 2) info.shape = readDims(bytes, t);
    }
  }
  return info;
}

/** Reads the graph's inputs and outputs; throws WireFormatError when the bytes are not a model. */
export function readModelSummary(bytes: Uint8Array): ModelSummary {
  const graph = graphField(bytes);
  const inputs: ValueInfo[] = [];
  const outputs: ValueInfo[] = [];
  const initializers = new Set<string>();
  const external = new Set<string>();
  for (const f of readFields(bytes, graph.valueStart, graph.valueEnd)) {
    if (f.wireType !== 2) continue;
    if (f.field === GRAPH.INPUT) inputs.push(readValueInfo(bytes, f));
    else if (f.field === GRAPH.OUTPUT) outputs.push(readValueInfo(bytes, f));
    else if (f.field === GRAPH.INITIALIZER) {
      for (const t of readFields(bytes, f.valueStart, f.valueEnd)) {
        if (t.field === TENSOR.NAME && t.wireType === 2) initializers.add(fieldString(bytes, t));
        if (t.field !== TENSOR.EXTERNAL_DATA || t.wireType !== 2) continue;
        // A StringStringEntryProto: key 1, value 2; the "location" entry names the file.
        let key = '';
        let value = '';
        for (const e of readFields(bytes, t.valueStart, t.valueEnd)) {
          if (e.field === 1 && e.wireType === 2) key = fieldString(bytes, e);
          if (e.field === 2 && e.wireType === 2) value = fieldString(bytes, e);
        }
        if (key === 'location') external.add(value);
      }
    }
  }
  let opset: number | null = null;
  for (const f of readFields(bytes)) {
    if (f.field !== MODEL.OPSET_IMPORT || f.wireType !== 2) continue;
    let domain = '';
    let version: number | null = null;
    for (const o of readFields(bytes, f.valueStart, f.valueEnd)) {
      if (o.field === 1 && o.wireType === 2) domain = fieldString(bytes, o);
      if (o.field === 2 && o.wireType === 0) version = o.varint;
    }
    if ((domain === '' || domain === 'ai.onnx') && version !== null) opset = version;
  }
  return { inputs: inputs.filter((i) => !initializers.has(i.name)), outputs, opset, externalFiles: [...external] };
}

function writeNode(w: MessageWriter, node: NewNode): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name);
  w.string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.message(5, (a) => {
      a.string(ATTRIBUTE.NAME, name);
      if (Array.isArray(value)) {
        for (const v of value) a.varint(ATTRIBUTE.INTS, v);
        a.varint(ATTRIBUTE.TYPE, ATTRIBUTE_TYPE.INTS);
      } else {
        a.varint(ATTRIBUTE.I, value);
        a.varint(ATTRIBUTE.TYPE, ATTRIBUTE_TYPE.INT);
      }
    });
  }
}

function writeInitializer(w: MessageWriter, init: NewInitializer): void {
  for (const d of init.dims) w.varint(TENSOR.DIMS, d);
  w.varint(TENSOR.DATA_TYPE, init.type === 'int64' ? OnnxType.INT64 : OnnxType.FLOAT);
  w.string(TENSOR.NAME, init.name);
  const raw = init.type === 'int64' ? new BigInt64Array(init.values.map(BigInt)) : new Float32Array(init.values);
  w.bytes(TENSOR.RAW_DATA, new Uint8Array(raw.buffer));
}

function writeValueInfo(w: MessageWriter, info: ValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) => type.message(1, (tensor) => {
    tensor.varint(1, info.elemType ?? OnnxType.FLOAT);
    if (info.shape) {
      tensor.message(2, (shape) => {
        for (const d of info.shape!) shape.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : typeof d === 'string' ? dim.string(2, d) : undefined));
      });
    }
  }));
}

/**
 * Returns a copy of the model with nodes and initializers appended to its graph and its outputs
 * replaced. Every other byte of the model is carried over as it was.
 */
export function appendToGraph(
  bytes: Uint8Array, edit: { nodes: NewNode[]; initializers: NewInitializer[]; outputs: ValueInfo[]; inputs?: ValueInfo[] },
): Uint8Array {
  const graph = graphField(bytes);
  const model = new MessageWriter();
  for (const f of readFields(bytes)) {
    if (f.start !== graph.start) {
      model.raw(bytes.subarray(f.start, f.end));
      continue;
    }
    model.message(MODEL.GRAPH, (g) => {
      for (const gf of readFields(bytes, graph.valueStart, graph.valueEnd)) {
        if (gf.field !== GRAPH.OUTPUT) g.raw(bytes.subarray(gf.start, gf.end));
      }
      for (const input of edit.inputs ?? []) g.message(GRAPH.INPUT, (i) => writeValueInfo(i, input));
      for (const node of edit.nodes) g.message(GRAPH.NODE, (n) => writeNode(n, node));
      for (const init of edit.initializers) g.message(GRAPH.INITIALIZER, (t) => writeInitializer(t, init));
      for (const out of edit.outputs) g.message(GRAPH.OUTPUT, (o) => writeValueInfo(o, out));
    });
  }
  return model.finish();
}
