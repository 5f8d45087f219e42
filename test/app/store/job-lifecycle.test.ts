/**
 * The job lifecycle (supabase/migrations/…0100_job_lifecycle.sql) through the Store, on every
 * transport: SQL on PGlite, SQL on a real PostgreSQL server, and supabase-js through the
 * PostgREST double on that server. Idempotent create, claims with leases and fencing tokens,
 * per-repository limits, recovery by a later claim, release, retries with backoff, results,
 * time-outs, cancel, run events, retry, the dispatch intent and the status comment.
 * `admin` (the database's owner) only does what a test must do behind the store's back:
 * back-dating leases, making jobs due, reading bisect_attempts, bisect_probes and the audit.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SqlClient } from "../../../app/src/store/sql-client.js";
import type { ArgsOf, ClaimedJob, JobRow, Store } from "../../../app/src/store/store.js";
import { jobOptions, newJob, sha, type NewJob } from "../../support/jobs.js";
import { stopTestPostgres } from "../../support/postgres.js";
import { count, openTestStore, snapshot, TRANSPORTS, type TestStore } from "../../support/store.js";

const REPO_A = { repository: "octo-org/widgets", repositoryId: 5_000_000_001 };
const REPO_B = { repository: "octo-org/gadgets", repositoryId: 5_000_000_002 };
// Past 2^32, as real GitHub run ids are: they must survive pg's bigint-as-string and JSON.
const RUN_ID = 21_474_836_470;
const runUrl = (runId: number) => `https://github.com/octo-org/widgets/actions/runs/${runId}`;
/** The backoff of a failed attempt: 30 s · 2^(n−1), ±20 %. */
const JOB_BACKOFF_BASE = 30;

type Probe = ArgsOf<"recordResult">["probes"][number];
const PROBES: Probe[] = [
  { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 1200, round: 1 },
  { sha: sha("b"), verdict: "good", exitCode: 0, durationMs: 900, round: 2 },
  { sha: sha("d"), verdict: "error", exitCode: null, durationMs: 30_000, round: 2 },
];

type Result = Partial<Omit<ArgsOf<"recordResult">, "jobId" | "token">>;

afterAll(() => stopTestPostgres());

