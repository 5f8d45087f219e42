/**
 * The whole loop, offline: a `/bisect` comment → the App → a workflow run that the GitHub double
 * really runs (it clones the repository and runs the bundled Action, `action/dist/index.js`) →
 * the result artifact and `workflow_run` webhooks → the App's answer on the thread. Repositories
 * hold a real regression among a few hundred commits with merges (test/support/regression-repo.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobRow } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, WEBHOOK_SECRET, startHarness, type Harness } from "../support/app-harness.js";
import { removeDir } from "../support/dag-repo.js";
import { dispatchedKnown } from "../support/dispatched-known.js";
import { makeRegressionRepo, type RegressionRepo } from "../support/regression-repo.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

let h: Harness;
const repos: { name: string; id: number; repo: RegressionRepo }[] = [];

async function addRepo(name: string, id: number, culpritIn: "branch" | "mainline" | "merge") {
  const repo = await makeRegressionRepo({ culpritIn, mainline: 120 });
  h.double.addRepository({ owner: OWNER, name, id, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  h.double.setPermission(`${OWNER}/${name}`, "maintainer", "write");
  repos.push({ name, id, repo });
  return repo;
}

beforeAll(async () => {
  h = await startHarness({ env: { RUN_CHECK_SECONDS: "1", MAX_CONCURRENT_JOBS: "20" } });
  h.double.runner.options = { webhookUrl: `${h.server.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET };
}, 60_000);
afterAll(async () => {
  await h?.close();
  for (const r of repos) await removeDir(r.repo.dir);
});

/** Comments on `repo`, then drives the worker loop until the job ends. */
async function bisect(name: string, id: number, body: string, issueNumber = 1): Promise<JobRow> {
  expect((await h.comment(body, { repo: name, repositoryId: id, issueNumber })).status).toBe(200);
  return finish(id, issueNumber);
}

