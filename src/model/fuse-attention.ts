// Fuses BERT-family self-attention into com.microsoft.MultiHeadAttention at load, at the protobuf
// wire level. onnxruntime fuses LayerNorm and GELU in our graphs on every execution provider but
// leaves attention as a dozen ops per layer (Reshape/Transpose for Q, K, V and the context,
// MatMul x2, Div, Add, Softmax); on WebGPU each is a dispatch, several through a
// [batch, heads, seq, seq] buffer. One MultiHeadAttention node per layer hands the whole block to
// the EP's own attention kernel, as transformers.js v4's fused exports do. (Off by default: see
// FUSE_ATTENTION_DEFAULT_DEVICE for what that kernel did on lavapipe.)
//
// Only what is matched in full is rewritten: any layer with an unexpected op, attribute, shape
// constant, or an intermediate that something else reads is left as it was, so the unfused graph
// is the fallback and a partial match can never change the vectors.
//
// The Q/K/V projections (MatMul + Add) are kept and feed the node as query, key and value already
// biased, so the graph's own Add (which onnxruntime may fuse with the MatMul) stays the one place
// the bias is applied; the WebGPU EP's flash-attention path also refuses a `bias` input.
// The additive mask goes in as `attention_bias` expanded to [batch or 1, 1, S, T] (the WebGPU EP
// does not implement `key_padding_mask`), so softmax sees exactly the values the unfused graph adds.
import { InvalidOptionError } from '../base/errors.js';
import { fromHalfBits } from '../util/half.js';
import { MessageWriter, WireFormatError, fieldString, readFields, type WireField } from '../util/protobuf.js';

/** The domain of onnxruntime's contrib ops (MultiHeadAttention). */
export const MS_DOMAIN = 'com.microsoft';

const MODEL = { GRAPH: 7, OPSET_IMPORT: 8 } as const;
const GRAPH = { NODE: 1, INITIALIZER: 5, INPUT: 11, OUTPUT: 12, VALUE_INFO: 13 } as const;
const NODE = { INPUT: 1, OUTPUT: 2, NAME: 3, OP_TYPE: 4, ATTRIBUTE: 5, DOMAIN: 7 } as const;
const ATTR = { NAME: 1, F: 2, I: 3, T: 5, G: 6, FLOATS: 7, INTS: 8, GRAPHS: 11, TYPE: 20 } as const;
const ATTR_TYPE = { FLOAT: 1, INT: 2 } as const;
const TENSOR = { DIMS: 1, DATA_TYPE: 2, FLOAT_DATA: 4, INT32_DATA: 5, INT64_DATA: 7, NAME: 8, RAW_DATA: 9, EXTERNAL_DATA: 13 } as const;
const DT = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;

/** What fusing found: the rewritten model (the input itself when nothing fused) and how many layers it fused. */
export interface AttentionFusion {
  bytes: Uint8Array;
  /** Attention blocks rewritten to MultiHeadAttention. */
  layers: number;
  /** Softmax nodes that looked like attention but were left unfused, with why (for info.reasons and tests). */
  skipped: string[];
}

interface Attr { name: string; type: number; i?: number; f?: number; ints?: number[]; tensor?: WireField; hasGraph: boolean }
interface Node { index: number; field: WireField; name: string; opType: string; domain: string; inputs: string[]; outputs: string[]; attrs: Map<string, Attr> }

/** A node to emit: int and float attributes are the only kinds written here. */
interface Emit {
  opType: string; domain?: string; name: string; inputs: string[]; outputs: string[];
  int?: Record<string, number>; float?: Record<string, number>;
}

/**
 * The int64 values of a varint field, plain or packed, as signed numbers: negatives (Softmax's
 * axis -1) are 10-byte two's complement, which float arithmetic would round, so BigInt decodes them.
 */
function readInts(bytes: Uint8Array, f: WireField): number[] {
  const [from, to] = f.wireType === 0 ? [f.valueStart, f.end] : [f.valueStart, f.valueEnd];
  const out: number[] = [];
  let pos = from;
  while (pos < to) {
    let value = 0n, shift = 0n, b: number;
    do {
      b = bytes[pos++]!;
      value |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b >= 0x80 && pos < to);
    out.push(Number(BigInt.asIntN(64, value)));
  }
  return out;
}

