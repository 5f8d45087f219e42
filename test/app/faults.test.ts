/**
 * Every job reaches a final state within its time limit, whatever a run, an artifact or GitHub
 * does. One job per fault, through the App as it runs (signed webhooks, the worker loop, the
 * OpenAPI-checked GitHub double) on a real PostgreSQL, and on a fake clock: no wait is slept
 * through. A step lets the worker do whatever is due (`h.settle()`), then moves the database's
 * clock to the next thing that will be due — a job's next look, a task's retry, the end of
 * GitHub's pause, a lease running out — by shifting every stored time back by that much. The App
 * compares stored times with its own clock, so it sees exactly that much time pass; and because
 * every time moves together, a job's `finished_at − created_at` is the time it took on that clock.
 *
 * For each fault: the final state, the reason the thread reads (one App comment per thread, no
 * more), the time it took against the job's time limit, and the GitHub calls it spent against a
 * bound the code should keep. A table of the outcomes is printed at the end.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { JobRow } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, startHarness, type Harness } from "../support/app-harness.js";
import { BLOB_ROUTE, type RecordedRequest, type WorkflowRunRecord } from "../support/github-double/index.js";
import { DISPATCH_ROUTE, TOKEN_ROUTE } from "../support/github-double/server.js";
import { stopTestPostgres } from "../support/postgres.js";
import { workflowRunPayload } from "../support/run-webhooks.js";
import { deliver } from "../support/webhooks.js";
import { resultZip } from "../support/zip.js";

const RUN_ROUTE = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
const COMMENT_ROUTE = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
const REACTION_ROUTE = "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions";
const FINAL = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
/** A job not final after this many steps loops: that is the bug this file exists to catch. */
const MAX_STEPS = 50;
/** BISECT_TIMEOUT_SECONDS's default: 30 min. */
const TIME_LIMIT = 1800;
/**
 * A job that ends because of its time limit ends at the reconciler's look that finds it past:
 * that look is scheduled one second past the limit (`untilTimeout + 1`, rounded up), and each
 * step takes some real time of its own.
 */
const GRACE_SECONDS = 5;
/** "Forever", for GitHub's failures: more answers than any bounded job can ask for. What is left is drained after the test. */
const FOREVER = 400;

// What each part of a job costs in GitHub calls, when all goes as the code means it to.
/** The command: who asked (collaborator permission), the refs (one GraphQL snapshot), the range's size (one compare per good). */
const COMMAND = 3;
/** The first dispatch: 👀 on the command, the dispatch (the run id comes back with it), the status comment with the run link. */
const FIRST_DISPATCH = 3;
/** Another attempt: a look for a run the previous attempt may have made unrecorded (its dispatch intent), the dispatch, the status comment edited. */
const REDISPATCH = 3;
/** Reading the result: the run's artifacts, the archive route (a 302), the download from storage. */
const READ_ARTIFACT = 3;
/** A culprit is checked against the range: one compare to the bad commit, one per good. */
const IN_RANGE = 2;
/** The job's last word: its status comment edited. */
const LAST_WORD = 1;
/** Probot's retry plugin sends a request GitHub answers with a 5xx at most 4 times (3 retries). */
const SENDS_PER_5XX = 4;
/** MAX_FAILED_CHECKS in app/src/worker/check-run.ts: failed looks in a row that end an attempt. */
const FAILED_LOOKS = 5;
const MAX_ATTEMPTS = 3;

let h: Harness;
let issue = 500;
beforeAll(async () => {
  h = await startHarness({
    backend: "postgres",
    // One active job per repository, so the queued-job fault can fill the slots with one job.
    // RUN_CHECK_SECONDS and BISECT_TIMEOUT_SECONDS keep their defaults (30 s, 30 min). The write
    // budget is raised so that the App never waits for a slot in real time.
    env: { MAX_CONCURRENT_JOBS: "1", MAX_ATTEMPTS: String(MAX_ATTEMPTS), GITHUB_WRITES_PER_MINUTE: "1000" },
  });
  // The commits' author is a GitHub user: a culprit that got through would ping @mona.
  h.double.addUser("author@example.com", "mona");
});

