// The house rule: src/ folders follow the data, and a folder imports only folders below it, so no
// import runs back up (leaves at the bottom, orchestration and runtimes at the top). Node built-ins
// stay in node/ and the Node-only entries, so the universal code runs in a browser unchanged.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Bottom to top; folders on one line are siblings that must not import each other. */
export const ORDER: readonly (readonly string[])[] = [
  ['util'], ['base'], ['source'], ['model'], ['tokenize'], ['batch'], ['pool'], ['run'], ['engine'],
  ['format'], ['store'], ['search'], ['stream'], ['node', 'browser'], ['.'],
];
const NODE_ONLY = new Set(['node', './node.ts', './cli.ts', './vite-plugin.ts']);
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every import-order and built-in violation in the tree under `srcDir`, one line each. */
export function houseViolations(srcDir: string): string[] {
  const levelOf = new Map(ORDER.flatMap((folders, level) => folders.map((f) => [f, level] as const)));
  const folderOf = (file: string) => relative(srcDir, dirname(file)).split(/[\\/]/)[0] || '.';
  const problems: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const from = folderOf(file);
    const name = relative(srcDir, file);
    if (!levelOf.has(from)) problems.push(`${name}: folder ${from} has no place in the order`);
    const text = readFileSync(file, 'utf8');
    for (const [, spec] of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"\n]+)['"]/g)) {
      if (BUILTINS.has(spec!) && !NODE_ONLY.has(from) && !NODE_ONLY.has(`./${name}`)) problems.push(`${name}: imports the Node built-in ${spec} outside node/ and the Node entries`);
      if (!spec!.startsWith('.')) continue;
      const to = folderOf(resolve(dirname(file), spec!));
      if (to === from) continue;
      const [a, b] = [levelOf.get(from) ?? -1, levelOf.get(to) ?? Infinity];
      if (b >= a) problems.push(`${name}: ${from}/ imports ${spec} in ${to}/, which is ${b === a ? 'beside' : 'above'} it`);
    }
  }
  return problems;
}

describe('the house', () => {
  it('has no import running back up the data flow and no Node built-in outside node/', () => {
    expect(houseViolations(resolve(import.meta.dirname, '../../src'))).toEqual([]);
  });
});
