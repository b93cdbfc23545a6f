import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { configDefaults, defineConfig } from 'vitest/config';

// Files whose assertions read a clock (batch times, latency in batches, "within N ms" bounds, leases
// renewed on a timer, a scheduler's deadlines): they run after the others, one at a time, with the
// machine to themselves.
const TIMED = [
  'test/engine/priority.test.ts',
  'test/engine/feed.test.ts',
  'test/engine/lanes.test.ts',
  'test/engine/window-seam.test.ts',
  'test/model/fetch-retry.test.ts',
  'test/engine/model-settings.test.ts',
  'test/node/db-promise.test.ts',
  'test/deploy/slurm.test.ts',
];

// The longest files (CI, 2 cores), started first so that the two workers end together; without a
// results cache (a clean clone) Vitest would start the largest files first, not the longest.
const LONGEST = [
  'test/tools/gpu-kit.test.ts',
  'test/engine/fp16-webgpu.test.ts',
  'test/package/node-consumer.test.ts',
  'test/engine/families.test.ts',
  'test/store/safety.test.ts',
  'test/engine/fuse-attention.test.ts',
  'test/engine/fidelity.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((name) => f.moduleId.endsWith(name));
      return i < 0 ? LONGEST.length : i;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    // Model loads and ONNX runs are slow on a 2-core CI machine; correctness, not speed, is tested.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        // Two files at a time, also on 2 cores: much of a file's time is one-threaded (CLI process
        // starts, tsc, npm installs, tokenizing, waits), and the second core would sit idle.
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...TIMED], maxWorkers: 2 },
      },
      {
        extends: true,
        // fileParallelism false: Vitest runs this project's files after the others, one at a time.
        test: { name: 'timed', include: TIMED, fileParallelism: false },
      },
    ],
  },
});
