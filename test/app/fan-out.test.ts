/**
 * Fan-out across runners (`--runners k`), end to end and offline: a `/bisect` comment → the App
 * plans round 1 from the range's graph (the compare API) → one workflow run in probe mode that
 * the GitHub double really runs, a matrix with one runner per commit (each clones its commit and
 * runs the bundled Action) → one artifact per matrix job and the webhooks → the App reads the
 * verdicts, plans the next round … → the answer on the thread. Culprits are checked against the
 * planted one (and so against single-runner bisection and `git bisect`, which find it too).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobRow } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, WEBHOOK_SECRET, runToEnd, startHarness, type Harness } from "../support/app-harness.js";
import { removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo } from "../support/linear-repo.js";
import { makeRegressionRepo } from "../support/regression-repo.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DISPATCH_ROUTE = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";

let h: Harness;
const dirs: string[] = [];
let nextId = 9100;

beforeAll(async () => {
  h = await startHarness({ env: { RUN_CHECK_SECONDS: "1", MAX_CONCURRENT_JOBS: "20" } });
  // Enough runners for a round of 7 at once.
  h.double.runner.options = { webhookUrl: `${h.server.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET, concurrency: 8 };
}, 180_000);
afterAll(async () => {
  await h?.close();
  for (const dir of dirs) await removeDir(dir);
});

function addRepo(dir: string): { name: string; id: number } {
  const id = nextId++;
  const name = `fan-${id}`;
  h.double.addRepository({ owner: OWNER, name, id, path: dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  h.double.setPermission(`${OWNER}/${name}`, "maintainer", "write");
  dirs.push(dir);
  return { name, id };
}

/** A linear history c0 … c{n-1} (v1.0 at c0, the workflow in it); from c<culprit> on, `sh check.sh` fails. */
async function linear(n: number, culprit: number) {
  const workflow = await readFile(path.join(ROOT, ".github/workflows/bisect.yml"), "utf8");
  const parent = await tempDir("fan-out");
  const repo = await linearRepo(parent, n, culprit, (i) => (i === 0 ? { ".github/workflows/bisect.yml": workflow } : {}));
  dirs.push(parent);
  return { ...addRepo(repo.dir), culprit: repo.shas.get(`c${culprit}`)! };
}

async function withMerges(culpritIn: "branch" | "mainline" | "merge") {
  const repo = await makeRegressionRepo({ culpritIn, mainline: 80 });
  return { ...addRepo(repo.dir), culprit: repo.culprit.sha, size: repo.rangeSize };
}

/** Comments on the repository, then drives the worker loop until the job ends. */
async function bisect(repo: { name: string; id: number }, body: string): Promise<JobRow> {
  expect((await h.comment(body, { repo: repo.name, repositoryId: repo.id, issueNumber: 1 })).status).toBe(200);
  return runToEnd(h, { repositoryId: repo.id, issueNumber: 1 }, { timeoutMs: 170_000 });
}

const answer = (repo: { name: string }) =>
  h.double
    .comments(`${OWNER}/${repo.name}`, 1)
    .filter((c) => c.user.endsWith("[bot]"))
    .at(-1)?.body ?? "";

/** The job's round runs, oldest first. */
const roundRuns = (job: JobRow) => h.double.runs.filter((r) => r.inputs.job_id === String(job.id)).sort((a, b) => a.id - b.id);

const roundBound = (n: number, k: number) => Math.ceil(Math.log(n) / Math.log(k + 1));

/** The GitHub API calls the job's repository received on one route. */
const calls = (repo: { name: string }, route: string) =>
  h.double.requests.filter((r) => r.route === route && r.path.startsWith(`/repos/${OWNER}/${repo.name}/`)).length;

/**
 * The calls a round makes, as the issue bounds them (at most k + 3): the dispatch, the artifact
 * list, one download per commit, one edit of the status comment. The job's first status comment is
 * posted (not edited) and its answer is one more edit.
 */
function expectRoundCalls(repo: { name: string }, job: JobRow, rounds: number) {
  expect(calls(repo, DISPATCH_ROUTE)).toBe(rounds);
  expect(calls(repo, "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts")).toBe(rounds);
  expect(calls(repo, "GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}")).toBe(job.runner_jobs);
  expect(
    calls(repo, "POST /repos/{owner}/{repo}/issues/{issue_number}/comments") + calls(repo, "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"),
  ).toBe(rounds + 1);
}

describe.each([1, 3, 7])("k = %i", (k) => {
  it("on a linear range: the culprit, within ⌈log_(k+1) N⌉ rounds, no commit tested twice", async () => {
    const repo = await linear(101, 57);
    const job = await bisect(repo, `/bisect v1.0..main --runners ${k} -- sh check.sh`);
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit, attempts: 1 });
    const runs = roundRuns(job);
    const probes = await h.store.call("jobProbes", { jobId: job.id });
    expect(new Set(probes.map((p) => p.sha)).size).toBe(probes.length);
    if (k === 1) {
      // One runner is today's bisect: one run of the bisect job, no rounds.
      expect(runs.map((r) => r.inputs.mode)).toEqual(["bisect"]);
      expect(job).toMatchObject({ round: 0, runner_jobs: 0 });
      return;
    }
    expect(runs.length).toBeLessThanOrEqual(roundBound(100, k));
    expect(runs.map((r) => [r.inputs.mode, r.displayTitle])).toEqual(runs.map((_, i) => ["probe", `bisect ${job.id} round ${i + 1}`]));
    expect(runs.every((r) => (JSON.parse(r.inputs.commits!) as string[]).length <= k)).toBe(true);
    expect(job.runner_jobs).toBe(probes.length);
    expect(job.runner_minutes).toBe(probes.length);
    expectRoundCalls(repo, job, runs.length);
    const text = answer(repo);
    expect(text).toContain("is the first bad commit");
    expect(text).toContain(
      `| Rounds | ${runs.length} rounds: ${runs.map((r) => (JSON.parse(r.inputs.commits!) as string[]).length).join(" + ")} commits, one runner each |`,
    );
    expect(text).toContain(`| Runners | ${job.runner_jobs} runner jobs · ${job.runner_minutes} runner minutes |`);
  });

  it("with merges: the same culprit as single-runner bisection and git bisect, within one round more", async () => {
    const repo = await withMerges(k === 3 ? "merge" : "branch");
    const job = await bisect(repo, `/bisect v1.0..main --runners ${k} -- sh test.sh`);
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit, attempts: 1 });
    const probes = await h.store.call("jobProbes", { jobId: job.id });
    expect(new Set(probes.map((p) => p.sha)).size).toBe(probes.length);
    if (k > 1) expect(roundRuns(job).length).toBeLessThanOrEqual(roundBound(repo.size, k) + 1);
    // A culprit inside a merged branch is flagged as off main's first-parent line (a fan-out knows
    // from its graph, one runner from the Action's result); a merge is on it.
    expect(answer(repo).includes("not on its first-parent line")).toBe(k !== 3);
  });
});

