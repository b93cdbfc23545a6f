// fuseAttention on small hand-built graphs: the two ways BERT attention is exported (as our fixture
// generator writes it, and as torch.onnx writes Hugging Face's BertSelfAttention) become one
// com.microsoft.MultiHeadAttention per layer with the same output on onnxruntime's CPU EP; graphs
// that match only in part come back byte for byte unchanged.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseAttention, fuseAttentionAtLoad, MS_DOMAIN } from '../../src/model/fuse-attention.js';
import { InvalidOptionError } from '../../src/base/errors.js';
import { DataType, onnx, type AttributeProto } from '../../tools/fixtures/onnx-proto.js';
import { GraphBuilder, intAttr, intsAttr } from '../../tools/fixtures/onnx-bert.js';
import { cosine } from '../helpers/models.js';

const HEADS = 4;
const HEAD = 8;
const HIDDEN = HEADS * HEAD;

/** How one export differs from another; each flag defaults to the fixture generator's way. */
interface Style {
  /** torch.onnx: Add(bias, MatMul), shapes built from Shape/Gather/Unsqueeze/Concat of Constant nodes, K transposed twice. */
  torch?: boolean;
  /** Scale the scores with Mul by 1/sqrt(D) instead of Div by sqrt(D). */
  mulScale?: boolean;
  layers?: number;
  /** Break the pattern in one way (the graph must then be left unchanged). */
  odd?: 'softmax-output-read' | 'softmax-axis' | 'k-not-transposed' | 'scale-not-constant' | 'split-from-other-shape' | 'merge-wrong-size';
}

let seed = 7;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
const weights = (n: number, scale: number) => Float32Array.from({ length: n }, () => random() * scale);

/** A stack of self-attention layers: x [B, S, HIDDEN] float, attention_mask [B, S] int64 -> out. */
function attentionModel(style: Style = {}): Uint8Array {
  const g = new GraphBuilder('fp32');
  // Constant nodes as torch.onnx writes them: int64 vectors, or scalars (dims []).
  const tensorAttr = (values: number[], type: number, dims: number[]): AttributeProto => ({
    name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR,
    t: { dims, dataType: type, rawData: new Uint8Array((type === DataType.INT64 ? new BigInt64Array(values.map(BigInt)) : new Float32Array(values)).buffer) },
  });
  const constantNode = (values: number[], type: number = DataType.INT64, dims = [values.length]) => g.op('Constant', [], [tensorAttr(values, type, dims)]);
  const mask = g.op('Cast', ['attention_mask'], [intAttr('to', DataType.FLOAT)]);
  const mask4 = g.op('Unsqueeze', [mask, g.int64Tensor([1, 2])]);
  const additive = g.op('Mul', [g.op('Sub', [g.floatScalar(1), mask4]), g.floatScalar(-10000)]);
  const dim = (t: string, i: number, shapeOf = t) => g.op('Unsqueeze', [g.op('Gather', [g.op('Shape', [shapeOf]), constantNode([i], DataType.INT64, [])], [intAttr('axis', 0)]), g.int64Tensor([0])]);
  let x = 'x';
  for (let l = 0; l < (style.layers ?? 2); l++) {
    const linear = (input: string, name: string) => {
      const w = g.floatTensor(`${name}_${l}_w`, [HIDDEN, HIDDEN], weights(HIDDEN * HIDDEN, 0.3));
      const b = g.floatTensor(`${name}_${l}_b`, [HIDDEN], weights(HIDDEN, 0.1));
      const product = g.op('MatMul', [input, w]);
      return style.torch ? g.op('Add', [b, product]) : g.op('Add', [product, b]);
    };
    const split = (t: string) => {
      if (!style.torch) return g.op('Reshape', [t, g.int64Tensor([0, 0, HEADS, HEAD])]);
      const other = style.odd === 'split-from-other-shape' ? additive : t;
      const shape = g.op('Concat', [dim(t, 0, other), dim(t, 1, other), constantNode([HEADS]), constantNode([HEAD])], [intAttr('axis', 0)]);
      return g.op('Reshape', [t, shape]);
    };
    const q = g.op('Transpose', [split(linear(x, 'q'))], [intsAttr('perm', [0, 2, 1, 3])]);
    const kSplit = split(linear(x, 'k'));
    const k = style.odd === 'k-not-transposed'
      ? g.op('Transpose', [kSplit], [intsAttr('perm', [0, 2, 1, 3])])
      : style.torch
        ? g.op('Transpose', [g.op('Transpose', [kSplit], [intsAttr('perm', [0, 2, 1, 3])])], [intsAttr('perm', [0, 1, 3, 2])])
        : g.op('Transpose', [kSplit], [intsAttr('perm', [0, 2, 3, 1])]);
    const v = g.op('Transpose', [split(linear(x, 'v'))], [intsAttr('perm', [0, 2, 1, 3])]);
    const scores = g.op('MatMul', [q, k]);
    const scaled = style.odd === 'scale-not-constant' ? g.op('Div', [scores, 'scale_input'])
      : style.mulScale ? g.op('Mul', [scores, style.torch ? constantNode([1 / Math.sqrt(HEAD)], DataType.FLOAT, []) : g.floatScalar(1 / Math.sqrt(HEAD))])
        : g.op('Div', [scores, g.floatScalar(Math.sqrt(HEAD))]);
    const masked = style.torch ? g.op('Add', [additive, scaled]) : g.op('Add', [scaled, additive]);
    const probs = g.op('Softmax', [masked], [intAttr('axis', style.odd === 'softmax-axis' ? 2 : style.torch ? 3 : -1)], style.odd === 'softmax-output-read' && l === 0 ? 'probs_out' : undefined);
    const contextT = g.op('Transpose', [g.op('MatMul', [probs, v])], [intsAttr('perm', [0, 2, 1, 3])]);
    const mergedSize = style.odd === 'merge-wrong-size' ? HIDDEN / 2 : HIDDEN;
    const mergeShape = style.torch
      ? g.op('Concat', [dim(contextT, 0), dim(contextT, 1), constantNode([mergedSize])], [intAttr('axis', 0)])
      : g.int64Tensor([0, 0, mergedSize]);
    const context = g.op('Reshape', [contextT, mergeShape]);
    x = g.op('Add', [linear(context, 'o'), x]);
  }
  g.op('Identity', [x], [], 'out');
  const io = (name: string, type: number, dims: (string | number)[]) => ({
    name, type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const outputs = [io('out', DataType.FLOAT, ['batch', 'seq', HIDDEN])];
  if (style.odd === 'softmax-output-read') outputs.push(io('probs_out', DataType.FLOAT, ['batch', HEADS, 'seq', 'seq']));
  const inputs = [io('x', DataType.FLOAT, ['batch', 'seq', HIDDEN]), io('attention_mask', DataType.INT64, ['batch', 'seq'])];
  if (style.odd === 'scale-not-constant') inputs.push(io('scale_input', DataType.FLOAT, []));
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: style.torch ? 14 : 17 }],
    graph: { name: 'attention', node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  })).finish();
}