function parseAttr(bytes: Uint8Array, f: WireField): Attr {
  const a: Attr = { name: '', type: 0, hasGraph: false };
  for (const x of readFields(bytes, f.valueStart, f.valueEnd)) {
    if (x.field === ATTR.NAME && x.wireType === 2) a.name = fieldString(bytes, x);
    else if (x.field === ATTR.TYPE && x.wireType === 0) a.type = x.varint;
    else if (x.field === ATTR.I && x.wireType === 0) a.i = readInts(bytes, x)[0];
    else if (x.field === ATTR.F && x.wireType === 5) a.f = new DataView(bytes.buffer, bytes.byteOffset + x.valueStart, 4).getFloat32(0, true);
    else if (x.field === ATTR.INTS) (a.ints ??= []).push(...readInts(bytes, x));
    else if (x.field === ATTR.T && x.wireType === 2) a.tensor = x;
    else if (x.field === ATTR.G || x.field === ATTR.GRAPHS) a.hasGraph = true;
  }
  return a;
}

function parseNode(bytes: Uint8Array, f: WireField, index: number): Node {
  const node: Node = { index, field: f, name: '', opType: '', domain: '', inputs: [], outputs: [], attrs: new Map() };
  for (const x of readFields(bytes, f.valueStart, f.valueEnd)) {
    if (x.wireType !== 2) continue;
    if (x.field === NODE.INPUT) node.inputs.push(fieldString(bytes, x));
    else if (x.field === NODE.OUTPUT) node.outputs.push(fieldString(bytes, x));
    else if (x.field === NODE.NAME) node.name = fieldString(bytes, x);
    else if (x.field === NODE.OP_TYPE) node.opType = fieldString(bytes, x);
    else if (x.field === NODE.DOMAIN) node.domain = fieldString(bytes, x);
    else if (x.field === NODE.ATTRIBUTE) {
      const a = parseAttr(bytes, x);
      node.attrs.set(a.name, a);
    }
  }
  return node;
}

/** The values of a small constant tensor (TensorProto bytes), or null when it is not one this reads. */
function tensorValues(bytes: Uint8Array, start: number, end: number): number[] | null {
  let type = 0;
  let raw: WireField | null = null;
  const typed: number[] = [];
  for (const x of readFields(bytes, start, end)) {
    if (x.field === TENSOR.DATA_TYPE && x.wireType === 0) type = x.varint;
    else if (x.field === TENSOR.RAW_DATA && x.wireType === 2) raw = x;
    else if (x.field === TENSOR.EXTERNAL_DATA) return null;
    else if (x.field === TENSOR.INT64_DATA || x.field === TENSOR.INT32_DATA) typed.push(...readInts(bytes, x));
    else if (x.field === TENSOR.FLOAT_DATA) {
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      if (x.wireType === 5) typed.push(view.getFloat32(x.valueStart, true));
      else for (let p = x.valueStart; p + 4 <= x.valueEnd; p += 4) typed.push(view.getFloat32(p, true));
    }
  }
  if (!raw) return typed.length && type !== DT.FLOAT16 ? typed : type === DT.FLOAT16 && typed.length ? typed.map(fromHalfBits) : null;
  const n = raw.valueEnd - raw.valueStart;
  if (n > 64) return null; // shapes and scalars only: a weight is never a pattern constant
  const view = new DataView(bytes.buffer, bytes.byteOffset + raw.valueStart, n);
  const out: number[] = [];
  if (type === DT.INT64) for (let p = 0; p + 8 <= n; p += 8) out.push(Number(view.getBigInt64(p, true)));
  else if (type === DT.INT32) for (let p = 0; p + 4 <= n; p += 4) out.push(view.getInt32(p, true));
  else if (type === DT.FLOAT) for (let p = 0; p + 4 <= n; p += 4) out.push(view.getFloat32(p, true));
  else if (type === DT.FLOAT16) for (let p = 0; p + 2 <= n; p += 2) out.push(fromHalfBits(view.getUint16(p, true)));
  else if (type === DT.DOUBLE) for (let p = 0; p + 8 <= n; p += 8) out.push(view.getFloat64(p, true));
  else return null;
  return out;
}

