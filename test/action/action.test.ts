/**
 * The published Action as a runner runs it: `node action/dist/index.js` in a real process, with
 * INPUT_* variables and real GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, against real repositories.
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resultDocumentSchema, type ResultDocument } from "../../action/src/result-document.js";
import { buildRepo, git, gitEnv, removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo, positionOf, type LinearRepo } from "../support/linear-repo.js";

const ACTION = fileURLToPath(new URL("../../action/dist/index.js", import.meta.url));

interface ActionRun {
  code: number | null;
  stdout: string;
  outputs: Record<string, string>;
  summary: string;
  result?: ResultDocument;
  /** The result file as the run left it, found where the Action writes it even without outputs. */
  file?: ResultDocument;
}

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("action-test");
});
afterAll(() => removeDir(scratch));

/** Parses `name<<delimiter` heredocs the way the runner reads GITHUB_OUTPUT. */
function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (!match) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== match[2]; i++) value.push(lines[i]!);
    outputs[match[1]!] = value.join("\n");
  }
  return outputs;
}

/**
 * Runs the bundled Action with the given inputs (names as in action.yml) in `workspace`;
 * `whileRunning` gets its pid and its output so far, to signal it mid-run.
 */
async function runAction(
  workspace: string,
  inputs: Record<string, string>,
  options: { whileRunning?: (pid: number, output: () => string) => Promise<void> } = {},
): Promise<ActionRun> {
  const runnerTemp = await tempDir(join(scratch, "runner-temp"));
  const outputFile = join(runnerTemp, "output");
  const summaryFile = join(runnerTemp, "summary");
  await writeFile(outputFile, "");
  await writeFile(summaryFile, "");
  // core.getInput reads INPUT_<NAME> with the name upper-cased and hyphens kept.
  const inputEnv = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]));
  const env = gitEnv({
    ...inputEnv,
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_REPOSITORY: "octo-org/widget",
    GITHUB_SERVER_URL: "https://github.com",
    RUNNER_TEMP: runnerTemp,
    TMPDIR: runnerTemp,
  });
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn("node", [ACTION], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, stdout: out }));
    if (child.pid && options.whileRunning) options.whileRunning(child.pid, () => out).catch(reject);
  });
  const outputs = parseOutputFile(await readFile(outputFile, "utf8"));
  const summary = await readFile(summaryFile, "utf8");
  const result = outputs["result-file"] ? resultDocumentSchema.parse(JSON.parse(await readFile(outputs["result-file"], "utf8"))) : undefined;
  const text = await readFile(join(runnerTemp, `bisect-result-${inputs["job-id"] || "local"}.json`), "utf8").catch(() => undefined);
  const file = text === undefined ? undefined : resultDocumentSchema.parse(JSON.parse(text));
  return { code, stdout, outputs, summary, ...(result ? { result } : {}), ...(file ? { file } : {}) };
}

