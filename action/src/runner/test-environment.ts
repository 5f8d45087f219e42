/**
 * The environment the user's test command runs in: the runner's own, without what would let the
 * code under test act as the workflow. Bisected commits may come from anyone who can push a branch
 * or open a pull request, so they get the variables a test needs (PATH, HOME, CI, GITHUB_SHA,
 * RUNNER_TEMP, the workflow's own `env:`…) and none of the runner's credentials or channels.
 *
 * Sources for the list (actions/toolkit, read 2026-12): @actions/core `lib/oidc-utils.js` mints
 * OIDC tokens with ACTIONS_ID_TOKEN_REQUEST_TOKEN at ACTIONS_ID_TOKEN_REQUEST_URL;
 * `packages/cache/src/internal/config.ts` and the artifact client's config authenticate with
 * ACTIONS_RUNTIME_TOKEN against ACTIONS_CACHE_URL / ACTIONS_RESULTS_URL (the service version comes
 * from another ACTIONS_CACHE_SERVICE_* variable); @actions/core's file commands append to the files
 * named by GITHUB_ENV, GITHUB_PATH, GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY, and
 * `core.getInput` reads the step's inputs from INPUT_<NAME>.
 */

/**
 * Every variable whose name starts with one of these is dropped. `ACTIONS_` is the runner's
 * service channel (tokens and service URLs; new ones keep appearing, so the whole prefix goes);
 * `INPUT_` holds the inputs of the step running us, which may carry a token and are ours, not the
 * test's.
 */
const DROPPED_PREFIXES = ["ACTIONS_", "INPUT_"] as const;

/** Variables dropped by exact name. */
const DROPPED_NAMES = new Set([
  // Tokens for the GitHub API, as the workflow or gh read them.
  "GITHUB_TOKEN",
  "GH_TOKEN",
  "GITHUB_ENTERPRISE_TOKEN",
  "GH_ENTERPRISE_TOKEN",
  // The runner's file commands: writing to them sets variables and PATH for the workflow's later
  // steps (among them the upload of our result, which holds ACTIONS_RUNTIME_TOKEN), or forges our
  // outputs and step summary.
  "GITHUB_ENV",
  "GITHUB_PATH",
  "GITHUB_OUTPUT",
  "GITHUB_STATE",
  "GITHUB_STEP_SUMMARY",
]);

/** Whether the test command must not see the variable `name`. Case-insensitive, as Windows treats names. */
export function isRunnerSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return DROPPED_NAMES.has(upper) || DROPPED_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/**
 * The test command's environment, built from the runner's (`process.env` by default): a copy
 * without the runner's credentials and file commands; everything else is kept as it is.
 *
 * @example
 * spawn("sh", ["-c", command], { env: testEnvironment() });
 */
export function testEnvironment(runner: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(runner).filter(([name]) => !isRunnerSecret(name)));
}
