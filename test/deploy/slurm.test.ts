// deploy/slurm/ on a real one-node Slurm cluster (tools/slurm-cluster.sh): submit.sh runs a job
// array of 4 tasks over 20,000 records plus a dependent export; task 1 is killed mid-run with
// `scancel --signal=KILL` and rerun with requeue.sh (`scontrol requeue`). The four parts must hold
// every id once with a single run's vectors, and the exported Parquet (read by hyparquet) the same.
// Needs root and Debian's slurm-wlm and munge (tools/ensure-slurm.sh); elsewhere it says why and
// skips, except under CI=true, where Slurm is installed and the test must run.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardFileName, shardOf } from '../../src/source/shard.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { CLI_ARGS, runCli } from '../helpers/cli.js';
import { rowsOf, unionOfParts, worstDifference } from '../helpers/rows.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const COUNT = 20_000;
const TASKS = 4;
const KILL_AT = 1_000; // task 1's progress (records of its ~5,000) when it is killed

/** Why the cluster cannot run here, or null when it can. */
function whyNot(): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'it needs root on Linux to start munged, slurmctld and slurmd';
  for (const bin of ['munged', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'scancel', 'squeue']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      return `${bin} is missing (bash tools/ensure-slurm.sh installs slurm-wlm and munge)`;
    }
  }
  const conf = '/etc/slurm/slurm.conf';
  if (existsSync(conf) && !readFileSync(conf, 'utf8').includes('written by bulk-embed')) return `${conf} belongs to a real Slurm setup, which the test leaves alone`;
  return null;
}
const skipReason = whyNot();

it('Slurm is available where the test must run (CI)', () => {
  if (skipReason) console.warn(`the Slurm test is skipped: ${skipReason}`);
  expect(skipReason === null || process.env.CI !== 'true', skipReason ?? '').toBe(true);
});

