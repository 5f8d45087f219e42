/**
 * Automatic bisects, end to end and offline, on real PostgreSQL: a listed CI workflow's run goes
 * red on the default branch after a green one → its `workflow_run` webhook → the App bisects last
 * green..first red without being asked (the GitHub double really runs the bisect workflow and the
 * bundled Action) → one issue labelled `bisect` naming the planted culprit, and a comment on the
 * culprit's pull request. Redeliveries, re-runs and a second red workflow on the same push make
 * nothing more; red after red makes nothing; what CI runs already said is never tested again.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobRow } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, WEBHOOK_SECRET, runToEnd, startHarness, type Harness } from "../support/app-harness.js";
import { removeDir, tempDir } from "../support/dag-repo.js";
import type { WorkflowRunRecord } from "../support/github-double/index.js";
import { linearRepo } from "../support/linear-repo.js";
import { workflowRunPayload } from "../support/run-webhooks.js";
import { deliver } from "../support/webhooks.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const N = 40;
const CULPRIT = 23;
const PR = 77;

let h: Harness;
const dirs: string[] = [];
let nextId = 9300;

beforeAll(async () => {
  h = await startHarness({ backend: "postgres", env: { RUN_CHECK_SECONDS: "1", MAX_CONCURRENT_JOBS: "20" } });
  h.double.runner.options = { webhookUrl: `${h.server.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET, concurrency: 4 };
  h.double.addUser("author@example.com", "mona");
}, 180_000);
afterAll(async () => {
  await h?.close();
  for (const dir of dirs) await removeDir(dir);
});

interface Repo {
  name: string;
  id: number;
  full: string;
  sha: (i: number) => string;
}

/**
 * A linear history c0 … c{N-1}: the bisect workflow, two CI workflows and `.github/bisect.yml`
 * (`config`) at c0; from c<CULPRIT> on `sh check.sh` fails. The culprit came in pull request #77.
 */