/** GitHub failures a test asked for "forever": drained after it, so the next test starts clean. */
const pending: { status: number; drain: () => Promise<number> }[] = [];
afterEach(async () => {
  for (const { drain, status } of pending.splice(0)) {
    for (let i = 0; i < 10 * FOREVER && (await drain()) === status; i++);
  }
  // A test that failed may leave its job active: it must not hold the repository's one slot.
  await h.db.client.exec(
    "update public.bisect_jobs set state = 'cancelled', locked_by = null, lease_expires_at = null where state in ('queued', 'dispatching', 'dispatched', 'running')",
  );
  expect(h.double.violations).toEqual([]);
});

interface Outcome {
  fault: string;
  job: JobRow;
  steps: number;
  calls: number;
  bound: number;
  /** Seconds on the test's clock from the job's first dispatch (or its creation, when it never dispatched) to its end. */
  took: number;
  from: "dispatch" | "creation";
}
const outcomes: Outcome[] = [];

afterAll(async () => {
  if (outcomes.length > 0) {
    const rows = outcomes.map(
      (o) =>
        `| ${o.fault} | ${o.job.state} | ${(o.job.error ?? o.job.verdict ?? "").replaceAll("|", "\\|").slice(0, 110)} | ${o.calls} | ≤ ${o.bound} | ${o.steps} | ${(o.took / 60).toFixed(1)} min from ${o.from} (limit ${o.job.options.timeoutSeconds / 60} min) |`,
    );
    console.log(["| fault | final state | reason | GitHub calls | bound | steps | time taken |", "|---|---|---|---|---|---|---|", ...rows].join("\n"));
  }
  await h?.close();
  await stopTestPostgres();
});

/** Answers `status` to the next FOREVER requests of the route; `drain` sends one request of its own that takes one of them. */
function forever(route: string, status: number, drain: () => Promise<Response>, headers: Record<string, string> = {}) {
  h.double.failNext(route, status, FOREVER, headers);
  pending.push({ status, drain: async () => (await drain()).status });
}
const api = (path: string, init: RequestInit = {}) => fetch(`${h.double.url}/api/v3/repos/${OWNER}/${REPO}${path}`, init);
const postJson = (path: string, body: unknown) => api(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

const latest = async (issueNumber: number) => h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber });

/**
 * How recently a time may have come and still count as coming: one that came while the worker
 * settled (after its claim looked) is not yet done, however it raced.
 */
const JUST_DUE = "interval '2 seconds'";

/**
 * The clock moves to the next thing that will be due (nothing that has been due a while: the
 * worker has just done all of that it could): every stored time goes back by that much. Answers
 * the seconds moved, or null when nothing will ever be due again. A job or task whose time came
 * while the worker settled (within the last JUST_DUE) moves the clock by 0: the next pass takes
 * it. (The end of GitHub's pause is no work of its own: only a time still to come counts.)
 */
async function advanceClock(): Promise<number | null> {
  const { rows } = await h.db.client.query<{ seconds: number | null }>(`
    select greatest(0, extract(epoch from least(
      (select min(next_check_at) from public.bisect_jobs
        where state in ('queued', 'dispatching', 'dispatched', 'running') and locked_by is null and next_check_at > now() - ${JUST_DUE}),
      (select min(lease_expires_at) from public.bisect_jobs where lease_expires_at > now()),
      (select min(run_at) from public.bisect_tasks where state = 'pending' and locked_by is null and run_at > now() - ${JUST_DUE}),
      (select min(lease_expires_at) from public.bisect_tasks where state = 'pending' and lease_expires_at > now()),
      (select min(paused_until) from public.bisect_github_budget where paused_until > now())
    ) - now()))::float8 as seconds`);
  const seconds = rows[0]?.seconds ?? null;
  if (seconds === null) return null;
  if (seconds === 0) return 0;
  const by = `make_interval(secs => ${Math.ceil(seconds * 1000) / 1000})`;
  await h.db.client.exec(`
    update public.bisect_jobs set created_at = created_at - ${by}, updated_at = updated_at - ${by}, started_at = started_at - ${by},
      dispatched_at = dispatched_at - ${by}, next_check_at = next_check_at - ${by}, finished_at = finished_at - ${by},
      lease_expires_at = lease_expires_at - ${by};
    update public.bisect_tasks set created_at = created_at - ${by}, run_at = run_at - ${by}, finished_at = finished_at - ${by},
      lease_expires_at = lease_expires_at - ${by};
    update public.bisect_attempts set started_at = started_at - ${by}, finished_at = finished_at - ${by};
    update public.bisect_github_budget set paused_until = paused_until - ${by}, reset_at = reset_at - ${by}, updated_at = updated_at - ${by};
    update public.bisect_github_writes set started_at = started_at - ${by}, finished_at = finished_at - ${by};`);
  return seconds;
}