/** The graph, read once: nodes, who reads each tensor, and the small constants. */
class GraphView {
  readonly nodes: Node[] = [];
  readonly producer = new Map<string, Node>();
  readonly consumers = new Map<string, Node[]>();
  readonly graphOutputs = new Set<string>();
  /** Graph inputs (old exports list initializers there too; those must keep their initializer). */
  readonly graphInputs = new Set<string>();
  readonly constants = new Map<string, number[] | null>();
  private readonly initializerFields = new Map<string, WireField>();
  hasSubgraphs = false;

  constructor(readonly bytes: Uint8Array, graph: WireField) {
    for (const f of readFields(bytes, graph.valueStart, graph.valueEnd)) {
      if (f.wireType !== 2) continue;
      if (f.field === GRAPH.NODE) {
        const node = parseNode(bytes, f, this.nodes.length);
        this.nodes.push(node);
        for (const o of node.outputs) this.producer.set(o, node);
        for (const i of node.inputs) if (i) (this.consumers.get(i) ?? this.consumers.set(i, []).get(i)!).push(node);
        for (const a of node.attrs.values()) if (a.hasGraph) this.hasSubgraphs = true;
      } else if (f.field === GRAPH.OUTPUT || f.field === GRAPH.INPUT) {
        const names = f.field === GRAPH.OUTPUT ? this.graphOutputs : this.graphInputs;
        for (const x of readFields(bytes, f.valueStart, f.valueEnd)) if (x.field === 1 && x.wireType === 2) names.add(fieldString(bytes, x));
      } else if (f.field === GRAPH.INITIALIZER) {
        for (const x of readFields(bytes, f.valueStart, f.valueEnd)) {
          if (x.field === TENSOR.NAME && x.wireType === 2) this.initializerFields.set(fieldString(bytes, x), f);
        }
      }
    }
  }

  isInitializer(name: string): boolean {
    return this.initializerFields.has(name);
  }

  initializerName(f: WireField): string {
    for (const x of readFields(this.bytes, f.valueStart, f.valueEnd)) if (x.field === TENSOR.NAME && x.wireType === 2) return fieldString(this.bytes, x);
    return '';
  }

  /** A constant's values: an initializer or a Constant node's value (null when not a small constant). */
  constant(name: string): number[] | null {
    if (this.constants.has(name)) return this.constants.get(name)!;
    let values: number[] | null = null;
    const init = this.initializerFields.get(name);
    const node = this.producer.get(name);
    if (init) values = tensorValues(this.bytes, init.valueStart, init.valueEnd);
    else if (node?.opType === 'Constant' && node.domain === '') {
      const value = node.attrs.get('value');
      if (value?.tensor) values = tensorValues(this.bytes, value.tensor.valueStart, value.tensor.valueEnd);
      else if (node.attrs.get('value_int')?.i !== undefined) values = [node.attrs.get('value_int')!.i!];
      else if (node.attrs.get('value_ints')?.ints) values = node.attrs.get('value_ints')!.ints!;
      else if (node.attrs.get('value_float')?.f !== undefined) values = [node.attrs.get('value_float')!.f!];
    }
    this.constants.set(name, values);
    return values;
  }

  /** The one node reading `tensor`, when exactly one does and it is no graph output. */
  soleConsumer(tensor: string): Node | null {
    const readers = this.consumers.get(tensor) ?? [];
    return readers.length === 1 && !this.graphOutputs.has(tensor) ? readers[0]! : null;
  }
}

/** Why a candidate was refused; thrown inside matching and caught per Softmax. */
class NoMatch extends Error {}
function need(ok: unknown, why: string): asserts ok {
  if (!ok) throw new NoMatch(why);
}

const sameInts = (a: number[] | undefined, b: number[]): boolean => !!a && a.length === b.length && a.every((v, i) => v === b[i]);

interface Matched {
  query: string;
  key: string;
  value: string;
  mask: string | null;
  output: string;
  heads: number;
  scale: number;
  /** Nodes the MultiHeadAttention node replaces. */
  removed: Node[];
  /** Where the replacement is written: the last removed node's place, after everything it reads. */
  at: number;
}

