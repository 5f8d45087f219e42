/**
 * What the App and a maintainer read (supabase/migrations/…0300_reads_and_views.sql): the reads
 * through the Store on every transport (queue positions, the latest job of a thread, whether a
 * comment was handled, per-repository load, stats, probes and attempt runs), and the dashboard
 * views, which only the database's owner and service_role read (through `admin` here).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { pruneOld } from "../../../app/src/store/retention.js";
import type { SqlClient } from "../../../app/src/store/sql-client.js";
import type { ArgsOf, ClaimedJob, Store } from "../../../app/src/store/store.js";
import { newJob, sha, type NewJob } from "../../support/jobs.js";
import { stopTestPostgres } from "../../support/postgres.js";
import { openTestStore, TRANSPORTS, type TestStore } from "../../support/store.js";

const REPO_A = { repository: "octo-org/widgets", repositoryId: 5_000_000_001 };
const REPO_B = { repository: "octo-org/gadgets", repositoryId: 5_000_000_002 };
const RUN_ID = 21_474_836_470;

afterAll(() => stopTestPostgres());

describe.each(TRANSPORTS)("reads and dashboard views on %s", (transport) => {
  let t: TestStore;
  let store: Store;
  let admin: SqlClient;
  beforeAll(async () => {
    t = await openTestStore(transport);
    store = t.store;
    admin = t.admin;
  });
  afterAll(() => t?.close());
  beforeEach(() => t.reset());

  const create = async (overrides: Partial<NewJob> = {}) => (await store.call("createJob", newJob(overrides))).job_id;
  const claimOne = async (worker = "worker-a", maxActive = 4): Promise<ClaimedJob> => {
    const claimed = await store.call("claimJobs", { worker, limit: 1, leaseSeconds: 30, maxActive });
    expect(claimed).toHaveLength(1);
    return claimed[0]!;
  };
  const result = (id: number, token: number, r: Partial<ArgsOf<"recordResult">> = {}) =>
    store.call("recordResult", {
      jobId: id,
      token,
      verdict: "culprit",
      reason: null,
      culpritSha: sha("c"),
      confidence: 1,
      tested: 3,
      rounds: 2,
      error: null,
      probes: [],
      ...r,
    });
  /** queued ─claim─► dispatching ─dispatch─► dispatched ─claim─► held by `worker` again. */
  async function dispatchedAndHeld(id: number, worker = "worker-a", runId = RUN_ID): Promise<ClaimedJob> {
    const first = await claimOne(worker, 100);
    expect(first.id).toBe(id);
    expect(
      await store.call("recordDispatch", {
        jobId: id,
        token: first.token,
        runId,
        runUrl: `https://github.com/o/r/actions/runs/${runId}`,
        checkAfterSeconds: 0,
      }),
    ).toBe(true);
    const check = await claimOne(worker, 100);
    expect(check).toMatchObject({ id, state: "dispatched" });
    return check;
  }
  const position = (id: number) => store.call("queuePosition", { jobId: id });

  describe("reads", () => {
    it("numbers a repository's queued jobs in the order workers take them; null once not queued", async () => {
      const a = [await create(), await create(), await create()];
      const b = await create(REPO_B);
      expect(await Promise.all(a.map(position))).toEqual([1, 2, 3]);
      expect(await position(b)).toBe(1);

      const first = await claimOne("worker-a", 100);
      expect(first.id).toBe(a[0]);
      expect(await Promise.all(a.map(position))).toEqual([null, 1, 2]);
      // A retry waits for its backoff: the others go first.
      expect(await store.call("failAttempt", { jobId: a[0]!, token: first.token, error: "runner lost", retryAfterSeconds: 0, probes: [] })).toBe("queued");
      expect(await Promise.all(a.map(position))).toEqual([3, 1, 2]);
      expect((await store.call("cancelJob", { jobId: a[1]!, by: "octocat" })).cancelled).toBe(true);
      expect(await Promise.all(a.map(position))).toEqual([2, null, 1]);
      expect(await position(b)).toBe(1);
    });

    it("finds the latest job of an issue or pull request", async () => {
      await create({ ...REPO_A, issueNumber: 7 });
      const latest = await create({ ...REPO_A, issueNumber: 7 });
      const elsewhere = await create({ ...REPO_B, issueNumber: 7 });
      expect((await store.call("latestJob", { repositoryId: REPO_A.repositoryId, issueNumber: 7 }))?.id).toBe(latest);
      expect((await store.call("latestJob", { repositoryId: REPO_B.repositoryId, issueNumber: 7 }))?.id).toBe(elsewhere);
      expect(await store.call("latestJob", { repositoryId: REPO_A.repositoryId, issueNumber: 8 })).toBeUndefined();
      // Whatever its state: a cancelled job is still the latest.
      expect((await store.call("cancelJob", { jobId: latest, by: "octocat" })).cancelled).toBe(true);
      expect(await store.call("latestJob", { repositoryId: REPO_A.repositoryId, issueNumber: 7 })).toMatchObject({ id: latest, state: "cancelled" });
    });

    it("knows whether a comment was handled: a job or a reply for it, in that repository", async () => {
      const job = newJob(REPO_A);
      await store.call("createJob", job);
      const handled = (commentId: number, repositoryId = REPO_A.repositoryId) => store.call("commentHandled", { repositoryId, commentId });
      expect(await handled(job.commentId)).toBe(true);
      expect(await handled(job.commentId, REPO_B.repositoryId)).toBe(false);
      expect(await handled(1)).toBe(false);

      const task = { deliveryId: "d-1", ...REPO_A, installationId: 1, issueNumber: 9, commentId: 2 };
      // A command read, not answered yet, is not handled.
      await store.call("enqueueTask", {
        kind: "command",
        ...task,
        payload: { body: "/bisect", requester: "octocat", isPullRequest: false, commentedAt: "2026-12-01T12:00:00Z" },
      });
      expect(await handled(2)).toBe(false);
      await store.call("enqueueTask", { kind: "reply", ...task, payload: { body: "Usage: …", reaction: "confused", cancelRunId: null } });
      expect(await handled(2)).toBe(true);
      expect(await handled(2, REPO_B.repositoryId)).toBe(false);
    });

    it("counts jobs by state, and this instance's leases", async () => {
      const zero = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0, running_on_this_instance: 0 };
      expect(await store.call("stats", { worker: "stats-worker" })).toEqual(zero);
      // One at a time: a job being held for its check must be the only one due.
      const succeeded = await create();
      const s = await dispatchedAndHeld(succeeded, "stats-worker");
      expect(await result(succeeded, s.token)).toBe(true);
      const failed = await create();
      const f = await dispatchedAndHeld(failed, "stats-worker");
      expect(await result(failed, f.token, { verdict: "error", reason: "command-not-found", culpritSha: null, error: "no such command" })).toBe(true);
      const timedOut = await create();
      const o = await dispatchedAndHeld(timedOut, "stats-worker");
      expect(await store.call("timeOutJob", { jobId: timedOut, token: o.token, error: "too long", tested: 1 })).toBe(true);
      expect((await store.call("cancelJob", { jobId: await create(), by: "octocat" })).cancelled).toBe(true);
      const running = await create();
      expect((await claimOne("stats-worker")).id).toBe(running);
      await create(); // queued

      expect(await store.call("stats", { worker: "stats-worker" })).toEqual({
        pending: 1,
        running: 1,
        completed: 1,
        failed: 2,
        cancelled: 1,
        running_on_this_instance: 1,
      });
      expect((await store.call("stats", { worker: "another-worker" })).running_on_this_instance).toBe(0);
      // An expired lease is nobody's.
      await t.expireLeases();
      expect((await store.call("stats", { worker: "stats-worker" })).running_on_this_instance).toBe(0);
      // Ended jobs count for a day; waiting and running ones for as long as they wait and run.
      await admin.exec(`update public.bisect_jobs set finished_at = finished_at - interval '25 hours' where id in (${succeeded}, ${failed})`);
      await admin.exec(`update public.bisect_jobs set created_at = created_at - interval '40 days' where id = ${running}`);
      expect(await store.call("stats", { worker: "stats-worker" })).toMatchObject({ pending: 1, running: 1, completed: 0, failed: 1, cancelled: 1 });
    });

    it("prunes finished tasks and claim records past the retention, in batches, and nothing else", async () => {
      const task = { repository: REPO_A.repository, repositoryId: REPO_A.repositoryId, installationId: 1, issueNumber: 9, deliveryId: null };
      for (let i = 0; i < 5; i++)
        await store.call("enqueueTask", { kind: "reply", ...task, commentId: 900 + i, payload: { body: "Usage: …", reaction: "confused", cancelRunId: null } });
      const job = await create();
      await claimOne();
      await admin.exec("update public.bisect_tasks set state = 'done', finished_at = now() - interval '31 days' where comment_id in (900, 901, 902)");
      await admin.exec("update public.bisect_tasks set state = 'done', finished_at = now() - interval '29 days' where comment_id = 903");
      await admin.exec(`update public.bisect_claim_audit set claimed_at = now() - interval '31 days' where job_id = ${job}`);
      const month = 30 * 86_400;
      // Batches of 2: the first is full, the second is not.
      expect(await store.call("prune", { olderThanSeconds: month, batch: 2 })).toBe(3);
      expect(await store.call("prune", { olderThanSeconds: month, batch: 2 })).toBe(1);
      expect(await store.call("prune", { olderThanSeconds: month, batch: 2 })).toBe(0);
      const left = await admin.query<{ comment_id: string; state: string }>("select comment_id::text, state from public.bisect_tasks order by comment_id");
      // The task finished 29 days ago and the pending one stay; the job stays whatever its age.
      expect(left.rows).toEqual([
        { comment_id: "903", state: "done" },
        { comment_id: "904", state: "pending" },
      ]);
      expect((await admin.query("select 1 from public.bisect_claim_audit")).rows).toEqual([]);
      expect(await store.call("getJob", { jobId: job })).toBeDefined();
      await expect(store.call("prune", { olderThanSeconds: 60, batch: 100 })).rejects.toThrow(/keep rows at least an hour/);
    });

    it("pruneOld repeats full batches until a short one: a backlog goes in one call", async () => {
      const task = { repository: REPO_A.repository, repositoryId: REPO_A.repositoryId, installationId: 1, issueNumber: 9, deliveryId: null };
      for (let i = 0; i < 7; i++)
        await store.call("enqueueTask", { kind: "reply", ...task, commentId: 950 + i, payload: { body: "Usage: …", reaction: "confused", cancelRunId: null } });
      await admin.exec("update public.bisect_tasks set state = 'done', finished_at = now() - interval '31 days'");
      expect(await pruneOld(store, 30, 2)).toBe(7);
      expect((await admin.query("select 1 from public.bisect_tasks")).rows).toEqual([]);
    });

    it("lists per-repository load: slots held and jobs waiting", async () => {
      expect(await store.call("activeCounts", {})).toEqual([]);
      for (let i = 0; i < 3; i++) await create();
      await create(REPO_B);
      await claimOne("worker-a", 100);
      const counts = (await store.call("activeCounts", {})).sort((x, y) => x.repository_id - y.repository_id);
      expect(counts).toEqual([
        { repository_id: REPO_A.repositoryId, repository: REPO_A.repository, active: 1, queued: 2 },
        { repository_id: REPO_B.repositoryId, repository: REPO_B.repository, active: 0, queued: 1 },
      ]);
    });

    it("lists a job's probes of every attempt in the order recorded, and the runs its attempts recorded", async () => {
      const id = await create({ maxAttempts: 2 });
      const one = await dispatchedAndHeld(id, "worker-a", RUN_ID);
      const p1 = { sha: sha("1"), verdict: "good", exitCode: 0, durationMs: 10, round: 1 } as const;
      expect(await store.call("failAttempt", { jobId: id, token: one.token, error: "runner lost", retryAfterSeconds: 0, probes: [p1] })).toBe("queued");
      await admin.query("update public.bisect_jobs set next_check_at = now() where id = $1", [id]);
      const two = await dispatchedAndHeld(id, "worker-a", RUN_ID + 1);
      const p2 = [
        { sha: sha("3"), verdict: "bad", exitCode: 1, durationMs: 20, round: 1 },
        { sha: sha("2"), verdict: "skip", exitCode: 125, durationMs: 5, round: 2 },
      ] as const;
      expect(await result(id, two.token, { probes: [...p2] })).toBe(true);
      expect(await store.call("jobProbes", { jobId: id })).toEqual([{ attempt: 1, ...p1 }, ...p2.map((p) => ({ attempt: 2, ...p }))]);
      const runs = await store.call("attemptRuns", { jobId: id });
      expect(runs.map(({ attempt, run_id }) => ({ attempt, run_id }))).toEqual([
        { attempt: 1, run_id: RUN_ID },
        { attempt: 2, run_id: RUN_ID + 1 },
      ]);
      // When each attempt's first run was recorded: a fan-out's time limit counts from there.
      expect(runs[1]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[0]!.started_at.getTime());
    });
  });

  describe("dashboard views", () => {
    it("bisect_queue numbers the waiting jobs of each repository", async () => {
      const a = [await create(), await create(), await create()];
      const b = [await create(REPO_B), await create(REPO_B)];
      const done = await create(REPO_B);
      expect((await store.call("cancelJob", { jobId: done, by: "octocat" })).cancelled).toBe(true);
      const first = await claimOne("worker-a", 1);
      expect(first.id).toBe(a[0]);

      const { rows } = await admin.query<{ id: number; repository: string; state: string; queue_position: number | null; locked_by: string | null }>(
        "select id::int as id, repository, state, queue_position::int as queue_position, locked_by from public.bisect_queue",
      );
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(rows).toHaveLength(5); // finished jobs are not in the queue
      expect(byId.get(a[0]!)).toMatchObject({ state: "dispatching", queue_position: null, locked_by: "worker-a" });
      expect(byId.get(a[1]!)).toMatchObject({ repository: REPO_A.repository, state: "queued", queue_position: 1 });
      expect(byId.get(a[2]!)).toMatchObject({ queue_position: 2 });
      expect(byId.get(b[0]!)).toMatchObject({ repository: REPO_B.repository, queue_position: 1 });
      expect(byId.get(b[1]!)).toMatchObject({ queue_position: 2 });
      // The view and the function agree.
      for (const r of rows) expect(await position(r.id)).toBe(r.queue_position);
    });

    it("bisect_repository_stats counts states, success rate, durations and tests per bisect", async () => {
      const culprit = await create();
      let held = await dispatchedAndHeld(culprit);
      expect(await result(culprit, held.token, { verdict: "culprit", tested: 7 })).toBe(true);

      const clean = await create();
      held = await dispatchedAndHeld(clean);
      expect(await result(clean, held.token, { verdict: "no-culprit", reason: "bad-commit-passes", culpritSha: null, tested: 5 })).toBe(true);

      const broken = await create();
      held = await dispatchedAndHeld(broken);
      expect(await result(broken, held.token, { verdict: "error", reason: "contradiction", culpritSha: null, tested: 3, error: "boom" })).toBe(true);

      expect((await store.call("cancelJob", { jobId: await create(), by: "octocat" })).cancelled).toBe(true);
      await create(); // queued
      await create(REPO_B); // another repository
      await claimOne("worker-a", 100);
      // A fan-out's cost, as bisect_record_dispatch and bisect_add_probes count it.
      await admin.query("update public.bisect_jobs set round = 3, runner_jobs = 17, runner_minutes = 21 where id = $1", [culprit]);

      const { rows } = await admin.query<Record<string, unknown>>("select * from public.bisect_repository_stats order by repository");
      expect(rows).toHaveLength(2);
      const [b, a] = rows;
      expect(a).toMatchObject({ repository: REPO_A.repository });
      expect(b).toMatchObject({ repository: REPO_B.repository });
      const n = (v: unknown) => (v === null ? null : Number(v));
      expect({
        jobs: n(a!.jobs),
        queued: n(a!.queued),
        active: n(a!.active),
        succeeded: n(a!.succeeded),
        failed: n(a!.failed),
        cancelled: n(a!.cancelled),
        timed_out: n(a!.timed_out),
        culprits_found: n(a!.culprits_found),
        success_rate: n(a!.success_rate),
        tests_per_bisect: n(a!.tests_per_bisect),
        fan_outs: n(a!.fan_outs),
        runner_jobs: n(a!.runner_jobs),
        runner_minutes: n(a!.runner_minutes),
      }).toEqual({
        jobs: 5,
        queued: 0,
        active: 1,
        succeeded: 2,
        failed: 1,
        cancelled: 1,
        timed_out: 0,
        culprits_found: 1,
        success_rate: 0.667,
        tests_per_bisect: 5,
        fan_outs: 1,
        runner_jobs: 17,
        runner_minutes: 21,
      });
      expect(n(a!.median_seconds)).toBeGreaterThanOrEqual(0);
      expect(n(a!.p95_seconds)).toBeGreaterThanOrEqual(n(a!.median_seconds)!);
      expect({ jobs: n(b!.jobs), queued: n(b!.queued), success_rate: n(b!.success_rate), median_seconds: n(b!.median_seconds) }).toEqual({
        jobs: 1,
        queued: 1,
        success_rate: null,
        median_seconds: null,
      });
    });
  });
});