async function repository(config = "auto:\n  workflows: [ci.yml, lint.yml]\n  command: sh check.sh\n"): Promise<Repo> {
  const workflow = await readFile(path.join(ROOT, ".github/workflows/bisect.yml"), "utf8");
  const parent = await tempDir("auto-bisect");
  dirs.push(parent);
  const ci = (name: string) => `name: ${name}\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sh check.sh\n`;
  const repo = await linearRepo(parent, N, CULPRIT, (i) =>
    i === 0
      ? {
          ".github/workflows/bisect.yml": workflow,
          ".github/workflows/ci.yml": ci("CI"),
          ".github/workflows/lint.yml": ci("Lint"),
          ".github/bisect.yml": config,
        }
      : {},
  );
  const id = nextId++;
  const name = `auto-${id}`;
  const full = `${OWNER}/${name}`;
  h.double.addRepository({ owner: OWNER, name, id, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  h.double.setPermission(full, "maintainer", "write");
  const sha = (i: number) => repo.shas.get(`c${i}`)!;
  h.double.addPullRequest(full, { number: PR, baseRef: "main", headRef: sha(CULPRIT), mergeCommitSha: sha(CULPRIT), title: "Add the bug" });
  return { name, id, full, sha };
}

/** Sends the run's `workflow_run.completed` webhook, as GitHub does (`deliveryId`: a redelivery keeps its guid). */
async function completed(repo: Repo, run: WorkflowRunRecord, deliveryId = randomUUID()): Promise<void> {
  const payload = workflowRunPayload(run, "completed", INSTALLATION_ID, { id: repo.id, owner: OWNER, name: repo.name }, { url: h.double.url });
  const answer = await deliver(`${h.server.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "workflow_run", id: deliveryId, payload });
  expect(answer.status).toBe(200);
}

const autoJobs = async (repo: Repo): Promise<JobRow[]> => {
  const { rows } = await h.db.client.query<{ id: string }>("select id from public.bisect_jobs where repository_id = $1 order by id", [repo.id]);
  return Promise.all(rows.map(async (r) => (await h.store.call("getJob", { jobId: Number(r.id) }))!));
};

const ACTIVE = new Set(["queued", "dispatching", "dispatched", "running"]);

/** Drives the worker until nothing is left to do for the repository: its jobs ended, its tasks done. */
async function settleRepo(repo: Repo, timeoutMs = 170_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await h.settle();
    await h.double.runner.idle();
    const jobs = await autoJobs(repo);
    const { rows } = await h.db.client.query<{ n: string }>("select count(*) as n from public.bisect_tasks where repository_id = $1 and state = 'pending'", [
      repo.id,
    ]);
    if (jobs.every((j) => !ACTIVE.has(j.state)) && Number(rows[0]!.n) === 0) return;
    // A report waits for its job's answer: due again now.
    await h.db.client.query("update public.bisect_tasks set run_at = now() where repository_id = $1 and state = 'pending'", [repo.id]);
    if (Date.now() > deadline) throw new Error(`${repo.full} did not settle: ${JSON.stringify(jobs.map((j) => [j.id, j.state]))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A green run of ci.yml at c<green>, then a red one at the head: answers the red run. */
function greenThenRed(repo: Repo, green = 10): WorkflowRunRecord {
  h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(green), conclusion: "success" });
  return h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
}

const issues = (repo: Repo) => h.double.issues(repo.full);
const prComments = (repo: Repo) => h.double.comments(repo.full, PR).filter((c) => c.user.endsWith("[bot]"));
/** The repository's bisect workflow runs. */
const bisectRuns = (repo: Repo) => h.double.runs.filter((r) => r.repository === repo.full && r.workflow === "bisect.yml");

describe("a listed workflow goes red on the default branch after a green run", () => {
  it("bisects last green..first red once and opens one issue naming the culprit, its author and pull request, and tells the pull request", async () => {
    const repo = await repository();
    const red = greenThenRed(repo);
    await completed(repo, red);
    await settleRepo(repo);

    const [job, ...more] = await autoJobs(repo);
    expect(more).toEqual([]);
    expect(job).toMatchObject({
      origin: "auto",
      state: "succeeded",
      verdict: "culprit",
      culprit_sha: repo.sha(CULPRIT),
      good_shas: [repo.sha(10)],
      bad_sha: repo.sha(N - 1),
    });
    expect(job!.red_run).toMatchObject({ id: red.id, workflow: "ci.yml", number: red.runNumber });
    // An automatic answer is checked before anyone is blamed: the culprit and its parent re-ran once.
    expect(job!.options.confirm).toBe(1);

    const [issue, ...otherIssues] = issues(repo);
    expect(otherIssues).toEqual([]);
    expect(issue!.labels).toEqual(["bisect"]);
    expect(issue!.user).toBe("bisect-bot[bot]");
    expect(issue!.title).toBe(`ci.yml broke on main: ${repo.sha(CULPRIT).slice(0, 7)} "c${CULPRIT}"`);
    expect(issue!.body).toContain(repo.sha(CULPRIT).slice(0, 7));
    expect(issue!.body).toContain("@mona");
    expect(issue!.body).toContain(`#${PR}`);
    expect(issue!.body).toContain(`/actions/runs/${red.id}`);
    expect(issue!.body).toMatch(/Re-runs.*confirmed/);
    expect(issue!.body).toContain("Started automatically");
    // The job's thread is the issue now: /bisect status and retry work there.
    expect(job!.issue_number).toBe(issue!.number);
    expect(await h.store.call("latestJob", { repositoryId: repo.id, issueNumber: issue!.number })).toMatchObject({ id: job!.id });

    const [told, ...toldAgain] = prComments(repo);
    expect(toldAgain).toEqual([]);
    expect(told!.body).toContain(`#${issue!.number}`);
    expect(told!.body).toContain(repo.sha(CULPRIT).slice(0, 7));
    // Nothing else was written anywhere: no status comment on any thread.
    expect(h.double.comments(repo.full).filter((c) => c.user.endsWith("[bot]"))).toHaveLength(1);
    expect(bisectRuns(repo)).toHaveLength(1);

    // Later: the webhook redelivered, the red run re-run and failing again, and the other listed
    // workflow failing on the same push: nothing new.
    await completed(repo, red);
    h.double.completeRun(red.id, { conclusion: "failure", runAttempt: 2 });
    await completed(repo, red);
    h.double.addCiRun(repo.full, { workflow: "lint.yml", headSha: repo.sha(10), conclusion: "success" });
    const lint = h.double.addCiRun(repo.full, { workflow: "lint.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    await completed(repo, lint);
    await settleRepo(repo);
    expect((await autoJobs(repo)).map((j) => j.id)).toEqual([job!.id]);
    expect(issues(repo)).toHaveLength(1);
    expect(prComments(repo)).toHaveLength(1);
    expect(bisectRuns(repo)).toHaveLength(1);
    const { rows: decided } = await h.db.client.query<{ workflow: string; outcome: string; job_id: string }>(
      "select workflow, outcome, job_id from public.bisect_auto_triggers where repository_id = $1 order by workflow",
      [repo.id],
    );
    expect(decided.map((d) => [d.workflow, d.outcome, Number(d.job_id)])).toEqual([
      [".github/workflows/ci.yml", "created", job!.id],
      [".github/workflows/lint.yml", "joined", job!.id],
    ]);
  }, 240_000);

  it("a report whose worker died after opening the issue, or after telling the pull request, opens and tells nothing twice", async () => {
    const repo = await repository();
    await completed(repo, greenThenRed(repo));
    await settleRepo(repo);
    const [job] = await autoJobs(repo);
    const issue = issues(repo)[0]!.number;
    expect(job!.issue_number).toBe(issue);
    // As if the worker died after the issue was opened, before it was recorded (and the pull request told):
    // the task's lease expired, and its next try is its second.
    await h.db.client.query("update public.bisect_jobs set issue_number = null where id = $1", [job!.id]);
    await h.db.client.query(
      "update public.bisect_tasks set state = 'pending', attempts = 1, finished_at = null, run_at = now() where kind = 'report' and job_id = $1",
      [job!.id],
    );
    await settleRepo(repo);
    expect(issues(repo).map((i) => i.number)).toEqual([issue]);
    expect(prComments(repo)).toHaveLength(1);
    expect((await h.store.call("getJob", { jobId: job!.id }))!.issue_number).toBe(issue);
  }, 240_000);

  it("two workflows failing on the same push at once make one bisect and one issue", async () => {
    const repo = await repository();
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(5), conclusion: "success" });
    h.double.addCiRun(repo.full, { workflow: "lint.yml", headSha: repo.sha(5), conclusion: "success" });
    const ci = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    const lint = h.double.addCiRun(repo.full, { workflow: "lint.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    // Both webhooks (and a redelivery of one) land before any worker looks.
    const delivery = randomUUID();
    await Promise.all([completed(repo, ci, delivery), completed(repo, lint), completed(repo, ci, delivery)]);
    await settleRepo(repo);
    const jobs = await autoJobs(repo);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ culprit_sha: repo.sha(CULPRIT) });
    expect(issues(repo)).toHaveLength(1);
    expect(prComments(repo)).toHaveLength(1);
  }, 240_000);

  it("red after red starts nothing; nor does a red run of a workflow not listed, of another branch, or when it passed before on the same commit", async () => {
    const repo = await repository();
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(10), conclusion: "success" });
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(30), conclusion: "failure" });
    const again = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    await completed(repo, again);
    const other = h.double.addCiRun(repo.full, { workflow: "bisect.yml", headSha: repo.sha(N - 1), conclusion: "failure", event: "push" });
    await completed(repo, other);
    const branch = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure", branch: "feature" });
    await completed(repo, branch);
    await settleRepo(repo);
    expect(await autoJobs(repo)).toEqual([]);
    expect(issues(repo)).toEqual([]);
    const { rows } = await h.db.client.query<{ outcome: string }>(
      "select outcome from public.bisect_tasks where repository_id = $1 and kind = 'red-run' order by id",
      [repo.id],
    );
    // The other branch's run never became a task (the webhook handler knows the default branch).
    expect(rows.map((r) => r.outcome)).toEqual(["ignored: the run before it (#2) failed too", "ignored: bisect.yml is not listed under auto"]);
  }, 60_000);

  it("uses what completed runs said of the range's commits (merge queue runs, a later run of an old commit) and never tests those commits", async () => {
    const repo = await repository();
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(0), conclusion: "success" });
    const red = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    // The merge queue tested some of the range's commits (the queue moved main to each); a run of
    // c20 was dispatched by hand later; c12 both passed and failed (flaky: no verdict).
    const known = new Map<number, "success" | "failure">([
      [4, "success"],
      [12, "success"],
      [18, "success"],
      [26, "failure"],
      [33, "failure"],
    ]);
    for (const [i, conclusion] of known)
      h.double.addCiRun(repo.full, {
        workflow: "ci.yml",
        headSha: repo.sha(i),
        conclusion,
        event: "merge_group",
        branch: `gh-readonly-queue/main/pr-${i}-${repo.sha(i - 1)}`,
      });
    h.double.addCiRun(repo.full, {
      workflow: "ci.yml",
      headSha: repo.sha(12),
      conclusion: "failure",
      event: "merge_group",
      branch: `gh-readonly-queue/main/pr-12b-${repo.sha(11)}`,
    });
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(20), conclusion: "success", event: "workflow_dispatch" });
    // Runs that say nothing: cancelled, and another branch's.
    h.double.addCiRun(repo.full, {
      workflow: "ci.yml",
      headSha: repo.sha(22),
      conclusion: "cancelled",
      event: "merge_group",
      branch: `gh-readonly-queue/main/pr-22-${repo.sha(21)}`,
    });
    h.double.addCiRun(repo.full, {
      workflow: "ci.yml",
      headSha: repo.sha(24),
      conclusion: "success",
      event: "merge_group",
      branch: `gh-readonly-queue/release/pr-24-${repo.sha(23)}`,
    });
    await completed(repo, red);
    await settleRepo(repo);

    const [job] = await autoJobs(repo);
    expect(job).toMatchObject({ verdict: "culprit", culprit_sha: repo.sha(CULPRIT) });
    const free = new Map(job!.free_verdicts.map((f) => [f.sha, f.verdict]));
    expect(free).toEqual(
      new Map([
        [repo.sha(4), "good"],
        [repo.sha(18), "good"],
        [repo.sha(20), "good"],
        [repo.sha(26), "bad"],
        [repo.sha(33), "bad"],
      ]),
    );
    const tested = new Set((await h.store.call("jobProbes", { jobId: job!.id })).map((p) => p.sha));
    for (const sha of free.keys()) expect(tested.has(sha), `${sha} was known and tested again`).toBe(false);
    // Between c20 (good) and c26 (bad): a handful of tests, plus the confirmation's.
    expect([...tested].every((sha) => [21, 22, 23, 24, 25].some((i) => repo.sha(i) === sha) || sha === repo.sha(CULPRIT - 1))).toBe(true);
    expect(issues(repo)[0]!.body).toMatch(/Known from CI.*5 commits.*3 passed, 2 failed/);
  }, 240_000);

  it("keeps to max_auto_bisects_per_day: a red run past it starts nothing, and says why in the record", async () => {
    const repo = await repository("max_auto_bisects_per_day: 0\nauto: {workflows: [ci.yml], command: sh check.sh}\n");
    const red = greenThenRed(repo);
    await completed(repo, red);
    await settleRepo(repo);
    expect(await autoJobs(repo)).toEqual([]);
    expect(issues(repo)).toEqual([]);
    const { rows } = await h.db.client.query<{ outcome: string }>("select outcome from public.bisect_auto_triggers where repository_id = $1", [repo.id]);
    expect(rows).toEqual([{ outcome: "over budget" }]);
  }, 60_000);

  it("says nothing when the red head passes the test (a flaky CI failure), and records it", async () => {
    const repo = await repository("auto: {workflows: [ci.yml], command: 'true'}\n");
    const red = greenThenRed(repo);
    await completed(repo, red);
    await settleRepo(repo);
    const [job] = await autoJobs(repo);
    // The search ends on the range's first commit (the ends are taken as given, as git bisect
    // does); re-running it (--confirm 1, an automatic bisect's default) shows it passes: a flake.
    expect(job).toMatchObject({ state: "succeeded", reason: "flake", issue_number: null });
    expect(issues(repo)).toEqual([]);
    expect(h.double.comments(repo.full).filter((c) => c.user.endsWith("[bot]"))).toEqual([]);
  }, 120_000);
});

