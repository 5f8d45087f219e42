/**
 * The code under test is untrusted (DESIGN, Trust): the test command, started by the published
 * Action or the CLI in a real process on a real repository, must not see the runner's tokens,
 * service URLs, file commands or the Action's inputs, and must see everything else.
 */
import { spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gitEnv, removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo } from "../support/linear-repo.js";

const ACTION = fileURLToPath(new URL("../../action/dist/index.js", import.meta.url));
const CLI = fileURLToPath(new URL("../../bin/bisect-bot.js", import.meta.url));

/** What a GitHub-hosted runner gives a step: credentials, service URLs and file commands. */
const RUNNER_SECRETS = {
  ACTIONS_RUNTIME_TOKEN: "secret-runtime-token",
  ACTIONS_RUNTIME_URL: "https://pipelines.example/secret-runtime-url/",
  ACTIONS_RESULTS_URL: "https://results.example/secret-results-url/",
  ACTIONS_CACHE_URL: "https://artifactcache.example/secret-cache-url/",
  ACTIONS_CACHE_SERVICE_V2: "True",
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: "secret-oidc-request-token",
  ACTIONS_ID_TOKEN_REQUEST_URL: "https://token.example/secret-oidc-url",
  GITHUB_TOKEN: "ghs_secretinstallationtoken",
  GH_TOKEN: "ghs_secretghclitoken",
} as const;

/** What a test may need, and gets. */
const ORDINARY = {
  CI: "true",
  GITHUB_ACTIONS: "true",
  GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
  GITHUB_REPOSITORY: "octo-org/widget",
  GITHUB_RUN_ID: "4242",
  RUNNER_OS: "Linux",
  // A variable the workflow sets for the test in its `env:`.
  DATABASE_FOR_TESTS: "postgres://localhost/widget_test",
} as const;

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("test-environment");
});
afterAll(() => removeDir(scratch));

/** A test command that writes its whole environment, NUL-separated, to one file per probe in `dir`. */
const recordingCommand = (dir: string) => `env -0 > "${dir}/$(git rev-parse HEAD)"; test ! -e bug`;

/** Every environment the test command saw, one per probe. */
async function recordedEnvironments(dir: string): Promise<Map<string, string>[]> {
  const files = await readdir(dir);
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(dir, file), "utf8");
      return new Map(
        text
          .split("\0")
          .filter(Boolean)
          .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
      );
    }),
  );
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** Asserts what the test command saw in every probe: no secret by name or by value, every ordinary variable. */
function expectNoSecrets(environments: Map<string, string>[], runnerEnv: NodeJS.ProcessEnv) {
  expect(environments.length).toBeGreaterThan(1);
  const secretValues = new Set<string>(Object.values(RUNNER_SECRETS).filter((value) => value !== "True"));
  for (const seen of environments) {
    const leaked = [...seen].filter(([name, value]) => name in RUNNER_SECRETS || name.startsWith("INPUT_") || secretValues.has(value));
    expect(leaked).toEqual([]);
    for (const [name, value] of Object.entries(ORDINARY)) expect(seen.get(name)).toBe(value);
    expect(seen.get("PATH")).toBe(runnerEnv.PATH);
    expect(seen.get("HOME")).toBe(runnerEnv.HOME);
  }
}

describe("the test command's environment", () => {
  it("the Action runs the test without the runner's tokens, file commands or its own inputs, and with everything else", async () => {
    const { dir } = await linearRepo(scratch, 24, 13);
    const records = await tempDir(join(scratch, "records"));
    const runnerTemp = await tempDir(join(scratch, "runner-temp"));
    const files = {
      GITHUB_OUTPUT: join(runnerTemp, "output"),
      GITHUB_STEP_SUMMARY: join(runnerTemp, "summary"),
      GITHUB_ENV: join(runnerTemp, "env"),
      GITHUB_PATH: join(runnerTemp, "path"),
      GITHUB_STATE: join(runnerTemp, "state"),
    };
    for (const file of Object.values(files)) await writeFile(file, "");
    const env = gitEnv({
      ...RUNNER_SECRETS,
      ...ORDINARY,
      ...files,
      INPUT_GOOD: "v1.0",
      INPUT_BAD: "main",
      INPUT_COMMAND: recordingCommand(records),
      GITHUB_WORKSPACE: dir,
      RUNNER_TEMP: runnerTemp,
      TMPDIR: runnerTemp,
    });

    const { code, output } = await run([ACTION], dir, env);
    expect(code, output).toBe(0);
    // The Action itself still writes its outputs through the file command it kept from the test.
    expect(await readFile(files.GITHUB_OUTPUT, "utf8")).toContain("verdict<<");

    const environments = await recordedEnvironments(records);
    expectNoSecrets(environments, env);
    for (const seen of environments) {
      for (const name of Object.keys(files)) expect(seen.has(name), name).toBe(false);
      expect(seen.get("GITHUB_WORKSPACE")).toBe(dir);
      expect(seen.get("RUNNER_TEMP")).toBe(runnerTemp);
    }
  });

  it("the CLI, run in a workflow step, keeps the runner's tokens from the test as well", async () => {
    const { dir } = await linearRepo(scratch, 24, 13);
    const records = await tempDir(join(scratch, "records"));
    const env = gitEnv({ ...RUNNER_SECRETS, ...ORDINARY, TMPDIR: scratch });

    const { code, output } = await run([CLI, "run", "--good", "v1.0", "--bad", "main", "--", recordingCommand(records)], dir, env);
    expect(code, output).toBe(0);
    expectNoSecrets(await recordedEnvironments(records), env);
  });
});
