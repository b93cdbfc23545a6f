// Stored precisions: the codes are sentence-transformers' quantize_embeddings codes, the int8
// ranges are the first window's and stay recorded for resume, and search over every precision
// finds what an exact float search finds.
import { mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder, EmbeddingsFileError, readEmbeddings, searchEmbeddings, type NodeEmbedder, type Precision, type SearchOptions } from '../../src/node.js';
import type { SearchSeams } from '../../src/search/vector-search.js';
import { describeSchema } from '../../src/format/schema.js';
import { walkMessages } from '../../src/format/frames.js';
import { calibrate, calibrateRanges, CALIBRATION_ROWS, quantize } from '../../src/format/precision.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { runCli } from '../helpers/cli.js';

const TINY = resolve(import.meta.dirname, '../../models/fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-precision-'));
const gen = textGenerator(4242);
const records = Array.from({ length: 160 }, (_, i) => ({ id: `p-${i}`, text: gen.text(gen.between(2, 30)) }));
const WINDOW = 50;
let embedder: NodeEmbedder;
let floats: Float32Array;

async function stored(path: string): Promise<{ ids: string[]; values: number[][]; description: ReturnType<typeof describeSchema> }> {
  const ids: string[] = [];
  const values: number[][] = [];
  let description = null;
  for await (const batch of readEmbeddings(path)) {
    description = describeSchema(batch.schema);
    ids.push(...(batch.getChild('id')!.toArray() as string[]));
    const column = batch.getChild('embedding')!;
    for (let r = 0; r < batch.numRows; r++) values.push(Array.from(column.get(r) as ArrayLike<number>));
  }
  return { ids, values, description };
}