const opTypes = (bytes: Uint8Array) => {
  const counts: Record<string, number> = {};
  for (const n of onnx.ModelProto.decode(bytes).graph!.node ?? []) counts[n.opType!] = (counts[n.opType!] ?? 0) + 1;
  return counts;
};

const B = 3, S = 11;
async function run(bytes: Uint8Array): Promise<Float32Array> {
  seed = 99; // the same input for both graphs
  const x = weights(B * S * HIDDEN, 1);
  // Rows of 11, 6 and 1 real tokens: padding must be masked exactly as the unfused graph masks it.
  const mask = BigInt64Array.from({ length: B * S }, (_, i) => (i % S < [11, 6, 1][Math.floor(i / S)]! ? 1n : 0n));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', x, [B, S, HIDDEN]), attention_mask: new ort.Tensor('int64', mask, [B, S]) };
  const out = (await session.run(feeds)).out!.data as Float32Array;
  await session.release();
  return out;
}

/** Least cosine over the real (unmasked) token rows. */
function minRowCosine(a: Float32Array, b: Float32Array): number {
  let min = 1;
  for (let r = 0; r < B * S; r++) {
    if (r % S >= [11, 6, 1][Math.floor(r / S)]!) continue;
    min = Math.min(min, cosine(a.subarray(r * HIDDEN, (r + 1) * HIDDEN), b.subarray(r * HIDDEN, (r + 1) * HIDDEN)));
  }
  return min;
}