async function finish(id: number, issueNumber: number): Promise<JobRow> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await h.settle();
    const job = await h.store.call("latestJob", { repositoryId: id, issueNumber });
    if (job && TERMINAL.has(job.state)) {
      await h.double.runner.idle();
      await h.settle();
      return (await h.store.call("getJob", { jobId: job.id }))!;
    }
    if (Date.now() > deadline) throw new Error(`job of ${id}#${issueNumber} did not end: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const answer = (name: string, issueNumber = 1) =>
  h.double
    .comments(`${OWNER}/${name}`, issueNumber)
    .filter((c) => c.user.endsWith("[bot]"))
    .at(-1)?.body ?? "";

describe("end to end", () => {
  it("finds a culprit inside a merged feature branch", async () => {
    const repo = await addRepo("calc", 9001, "branch");
    const job = await bisect("calc", 9001, "/bisect v1.0..main -- sh test.sh");
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit.sha, attempts: 1 });
    expect(answer("calc")).toContain(`${repo.culprit.sha.slice(0, 7)}\`](`);
    expect(answer("calc")).toContain("is the first bad commit");
    expect(h.double.runs.filter((r) => r.inputs.job_id === String(job.id))).toHaveLength(1);
  });

  it("finds a culprit that is a merge, with --parallel 3", async () => {
    const repo = await addRepo("calc-merge", 9002, "merge");
    const job = await bisect("calc-merge", 9002, "/bisect v1.0..main --parallel 3 -- sh test.sh");
    expect(job).toMatchObject({ state: "succeeded", culprit_sha: repo.culprit.sha });
    expect(answer("calc-merge")).toMatch(/merge/i);
  });

  it("finds the culprit of a flaky test with --flaky, and says how sure it is", async () => {
    const repo = await addRepo("calc-flaky", 9003, "mainline");
    // Fails about 1 run in 10 even where nothing is broken.
    const job = await bisect("calc-flaky", 9003, '/bisect v1.0..main --flaky -- sh test.sh && [ "$(od -An -N1 -tu1 /dev/urandom)" -gt 25 ]');
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit.sha });
    expect(job.confidence).toBeGreaterThanOrEqual(0.99);
    expect(answer("calc-flaky")).toMatch(/Confidence/);
  });

  it("a command that is not found ends with a clear error, not a culprit", async () => {
    await addRepo("calc-typo", 9004, "branch");
    const job = await bisect("calc-typo", 9004, "/bisect v1.0..main -- no-such-test-runner --all");
    expect(job.state).toBe("failed");
    expect(job.culprit_sha).toBeNull();
    expect(answer("calc-typo")).toContain("no-such-test-runner");
  });

  it("with every workflow_run webhook dropped, the reconciler ends the job", async () => {
    const repo = await addRepo("calc-quiet", 9005, "branch");
    h.double.runner.faults = { dropWebhooks: { workflow_run: true } };
    try {
      const job = await bisect("calc-quiet", 9005, "/bisect v1.0..main -- sh test.sh");
      expect(job).toMatchObject({ state: "succeeded", culprit_sha: repo.culprit.sha });
      expect(h.double.runner.deliveries.filter((d) => d.event === "workflow_run" && d.runId === job.run_id && !d.dropped)).toEqual([]);
    } finally {
      h.double.runner.faults = {};
    }
  });

  it("a redelivery storm during the run (comments and run events, duplicated and reordered) makes one job and one run", async () => {
    const repo = await addRepo("calc-storm", 9006, "branch");
    h.double.runner.faults = { duplicateWebhooks: true, reorderWebhooks: true };
    try {
      const deliveryId = "storm-delivery";
      const commentId = 3_900_000_001;
      const send = () => h.comment("/bisect v1.0..main -- sh test.sh", { repo: "calc-storm", repositoryId: 9006, issueNumber: 1, deliveryId, commentId });
      expect((await send()).status).toBe(200);
      await h.settle();
      const storm = await Promise.all(Array.from({ length: 20 }, send));
      expect(storm.every((r) => r.status === 200)).toBe(true);
      const job = await finish(9006, 1);
      expect(job).toMatchObject({ state: "succeeded", culprit_sha: repo.culprit.sha });
      expect(h.double.runs.filter((r) => r.inputs.job_id === String(job.id))).toHaveLength(1);
      const { rows } = await h.db.client.query<{ n: number }>("select count(*)::int as n from public.bisect_jobs where repository_id = 9006");
      expect(rows[0]!.n).toBe(1);
      expect(h.double.comments(`${OWNER}/calc-storm`, 1).filter((c) => c.user.endsWith("[bot]"))).toHaveLength(1);
    } finally {
      h.double.runner.faults = {};
    }
  });

  it("a run GitHub loses is dispatched again, and the job still ends with the culprit", async () => {
    const repo = await addRepo("calc-lost", 9007, "branch");
    h.double.runner.faults = { failRun: true };
    expect((await h.comment("/bisect v1.0..main -- sh test.sh", { repo: "calc-lost", repositoryId: 9007, issueNumber: 1 })).status).toBe(200);
    // The first run is lost; then the runner behaves.
    for (let i = 0; i < 100 && !h.double.runs.some((r) => r.repository === `${OWNER}/calc-lost` && r.conclusion === "failure"); i++) {
      await h.settle();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    h.double.runner.faults = {};
    await h.double.runner.idle();
    await h.settle();
    const queued = (await h.store.call("latestJob", { repositoryId: 9007, issueNumber: 1 }))!;
    expect(queued).toMatchObject({ state: "queued", attempts: 1 });
    await h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${queued.id}`);
    const job = await finish(9007, 1);
    expect(job).toMatchObject({ state: "succeeded", culprit_sha: repo.culprit.sha, attempts: 2 });
    expect(h.double.runs.filter((r) => r.inputs.job_id === String(job.id))).toHaveLength(2);
    expect(h.double.violations).toEqual([]);
  });
});

describe("resuming", () => {
  it("a run GitHub cancels mid-way leaves its verdicts; the next attempt resumes from them and retests none", async () => {
    const repo = await addRepo("calc-resume", 9008, "mainline");
    // Each test takes a moment, so several verdicts are in when GitHub cancels the run.
    h.double.runner.faults = { cancelRun: true, cancelAfterMs: 1500 };
    expect((await h.comment("/bisect v1.0..main -- sleep 0.3; sh test.sh", { repo: "calc-resume", repositoryId: 9008, issueNumber: 1 })).status).toBe(200);
    for (let i = 0; i < 200 && !h.double.runs.some((r) => r.repository === `${OWNER}/calc-resume` && r.conclusion === "cancelled"); i++) {
      await h.settle();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    h.double.runner.faults = {};
    await h.double.runner.idle();
    await h.settle();
    const interrupted = (await h.store.call("latestJob", { repositoryId: 9008, issueNumber: 1 }))!;
    expect(interrupted).toMatchObject({ state: "queued", attempts: 1 });
    const first = await h.store.call("jobProbes", { jobId: interrupted.id });
    expect(first.length).toBeGreaterThan(0);

    await h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${interrupted.id}`);
    const job = await finish(9008, 1);
    expect(job).toMatchObject({ state: "succeeded", culprit_sha: repo.culprit.sha, attempts: 2 });
    const known = dispatchedKnown(h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id)).at(-1)!.inputs.options!);
    expect(known.map((k) => k.sha).sort()).toEqual([...new Set(first.map((p) => p.sha))].sort());
    const second = (await h.store.call("jobProbes", { jobId: job.id })).filter((p) => p.attempt === 2);
    expect(second.filter((p) => first.some((f) => f.sha === p.sha))).toEqual([]);
    expect(h.double.violations).toEqual([]);
  });
});
