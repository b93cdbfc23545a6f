// The appended pooling nodes compute exactly what pooling on the CPU computes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/base/errors.js';
import type { Pooling } from '../../src/base/types.js';
import { appendPooling, POOLED_OUTPUT } from '../../src/pool/pooling-graph.js';
import { createOrtSession, prepareBatch, type OrtModule } from '../../src/run/session.js';
import { fromHalfBits } from '../../src/util/half.js';
import { onnx, type DecodedGraph } from '../../tools/fixtures/onnx-proto.js';
import { onnxPath } from '../helpers/models.js';

const rows = [Int32Array.from([2, 40, 41, 42, 43, 3]), Int32Array.from([2, 50, 3]), Int32Array.from([2, 3])];
const batch = prepareBatch(rows, [0, 1, 2], 6, 0);
const hidden = 64;

async function hiddenStates(file: string) {
  const session = await ort.InferenceSession.create(onnxPath('fixture-tiny', file));
  const dims = [batch.rows, batch.seq];
  const out = await session.run({
    input_ids: new ort.Tensor('int64', batch.inputIds, dims),
    attention_mask: new ort.Tensor('int64', batch.attentionMask, dims),
    token_type_ids: new ort.Tensor('int64', batch.tokenTypeIds, dims),
  });
  const t = out.last_hidden_state!;
  const data = t.type === 'float16' ? Array.from(t.data as Uint16Array, fromHalfBits) : Array.from(t.data as Float32Array);
  return (r: number, s: number, j: number) => data[(r * batch.seq + s) * hidden + j]!;
}

/** Pooling on the CPU in float64, over the real tokens of each (right-padded) row. */
function expected(h: (r: number, s: number, j: number) => number, pooling: Pooling, normalize: boolean, dimensions = hidden): number[][] {
  return rows.map((row, r) => {
    const v = Array.from({ length: hidden }, (_, j) => {
      if (pooling === 'cls') return h(r, 0, j);
      if (pooling === 'lasttoken') return h(r, row.length - 1, j);
      if (pooling === 'max') return Math.max(...Array.from({ length: row.length }, (_, s) => h(r, s, j)));
      let sum = 0;
      for (let s = 0; s < row.length; s++) sum += h(r, s, j);
      return sum / row.length;
    }).slice(0, dimensions);
    const norm = normalize ? Math.hypot(...v) : 1;
    return v.map((x) => x / norm);
  });
}

