/**
 * `bisect-bot run` as a user runs it: the committed bundle in a real process, against real git
 * repositories built for each test.
 */
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resultDocumentSchema, type ResultDocument } from "../../action/src/result-document.js";
import { buildRepo, type DagCommit, git, gitEnv, removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo, positionOf } from "../support/linear-repo.js";

const CLI = fileURLToPath(new URL("../../bin/bisect-bot.js", import.meta.url));

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let scratch: string;
let tmp: string;

beforeAll(async () => {
  scratch = await tempDir("cli-test");
  tmp = join(scratch, "tmp");
  await git(scratch, ["init", "--quiet", tmp]); // any directory works as TMPDIR; this one must exist
});
afterAll(() => removeDir(scratch));

/** Runs the CLI with TMPDIR pointing at a directory the test can inspect for leftovers. */
function cli(cwd: string, args: string[], options: { onSpawn?: (pid: number) => void; onStderr?: (text: string) => void } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [CLI, ...args], { cwd, env: gitEnv({ TMPDIR: tmp }), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(d.toString());
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (child.pid) options.onSpawn?.(child.pid);
  });
}

function resultOf(run: CliRun): ResultDocument {
  return resultDocumentSchema.parse(JSON.parse(run.stdout));
}

/** Commits a mainline with a feature branch merged in; the culprit is given by id. */
async function mergeRepo() {
  const dir = await tempDir(join(scratch, "merge"));
  const commits: DagCommit[] = [
    { id: "base", parents: [] },
    { id: "m1", parents: ["base"] },
    { id: "f1", parents: ["m1"] },
    { id: "f2", parents: ["f1"] },
    { id: "f3", parents: ["f2"] },
    { id: "m2", parents: ["m1"] },
    { id: "m3", parents: ["m2"] },
    { id: "merge", parents: ["m3", "f3"] },
    { id: "m4", parents: ["merge"] },
    { id: "m5", parents: ["m4"] },
  ];
  const shas = await buildRepo(dir, commits, { tags: { "v1.0": "base" } });
  await git(dir, ["checkout", "--quiet", "--force", "main"]);
  return { dir, shas };
}

/** A test command failing on every descendant of `culprit` (itself included). */
const failsFrom = (culprit: string) => ["sh", "-c", `if git merge-base --is-ancestor ${culprit} HEAD; then exit 1; fi`];

async function leftovers(): Promise<string[]> {
  return (await readdir(tmp)).filter((f) => f.startsWith("bisect-bot-"));
}

