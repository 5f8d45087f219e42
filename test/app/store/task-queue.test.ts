/**
 * The task queue (supabase/migrations/…0200_task_queue.sql) through the Store, on every
 * transport: commands, replies and announcements in one queue. One task per (kind, comment)
 * whatever the redeliveries; claims in order of `run_at` with a lease and a fencing token;
 * leases extended and released by token (an announce task's job with it); one backoff and one
 * attempt cap; permanent failures; the give-up reply; announce tasks that hold their job.
 * `admin` only moves time (back-dating leases, making tasks due) and reads rows.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SqlClient } from "../../../app/src/store/sql-client.js";
import type { ArgsOf, ClaimedJob, ClaimedTask, ReplyPayload, Store } from "../../../app/src/store/store.js";
import { newJob, sha } from "../../support/jobs.js";
import { stopTestPostgres } from "../../support/postgres.js";
import { count, openTestStore, snapshot, TRANSPORTS, type TestStore } from "../../support/store.js";

const REPOSITORY = { repository: "octo-org/widgets", repositoryId: 5_000_000_001, installationId: 7_000_000_001 };
/** The task backoff: 5 s · 2^(n−1), ±20 %; the attempt cap. */
const TASK_BACKOFF_BASE = 5;
const TASK_MAX_ATTEMPTS = 5;
const RUN_ID = 21_474_836_470;

type NewTask = ArgsOf<"enqueueTask">;
let serial = 0;
function command(overrides: Partial<NewTask> = {}): NewTask {
  serial++;
  return {
    kind: "command",
    deliveryId: `command-delivery-${serial}`,
    ...REPOSITORY,
    issueNumber: 9,
    commentId: 4_100_000_000 + serial,
    payload: { body: "/bisect v1.4..main -- npm test", requester: "octocat", isPullRequest: true, commentedAt: "2026-12-01T12:00:00Z" },
    ...overrides,
  };
}
function reply(overrides: Partial<NewTask> = {}): NewTask {
  return command({
    kind: "reply",
    payload: { body: "Only people with write access can start a bisect.", reaction: "confused", cancelRunId: null },
    ...overrides,
  });
}
const GIVE_UP: ReplyPayload = {
  body: "Bisect Bot could not read this command (GitHub kept failing). Try again later.",
  reaction: "confused",
  cancelRunId: null,
};

afterAll(() => stopTestPostgres());