describe("the bisect Action", () => {
  it("finds the culprit: outputs, result file, one log group per probe, a step summary with links", async () => {
    const { dir, shas } = await linearRepo(scratch, 64, 37, (i) => ({ subject: `change ${i}` }));
    const run = await runAction(dir, { good: "v1.0", bad: "main", command: "test ! -e bug", "job-id": "job-42" });
    expect(run.code).toBe(0);
    expect(run.outputs.verdict).toBe("culprit");
    expect(run.outputs.culprit).toBe(shas.get("c37"));
    expect(run.outputs["result-file"]).toMatch(/bisect-result-job-42\.json$/);
    expect(run.result?.jobId).toBe("job-42");
    expect(Number(run.outputs.tested)).toBe(run.result?.probes.length);
    expect(run.result!.tested).toBeLessThanOrEqual(6);
    expect(run.stdout.match(/^::group::/gm)).toHaveLength(run.result!.probes.length);
    expect(run.summary).toContain(`### First bad commit: [\`${shas.get("c37")!.slice(0, 10)}\`](https://github.com/octo-org/widget/commit/${shas.get("c37")})`);
    expect(run.summary).toMatch(
      /\| 1 \| \[`[0-9a-f]{10}`\]\(https:\/\/github\.com\/octo-org\/widget\/commit\/[0-9a-f]{40}\) \| c\d+ \| (good|bad) \| [01] \| /,
    );
    expect(run.stdout).toContain(`::notice::First bad commit: ${shas.get("c37")}`);
  });

  it("tests k commits at once with parallel: k", async () => {
    const { dir, shas } = await linearRepo(scratch, 100, 61);
    const run = await runAction(dir, { good: "v1.0", bad: "main", command: "sleep 0.2; test ! -e bug", parallel: "3" });
    expect(run.outputs.culprit).toBe(shas.get("c61"));
    expect(run.result!.rounds).toBeLessThan(run.result!.tested);
    expect(run.result!.rounds).toBeLessThanOrEqual(5);
  });

  it("finds a culprit inside a merged branch", async () => {
    const dir = await tempDir(join(scratch, "merge"));
    const shas = await buildRepo(
      dir,
      [
        { id: "base", parents: [] },
        { id: "f1", parents: ["base"] },
        { id: "f2", parents: ["f1"], files: { bug: "1" } },
        { id: "m1", parents: ["base"] },
        { id: "merge", parents: ["m1", "f2"] },
        { id: "m2", parents: ["merge"] },
      ],
      { tags: { "v1.0": "base" } },
    );
    await git(dir, ["checkout", "--quiet", "--force", "main"]);
    // `bug` only reaches mainline through the merge, so test ancestry rather than the file.
    const run = await runAction(dir, { good: "v1.0", bad: "main", command: `! git merge-base --is-ancestor ${shas.get("f2")} HEAD` });
    expect(run.outputs.culprit).toBe(shas.get("f2"));
    const merge = await runAction(dir, { good: "v1.0", bad: "main", "first-parent": "true", command: `! git merge-base --is-ancestor ${shas.get("f2")} HEAD` });
    expect(merge.outputs.culprit).toBe(shas.get("merge"));
  });

  it("deepens a shallow clone as far as the range needs, and says so", async () => {
    const { dir, shas } = await linearRepo(scratch, 300, 120);
    const clone = join(await tempDir(join(scratch, "shallow")), "clone");
    await git(dir, ["tag", "good-sha", shas.get("c10")!]);
    await git(scratch, ["clone", "--quiet", "--depth", "1", `file://${dir}`, clone]);
    expect((await git(clone, ["rev-parse", "--is-shallow-repository"])).stdout.trim()).toBe("true");
    const run = await runAction(clone, { good: shas.get("c10")!, bad: shas.get("c299")!, command: "test ! -e bug" });
    expect(run.stdout).toContain(`Commit ${shas.get("c10")} is not in the clone: fetching it from origin.`);
    expect(run.stdout).toMatch(/The clone is shallow and the range reaches its boundary: deepening by \d+ commits/);
    expect(run.outputs.culprit).toBe(shas.get("c120"));
    expect(run.result!.range.size).toBe(289);
  });

  it("works in a partial (blob-less) clone: checkouts fetch what they need", async () => {
    const { dir, shas } = await linearRepo(scratch, 40, 22);
    await git(dir, ["config", "uploadpack.allowFilter", "true"]);
    const clone = join(await tempDir(join(scratch, "partial")), "clone");
    await git(scratch, ["clone", "--quiet", "--filter=blob:none", `file://${dir}`, clone]);
    expect((await git(clone, ["config", "remote.origin.partialclonefilter"])).stdout.trim()).toBe("blob:none");
    const run = await runAction(clone, { good: "v1.0", bad: "HEAD", command: "test ! -e bug" });
    expect(run.outputs.culprit).toBe(shas.get("c22"));
  });

  it("puts each probe's output inside its own log group", async () => {
    const { dir } = await linearRepo(scratch, 20, 9);
    const run = await runAction(dir, { good: "v1.0", bad: "main", parallel: "2", command: 'echo "testing $(cat id)"; test ! -e bug' });
    const groups = run.stdout
      .split("::group::")
      .slice(1)
      .map((g) => g.slice(0, g.indexOf("::endgroup::")));
    expect(groups).toHaveLength(run.result!.probes.length);
    for (const [i, p] of run.result!.probes.entries()) {
      expect(groups[i]).toMatch(new RegExp(`^${p.sha.slice(0, 10)} ${p.verdict} `));
      expect(groups[i]!.match(/testing c\d+/g)).toHaveLength(1); // its own output, no other probe's
    }
  });

  it("a commit that exists nowhere is a clear error", async () => {
    const { dir } = await linearRepo(scratch, 5, 3);
    const missing = "0123456789abcdef0123456789abcdef01234567";
    const run = await runAction(dir, { good: missing, bad: "main", command: "true" });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`::error::Commit ${missing} is not in the repository and could not be fetched from origin`);
  });

  it("reports the ambiguous set when only skipped commits remain, and still succeeds", async () => {
    const { dir, shas } = await linearRepo(scratch, 30, 15, (i) => (i === 13 ? { skip: "1" } : i === 15 ? { skip: "0" } : {}));
    const run = await runAction(dir, { good: "v1.0", bad: "main", command: "grep -qx 1 skip 2>/dev/null && exit 125; test ! -e bug" });
    expect(run.code).toBe(0);
    expect(run.outputs.verdict).toBe("ambiguous");
    expect(run.result!.reason).toBe("only-skipped-left");
    expect(new Set(run.result!.candidates)).toEqual(new Set([shas.get("c13"), shas.get("c14"), shas.get("c15")]));
    expect(run.summary).toContain("The first bad commit could be any of:");
    expect(run.summary).toContain("These commits could not be tested (exit 125).");
  });

  it("a step timeout is an infrastructure error: retried once, then skipped, never blamed", async () => {
    const { dir, shas } = await linearRepo(scratch, 16, 12, (i) => (i === 8 ? { hang: "1" } : i === 9 ? { hang: "0" } : {}));
    const run = await runAction(dir, { good: "v1.0", bad: "main", "step-timeout": "1", command: "grep -qx 1 hang 2>/dev/null && sleep 30; test ! -e bug" });
    expect(run.outputs.culprit).toBe(shas.get("c12"));
    const hung = run.result!.probes.filter((p) => p.sha === shas.get("c8"));
    if (hung.length > 0) expect(hung.map((p) => p.verdict)).toEqual(["error", "error"]);
    expect(run.stdout).toMatch(/timed out after 1 s/);
  });

  it("probe mode tests exactly the given commits, as `searching`: the range as given, not counted, and no candidates", async () => {
    const { dir, shas } = await linearRepo(scratch, 40, 25);
    const commits = ["c10", "c20", "c30"].map((c) => shas.get(c)!);
    const [good, bad] = [shas.get("c0")!, shas.get("c39")!];
    const run = await runAction(dir, { good, bad, mode: "probe", commits: commits.join(","), parallel: "3", command: "test ! -e bug" });
    expect(run.code).toBe(0);
    expect(run.outputs.verdict).toBe("searching");
    expect(run.outputs.tested).toBe("3");
    expect(run.result!.verdict).toBe("searching");
    expect(run.result!.reason).toBeUndefined();
    expect(run.result!.range).toEqual({ good: [good], bad, size: 0 });
    expect(run.result!.candidates).toEqual([]); // the App plans the next round from the probes
    expect(run.stdout).toContain(`Testing 3 commits of ${good.slice(0, 10)}..${bad.slice(0, 10)} (probe mode), 3 at a time.`);
    expect(run.summary).toContain("### Probes tested: the bisection goes on\n\nBisect Bot plans the next round from these verdicts.");
    expect(run.result!.probes.map((p) => [p.sha, p.verdict]).sort()).toEqual(
      [
        [shas.get("c10"), "good"],
        [shas.get("c20"), "good"],
        [shas.get("c30"), "bad"],
      ].sort(),
    );
    expect(run.result!.probes.every((p) => p.round === 1)).toBe(true);
  });

  describe("probe mode in a fan-out runner's clone: the one commit actions/checkout fetched (ref: <sha>, fetch-depth: 1)", () => {
    /** c0..c29, `bug` from c17 on; c12 cannot be tested (exit 125). */
    const command = "grep -qx 1 untestable 2>/dev/null && exit 125; test ! -e bug";
    let repo: LinearRepo;
    beforeAll(async () => {
      repo = await linearRepo(scratch, 30, 17, (i) => (i === 12 ? { untestable: "1" } : i === 13 ? { untestable: "0" } : {}));
    });
    const range = () => ({ good: repo.shas.get("c0")!, bad: repo.shas.get("c29")! });

    /** As actions/checkout does it: init, one commit fetched by sha at depth 1, checked out detached. */
    async function oneCommitClone(id: string): Promise<string> {
      const sha = repo.shas.get(id)!;
      const clone = join(await tempDir(join(scratch, "probe-clone")), "clone");
      await git(scratch, ["init", "--quiet", clone]);
      await git(clone, ["remote", "add", "origin", `file://${repo.dir}`]);
      await git(clone, ["fetch", "--quiet", "--no-tags", "--depth=1", "origin", `+${sha}:refs/remotes/origin/probe`]);
      await git(clone, ["checkout", "--quiet", "--force", "--detach", sha]);
      expect(await commitsIn(clone)).toEqual([sha]);
      return clone;
    }

    /** Every commit object in the clone's object database. */
    async function commitsIn(clone: string): Promise<string[]> {
      const out = await git(clone, ["cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname)"]);
      return out.stdout
        .split("\n")
        .filter((line) => line.startsWith("commit "))
        .map((line) => line.slice("commit ".length))
        .sort();
    }

    it.each([
      ["c10", "good", 0],
      ["c20", "bad", 1],
      ["c12", "skip", 125],
    ] as const)("tests %s alone (%s, exit %d) and fetches nothing: no history, no good or bad commit", async (id, verdict, exitCode) => {
      const clone = await oneCommitClone(id);
      const sha = repo.shas.get(id)!;
      const run = await runAction(clone, { ...range(), mode: "probe", commits: sha, command, "job-id": "job-5" });
      expect(run.code).toBe(0);
      expect(run.outputs).toMatchObject({ verdict: "searching", culprit: "", tested: "1" });
      expect(run.result).toMatchObject({
        verdict: "searching",
        jobId: "job-5",
        range: { good: [range().good], bad: range().bad, size: 0 },
        candidates: [],
        probes: [{ sha, verdict, exitCode, round: 1 }],
        tested: 1,
        rounds: 1,
      });
      expect(run.result!.probes).toHaveLength(1);
      // Still one shallow commit: nothing deepened or fetched.
      expect(await commitsIn(clone)).toEqual([sha]);
      expect((await git(clone, ["rev-parse", "--is-shallow-repository"])).stdout.trim()).toBe("true");
      expect((await git(clone, ["worktree", "list"])).stdout.trim().split("\n")).toHaveLength(1);
      expect(run.stdout).not.toContain("fetching");
      // The step summary describes the commit (its subject is its id) and links the range.
      expect(run.summary).toContain(`| 1 | [\`${sha.slice(0, 10)}\`](https://github.com/octo-org/widget/commit/${sha}) | ${id} | ${verdict} | ${exitCode} | `);
      expect(run.summary).toContain(
        `(good) .. [\`${range().bad.slice(0, 10)}\`](https://github.com/octo-org/widget/commit/${range().bad}) (bad). Tested 1 time in 1 round.`,
      );
    });

    it("an exit 127 is recorded as it is (bad, exit 127): the good commit to re-check the command on is not in the clone", async () => {
      const clone = await oneCommitClone("c10");
      const sha = repo.shas.get("c10")!;
      const run = await runAction(clone, { ...range(), mode: "probe", commits: sha, command: "no-such-test-runner" });
      expect(run.code).toBe(0);
      expect(run.result).toMatchObject({ verdict: "searching", probes: [{ sha, verdict: "bad", exitCode: 127 }], tested: 1 });
      expect(await commitsIn(clone)).toEqual([sha]);
    });

    it("a commit the checkout did not fetch is fetched by sha, alone", async () => {
      const clone = await oneCommitClone("c10");
      const other = repo.shas.get("c20")!;
      const run = await runAction(clone, { ...range(), mode: "probe", commits: other, command });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Commit ${other} is not in the clone: fetching just that commit from origin.`);
      expect(run.result).toMatchObject({ verdict: "searching", probes: [{ sha: other, verdict: "bad", exitCode: 1 }] });
      expect(await commitsIn(clone)).toEqual([repo.shas.get("c10")!, other].sort());
    });

    it("a commit that is not in the clone and cannot be fetched is a clear error naming it", async () => {
      const clone = await oneCommitClone("c10");
      const missing = "0123456789abcdef0123456789abcdef01234567";
      const run = await runAction(clone, { ...range(), mode: "probe", commits: missing, command });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`::error::Commit ${missing} is not in the clone and could not be fetched from origin (`);
      expect(run.stdout).toContain("check out the commit to test (actions/checkout with ref: <sha>)");
      expect(run.outputs.verdict).toBeUndefined();
      expect(await commitsIn(clone)).toEqual([repo.shas.get("c10")!]);
    });

    it("without any origin to fetch from (a private repository, no credentials kept), the commit it has is still tested", async () => {
      const clone = await oneCommitClone("c20");
      await git(clone, ["remote", "set-url", "origin", `file://${join(scratch, "no-such-repository")}`]);
      const run = await runAction(clone, { ...range(), mode: "probe", commits: repo.shas.get("c20")!, command });
      expect(run.code).toBe(0);
      expect(run.result).toMatchObject({ verdict: "searching", probes: [{ sha: repo.shas.get("c20"), verdict: "bad" }] });
    });
  });

  it("resumes from known verdicts instead of starting over", async () => {
    const { dir, shas } = await linearRepo(scratch, 64, 37);
    const first = await runAction(dir, { good: "v1.0", bad: "main", command: "test ! -e bug" });
    const known = first.result!.probes.slice(0, 3).map((p) => ({ sha: p.sha, verdict: p.verdict }));
    const resumed = await runAction(dir, { good: "v1.0", bad: "main", command: "test ! -e bug", known: JSON.stringify(known) });
    expect(resumed.outputs.culprit).toBe(shas.get("c37"));
    for (const k of known) expect(resumed.result!.probes.map((p) => p.sha)).not.toContain(k.sha);
    expect(resumed.result!.tested).toBe(first.result!.tested - 3);
  });

  it("fails the step when the command cannot run anywhere (exit 127 on the good commit too)", async () => {
    const { dir } = await linearRepo(scratch, 10, 5);
    const run = await runAction(dir, { good: "v1.0", bad: "main", command: "no-such-test-runner" });
    expect(run.code).toBe(1);
    expect(run.outputs.verdict).toBe("error");
    expect(run.result!.reason).toBe("command-not-found");
    expect(run.stdout).toMatch(/::error::The command .* exits 127 on the good commit [0-9a-f]{40} too/);
  });

  /** Waits until `count` probes have ended (one log group each), then a little for the next one to start. */
  const afterProbes = async (output: () => string, count: number) => {
    for (let i = 0; i < 150 && (output().match(/::endgroup::/g) ?? []).length < count; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
  };

  it.each<NodeJS.Signals>(["SIGINT", "SIGTERM"])(
    "a cancelled run (%s) stops the tests and leaves an interrupted result with the verdicts so far",
    async (signal) => {
      // c0..c29 pass at once; from c30 on the test hangs: the first probe (about c20) ends, then one hangs.
      const { dir, shas } = await linearRepo(scratch, 40, 30);
      const run = await runAction(
        dir,
        { good: "v1.0", bad: "main", command: "test -e bug && sleep 30; exit 0", "job-id": "job-9" },
        {
          whileRunning: async (pid, output) => {
            await afterProbes(output, 1);
            process.kill(pid, signal);
          },
        },
      );
      expect(run.code).toBe(1);
      expect(run.outputs.verdict).toBe("interrupted");
      expect(run.result).toMatchObject({ verdict: "interrupted", reason: "cancelled", jobId: "job-9", range: { size: 39 } });
      expect(run.result!.probes.length).toBeGreaterThanOrEqual(1);
      const good = new Set(Array.from({ length: 30 }, (_, i) => shas.get(`c${i}`)));
      for (const p of run.result!.probes) expect([p.verdict, good.has(p.sha)]).toEqual(["good", true]); // the hung test is not a verdict
      expect(run.stdout).toContain(`Received ${signal}: stopping the tests and saving the verdicts so far.`);
      expect(run.stdout).toMatch(/::error::Interrupted after \d+ tests?/);
      expect(run.summary).toContain("### Bisect interrupted");
    },
  );

  it("keeps the verdicts so far in the result file while it runs: a run killed outright leaves them as interrupted (stopped)", async () => {
    const { dir, shas } = await linearRepo(scratch, 40, 30);
    const run = await runAction(
      dir,
      { good: "v1.0", bad: "main", command: "test -e bug && sleep 5; exit 0", "job-id": "job-10" },
      {
        whileRunning: async (pid, output) => {
          await afterProbes(output, 1);
          process.kill(pid, "SIGKILL");
        },
      },
    );
    expect(run.outputs.verdict).toBeUndefined();
    expect(run.file).toMatchObject({ verdict: "interrupted", reason: "stopped", jobId: "job-10", range: { size: 39 } });
    expect(run.file!.probes.length).toBeGreaterThanOrEqual(1);
    expect(run.file!.tested).toBe(run.file!.probes.length);
    for (const p of run.file!.probes) expect(p.verdict).toBe(positionOf(shas, p.sha) < 30 ? "good" : "bad");
  });

  it.each([
    [{ parallel: "0" }, "::error::Invalid input 'parallel': '0'. Expected a whole number from 1 to 64."],
    [
      { "step-timeout": "1.5" },
      "::error::Invalid input 'step-timeout': '1.5'. Expected a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit.",
    ],
    [{ confidence: "1.5" }, "::error::Invalid input 'confidence': '1.5'. Expected a probability above 0.5 and below 1, such as 0.99."],
    [{ flaky: "perhaps" }, "::error::Invalid input 'flaky': 'perhaps'. Expected true or false."],
    [{ mode: "probe" }, "::error::Invalid input 'commits': ''. Probe mode needs the commits to test"],
    [{ mode: "probe", commits: "main" }, "::error::Invalid input 'good': 'v1.0'. Expected a full lowercase commit sha in probe mode"],
    [{ known: "{not json" }, "::error::Invalid input 'known': '{not json'. Expected JSON such as"],
    [{ bad: "--upload-pack=touch /tmp/pwned" }, "::error::Invalid input 'bad': '--upload-pack=touch /tmp/pwned'. Expected a commit sha"],
    [{ good: "v9.9" }, "::error::Unknown ref 'v9.9'"],
  ])("bad input %j fails the step with a message naming it", async (inputs, message) => {
    const { dir } = await linearRepo(scratch, 5, 3);
    const run = await runAction(dir, { good: "v1.0", bad: "main", command: "true", ...inputs });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(message);
    expect(run.outputs.verdict).toBeUndefined();
  });
});
