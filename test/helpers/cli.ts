// Runs the `embed` CLI in a child process, as a user's shell would.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** The newest modification time of any file under `dir`. */
function newestUnder(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * Node's arguments that run the CLI: the built dist/cli.js (what the package ships) when the build
 * is newer than every source file, as `npm test` leaves it; the source through tsx otherwise, so a
 * test run after an edit never tests a stale build. Each start through tsx costs about a second
 * more, and the suites start the CLI a few hundred times.
 */
export const CLI_ARGS: readonly string[] = (() => {
  const built = join(ROOT, 'dist', 'cli.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newestUnder(join(ROOT, 'src'))) return [built];
  return ['--import', join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(ROOT, 'src', 'cli.ts')];
})();

/** What a CLI run ended with. */
export interface CliRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs `embed ...args`; with `killAt`, SIGKILLs it once its JSON progress passes that many records. */
export function runCli(args: string[], options: { env?: Record<string, string>; killAt?: number } = {}): Promise<CliRun> {
  const { env = {}, killAt } = options;
  return new Promise((done) => {
    const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (killAt === undefined || child.killed) return;
      for (const line of chunk.split('\n')) {
        if (line.startsWith('{') && (JSON.parse(line) as { done: number }).done >= killAt) {
          child.kill('SIGKILL');
          return;
        }
      }
    });
    child.on('exit', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}