describe('fuseAttention', () => {
  const cases: [string, Style][] = [
    ['the fixture generator\'s export (Div scale, K transposed once, constant shapes)', {}],
    ['the fixture export with a Mul scale', { mulScale: true }],
    ['torch.onnx\'s export of BertSelfAttention (shapes from Shape/Gather, K transposed twice, mask first)', { torch: true }],
    ['torch.onnx\'s export with a Mul scale from a Constant node', { torch: true, mulScale: true, layers: 3 }],
  ];
  it.each(cases)('fuses %s into MultiHeadAttention with the same output', async (_, style) => {
    const layers = style.layers ?? 2;
    seed = 7;
    const model = attentionModel(style);
    const fused = fuseAttention(model);
    expect(fused).toMatchObject({ layers, skipped: [] });

    const decoded = onnx.ModelProto.decode(fused.bytes);
    expect(decoded.opsetImport.map((o) => o.domain)).toContain(MS_DOMAIN);
    const mha = (decoded.graph!.node ?? []).filter((n) => n.opType === 'MultiHeadAttention');
    expect(mha).toHaveLength(layers);
    for (const node of mha) {
      expect(node.domain).toBe(MS_DOMAIN);
      const attrs = Object.fromEntries((node.attribute ?? []).map((a) => [a.name, a.type === onnx.AttributeProto.AttributeType.FLOAT ? a.f : Number(a.i)]));
      expect(attrs.num_heads).toBe(HEADS);
      expect(attrs.scale).toBeCloseTo(1 / Math.sqrt(HEAD), 6);
      // query, key, value, no bias, no key_padding_mask, attention_bias
      expect(node.input).toHaveLength(6);
      expect(node.input!.slice(3, 5)).toEqual(['', '']);
    }
    const before = opTypes(model);
    const after = opTypes(fused.bytes);
    expect(before.Softmax).toBe(layers);
    expect(after.Softmax ?? 0).toBe(0);
    expect(after.Transpose ?? 0).toBe(0);
    expect(after.MatMul).toBe(4 * layers); // Q, K, V and output projections stay
    expect(after.Expand).toBe(1); // one attention_bias shared by every layer

    const [want, got] = [await run(model), await run(fused.bytes)];
    expect(minRowCosine(want, got)).toBeGreaterThanOrEqual(0.99999);
  });

  const odd: [string, Style['odd']][] = [
    ['the attention probabilities are also a graph output', 'softmax-output-read'],
    ['softmax runs over another axis', 'softmax-axis'],
    ['K is not transposed to [B, H, D, T]', 'k-not-transposed'],
    ['the scale is an input, not a constant', 'scale-not-constant'],
    ['the head split takes its leading dims from another tensor', 'split-from-other-shape'],
    ['the context is merged to another width', 'merge-wrong-size'],
  ];
  it.each(odd)('leaves the graph unchanged when %s', (_, kind) => {
    seed = 7;
    const model = attentionModel({ odd: kind, torch: kind === 'split-from-other-shape' });
    const fused = fuseAttention(model);
    if (kind === 'softmax-output-read') {
      // Only the layer whose probabilities are read is left; the other one still fuses.
      expect(fused.layers).toBe(1);
      expect(fused.skipped).toHaveLength(1);
      expect(opTypes(fused.bytes).Softmax).toBe(1);
      return;
    }
    expect(fused.layers).toBe(0);
    expect(fused.bytes).toBe(model);
    expect(fused.skipped).toHaveLength(2);
  });

  it('fuses a layer next to one it leaves, and the graph still runs the same', async () => {
    seed = 7;
    const model = attentionModel({ odd: 'softmax-output-read' });
    const fused = fuseAttention(model);
    expect(fused.layers).toBe(1);
    expect(minRowCosine(await run(model), await run(fused.bytes))).toBeGreaterThanOrEqual(0.99999);
  });
});

describe('fuseAttentionAtLoad', () => {
  seed = 7;
  const model = attentionModel();
  it('is off by default on every device, fuses when asked, and says what it did', () => {
    expect(fuseAttentionAtLoad(model, undefined, 'cpu')).toEqual({ bytes: model, reason: null });
    expect(fuseAttentionAtLoad(model, undefined, 'webgpu')).toEqual({ bytes: model, reason: null });
    const gpu = fuseAttentionAtLoad(model, true, 'webgpu');
    expect(gpu.bytes).not.toBe(model);
    expect(gpu.reason).toBe('attention fused: 2 layers as com.microsoft.MultiHeadAttention');
    expect(fuseAttentionAtLoad(model, false, 'webgpu')).toEqual({ bytes: model, reason: null });
  });
  it('says why when nothing matched, and refuses a non-boolean option', () => {
    seed = 7;
    const odd = attentionModel({ odd: 'softmax-axis' });
    expect(fuseAttentionAtLoad(odd, true, 'cpu')).toEqual({ bytes: odd, reason: expect.stringMatching(/^attention not fused: no self-attention block matched \(.*softmax axis 2\)$/) });
    expect(() => fuseAttentionAtLoad(model, 'yes' as unknown as boolean, 'cpu')).toThrow(InvalidOptionError);
  });
});
