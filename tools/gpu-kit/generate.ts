// The GPU kit's model generator: `node generate.mjs DIR [PRESET...]` writes the named presets
// (default fixture-minilm and fixture-bert-base) into DIR, skipping folders already current.
// The kit carries this generator rather than 650 MB of weights.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FIXTURE_BERT_BASE, FIXTURE_MINILM, ON_DEMAND_PRESETS, OVERFLOW_PRESETS, PRESETS, SETTINGS_PRESETS } from '../fixtures/presets.js';
import { FAMILY_PRESETS } from '../fixtures/families.js';
import { isCurrent, writeFamilyPreset, writePreset } from '../fixtures/write-preset.js';

const [dirArg, ...names] = process.argv.slice(2);
if (!dirArg) {
  console.error('usage: node generate.mjs DIR [PRESET...]');
  process.exit(2);
}
const dir = resolve(dirArg);
const known = [...PRESETS, ...OVERFLOW_PRESETS, ...SETTINGS_PRESETS, ...ON_DEMAND_PRESETS, ...FAMILY_PRESETS];
const wanted = names.length ? names : [FIXTURE_MINILM.name, FIXTURE_BERT_BASE.name];
mkdirSync(dir, { recursive: true });
for (const name of wanted) {
  const preset = known.find((p) => p.name === name);
  if (!preset) {
    console.error(`unknown preset ${name}; the kit knows ${known.map((p) => p.name).join(', ')}`);
    process.exit(2);
  }
  const target = join(dir, name);
  if (isCurrent(target)) continue;
  const started = performance.now();
  if ('family' in preset) writeFamilyPreset(preset, target);
  else writePreset(preset, target);
  console.error(`${name}: generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
