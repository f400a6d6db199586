import { defineConfig } from 'vitest/config';

// Native and browser tests share 2 cores: run files in forked workers, a few at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
