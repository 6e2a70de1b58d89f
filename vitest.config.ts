import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each test file in its own process: native state (threads, grad mode, GC) never leaks between files,
    // and timing-sensitive tests (event-loop responsiveness) run alone in their fork.
    pool: 'forks',
    fileParallelism: false,
    execArgv: ['--expose-gc'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
