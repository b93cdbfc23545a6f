// Runs the `embed` CLI from source in a child process, as a user's shell would.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

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
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