describe.each(TRANSPORTS)("job lifecycle through the Store on %s", (transport) => {
  let t: TestStore;
  let store: Store;
  let admin: SqlClient;
  beforeAll(async () => {
    t = await openTestStore(transport, { poolSize: 20 });
    store = t.store;
    admin = t.admin;
  });
  afterAll(() => t?.close());
  // Claims take due jobs of every repository: every test starts with empty tables.
  beforeEach(() => t.reset());

  const create = async (overrides: Partial<NewJob> = {}) => {
    const { job_id, created } = await store.call("createJob", newJob(overrides));
    return { id: job_id, created };
  };
  const claim = async (worker: string, o: { limit?: number; lease?: number; maxActive?: number } = {}): Promise<ClaimedJob[]> =>
    (await store.call("claimJobs", { worker, limit: o.limit ?? 10, leaseSeconds: o.lease ?? 30, maxActive: o.maxActive ?? 4 })).sort((a, b) => a.id - b.id);
  const claimOne = async (worker = "worker-a", maxActive = 4): Promise<ClaimedJob> => {
    const claimed = await claim(worker, { maxActive, limit: 1 });
    expect(claimed).toHaveLength(1);
    return claimed[0]!;
  };
  const held = (claimed: ClaimedJob[]) => claimed.map((j) => ({ id: j.id, state: j.state, attempts: j.attempts, locked_by: j.locked_by }));
  const job = async (id: number): Promise<JobRow> => {
    const row = await store.call("getJob", { jobId: id });
    expect(row, `job ${id}`).toBeDefined();
    return row!;
  };
  /** Seconds, as set by the last change: the lease it gave and the delay until the next look (one now()); and until due from now. */
  const timing = async (id: number) =>
    (
      await admin.query<{ lease: number | null; delay: number; due_in: number }>(
        `select extract(epoch from lease_expires_at - updated_at)::float8 as lease,
                extract(epoch from next_check_at - updated_at)::float8 as delay,
                extract(epoch from next_check_at - now())::float8 as due_in
         from public.bisect_jobs where id = $1`,
        [id],
      )
    ).rows[0]!;
  const attempts = async (id: number) =>
    (
      await admin.query<{ attempt: number; worker: string; run_id: string | null; outcome: string; reason: string | null; finished: boolean }>(
        "select attempt, worker, run_id::text as run_id, outcome, reason, finished_at is not null as finished from public.bisect_attempts where job_id = $1 order by attempt",
        [id],
      )
    ).rows;
  /** The job's row, its attempts and its probes: what "changes nothing" compares. */
  const everything = async (id: number) => ({
    job: await snapshot(admin, "bisect_jobs", id),
    attempts: (await admin.query("select to_jsonb(a)::text as row from public.bisect_attempts a where job_id = $1 order by id", [id])).rows,
    probes: (await admin.query("select to_jsonb(p)::text as row from public.bisect_probes p where job_id = $1 order by id", [id])).rows,
  });

  const extend = (token: number, seconds = 30) => store.call("extendLease", { token, leaseSeconds: seconds });
  const release = (token: number) => store.call("releaseLease", { token });
  const dispatch = (id: number, token: number, runId = RUN_ID, checkAfter = 0) =>
    store.call("recordDispatch", { jobId: id, token, runId, runUrl: runUrl(runId), checkAfterSeconds: checkAfter });
  const checkLater = (id: number, token: number, seconds = 0) => store.call("checkLater", { jobId: id, token, seconds });
  const timeOut = (id: number, token: number, error = "took longer than 1800 s", tested = 4) => store.call("timeOutJob", { jobId: id, token, error, tested });
  const result = (id: number, token: number, r: Result = {}) =>
    store.call("recordResult", {
      jobId: id,
      token,
      verdict: r.verdict ?? "culprit",
      reason: r.reason ?? null,
      culpritSha: r.culpritSha === undefined ? sha("c") : r.culpritSha,
      confidence: r.confidence === undefined ? 0.99 : r.confidence,
      tested: r.tested ?? 3,
      rounds: r.rounds ?? 2,
      error: r.error ?? null,
      probes: r.probes ?? PROBES,
    });
  const fail = (id: number, token: number, error = "runner lost", retryAfterSeconds = 0, probes: Probe[] = []) =>
    store.call("failAttempt", { jobId: id, token, error, retryAfterSeconds, probes });
  const cancel = (id: number, by = "octocat") => store.call("cancelJob", { jobId: id, by });
  const runEvent = (runId: number, status: string, o: { jobId?: number; conclusion?: string; attempt?: number; repositoryId?: number } = {}) =>
    store.call("noteRunEvent", {
      repositoryId: o.repositoryId ?? REPO_A.repositoryId,
      runId,
      runAttempt: o.attempt ?? 1,
      jobId: o.jobId ?? null,
      status,
      conclusion: o.conclusion ?? null,
    });

  const backdateLease = (id: number) => admin.query("update public.bisect_jobs set lease_expires_at = now() - interval '1 s' where id = $1", [id]);
  const makeDue = (id: number) => admin.query("update public.bisect_jobs set next_check_at = now() where id = $1", [id]);

  /** queued ─claim─► dispatching ─dispatch─► dispatched ─claim (due check)─► held by `worker` again. */
  async function dispatchedAndHeld(id: number, worker = "worker-a", runId = RUN_ID): Promise<ClaimedJob> {
    const first = await claimOne(worker, 100);
    expect(first.id).toBe(id);
    expect(await dispatch(id, first.token, runId, 0)).toBe(true);
    const check = await claimOne(worker, 100);
    expect(check).toMatchObject({ id, state: "dispatched" });
    return check;
  }

  describe("create", () => {
    it("makes one job per delivery id and per (repository, comment)", async () => {
      const first = await create({ deliveryId: "d-1", commentId: 111 });
      expect(first.created).toBe(true);
      // GitHub redelivers the same delivery.
      expect(await create({ deliveryId: "d-1", commentId: 111 })).toEqual({ id: first.id, created: false });
      // The same comment under a new delivery id (a manual redelivery from the App settings).
      expect(await create({ deliveryId: "d-2", commentId: 111 })).toEqual({ id: first.id, created: false });
      expect(await count(admin, "select count(*) from public.bisect_jobs")).toBe(1);

      // The same comment id in another repository is another comment, and both are claimed.
      const other = await create({ deliveryId: "d-3", commentId: 111, ...REPO_B });
      expect(other.created).toBe(true);
      expect(other.id).not.toBe(first.id);
      expect(await count(admin, "select count(*) from public.bisect_jobs")).toBe(2);
      expect((await claim("worker-a")).map((j) => j.id)).toEqual([first.id, other.id]);
    });

    it("makes one job when the same comment arrives many times at once", async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => create({ deliveryId: i % 2 === 0 ? "storm-1" : `storm-${i}`, commentId: 222 })));
      expect(answers.filter((a) => a.created)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.id)).size).toBe(1);
      expect(await count(admin, "select count(*) from public.bisect_jobs")).toBe(1);
    });

    it("keeps every field as given: several goods, quoted commands, options, ids past 2^32", async () => {
      const input = newJob({
        goodRefs: ["v1.4", "v1.3"],
        goodShas: [sha("a"), sha("b")],
        command: "npm test -- --grep 'parser' \"and\" $HOME",
        options: jobOptions({ firstParent: true, parallel: 3, setup: "npm ci", pullRequest: 12 }),
        installationId: null,
      });
      const { job_id: id } = await store.call("createJob", input);
      const { next_check_at, created_at, updated_at, ...row } = await job(id);
      for (const at of [next_check_at, created_at, updated_at]) expect(at).toBeInstanceOf(Date);
      expect(row).toEqual({
        id,
        delivery_id: input.deliveryId,
        repository: "octo-org/widgets",
        repository_id: 5_000_000_001,
        installation_id: null,
        issue_number: 42,
        comment_id: input.commentId,
        requester: "octocat",
        origin: "comment",
        red_run: null,
        free_verdicts: [],
        good_refs: ["v1.4", "v1.3"],
        bad_ref: "main",
        good_shas: [sha("a"), sha("b")],
        bad_sha: sha("f"),
        command: "npm test -- --grep 'parser' \"and\" $HOME",
        options: input.options,
        state: "queued",
        attempts: 0,
        max_attempts: 3,
        locked_by: null,
        lease_token: null,
        lease_expires_at: null,
        dispatch_intent_attempt: null,
        run_id: null,
        run_url: null,
        dispatched_at: null,
        noted_run_id: null,
        noted_run_attempt: null,
        noted_conclusion: null,
        failed_checks: 0,
        resume_from_attempt: 1,
        status_comment_id: null,
        round: 0,
        round_commits: [],
        runner_jobs: 0,
        runner_minutes: 0,
        verdict: null,
        reason: null,
        culprit_sha: null,
        confidence: null,
        tested: null,
        rounds: null,
        error: null,
        cancelled_by: null,
        started_at: null,
        finished_at: null,
      });
    });
  });

  describe("claim and lease", () => {
    it("leases a queued job with a fencing token and counts an attempt; a second claim gets nothing", async () => {
      const { id } = await create();
      const claimed = await claim("worker-a");
      expect(held(claimed)).toEqual([{ id, state: "dispatching", attempts: 1, locked_by: "worker-a" }]);
      expect(claimed[0]!.token).toBe(claimed[0]!.lease_token);
      const row = await job(id);
      expect(row).toMatchObject({ state: "dispatching", attempts: 1, locked_by: "worker-a", lease_token: claimed[0]!.token });
      expect(row.started_at).toBeInstanceOf(Date);
      expect((await timing(id)).lease).toBe(30);

      expect(await claim("worker-b")).toEqual([]);
      expect(await claim("worker-a")).toEqual([]);
      expect(await count(admin, "select count(*) from public.bisect_claim_audit where job_id = $1", [id])).toBe(1);
    });

    it("extends a lease it holds, by its token", async () => {
      const { id } = await create();
      const { token } = await claimOne();
      expect(await extend(token, 300)).toBe(true);
      expect((await timing(id)).lease).toBe(300);
      const before = await snapshot(admin, "bisect_jobs", id);
      expect(await extend(token + 1000, 600)).toBe(false);
      expect(await snapshot(admin, "bisect_jobs", id)).toBe(before);
    });

    it("claims every job exactly once when many workers claim at the same moment", async () => {
      for (let i = 0; i < 40; i++) await create(i % 2 === 0 ? {} : REPO_B);
      const seen: number[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (;;) {
            const got = await claim(`worker-${w}`, { limit: 3, maxActive: 100 });
            if (got.length === 0) return;
            seen.push(...got.map((g) => g.id));
          }
        }),
      );
      expect(seen).toHaveLength(40);
      expect(new Set(seen).size).toBe(40);
      expect(await count(admin, "select count(*) from public.bisect_claim_audit")).toBe(40);
      expect(await count(admin, "select count(distinct job_id) from public.bisect_claim_audit")).toBe(40);
    });

    it("does not look at a dispatched run before its check is due", async () => {
      const { id } = await create();
      const { token } = await claimOne();
      expect(await dispatch(id, token, RUN_ID, 3600)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "dispatched", run_id: RUN_ID, run_url: runUrl(RUN_ID), locked_by: null, lease_expires_at: null });
      expect((await timing(id)).delay).toBe(3600);
      expect(await claim("worker-a")).toEqual([]);
      expect(await store.call("activeCounts", {})).toEqual([{ repository_id: REPO_A.repositoryId, repository: REPO_A.repository, active: 1, queued: 0 }]);
    });
  });

  describe("per-repository limit", () => {
    it("runs at most max_active jobs of a repository; the rest wait in order and the next goes when one finishes", async () => {
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await create()).id);
      const other = (await create(REPO_B)).id;

      const claimed = await claim("worker-a", { limit: 10, maxActive: 2 });
      expect(claimed.map((j) => j.id)).toEqual([ids[0], ids[1], other]);
      expect(await claim("worker-b", { limit: 10, maxActive: 2 })).toEqual([]);
      const counts = (await store.call("activeCounts", {})).sort((a, b) => a.repository.localeCompare(b.repository));
      expect(counts).toEqual([
        { repository_id: REPO_B.repositoryId, repository: REPO_B.repository, active: 1, queued: 0 },
        { repository_id: REPO_A.repositoryId, repository: REPO_A.repository, active: 2, queued: 3 },
      ]);

      // The first finishes: the third, not the fourth or fifth, takes its slot.
      const done = claimed[0]!;
      expect(await dispatch(done.id, done.token, RUN_ID, 0)).toBe(true);
      const check = await claimOne("worker-a", 2);
      expect(check.id).toBe(done.id);
      expect(await result(done.id, check.token)).toBe(true);
      expect((await claim("worker-b", { limit: 10, maxActive: 2 })).map((j) => j.id)).toEqual([ids[2]]);
      expect(await claim("worker-b", { limit: 10, maxActive: 2 })).toEqual([]);
    });

    it("does not overfill a repository when claims race", async () => {
      for (let i = 0; i < 5; i++) await create();
      const answers = await Promise.all(Array.from({ length: 8 }, (_, w) => claim(`worker-${w}`, { limit: 5, maxActive: 2 })));
      expect(answers.flat()).toHaveLength(2);
      expect(await count(admin, "select count(*) from public.bisect_jobs where state = 'dispatching'")).toBe(2);
    });

    // Regression (of the old sweep): a job whose worker died while dispatching must not hold one
    // of its repository's slots for good; the next claim takes it, before any waiting job.
    it("gives the slot of a worker that died while dispatching to the next claim of that job, not to a waiting one", async () => {
      const dead = (await create()).id;
      const waiting = (await create()).id;
      expect((await claimOne("worker-dead", 1)).id).toBe(dead);
      await backdateLease(dead);
      const taken = await claim("worker-b", { maxActive: 1 });
      expect(held(taken)).toEqual([{ id: dead, state: "dispatching", attempts: 1, locked_by: "worker-b" }]);
      expect(await job(waiting)).toMatchObject({ state: "queued", attempts: 0, locked_by: null });
      expect(await store.call("activeCounts", {})).toEqual([{ repository_id: REPO_A.repositoryId, repository: REPO_A.repository, active: 1, queued: 1 }]);
    });
  });

  describe("fencing", () => {
    it("lets another worker take an expired lease, and the old token changes nothing", async () => {
      const { id } = await create();
      const old = await claimOne("worker-a");
      await backdateLease(id);

      const taken = await claimOne("worker-b");
      expect(held([taken])).toEqual([{ id, state: "dispatching", attempts: 1, locked_by: "worker-b" }]);
      expect(taken.token).toBeGreaterThan(old.token);

      const before = await everything(id);
      expect(await extend(old.token)).toBe(false);
      expect(await store.call("recordDispatchIntent", { jobId: id, token: old.token })).toBe(false);
      expect(await store.call("setStatusComment", { jobId: id, token: old.token, commentId: 1 })).toBe(false);
      expect(await dispatch(id, old.token)).toBe(false);
      expect(await result(id, old.token)).toBe(false);
      expect(await fail(id, old.token, "late", 0, PROBES)).toBeNull();
      expect(await release(old.token)).toBe(false);
      expect(await checkLater(id, old.token)).toBe(false);
      expect(await timeOut(id, old.token)).toBe(false);
      expect(await everything(id)).toEqual(before);
      expect(await count(admin, "select count(*) from public.bisect_attempts")).toBe(0);
      expect(await count(admin, "select count(*) from public.bisect_probes")).toBe(0);

      // The new holder's token works.
      expect(await dispatch(id, taken.token)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "dispatched", run_id: RUN_ID });
    });

    it("refuses an expired token even before anyone else took the job", async () => {
      const { id } = await create();
      const { token } = await claimOne();
      await backdateLease(id);
      const before = await everything(id);
      expect(await extend(token)).toBe(false);
      expect(await dispatch(id, token)).toBe(false);
      expect(await release(token)).toBe(false);
      expect(await result(id, token)).toBe(false);
      expect(await everything(id)).toEqual(before);
      expect(held(await claim("worker-b"))).toEqual([{ id, state: "dispatching", attempts: 1, locked_by: "worker-b" }]);
    });

    it("ends the dispatching lease at dispatch: its token cannot finish the job later", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      const before = await everything(id);
      expect(await result(id, first.token)).toBe(false);
      expect(await fail(id, first.token)).toBeNull();
      expect(await checkLater(id, first.token)).toBe(false);
      expect(await extend(first.token)).toBe(false);
      expect(await release(first.token)).toBe(false);
      expect(await everything(id)).toEqual(before);
    });
  });

  describe("recovery by a later claim", () => {
    it("takes expired leases (and only those); a dispatched job is checked again", async () => {
      const a = (await create()).id;
      const dead = await dispatchedAndHeld(a);
      const b = (await create()).id;
      expect((await claimOne("worker-a")).id).toBe(b);
      await backdateLease(a);

      const again = await claim("worker-b");
      expect(held(again)).toEqual([{ id: a, state: "dispatched", attempts: 1, locked_by: "worker-b" }]);
      expect(again[0]!.token).not.toBe(dead.token);
      expect(await job(b)).toMatchObject({ state: "dispatching", locked_by: "worker-a" });
      expect(await extend(dead.token)).toBe(false);
      expect(await result(a, dead.token)).toBe(false);
      expect(await result(a, again[0]!.token)).toBe(true);
      const audit = await admin.query<{ worker: string; from_state: string }>(
        "select worker, from_state from public.bisect_claim_audit where job_id = $1 order by lease_token",
        [a],
      );
      expect(audit.rows).toEqual([
        { worker: "worker-a", from_state: "queued" },
        { worker: "worker-a", from_state: "dispatched" },
        { worker: "worker-b", from_state: "dispatched" },
      ]);
    });

    it("takes a dispatching job whose worker died before dispatching, without counting another attempt", async () => {
      const { id } = await create();
      const dead = await claimOne("worker-dead");
      await backdateLease(id);
      const again = await claim("worker-b");
      expect(held(again)).toEqual([{ id, state: "dispatching", attempts: 1, locked_by: "worker-b" }]);
      expect(again[0]!.token).not.toBe(dead.token);
      expect(await release(dead.token)).toBe(false);
      expect(await job(id)).toMatchObject({ locked_by: "worker-b", lease_token: again[0]!.token });
    });

    it("claims a dispatching job deferred with check_later (its run not found yet) again when due", async () => {
      const { id } = await create();
      const { token } = await claimOne();
      expect(await checkLater(id, token, 3600)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "dispatching", locked_by: null, lease_expires_at: null });
      expect(await claim("worker-b")).toEqual([]);
      await makeDue(id);
      expect(held(await claim("worker-b"))).toEqual([{ id, state: "dispatching", attempts: 1, locked_by: "worker-b" }]);
    });
  });

  describe("release (graceful shutdown)", () => {
    it("gives back an undispatched job without counting the attempt, however often (rolling restarts)", async () => {
      const { id } = await create({ maxAttempts: 3 });
      const first = await claimOne();
      expect(first.attempts).toBe(1);
      expect(await release(first.token)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "queued", attempts: 0, locked_by: null, lease_expires_at: null });
      expect(await release(first.token)).toBe(false);

      for (let i = 0; i < 5; i++) {
        const again = await claimOne(`worker-${i}`);
        expect(again.attempts).toBe(1);
        expect(await release(again.token)).toBe(true);
      }
      expect(await job(id)).toMatchObject({ state: "queued", attempts: 0 });
      // It still has every attempt: three failures before it fails.
      for (let n = 1; n <= 3; n++) {
        const attempt = await claimOne("worker-x");
        expect(attempt.attempts).toBe(n);
        expect(await fail(id, attempt.token)).toBe(n < 3 ? "queued" : "failed");
        await makeDue(id);
      }
    });

    it("gives back a dispatched job as it is, due at once for the next worker to check", async () => {
      const { id } = await create();
      const check = await dispatchedAndHeld(id);
      expect(await release(check.token)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "dispatched", attempts: 1, run_id: RUN_ID, locked_by: null, lease_expires_at: null });
      expect((await timing(id)).due_in).toBeLessThanOrEqual(0);
      expect(held([await claimOne("worker-b")])).toEqual([{ id, state: "dispatched", attempts: 1, locked_by: "worker-b" }]);
    });
  });

  describe("retries", () => {
    it("requeues an infrastructure failure with growing backoff, then fails after max_attempts with the reason", async () => {
      const { id } = await create({ maxAttempts: 3 });
      const delays: number[] = [];
      for (let n = 1; n <= 3; n++) {
        const check = await dispatchedAndHeld(id, `worker-${n}`, RUN_ID + n);
        expect(check.attempts).toBe(n);
        const probes: Probe[] = [{ sha: sha(String(n)), verdict: "good", exitCode: 0, durationMs: 100 * n, round: 1 }];
        const state = await fail(id, check.token, `runner lost (attempt ${n})`, 0, probes);
        if (n < 3) {
          expect(state).toBe("queued");
          expect(await job(id)).toMatchObject({ state: "queued", attempts: n, locked_by: null, run_id: null, run_url: null, error: null, finished_at: null });
          const { delay } = await timing(id);
          const nominal = JOB_BACKOFF_BASE * 2 ** (n - 1);
          // ±20 % jitter.
          expect(delay).toBeGreaterThanOrEqual(nominal * 0.8);
          expect(delay).toBeLessThanOrEqual(nominal * 1.2);
          delays.push(delay);
          // Not before its time.
          expect(await claim("worker-x", { maxActive: 100 })).toEqual([]);
          await makeDue(id);
        } else {
          expect(state).toBe("failed");
        }
      }
      expect(delays[1]!).toBeGreaterThan(delays[0]!);

      const row = await job(id);
      expect(row).toMatchObject({ state: "failed", attempts: 3, error: "runner lost (attempt 3)", locked_by: null });
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(await claim("worker-x", { maxActive: 100 })).toEqual([]);

      // Attempted exactly max_attempts times: claims that started an attempt, dispatches, failures.
      expect(await count(admin, "select count(*) from public.bisect_claim_audit where job_id = $1 and from_state = 'queued'", [id])).toBe(3);
      expect(await attempts(id)).toEqual(
        [1, 2, 3].map((n) => ({
          attempt: n,
          worker: `worker-${n}`,
          run_id: String(RUN_ID + n),
          outcome: "failed",
          reason: `runner lost (attempt ${n})`,
          finished: true,
        })),
      );
      // The verdicts each attempt reported are kept, so the next one resumes.
      expect((await store.call("jobProbes", { jobId: id })).map((p) => [p.attempt, p.sha])).toEqual([1, 2, 3].map((n) => [n, sha(String(n))]));
    });

    it("spreads the first retry over 30 s ±20 %", async () => {
      for (let i = 0; i < 12; i++) await create();
      const claimed = await claim("worker-a", { limit: 20, maxActive: 100 });
      expect(claimed).toHaveLength(12);
      for (const c of claimed) expect(await fail(c.id, c.token)).toBe("queued");
      const { rows } = await admin.query<{ delay: number }>("select extract(epoch from next_check_at - updated_at)::float8 as delay from public.bisect_jobs");
      const delays = rows.map((r) => r.delay);
      expect(delays).toHaveLength(12);
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(JOB_BACKOFF_BASE * 0.8);
        expect(d).toBeLessThanOrEqual(JOB_BACKOFF_BASE * 1.2);
      }
      // Jitter: not all the same.
      expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(1);
    });

    it("waits at least as long as GitHub's retry-after asks, and the backoff when that is longer", async () => {
      const { id } = await create({ maxAttempts: 3 });
      const first = await claimOne();
      expect(await fail(id, first.token, "secondary rate limit", 500)).toBe("queued");
      expect((await timing(id)).delay).toBeCloseTo(500, 6);
      await makeDue(id);
      const second = await claimOne();
      expect(second.attempts).toBe(2);
      // retry-after 10 s is shorter than the second backoff (60 s ±20 %): the backoff wins.
      expect(await fail(id, second.token, "secondary rate limit", 10)).toBe("queued");
      const { delay } = await timing(id);
      expect(delay).toBeGreaterThanOrEqual(2 * JOB_BACKOFF_BASE * 0.8);
      expect(delay).toBeLessThanOrEqual(2 * JOB_BACKOFF_BASE * 1.2);
    });

    it("keeps each attempt's verdicts, and a spent token fails nothing twice", async () => {
      const { id } = await create({ maxAttempts: 2 });
      const first = await claimOne();
      const probe: Probe = { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 500, round: 1 };
      expect(await fail(id, first.token, "runner lost", 0, [probe])).toBe("queued");
      expect(await job(id)).toMatchObject({ state: "queued", attempts: 1, error: null, finished_at: null });
      expect(await fail(id, first.token, "runner lost", 0, [])).toBeNull();
      await makeDue(id);

      const second = await claimOne();
      expect(second.attempts).toBe(2);
      expect(await fail(id, second.token, "artifact bisect-result-1 is missing", 0, [{ ...probe, sha: sha("d"), round: 2 }])).toBe("failed");
      expect(await job(id)).toMatchObject({ state: "failed", attempts: 2, error: "artifact bisect-result-1 is missing" });
      expect((await store.call("jobProbes", { jobId: id })).map((p) => [p.attempt, p.sha])).toEqual([
        [1, sha("c")],
        [2, sha("d")],
      ]);
      expect(await claim("worker-a")).toEqual([]);
    });

    it("fails a job straight from dispatching (the dispatch itself failed)", async () => {
      const { id } = await create({ maxAttempts: 1 });
      const { token } = await claimOne();
      expect(await fail(id, token, "workflow bisect.yml not found")).toBe("failed");
      expect(await job(id)).toMatchObject({ state: "failed", attempts: 1, error: "workflow bisect.yml not found" });
      expect(await attempts(id)).toEqual([
        { attempt: 1, worker: "worker-a", run_id: null, outcome: "failed", reason: "workflow bisect.yml not found", finished: true },
      ]);
    });
  });

  describe("results", () => {
    it("stores the verdict, the probes and the attempt's outcome; a job that ended is final", async () => {
      const { id } = await create();
      const check = await dispatchedAndHeld(id);
      expect(await result(id, check.token, { verdict: "culprit", culpritSha: sha("c"), confidence: 0.995, tested: 3, rounds: 2 })).toBe(true);

      const row = await job(id);
      expect(row).toMatchObject({
        state: "succeeded",
        verdict: "culprit",
        reason: null,
        culprit_sha: sha("c"),
        confidence: 0.995,
        tested: 3,
        rounds: 2,
        error: null,
        locked_by: null,
        lease_expires_at: null,
        run_id: RUN_ID,
        run_url: runUrl(RUN_ID),
      });
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at!.getTime());
      expect(await store.call("jobProbes", { jobId: id })).toEqual(PROBES.map((p) => ({ attempt: 1, ...p })));
      expect(await attempts(id)).toEqual([{ attempt: 1, worker: "worker-a", run_id: String(RUN_ID), outcome: "succeeded", reason: null, finished: true }]);

      // Final: the same token cannot record twice, and nobody claims it again.
      expect(await result(id, check.token)).toBe(false);
      expect(await claim("worker-b")).toEqual([]);
    });

    it("records 'no-culprit' as a success and 'error' as a failure, each with its reason", async () => {
      const a = (await create()).id;
      const heldA = await dispatchedAndHeld(a);
      expect(await result(a, heldA.token, { verdict: "no-culprit", reason: "bad-commit-passes", culpritSha: null, confidence: null, probes: [] })).toBe(true);
      expect(await job(a)).toMatchObject({ state: "succeeded", verdict: "no-culprit", reason: "bad-commit-passes", culprit_sha: null, confidence: null });

      const b = (await create()).id;
      const heldB = await dispatchedAndHeld(b);
      expect(
        await result(b, heldB.token, {
          verdict: "error",
          reason: "command-not-found",
          culpritSha: null,
          confidence: null,
          error: "the command is not in the repository",
          probes: [],
        }),
      ).toBe(true);
      expect(await job(b)).toMatchObject({ state: "failed", verdict: "error", reason: "command-not-found", error: "the command is not in the repository" });
      expect(await attempts(b)).toEqual([
        { attempt: 1, worker: "worker-a", run_id: String(RUN_ID), outcome: "failed", reason: "the command is not in the repository", finished: true },
      ]);
    });

    it("changes nothing when a probe is malformed (the whole call is one transaction)", async () => {
      const { id } = await create();
      const check = await dispatchedAndHeld(id);
      const before = await everything(id);
      // Valid to the result document's schema, out of range for the column.
      const tooLong: Probe = { sha: sha("e"), verdict: "bad", exitCode: 1, durationMs: 3_000_000_000, round: 3 };
      await expect(result(id, check.token, { probes: [...PROBES, tooLong] })).rejects.toThrow(/out of range for type integer/);
      expect(await everything(id)).toEqual(before);
      // Refused before it is sent: not a sha.
      await expect(result(id, check.token, { probes: [{ ...tooLong, sha: "not-a-sha; drop table public.bisect_jobs", durationMs: 1 }] })).rejects.toThrow(
        /full lowercase commit sha/,
      );
      expect(await everything(id)).toEqual(before);
      expect(await count(admin, "select count(*) from public.bisect_probes")).toBe(0);
      expect(await result(id, check.token)).toBe(true);
    });

    it("times out a job that outlived its budget, and ends its attempt", async () => {
      const { id } = await create();
      const check = await dispatchedAndHeld(id);
      expect(await timeOut(id, check.token, "took longer than 1800 s", 6)).toBe(true);
      const row = await job(id);
      expect(row).toMatchObject({ state: "timed_out", error: "took longer than 1800 s", tested: 6, locked_by: null, lease_expires_at: null });
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(await timeOut(id, check.token)).toBe(false);
      expect(await attempts(id)).toEqual([
        { attempt: 1, worker: "worker-a", run_id: String(RUN_ID), outcome: "timed_out", reason: "took longer than 1800 s", finished: true },
      ]);
      expect(await claim("worker-b")).toEqual([]);
    });
  });

  describe("cancel", () => {
    it("returns the run to cancel, records who cancelled, and is idempotent", async () => {
      const queued = (await create()).id;
      expect(await cancel(queued)).toEqual({ cancelled: true, run_id: null });
      expect(await job(queued)).toMatchObject({ state: "cancelled", cancelled_by: "octocat", error: "cancelled by octocat" });
      expect(await cancel(queued, "hubot")).toEqual({ cancelled: false, run_id: null });
      expect(await job(queued)).toMatchObject({ cancelled_by: "octocat" });

      const dispatched = (await create()).id;
      const first = await claimOne();
      expect(await dispatch(dispatched, first.token, RUN_ID, 3600)).toBe(true);
      expect(await cancel(dispatched, "hubot")).toEqual({ cancelled: true, run_id: RUN_ID });
      expect(await cancel(dispatched)).toEqual({ cancelled: false, run_id: null });
      const row = await job(dispatched);
      expect(row).toMatchObject({ state: "cancelled", cancelled_by: "hubot", error: "cancelled by hubot", locked_by: null });
      expect(row.finished_at).toBeInstanceOf(Date);

      expect(await cancel(999_999)).toEqual({ cancelled: false, run_id: null });
    });

    it("fences out the worker holding a cancelled job", async () => {
      const { id } = await create();
      const check = await dispatchedAndHeld(id);
      expect((await cancel(id)).cancelled).toBe(true);
      const before = await everything(id);
      expect(await result(id, check.token)).toBe(false);
      expect(await fail(id, check.token)).toBeNull();
      expect(await extend(check.token)).toBe(false);
      expect(await checkLater(id, check.token, 60)).toBe(false);
      expect(await release(check.token)).toBe(false);
      expect(await everything(id)).toEqual(before);
      expect(await claim("worker-b")).toEqual([]);
    });

    it("ends the attempt of a cancelled run", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      expect((await cancel(id)).cancelled).toBe(true);
      expect(await attempts(id)).toEqual([
        { attempt: 1, worker: "worker-a", run_id: String(RUN_ID), outcome: "cancelled", reason: "cancelled by octocat", finished: true },
      ]);
    });
  });

  describe("run events (workflow_run and workflow_job webhooks)", () => {
    /** The row without updated_at: a repeated event may touch the row, never change it. */
    const state = async (id: number) =>
      (await admin.query<{ row: string }>("select (to_jsonb(j) - 'updated_at')::text as row from public.bisect_jobs j where id = $1", [id])).rows[0]!.row;

    it("moves a dispatched job to running, and never moves a job backwards", async () => {
      const { id } = await create();
      const first = await claimOne();
      // No run recorded yet, and the event does not name the job.
      expect(await runEvent(RUN_ID, "in_progress")).toBe(0);
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      expect(await runEvent(RUN_ID, "in_progress")).toBe(1);
      expect(await job(id)).toMatchObject({ state: "running" });
      const running = await state(id);
      // A duplicate webhook, and a late "queued" one.
      expect(await runEvent(RUN_ID, "in_progress")).toBe(1);
      expect(await runEvent(RUN_ID, "queued")).toBe(1);
      expect(await state(id)).toBe(running);

      await makeDue(id);
      const check = await claimOne();
      expect(await result(id, check.token)).toBe(true);
      // A late, out-of-order workflow_job event.
      const done = await snapshot(admin, "bisect_jobs", id);
      expect(await runEvent(RUN_ID, "in_progress")).toBe(0);
      expect(await runEvent(RUN_ID, "completed", { conclusion: "success" })).toBe(0);
      expect(await snapshot(admin, "bisect_jobs", id)).toBe(done);
      expect(await runEvent(12345, "in_progress")).toBe(0);
    });

    it("notes a completed run and makes its job due at once, unless a worker holds it", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      expect(await claim("worker-b")).toEqual([]);
      expect(await runEvent(RUN_ID, "completed", { conclusion: "failure" })).toBe(1);
      expect(await job(id)).toMatchObject({ state: "running", noted_run_id: RUN_ID, noted_conclusion: "failure" });
      expect((await timing(id)).due_in).toBeLessThanOrEqual(0);
      const check = await claimOne("worker-b");
      expect(check).toMatchObject({ id, state: "running" });

      // Held: the holder reads the run itself; a repeated event does not move its next look.
      const nextLook = (await job(id)).next_check_at;
      expect(await runEvent(RUN_ID, "completed", { conclusion: "failure" })).toBe(1);
      expect(await job(id)).toMatchObject({ next_check_at: nextLook, locked_by: "worker-b", lease_token: check.token });
    });

    it("remembers a run that completed before its dispatch was recorded (found by the job id in its name)", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await runEvent(RUN_ID, "completed", { jobId: id, conclusion: "success" })).toBe(1);
      expect(await job(id)).toMatchObject({ state: "dispatching", noted_run_id: RUN_ID, noted_conclusion: "success" });
      // The dispatch asked for a check in an hour; the run is known to be done: due at once.
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      expect((await timing(id)).due_in).toBeLessThanOrEqual(0);
      expect(await claimOne("worker-b")).toMatchObject({ id, state: "dispatched" });

      // Another run's early completion does not make a job due.
      const other = (await create()).id;
      const otherHolder = await claimOne();
      expect(await runEvent(RUN_ID + 1, "completed", { jobId: other, conclusion: "success" })).toBe(1);
      expect(await dispatch(other, otherHolder.token, RUN_ID + 2, 3600)).toBe(true);
      expect((await timing(other)).delay).toBe(3600);
    });

    it("ignores the old run of a job that is queued for a retry, or runs again", async () => {
      const { id } = await create();
      const check = await dispatchedAndHeld(id, "worker-a", RUN_ID);
      expect(await fail(id, check.token)).toBe("queued");
      const before = await snapshot(admin, "bisect_jobs", id);
      expect(await runEvent(RUN_ID, "in_progress")).toBe(0);
      expect(await runEvent(RUN_ID, "completed", { jobId: id, conclusion: "cancelled" })).toBe(0);
      expect(await snapshot(admin, "bisect_jobs", id)).toBe(before);
      expect(await job(id)).toMatchObject({ state: "queued", run_id: null });

      await makeDue(id);
      const second = await claimOne();
      expect(await dispatch(id, second.token, RUN_ID + 1, 3600)).toBe(true);
      expect(await runEvent(RUN_ID, "completed", { jobId: id, conclusion: "cancelled" })).toBe(0);
      expect(await job(id)).toMatchObject({ state: "dispatched", run_id: RUN_ID + 1, noted_run_id: null });
      expect(await claim("worker-b")).toEqual([]);
    });
  });

  describe("failed looks (GitHub failing, unusable answers, workers dying while they look)", () => {
    it("counts looks that came to nothing, backs off, and starts again at zero after a good look", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await dispatch(id, first.token, RUN_ID, 0)).toBe(true);
      const look = await claimOne();
      expect(await store.call("checkFailed", { jobId: id, token: look.token, error: "HTTP 502: bad gateway", retryAfterSeconds: 0 })).toBe(1);
      expect(await job(id)).toMatchObject({ failed_checks: 1, error: "HTTP 502: bad gateway", locked_by: null });
      // 30 s ±20 % later, not at once: a failing GitHub is not hammered.
      const { delay } = await timing(id);
      expect(delay).toBeGreaterThanOrEqual(24);
      expect(delay).toBeLessThanOrEqual(36);
      // A stale token changes nothing.
      expect(await store.call("checkFailed", { jobId: id, token: look.token, error: "late", retryAfterSeconds: 0 })).toBeNull();
      await makeDue(id);
      const again = await claimOne();
      expect(await store.call("checkLater", { jobId: id, token: again.token, seconds: 30 })).toBe(true);
      expect(await job(id)).toMatchObject({ failed_checks: 0 });
    });

    it("counts a worker that died holding a job in flight, so a job that kills its workers still ends", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await dispatch(id, first.token, RUN_ID, 0)).toBe(true);
      expect(await claimOne()).toMatchObject({ id, failed_checks: 0 });
      for (let death = 1; death <= 3; death++) {
        await backdateLease(id);
        expect(await claimOne(`worker-${death}`)).toMatchObject({ id, failed_checks: death });
      }
    });
  });

  describe("run attempts and repositories (re-runs reuse the run id; run names are not unique across repositories)", () => {
    const state = async (id: number) =>
      (await admin.query<{ row: string }>("select (to_jsonb(j) - 'updated_at')::text as row from public.bisect_jobs j where id = $1", [id])).rows[0]!.row;
    it("tracks the newest attempt of a run: a late event of an older attempt changes nothing", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      // Attempt 1 failed; someone re-ran it on GitHub before the worker looked: attempt 2 runs.
      expect(await runEvent(RUN_ID, "completed", { conclusion: "failure" })).toBe(1);
      expect(await runEvent(RUN_ID, "in_progress", { attempt: 2 })).toBe(1);
      expect(await job(id)).toMatchObject({ state: "running", noted_run_id: RUN_ID, noted_run_attempt: 2, noted_conclusion: null });
      // Attempt 1's events come again, late: attempt 2 is still running as far as the job knows.
      const before = await state(id);
      expect(await runEvent(RUN_ID, "completed", { conclusion: "failure" })).toBe(0);
      expect(await runEvent(RUN_ID, "in_progress", { attempt: 1 })).toBe(0);
      expect(await state(id)).toBe(before);
      // Attempt 2 completes: that is the conclusion a worker reads.
      expect(await runEvent(RUN_ID, "completed", { attempt: 2, conclusion: "success" })).toBe(1);
      expect(await job(id)).toMatchObject({ noted_run_attempt: 2, noted_conclusion: "success" });
    });

    it("finds a job by the id in a run's name only in the job's own repository", async () => {
      const { id } = await create();
      await claimOne();
      // A run in another repository named "bisect <this job's id>" is not this job's.
      expect(await runEvent(RUN_ID, "completed", { jobId: id, conclusion: "success", repositoryId: REPO_B.repositoryId })).toBe(0);
      expect(await job(id)).toMatchObject({ state: "dispatching", noted_run_id: null, noted_conclusion: null });
      expect(await runEvent(RUN_ID, "completed", { jobId: id, conclusion: "success" })).toBe(1);
    });
  });

  describe("retry (/bisect retry)", () => {
    it("queues an ended job again with more attempts: a failure resumes, a success starts afresh", async () => {
      const failed = (await create({ maxAttempts: 1 })).id;
      const f = await dispatchedAndHeld(failed);
      expect(await fail(failed, f.token, "runner lost", 0, [PROBES[0]!])).toBe("failed");
      expect(await store.call("retryJob", { jobId: failed, extraAttempts: 2 })).toBe(true);
      expect(await job(failed)).toMatchObject({
        state: "queued",
        attempts: 1,
        max_attempts: 3,
        resume_from_attempt: 1,
        error: null,
        finished_at: null,
        run_id: null,
        dispatched_at: null,
        locked_by: null,
      });
      // Only a job that ended: once queued, not again.
      expect(await store.call("retryJob", { jobId: failed, extraAttempts: 2 })).toBe(false);
      expect((await claimOne("worker-b", 100)).attempts).toBe(2);

      const succeeded = (await create()).id;
      const s = await dispatchedAndHeld(succeeded, "worker-a", RUN_ID + 1);
      expect(await result(succeeded, s.token)).toBe(true);
      expect(await store.call("retryJob", { jobId: succeeded, extraAttempts: 3 })).toBe(true);
      expect(await job(succeeded)).toMatchObject({
        state: "queued",
        attempts: 1,
        max_attempts: 4,
        resume_from_attempt: 2,
        verdict: null,
        reason: null,
        culprit_sha: null,
        confidence: null,
        tested: null,
        rounds: null,
        noted_run_id: null,
        finished_at: null,
      });
      expect(await store.call("retryJob", { jobId: 999_999, extraAttempts: 3 })).toBe(false);
    });

    it("clears who cancelled a job that is retried", async () => {
      const { id } = await create();
      expect((await cancel(id)).cancelled).toBe(true);
      expect(await store.call("retryJob", { jobId: id, extraAttempts: 3 })).toBe(true);
      expect(await job(id)).toMatchObject({ state: "queued", attempts: 0, max_attempts: 3, cancelled_by: null, error: null });
      expect(held(await claim("worker-a"))).toEqual([{ id, state: "dispatching", attempts: 1, locked_by: "worker-a" }]);
    });

    it("forgets the dispatch intent of the run it replaces, so the new attempt dispatches afresh", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await store.call("recordDispatchIntent", { jobId: id, token: first.token })).toBe(true);
      expect(await dispatch(id, first.token, RUN_ID, 3600)).toBe(true);
      expect((await cancel(id)).cancelled).toBe(true);
      expect(await job(id)).toMatchObject({ dispatch_intent_attempt: 1 });
      expect(await store.call("retryJob", { jobId: id, extraAttempts: 3 })).toBe(true);
      // With the intent kept, the next dispatch would look for (and adopt) the cancelled run.
      expect(await job(id)).toMatchObject({ state: "queued", dispatch_intent_attempt: null, failed_checks: 0, noted_run_id: null });
    });

    it("does not touch a job that is still active", async () => {
      const { id } = await create();
      await claimOne();
      const before = await snapshot(admin, "bisect_jobs", id);
      expect(await store.call("retryJob", { jobId: id, extraAttempts: 3 })).toBe(false);
      expect(await snapshot(admin, "bisect_jobs", id)).toBe(before);
    });
  });

  describe("dispatch intent and status comment", () => {
    it("records the dispatch intent of the current attempt only while the lease holds", async () => {
      const { id } = await create();
      const claimed = await claimOne("w1");
      expect(claimed.dispatch_intent_attempt).toBeNull();
      expect(await store.call("recordDispatchIntent", { jobId: id, token: claimed.token })).toBe(true);
      await t.expireLeases();
      // The successor sees that attempt 1 may already have a run.
      const successor = await claimOne("w2");
      expect(successor).toMatchObject({ id, attempts: 1, dispatch_intent_attempt: 1 });
      // The dead worker's token changes nothing.
      expect(await store.call("recordDispatchIntent", { jobId: id, token: claimed.token })).toBe(false);
      expect(await store.call("setStatusComment", { jobId: id, token: claimed.token, commentId: 1 })).toBe(false);
      // Only while dispatching: a dispatched job's intent is spent.
      expect(await dispatch(id, successor.token, RUN_ID, 0)).toBe(true);
      const check = await claimOne("w2");
      expect(await store.call("recordDispatchIntent", { jobId: id, token: check.token })).toBe(false);
      expect((await store.call("attemptRuns", { jobId: id })).map(({ attempt, run_id }) => ({ attempt, run_id }))).toEqual([{ attempt: 1, run_id: RUN_ID }]);
    });

    it("keeps the status comment the holder set, through to the result", async () => {
      const { id } = await create();
      const first = await claimOne();
      expect(await store.call("setStatusComment", { jobId: id, token: first.token, commentId: 9_000_000_001 })).toBe(true);
      expect(await job(id)).toMatchObject({ status_comment_id: 9_000_000_001, locked_by: "worker-a" });
      expect(await dispatch(id, first.token)).toBe(true);
      const check = await claimOne();
      expect(await store.call("setStatusComment", { jobId: id, token: check.token, commentId: 9_000_000_002 })).toBe(true);
      expect(await result(id, check.token)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "succeeded", status_comment_id: 9_000_000_002 });
      expect(await store.call("setStatusComment", { jobId: id, token: check.token, commentId: 1 })).toBe(false);
    });
  });

  describe("from the comment to the culprit", () => {
    it("takes a job through every step with three workers, and keeps every probe", async () => {
      const input = newJob();
      const { job_id: id, created } = await store.call("createJob", input);
      expect(created).toBe(true);

      const first = await claimOne("worker-a");
      expect(first).toMatchObject({
        id,
        state: "dispatching",
        attempts: 1,
        locked_by: "worker-a",
        lease_token: first.token,
        delivery_id: input.deliveryId,
        repository_id: input.repositoryId,
        installation_id: input.installationId,
        comment_id: input.commentId,
        good_refs: ["v1.4"],
        good_shas: [sha("a")],
        bad_sha: sha("f"),
        options: input.options,
      });
      expect(first.lease_expires_at!.getTime()).toBeGreaterThan(first.created_at.getTime());
      expect(await extend(first.token, 60)).toBe(true);
      expect(await store.call("recordDispatchIntent", { jobId: id, token: first.token })).toBe(true);

      // The run exists; nothing else to do until it is due for a look.
      expect(await dispatch(id, first.token, RUN_ID, 0)).toBe(true);
      expect(await job(id)).toMatchObject({ state: "dispatched", run_id: RUN_ID, locked_by: null, lease_expires_at: null });
      expect(await runEvent(RUN_ID, "in_progress")).toBe(1);

      const second = await claimOne("worker-b");
      expect(second).toMatchObject({ id, state: "running", attempts: 1, locked_by: "worker-b", run_id: RUN_ID, run_url: runUrl(RUN_ID) });
      expect(second.token).not.toBe(first.token);
      expect(await checkLater(id, second.token, 0)).toBe(true);

      const third = await claimOne("worker-c");
      const probes: Probe[] = [...PROBES, { sha: sha("e"), verdict: "skip", exitCode: 125, durationMs: 40, round: 3 }];
      // A worker whose lease was taken over changes nothing.
      expect(await result(id, second.token, { confidence: 1, tested: 4, rounds: 3, probes })).toBe(false);
      expect(await result(id, third.token, { confidence: 1, tested: 4, rounds: 3, probes })).toBe(true);

      const done = await job(id);
      expect(done).toMatchObject({
        state: "succeeded",
        verdict: "culprit",
        culprit_sha: sha("c"),
        confidence: 1,
        tested: 4,
        rounds: 3,
        error: null,
        locked_by: null,
        run_url: runUrl(RUN_ID),
      });
      expect(done.finished_at).toBeInstanceOf(Date);
      expect(await store.call("jobProbes", { jobId: id })).toEqual(probes.map((p) => ({ ...p, attempt: 1 })));
      expect(await store.call("activeCounts", {})).toEqual([]);
      expect(await claim("worker-a")).toEqual([]);
    });

    it("answers nothing for a job that does not exist", async () => {
      expect(await store.call("getJob", { jobId: 123_456 })).toBeUndefined();
      expect(await store.call("jobProbes", { jobId: 123_456 })).toEqual([]);
      expect(await store.call("attemptRuns", { jobId: 123_456 })).toEqual([]);
      expect(await store.call("queuePosition", { jobId: 123_456 })).toBeNull();
      expect(await runEvent(123_456, "completed", { jobId: 123_456, conclusion: "success" })).toBe(0);
      expect(await store.call("retryJob", { jobId: 123_456, extraAttempts: 1 })).toBe(false);
    });
  });
});
