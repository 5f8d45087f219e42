/**
 * Long jobs and re-runs, end to end through the App: signed webhooks in, the OpenAPI-checked
 * GitHub double out, a real PostgreSQL.
 *
 * §6 test 16, a bisect that outlives its installation token. GitHub's installation tokens live one
 * hour; Probot's Octokit keeps each in a cache for 59 minutes (by its own clock, whatever the
 * token's `expires_at` says) and asks for a new one after. A short token lifetime in the double
 * would not model that (the cache would keep an expired token), so the hour passes on a fake clock
 * instead: only `Date` is faked, and it is read by the App, Probot's token cache, the double's
 * token expiry and PGlite's `now()`; timers, sockets and a PostgreSQL server keep real time. Each
 * look the reconciler takes is made due by moving the job's `next_check_at` to now.
 *
 * §6 test 13, `workflow_run` events of a re-run, late, twice or out of order: the App notes them
 * per `run_attempt`. A re-run keeps the run id; GitHub lists a run's artifacts over all its
 * attempts, and a re-run's upload of the same name replaces the earlier one only with
 * upload-artifact's `overwrite: true`, which bisect.yml sets.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import type { JobRow } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, startHarness, type Harness } from "../support/app-harness.js";
import { BLOB_ROUTE, type WorkflowRunRecord } from "../support/github-double/index.js";
import { TOKEN_ROUTE } from "../support/github-double/server.js";
import { stopTestPostgres } from "../support/postgres.js";
import { workflowRunPayload } from "../support/run-webhooks.js";
import { deliver } from "../support/webhooks.js";
import { resultZip } from "../support/zip.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const GET_RUN = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
const LIST_ARTIFACTS = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts";
/** A maintainer who expects a long bisect gives it up to 6 hours (the default is 30 min). */
const LONG_BISECT = "/bisect v1.0..main --timeout 6h -- npm test";

let issue = 0;
afterAll(() => stopTestPostgres());

/** A /bisect comment on a new issue, taken and dispatched. */
async function dispatched(h: Harness, body = "/bisect v1.0..main -- npm test"): Promise<JobRow> {
  issue++;
  expect((await h.comment(body, { issueNumber: issue })).status).toBe(200);
  await h.settle();
  const job = (await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue }))!;
  expect(job.state).toBe("dispatched");
  return job;
}

const jobNow = async (h: Harness, job: JobRow) => (await h.store.call("getJob", { jobId: job.id }))!;
const runOf = (h: Harness, job: JobRow): WorkflowRunRecord => h.double.runs.filter((r) => r.inputs.job_id === String(job.id)).at(-1)!;
/** Requests to a route, optionally about one run only. */
const requestsTo = (h: Harness, route: string, run?: WorkflowRunRecord) =>
  h.double.requests.filter((r) => r.route === route && (!run || new RegExp(`/actions/runs/${run.id}(/|$)`).test(r.path)));
const dispatchesOf = (h: Harness, job: JobRow) => h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id) && d.status < 300);

/** The culprit-found result the Action leaves for this job. */
function culpritResult(h: Harness, job: JobRow): Buffer {
  const culprit = h.repo.sha.c7!;
  return resultZip(String(job.id), {
    schema: 1,
    jobId: String(job.id),
    verdict: "culprit",
    culprit: { sha: culprit, confidence: 1 },
    candidates: [culprit],
    range: { good: job.good_shas, bad: job.bad_sha, size: 15 },
    probes: [
      { sha: h.repo.sha.c6, verdict: "good", exitCode: 0, durationMs: 1200, round: 1 },
      { sha: culprit, verdict: "bad", exitCode: 1, durationMs: 1300, round: 2 },
    ],
    tested: 2,
    rounds: 2,
  });
}

