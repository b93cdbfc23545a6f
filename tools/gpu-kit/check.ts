// `npm run gpu:kit:check`: builds the GPU kit and runs it as the GPU machine would, here: from a
// copy in a fresh folder, with a PATH that holds no `node` (only the shell tools run.sh uses), on
// Mesa's lavapipe instead of the NVIDIA driver, on a small corpus. Prints the report's rows.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildKit } from './build.js';

/** The Vulkan driver the check runs on (Mesa 25's lavapipe: bash tools/ensure-lavapipe.sh). */
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
/** The commands run.sh needs from the machine: nothing else is on the check's PATH. */
const KIT_COMMANDS = ['bash', 'sh', 'xz', 'python3', 'cp', 'rm', 'mkdir', 'mv', 'cat', 'tee', 'grep', 'sed', 'tr', 'uname', 'chmod', 'dirname', 'nproc', 'head', 'tail', 'ls'];

/** A folder of links to the kit's commands, `node` not among them. */
function pathWithoutNode(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const command of KIT_COMMANDS) {
    const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(execFileSync('readlink', ['-f', found], { encoding: 'utf8' }).trim(), join(dir, command));
  }
  return dir;
}

/**
 * Runs a built kit from a copy on `icd` with a small corpus; returns report.json and the output.
 * `env` adds to or overrides the run's environment (a test's smaller corpus, say).
 */
export function runKitSmall(
  kitDir: string, icd = LAVAPIPE_ICD, env: Record<string, string> = {},
): { report: Record<string, any>; pipeline: Record<string, any>; families: Record<string, any>; output: string; status: number | null } {
  const scratch = mkdtempSync(join(tmpdir(), 'gpu-kit-check-'));
  try {
    const kit = join(scratch, 'kit');
    cpSync(kitDir, kit, { recursive: true });
    const out = join(scratch, 'results');
    const run = spawnSync('bash', [join(kit, 'run.sh'), '--small', '--icd', icd, '--out', out, '--seconds', '300'], {
      cwd: scratch,
      encoding: 'utf8',
      env: { HOME: scratch, PATH: pathWithoutNode(join(scratch, 'bin')), GPU_KIT_WORK: join(scratch, 'work'), GPU_BENCH_TEXTS: '40', GPU_BENCH_WARMUP: '8', GPU_BENCH_VARIANTS: 'default', GPU_BENCH_CORPUS_NAMES: 'mixed', BENCH_THREADS: '0,2', ...env },
      timeout: 600_000,
    });
    const read = (name: string) => (existsSync(join(out, name)) ? JSON.parse(readFileSync(join(out, name), 'utf8')) : {});
    return { report: read('report.json'), pipeline: read('pipeline.json'), families: read('families.json'), output: `${run.stdout}\n${run.stderr}`, status: run.status };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  if (!existsSync(LAVAPIPE_ICD)) {
    console.error(`${LAVAPIPE_ICD} is missing: bash tools/ensure-lavapipe.sh (Debian 12, root) installs it`);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'gpu-kit-'));
  const bytes = await buildKit(join(dir, 'gpu-kit'));
  console.log(`kit built: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  const { report, output, status } = runKitSmall(join(dir, 'gpu-kit'));
  rmSync(dir, { recursive: true, force: true });
  const rows = (report.compared ?? []) as { model: string; dtype: string; corpus: string; tokensPerSec: number }[];
  for (const r of rows) console.log(`${r.model} ${r.dtype} ${r.corpus}: ${r.tokensPerSec.toFixed(0)} tokens/s`);
  if (status !== 0 || rows.length === 0) {
    console.error(output);
    process.exit(1);
  }
}