describe.each(TRANSPORTS)("task queue through the Store on %s", (transport) => {
  let t: TestStore;
  let store: Store;
  let admin: SqlClient;
  beforeAll(async () => {
    t = await openTestStore(transport, { poolSize: 20 });
    store = t.store;
    admin = t.admin;
  });
  afterAll(() => t?.close());
  beforeEach(() => t.reset());

  const enqueue = async (task: NewTask) => {
    const { task_id, created } = await store.call("enqueueTask", task);
    return { id: task_id, created };
  };
  const claim = (worker = "worker-a", limit = 10, leaseSeconds = 30): Promise<ClaimedTask[]> => store.call("claimTasks", { worker, limit, leaseSeconds });
  const claimOne = async (worker = "worker-a"): Promise<ClaimedTask> => {
    const claimed = await claim(worker, 1);
    expect(claimed).toHaveLength(1);
    return claimed[0]!;
  };
  const finish = (task: ClaimedTask, outcome = "done") => store.call("finishTask", { taskId: task.id, token: task.token, outcome });
  const fail = (task: ClaimedTask, o: { error?: string; permanent?: boolean; retryAfter?: number; giveUpReply?: ReplyPayload | null } = {}) =>
    store.call("failTask", {
      taskId: task.id,
      token: task.token,
      error: o.error ?? "HTTP 502",
      permanent: o.permanent ?? false,
      retryAfterSeconds: o.retryAfter ?? 0,
      giveUpReply: o.giveUpReply ?? null,
    });
  const task = async (id: number) =>
    (
      await admin.query<{
        kind: string;
        state: string;
        attempts: number;
        locked_by: string | null;
        lease_token: string | null;
        outcome: string | null;
        error: string | null;
        finished: boolean;
        due: boolean;
      }>(
        `select kind, state, attempts, locked_by, lease_token::text as lease_token, outcome, error, finished_at is not null as finished, run_at <= now() as due
         from public.bisect_tasks where id = $1`,
        [id],
      )
    ).rows[0]!;
  const tasksOf = async (kind: string) =>
    (
      await admin.query<{ id: string; comment_id: string; job_id: string | null; state: string; payload: unknown }>(
        "select id::text, comment_id::text, job_id::text, state, payload from public.bisect_tasks where kind = $1 order by id",
        [kind],
      )
    ).rows;
  const makeDue = (id: number) => admin.query("update public.bisect_tasks set run_at = now() where id = $1", [id]);
  const clock = async () => (await admin.query<{ t: number }>("select extract(epoch from clock_timestamp())::float8 as t")).rows[0]!.t;
  /**
   * Runs `call` and brackets the database's clock around it: the delay it gave `run_at` lies
   * between `min` and `max` (the call's own now() is between the two readings).
   */
  async function delayGiven(id: number, call: () => Promise<unknown>): Promise<{ min: number; max: number }> {
    const before = await clock();
    await call();
    const after = await clock();
    const { rows } = await admin.query<{ at: number }>("select extract(epoch from run_at)::float8 as at from public.bisect_tasks where id = $1", [id]);
    expect(after - before).toBeLessThan(2);
    return { min: rows[0]!.at - after, max: rows[0]!.at - before };
  }
  /** The delay lies within [low, high]: the bracket overlaps it. */
  function expectWithin(delay: { min: number; max: number }, low: number, high: number) {
    expect(delay.max).toBeGreaterThanOrEqual(low);
    expect(delay.min).toBeLessThanOrEqual(high);
  }

  describe("enqueue", () => {
    it("keeps one task per (kind, comment), whatever the redeliveries", async () => {
      const c = command();
      const first = await enqueue(c);
      expect(first.created).toBe(true);
      expect(await enqueue(c)).toEqual({ id: first.id, created: false });
      // The same comment under a new delivery id (a manual redelivery), with another body (edited).
      expect(
        await enqueue({
          ...c,
          deliveryId: "another-delivery",
          payload: { body: "/bisect edited", requester: "octocat", isPullRequest: true, commentedAt: "2026-12-01T12:00:00Z" },
        }),
      ).toEqual({
        id: first.id,
        created: false,
      });
      // Another kind for the same comment (its reply), and the same comment id in another repository.
      const answer = await enqueue(reply({ commentId: c.commentId }));
      expect(answer.created).toBe(true);
      expect(await enqueue(reply({ commentId: c.commentId, deliveryId: "again" }))).toEqual({ id: answer.id, created: false });
      const elsewhere = await enqueue({ ...c, repository: "octo-org/gadgets", repositoryId: 5_000_000_002 });
      expect(elsewhere.created).toBe(true);
      expect(new Set([first.id, answer.id, elsewhere.id]).size).toBe(3);
      expect(await count(admin, "select count(*) from public.bisect_tasks")).toBe(3);

      const claimed = await claim("worker-a");
      expect(claimed.find((x) => x.id === first.id)).toMatchObject({
        kind: "command",
        delivery_id: c.deliveryId,
        payload: c.payload,
        comment_id: c.commentId,
        repository_id: c.repositoryId,
      });
      expect(claimed.find((x) => x.id === answer.id)).toMatchObject({
        kind: "reply",
        payload: { body: "Only people with write access can start a bisect.", reaction: "confused", cancelRunId: null },
      });
    });

    it("makes one task when the same comment arrives many times at once", async () => {
      const c = command();
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => enqueue({ ...c, deliveryId: i % 2 === 0 ? c.deliveryId : `storm-${i}` })));
      expect(answers.filter((a) => a.created)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.id)).size).toBe(1);
      expect(await count(admin, "select count(*) from public.bisect_tasks")).toBe(1);
    });

    it("carries a reply's run to cancel past 2^32 and back", async () => {
      const r = await enqueue(reply({ payload: { body: "Cancelled.", reaction: "+1", cancelRunId: RUN_ID } }));
      const [claimed] = await claim();
      expect(claimed).toMatchObject({ id: r.id, kind: "reply", payload: { body: "Cancelled.", reaction: "+1", cancelRunId: RUN_ID } });
    });
  });

  describe("claim and lease", () => {
    it("claims due tasks in order of run_at, each once, with a fencing token; a task not due waits", async () => {
      const a = await enqueue(command());
      const b = await enqueue(reply());
      const c = await enqueue(command());
      await admin.query("update public.bisect_tasks set run_at = now() - interval '3 minutes' where id = $1", [c.id]);
      await admin.query("update public.bisect_tasks set run_at = now() - interval '2 minutes' where id = $1", [a.id]);
      await admin.query("update public.bisect_tasks set run_at = now() + interval '1 hour' where id = $1", [b.id]);

      expect((await claim("worker-a", 1)).map((x) => x.id)).toEqual([c.id]);
      const rest = await claim("worker-b", 10, 45);
      expect(rest.map((x) => [x.id, x.attempts, x.locked_by, x.state])).toEqual([[a.id, 1, "worker-b", "pending"]]);
      expect(rest[0]!.token).toBe(rest[0]!.lease_token);
      expect(await claim("worker-c")).toEqual([]);
      const { rows } = await admin.query<{ lease: number }>(
        "select extract(epoch from lease_expires_at - now())::float8 as lease from public.bisect_tasks where id = $1",
        [a.id],
      );
      expect(rows[0]!.lease).toBeGreaterThan(40);
      expect(rows[0]!.lease).toBeLessThanOrEqual(45);

      await makeDue(b.id);
      expect((await claim("worker-c")).map((x) => x.id)).toEqual([b.id]);
    });

    it("hands an expired lease to another worker, counting the try, and the old token changes nothing", async () => {
      const { id } = await enqueue(command());
      const first = await claimOne("worker-a");
      expect(await claim("worker-b")).toEqual([]);
      await t.expireLeases();
      const second = await claimOne("worker-b");
      expect(second).toMatchObject({ id, attempts: 2, locked_by: "worker-b" });
      expect(second.token).toBeGreaterThan(first.token);

      const before = await snapshot(admin, "bisect_tasks", id);
      expect(await finish(first, "job 1")).toBe(false);
      expect(await fail(first, { permanent: true, giveUpReply: GIVE_UP })).toBeNull();
      expect(await store.call("extendLease", { token: first.token, leaseSeconds: 300 })).toBe(false);
      expect(await store.call("releaseLease", { token: first.token })).toBe(false);
      expect(await snapshot(admin, "bisect_tasks", id)).toBe(before);
      expect(await tasksOf("reply")).toEqual([]);

      expect(await finish(second, "job 1")).toBe(true);
      expect(await task(id)).toMatchObject({ state: "done", outcome: "job 1", attempts: 2, locked_by: null, finished: true });
    });

    it("refuses an expired token even before another worker took the task", async () => {
      const { id } = await enqueue(command());
      const late = await claimOne("worker-a");
      await t.expireLeases();
      const before = await snapshot(admin, "bisect_tasks", id);
      expect(await finish(late, "job 1")).toBe(false);
      expect(await fail(late, { permanent: true, giveUpReply: GIVE_UP })).toBeNull();
      expect(await store.call("extendLease", { token: late.token, leaseSeconds: 300 })).toBe(false);
      expect(await store.call("releaseLease", { token: late.token })).toBe(false);
      expect(await snapshot(admin, "bisect_tasks", id)).toBe(before);
      expect(await tasksOf("reply")).toEqual([]);
      expect(await claimOne("worker-b")).toMatchObject({ id, attempts: 2, locked_by: "worker-b" });
    });

    it("extends a task's lease by its token", async () => {
      const { id } = await enqueue(reply());
      const claimed = await claimOne();
      const before = await clock();
      expect(await store.call("extendLease", { token: claimed.token, leaseSeconds: 300 })).toBe(true);
      const after = await clock();
      const { rows } = await admin.query<{ at: number }>("select extract(epoch from lease_expires_at)::float8 as at from public.bisect_tasks where id = $1", [
        id,
      ]);
      expect(rows[0]!.at).toBeGreaterThanOrEqual(before + 300);
      expect(rows[0]!.at).toBeLessThanOrEqual(after + 300);
      const extended = await snapshot(admin, "bisect_tasks", id);
      expect(await store.call("extendLease", { token: claimed.token + 1000, leaseSeconds: 600 })).toBe(false);
      expect(await snapshot(admin, "bisect_tasks", id)).toBe(extended);
    });

    it("finishes a task once, with what came of it", async () => {
      const { id } = await enqueue(command());
      const claimed = await claimOne();
      expect(await finish(claimed, "job 12")).toBe(true);
      expect(await task(id)).toMatchObject({ state: "done", outcome: "job 12", error: null, locked_by: null, finished: true });
      const done = await snapshot(admin, "bisect_tasks", id);
      expect(await finish(claimed, "job 13")).toBe(false);
      expect(await fail(claimed)).toBeNull();
      expect(await store.call("releaseLease", { token: claimed.token })).toBe(false);
      expect(await snapshot(admin, "bisect_tasks", id)).toBe(done);
      expect(await claim("worker-b")).toEqual([]);
    });

    it("gives a task back on shutdown without counting the try, however often (rolling restarts)", async () => {
      const { id } = await enqueue(command());
      for (let i = 0; i < TASK_MAX_ATTEMPTS + 2; i++) {
        const claimed = await claimOne(`worker-${i}`);
        expect(claimed.attempts).toBe(1);
        expect(await store.call("releaseLease", { token: claimed.token })).toBe(true);
        expect(await task(id)).toMatchObject({ state: "pending", attempts: 0, locked_by: null, due: true });
        expect(await store.call("releaseLease", { token: claimed.token })).toBe(false);
      }
      // It still has every try.
      for (let n = 1; n <= TASK_MAX_ATTEMPTS; n++) {
        const claimed = await claimOne();
        expect(claimed.attempts).toBe(n);
        expect(await fail(claimed)).toBe(n < TASK_MAX_ATTEMPTS ? "pending" : "failed");
        await makeDue(id);
      }
    });
  });

  describe("failures", () => {
    it("retries after a backoff that doubles (5 s ±20 %), never before it is due", async () => {
      const { id } = await enqueue(command());
      const delays: { min: number; max: number }[] = [];
      for (let n = 1; n < TASK_MAX_ATTEMPTS; n++) {
        const claimed = await claimOne();
        expect(claimed.attempts).toBe(n);
        let state: unknown;
        const delay = await delayGiven(id, async () => (state = await fail(claimed, { error: `HTTP 502 (try ${n})` })));
        expect(state).toBe("pending");
        expect(await task(id)).toMatchObject({ state: "pending", attempts: n, error: `HTTP 502 (try ${n})`, locked_by: null, finished: false, due: false });
        const nominal = TASK_BACKOFF_BASE * 2 ** (n - 1);
        expectWithin(delay, nominal * 0.8, nominal * 1.2);
        delays.push(delay);
        expect(await claim("worker-b")).toEqual([]);
        await makeDue(id);
      }
      // Each window is past the last: the delays grow.
      for (let i = 1; i < delays.length; i++) expect(delays[i]!.max).toBeGreaterThan(delays[i - 1]!.min);
    });

    it("spreads the first retry of tasks that failed together over 5 s ±20 %", async () => {
      for (let i = 0; i < 12; i++) await enqueue(command());
      const claimed = await claim("worker-a", 20);
      expect(claimed).toHaveLength(12);
      const before = await clock();
      for (const c of claimed) expect(await fail(c)).toBe("pending");
      const after = await clock();
      const { rows } = await admin.query<{ at: number }>("select extract(epoch from run_at)::float8 as at from public.bisect_tasks");
      for (const { at } of rows) expectWithin({ min: at - after, max: at - before }, TASK_BACKOFF_BASE * 0.8, TASK_BACKOFF_BASE * 1.2);
      const times = rows.map((r) => r.at);
      // Jitter: not all at once (12 calls take far less than the spread).
      expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(after - before);
    });

    it("waits at least as long as GitHub's retry-after asks", async () => {
      const { id } = await enqueue(reply());
      const claimed = await claimOne();
      const delay = await delayGiven(id, () => fail(claimed, { error: "HTTP 403: secondary rate limit", retryAfter: 120 }));
      expectWithin(delay, 120, 120);
      expect(delay.min).toBeGreaterThan(TASK_BACKOFF_BASE * 1.2);
    });

    it("gives a task up after five tries, and only then leaves its give-up reply", async () => {
      const c = command();
      const { id } = await enqueue(c);
      const states: unknown[] = [];
      for (let n = 1; n <= TASK_MAX_ATTEMPTS; n++) {
        const claimed = await claimOne();
        expect(claimed.attempts).toBe(n);
        states.push(await fail(claimed, { error: `HTTP 500 (try ${n})`, giveUpReply: GIVE_UP }));
        if (n < TASK_MAX_ATTEMPTS) expect(await tasksOf("reply")).toEqual([]);
        await makeDue(id);
      }
      expect(states).toEqual(["pending", "pending", "pending", "pending", "failed"]);
      expect(await task(id)).toMatchObject({ state: "failed", attempts: 5, error: "HTTP 500 (try 5)", locked_by: null, finished: true });

      // The reply is a task of its own, on the same thread, and the only thing left to claim.
      const [giveUp] = await claim("worker-b");
      expect(giveUp).toMatchObject({
        kind: "reply",
        state: "pending",
        attempts: 1,
        payload: GIVE_UP,
        comment_id: c.commentId,
        issue_number: c.issueNumber,
        repository_id: c.repositoryId,
        delivery_id: c.deliveryId,
      });
      expect(await claim("worker-b")).toEqual([]);
      expect(await finish(giveUp!, "posted as comment 123")).toBe(true);
    });

    it("gives a permanent failure up at once, leaving its give-up reply only when asked", async () => {
      const silent = await enqueue(reply());
      const first = await claimOne();
      expect(await fail(first, { error: "HTTP 404: issue deleted", permanent: true })).toBe("failed");
      expect(await task(silent.id)).toMatchObject({ state: "failed", attempts: 1, error: "HTTP 404: issue deleted", finished: true });
      expect(await tasksOf("reply")).toHaveLength(1);

      const loud = await enqueue(command());
      const second = await claimOne();
      expect(await fail(second, { error: "the repository has no bisect workflow", permanent: true, giveUpReply: GIVE_UP })).toBe("failed");
      expect(await task(loud.id)).toMatchObject({ state: "failed", attempts: 1, finished: true });
      const replies = await tasksOf("reply");
      expect(replies).toHaveLength(2);
      expect(replies[1]).toMatchObject({ state: "pending", payload: GIVE_UP });
      expect(await claim("worker-b")).toHaveLength(1);
    });

    it("gives up and leaves the reply in one transaction: a reply that cannot be stored changes nothing", async () => {
      const { id } = await enqueue(command());
      const claimed = await claimOne();
      const before = await snapshot(admin, "bisect_tasks", id);
      const huge = { ...GIVE_UP, body: "x".repeat(300_001) };
      await expect(fail(claimed, { permanent: true, giveUpReply: huge })).rejects.toThrow(/bisect_tasks_payload_check/);
      expect(await snapshot(admin, "bisect_tasks", id)).toBe(before);
      expect(await tasksOf("reply")).toEqual([]);
      expect(await fail(claimed, { permanent: true, giveUpReply: GIVE_UP })).toBe("failed");
      expect(await tasksOf("reply")).toHaveLength(1);
    });

    it("leaves no second reply on a comment that has one", async () => {
      const c = command();
      const { id } = await enqueue(c);
      const answer = await enqueue(reply({ commentId: c.commentId }));
      const claimed = (await claim()).find((x) => x.id === id)!;
      expect(await fail(claimed, { permanent: true, giveUpReply: GIVE_UP })).toBe("failed");
      const replies = await tasksOf("reply");
      expect(replies).toEqual([
        expect.objectContaining({
          id: String(answer.id),
          payload: { body: "Only people with write access can start a bisect.", reaction: "confused", cancelRunId: null },
        }),
      ]);
    });

    it("gives up a task whose worker died on its last try", async () => {
      const { id } = await enqueue(command());
      for (let n = 1; n <= TASK_MAX_ATTEMPTS; n++) {
        expect((await claimOne(`worker-${n}`)).attempts).toBe(n);
        await t.expireLeases();
      }
      expect(await claim("worker-x")).toEqual([]);
      const row = await task(id);
      expect(row).toMatchObject({ state: "failed", attempts: 5, locked_by: null, finished: true });
      expect(row.error).toMatch(/worker stopped answering on the last try/);
      expect(await claim("worker-x")).toEqual([]);
    });
  });

  describe("announce tasks", () => {
    const job = async (id: number) => (await store.call("getJob", { jobId: id }))!;
    const claimJobs = (worker: string, maxActive: number, limit = 10): Promise<ClaimedJob[]> =>
      store.call("claimJobs", { worker, limit, leaseSeconds: 30, maxActive });
    const createJob = async (overrides: Parameters<typeof newJob>[0] = {}) => (await store.call("createJob", newJob(overrides))).job_id;
    /** Ends a job that holds a slot: dispatched, checked, and its result recorded. */
    async function finishJob(held: ClaimedJob) {
      expect(
        await store.call("recordDispatch", {
          jobId: held.id,
          token: held.token,
          runId: RUN_ID + held.id,
          runUrl: "https://github.com/octo-org/widgets/actions/runs/1",
          checkAfterSeconds: 0,
        }),
      ).toBe(true);
      // maxActive 1: the check of this job, never a waiting one.
      const [check] = await claimJobs("finisher", 1, 100);
      expect(check?.id).toBe(held.id);
      expect(
        await store.call("recordResult", {
          jobId: held.id,
          token: check!.token,
          verdict: "culprit",
          reason: null,
          culpritSha: sha("c"),
          confidence: 1,
          tested: 1,
          rounds: 1,
          error: null,
          probes: [],
        }),
      ).toBe(true);
    }

    it("schedules one announce task for a queued job that must wait, and none for a job that starts", async () => {
      const first = await createJob();
      const waiting = await createJob();
      const elsewhere = await createJob({ repository: "octo-org/gadgets", repositoryId: 5_000_000_002 });
      expect((await claimJobs("w1", 1)).map((j) => j.id).sort((x, y) => x - y)).toEqual([first, elsewhere]);
      for (let i = 0; i < 3; i++) expect(await claimJobs(`w${i}`, 1)).toEqual([]);
      const announce = await tasksOf("announce");
      expect(announce.map(({ id: _, ...rest }) => rest)).toEqual([
        { comment_id: String((await job(waiting)).comment_id), job_id: String(waiting), state: "pending", payload: {} },
      ]);
      expect(await store.call("queuePosition", { jobId: waiting })).toBe(1);

      const [claimed] = await claim("w1");
      expect(claimed).toMatchObject({ kind: "announce", job_id: waiting, attempts: 1, repository_id: 5_000_000_001, issue_number: 42 });
    });

    it("holds its job while leased: nobody dispatches it, and its token sets the job's status comment", async () => {
      const first = await createJob();
      const waiting = await createJob();
      const [running] = await claimJobs("w1", 1);
      expect(running?.id).toBe(first);

      const announce = await claimOne("w1");
      expect(announce).toMatchObject({ kind: "announce", job_id: waiting });
      expect(await job(waiting)).toMatchObject({ state: "queued", attempts: 0, locked_by: "w1", lease_token: announce.token });
      // Nobody else announces it, and no claim dispatches it, even with a free slot.
      expect(await claim("w2")).toEqual([]);
      expect(await claimJobs("w2", 100)).toEqual([]);
      expect(await store.call("setStatusComment", { jobId: waiting, token: announce.token, commentId: 9001 })).toBe(true);
      expect(await finish(announce, "announced")).toBe(true);

      // Announced once: it has its comment now, and still waits for the slot.
      expect(await claimJobs("w2", 1)).toEqual([]);
      expect(await claim("w2")).toEqual([]);
      expect(await tasksOf("announce")).toHaveLength(1);
      expect(await job(waiting)).toMatchObject({ state: "queued", attempts: 0, status_comment_id: 9001, locked_by: null, lease_expires_at: null });
      const audit = await admin.query<{ worker: string; from_state: string }>("select worker, from_state from public.bisect_claim_audit where job_id = $1", [
        waiting,
      ]);
      expect(audit.rows).toEqual([{ worker: "w1", from_state: "announce" }]);
    });

    it("extends the job's lease with the task's", async () => {
      await createJob();
      const waiting = await createJob();
      await claimJobs("w1", 1);
      const announce = await claimOne("w1");
      expect(await store.call("extendLease", { token: announce.token, leaseSeconds: 300 })).toBe(true);
      const { rows } = await admin.query<{ job_lease: number; same: boolean }>(
        `select extract(epoch from j.lease_expires_at - j.updated_at)::float8 as job_lease, j.lease_expires_at = t.lease_expires_at as same
         from public.bisect_jobs j join public.bisect_tasks t on t.job_id = j.id where j.id = $1`,
        [waiting],
      );
      expect(rows).toEqual([{ job_lease: 300, same: true }]);
    });

    it("is done as not needed once its job started or ended", async () => {
      const first = await createJob();
      const started = await createJob();
      const cancelled = await createJob();
      const [running] = await claimJobs("w1", 1);
      expect(running?.id).toBe(first);
      expect(await tasksOf("announce")).toHaveLength(2);

      await finishJob(running!);
      expect((await claimJobs("w1", 1, 1)).map((j) => j.id)).toEqual([started]);
      expect((await store.call("cancelJob", { jobId: cancelled, by: "octocat" })).cancelled).toBe(true);
      expect(await claim("w2")).toEqual([]);
      const { rows } = await admin.query<{ job_id: string; state: string; outcome: string; attempts: number }>(
        "select job_id::text, state, outcome, attempts from public.bisect_tasks where kind = 'announce' order by job_id",
      );
      expect(rows).toEqual([
        { job_id: String(started), state: "done", outcome: "not needed: job dispatching", attempts: 0 },
        { job_id: String(cancelled), state: "done", outcome: "not needed: job cancelled", attempts: 0 },
      ]);
      expect(await job(started)).toMatchObject({ state: "dispatching", locked_by: "w1" });
    });

    it.each(["finished", "failed", "released"] as const)("gives the job back when the task is %s, and the job keeps its place in the queue", async (how) => {
      const active = await createJob();
      const second = await createJob();
      const third = await createJob();
      const [running] = await claimJobs("w1", 1);
      expect(running?.id).toBe(active);
      const place = (await job(second)).next_check_at;

      const announce = await claimOne("w1");
      expect(announce.job_id).toBe(second);
      if (how === "finished") expect(await finish(announce, "announced")).toBe(true);
      if (how === "failed") expect(await fail(announce, { error: "HTTP 502" })).toBe("pending");
      if (how === "released") expect(await store.call("releaseLease", { token: announce.token })).toBe(true);

      expect(await job(second)).toMatchObject({ state: "queued", attempts: 0, locked_by: null, lease_expires_at: null, next_check_at: place });
      expect(await store.call("queuePosition", { jobId: second })).toBe(1);
      expect(await store.call("queuePosition", { jobId: third })).toBe(2);
      // The slot frees: the second job, not the third, takes it, on its first attempt.
      await finishJob(running!);
      const next = await claimJobs("w2", 1);
      expect(next.map((j) => [j.id, j.state, j.attempts])).toEqual([[second, "dispatching", 1]]);
    });

    it("is taken again, with its job, when its worker dies; the dead worker's token changes nothing", async () => {
      await createJob();
      const waiting = await createJob();
      await claimJobs("w1", 1);
      const dead = await claimOne("w-dead");
      await t.expireLeases();
      await admin.query("update public.bisect_jobs set lease_expires_at = now() + interval '30 seconds' where locked_by = 'w1'");
      const again = await claimOne("w2");
      expect(again).toMatchObject({ id: dead.id, kind: "announce", attempts: 2, locked_by: "w2" });
      expect(await job(waiting)).toMatchObject({ state: "queued", attempts: 0, locked_by: "w2", lease_token: again.token });
      const before = await snapshot(admin, "bisect_jobs", waiting);
      expect(await store.call("setStatusComment", { jobId: waiting, token: dead.token, commentId: 1 })).toBe(false);
      expect(await store.call("extendLease", { token: dead.token, leaseSeconds: 300 })).toBe(false);
      expect(await store.call("releaseLease", { token: dead.token })).toBe(false);
      expect(await snapshot(admin, "bisect_jobs", waiting)).toBe(before);
    });

    it("never holds a job that a claim of jobs took at the same moment", async () => {
      const blocker = await createJob();
      const waiting: number[] = [];
      for (let i = 0; i < 12; i++) waiting.push(await createJob());
      expect((await claimJobs("w0", 1)).map((j) => j.id)).toEqual([blocker]);
      expect(await tasksOf("announce")).toHaveLength(12);
      // Slots for everyone now; job claims and task claims race.
      const byJobs: number[] = [];
      const byTasks: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let round = 0; round < 4; round++) {
            if ((w + round) % 2 === 0) byJobs.push(...(await claimJobs(`jobs-${w}`, 100, 2)).map((j) => j.id));
            else byTasks.push(...(await claim(`tasks-${w}`, 2, 300)).map((x) => x.job_id!));
          }
        }),
      );
      expect(byJobs.filter((id) => byTasks.includes(id))).toEqual([]);
      expect(new Set(byJobs).size).toBe(byJobs.length);
      // Every job an announce task holds is still queued, held by that task's token.
      const { rows } = await admin.query<{ n: number }>(
        `select count(*)::int as n from public.bisect_tasks t join public.bisect_jobs j on j.id = t.job_id
         where t.locked_by is not null and not (j.state = 'queued' and j.lease_token = t.lease_token)`,
      );
      expect(rows[0]!.n).toBe(0);
      expect(byJobs.length + byTasks.length).toBeGreaterThan(0);
    });

    it("waits for a job that keeps its status comment from a retry, and announces nothing for it", async () => {
      const first = await createJob();
      const retried = await createJob({ repository: "octo-org/gadgets", repositoryId: 5_000_000_002 });
      const [a, b] = (await claimJobs("w1", 1)).sort((x, y) => x.id - y.id);
      expect([a?.id, b?.id]).toEqual([first, retried]);
      expect(await store.call("setStatusComment", { jobId: retried, token: b!.token, commentId: 777 })).toBe(true);
      expect((await store.call("cancelJob", { jobId: retried, by: "octocat" })).cancelled).toBe(true);
      // Another job of gadgets takes its slot; the retried one waits, with its old comment.
      const other = await createJob({ repository: "octo-org/gadgets", repositoryId: 5_000_000_002 });
      expect((await claimJobs("w1", 1)).map((j) => j.id)).toEqual([other]);
      expect(await store.call("retryJob", { jobId: retried, extraAttempts: 3 })).toBe(true);
      expect(await claimJobs("w1", 1)).toEqual([]);
      expect(await job(retried)).toMatchObject({ state: "queued", status_comment_id: 777 });
      expect(await tasksOf("announce")).toEqual([]);
    });
  });
});