/**
 * Matches the attention block around one Softmax:
 *   Q: Reshape(q, [B, S, H, D]) -> Transpose(0,2,1,3)
 *   K: Reshape(k, [B, T, H, D]) -> Transpose(0,2,3,1), or Transpose(0,2,1,3) -> Transpose(0,1,3,2)
 *   V: Reshape(v, [B, T, H, D]) -> Transpose(0,2,1,3)
 *   Softmax(Add(Div|Mul(MatMul(Q, K), c), mask)) -> MatMul(., V) -> Transpose(0,2,1,3) -> Reshape([B, S, H x D])
 * where each reshape shape is a constant ([0, 0, H, D]) or built as torch.onnx writes it
 * (Concat of Unsqueeze(Gather(Shape(x), 0|1)) and constants).
 */
function matchAttention(g: GraphView, softmax: Node, opset: number): Matched {
  const removed: Node[] = [softmax];
  const chainFrom = (tensor: string, op: string, what: string): Node => {
    const node = g.producer.get(tensor);
    need(node && node.opType === op && node.domain === '', `${what} is not a ${op}`);
    need(g.soleConsumer(tensor) !== null, `${what} output is read elsewhere`);
    removed.push(node);
    return node;
  };
  const axis = softmax.attrs.get('axis')?.i ?? (opset >= 13 ? -1 : 1);
  need(axis === -1 || axis === 3, `softmax axis ${axis}`);

  // Scores: (QK^T) scaled, then the mask added (either order of the Add's inputs).
  let scaledName = softmax.inputs[0]!;
  let mask: string | null = null;
  const maybeAdd = g.producer.get(scaledName);
  if (maybeAdd?.opType === 'Add') {
    chainFrom(scaledName, 'Add', 'the masked scores');
    const [a, b] = maybeAdd.inputs as [string, string];
    // The scores side is Div|Mul reading a MatMul; the other side is the mask.
    const scaledScores = (t: string) => {
      const p = g.producer.get(t);
      return (p?.opType === 'Div' || p?.opType === 'Mul') && p.inputs.some((i) => g.producer.get(i)?.opType === 'MatMul');
    };
    need(scaledScores(a) !== scaledScores(b), 'cannot tell the scaled scores from the mask');
    [scaledName, mask] = scaledScores(a) ? [a, b] : [b, a];
  }
  const scaleNode = g.producer.get(scaledName);
  need(scaleNode && (scaleNode.opType === 'Div' || scaleNode.opType === 'Mul'), 'scores are not scaled by Div or Mul');
  chainFrom(scaledName, scaleNode.opType, 'the scaled scores');
  let scoresName: string, constName: string;
  if (scaleNode.opType === 'Div') [scoresName, constName] = scaleNode.inputs as [string, string];
  else {
    const [a, b] = scaleNode.inputs as [string, string];
    [scoresName, constName] = g.constant(b) ? [a, b] : [b, a];
  }
  const c = g.constant(constName);
  need(c && c.length === 1 && Number.isFinite(c[0]) && c[0] !== 0, 'the scale is not a scalar constant');
  const scale = scaleNode.opType === 'Div' ? 1 / c[0]! : c[0]!;
  const scores = chainFrom(scoresName, 'MatMul', 'the QK scores');
  const [qT, kT] = scores.inputs as [string, string];

  // V side: softmax -> MatMul(probs, V) -> Transpose -> Reshape.
  const av = g.soleConsumer(softmax.outputs[0]!);
  need(av && av.opType === 'MatMul' && av.inputs[0] === softmax.outputs[0], 'softmax output is not multiplied by V');
  removed.push(av);
  const ctxT = g.soleConsumer(av.outputs[0]!);
  need(ctxT && ctxT.opType === 'Transpose' && sameInts(ctxT.attrs.get('perm')?.ints, [0, 2, 1, 3]), 'context is not transposed back to [B, S, H, D]');
  removed.push(ctxT);
  // torch.onnx also reads the context's Shape to build the merged shape: those Shape nodes go with the block (checked below).
  const ctxReaders = g.consumers.get(ctxT.outputs[0]!) ?? [];
  const merge = ctxReaders.find((n) => n.opType === 'Reshape');
  need(merge && merge.inputs[0] === ctxT.outputs[0] && !g.graphOutputs.has(ctxT.outputs[0]!) && ctxReaders.every((n) => n === merge || n.opType === 'Shape'), 'context is not reshaped to [B, S, hidden]');
  removed.push(merge);

  // Split heads: Reshape to [B, S, H, D], then Transpose.
  const split = (t: string, what: string): { input: string; heads: number; headSize: number } => {
    const reshape = chainFrom(t, 'Reshape', `${what} head split`);
    need(!reshape.attrs.get('allowzero')?.i, `${what} reshape has allowzero`);
    const shape = reshapeShape(g, reshape.inputs[1]!, reshape.inputs[0]!, 4);
    need(shape && shape[2]! >= -1 && shape[3]! > 0 && shape[2] !== 0, `${what} reshape shape is not [B, S, H, D]`);
    return { input: reshape.inputs[0]!, heads: shape[2]!, headSize: shape[3]! };
  };
  const transposed = (t: string, perm: number[], what: string): string => {
    const node = chainFrom(t, 'Transpose', what);
    need(sameInts(node.attrs.get('perm')?.ints, perm), `${what} perm is not ${perm.join(',')}`);
    return node.inputs[0]!;
  };
  const q = split(transposed(qT, [0, 2, 1, 3], 'Q transpose'), 'Q');
  const kNode = g.producer.get(kT);
  need(kNode?.opType === 'Transpose', 'K is not transposed');
  const k = sameInts(kNode.attrs.get('perm')?.ints, [0, 2, 3, 1])
    ? split(transposed(kT, [0, 2, 3, 1], 'K transpose'), 'K')
    : split(transposed(transposed(kT, [0, 1, 3, 2], 'K^T'), [0, 2, 1, 3], 'K transpose'), 'K');
  need(av.inputs[1] !== undefined, 'no V');
  const v = split(transposed(av.inputs[1]!, [0, 2, 1, 3], 'V transpose'), 'V');
  need(q.headSize === k.headSize && q.headSize === v.headSize, 'Q, K and V head sizes differ');
  const declared = [q.heads, k.heads, v.heads].filter((h) => h > 0);
  need(declared.length > 0 && declared.every((h) => h === declared[0]), 'the head count is not stated or differs');
  const heads = declared[0]!;

  // Merge heads: [B, S, H x D] (or [B, S, -1]) from the context's own leading dims.
  const merged = reshapeShape(g, merge.inputs[1]!, ctxT.outputs[0]!, 3);
  need(merged && (merged[2] === heads * q.headSize || merged[2] === -1), 'context reshape is not [B, S, H x D]');
  need(!merge.attrs.get('allowzero')?.i, 'context reshape has allowzero');

  // The mask must come from outside this block.
  const inside = new Set(removed.flatMap((n) => n.outputs));
  need(mask === null || !inside.has(mask), 'the mask is computed inside the block');
  need(q.input !== merge.outputs[0] && k.input !== merge.outputs[0] && v.input !== merge.outputs[0], 'the block reads its own output');
  // The shape arithmetic that only fed the removed nodes goes too; after that, nothing left in the
  // graph may read a tensor of the block but its output.
  const keep = new Set([q.input, k.input, v.input, ...(mask ? [mask] : [])]);
  const all = withDeadFeeders(g, removed, keep);
  const gone = new Set(all);
  for (const node of all) {
    for (const t of node.outputs) {
      if (t === merge.outputs[0]) continue;
      need(!g.graphOutputs.has(t) && (g.consumers.get(t) ?? []).every((c) => gone.has(c)), `${t} is read outside the block`);
    }
  }
  return {
    query: q.input, key: k.input, value: v.input, mask, output: merge.outputs[0]!, heads, scale, removed: all,
    at: Math.max(...all.map((n) => n.index)),
  };
}