/** Whether a task about this thread (a reply, an announcement) is still to be done. */
async function tasksPending(issueNumber: number): Promise<boolean> {
  const { rows } = await h.db.client.query<{ n: number }>(
    "select count(*)::int as n from public.bisect_tasks where state = 'pending' and repository_id = $1 and issue_number = $2",
    [REPOSITORY_ID, issueNumber],
  );
  return rows[0]!.n > 0;
}

/**
 * Steps the worker and the clock until the job on this thread is final; `onStep` plays the run's
 * part (a run completing, …) and answers whether it did something (then the clock stays).
 * Fails with the job's row when it is not final after MAX_STEPS, or when nothing is left to do.
 */
async function drive(issueNumber: number, onStep?: (job: JobRow, step: number) => Promise<boolean>): Promise<{ job: JobRow; steps: number }> {
  let job: JobRow | undefined;
  // Passes that found a time come while the worker settled: another pass, not another step.
  let again = 0;
  for (let step = 1; step <= MAX_STEPS; step++) {
    await h.settle();
    job = await latest(issueNumber);
    // Final, and the thread has been told: no reply about it is still waiting to be posted.
    if (job && FINAL.has(job.state) && !(await tasksPending(issueNumber))) return { job, steps: step };
    if (job && onStep && (await onStep(job, step))) continue;
    const moved = await advanceClock();
    if (moved === null) throw new Error(`nothing will ever be due again, and the job is not final: ${JSON.stringify(job)}`);
    if (moved === 0 && again++ < 10 * MAX_STEPS) step--;
  }
  const tasks = await h.db.client.query(
    "select kind, state, run_at, attempts, locked_by, error, now() as now from public.bisect_tasks where issue_number = $1",
    [issueNumber],
  );
  throw new Error(`the job is not final after ${MAX_STEPS} steps: ${JSON.stringify(job)}; tasks ${JSON.stringify(tasks.rows)}`);
}

/** Calls to GitHub since `from`, token exchanges left out (downloads from the artifact storage count). */
const callsSince = (from: number): RecordedRequest[] => h.double.requests.slice(from).filter((r) => r.route !== TOKEN_ROUTE);

/** Seconds, on the test's clock, from the job's first dispatch (or its creation) to its end (or to its first dispatch). */
async function timeTaken(job: JobRow, from: "dispatch" | "creation", to: "end" | "dispatch" = "end"): Promise<number> {
  const { rows } = await h.db.client.query<{ seconds: number }>(
    `select extract(epoch from ${to === "end" ? "j.finished_at" : "a.started_at"} - ${from === "dispatch" ? "a.started_at" : "j.created_at"})::float8 as seconds
     from public.bisect_jobs j left join public.bisect_attempts a on a.job_id = j.id and a.attempt = 1 where j.id = $1`,
    [job.id],
  );
  expect(rows[0]?.seconds, `job ${job.id}: no time from its ${from} to its ${to}`).toEqual(expect.any(Number));
  return rows[0]!.seconds;
}

function runOf(job: JobRow): WorkflowRunRecord | undefined {
  return h.double.runs.find((r) => r.id === job.run_id);
}

