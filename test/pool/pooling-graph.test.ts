// The appended pooling nodes compute exactly what pooling on the CPU computes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/core/errors.js';
import { appendPooling } from '../../src/pool/pooling-graph.js';
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

function expected(h: (r: number, s: number, j: number) => number, pooling: 'mean' | 'cls', normalize: boolean): number[][] {
  return rows.map((row, r) => {
    const v = Array.from({ length: hidden }, (_, j) => {
      if (pooling === 'cls') return h(r, 0, j);
      let sum = 0;
      for (let s = 0; s < row.length; s++) sum += h(r, s, j);
      return sum / row.length;
    });
    const norm = normalize ? Math.hypot(...v) : 1;
    return v.map((x) => x / norm);
  });
}

describe('appendPooling', () => {
  for (const file of ['model.onnx', 'model_fp16.onnx']) {
    for (const [pooling, normalize] of [['mean', true], ['mean', false], ['cls', true], ['cls', false]] as const) {
      it(`${file}: ${pooling} pooling${normalize ? ' + L2 normalisation' : ''} matches pooling the hidden states`, async () => {
        const pooled = appendPooling(readFileSync(onnxPath('fixture-tiny', file)), pooling, normalize);
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

  it('refuses bytes that are not an ONNX model, naming the source', () => {
    expect(() => appendPooling(new Uint8Array([1, 2, 3, 4, 5]), 'mean', true, 'x/onnx/model.onnx')).toThrow(ModelFormatError);
    expect(() => appendPooling(new Uint8Array([1, 2, 3, 4, 5]), 'mean', true, 'x/onnx/model.onnx')).toThrow(/x\/onnx\/model\.onnx/);
  });

  it('refuses a model with no [batch, seq, hidden] output', () => {
    const model = onnx.ModelProto.decode(readFileSync(onnxPath('fixture-tiny')));
    model.graph!.output = [onnx.ValueInfoProto.create({ name: 'pooled', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'b' }, { dimValue: 64 }] } } } })];
    const bytes = onnx.ModelProto.encode(model).finish();
    expect(() => appendPooling(bytes, 'mean', true, 'm')).toThrow(/no last_hidden_state output \(outputs: pooled\)/);
  });

  it('splices the graph: an independent decoder reads the original nodes, weights and inputs unchanged, plus the pooling', () => {
    const original = readFileSync(onnxPath('fixture-tiny'));
    const before = onnx.ModelProto.decode(original).graph as unknown as DecodedGraph;
    const after = onnx.ModelProto.decode(appendPooling(original, 'mean', true).bytes);
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
    expect(graph.output.map((o) => o.name)).toEqual(['sentence_embedding']);
    const dims = (o: (typeof graph.output)[number]) => o.type!.tensorType!.shape!.dim!.map((d) => (d.dimValue ? Number(d.dimValue) : d.dimParam));
    expect(dims(graph.output[0]!)).toEqual([dims(before.output[0]!)[0], hidden]);
  });

  it('refuses a truncated model, naming the source and the byte', () => {
    const bytes = readFileSync(onnxPath('fixture-tiny'));
    expect(() => appendPooling(bytes.subarray(0, bytes.length - 1000), 'mean', true, 'cut.onnx')).toThrow(/cut\.onnx is not a readable ONNX model: .*byte \d+/);
  });
});