/**
 * `removed` plus the nodes that would only feed removed nodes (Shape, Gather, Unsqueeze, Concat,
 * Constant of torch.onnx's shape arithmetic), so no node is left reading a tensor that is gone.
 * Tensors in `keep` stay alive: the new node reads them.
 */
function withDeadFeeders(g: GraphView, removed: Node[], keep: Set<string>): Node[] {
  const gone = new Set(removed);
  const queue = [...removed];
  while (queue.length) {
    const node = queue.pop()!;
    for (const input of node.inputs) {
      const feeder = g.producer.get(input);
      if (!feeder || gone.has(feeder)) continue;
      const dead = feeder.outputs.every((t) => !keep.has(t) && !g.graphOutputs.has(t) && (g.consumers.get(t) ?? []).every((c) => gone.has(c)));
      if (!dead) continue;
      gone.add(feeder);
      queue.push(feeder);
    }
  }
  return [...gone];
}

/**
 * A Reshape's target shape with its first two entries checked to copy dims 0 and 1 of `data`
 * (0 in a constant shape, or Unsqueeze(Gather(Shape(data), i)) pieces as torch.onnx writes them);
 * those two are returned as 0. Null when the shape is something else.
 */
function reshapeShape(g: GraphView, shapeName: string, data: string, rank: number): number[] | null {
  const constant = g.constant(shapeName);
  if (constant) return constant.length === rank && constant[0] === 0 && constant[1] === 0 ? constant : null;
  const concat = g.producer.get(shapeName);
  if (concat?.opType !== 'Concat' || concat.inputs.length !== rank || (concat.attrs.get('axis')?.i ?? 0) !== 0) return null;
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const piece = concat.inputs[i]!;
    const value = g.constant(piece);
    if (i < 2) {
      if (value) {
        if (value.length !== 1 || value[0] !== 0) return null;
      } else if (!copiesDim(g, piece, data, i)) return null;
      out.push(0);
    } else {
      if (!value || value.length !== 1) return null;
      out.push(value[0]!);
    }
  }
  return out;
}