beforeAll(async () => {
  embedder = await createEmbedder({ model: TINY });
  await embedder.embedTo(records, join(dir, 'float32.arrow'), { windowSize: WINDOW });
  floats = Float32Array.from((await stored(join(dir, 'float32.arrow'))).values.flat());
});
afterAll(async () => {
  await embedder.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('quantize', () => {
  it('gives the codes numpy gives with quantize_embeddings arithmetic', () => {
    // Reference computed once with numpy 2.4 on float32 rows (the last two inside the ranges), ranges from the first 4:
    // uint8 = ((e - min) / step).astype(uint8), int8 = ((e - min) / step - 128).astype(int8), packbits(e > 0).
    /* eslint-disable @stylistic/max-len -- numpy's reference output, one row a line */
    const rows = [
      [0.001230153371579945,  0.2987455427646637,  -0.27413785457611084,  -0.8905918598175049,  -0.454670786857605,  -0.9916465282440186,  0.0601436011493206,  1.3402152061462402,  -0.49220651388168335,  -0.6204748749732971,  0.4898420572280884,  0.35688701272010803,  0.1054142490029335,  -0.9304680228233337,  -0.02925182320177555,  0.695303201675415],
      [-1.3442145586013794,  -0.45761576294898987,  -1.9012227058410645,  -1.289537787437439,  -1.8417350053787231,  -0.23509113490581512,  -1.267446517944336,  0.27126434445381165,  0.15675108134746552,  -0.18693093955516815,  -2.5167596340179443,  -0.5386928915977478,  -0.048500943928956985,  0.11330898851156235,  -1.5301357507705688,  -0.47775328159332275],
      [-0.978519082069397,  -0.8088372349739075,  1.0608986616134644,  -0.8075346946716309,  -0.03252170607447624,  0.8843898773193359,  -0.5836004614830017,  -0.11170195043087006,  0.11046414077281952,  0.06378177553415298,  -1.2250558137893677,  0.07614023238420486,  1.3588234186172485,  -1.5471446514129639,  0.859382688999176,  0.11935402452945709],
      [-0.6414703726768494,  2.0004165172576904,  0.7622597217559814,  -1.1992888450622559,  0.07451622933149338,  0.576689600944519,  -0.18878212571144104,  0.6829102635383606,  -0.06651732325553894,  0.6672475337982178,  1.4385225772857666,  -0.6756622791290283,  0.20313860476016998,  -0.46330758929252625,  0.12726841866970062,  -1.187194585800171],
      [-0.6714922189712524,  -0.07943511009216309,  -1.0876803398132324,  -1.0900647640228271,  -1.148202896118164,  -0.613368809223175,  -0.6036514639854431,  0.8057397603988647,  -0.16772770881652832,  -0.40370291471481323,  -1.0134587287902832,  -0.09090293943881989,  0.02845665253698826,  -0.4085795283317566,  -0.7796937823295593,  0.10877496004104614],
      [-0.7257325649261475,  1.2981029748916626,  0.8369194269180298,  -1.1013503074645996,  0.04775674268603325,  0.6536146402359009,  -0.287486732006073,  0.48425722122192383,  -0.022271957248449326,  0.5163810849189758,  0.7726280689239502,  -0.487711638212204,  0.4920598268508911,  -0.7342668771743774,  0.3102969825267792,  -0.8605574369430542],
    ];
    const uint8 = [[255,  100,  140,  211,  184,  0,  255,  255,  0,  0,  193,  255,  27,  94,  160,  255],  [0,  31,  0,  0,  0,  102,  0,  67,  255,  85,  0,  33,  0,  255,  0,  96],  [69,  0,  255,  255,  240,  255,  131,  0,  236,  135,  83,  185,  255,  0,  255,  176],  [133,  255,  229,  47,  255,  213,  207,  139,  167,  254,  255,  0,  45,  166,  176,  0],  [127,  66,  70,  105,  92,  51,  127,  161,  127,  42,  96,  144,  13,  174,  80,  175],  [117,  191,  235,  99,  251,  223,  188,  104,  184,  225,  212,  46,  97,  124,  196,  44]];
    const int8 = [[127,  -27,  12,  83,  56,  -128,  127,  127,  -128,  -128,  65,  127,  -100,  -33,  32,  127],  [-128,  -96,  -128,  -128,  -128,  -25,  -128,  -60,  127,  -42,  -128,  -94,  -128,  127,  -128,  -31],  [-58,  -128,  127,  127,  112,  127,  3,  -128,  108,  7,  -44,  57,  127,  -128,  127,  48],  [5,  127,  101,  -80,  127,  85,  79,  11,  39,  126,  127,  -128,  -82,  38,  48,  -128],  [0,  -61,  -57,  -22,  -35,  -76,  0,  33,  0,  -85,  -31,  16,  -114,  46,  -47,  47],  [-10,  63,  107,  -28,  123,  95,  60,  -23,  56,  97,  84,  -81,  -30,  -3,  68,  -83]];
    /* eslint-enable @stylistic/max-len */
    const vectors = Float32Array.from(rows.flat());
    const ranges = calibrate(vectors.subarray(0, 4 * 16), 16);
    expect(Array.from(quantize(vectors, 16, 'uint8', ranges))).toEqual(uint8.flat());
    expect(Array.from(quantize(vectors, 16, 'int8', ranges))).toEqual(int8.flat());
    expect(Array.from(quantize(vectors, 16, 'ubinary'))).toEqual([195,  57,  1,  132,  36,  219,  109,  106,  1,  9,  109,  106]);
    expect(Array.from(quantize(vectors, 16, 'binary'))).toEqual([67,  -71,  -127,  4,  -92,  91,  -19,  -22,  -127,  -119,  -19,  -22]);
    // Beyond the calibrated bounds the end codes are kept (numpy would wrap around).
    expect(Array.from(quantize(Float32Array.of(-9, 9), 1, 'int8', { min: [-1], max: [1] }))).toEqual([-128, 127]);
  });
});

describe('stored precision', () => {
  it('stores each precision as quantize_embeddings codes of the float vectors, with the precision and int8 ranges in the schema', async () => {
    const dim = embedder.info.dim;
    // Calibrated from the first CALIBRATION_ROWS rows (here all 160, over several windows), degenerate dimensions widened.
    const ranges = calibrateRanges(floats.subarray(0, Math.min(records.length, CALIBRATION_ROWS) * dim), dim).ranges;
    for (const precision of ['int8', 'uint8', 'binary', 'ubinary'] as Precision[]) {
      const path = join(dir, `${precision}.arrow`);
      await embedder.embedTo(records, path, { windowSize: WINDOW, precision });
      const file = await stored(path);
      expect(file.ids).toEqual(records.map((r) => r.id));
      expect(file.description).toMatchObject({ precision, dim });
      if (precision.endsWith('int8')) expect(file.description!.ranges).toEqual(ranges);
      expect(file.values.flat()).toEqual(Array.from(quantize(floats, dim, precision, ranges)));
      expect(readFileSync(path).length).toBeLessThan(readFileSync(join(dir, 'float32.arrow')).length);
    }
  });

  it('resumes an int8 file with the ranges it recorded, and refuses another precision', async () => {
    const whole = await stored(join(dir, 'int8.arrow'));
    const path = join(dir, 'int8-cut.arrow');
    await embedder.embedTo(records, path, { windowSize: WINDOW, precision: 'int8' });
    truncateSync(path, walkMessages(readFileSync(path)).frames[1]!.end); // the schema and the first window
    await expect(embedder.embedTo(records, path, { windowSize: WINDOW, resume: true, precision: 'binary' })).rejects.toThrow(EmbeddingsFileError);
    // The first window of this run holds other vectors: only the recorded ranges give the same codes.
    const result = await embedder.embedTo(records, path, { windowSize: WINDOW, resume: true });
    expect(result.skipped).toBe(WINDOW);
    expect(await stored(path)).toEqual(whole);
  });

  it('searches every precision: binary rescored against its float16 copy ranks as exact float16 search does', async () => {
    const query = floats.slice(7 * embedder.info.dim, 8 * embedder.info.dim);
    const half = join(dir, 'float16.arrow');
    const binary = join(dir, 'binary-kept.arrow');
    await embedder.embedTo(records, half, { windowSize: WINDOW, precision: 'float16' });
    await embedder.embedTo(records, binary, { windowSize: WINDOW, precision: 'binary', keepFloat16: true });
    const exact = await searchEmbeddings(half, query, 5);
    // Rescoring every row makes the Hamming stage moot: the float16 copy alone ranks.
    expect(await searchEmbeddings(binary, query, 5, { rescoreMultiplier: 100 })).toEqual(exact);
    const stats = { bytesRead: 0 };
    const counted: SearchOptions & SearchSeams = { stats }; // the byte count is an internal seam, not a public option
    const quick = await searchEmbeddings(binary, query, 5, counted);
    expect(quick[0]).toEqual(exact[0]);
    expect(stats.bytesRead).toBeLessThan(readFileSync(binary).length);
    for (const precision of ['int8', 'uint8', 'binary', 'ubinary', 'float32']) {
      const hits = await searchEmbeddings(join(dir, `${precision}.arrow`), query, 3);
      expect(hits[0]!.id).toBe('p-7');
      expect(hits[0]!.row).toHaveProperty('text_hash');
    }
  });

  it('the CLI stores --precision binary --keep-float16 and searches it', async () => {
    const input = join(dir, 'in.jsonl');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(input, records.map((r) => JSON.stringify(r)).join('\n'));
    const out = join(dir, 'cli-binary.arrow');
    expect((await runCli([input, '--out', out, '--model', TINY, '--precision', 'binary', '--keep-float16'])).code).toBe(0);
    const info = await runCli(['info', out]);
    expect(info.stdout).toMatch(/binary/);
    const search = await runCli(['search', out, records[3]!.text, '-k', '1', '--model', TINY]);
    expect(JSON.parse(search.stdout.trim()).id).toBe('p-3');
    const bad = await runCli([input, '--out', join(dir, 'x.arrow'), '--model', TINY, '--precision', 'int4']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/precision.*int4/);
  });
});