describe('appendPooling', () => {
  for (const file of ['model.onnx', 'model_fp16.onnx']) {
    const plans = [['mean', true], ['mean', false], ['cls', true], ['cls', false], ['max', true], ['max', false], ['lasttoken', true], ['lasttoken', false]] as const;
    for (const [pooling, normalize] of plans) {
      it(`${file}: ${pooling} pooling${normalize ? ' + L2 normalisation' : ''} matches pooling the hidden states`, async () => {
        const pooled = appendPooling(readFileSync(onnxPath('fixture-tiny', file)), { pooling, normalize });
        expect(pooled.hidden).toBe(hidden);
        expect(pooled.hiddenType).toBe(file === 'model.onnx' ? 'float32' : 'float16');
        expect(pooled.inputNames.sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);
        const session = await createOrtSession(ort as unknown as OrtModule, pooled.bytes, {});
        const got = await session.run(batch);
        expect(got).toBeInstanceOf(Float32Array);
        expect(got.length).toBe(rows.length * hidden);
        const want = expected(await hiddenStates(file), pooling, normalize);
        want.forEach((row, r) => row.forEach((x, j) => expect(Math.abs(got[r * hidden + j]! - x)).toBeLessThan(1e-5)));
      });
    }
  }

  it('Matryoshka dimensions: the first components, renormalised', async () => {
    const pooled = appendPooling(readFileSync(onnxPath('fixture-tiny')), { pooling: 'mean', normalize: true, dimensions: 16 });
    expect(pooled.dim).toBe(16);
    const got = await (await createOrtSession(ort as unknown as OrtModule, pooled.bytes, {})).run(batch);
    expect(got.length).toBe(rows.length * 16);
    const want = expected(await hiddenStates('model.onnx'), 'mean', true, 16);
    want.forEach((row, r) => row.forEach((x, j) => expect(Math.abs(got[r * 16 + j]! - x)).toBeLessThan(1e-5)));
    expect(() => appendPooling(readFileSync(onnxPath('fixture-tiny')), { pooling: 'mean', normalize: true, dimensions: 65 })).toThrow("option dimensions: 65 is more than the model's 64 dimensions");
  });

  it('max pooling in an opset-18 model (ReduceMax takes its axes as an input there)', async () => {
    const model = onnx.ModelProto.decode(readFileSync(onnxPath('fixture-tiny')));
    model.opsetImport = [onnx.OperatorSetIdProto.create({ domain: '', version: 18 })];
    const pooled = appendPooling(onnx.ModelProto.encode(model).finish(), { pooling: 'max', normalize: true });
    const got = await (await createOrtSession(ort as unknown as OrtModule, pooled.bytes, {})).run(batch);
    const want = expected(await hiddenStates('model.onnx'), 'max', true);
    want.forEach((row, r) => row.forEach((x, j) => expect(Math.abs(got[r * hidden + j]! - x)).toBeLessThan(1e-5)));
  });

  it('lasttoken picks the last real token with left padding too (decoders pad on the left)', async () => {
    // The same rows, padded on the left: token vectors depend on positions, so compare the
    // pooled vector with the hidden state of the last position of each row in the same run.
    const seq = 6;
    const left = { ...batch, inputIds: new BigInt64Array(rows.length * seq), attentionMask: new BigInt64Array(rows.length * seq) };
    rows.forEach((row, r) => row.forEach((id, t) => {
      left.inputIds[r * seq + seq - row.length + t] = BigInt(id);
      left.attentionMask[r * seq + seq - row.length + t] = 1n;
    }));
    const pooled = appendPooling(readFileSync(onnxPath('fixture-tiny')), { pooling: 'lasttoken', normalize: false });
    const got = await (await createOrtSession(ort as unknown as OrtModule, pooled.bytes, {})).run(left);
    const session = await ort.InferenceSession.create(onnxPath('fixture-tiny'));
    const dims = [rows.length, seq];
    const states = (await session.run({
      input_ids: new ort.Tensor('int64', left.inputIds, dims), attention_mask: new ort.Tensor('int64', left.attentionMask, dims),
      token_type_ids: new ort.Tensor('int64', left.tokenTypeIds, dims),
    })).last_hidden_state!.data as Float32Array;
    rows.forEach((_, r) => {
      for (let j = 0; j < hidden; j++) expect(got[r * hidden + j]).toBeCloseTo(states[(r * seq + seq - 1) * hidden + j]!, 5);
    });
  });

  it('refuses bytes that are not an ONNX model, naming the source', () => {
    expect(() => appendPooling(new Uint8Array([1, 2, 3, 4, 5]), { pooling: 'mean', normalize: true }, 'x/onnx/model.onnx')).toThrow(ModelFormatError);
    expect(() => appendPooling(new Uint8Array([1, 2, 3, 4, 5]), { pooling: 'mean', normalize: true }, 'x/onnx/model.onnx')).toThrow(/x\/onnx\/model\.onnx/);
  });

  it('refuses a model with no [batch, seq, hidden] output', () => {
    const model = onnx.ModelProto.decode(readFileSync(onnxPath('fixture-tiny')));
    model.graph!.output = [onnx.ValueInfoProto.create({ name: 'pooled', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'b' }, { dimValue: 64 }] } } } })];
    const bytes = onnx.ModelProto.encode(model).finish();
    expect(() => appendPooling(bytes, { pooling: 'mean', normalize: true }, 'm')).toThrow(/no last_hidden_state output \(outputs: pooled\)/);
  });

  it('splices the graph: an independent decoder reads the original nodes, weights and inputs unchanged, plus the pooling', () => {
    const original = readFileSync(onnxPath('fixture-tiny'));
    const before = onnx.ModelProto.decode(original).graph as unknown as DecodedGraph;
    const after = onnx.ModelProto.decode(appendPooling(original, { pooling: 'mean', normalize: true }).bytes);
    const graph = after.graph as unknown as DecodedGraph;
    expect(after.irVersion).toEqual(onnx.ModelProto.decode(original).irVersion);
    expect(after.opsetImport).toEqual(onnx.ModelProto.decode(original).opsetImport);
    expect(graph.input).toEqual(before.input);
    expect(graph.node.slice(0, before.node.length)).toEqual(before.node);
    expect(graph.node.length).toBeGreaterThan(before.node.length);
    const weights = (g: DecodedGraph) => g.initializer
      .filter((t) => !t.name?.startsWith('bulk_embed_pool/'))
      .map((t) => ({ name: t.name, dataType: t.dataType, dims: (t.dims ?? []).map(String), raw: createHash('sha256').update(t.rawData ?? new Uint8Array()).digest('hex') }));
    expect(weights(graph)).toEqual(weights(before));
    expect(graph.output.map((o) => o.name)).toEqual([POOLED_OUTPUT]);
    const dims = (o: (typeof graph.output)[number]) => o.type!.tensorType!.shape!.dim!.map((d) => (d.dimValue ? Number(d.dimValue) : d.dimParam));
    expect(dims(graph.output[0]!)).toEqual([dims(before.output[0]!)[0], hidden]);
  });

  it('refuses a truncated model, naming the source and the byte', () => {
    const bytes = readFileSync(onnxPath('fixture-tiny'));
    expect(() => appendPooling(bytes.subarray(0, bytes.length - 1000), { pooling: 'mean', normalize: true }, 'cut.onnx')).toThrow(/cut\.onnx is not a readable ONNX model: .*byte \d+/);
  });
});