/** Whether `piece` is Unsqueeze(Gather(Shape(data), dim)) (a one-element tensor holding data's dim). */
function copiesDim(g: GraphView, piece: string, data: string, dim: number): boolean {
  const unsqueeze = g.producer.get(piece);
  if (unsqueeze?.opType !== 'Unsqueeze') return false;
  const axes = unsqueeze.attrs.get('axes')?.ints ?? (unsqueeze.inputs[1] ? g.constant(unsqueeze.inputs[1]) : null);
  if (!axes || axes.length !== 1 || axes[0] !== 0) return false;
  const gather = g.producer.get(unsqueeze.inputs[0]!);
  if (gather?.opType !== 'Gather' || (gather.attrs.get('axis')?.i ?? 0) !== 0) return false;
  const index = g.constant(gather.inputs[1]!);
  if (!index || index.length !== 1 || index[0] !== dim) return false;
  const shape = g.producer.get(gather.inputs[0]!);
  // A sliced Shape (opset 15's start/end) would number the dims differently.
  return shape?.opType === 'Shape' && shape.inputs[0] === data && !shape.attrs.has('start') && !shape.attrs.has('end');
}

function writeEmit(w: MessageWriter, node: Emit): void {
  for (const input of node.inputs) w.string(NODE.INPUT, input);
  for (const output of node.outputs) w.string(NODE.OUTPUT, output);
  w.string(NODE.NAME, node.name);
  w.string(NODE.OP_TYPE, node.opType);
  for (const [name, value] of Object.entries(node.int ?? {})) {
    w.message(NODE.ATTRIBUTE, (a) => a.string(ATTR.NAME, name).varint(ATTR.I, value).varint(ATTR.TYPE, ATTR_TYPE.INT));
  }
  for (const [name, value] of Object.entries(node.float ?? {})) {
    w.message(NODE.ATTRIBUTE, (a) => a.string(ATTR.NAME, name).float(ATTR.F, value).varint(ATTR.TYPE, ATTR_TYPE.FLOAT));
  }
  if (node.domain) w.string(NODE.DOMAIN, node.domain);
}

const PREFIX = 'bulk_embed_mha/';

/**
 * Rewrites each fully matched BERT-style self-attention block to one com.microsoft
 * MultiHeadAttention node and imports that domain. Returns the input bytes unchanged (same array)
 * when no block matched. Throws WireFormatError only when the bytes are not a protobuf model.
 */
