import { defineConfig } from "vitest/config";

/**
 * The container image test, apart from `npm test`: it builds the image (minutes the first time)
 * and needs root, buildah and mmdebstrap. `.ci/run` runs it after the suite:
 *   npx vitest run --config test/image/vitest.config.ts
 */
export default defineConfig({
  test: {
    include: ["test/image/**/*.test.ts"],
    // The test files skip themselves without it, so that the main suite passes over them.
    env: { BISECT_IMAGE_TEST: "1" },
    // One file: a build uses both cores; nothing else should compete with it.
    fileParallelism: false,
    testTimeout: 120_000,
    // The first build assembles the node base image and installs the dependencies.
    hookTimeout: 30 * 60_000,
  },
});