/** What an attempt that stopped part-way leaves: the verdicts so far, `interrupted`. */
function interruptedResult(h: Harness, job: JobRow): Buffer {
  return resultZip(String(job.id), {
    schema: 1,
    jobId: String(job.id),
    verdict: "interrupted",
    reason: "stopped",
    candidates: [],
    range: { good: job.good_shas, bad: job.bad_sha, size: 15 },
    probes: [{ sha: h.repo.sha.c6, verdict: "good", exitCode: 0, durationMs: 1200, round: 1 }],
    tested: 1,
    rounds: 1,
    error: "the runner lost its connection",
  });
}

/** The `workflow_run` delivery GitHub makes at this moment of the run (its attempt, status, conclusion): deliver it now or later. */
function runEvent(h: Harness, run: WorkflowRunRecord, action: "in_progress" | "completed"): Record<string, unknown> {
  return workflowRunPayload(run, action, INSTALLATION_ID, { id: REPOSITORY_ID, owner: OWNER, name: REPO }, { url: h.double.url });
}

async function send(h: Harness, payload: Record<string, unknown>, deliveryId?: string): Promise<void> {
  const delivery = { event: "workflow_run", payload, ...(deliveryId ? { id: deliveryId } : {}) };
  expect((await deliver(`${h.server.url}/api/github/webhooks`, WEBHOOK_SECRET, delivery)).status).toBe(200);
}