describe("bisect-bot run", () => {
  it("names the first bad commit with its subject and author, and exits 0", async () => {
    const { dir, shas } = await linearRepo(scratch, 100, 61);
    const run = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--", "sh", "check.sh"]);
    expect(run.stderr).toContain(`First bad commit: ${shas.get("c61")}`);
    expect(run.stderr).toMatch(/\n {4}c61\n {4}Author: A U Thor <author@example.com>/);
    expect(run.stderr).toMatch(/Bisecting 99 commits between v1.0 and main: about 7 tests/);
    expect(run.code).toBe(0);
  });

  it("prints the result document with --json: culprit, range, probes and at most ceil(log2 N) tests", async () => {
    const { dir, shas } = await linearRepo(scratch, 129, 100);
    const doc = resultOf(await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--json", "--", "sh", "check.sh"]));
    expect(doc.verdict).toBe("culprit");
    expect(doc.culprit).toEqual({ sha: shas.get("c100"), confidence: 1 });
    expect(doc.range).toEqual({ good: [shas.get("c0")], bad: shas.get("c128"), size: 128 });
    expect(doc.tested).toBeLessThanOrEqual(7);
    for (const p of doc.probes) expect(p.verdict).toBe(positionOf(shas, p.sha) >= 100 ? "bad" : "good");
  });

  it("never moves HEAD, touches the working tree, or leaves worktrees behind", async () => {
    const { dir } = await linearRepo(scratch, 40, 20);
    await writeFile(join(dir, "check.sh"), "#!/bin/sh\n# my local edit\ntest ! -e bug\n");
    await writeFile(join(dir, "notes.txt"), "untracked\n");
    const before = {
      head: (await git(dir, ["rev-parse", "HEAD"])).stdout,
      branch: (await git(dir, ["symbolic-ref", "HEAD"])).stdout,
      status: (await git(dir, ["status", "--porcelain"])).stdout,
    };
    const run = await cli(dir, ["run", "--good", "v1.0", "--bad", "HEAD", "--parallel", "3", "--", "sh", "-c", "git show HEAD:check.sh | sh"]);
    expect(run.code).toBe(0);
    expect((await git(dir, ["rev-parse", "HEAD"])).stdout).toBe(before.head);
    expect((await git(dir, ["symbolic-ref", "HEAD"])).stdout).toBe(before.branch);
    expect((await git(dir, ["status", "--porcelain"])).stdout).toBe(before.status);
    expect(await readFile(join(dir, "check.sh"), "utf8")).toContain("my local edit");
    expect((await git(dir, ["worktree", "list"])).stdout.trim().split("\n")).toHaveLength(1);
    expect(await leftovers()).toEqual([]);
  });

  it("finds a culprit inside a merged branch, and the merge with --first-parent", async () => {
    const { dir, shas } = await mergeRepo();
    const insideRun = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--json", "--", ...failsFrom(shas.get("f2")!)]);
    const inside = resultOf(insideRun);
    expect(inside.culprit?.sha).toBe(shas.get("f2"));
    // Right, and git-exact; but a release line is often what was meant: said, with the flag to use.
    expect(insideRun.stderr).toContain(`Note: ${shas.get("f2")!.slice(0, 10)} is a commit of a branch merged into main, not on its first-parent line.`);
    const mergeRun = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--first-parent", "--json", "--", ...failsFrom(shas.get("f2")!)]);
    const merge = resultOf(mergeRun);
    expect(merge.culprit?.sha).toBe(shas.get("merge"));
    expect(mergeRun.stderr).not.toContain("first-parent line");
    expect(merge.range.size).toBe(6); // m1 m2 m3 merge m4 m5
  });

  it("a culprit that changes only documentation or tests is named, with a note that it is implausible", async () => {
    const dir = await tempDir(join(scratch, "docs-only"));
    // Plain git (buildRepo's commits all touch an `id` file): c6 adds only a document, c9 only a test.
    await git(dir, ["init", "--quiet", "-b", "main"]);
    const shas = new Map<string, string>();
    for (let i = 0; i < 12; i++) {
      const file = i === 6 ? "docs/notes.md" : i === 9 ? "test/extra.test.sh" : `src/m${i}.c`;
      await mkdir(join(dir, file, ".."), { recursive: true });
      await writeFile(join(dir, file), `${i}\n`);
      await git(dir, ["add", "-A"]);
      await git(dir, ["commit", "--quiet", "-m", `c${i}`]);
      shas.set(`c${i}`, (await git(dir, ["rev-parse", "HEAD"])).stdout.trim());
    }
    await git(dir, ["tag", "v1.0", shas.get("c0")!]);
    const docs = await cli(dir, ["run", "--good", "v1.0", "--bad", shas.get("c11")!, "--", "sh", "-c", "test ! -e docs/notes.md"]);
    expect(docs.stderr).toContain(`First bad commit: ${shas.get("c6")}`);
    expect(docs.stderr).toContain(`Note: ${shas.get("c6")!.slice(0, 10)} changes only documentation, not code the test runs: the test may be flaky`);
    const tests = await cli(dir, ["run", "--good", "v1.0", "--bad", shas.get("c11")!, "--", "sh", "-c", "test ! -e test/extra.test.sh"]);
    expect(tests.stderr).toContain("changes only tests, not code the test runs: a new or changed test may be exposing an older problem.");
    const code = await cli(dir, ["run", "--good", "v1.0", "--bad", shas.get("c11")!, "--", "sh", "-c", "test ! -e src/m8.c"]);
    expect(code.stderr).toContain(`First bad commit: ${shas.get("c8")}`);
    expect(code.stderr).not.toContain("changes only");
  });

  it("with --parallel k tests k commits at once: fewer rounds than tests, same culprit", async () => {
    const { dir, shas } = await linearRepo(scratch, 257, 77);
    const doc = resultOf(await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--parallel", "3", "--json", "--", "sh", "-c", "sleep 0.2; sh check.sh"]));
    expect(doc.culprit?.sha).toBe(shas.get("c77"));
    // One worker needs 8 rounds; three need ceil(log4 256) = 4 when they finish together (one spare
    // for scheduling jitter on a loaded machine).
    expect(doc.rounds).toBeLessThanOrEqual(5);
    expect(doc.rounds).toBeLessThan(doc.tested);
  });

  it("tests the merge base first when a good commit is not an ancestor of bad", async () => {
    const { dir, shas } = await mergeRepo();
    // f3 is good but not an ancestor of m3: git tests their merge base m1 first.
    const doc = resultOf(await cli(dir, ["run", "--good", shas.get("f3")!, "--bad", shas.get("m3")!, "--json", "--", ...failsFrom(shas.get("m2")!)]));
    expect(doc.probes[0]?.sha).toBe(shas.get("m1"));
    expect(doc.culprit?.sha).toBe(shas.get("m2"));

    const fixed = await cli(dir, ["run", "--good", shas.get("f3")!, "--bad", shas.get("m3")!, "--json", "--", ...failsFrom(shas.get("base")!)]);
    expect(fixed.code).toBe(1);
    expect(fixed.stderr).toMatch(/merge base [0-9a-f]{40}.*fails the test: the bug was fixed between/);
    expect(resultOf(fixed)).toMatchObject({ verdict: "error", reason: "merge-base-fails" });
  });

  it("skips commits whose test exits 125 and reports the ambiguous set with exit 2", async () => {
    const { dir, shas } = await linearRepo(scratch, 30, 15, (i) => (i === 13 ? { untestable: "1" } : i === 15 ? { untestable: "0" } : {}));
    const run = await cli(dir, [
      "run",
      "--good",
      "v1.0",
      "--bad",
      "main",
      "--json",
      "--",
      "sh",
      "-c",
      "grep -qx 1 untestable 2>/dev/null && exit 125; sh check.sh",
    ]);
    const doc = resultOf(run);
    expect(run.code).toBe(2);
    expect(doc.verdict).toBe("ambiguous");
    expect(doc.reason).toBe("only-skipped-left");
    expect(new Set(doc.candidates)).toEqual(new Set([shas.get("c13"), shas.get("c14"), shas.get("c15")]));
    expect(run.stderr).toContain("Only skipped commits are left to test. The first bad commit could be any of");
  });

  it("with --verify exits 3 when the bad commit passes: the range holds no regression", async () => {
    const { dir } = await linearRepo(scratch, 20, 1000);
    const trusting = resultOf(await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--json", "--", "sh", "check.sh"]));
    expect(trusting.culprit?.sha).toBe(trusting.range.bad); // as git bisect: the bad commit is trusted
    const run = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--verify", "--json", "--", "sh", "check.sh"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/No culprit: The bad commit [0-9a-f]{40} passes the test/);
    expect(resultOf(run)).toMatchObject({ verdict: "no-culprit", reason: "bad-commit-passes", candidates: [] });
  });

  it("re-checks exit 127 on the good commit: a missing command everywhere blames nobody", async () => {
    const { dir } = await linearRepo(scratch, 20, 10);
    const run = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--json", "--", "no-such-test-command"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/exits 127 on the good commit [0-9a-f]{40} too: it was not found/);
    expect(run.stderr).not.toContain("First bad commit");
    const doc = resultOf(run);
    expect(doc).toMatchObject({ verdict: "error", reason: "command-not-found" });
    expect(doc.probes.map((p) => p.exitCode)).toEqual([127, 127]); // the first probe, then its re-check on the good commit
    expect(doc.probes[1]!.sha).toBe(doc.range.good[0]);
  });

  it("counts exit 127 as bad when the good commit runs the command fine", async () => {
    // From c3 on, the test cannot even start (exit 127), as when a test script is deleted; the
    // first probe (mid-range) hits it, so the good commit is checked before c3 is blamed.
    const { dir, shas } = await linearRepo(scratch, 20, 1000, (i) => (i === 3 ? { gone: "1" } : {}));
    const run = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--json", "--", "sh", "-c", "test -e gone && exit 127; exit 0"]);
    const doc = resultOf(run);
    expect(doc.culprit?.sha).toBe(shas.get("c3"));
    expect(doc.probes.some((p) => p.sha === shas.get("c0") && p.exitCode === 0)).toBe(true); // the re-check
  });

  it("treats a step timeout and exit 128+ as infrastructure errors: retried once, then skipped, never bad", async () => {
    const { dir, shas } = await linearRepo(scratch, 16, 12, (i) =>
      i === 8 ? { mode: "hang" } : i === 9 ? { mode: "crash" } : i === 10 ? { mode: "fine" } : {},
    );
    const run = await cli(dir, [
      "run",
      "--good",
      "v1.0",
      "--bad",
      "main",
      "--step-timeout",
      "1",
      "--json",
      "--",
      "sh",
      "-c",
      'm=$(cat mode 2>/dev/null); [ "$m" = hang ] && sleep 30; [ "$m" = crash ] && exit 137; sh check.sh',
    ]);
    const doc = resultOf(run);
    expect(doc.culprit?.sha).toBe(shas.get("c12"));
    const hung = doc.probes.filter((p) => p.sha === shas.get("c8"));
    const crashed = doc.probes.filter((p) => p.sha === shas.get("c9"));
    for (const probes of [hung, crashed].filter((p) => p.length > 0)) {
      expect(probes.map((p) => p.verdict)).toEqual(["error", "error"]);
    }
    expect(hung.length + crashed.length).toBeGreaterThan(0);
    expect(run.stderr).toMatch(/timed out after 1 s|exit 137/);
  });

  it("finds the culprit of a flaky test with --flaky and reports its confidence", async () => {
    const { dir, shas } = await linearRepo(scratch, 64, 40);
    const counter = join(scratch, `flaky-counter-${Date.now()}`);
    await writeFile(counter, "0");
    // Every fourth run fails whatever the commit: a deterministic stand-in for a flaky test.
    const test = `n=$(($(cat ${counter}) + 1)); echo $n > ${counter}; [ $((n % 4)) -eq 0 ] && exit 1; sh check.sh`;
    const run = await cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--flaky", "--json", "--", "sh", "-c", test]);
    const doc = resultOf(run);
    expect(doc.verdict).toBe("culprit");
    expect(doc.culprit?.sha).toBe(shas.get("c40"));
    expect(doc.culprit!.confidence).toBeGreaterThanOrEqual(0.99);
    expect(Number(await readFile(counter, "utf8"))).toBeGreaterThanOrEqual(4); // flakes did happen
    expect(run.stderr).toMatch(/Confidence 0\.99\d|Confidence 1\.000/);
  });

  it("stops on Ctrl-C, kills the test and removes its worktrees", async () => {
    const { dir } = await linearRepo(scratch, 40, 20);
    let pid = 0;
    const running = cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--parallel", "2", "--", "sh", "-c", "sleep 30"], { onSpawn: (p) => (pid = p) });
    // Wait until both worktrees exist, then interrupt.
    for (let i = 0; i < 100 && (await git(dir, ["worktree", "list"])).stdout.trim().split("\n").length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(pid, "SIGINT");
    const run = await running;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain("Interrupted");
    expect((await git(dir, ["worktree", "list"])).stdout.trim().split("\n")).toHaveLength(1);
    expect(await leftovers()).toEqual([]);
  });

  it("with --json, Ctrl-C prints the interrupted document with the verdicts so far, and exits 130", async () => {
    // c0..c29 pass at once; from c30 on the test hangs: the first probe (about c20) ends, the next one hangs.
    const { dir, shas } = await linearRepo(scratch, 40, 30);
    let pid = 0;
    let stderr = "";
    const running = cli(dir, ["run", "--good", "v1.0", "--bad", "main", "--json", "--", "sh", "-c", "test -e bug && sleep 30; exit 0"], {
      onSpawn: (p) => (pid = p),
      onStderr: (text) => (stderr += text),
    });
    for (let i = 0; i < 100 && !/^\s+1\. [0-9a-f]{10}\s+good/m.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300)); // the next probe starts
    process.kill(pid, "SIGINT");
    const run = await running;
    expect(run.code).toBe(130);
    const doc = resultOf(run);
    expect(doc).toMatchObject({ verdict: "interrupted", reason: "cancelled", candidates: [] });
    expect(doc.error).toMatch(/^Interrupted after \d+ tests?/);
    expect(doc.probes.length).toBeGreaterThanOrEqual(1);
    // Only finished tests are verdicts: the hung one was stopped, not counted.
    for (const p of doc.probes) expect([p.verdict, positionOf(shas, p.sha) < 30]).toEqual(["good", true]);
    expect(run.stderr).toContain("Interrupted");
    expect(await leftovers()).toEqual([]);
  });
});

describe("bisect-bot run: bad input gets one line naming the value, exit 1", () => {
  let dir: string;
  beforeAll(async () => {
    ({ dir } = await linearRepo(scratch, 5, 3));
  });

  it.each([
    [["run", "--good", "v9.9", "--bad", "main", "--", "true"], /Unknown ref 'v9.9'/],
    [["run", "--good", "main", "--bad", "main", "--", "true"], /The good ref 'main' and the bad ref 'main' are the same commit/],
    [["run", "--good", "main", "--bad", "v1.0", "--", "true"], /is a descendant of the bad ref 'v1.0'.*Did you swap the good and bad commits\?/],
    [["run", "--good", "v1.0", "--bad", "main"], /Missing the test command after '--'/],
    [["run", "--good", "v1.0", "--bad", "main", "npm", "test"], /Unexpected argument 'npm'.*Put the test command after '--'/],
    [["run", "--good", "v1.0", "--", "true"], /Missing --bad <ref>/],
    [["run", "--good", "v1.0", "--bad", "main", "--parallel", "zero", "--", "true"], /Invalid --parallel 'zero': expected a whole number/],
    [["run", "--good", "v1.0", "--bad", "main", "--step-timeout=-5", "--", "true"], /Invalid --step-timeout '-5'/],
    [["run", "--good", "v1.0", "--bad", "main", "--step-timeout", "-5", "--", "true"], /Option '--step-timeout' argument is ambiguous/],
    [
      ["run", "--good", "v1.0", "--bad", "main", "--parallel", "65", "--", "true"],
      /^bisect-bot: Invalid --parallel '65': expected a whole number from 1 to 64\.$/m,
    ],
    [
      ["run", "--good", "v1.0", "--bad", "main", "--step-timeout", "7h", "--", "true"],
      /Invalid --step-timeout '7h': expected a duration up to 6h, such as 90s, 10m or 600 \(seconds\); 0 for no limit\./,
    ],
    [["run", "--good", "v1.0", "--bad", "main", "--confidence", "0.9", "--", "true"], /--confidence 0\.9 only applies with --flaky/],
    [["bisect", "--good", "v1.0"], /Unknown command 'bisect'/],
  ])("%j", async (args, message) => {
    const run = await cli(dir, args);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("outside a git repository", async () => {
    const outside = await tempDir(join(scratch, "plain"));
    const run = await cli(outside, ["run", "--good", "a", "--bad", "b", "--", "true"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is not inside a git repository\. Run bisect-bot in a clone, or pass -C <dir>\./);
  });

  it("-C runs in another directory", async () => {
    const outside = await tempDir(join(scratch, "plain2"));
    const run = await cli(outside, ["run", "-C", dir, "--good", "v1.0", "--bad", "main", "--", "sh", "check.sh"]);
    expect(run.code).toBe(0);
  });
});