describe("/bisect <URL of a failed run>", () => {
  const runUrl = (repo: Repo, run: WorkflowRunRecord) => `${h.double.url}/${repo.full}/actions/runs/${run.id}`;
  /** Comments on issue 5 of the repository and drives the worker until the thread has its answer. */
  async function ask(repo: Repo, body: string): Promise<{ job: JobRow | undefined; replies: string[] }> {
    expect((await h.comment(body, { repo: repo.name, repositoryId: repo.id, issueNumber: 5 })).status).toBe(200);
    await settleRepo(repo);
    const job = await h.store.call("latestJob", { repositoryId: repo.id, issueNumber: 5 });
    if (job) await runToEnd(h, { repositoryId: repo.id, issueNumber: 5 }, { timeoutMs: 120_000 });
    const replies = h.double
      .comments(repo.full, 5)
      .filter((c) => c.user.endsWith("[bot]"))
      .map((c) => c.body);
    return { job: job ? await h.store.call("getJob", { jobId: job.id }) : undefined, replies };
  }

  it("bisects the run before it (green)..its head on this thread, with the config's auto command and the free verdicts", async () => {
    // No auto section's workflows matter here: the command comes from it, as the run's.
    const repo = await repository("auto: {workflows: [lint.yml], command: sh check.sh}\n");
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(10), conclusion: "success" });
    h.double.addCiRun(repo.full, {
      workflow: "ci.yml",
      headSha: repo.sha(30),
      conclusion: "failure",
      event: "merge_group",
      branch: `gh-readonly-queue/main/pr-9-${repo.sha(29)}`,
    });
    const red = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    const { job, replies } = await ask(repo, `/bisect ${runUrl(repo, red)}/attempts/1`);
    expect(job).toMatchObject({
      origin: "comment",
      issue_number: 5,
      good_shas: [repo.sha(10)],
      bad_sha: repo.sha(N - 1),
      command: "sh check.sh",
      culprit_sha: repo.sha(CULPRIT),
    });
    expect(job!.free_verdicts).toEqual([{ sha: repo.sha(30), verdict: "bad", runId: expect.any(Number) as number }]);
    // One status comment, edited into the answer: the failing run and the free verdict are in it.
    expect(replies).toHaveLength(1);
    expect(replies[0]).toContain(`/actions/runs/${red.id}`);
    expect(replies[0]).toMatch(/Known from CI.*1 commit/);
    expect(issues(repo)).toEqual([]);
  }, 180_000);

  it.each([
    ["a run that passed", "success", "main", /did not fail \(it concluded `success`\)/],
    ["a run of another branch", "failure", "feature", /is a `push` run of `feature`, not of the default branch `main`/],
  ])(
    "refuses %s with a clear reply, and starts nothing",
    async (_what, conclusion, branch, message) => {
      const repo = await repository();
      h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(10), conclusion: "success" });
      const run = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: conclusion as "success" | "failure", branch });
      const { job, replies } = await ask(repo, `/bisect ${runUrl(repo, run)}`);
      expect(job).toBeUndefined();
      expect(replies).toHaveLength(1);
      expect(replies[0]).toMatch(message);
      expect(bisectRuns(repo)).toEqual([]);
    },
    60_000,
  );

  it("refuses a run after a red one, a run of another repository and a run that does not exist, each saying what to do", async () => {
    const repo = await repository();
    h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(10), conclusion: "failure" });
    const red = h.double.addCiRun(repo.full, { workflow: "ci.yml", headSha: repo.sha(N - 1), conclusion: "failure" });
    expect((await ask(repo, `/bisect ${runUrl(repo, red)}`)).replies.at(-1)).toMatch(/The run before .* failed too, so the breakage came earlier/);
    expect((await ask(repo, `/bisect https://github.com/someone/else/actions/runs/${red.id}`)).replies.at(-1)).toContain(
      "That run belongs to `someone/else`; I can only bisect runs of",
    );
    expect((await ask(repo, `/bisect ${h.double.url}/${repo.full}/actions/runs/999999`)).replies.at(-1)).toContain("I found no workflow run 999999");
    expect(await h.store.call("latestJob", { repositoryId: repo.id, issueNumber: 5 })).toBeUndefined();
  }, 60_000);
});
