import { defineConfig } from 'vitest/config';

// Integration tests share one local Kafka and one ClickHouse on a 2-core
// machine: run test files one at a time so a fault test (stopping
// ClickHouse, restarting the broker) never lands in another file's run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
