/**
 * What only the PostgREST transport (supabase-js `.rpc()`) has: API keys, HTTP and its errors.
 * No PostgREST binary is available here (and no Docker for `supabase start`), so the HTTP side
 * is test/support/postgrest-double.ts: it answers `POST /rest/v1/rpc/<fn>` from a real
 * PostgreSQL database, checks the API key as Supabase's gateway does, and runs each call as the
 * key's role (`service_role` for the secret key, `anon` for the publishable one), so the
 * migrations' grants decide. What the Store does through it is tested with the other
 * transports (job-lifecycle, task-queue, reads-and-views).
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FUNCTIONS, sqlName, type StoreFunction } from "../../../app/src/store/functions.js";
import { postgrestTransport } from "../../../app/src/store/postgrest-transport.js";
import { Store, type ArgsOf } from "../../../app/src/store/store.js";
import { newJob, sha } from "../../support/jobs.js";
import { stopTestPostgres } from "../../support/postgres.js";
import type { PostgrestDouble } from "../../support/postgrest-double.js";
import { count, openTestStore, PUBLISHABLE_KEY, SECRET_KEY, snapshot, type TestStore } from "../../support/store.js";

const RUN_ID = 21_474_836_470;
const RUN_URL = "https://github.com/octo-org/widgets/actions/runs/21474836470";
const WRONG_KEY = "sb_secret_not-the-project-key";

/** A valid call of every function the Store declares (TypeScript keeps this list complete). */
const EVERY_CALL: { [F in StoreFunction]: ArgsOf<F> } = {
  createJob: newJob(),
  createAutoJob: {
    deliveryId: "auto-delivery",
    repository: "octo-org/widgets",
    repositoryId: 5_000_000_001,
    installationId: 7_000_000_001,
    goodRefs: [sha("a").slice(0, 12)],
    badRef: sha("b").slice(0, 12),
    goodShas: [sha("a")],
    badSha: sha("b"),
    command: "npm test",
    options: newJob().options,
    maxAttempts: 3,
    workflow: ".github/workflows/ci.yml",
    runId: RUN_ID,
    redRun: { id: RUN_ID, url: RUN_URL, workflow: "ci.yml", number: 7 },
    freeVerdicts: [{ sha: sha("c"), verdict: "good", runId: 1 }],
    joinJobId: null,
    maxPerDay: 10,
  },
  autoJobsFrom: { repositoryId: 1, command: "npm test" },
  setJobIssue: { jobId: 1, issueNumber: 7 },
  enqueueRedRun: {
    deliveryId: "red-run-delivery",
    repository: "octo-org/widgets",
    repositoryId: 1,
    installationId: 1,
    runId: RUN_ID,
    payload: {
      runId: RUN_ID,
      runAttempt: 1,
      runNumber: 7,
      workflowId: 3,
      workflowPath: ".github/workflows/ci.yml",
      headSha: sha("b"),
      headBranch: "main",
      event: "push",
      url: RUN_URL,
      headRepositoryId: 1,
    },
  },
  noteFlakeEvidence: { repositoryId: 1, repository: "octo-org/widgets", command: "npm test", cleanTests: 12, falseFailures: 2 },
  flakeHistory: { repositoryId: 1, command: "npm test" },
  enqueueReport: { jobId: 1, payload: { title: "ci.yml broke on main", body: "…", culpritSha: sha("b"), pullRequest: null } },
  claimJobs: { worker: "worker", limit: 1, leaseSeconds: 30, maxActive: 4 },
  recordDispatchIntent: { jobId: 1, token: 1 },
  recordRoundIntent: { jobId: 1, token: 1, round: 1, commits: [sha("a")] },
  nextRound: { jobId: 1, token: 1, probes: [] },
  setJobGraph: { jobId: 1, token: 1, commits: [[sha("b"), sha("a")]], apiCalls: 1 },
  jobGraph: { jobId: 1 },
  deferJob: { jobId: 1, token: 1, seconds: 60, error: "HTTP 403: You have exceeded a secondary rate limit." },
  setStatusComment: { jobId: 1, token: 1, commentId: 1 },
  recordDispatch: { jobId: 1, token: 1, runId: RUN_ID, runUrl: RUN_URL, checkAfterSeconds: 0 },
  checkLater: { jobId: 1, token: 1, seconds: 0 },
  checkFailed: { jobId: 1, token: 1, error: "GitHub answered 502", retryAfterSeconds: 0 },
  noteRunEvent: { repositoryId: 5_000_000_001, runId: RUN_ID, runAttempt: 1, jobId: 1, status: "completed", conclusion: "success" },
  recordResult: {
    jobId: 1,
    token: 1,
    verdict: "no-culprit",
    reason: "flake",
    culpritSha: null,
    confidence: null,
    tested: 0,
    rounds: 0,
    error: null,
    probes: [],
  },
  failAttempt: { jobId: 1, token: 1, error: "x", retryAfterSeconds: 0, probes: [] },
  timeOutJob: { jobId: 1, token: 1, error: "x", tested: 0 },
  cancelJob: { jobId: 1, by: "octocat" },
  retryJob: { jobId: 1, extraAttempts: 1 },
  enqueueTask: {
    kind: "command",
    deliveryId: "d-every",
    repository: "octo-org/widgets",
    repositoryId: 1,
    installationId: 1,
    issueNumber: 1,
    commentId: 1,
    payload: { body: "/bisect", requester: "octocat", isPullRequest: false, commentedAt: "2026-12-01T12:00:00Z" },
  },
  claimTasks: { worker: "worker", limit: 1, leaseSeconds: 30 },
  finishTask: { taskId: 1, token: 1, outcome: "x" },
  failTask: { taskId: 1, token: 1, error: "x", permanent: true, retryAfterSeconds: 0, giveUpReply: { body: "x", reaction: null, cancelRunId: null } },
  deferTask: { taskId: 1, token: 1, seconds: 10, reason: "waiting for the pull request's webhooks" },
  extendLease: { token: 1, leaseSeconds: 30 },
  releaseLease: { token: 1 },
  getJob: { jobId: 1 },
  latestJob: { repositoryId: 1, issueNumber: 1 },
  jobProbes: { jobId: 1 },
  attemptRuns: { jobId: 1 },
  queuePosition: { jobId: 1 },
  commentHandled: { repositoryId: 1, commentId: 1 },
  activeCounts: {},
  stats: { worker: "worker" },
  notePullRequestHead: { repositoryId: 1, prNumber: 7, headSha: "a".repeat(40) },
  pullRequestHead: { repositoryId: 1, prNumber: 7 },
  takeGithubSlot: { installationId: 1, write: true, writesPerWindow: 80, windowSeconds: 60 },
  noteGithubAnswers: { answers: [{ installationId: 1, slotId: null, remaining: 4999, resetEpoch: 1_795_000_000, pauseSeconds: 0, reason: null }] },
  claimRedeliveryPass: { worker: "worker", intervalSeconds: 300, lookbackSeconds: 3600 },
  finishRedeliveryPass: { pass: 1, cursor: null, complete: true, listed: 0, redelivered: 0, error: null },
  claimRedelivery: {
    guid: "0b989ba4-242f-11e5-81e1-c7b6966d2516",
    deliveryId: 1,
    event: "issue_comment",
    action: "created",
    failedRedeliveries: 0,
    maxRequests: 3,
  },
  failRedelivery: { guid: "0b989ba4-242f-11e5-81e1-c7b6966d2516", error: "HTTP 422: too old", retry: false },
  prune: { olderThanSeconds: 86_400, batch: 10 },
  metricsSnapshot: { worker: "worker", leaseSeconds: 120 },
  releaseMetricsReporter: { worker: "worker" },
};
const EVERY_FUNCTION = Object.keys(FUNCTIONS) as StoreFunction[];
const callWith = <F extends StoreFunction>(store: Store, fn: F) => store.call(fn, EVERY_CALL[fn]);

