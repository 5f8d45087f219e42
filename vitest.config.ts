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
    // Guard rails against hangs, not speed limits: beside the whole suite on 2 cores a harness's
    // first start (PGlite, the double, the App) has taken 80 s.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
