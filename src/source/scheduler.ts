// The shard of a task in a scheduler's job array, read from the variables the scheduler sets, so
// `embed --shards auto` (or `--shards N`) needs no wrapper script on Kubernetes, Slurm, AWS Batch
// or Cloud Run. Pure: it reads only the environment object it is given.
import { SchedulerShardError } from '../base/errors.js';
import type { Shard } from './shard.js';

/** A shard read from a scheduler, with the variables it came from (for the run to report). */
export interface SchedulerShard extends Shard {
  /** The schedulers whose variables gave it: 'Kubernetes', 'Slurm', 'AWS Batch', 'Cloud Run'. */
  schedulers: string[];
  /** The variables read, as NAME=value, e.g. ['SLURM_ARRAY_TASK_ID=2', 'SLURM_ARRAY_TASK_COUNT=4']. */
  variables: string[];
}

type Env = Record<string, string | undefined>;

/** What one scheduler's variables say: the index, the count where it sets one, and the variables read. */
interface Reading {
  scheduler: string;
  index: number;
  count: number | undefined;
  variables: string[];
}

/** The index variable of each scheduler, in the order they are named in messages. */
const SCHEDULER_INDEX_VARIABLES = {
  Kubernetes: 'JOB_COMPLETION_INDEX',
  Slurm: 'SLURM_ARRAY_TASK_ID',
  'AWS Batch': 'AWS_BATCH_JOB_ARRAY_INDEX',
  'Cloud Run': 'CLOUD_RUN_TASK_INDEX',
} as const;

/**
 * This task's shard from its scheduler's array variables. `count` is `--shards N`, or undefined
 * for `--shards auto`, where the scheduler must say the count (Slurm, AWS Batch, Cloud Run do;
 * a Kubernetes Indexed Job does not). Every scheduler whose variables are set must agree with the
 * others and with `count`; otherwise a SchedulerShardError names the variables that disagree.
 */
export function shardFromScheduler(env: Env, count?: number): SchedulerShard {
  const readings = [kubernetes(env), slurm(env), awsBatch(env), cloudRun(env)].filter((r): r is Reading => r !== null);
  const all = readings.flatMap((r) => r.variables);
  if (!readings.length) {
    const names = Object.entries(SCHEDULER_INDEX_VARIABLES).map(([s, v]) => `${v} (${s})`).join(', ');
    throw new SchedulerShardError(`needs this task's array index from a scheduler, and none is set: ${names}; or give the shard yourself with --shard I/N`);
  }
  const [first, ...others] = readings as [Reading, ...Reading[]];
  for (const other of others) {
    if (other.index !== first.index) throw new SchedulerShardError(`${describe(first)} gives shard index ${first.index} but ${describe(other)} gives ${other.index}: the variables disagree`, all);
  }
  // The count: from --shards N, else from the schedulers that set one; every count known must be the same.
  const counted = readings.filter((r) => r.count !== undefined);
  for (const r of counted) {
    if (count !== undefined && r.count !== count) throw new SchedulerShardError(`--shards ${count} disagrees with ${describe(r)}, which makes ${r.count} tasks`, all);
    if (r.count !== counted[0]!.count) throw new SchedulerShardError(`${describe(counted[0]!)} makes ${counted[0]!.count} tasks but ${describe(r)} makes ${r.count}: the variables disagree`, all);
  }
  const total = count ?? counted[0]?.count;
  if (total === undefined) {
    throw new SchedulerShardError(`${describe(first)} gives this task's index but not the task count (${first.scheduler === 'Kubernetes' ? 'an Indexed Job does not set one' : 'no count variable is set'}): pass --shards N`, all);
  }
  if (first.index >= total) throw new SchedulerShardError(`${describe(first)} gives index ${first.index}, not below the shard count ${total} (indexes run from 0)`, all);
  return { index: first.index, count: total, schedulers: readings.map((r) => r.scheduler), variables: all };
}

function describe(r: Reading): string {
  return r.variables.join(' ');
}

/** A variable's value as a whole number, undefined when unset or empty, or an error naming it. */
function whole(env: Env, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new SchedulerShardError(`${name} is "${env[name]}", not a whole number`, [`${name}=${env[name]}`]);
  return Number(raw);
}

/** The variables that were set, as NAME=value. */
function seen(env: Env, names: string[]): string[] {
  return names.filter((n) => whole(env, n) !== undefined).map((n) => `${n}=${env[n]!.trim()}`);
}

/** A plain index-and-count pair of variables (the count variable may be absent). */
function pair(env: Env, scheduler: string, indexName: string, countName: string | null): Reading | null {
  const index = whole(env, indexName);
  if (index === undefined) return null;
  const count = countName ? whole(env, countName) : undefined;
  if (count !== undefined && count < 1) throw new SchedulerShardError(`${countName} is ${count}: a task count must be at least 1`, seen(env, [indexName, countName!]));
  return { scheduler, index, count, variables: seen(env, countName ? [indexName, countName] : [indexName]) };
}

// A Kubernetes Indexed Job's pod: the index only (the Job's `completions` is not in the pod's environment).
const kubernetes = (env: Env) => pair(env, 'Kubernetes', 'JOB_COMPLETION_INDEX', null);
// AWS Batch sets the parent array's size in every child.
const awsBatch = (env: Env) => pair(env, 'AWS Batch', 'AWS_BATCH_JOB_ARRAY_INDEX', 'AWS_BATCH_JOB_ARRAY_SIZE');
// A Cloud Run job's task: index from 0 and the job's task count.
const cloudRun = (env: Env) => pair(env, 'Cloud Run', 'CLOUD_RUN_TASK_INDEX', 'CLOUD_RUN_TASK_COUNT');

/**
 * A Slurm array task. Task ids are what `--array` says (1-8, 0-15:4), so the shard index is the
 * task's position in the array, (ID - MIN) / STEP, and the count comes from SLURM_ARRAY_TASK_COUNT
 * or from MIN, MAX and STEP. An array with gaps (--array=0,3,7) has no position to read from the
 * variables, so it is refused rather than guessed.
 */
function slurm(env: Env): Reading | null {
  const id = whole(env, 'SLURM_ARRAY_TASK_ID');
  if (id === undefined) return null;
  const names = ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'SLURM_ARRAY_TASK_MAX', 'SLURM_ARRAY_TASK_STEP'];
  const variables = seen(env, names);
  const [taskCount, min, max, step] = names.slice(1).map((n) => whole(env, n));
  const first = min ?? 0;
  const stride = step ?? 1;
  if (stride < 1) throw new SchedulerShardError(`SLURM_ARRAY_TASK_STEP is ${stride}: an array step is at least 1`, variables);
  const span = max === undefined ? undefined : (max - first) / stride + 1;
  if (span !== undefined && (!Number.isInteger(span) || span < 1)) {
    throw new SchedulerShardError(`the Slurm array from ${first} to ${max} in steps of ${stride} is not a whole number of tasks`, variables);
  }
  if (span !== undefined && taskCount !== undefined && span !== taskCount) {
    throw new SchedulerShardError(`the Slurm array has gaps (${taskCount} tasks between ${first} and ${max}): use a range such as --array=0-${taskCount - 1}, so each task's position is its shard`, variables);
  }
  const position = (id - first) / stride;
  if (!Number.isInteger(position) || position < 0) throw new SchedulerShardError(`SLURM_ARRAY_TASK_ID ${id} is not in the array from ${first} in steps of ${stride}`, variables);
  return { scheduler: 'Slurm', index: position, count: taskCount ?? span, variables };
}