export function fuseAttention(bytes: Uint8Array): AttentionFusion {
  let graph: WireField | undefined;
  let opset = 0;
  let msImported = false;
  for (const f of readFields(bytes)) {
    if (f.field === MODEL.GRAPH && f.wireType === 2) graph = f;
    if (f.field !== MODEL.OPSET_IMPORT || f.wireType !== 2) continue;
    let domain = '';
    let version = 0;
    for (const o of readFields(bytes, f.valueStart, f.valueEnd)) {
      if (o.field === 1 && o.wireType === 2) domain = fieldString(bytes, o);
      if (o.field === 2 && o.wireType === 0) version = o.varint;
    }
    if (domain === '' || domain === 'ai.onnx') opset = version;
    if (domain === MS_DOMAIN) msImported = true;
  }
  if (!graph) throw new WireFormatError('the model has no graph');
  const g = new GraphView(bytes, graph);
  const skipped: string[] = [];
  // A subgraph (If, Loop) may read tensors by name without being listed as a consumer here.
  if (g.hasSubgraphs) return { bytes, layers: 0, skipped: ['the graph has subgraphs (If/Loop/Scan): not fused'] };

  const matches: Matched[] = [];
  const taken = new Set<Node>();
  for (const node of g.nodes) {
    if (node.opType !== 'Softmax' || node.domain !== '') continue;
    try {
      const m = matchAttention(g, node, opset);
      if (m.removed.some((n) => taken.has(n))) throw new NoMatch('overlaps another match');
      for (const n of m.removed) taken.add(n);
      matches.push(m);
    } catch (error) {
      if (!(error instanceof NoMatch)) throw error;
      skipped.push(`${node.name || node.outputs[0]}: ${error.message}`);
    }
  }
  if (!matches.length) return { bytes, layers: 0, skipped };

  // Nodes written in place of each match's last node: the bias expansion (once per mask) and the attention node.
  const insertAt = new Map<number, Emit[]>();
  const biasOf = new Map<string, string>();
  const constants: { name: string; values: number[] }[] = [];
  matches.forEach((m, layer) => {
    const emits: Emit[] = [];
    let bias = '';
    if (m.mask !== null) {
      bias = biasOf.get(m.mask) ?? '';
      if (!bias) {
        // Expand the additive mask ([B,1,1,T], or any shape that broadcasts) to [B or 1, 1 or H, S, T],
        // the shape attention_bias must have; S and T are read from the query and key at run time.
        const p = `${PREFIX}bias_${biasOf.size}/`;
        const lengthOf = (t: string, tag: string) => {
          emits.push({ opType: 'Shape', name: `${p}${tag}_shape`, inputs: [t], outputs: [`${p}${tag}_shape`] });
          emits.push({ opType: 'Gather', name: `${p}${tag}_len`, inputs: [`${p}${tag}_shape`, `${p}one`], outputs: [`${p}${tag}_len`], int: { axis: 0 } });
          return `${p}${tag}_len`;
        };
        constants.push({ name: `${p}ones`, values: [1, 1] }, { name: `${p}one`, values: [1] });
        const s = lengthOf(m.query, 'q');
        const t = lengthOf(m.key, 'k');
        emits.push({ opType: 'Concat', name: `${p}target`, inputs: [`${p}ones`, s, t], outputs: [`${p}target`], int: { axis: 0 } });
        bias = `${p}attention_bias`;
        emits.push({ opType: 'Expand', name: bias, inputs: [m.mask, `${p}target`], outputs: [bias] });
        biasOf.set(m.mask, bias);
      }
    }
    emits.push({
      opType: 'MultiHeadAttention', domain: MS_DOMAIN, name: `${PREFIX}layer_${layer}`,
      inputs: [m.query, m.key, m.value, '', '', ...(bias ? [bias] : [])], outputs: [m.output],
      int: { num_heads: m.heads }, float: { scale: m.scale },
    });
    insertAt.set(m.at, emits);
  });
  const removedIndex = new Set(matches.flatMap((m) => m.removed.map((n) => n.index)));
  // Shape constants and scales that only the removed nodes read go too (onnxruntime warns about unused initializers).
  const removedNodes = new Set(matches.flatMap((m) => m.removed));
  const readOnlyByRemoved = (t: string) =>
    g.isInitializer(t) && !g.graphOutputs.has(t) && !g.graphInputs.has(t) && (g.consumers.get(t) ?? []).every((c) => removedNodes.has(c));
  const orphaned = new Set([...removedNodes].flatMap((n) => n.inputs).filter(readOnlyByRemoved));
  const removedTensors = new Set(matches.flatMap((m) => m.removed.flatMap((n) => n.outputs)).filter((t) => !matches.some((m) => m.output === t)));

  const model = new MessageWriter();
  for (const f of readFields(bytes)) {
    if (f.start !== graph.start) {
      model.raw(bytes.subarray(f.start, f.end));
      continue;
    }
    model.message(MODEL.GRAPH, (w) => {
      let index = 0;
      for (const gf of readFields(bytes, graph!.valueStart, graph!.valueEnd)) {
        if (gf.field === GRAPH.NODE && gf.wireType === 2) {
          const at = index++;
          for (const e of insertAt.get(at) ?? []) w.message(GRAPH.NODE, (n) => writeEmit(n, e));
          if (removedIndex.has(at)) continue;
        } else if (gf.field === GRAPH.INITIALIZER && gf.wireType === 2) {
          if (orphaned.has(g.initializerName(gf))) continue;
        } else if (gf.field === GRAPH.VALUE_INFO && gf.wireType === 2) {
          // Declared shapes of tensors that no longer exist would only confuse the checker.
          const name = [...readFields(bytes, gf.valueStart, gf.valueEnd)].find((x) => x.field === 1 && x.wireType === 2);
          if (name && removedTensors.has(fieldString(bytes, name))) continue;
        }
        w.raw(bytes.subarray(gf.start, gf.end));
      }
      // int64 vectors as initializers rather than Constant nodes: valid at every opset.
      for (const c of constants) {
        w.message(GRAPH.INITIALIZER, (t) => {
          t.varint(TENSOR.DIMS, c.values.length).varint(TENSOR.DATA_TYPE, DT.INT64).string(TENSOR.NAME, c.name);
          t.bytes(TENSOR.RAW_DATA, new Uint8Array(new BigInt64Array(c.values.map(BigInt)).buffer));
        });
      }
    });
  }
  if (!msImported) model.message(MODEL.OPSET_IMPORT, (o) => o.string(1, MS_DOMAIN).varint(2, 1));
  return { bytes: model.finish(), layers: matches.length, skipped };
}

