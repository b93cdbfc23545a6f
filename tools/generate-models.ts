// `npm run models`: writes the generated fixture models into models/, deterministically.
// With --if-missing it only (re)generates folders that are absent or from an older generator.
// Names given (`npm run models -- fixture-bert-base`) write just those, on-demand presets included.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ON_DEMAND_PRESETS, OVERFLOW_PRESETS, PRESETS, SETTINGS_PRESETS } from './fixtures/presets.js';
import { FAMILY_PRESETS } from './fixtures/families.js';
import { isCurrent, writeFamilyPreset, writePreset } from './fixtures/write-preset.js';

export { isCurrent, writeFamilyPreset, writePreset } from './fixtures/write-preset.js';

/** Where generated models live, relative to the repository root. */
export const MODELS_DIR = resolve(import.meta.dirname, '..', 'models');

function main(): void {
  const ifMissing = process.argv.includes('--if-missing');
  const named = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const all = [...PRESETS, ...OVERFLOW_PRESETS, ...SETTINGS_PRESETS, ...FAMILY_PRESETS, ...ON_DEMAND_PRESETS];
  const unknown = named.filter((n) => !all.some((p) => p.name === n));
  if (unknown.length) throw new Error(`unknown preset ${unknown.join(', ')}; presets: ${all.map((p) => p.name).join(', ')}`);
  const chosen = named.length ? all.filter((p) => named.includes(p.name)) : all.filter((p) => !ON_DEMAND_PRESETS.includes(p as never));
  mkdirSync(MODELS_DIR, { recursive: true });
  for (const preset of chosen) {
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
