// The shard of a job-array task, read from each scheduler's own variables (Kubernetes, Slurm, AWS
// Batch, Cloud Run): the pure function directly, then the CLI saying which variables it used and
// refusing, with exit 2, variables that disagree.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, SchedulerShardError } from '../../src/base/errors.js';
import { shardFromScheduler } from '../../src/source/scheduler.js';
import { runCli } from '../helpers/cli.js';

const shard = (env: Record<string, string>, count?: number) => {
  const { index, count: n } = shardFromScheduler(env, count);
  return `${index}/${n}`;
};
const refusal = (env: Record<string, string>, count?: number): string => {
  try {
    shardFromScheduler(env, count);
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerShardError);
    expect(error).toBeInstanceOf(InvalidOptionError); // so the CLI's usage exit (2) covers it
    return (error as Error).message;
  }
  throw new Error(`no refusal for ${JSON.stringify(env)} with count ${count}`);
};

describe('shardFromScheduler', () => {
  it('reads each scheduler, with the count from --shards N or from the scheduler', () => {
    expect(shard({ JOB_COMPLETION_INDEX: '3' }, 4)).toBe('3/4');
    expect(shard({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' })).toBe('2/4');
    expect(shard({ AWS_BATCH_JOB_ARRAY_INDEX: '7', AWS_BATCH_JOB_ARRAY_SIZE: '10' })).toBe('7/10');
    expect(shard({ AWS_BATCH_JOB_ARRAY_INDEX: '7' }, 10)).toBe('7/10');
    expect(shard({ CLOUD_RUN_TASK_INDEX: '0', CLOUD_RUN_TASK_COUNT: '5' })).toBe('0/5');
    expect(shard({ CLOUD_RUN_TASK_INDEX: '4', CLOUD_RUN_TASK_COUNT: '5' }, 5)).toBe('4/5');
  });

  it('says which variables it read and which schedulers set them', () => {
    expect(shardFromScheduler({ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '1', PATH: '/bin' })).toEqual({
      index: 1, count: 2, schedulers: ['Slurm'],
      variables: ['SLURM_ARRAY_TASK_ID=1', 'SLURM_ARRAY_TASK_COUNT=2', 'SLURM_ARRAY_TASK_MIN=0', 'SLURM_ARRAY_TASK_MAX=1'],
    });
  });

  it('takes a Slurm task position in its array, not its id: --array=1-4 and --array=0-12:4', () => {
    const oneBased = { SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4', SLURM_ARRAY_TASK_STEP: '1' };
    expect([1, 2, 3, 4].map((id) => shard({ ...oneBased, SLURM_ARRAY_TASK_ID: String(id) }))).toEqual(['0/4', '1/4', '2/4', '3/4']);
    const stepped = { SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '12', SLURM_ARRAY_TASK_STEP: '4' };
    expect([0, 4, 8, 12].map((id) => shard({ ...stepped, SLURM_ARRAY_TASK_ID: String(id) }))).toEqual(['0/4', '1/4', '2/4', '3/4']);
    // Only the id (an older Slurm, or variables copied by hand): 0-based, count from --shards.
    expect(shard({ SLURM_ARRAY_TASK_ID: '3' }, 4)).toBe('3/4');
  });

  it('accepts schedulers that agree (a Kubernetes index set from Slurm\'s, as older wrappers did)', () => {
    const both = shardFromScheduler({ JOB_COMPLETION_INDEX: '2', SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' });
    expect(both).toMatchObject({ index: 2, count: 4, schedulers: ['Kubernetes', 'Slurm'] });
  });

  it('refuses variables that disagree with each other or with --shards, naming them', () => {
    expect(refusal({ JOB_COMPLETION_INDEX: '1', AWS_BATCH_JOB_ARRAY_INDEX: '2', AWS_BATCH_JOB_ARRAY_SIZE: '4' }))
      .toBe('option shards: JOB_COMPLETION_INDEX=1 gives shard index 1 but AWS_BATCH_JOB_ARRAY_INDEX=2 AWS_BATCH_JOB_ARRAY_SIZE=4 gives 2: the variables disagree');
    expect(refusal({ CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '5' }, 4))
      .toBe('option shards: --shards 4 disagrees with CLOUD_RUN_TASK_INDEX=1 CLOUD_RUN_TASK_COUNT=5, which makes 5 tasks');
    expect(refusal({ CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '5', AWS_BATCH_JOB_ARRAY_INDEX: '1', AWS_BATCH_JOB_ARRAY_SIZE: '6' }))
      .toBe('option shards: AWS_BATCH_JOB_ARRAY_INDEX=1 AWS_BATCH_JOB_ARRAY_SIZE=6 makes 6 tasks but CLOUD_RUN_TASK_INDEX=1 CLOUD_RUN_TASK_COUNT=5 makes 5: the variables disagree');
  });

  it('refuses what cannot give one shard: nothing set, no count, out of range, not a number, a Slurm array with gaps', () => {
    expect(refusal({}, 4)).toBe('option shards: needs this task\'s array index from a scheduler, and none is set: JOB_COMPLETION_INDEX (Kubernetes), SLURM_ARRAY_TASK_ID (Slurm), AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch), CLOUD_RUN_TASK_INDEX (Cloud Run); or give the shard yourself with --shard I/N');
    expect(refusal({ JOB_COMPLETION_INDEX: '' }, 4)).toContain('none is set'); // an empty variable is an unset one
    expect(refusal({ JOB_COMPLETION_INDEX: '3' })).toBe('option shards: JOB_COMPLETION_INDEX=3 gives this task\'s index but not the task count (an Indexed Job does not set one): pass --shards N');
    expect(refusal({ JOB_COMPLETION_INDEX: '4' }, 4)).toBe('option shards: JOB_COMPLETION_INDEX=4 gives index 4, not below the shard count 4 (indexes run from 0)');
    expect(refusal({ AWS_BATCH_JOB_ARRAY_INDEX: 'two' }, 4)).toBe('option shards: AWS_BATCH_JOB_ARRAY_INDEX is "two", not a whole number');
    expect(refusal({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '7' }))
      .toBe('option shards: the Slurm array has gaps (3 tasks between 0 and 7): use a range such as --array=0-2, so each task\'s position is its shard');
    expect(refusal({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '12', SLURM_ARRAY_TASK_STEP: '4' }))
      .toBe('option shards: SLURM_ARRAY_TASK_ID 5 is not in the array from 0 in steps of 4');
    expect(refusal({ CLOUD_RUN_TASK_INDEX: '0', CLOUD_RUN_TASK_COUNT: '0' })).toBe('option shards: CLOUD_RUN_TASK_COUNT is 0: a task count must be at least 1');
  });
});

describe('the CLI with --shards', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-scheduler-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const TINY = join(resolve(import.meta.dirname, '../..'), 'models', 'fixture-tiny');
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `r${i}`, text: `record number ${i}` })).join('\n') + '\n');

  it('--shards auto takes index and count from Slurm and says so', async () => {
    const out = join(dir, 'auto');
    const slurm = { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '3' };
    const run = await runCli([input, '--out', out, '--model', TINY, '--shards', 'auto'], { env: slurm });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('embed: shard 1/3 from SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 (Slurm)');
    const result = JSON.parse(run.stdout) as { shard: string; shardFrom: string[]; out: string };
    expect(result.shard).toBe('1/3');
    expect(result.shardFrom[0]).toBe('SLURM_ARRAY_TASK_ID=2');
    expect(result.out).toBe(join(out, 'part-00001-of-00003.arrow'));
  });

  it('variables that disagree are a usage error (exit 2), found before anything is created', async () => {
    const out = join(dir, 'disagree');
    const run = await runCli([input, '--out', out, '--model', TINY, '--shards', '4'], { env: { CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '5' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('embed: option shards: --shards 4 disagrees with CLOUD_RUN_TASK_INDEX=1 CLOUD_RUN_TASK_COUNT=5, which makes 5 tasks');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });
});