describe("progress", () => {
  it("the status comment is edited once a round: round r of about R, commits left, the strip, the end time", async () => {
    const repo = await linear(65, 41);
    const job = await bisect(repo, "/bisect v1.0..main --runners 3 -- sh check.sh");
    const status = h.double.comments(`${OWNER}/${repo.name}`, 1).find((c) => c.id === job.status_comment_id)!;
    const rounds = roundRuns(job);
    // One version a round, then the answer.
    expect(status.history).toHaveLength(rounds.length + 1);
    status.history.slice(0, -1).forEach((body, i) => {
      expect(body).toMatch(
        new RegExp(`Round ${i + 1} of about \\d+: \\[workflow run\\]\\([^)]*/actions/runs/${rounds[i]!.id}\\) testing 3 commits on 3 runners\\.`),
      );
      expect(body).toContain("🔵");
      expect(body).toMatch(i === 0 ? /an estimate of the end comes after the first round/ : /done at about \d\d:\d\d UTC/);
    });
    // Round 1 knows nothing yet; later rounds show the verdicts so far and what they ruled out.
    expect(status.history[0]).toContain("64 commits may hold the culprit");
    expect(status.history[1]).toContain("🟩");
    expect(status.history[1]).toContain("🟥");
    expect(status.history[1]).toContain("⬛");
  });
});

describe("what the runners cannot tell", () => {
  it("a command found nowhere ends with that error, not with the range's first commit blamed", async () => {
    const repo = await linear(40, 25);
    const job = await bisect(repo, "/bisect v1.0..main --runners 3 -- no-such-test-runner --all");
    expect(job).toMatchObject({ state: "failed", verdict: "error", reason: "command-not-found", culprit_sha: null });
    expect(answer(repo)).toContain("The command was not found (exit 127) at every commit tested");
    expect(answer(repo)).not.toContain("is the first bad commit");
  });
});

describe("--find-fix", () => {
  it.each([1, 3])("k = %i: names the first commit where the test passes, in the fix's words", async (k) => {
    // From c33 on, the file `bug` exists: `test -e bug` fails before (broken) and passes from there (fixed).
    const repo = await linear(50, 33);
    const job = await bisect(repo, `/bisect v1.0..main --find-fix --runners ${k} -- test -e bug`);
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit });
    const text = answer(repo);
    expect(text).toContain("is the first fixed commit");
    expect(text).not.toContain("first bad commit");
    // Probes say what the test did: passes from the fix on.
    const probes = await h.store.call("jobProbes", { jobId: job.id });
    expect(probes.some((p) => p.verdict === "good") && probes.some((p) => p.verdict === "bad")).toBe(true);
    const runs = roundRuns(job);
    if (k === 1) expect(JSON.parse(runs[0]!.inputs.options!)).toMatchObject({ find_fix: true });
    else expect(runs.every((r) => r.inputs.mode === "probe")).toBe(true);
  });
});

describe("--confirm", () => {
  it("one runner re-runs the culprit and its parent, and the answer says it was confirmed", async () => {
    const repo = await linear(40, 17);
    const job = await bisect(repo, "/bisect v1.0..main --confirm 2 -- sh check.sh");
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit });
    expect(answer(repo)).toContain("| Re-runs | ✅ confirmed: failed 2 of 2, its parent passed 2 of 2 |");
    expect(JSON.parse(roundRuns(job)[0]!.inputs.options!)).toMatchObject({ confirm: 2 });
  });

  it("a fan-out re-runs the culprit and its parent after the search, one round per re-run, each once a round", async () => {
    const repo = await linear(40, 17);
    const job = await bisect(repo, "/bisect v1.0..main --runners 3 --confirm 2 -- sh check.sh");
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit });
    const runs = roundRuns(job);
    const parent = (await h.store.call("jobProbes", { jobId: job.id })).find((p) => p.sha !== repo.culprit && p.round === runs.length)?.sha;
    // The last two rounds are the re-runs: the culprit and its parent, once each.
    for (const run of runs.slice(-2)) expect((JSON.parse(run.inputs.commits!) as string[]).sort()).toEqual([repo.culprit, parent].sort());
    expect(answer(repo)).toContain("| Re-runs | ✅ confirmed: failed 2 of 2, its parent passed 2 of 2 |");
    // The search's rounds were not changed by the re-runs: it still named the culprit first.
    expect(runs.length - 2).toBeLessThanOrEqual(roundBound(39, 3) + 1);
  });
});
