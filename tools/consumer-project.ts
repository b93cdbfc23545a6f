// Fresh consumer projects for the package tests: pack the library as `npm pack` would publish
// it, install the tarball into an empty folder the way a user would, and take the code a user
// would write from README.md itself (its snippets are marked <!-- snippet:NAME -->), so the
// README cannot drift from what works.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

const devVersion = (name: string): string => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;

/** The exact versions this repository develops with, so consumer installs come from npm's cache. */
export const versionOf = (name: string): string => `${name}@${devVersion(name)}`;

/** Runs `npm pack` on the built package; returns the tarball's path. */
export function packTarball(): string {
  const out = mkdtempSync(join(tmpdir(), 'bulk-embed-pack-'));
  const stdout = execFileSync('npm', ['pack', '--pack-destination', out, '--json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  return join(out, packed!.filename);
}

/** The body of the README snippet marked `<!-- snippet:NAME -->` (the code block right after it). */
export function readmeSnippet(name: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- snippet:${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match) throw new Error(`README.md has no snippet marked <!-- snippet:${name} -->`);
  return match[1]!;
}

/** Creates an empty project folder with a package.json and installs `packages` into it, as a user would. */
export function freshProject(prefix: string, packages: string[], packageJson: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `bulk-embed-${prefix}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${prefix}`, private: true, version: '1.0.0', ...packageJson }, null, 2));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', ...packages], {
    cwd: dir,
    // onnxruntime-node's install script would try to download CUDA binaries (README, Install).
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return dir;
}

/** Writes files (relative path -> content) into a project. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
}

/** Copies a generated model (models/NAME) into a project folder. */
export function copyModel(name: string, to: string): void {
  cpSync(join(ROOT, 'models', name), to, { recursive: true });
}

/** Bytes on disk under a folder (what `du` counts, without following links). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Files under a folder, relative to it. */
export function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name), base) : [join(dir, e.name).slice(base.length + 1)],
  );
}

/** Removes a consumer project. */
export const removeProject = (dir: string): void => rmSync(dir, { recursive: true, force: true });
