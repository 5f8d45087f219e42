import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One real PostgreSQL server (and one PGlite template) for every test file that needs them.
    globalSetup: ["test/support/postgres-global-setup.ts"],
    // Most test time is spent waiting on git, child processes and the database, not on a core:
    // two files at a time even on a 2-core machine (vitest's default there would be one).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