describe.each(["postgres", "pglite"] as const)("§6 16: a bisect that outlives its installation token (%s)", (backend) => {
  let h: Harness;
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    h = await startHarness({ backend });
  });
  afterAll(async () => {
    await h?.close();
    vi.useRealTimers();
  });
  afterEach(() => {
    expect(h.double.violations).toEqual([]);
  });

  /** Installation tokens the double has minted for the App. */
  const tokensMinted = () => requestsTo(h, TOKEN_ROUTE);
  /** Answers GitHub gave since request `since` that would reach a job as a failure to follow its run. */
  const unauthorized = (since: number) =>
    h.double.requests
      .slice(since)
      .filter((r) => r.status === 401)
      .map((r) => r.route);

  /** The reconciler's next look at a quiet run is due now. */
  const lookDue = (job: JobRow) => h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${job.id}`);

  /** The installation token the App would send now (from Probot's cache while it holds one). */
  async function appToken(): Promise<string> {
    const octokit = await h.server.app.probot!.auth(INSTALLATION_ID);
    return z.object({ token: z.string() }).parse(await octokit.auth({ type: "installation" })).token;
  }

  it("is followed for 3 hours: the looks at 1 h and 2 h and reading its result at 3 h each get a new token; no 401, one result comment", async () => {
    const since = h.double.requests.length;
    const job = await dispatched(h, LONG_BISECT);
    const run = runOf(h, job);
    const dispatchToken = await appToken();
    const minted = tokensMinted().length;
    // The run starts; every webhook about it is lost until it completes.
    h.double.startRun(run.id);

    vi.setSystemTime(Date.now() + HOUR + MINUTE);
    await lookDue(job);
    await h.settle();
    // The look went through the API: GitHub said the run is in progress.
    expect(await jobNow(h, job)).toMatchObject({ state: "running", failed_checks: 0, error: null });
    expect(tokensMinted()).toHaveLength(minted + 1);

    vi.setSystemTime(Date.now() + HOUR + MINUTE);
    await lookDue(job);
    await h.settle();
    expect(await jobNow(h, job)).toMatchObject({ state: "running", failed_checks: 0, error: null });
    expect(requestsTo(h, GET_RUN, run).map((r) => r.status)).toEqual([200, 200]);
    expect(tokensMinted()).toHaveLength(minted + 2);

    h.double.completeRun(run.id, { conclusion: "success", artifact: { zip: culpritResult(h, job), overwrite: true } });
    vi.setSystemTime(Date.now() + HOUR + MINUTE);
    await send(h, runEvent(h, run, "completed"));
    await h.settle();

    expect(await jobNow(h, job)).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: h.repo.sha.c7, attempts: 1, failed_checks: 0 });
    const [comment, ...more] = h.appComments(issue);
    expect(more).toEqual([]);
    expect(comment!.body).toContain("is the first bad commit");
    expect(requestsTo(h, BLOB_ROUTE)).toHaveLength(1);
    expect(dispatchesOf(h, job)).toHaveLength(1);
    expect(tokensMinted()).toHaveLength(minted + 3);
    expect(unauthorized(since)).toEqual([]);
    // Not vacuous: the token the dispatch used is refused by now.
    const stale = await fetch(`${h.double.url}/api/v3/repos/${OWNER}/${REPO}/actions/runs/${run.id}`, { headers: { authorization: `token ${dispatchToken}` } });
    expect(stale.status).toBe(401);
  });

  it("a token is reused while it lives (58 min) and replaced at 59 min 30 s, before GitHub's hour ends: no call carries an expired token", async () => {
    const since = h.double.requests.length;
    const job = await dispatched(h, LONG_BISECT);
    h.double.startRun(runOf(h, job).id);
    const minted = tokensMinted();
    const mintedAt = minted.at(-1)!.at;

    vi.setSystemTime(mintedAt + 58 * MINUTE);
    await lookDue(job);
    await h.settle();
    expect(await jobNow(h, job)).toMatchObject({ state: "running", failed_checks: 0 });
    expect(tokensMinted()).toHaveLength(minted.length);

    vi.setSystemTime(mintedAt + 59.5 * MINUTE);
    await lookDue(job);
    await h.settle();
    expect(await jobNow(h, job)).toMatchObject({ state: "running", failed_checks: 0, error: null });
    expect(tokensMinted()).toHaveLength(minted.length + 1);
    expect(requestsTo(h, GET_RUN, runOf(h, job)).map((r) => r.status)).toEqual([200, 200]);
    expect(unauthorized(since)).toEqual([]);
  });
});

describe("§6 13: workflow_run events of a re-run, late, twice or out of order, tracked per run_attempt", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ backend: "postgres" });
  });
  afterAll(() => h?.close());
  afterEach(() => {
    expect(h.double.violations).toEqual([]);
  });

  /** The job ended with attempt 2's result: one run, one attempt of the job, one result comment, the artifact read once. */
  async function endedWithTheRerunsResult(job: JobRow, downloadsBefore: number) {
    expect(await jobNow(h, job)).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: h.repo.sha.c7, attempts: 1 });
    const { rows } = await h.db.client.query<{ attempt: number; outcome: string }>(
      `select attempt, outcome from public.bisect_attempts where job_id = ${job.id}`,
    );
    expect(rows).toEqual([{ attempt: 1, outcome: "succeeded" }]);
    expect(dispatchesOf(h, job)).toHaveLength(1);
    expect(requestsTo(h, BLOB_ROUTE).length - downloadsBefore).toBe(1);
    const [comment, ...more] = h.appComments(issue);
    expect(more).toEqual([]);
    expect(comment!.body).toContain("is the first bad commit");
  }

  it("attempt 1 fails without a result and the maintainer re-runs it before the App looked: the job follows attempt 2 and ends with its result, not as an infrastructure failure", async () => {
    const job = await dispatched(h);
    const run = runOf(h, job);
    const downloads = requestsTo(h, BLOB_ROUTE).length;
    h.double.startRun(run.id);
    await send(h, runEvent(h, run, "in_progress"));
    await h.settle();
    expect(await jobNow(h, job)).toMatchObject({ state: "running" });

    h.double.completeRun(run.id, { conclusion: "failure", artifact: null });
    await send(h, runEvent(h, run, "completed"));
    h.double.startRun(run.id, { runAttempt: 2 });
    await send(h, runEvent(h, run, "in_progress"));
    await h.settle();
    // The look attempt 1's completion asked for found attempt 2 running: no artifact asked for, nothing failed.
    expect(await jobNow(h, job)).toMatchObject({ state: "running", attempts: 1, noted_run_attempt: 2, noted_conclusion: null, failed_checks: 0 });
    expect(requestsTo(h, GET_RUN, run).map((r) => r.status)).toEqual([200]);
    expect(requestsTo(h, LIST_ARTIFACTS, run)).toEqual([]);

    h.double.completeRun(run.id, { conclusion: "success", artifact: { zip: culpritResult(h, job), overwrite: true } });
    await send(h, runEvent(h, run, "completed"));
    await h.settle();
    await endedWithTheRerunsResult(job, downloads);
  });

  it("attempt 1's completion delivered late, twice, after attempt 2 started changes nothing; delivered again after the result, still nothing", async () => {
    const job = await dispatched(h);
    const run = runOf(h, job);
    const downloads = requestsTo(h, BLOB_ROUTE).length;
    h.double.startRun(run.id);
    await send(h, runEvent(h, run, "in_progress"));
    h.double.completeRun(run.id, { conclusion: "failure", artifact: null });
    const firstCompleted = runEvent(h, run, "completed");
    h.double.startRun(run.id, { runAttempt: 2 });
    await send(h, runEvent(h, run, "in_progress"));
    await h.settle();

    // GitHub delivers attempt 1's completion late, then redelivers it (same delivery id), then sends it again.
    const late = randomUUID();
    await send(h, firstCompleted, late);
    await send(h, firstCompleted, late);
    await send(h, firstCompleted);
    await h.settle();
    expect(await jobNow(h, job)).toMatchObject({ state: "running", attempts: 1, noted_run_attempt: 2, noted_conclusion: null, failed_checks: 0 });
    expect(requestsTo(h, LIST_ARTIFACTS, run)).toEqual([]);
    expect(dispatchesOf(h, job)).toHaveLength(1);

    h.double.completeRun(run.id, { conclusion: "success", artifact: { zip: culpritResult(h, job), overwrite: true } });
    await send(h, runEvent(h, run, "completed"));
    await h.settle();
    await endedWithTheRerunsResult(job, downloads);

    const requests = h.double.requests.length;
    const comment = h.appComments(issue)[0]!.body;
    await send(h, firstCompleted);
    await h.settle();
    expect(await jobNow(h, job)).toMatchObject({ state: "succeeded", culprit_sha: h.repo.sha.c7 });
    expect(h.double.requests.length).toBe(requests);
    expect(h.appComments(issue)[0]!.body).toBe(comment);
  });

  it.each([
    ["after every delivery", true],
    ["only after the last delivery", false],
  ])(
    "events of both attempts out of order and twice, the worker looking %s: attempt 2's result, the state never going back, one result comment",
    async (_when, lookEachTime) => {
      const job = await dispatched(h);
      const run = runOf(h, job);
      const downloads = requestsTo(h, BLOB_ROUTE).length;
      // On GitHub: attempt 1 starts and fails part-way, leaving its verdicts so far; the
      // maintainer re-runs it; attempt 2's result replaces attempt 1's artifact.
      h.double.startRun(run.id);
      const started1 = runEvent(h, run, "in_progress");
      h.double.completeRun(run.id, { conclusion: "failure", artifact: { zip: interruptedResult(h, job) } });
      const completed1 = runEvent(h, run, "completed");
      h.double.startRun(run.id, { runAttempt: 2 });
      const started2 = runEvent(h, run, "in_progress");
      const { artifact } = h.double.completeRun(run.id, { conclusion: "success", artifact: { zip: culpritResult(h, job), overwrite: true } });
      expect(h.double.artifacts.filter((a) => a.runId === run.id)).toEqual([artifact]);
      const completed2 = runEvent(h, run, "completed");

      const states: string[] = [];
      for (const payload of [completed2, started2, completed1, completed2, started1, started2, completed1]) {
        await send(h, payload);
        if (lookEachTime) await h.settle();
        states.push((await jobNow(h, job)).state);
      }
      await h.settle();
      states.push((await jobNow(h, job)).state);

      const order = ["dispatched", "running", "succeeded"];
      expect(states.map((s) => order.indexOf(s))).toEqual(states.map((s) => order.indexOf(s)).sort((a, b) => a - b));
      expect(states.at(-1)).toBe("succeeded");
      await endedWithTheRerunsResult(job, downloads);
    },
  );
});
