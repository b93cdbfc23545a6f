// `npm run models`: writes the generated fixture models into models/, deterministically.
// With --if-missing it only (re)generates folders that are absent or from an older generator.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildBertOnnx } from './fixtures/onnx-bert.js';
import { toExternalData } from './fixtures/external-data.js';
import { DTYPE_FILES } from '../src/model/files.js';
import { configJson, sentenceTransformersFiles, tokenizerConfigJson, tokenizerJson, UNTRAINED_NOTICE } from './fixtures/hub-files.js';
import { LEXICON_SEED, LEXICON_SIZE, makeLexicon, syllables } from './fixtures/lexicon.js';
import { GENERATOR_VERSION, OVERFLOW_PRESETS, PRESETS, SETTINGS_PRESETS, type FixturePreset } from './fixtures/presets.js';
import { buildVocabulary } from './fixtures/vocabulary.js';
import { applyFp16Overflow, generateWeights, parameterCount } from './fixtures/weights.js';
import { FAMILY_PRESETS, generateFamilyWeights, type FamilyPreset } from './fixtures/families.js';
import { familyFiles } from './fixtures/family-hub-files.js';
import { buildFamilyOnnx } from './fixtures/onnx-families.js';

/** Where generated models live, relative to the repository root. */
export const MODELS_DIR = resolve(import.meta.dirname, '..', 'models');
const STAMP = '.generated';

/** Writes one preset into `dir` and returns the sha256 of every file written. */
export function writePreset(preset: FixturePreset, dir: string): Record<string, string> {
  const lexicon = makeLexicon(LEXICON_SIZE, LEXICON_SEED);
  const vocab = buildVocabulary(preset.dims.vocabSize, lexicon, syllables(LEXICON_SEED));
  const weights = generateWeights(preset);
  const description = `${preset.name}: ${UNTRAINED_NOTICE}`;
  const extra: Record<string, string> = {};
  if (preset.fp16Overflow) {
    // The trigger is a whole word of the vocabulary, so a test can put it in a text.
    const triggerId = vocab.findIndex((token, id) => id >= 1000 && /^[a-z]{5,}$/.test(token));
    applyFp16Overflow(weights, preset.fp16Overflow, triggerId);
    extra['fixture.json'] = JSON.stringify({ fp16Overflow: preset.fp16Overflow, ...(preset.fp16Overflow.at === 'word' ? { triggerWord: vocab[triggerId] } : {}) }, null, 2) + '\n';
  }
  const files: Record<string, Uint8Array | string> = {
    'config.json': JSON.stringify(configJson(preset), null, 2) + '\n',
    'tokenizer.json': JSON.stringify(tokenizerJson(vocab)) + '\n',
    'tokenizer_config.json': JSON.stringify(tokenizerConfigJson(preset), null, 2) + '\n',
    ...Object.fromEntries((preset.precisions ?? ['fp32', 'fp16']).map((p) => [DTYPE_FILES[p], buildBertOnnx(weights, p, description)])),
    'README.md': `# ${preset.name}\n\n${UNTRAINED_NOTICE}\n\n${parameterCount(weights).toLocaleString('en')} parameters.\n`,
    ...extra,
    ...sentenceTransformersFiles(preset),
  };
  if (preset.externalDataParts) {
    const { model, files: data } = toExternalData(files['onnx/model.onnx'] as Uint8Array, 'model.onnx_data', preset.externalDataParts);
    files['onnx/model.onnx'] = model;
    for (const [name, bytes] of Object.entries(data)) files[`onnx/${name}`] = bytes;
  }
  return writeFolder(dir, files);
}

/** Writes a family preset (XLM-R, ModernBERT, Gemma encoder, decoder) into `dir`; returns the sha256 of every file. */
export function writeFamilyPreset(preset: FamilyPreset, dir: string): Record<string, string> {
  const lexicon = makeLexicon(LEXICON_SIZE, LEXICON_SEED);
  const weights = generateFamilyWeights(preset);
  const description = `${preset.name}: ${UNTRAINED_NOTICE}`;
  return writeFolder(dir, {
    ...familyFiles(preset, lexicon, syllables(LEXICON_SEED)),
    'onnx/model.onnx': buildFamilyOnnx(preset, weights, 'fp32', description),
    'onnx/model_fp16.onnx': buildFamilyOnnx(preset, weights, 'fp16', description),
  });
}

/** Writes files into a temporary folder, then swaps it in for `dir`, so a folder is whole or absent. */
function writeFolder(dir: string, files: Record<string, Uint8Array | string>): Record<string, string> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const hashes: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(tmp, name)), { recursive: true });
    writeFileSync(join(tmp, name), content);
    hashes[name] = createHash('sha256').update(content).digest('hex');
  }
  writeFileSync(join(tmp, STAMP), JSON.stringify({ generatorVersion: GENERATOR_VERSION }) + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return hashes;
}

/** True when `dir` holds a complete folder from the current generator. */
export function isCurrent(dir: string): boolean {
  const stamp = join(dir, STAMP);
  if (!existsSync(stamp)) return false;
  try {
    return JSON.parse(readFileSync(stamp, 'utf8')).generatorVersion === GENERATOR_VERSION;
  } catch {
    return false;
  }
}

function main(): void {
  const ifMissing = process.argv.includes('--if-missing');
  mkdirSync(MODELS_DIR, { recursive: true });
  for (const preset of [...PRESETS, ...OVERFLOW_PRESETS, ...SETTINGS_PRESETS, ...FAMILY_PRESETS]) {
    const dir = join(MODELS_DIR, preset.name);
    if (ifMissing && isCurrent(dir)) continue;
    const started = performance.now();
    const hashes = 'family' in preset ? writeFamilyPreset(preset, dir) : writePreset(preset, dir);
    const ms = Math.round(performance.now() - started);
    console.log(`${preset.name}: written in ${ms} ms`);
    for (const [name, hash] of Object.entries(hashes)) console.log(`  ${hash}  ${name}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) main();
