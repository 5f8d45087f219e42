/**
 * The runner on real repositories: every way a run can end, with the result document's verdict
 * and machine-readable reason (what the App decides on), and a run stopped by its signal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resultDocumentSchema, type ResultDocument } from "../../action/src/result-document.js";
import { runBisect, type RunnerEvent, type RunnerSettings } from "../../action/src/runner/bisect-runner.js";
import { GitCli } from "../../action/src/runner/git.js";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { git, removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo, positionOf } from "../support/linear-repo.js";

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("runner-test");
});
afterAll(() => removeDir(scratch));

/** Bisects v1.0..main of `dir` with `command`; the document must satisfy the schema the App parses with. */
async function bisect(dir: string, command: string[], settings: Partial<RunnerSettings> = {}): Promise<ResultDocument> {
  const repo = await GitCli.open(dir);
  const doc = await runBisect({
    git: repo,
    good: [await repo.resolveCommit("v1.0")],
    bad: await repo.resolveCommit("main"),
    command,
    worktreeDir: scratch,
    ...settings,
  });
  return resultDocumentSchema.parse(doc);
}

const sh = (script: string) => ["sh", "-c", script];

describe("runBisect: how a run ends, and why", () => {
  it("a culprit carries no reason", async () => {
    const { dir, shas } = await linearRepo(scratch, 20, 7);
    const doc = await bisect(dir, ["sh", "check.sh"]);
    expect(doc).toMatchObject({ verdict: "culprit", culprit: { sha: shas.get("c7"), confidence: 1 }, candidates: [shas.get("c7")] });
    expect(doc.reason).toBeUndefined();
    expect(doc.error).toBeUndefined();
  });

  it("only skipped commits left: ambiguous, only-skipped-left", async () => {
    const { dir, shas } = await linearRepo(scratch, 12, 6, (i) => (i === 5 ? { untestable: "1" } : i === 7 ? { untestable: "0" } : {}));
    const doc = await bisect(dir, sh("grep -qx 1 untestable 2>/dev/null && exit 125; sh check.sh"));
    expect(doc).toMatchObject({ verdict: "ambiguous", reason: "only-skipped-left" });
    expect(new Set(doc.candidates)).toEqual(new Set([shas.get("c5"), shas.get("c6"), shas.get("c7")]));
  });

  it("with verifyBad, a bad commit that passes: no-culprit, bad-commit-passes, the sentence in error", async () => {
    const { dir, shas } = await linearRepo(scratch, 12, 1000);
    const doc = await bisect(dir, ["sh", "check.sh"], { verifyBad: true });
    expect(doc).toMatchObject({ verdict: "no-culprit", reason: "bad-commit-passes", candidates: [] });
    expect(doc.error).toContain(`The bad commit ${shas.get("c11")} passes the test`);
  });

  it("flaky mode, every commit passes: no-culprit, flake", async () => {
    const { dir } = await linearRepo(scratch, 12, 1000);
    const doc = await bisect(dir, ["true"], { flaky: true });
    expect(doc).toMatchObject({ verdict: "no-culprit", reason: "flake" });
    expect(doc.error).toMatch(/looks like a flake/);
  });

  it("verdicts that contradict each other: error, contradiction", async () => {
    const { dir, shas } = await linearRepo(scratch, 12, 6);
    // An earlier attempt saw c3 fail and c8 pass: no first bad commit fits both.
    const known = [
      { sha: shas.get("c3")!, verdict: "bad" as const },
      { sha: shas.get("c8")!, verdict: "good" as const },
    ];
    const doc = await bisect(dir, ["sh", "check.sh"], { known });
    expect(doc).toMatchObject({ verdict: "error", reason: "contradiction", probes: [] });
    expect(doc.error).toMatch(/The verdicts contradict each other.*--flaky/);
  });

  it("a command that cannot be executed anywhere (exit 126 on the good commit too): error, command-not-executable", async () => {
    const { dir, shas } = await linearRepo(scratch, 12, 6);
    // check.sh is committed without the executable bit.
    const doc = await bisect(dir, ["./check.sh"]);
    expect(doc).toMatchObject({ verdict: "error", reason: "command-not-executable" });
    expect(doc.probes.map((p) => p.exitCode)).toEqual([126, 126]);
    expect(doc.probes[1]!.sha).toBe(shas.get("c0"));
    expect(doc.error).toMatch(/exits 126 on the good commit [0-9a-f]{40} too: it was not executable/);
  });

  it("a probe that cannot run at all (no worktree): error, probe-failed, naming the commit", async () => {
    const { dir } = await linearRepo(scratch, 12, 6);
    const real = await GitCli.open(dir);
    const git = new Proxy(real, {
      get: (target, key, receiver): unknown => (key === "addWorktree" ? () => Promise.reject(new Error("disk full")) : Reflect.get(target, key, receiver)),
    });
    const doc = resultDocumentSchema.parse(
      await runBisect({ git, good: [await real.resolveCommit("v1.0")], bad: await real.resolveCommit("main"), command: ["true"], worktreeDir: scratch }),
    );
    expect(doc).toMatchObject({ verdict: "error", reason: "probe-failed", probes: [] });
    expect(doc.error).toMatch(/^Could not run a probe of [0-9a-f]{40}: disk full$/);
  });

  it("a commit that cannot be checked out (its blob is gone): error, probe-failed with git's words; the test never ran as if it passed", async () => {
    const { dir } = await linearRepo(scratch, 12, 6);
    const real = await GitCli.open(dir);
    // Every blob of the history is deleted (commits and trees stay): no commit can be checked out.
    const packDir = join(dir, ".git", "objects", "pack");
    for (const pack of (await readdir(packDir)).filter((f) => f.endsWith(".pack"))) {
      const bytes = await readFile(join(packDir, pack));
      await rm(join(packDir, pack));
      await rm(join(packDir, pack.replace(/\.pack$/, ".idx")), { force: true });
      await git(dir, ["unpack-objects", "-q"], { input: bytes });
    }
    const objects = (await git(dir, ["rev-list", "--objects", "--all"])).stdout
      .split("\n")
      .map((l) => l.split(" ")[0]!)
      .filter(Boolean);
    const kinds = (await git(dir, ["cat-file", "--batch-check=%(objectname) %(objecttype)"], { input: objects.join("\n") + "\n" })).stdout.split("\n");
    for (const line of kinds.filter((l) => l.endsWith(" blob"))) {
      const sha = line.split(" ")[0]!;
      await rm(join(dir, ".git", "objects", sha.slice(0, 2), sha.slice(2)));
    }
    const doc = resultDocumentSchema.parse(
      await runBisect({ git: real, good: [await real.resolveCommit("v1.0")], bad: await real.resolveCommit("main"), command: ["true"], worktreeDir: scratch }),
    );
    expect(doc).toMatchObject({ verdict: "error", reason: "probe-failed", probes: [] });
    expect(doc.error).toMatch(
      /^Could not run a probe of [0-9a-f]{40}: git checkout --detach --force --quiet [0-9a-f]{40} failed: .*(unable to read|invalid object|bad object)/,
    );
  });

  it("a lock a test's own git process left behind does not end the bisect: the checkout is tried again once, after clearing it", async () => {
    const { dir, shas } = await linearRepo(scratch, 20, 7);
    const once = join(scratch, `lock-once-${Date.now()}`);
    // The first test leaves the worktree's index.lock behind and exits normally (as a git command
    // of the test's would when killed with it); the next checkout there meets the lock.
    const leaveLock = `[ -e '${once}' ] || { touch '${once}'; touch "$(git rev-parse --git-path index.lock)"; }; sh check.sh`;
    const warnings: string[] = [];
    const doc = await bisect(dir, sh(leaveLock), { onEvent: (e: RunnerEvent) => (e.type === "warning" ? warnings.push(e.message) : undefined) });
    expect(doc).toMatchObject({ verdict: "culprit", culprit: { sha: shas.get("c7") } });
    expect(warnings).toEqual([expect.stringMatching(/index\.lock.*clearing the worktree's git locks and trying once more/)]);
  });

  it("probe mode ends as searching, with the range as given (size 0: not counted) and no candidates", async () => {
    const { dir, shas } = await linearRepo(scratch, 30, 17);
    const doc = await bisect(dir, ["sh", "check.sh"], { probeOnly: ["c10", "c20"].map((id) => shas.get(id)!), parallel: 2 });
    expect(doc.verdict).toBe("searching");
    expect(doc.reason).toBeUndefined();
    expect(doc.probes.map((p) => [p.sha, p.verdict]).sort()).toEqual(
      [
        [shas.get("c10"), "good"],
        [shas.get("c20"), "bad"],
      ].sort(),
    );
    expect(doc.range).toEqual({ good: [shas.get("c0")], bad: shas.get("c29"), size: 0 });
    expect(doc.candidates).toEqual([]);
  });

  it("probe mode reads no history: on a one-commit shallow clone, without good or bad, it tests that commit", async () => {
    const { dir, shas } = await linearRepo(scratch, 30, 17);
    const sha = shas.get("c20")!;
    const clone = join(await tempDir(join(scratch, "one-commit")), "clone");
    await git(scratch, ["clone", "--quiet", "--no-local", "--depth", "1", `file://${dir}`, clone]);
    await git(clone, ["fetch", "--quiet", "--no-tags", "--depth=1", "origin", sha]);
    await git(clone, ["checkout", "--quiet", "--force", "--detach", sha]);
    // Only c20 and the tip the clone started from, both on the shallow boundary: neither has a parent here.
    expect((await git(clone, ["rev-parse", "--is-shallow-repository"])).stdout.trim()).toBe("true");
    expect((await git(clone, ["rev-list", "--all", "HEAD"])).stdout.trim().split("\n").sort()).toEqual([sha, shas.get("c29")].sort());
    const real = await GitCli.open(clone);
    // Anything that reads the range's history (or resolves a name) fails the test.
    const history = new Set(["rangeCommits", "mergeBases", "isAncestor", "resolveCommit"]);
    const repo = new Proxy(real, {
      get: (target, key, receiver): unknown =>
        typeof key === "string" && history.has(key) ? () => Promise.reject(new Error(`${key} reads history`)) : Reflect.get(target, key, receiver),
    });
    const events: RunnerEvent[] = [];
    const doc = resultDocumentSchema.parse(
      await runBisect({
        git: repo,
        good: [shas.get("c0")!],
        bad: shas.get("c29")!,
        command: ["sh", "check.sh"],
        probeOnly: [sha],
        worktreeDir: scratch,
        onEvent: (e) => events.push(e),
      }),
    );
    expect(doc).toMatchObject({ verdict: "searching", range: { size: 0 }, candidates: [], probes: [{ sha, verdict: "bad", exitCode: 1, round: 1 }] });
    expect(events[0]).toEqual({ type: "start", rangeSize: 0, estimatedTests: 1, mergeBases: [] });
    expect((await git(clone, ["rev-list", "--all", "HEAD"])).stdout.trim().split("\n")).toHaveLength(2); // nothing fetched
    expect((await git(clone, ["worktree", "list"])).stdout.trim().split("\n")).toHaveLength(1);
  });

  it("probe mode does not re-check exit 126/127 on a good commit: the verdict is recorded with its exit code", async () => {
    const { dir, shas } = await linearRepo(scratch, 12, 6);
    // check.sh is committed without the executable bit: exit 126 everywhere.
    const doc = await bisect(dir, ["./check.sh"], { probeOnly: [shas.get("c3")!] });
    expect(doc).toMatchObject({ verdict: "searching", probes: [{ sha: shas.get("c3"), verdict: "bad", exitCode: 126 }] });
    expect(doc.probes).toHaveLength(1); // the good commit v1.0 was not tested
  });

  it("stopped by its signal: interrupted, cancelled, with the verdicts so far and no worktree left", async () => {
    // c0..c29 pass at once; from c30 on the test hangs: stop the run once a hanging test has started.
    const { dir, shas } = await linearRepo(scratch, 40, 30);
    const abort = new AbortController();
    const ended: string[] = [];
    const onEvent = (event: RunnerEvent) => {
      if (event.type === "probe-end") ended.push(event.sha);
      if (event.type === "probe-start" && positionOf(shas, event.sha) >= 30) setTimeout(() => abort.abort(), 200);
    };
    const started = performance.now();
    const doc = await bisect(dir, sh("test -e bug && sleep 30; exit 0"), { signal: abort.signal, onEvent });
    expect(performance.now() - started).toBeLessThan(15_000); // the hanging test was killed, not waited for
    expect(doc).toMatchObject({ verdict: "interrupted", reason: "cancelled", candidates: [], range: { size: 39 } });
    expect(doc.probes.length).toBeGreaterThanOrEqual(1);
    expect(doc.probes.map((p) => p.sha)).toEqual(ended);
    for (const p of doc.probes) expect([p.verdict, positionOf(shas, p.sha) < 30]).toEqual(["good", true]);
    expect(doc.error).toMatch(/^Interrupted after \d+ tests?: the bisection was stopped before it ended/);
    expect((await git(dir, ["worktree", "list"])).stdout.trim().split("\n")).toHaveLength(1);
  });
});