let t: TestStore;
let store: Store;
let double: PostgrestDouble;
beforeAll(async () => {
  t = await openTestStore("postgrest");
  store = t.store;
  double = t.double!;
});
afterAll(async () => {
  await t?.close();
  await stopTestPostgres();
});
beforeEach(() => t.reset());

/** Nothing any refused call could have written: no job moved, no task, no audit. */
async function expectUntouched(jobId: number, before: string) {
  expect(await snapshot(t.admin, "bisect_jobs", jobId)).toBe(before);
  expect(await count(t.admin, "select count(*) from public.bisect_jobs")).toBe(1);
  expect(await count(t.admin, "select count(*) from public.bisect_tasks")).toBe(0);
  expect(await count(t.admin, "select count(*) from public.bisect_claim_audit")).toBe(0);
}

describe("supabase-js through the PostgREST double", () => {
  it("sends each call as one HTTP request, run as service_role", async () => {
    const seen = double.requests.length;
    const { job_id: id } = await store.call("createJob", newJob());
    const [first] = await store.call("claimJobs", { worker: "worker-a", limit: 10, leaseSeconds: 30, maxActive: 4 });
    expect(await store.call("recordDispatch", { jobId: id, token: first!.token, runId: RUN_ID, runUrl: RUN_URL, checkAfterSeconds: 0 })).toBe(true);
    expect(
      await store.call("noteRunEvent", {
        repositoryId: newJob().repositoryId,
        runId: RUN_ID,
        runAttempt: 1,
        jobId: null,
        status: "in_progress",
        conclusion: null,
      }),
    ).toBe(1);
    const [check] = await store.call("claimJobs", { worker: "worker-b", limit: 10, leaseSeconds: 30, maxActive: 4 });
    const probes = [{ sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 1200, round: 1 }] as const;
    expect(
      await store.call("recordResult", {
        jobId: id,
        token: check!.token,
        verdict: "culprit",
        reason: null,
        culpritSha: sha("c"),
        confidence: 1,
        tested: 1,
        rounds: 1,
        error: null,
        probes: [...probes],
      }),
    ).toBe(true);
    expect(await store.call("jobProbes", { jobId: id })).toEqual([{ attempt: 1, ...probes[0] }]);
    expect(await store.call("getJob", { jobId: id })).toMatchObject({ state: "succeeded", run_id: RUN_ID });
    expect(await store.call("stats", { worker: "worker-b" })).toMatchObject({ completed: 1 });
    const requests = double.requests.slice(seen);
    expect(requests.map((r) => r.fn)).toEqual([
      "bisect_create_job",
      "bisect_claim_jobs",
      "bisect_record_dispatch",
      "bisect_note_run_event",
      "bisect_claim_jobs",
      "bisect_record_result",
      "bisect_job_probes",
      "bisect_get_job",
      "bisect_stats",
    ]);
    expect(requests.every((r) => r.role === "service_role" && r.status === 200)).toBe(true);
  });

  it("is refused with a wrong key: the message names the function but never a key, and nothing changes", async () => {
    const { job_id: id } = await store.call("createJob", newJob());
    const before = await snapshot(t.admin, "bisect_jobs", id);
    const wrong = new Store(postgrestTransport(double.url, WRONG_KEY));
    try {
      for (const fn of EVERY_FUNCTION) {
        const error = (await callWith(wrong, fn).catch((e: unknown) => e)) as Error;
        expect(error, fn).toBeInstanceOf(Error);
        expect(error.message).toContain(`Supabase rpc ${sqlName(fn)} failed with HTTP 401: Invalid API key`);
        expect(error.message).toContain("Check SUPABASE_SECRET_KEY");
        expect(error.message).not.toContain("sb_secret_not");
        expect(error.message).not.toContain(SECRET_KEY);
      }
    } finally {
      await wrong.close();
    }
    await expectUntouched(id, before);
  });

  it("is refused by the grants as anon (the publishable key), for every function", async () => {
    const { job_id: id } = await store.call("createJob", newJob());
    const before = await snapshot(t.admin, "bisect_jobs", id);
    const seen = double.requests.length;
    const anon = new Store(postgrestTransport(double.url, PUBLISHABLE_KEY));
    try {
      for (const fn of EVERY_FUNCTION) {
        await expect(callWith(anon, fn), fn).rejects.toThrow(
          `Supabase rpc ${sqlName(fn)} failed with HTTP 401 [42501]: permission denied for function ${sqlName(fn)}`,
        );
      }
    } finally {
      await anon.close();
    }
    const requests = double.requests.slice(seen);
    expect(requests).toHaveLength(EVERY_FUNCTION.length);
    expect(requests.every((r) => r.role === "anon" && r.status === 401)).toBe(true);
    await expectUntouched(id, before);
  });

  it("reports a database error with the function's name as a StoreDataError (the values, not the database, are at fault), and the call changes nothing", async () => {
    const { job_id: id } = await store.call("createJob", newJob());
    const [held] = await store.call("claimJobs", { worker: "worker-a", limit: 1, leaseSeconds: 30, maxActive: 4 });
    const before = await snapshot(t.admin, "bisect_jobs", id);
    // Valid to the result document's schema, out of range for the column.
    const tooLong = { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 3_000_000_000, round: 1 } as const;
    await expect(
      store.call("recordResult", {
        jobId: id,
        token: held!.token,
        verdict: "culprit",
        reason: null,
        culpritSha: sha("c"),
        confidence: 1,
        tested: 1,
        rounds: 1,
        error: null,
        probes: [tooLong],
      }),
    ).rejects.toThrow(
      /^public\.bisect_record_result refused the values given: Supabase rpc bisect_record_result failed with HTTP 400 \[22003\]: value "3000000000" is out of range for type integer/,
    );
    // The call was one transaction: the job did not move.
    expect(await snapshot(t.admin, "bisect_jobs", id)).toBe(before);
    expect(await store.call("getJob", { jobId: id })).toMatchObject({ state: "dispatching", verdict: null, lease_token: held!.token });
    expect(await store.call("jobProbes", { jobId: id })).toEqual([]);
  });

  it("says which URL it cannot reach, without the key", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    const unreachable = new Store(postgrestTransport(`http://127.0.0.1:${port}`, SECRET_KEY));
    const error = (await unreachable.call("getJob", { jobId: 1 }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(
      new RegExp(`^Supabase rpc bisect_get_job could not reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*Check SUPABASE_URL\\.$`),
    );
    expect(error.message).not.toContain(SECRET_KEY);
    await unreachable.close();
  });
});
