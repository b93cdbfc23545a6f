import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Model loads and ONNX runs are slow on a 2-core CI machine; correctness, not speed, is tested.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