function sendRunEvent(run: WorkflowRunRecord, action: "in_progress" | "completed") {
  const payload = workflowRunPayload(run, action, INSTALLATION_ID, { id: REPOSITORY_ID, owner: OWNER, name: REPO }, { url: h.double.url });
  return deliver(`${h.server.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "workflow_run", payload });
}

/** The result document the Action would leave for this job, blaming `culprit`. */
function resultDocument(job: JobRow, culprit: string, overrides: Record<string, unknown> = {}) {
  return {
    schema: 1,
    jobId: String(job.id),
    verdict: "culprit",
    culprit: { sha: culprit, confidence: 1 },
    candidates: [culprit],
    range: { good: job.good_shas, bad: job.bad_sha, size: 15 },
    probes: [
      { sha: h.repo.sha.c4, verdict: "good", exitCode: 0, durationMs: 1200, round: 1 },
      { sha: h.repo.sha.c10, verdict: "bad", exitCode: 1, durationMs: 1300, round: 2 },
      { sha: h.repo.sha.c6, verdict: "good", exitCode: 0, durationMs: 1250, round: 3 },
      { sha: culprit, verdict: "bad", exitCode: 1, durationMs: 1400, round: 4 },
    ],
    tested: 4,
    rounds: 4,
    ...overrides,
  };
}

/**
 * The run's part: each run of the job completes as soon as it is dispatched, leaving this
 * artifact (or none), and GitHub says so with a workflow_run webhook.
 */
function everyRunCompletes(artifact: ((job: JobRow) => Buffer) | null, conclusion: "success" | "failure" = "success") {
  return async (job: JobRow): Promise<boolean> => {
    const run = runOf(job);
    if (!run || run.status === "completed" || !["dispatched", "running"].includes(job.state)) return false;
    h.double.completeRun(run.id, { conclusion, artifact: artifact ? { zip: artifact(job) } : null });
    expect((await sendRunEvent(run, "completed")).status).toBe(200);
    return true;
  };
}

interface Expected {
  state: string;
  /** The job's error, as /job/:id shows it. */
  error: RegExp;
  /** What the one App comment on the thread says. */
  comment: RegExp;
  bound: number;
  from?: "dispatch" | "creation";
}

/** The common assertions: final state and reason, one comment, the time limit, the GitHub calls. */
async function expectEnded(fault: string, thread: number, firstCall: number, result: { job: JobRow; steps: number }, expected: Expected) {
  const { job, steps } = result;
  const from = expected.from ?? "dispatch";
  const outcome: Outcome = { fault, job, steps, calls: callsSince(firstCall).length, bound: expected.bound, took: await timeTaken(job, from), from };
  outcomes.push(outcome);
  expect(job.state).toBe(expected.state);
  expect(job.error).toMatch(expected.error);
  const comments = h.appComments(thread);
  expect(comments, "one App comment on the thread").toHaveLength(1);
  expect(comments[0]!.body).toMatch(expected.comment);
  expect(outcome.calls, `GitHub calls: ${JSON.stringify(callsSince(firstCall).map((r) => `${r.route} ${r.status}`))}`).toBeLessThanOrEqual(expected.bound);
  return outcome;
}

async function startJob(body = "/bisect v1.0..main -- npm test"): Promise<{ thread: number; firstCall: number }> {
  const thread = ++issue;
  const firstCall = h.double.requests.length;
  expect((await h.comment(body, { issueNumber: thread })).status).toBe(200);
  return { thread, firstCall };
}

describe("a run that never ends", () => {
  it("with no webhook ever: the reconciler alone ends it timed_out at its time limit, and cancels the run", async () => {
    const { thread, firstCall } = await startJob();
    const result = await drive(thread);
    // Looks every half of the run's age (at least 30 s, at most 10 min) up to the limit: at 30,
    // 60 and 90 s, then ×1.5 each time, ⌈log1.5(1800/90)⌉ = 8 more, and the one past the limit:
    // at most 12 looks. Then the run is cancelled and the status comment says why.
    const bound = COMMAND + FIRST_DISPATCH + 12 + 1 + LAST_WORD;
    const o = await expectEnded("run never completes, no webhook", thread, firstCall, result, {
      state: "timed_out",
      error: /^the bisect ran past its time limit of 30 min and was cancelled$/,
      comment: /timed out[\s\S]*time limit of 30 min/,
      bound,
    });
    expect(runOf(result.job)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    expect(o.took).toBeGreaterThanOrEqual(TIME_LIMIT);
    expect(o.took).toBeLessThanOrEqual(TIME_LIMIT + GRACE_SECONDS);
  });
});

describe("a run's artifact", () => {
  // Each attempt: its dispatch, reading what the run left (and checking a culprit), no more; then
  // the failure comment. The run ends at once and the backoff between attempts is 30 s × 2ⁿ, so
  // the job ends minutes after its first dispatch.
  const perAttempt = (reading: number) => COMMAND + FIRST_DISPATCH + reading + (MAX_ATTEMPTS - 1) * (REDISPATCH + reading) + LAST_WORD;
  it.each<{ fault: string; artifact: ((job: JobRow) => Buffer) | null; error: RegExp; reading: number; blobsFail?: boolean }>([
    {
      fault: "no artifact, every attempt",
      artifact: null,
      error: /^the run left no artifact bisect-result-\d+ \(the bisect step did not finish\)$/,
      // Only the artifact list: there is nothing to download.
      reading: 1,
    },
    {
      // Before a fix, recording this result threw, the lease ran out, and the job was read again forever.
      fault: "a NUL (U+0000) in the result's error",
      artifact: (job) =>
        resultZip(
          String(job.id),
          resultDocument(job, h.repo.sha.c7!, { verdict: "error", reason: "test-failed", culprit: undefined, candidates: [], error: "boom\u0000" }),
        ),
      error: /holds a NUL character \(U\+0000\)/,
      reading: READ_ARTIFACT,
    },
    {
      // The run's test code can write the result file: it must not get to blame (and ping) anyone.
      fault: "a culprit outside the job's range",
      artifact: (job) => resultZip(String(job.id), resultDocument(job, h.repo.sha.root!)),
      error: /^the culprit [0-9a-f]{12} is not a commit of the range [0-9a-f]{12}\.\.[0-9a-f]{12}$/,
      reading: READ_ARTIFACT + IN_RANGE,
    },
    {
      fault: "the artifact storage answering 503",
      artifact: (job) => resultZip(String(job.id), resultDocument(job, h.repo.sha.c7!)),
      error: /^downloading the artifact failed with HTTP 503$/,
      reading: READ_ARTIFACT,
      blobsFail: true,
    },
  ])("$fault: refused as unusable, retried, failed after MAX_ATTEMPTS with one comment saying why", async ({ fault, artifact, error, reading, blobsFail }) => {
    // The storage origin is another server; a request of our own with a made-up token drains it.
    if (blobsFail) forever(BLOB_ROUTE, 503, () => fetch(`${h.double.blobUrl}/_blobs/drain`));
    const { thread, firstCall } = await startJob();
    const result = await drive(thread, everyRunCompletes(artifact));
    await expectEnded(fault, thread, firstCall, result, {
      state: "failed",
      error,
      comment: new RegExp(`could not finish[\\s\\S]*all ${MAX_ATTEMPTS} attempts`),
      bound: perAttempt(reading),
    });
    expect(result.job).toMatchObject({ attempts: MAX_ATTEMPTS, culprit_sha: null });
    expect(h.double.runs.filter((r) => r.inputs.job_id === String(result.job.id))).toHaveLength(MAX_ATTEMPTS);
    const comment = h.appComments(thread)[0]!.body;
    expect(comment).not.toContain("first bad commit");
    expect(comment).not.toContain("@mona");
    expect(outcomes.at(-1)!.took).toBeLessThanOrEqual(TIME_LIMIT);
  });
});

describe("GitHub failing while the reconciler follows a run", () => {
  it("5xx forever on the run: after 5 failed looks each attempt is an infrastructure failure; failed after MAX_ATTEMPTS, within the time limit", async () => {
    // A request of our own without credentials takes one of the failures (they come before auth).
    forever(RUN_ROUTE, 503, () => api("/actions/runs/1"));
    const { thread, firstCall } = await startJob();
    const result = await drive(thread);
    // Each attempt: its dispatch, then 5 looks of 4 sends each, and at most one cancel of the run
    // it gave up on; then the failure comment.
    const attempt = FAILED_LOOKS * SENDS_PER_5XX + 1;
    const o = await expectEnded("run GET answering 503 forever", thread, firstCall, result, {
      state: "failed",
      error: /^following the run failed: HTTP 503: /,
      comment: new RegExp(`could not finish[\\s\\S]*all ${MAX_ATTEMPTS} attempts[\\s\\S]*following the run failed`),
      bound: COMMAND + FIRST_DISPATCH + attempt + (MAX_ATTEMPTS - 1) * (REDISPATCH + attempt) + LAST_WORD,
    });
    expect(result.job.attempts).toBe(MAX_ATTEMPTS);
    // Per attempt: the first look at 30 s, then 30 s × 2ⁿ (±20 %) between failed looks: ~8 min;
    // three attempts and two backoffs ~26 min, under the limit even with all the jitter.
    expect(o.took).toBeLessThanOrEqual(TIME_LIMIT);
  });

  // A run given up on may still hold a runner: giveUpFollowing cancels it (best-effort) before the
  // next attempt dispatches another, so the job leaves none of its runs going after it failed.
  it("…and cancels each run it gave up following", () => {
    const o = outcomes.find((x) => x.fault === "run GET answering 503 forever");
    expect(o, "the test above did not get this far").toBeDefined();
    if (!o) return;
    const runs = h.double.runs.filter((r) => r.inputs.job_id === String(o.job.id));
    expect(runs).toHaveLength(MAX_ATTEMPTS);
    for (const run of runs) expect(run).toMatchObject({ status: "completed", conclusion: "cancelled" });
  });

  // Not run: the double cannot answer the run GET with a body that does not match the schema
  // without breaking its own contract. It checks every answer of its own against GitHub's OpenAPI
  // description (a mismatch is a violation), and check-run.ts's runSchema asks for nothing the
  // description does not promise (id, status, conclusion, html_url), so any body the App would
  // refuse is one GitHub's description rules out. `failNext(RUN_ROUTE, 200)` would send
  // `{message, …}` with a 200 and be recorded as "a bug in the double". The double would need a
  // deliberate-fault answer (a body for failNext, exempt from the response check) for this.
  // The App's path is the same as the 5xx one above: checkRun throws (a ZodError), followRun
  // counts a failed look.
  it.skip("the run GET answering a body that does not match the schema", () => {});
});

describe("GitHub's rate limit", () => {
  const LIMIT = 600;
  it("the dispatch refused (403 secondary limit, no retry-after) every time: the job fails, saying the rate limit kept it from starting; no attempt counted", async () => {
    // An unauthenticated dispatch of our own takes one of the failures (they come before auth).
    forever(DISPATCH_ROUTE, 403, () => postJson("/actions/workflows/bisect.yml/dispatches", { ref: "main" }), { "retry-after": "" });
    // A 10 min limit: with 30 the outcome of the jitter decides how late the end comes; with 10
    // it is the same every time (see the next test).
    const { thread, firstCall } = await startJob("/bisect v1.0..main --timeout 10m -- npm test");
    const result = await drive(thread);
    // The waits double from a minute (±20 %), so within 10 min there are at most
    // ⌈log2(600/48 + 1)⌉ + 1 = 5 tries. The first costs 👀 on the command (there is no status
    // comment yet) and the refused dispatch; each later one 👀 again, a look for a run the
    // attempt's earlier dispatch may have made (its dispatch intent stays), and the dispatch.
    // Then the reply saying why, once GitHub's pause is over.
    const TRIES = 5;
    const bound = COMMAND + 2 + (TRIES - 1) * 3 + 1;
    await expectEnded("dispatch rate-limited forever", thread, firstCall, result, {
      state: "failed",
      error: /^GitHub's rate limit kept the workflow from starting within the job's time limit \(10m\): HTTP 403: .*secondary rate limit/,
      comment: /could not start[\s\S]*GitHub's rate limit kept the workflow from starting/,
      bound,
      from: "creation",
    });
    // Five refused dispatches, more than MAX_ATTEMPTS: the tries GitHub held back were not
    // counted; the job ends in the attempt of the last one, with no run.
    expect(callsSince(firstCall).filter((r) => r.route === DISPATCH_ROUTE && r.status === 403)).toHaveLength(TRIES);
    expect(result.job).toMatchObject({ attempts: 1, run_id: null });
    expect(h.double.runs.filter((r) => r.inputs.job_id === String(result.job.id))).toEqual([]);
  });

  // The wait between tries (60 s × 2ⁿ ±20 %) is cut at the job's time limit (bisect_defer_job), so
  // the try that finds no time left comes at the limit, and the job ends then.
  it("…and ends within its time limit counted from creation", () => {
    const o = outcomes.find((x) => x.fault === "dispatch rate-limited forever");
    expect(o, "the test above did not get this far").toBeDefined();
    if (!o) return;
    expect(o.took).toBeLessThanOrEqual(LIMIT + GRACE_SECONDS);
  });
});

describe("a queued job whose thread refuses every comment", () => {
  it("404 forever on the thread's comment POST (a deleted issue) while the slot is taken: announced a bounded number of times, then run when the slot frees", async () => {
    // Job A takes the repository's one slot and runs (its run does not end yet).
    const a = await startJob();
    await h.settle();
    expect(await latest(a.thread)).toMatchObject({ state: "dispatched" });
    // B's thread is gone: comments and reactions on it answer 404 from now on.
    forever(COMMENT_ROUTE, 404, () => postJson(`/issues/${a.thread}/comments`, { body: "drain" }));
    forever(REACTION_ROUTE, 404, () => postJson("/issues/comments/1/reactions", { content: "eyes" }));
    const b = await startJob();
    const bCommand = h.double.comments(`${OWNER}/${REPO}`, b.thread)[0]!.id;
    const threadWrites = () =>
      callsSince(b.firstCall).filter(
        (r) =>
          (r.route === COMMENT_ROUTE && r.path.endsWith(`/issues/${b.thread}/comments`)) ||
          (r.route === REACTION_ROUTE && r.path.endsWith(`/issues/comments/${bCommand}/reactions`)),
      );
    let waited = 0;
    let writesWhileQueued = 0;
    const result = await drive(b.thread, async (job, step) => {
      if (job.state === "queued") {
        waited = step;
        writesWhileQueued = threadWrites().length;
      }
      // A waits while the reconciler looks at it for 10 steps (~10 min), then its run ends with a result.
      const jobA = (await latest(a.thread))!;
      if (step >= 10 && (await everyRunCompletes((j) => resultZip(String(j.id), resultDocument(j, h.repo.sha.c7!)))(jobA))) return true;
      // B runs once A is done; its run ends with a result too.
      return everyRunCompletes((j) => resultZip(String(j.id), resultDocument(j, h.repo.sha.c7!)))(job);
    });
    // The announcement is a task: at most 5 tries (bisect_tasks.max_attempts), each a 👀 and a
    // comment POST, with a backoff of 5 s × 2ⁿ between them; a 404 is permanent, so 1 try.
    const ANNOUNCE_TRIES = 5;
    expect(waited, "B waited in the queue").toBeGreaterThanOrEqual(10);
    expect(writesWhileQueued, `writes on B's thread while it waited ${waited} steps`).toBeLessThanOrEqual(2 * ANNOUNCE_TRIES);
    // After A: B's dispatch (👀, its status comment) and its result comment, each tried once.
    const bWrites = threadWrites().length;
    expect(bWrites).toBeLessThanOrEqual(2 * ANNOUNCE_TRIES + 3);

    const jobA = (await latest(a.thread))!;
    expect(jobA).toMatchObject({ state: "succeeded", culprit_sha: h.repo.sha.c7 });
    expect(result.job).toMatchObject({ state: "succeeded", culprit_sha: h.repo.sha.c7, attempts: 1 });
    expect(h.appComments(a.thread)).toHaveLength(1);
    // B's thread refused every comment: nothing on it, and nothing posted twice.
    expect(h.appComments(b.thread)).toEqual([]);
    const calls = callsSince(a.firstCall).length;
    // A: command, first dispatch, ≤ 12 looks, the result (artifact, range check, the culprit's
    // details in one GraphQL query and its files in one REST call, the comment edit). B: command,
    // the announcement's tries, its dispatch, reading its result (no looks: its run ends at once,
    // with a webhook), its comment.
    const readResult = READ_ARTIFACT + IN_RANGE + 2 + LAST_WORD;
    const bound = COMMAND + FIRST_DISPATCH + 12 + readResult + (COMMAND + 2 * ANNOUNCE_TRIES + FIRST_DISPATCH + readResult);
    // On the test's clock B waited this long for its slot: at one announcement a second, as
    // before the fix, that would have been some 120 writes a minute.
    const queuedMinutes = ((await timeTaken(result.job, "creation", "dispatch")) / 60).toFixed(0);
    outcomes.push({
      fault: `queued job, its thread 404 forever (jobs A and B; ${bWrites} writes on B's thread, ${writesWhileQueued} of them in the ${queuedMinutes} min it was queued)`,
      job: result.job,
      steps: result.steps,
      calls,
      bound,
      took: await timeTaken(result.job, "dispatch"),
      from: "dispatch",
    });
    expect(calls).toBeLessThanOrEqual(bound);
    expect(outcomes.at(-1)!.took).toBeLessThanOrEqual(TIME_LIMIT);
  });
});