/**
 * The loader's step: fuses when asked (`wanted` true; by default only on
 * FUSE_ATTENTION_DEFAULT_DEVICE) and says what happened for info.reasons. A graph it cannot fuse
 * runs unfused: that is a reason, never an error.
 */
export function fuseAttentionAtLoad(bytes: Uint8Array, wanted: boolean | undefined, device: string): { bytes: Uint8Array; reason: string | null } {
  if (wanted !== undefined && typeof wanted !== 'boolean') throw new InvalidOptionError('fuseAttention', 'must be true or false');
  const on = wanted ?? device === FUSE_ATTENTION_DEFAULT_DEVICE;
  if (!on) return { bytes, reason: null };
  let fused: AttentionFusion;
  try {
    fused = fuseAttention(bytes);
  } catch (error) {
    if (!(error instanceof WireFormatError)) throw error;
    return { bytes, reason: `attention not fused: ${error.message}` };
  }
  if (!fused.layers) return { bytes, reason: `attention not fused: no self-attention block matched${fused.skipped.length ? ` (${fused.skipped[0]})` : ''}` };
  const partial = fused.skipped.length ? `; ${fused.skipped.length} softmax left unfused (${fused.skipped[0]})` : '';
  return { bytes: fused.bytes, reason: `attention fused: ${fused.layers} layer${fused.layers > 1 ? 's' : ''} as com.microsoft.MultiHeadAttention${partial}` };
}

/**
 * The device on which fuseAttention defaults to on; null: off everywhere, which it is. On
 * onnxruntime-node 1.30's WebGPU EP (Dawn on Mesa lavapipe) MultiHeadAttention is wrong once the
 * key length reaches 32 tokens: outputs off by up to 0.36 against its CPU kernel on random
 * inputs, exact below 32; and at 128 tokens a batch took between 17% less and 10% more time than
 * unfused (bench/fusion.ts measures both; bench/results/fusion.json records them). On the CPU EP
 * it is exact and no faster. Whether the fault is lavapipe's or the kernel's is not known here
 * (no other Vulkan driver to try), so fusing stays an explicit choice.
 */
export const FUSE_ATTENTION_DEFAULT_DEVICE: string | null = null;