/** One line of `scontrol show job -o`, as a map of its fields. */
function jobFields(id: string): Map<string, string> {
  const line = execFileSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' }).split('\n')[0]!;
  return new Map(line.split(' ').filter((f) => f.includes('=')).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
}

/** Polls `probe` every 200 ms until it returns a value, or fails after `seconds` saying what it waited for. */
async function waitFor<T>(what: string, seconds: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`waited ${seconds} s for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a command (a deploy script) to its end; its stdout, or an error with its stderr. */
function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('exit', (code) => (code === 0 ? done(stdout) : fail(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** The JSON lines of a task's log (progress on stderr, the result on stdout: both go to the log). */
const jsonLines = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) : []);

describe.skipIf(skipReason !== null)('a Slurm job array over 20,000 records, one task killed and requeued', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-slurm-'));
  const input = join(dir, 'records.jsonl');
  const out = join(dir, 'parts');
  const parquet = join(dir, 'all.parquet');
  // The tasks run the CLI as test/helpers/cli.ts does; EMBED is how embed.sbatch is told.
  const EMBED = [process.execPath, ...CLI_ARGS].join(' ');
  let single = new Map<string, Float32Array>();
  let singleSeconds = 0;
  const jobs: string[] = []; // cancelled at the end, so a failed run leaves no task holding the node's cores

  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'tools', 'slurm-cluster.sh'), 'start'], { stdio: 'inherit' });
    const gen = textGenerator(2828);
    writeFileSync(input, Array.from({ length: COUNT }, (_, i) => JSON.stringify({ id: `doc-${i}`, text: gen.text(gen.logNormalCount(14, 0.8, 1, 60)) })).join('\n') + '\n');
    // The reference: one process over all the records, as a user without a cluster would run it.
    const started = performance.now();
    const reference = await runCli([input, '--out', join(dir, 'single.arrow'), '--model', TINY, '--window', '256']);
    singleSeconds = (performance.now() - started) / 1000;
    expect(reference.code, reference.stderr.slice(-400)).toBe(0);
    single = (await rowsOf(join(dir, 'single.arrow'))).rows;
  }, 180_000); // the reference run takes 25-45 s here, more while the rest of the suite shares the 2 cores
  afterAll(() => {
    if (jobs.length) execFileSync('scancel', jobs);
    execFileSync('bash', [join(ROOT, 'tools', 'slurm-cluster.sh'), 'stop']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('every id once, with a single run\'s vectors, in the parts and in the exported Parquet', { timeout: 300_000 }, async () => {
    const started = performance.now();
    const submitted = JSON.parse(await run('bash', [join(ROOT, 'deploy', 'slurm', 'submit.sh'), String(TASKS), input, out, parquet, '--model', TINY, '--window', '256'], { cwd: dir, env: { EMBED } })) as { array: string; export: string };
    const { array, export: exportJob } = submitted;
    jobs.push(array, exportJob);
    const log = (task: number) => join(dir, `bulk-embed-${array}_${task}.log`);

    // Task 1 is killed mid-run, once it has committed some windows of its share.
    const reached = await waitFor(`task 1 to embed ${KILL_AT} records`, 90, () => {
      const done = jsonLines(log(1)).map((l) => l.done as number).filter(Number.isFinite).at(-1);
      return done !== undefined && done >= KILL_AT ? done : undefined;
    });
    execFileSync('scancel', ['--signal=KILL', `${array}_1`]);
    await waitFor('task 1 to end', 30, () => (['CANCELLED', 'FAILED'].includes(jobFields(`${array}_1`).get('JobState')!) ? true : undefined));
    // The export waits: its dependency on task 1 can no longer be met until the task is rerun.
    expect(jobFields(exportJob).get('JobState')).toBe('PENDING');
    await run('bash', [join(ROOT, 'deploy', 'slurm', 'requeue.sh'), array, '1'], { cwd: dir });

    const exported = await waitFor('the export job to end', 200, () => {
      const state = jobFields(exportJob).get('JobState')!;
      return ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(state) ? state : undefined;
    });
    const seconds = (performance.now() - started) / 1000;
    const exportLog = join(dir, `bulk-embed-export-${exportJob}.log`);
    expect(exported, existsSync(exportLog) ? readFileSync(exportLog, 'utf8').slice(-600) : 'no export log').toBe('COMPLETED');
    for (let task = 0; task < TASKS; task++) {
      const fields = jobFields(`${array}_${task}`);
      expect(fields.get('JobState'), readFileSync(log(task), 'utf8').slice(-400)).toBe('COMPLETED');
      expect(fields.get('Restarts')).toBe(task === 1 ? '1' : '0');
    }

    // Task 1's log holds both runs (--open-mode=append): the rerun kept what the killed run committed.
    const results = jsonLines(log(1)).filter((l) => 'written' in l) as { shard: string; shardFrom: string[]; written: number; skipped: number }[];
    expect(results).toHaveLength(1); // the killed run never finished
    expect(results[0]!.shard).toBe('1/4');
    expect(results[0]!.shardFrom).toContain('SLURM_ARRAY_TASK_ID=1');
    // It went on for a moment between the progress line seen and the kill, so it may have committed more than `reached`.
    const share = Array.from({ length: COUNT }, (_, i) => shardOf(`doc-${i}`, TASKS)).filter((s) => s === 1).length;
    expect(results[0]!.skipped).toBeGreaterThan(0);
    expect(results[0]!.written).toBeGreaterThan(0);
    expect(results[0]!.skipped + results[0]!.written).toBe(share);
    expect(readFileSync(log(1), 'utf8')).toContain('embed: shard 1/4 from SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=4');

    // The union of the parts: every id once, in the part its hash names, with the single run's vectors.
    expect(readdirSync(out).filter((f) => f.endsWith('.arrow')).sort()).toEqual([0, 1, 2, 3].map((index) => shardFileName({ index, count: TASKS })));
    const { union, misplaced, repeated } = await unionOfParts(out, TASKS);
    expect(repeated).toBe(0);
    expect(misplaced).toEqual([]);
    expect(union.size).toBe(COUNT);
    expect(worstDifference(union, single)).toBeLessThanOrEqual(1e-5); // other batch compositions, the same vectors

    // The export, read by a Parquet reader that shares no code with the writer.
    const bytes = readFileSync(parquet);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const rows = (await parquetReadObjects({ file })) as { id: string; embedding: number[] }[];
    expect(rows).toHaveLength(COUNT);
    expect(new Set(rows.map((r) => r.id)).size).toBe(COUNT);
    for (const row of rows) expect(Float32Array.from(row.embedding)).toEqual(union.get(row.id)); // float32 in, the same float32 out

    console.log(`slurm: one process ${singleSeconds.toFixed(1)} s; the 4-task array with task 1 killed at ${reached} records and requeued, through the export, ${seconds.toFixed(1)} s`);
  });
});
