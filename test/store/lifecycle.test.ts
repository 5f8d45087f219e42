/**
 * The job lifecycle SQL functions (supabase/migrations), called as SQL through SqlClient, on
 * PGlite in memory and on a real PostgreSQL server the tests start (test/support/postgres.ts):
 * idempotent create, claims with leases and fencing tokens, per-repository limits, recovery,
 * retries with backoff, results, cancel, progress, and the dashboard views.
 * Independent of the Store adapter: this is what every adapter translates.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SqlClient } from "../../app/src/store/sql-client.js";
import { BACKENDS, openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";

const sha = (c: string) => c.repeat(40);
const REPO_A = { repository: "octo-org/widgets", repositoryId: 5_000_000_001 };
const REPO_B = { repository: "octo-org/gadgets", repositoryId: 5_000_000_002 };
// Past 2^32, as real GitHub run ids are.
const RUN_ID = 21_474_836_470;

interface NewJob {
  deliveryId?: string;
  repository?: string;
  repositoryId?: number;
  commentId?: number;
  maxAttempts?: number;
}

type Claimed = {
  id: number;
  token: string;
  state: string;
  attempts: number;
  locked_by: string;
};

type Job = {
  id: number;
  state: string;
  attempts: number;
  locked_by: string | null;
  token: string | null;
  lease_expires_at: Date | null;
  run_id: string | null;
  run_url: string | null;
  verdict: string | null;
  culprit_sha: string | null;
  confidence: number | null;
  tested: number | null;
  rounds: number | null;
  error: string | null;
  finished_at: Date | null;
  /** Seconds from now until next_check_at. */
  due_in: number;
  /** Seconds of lease given at the last change (lease_expires_at − updated_at, one now()). */
  lease: number | null;
  /** Seconds until the next look, as set at the last change (next_check_at − updated_at). */
  delay: number;
};

let serial = 0;

async function createJob(c: SqlClient, job: NewJob = {}): Promise<{ id: number; created: boolean }> {
  serial += 1;
  const { repository, repositoryId } = job.repository ? { repository: job.repository, repositoryId: job.repositoryId! } : REPO_A;
  const { rows } = await c.query<{ id: number; created: boolean }>(
    `select job_id::int as id, created from public.bisect_create_job($1, $2, $3, $4, $5, $6, $7, $8::text[], $9, $10::text[], $11, $12, $13::text::jsonb, $14)`,
    [
      job.deliveryId ?? `delivery-${serial}-${Math.random().toString(36).slice(2)}`,
      repository,
      repositoryId,
      7_000_000_001,
      42,
      job.commentId ?? 3_000_000_000 + serial,
      "octocat",
      ["v1.4"],
      "main",
      [sha("a")],
      sha("f"),
      "npm test",
      JSON.stringify({ flaky: false, confidence: 0.99 }),
      job.maxAttempts ?? 3,
    ],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function claim(c: SqlClient, worker: string, options: { limit?: number; lease?: number; maxActive?: number } = {}): Promise<Claimed[]> {
  const { rows } = await c.query<Claimed>(
    "select id::int as id, lease_token::text as token, state, attempts, locked_by from public.bisect_claim_jobs($1, $2, $3, $4) order by id",
    [worker, options.limit ?? 10, options.lease ?? 30, options.maxActive ?? 4],
  );
  return rows;
}

async function claimOne(c: SqlClient, worker = "worker-a", maxActive = 4): Promise<Claimed> {
  const claimed = await claim(c, worker, { maxActive, limit: 1 });
  expect(claimed).toHaveLength(1);
  return claimed[0]!;
}

async function job(c: SqlClient, id: number): Promise<Job> {
  const { rows } = await c.query<Job>(
    `select id::int as id, state, attempts, locked_by, lease_token::text as token, lease_expires_at, run_id::text as run_id, run_url,
       verdict, culprit_sha, confidence, tested, rounds, error, finished_at,
       extract(epoch from next_check_at - now())::float8 as due_in,
       extract(epoch from lease_expires_at - updated_at)::float8 as lease,
       extract(epoch from next_check_at - updated_at)::float8 as delay
     from public.bisect_jobs where id = $1`,
    [id],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** The whole row as JSON text: equal before and after means nothing changed. */
async function snapshot(c: SqlClient, id: number): Promise<string> {
  const { rows } = await c.query<{ row: string }>("select to_jsonb(j)::text as row from public.bisect_jobs j where id = $1", [id]);
  return rows[0]!.row;
}

async function count(c: SqlClient, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await c.query<{ n: number }>(`select (${sql})::int as n`, params);
  return rows[0]!.n;
}

async function bool(c: SqlClient, sql: string, params: unknown[]): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(`select ${sql} as ok`, params);
  return rows[0]!.ok;
}

const extend = (c: SqlClient, id: number, token: string, seconds = 30) => bool(c, "public.bisect_extend_lease($1, $2, $3)", [id, token, seconds]);
const release = (c: SqlClient, id: number, token: string) => bool(c, "public.bisect_release_job($1, $2)", [id, token]);
const dispatch = (c: SqlClient, id: number, token: string, runId = RUN_ID, checkAfter = 0) =>
  bool(c, "public.bisect_record_dispatch($1, $2, $3, $4, $5)", [id, token, runId, `https://github.com/octo-org/widgets/actions/runs/${runId}`, checkAfter]);
const checkLater = (c: SqlClient, id: number, token: string, seconds = 0) => bool(c, "public.bisect_check_later($1, $2, $3)", [id, token, seconds]);
const running = (c: SqlClient, runId: number) => bool(c, "public.bisect_record_running($1)", [runId]);
const timeOut = (c: SqlClient, id: number, token: string, reason = "took longer than 1800 s", tested = 4) =>
  bool(c, "public.bisect_time_out_job($1, $2, $3, $4)", [id, token, reason, tested]);

interface Probe {
  sha: string;
  verdict: "good" | "bad" | "skip" | "error";
  exitCode: number | null;
  durationMs: number;
  round: number;
}
const PROBES: Probe[] = [
  { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 1200, round: 1 },
  { sha: sha("b"), verdict: "good", exitCode: 0, durationMs: 900, round: 2 },
  { sha: sha("d"), verdict: "error", exitCode: null, durationMs: 30_000, round: 2 },
];

function result(
  c: SqlClient,
  id: number,
  token: string,
  r: { verdict?: string; culprit?: string | null; confidence?: number | null; tested?: number; rounds?: number; error?: string | null; probes?: Probe[] } = {},
) {
  return bool(c, "public.bisect_record_result($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb)", [
    id,
    token,
    r.verdict ?? "culprit",
    r.culprit === undefined ? sha("c") : r.culprit,
    r.confidence === undefined ? 0.99 : r.confidence,
    r.tested ?? 3,
    r.rounds ?? 2,
    r.error ?? null,
    JSON.stringify(r.probes ?? PROBES),
  ]);
}

async function fail(c: SqlClient, id: number, token: string, reason = "runner lost", baseDelay = 10, probes: Probe[] = []): Promise<string | null> {
  const { rows } = await c.query<{ state: string | null }>("select public.bisect_fail_attempt($1, $2, $3, $4, $5::text::jsonb) as state", [
    id,
    token,
    reason,
    baseDelay,
    JSON.stringify(probes),
  ]);
  return rows[0]!.state;
}

async function cancel(c: SqlClient, id: number, reason = "cancelled by @octocat"): Promise<{ cancelled: boolean; run_id: string | null }> {
  const { rows } = await c.query<{ cancelled: boolean; run_id: string | null }>(
    "select cancelled, run_id::text as run_id from public.bisect_cancel_job($1, $2)",
    [id, reason],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

const backdateLease = (c: SqlClient, id: number) => c.query("update public.bisect_jobs set lease_expires_at = now() - interval '1 s' where id = $1", [id]);
const makeDue = (c: SqlClient, id: number) => c.query("update public.bisect_jobs set next_check_at = now() where id = $1", [id]);

/** queued ─claim─► dispatching ─dispatch─► dispatched ─claim (due check)─► held by `worker` again. */
async function dispatchedAndHeld(c: SqlClient, id: number, worker = "worker-a", runId = RUN_ID): Promise<Claimed> {
  const first = await claimOne(c, worker, 100);
  expect(first.id).toBe(id);
  expect(await dispatch(c, id, first.token, runId, 0)).toBe(true);
  const check = await claimOne(c, worker, 100);
  expect(check).toMatchObject({ id, state: "dispatched" });
  return check;
}

afterAll(() => stopTestPostgres());

describe.each(BACKENDS)("job lifecycle on %s", (backend) => {
  let db: TestDatabase;
  let c: SqlClient;
  beforeAll(async () => {
    db = await openTestDatabase(backend, { poolSize: 20 });
    c = db.client;
  });
  afterAll(() => db?.close());
  // Claims take due jobs of every repository: every test starts with empty tables.
  beforeEach(() => c.exec("truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_claim_audit restart identity"));

  describe("create", () => {
    it("makes one job per delivery id and per (repository, comment)", async () => {
      const first = await createJob(c, { deliveryId: "d-1", commentId: 111 });
      expect(first.created).toBe(true);
      // GitHub redelivers the same delivery.
      expect(await createJob(c, { deliveryId: "d-1", commentId: 111 })).toEqual({ id: first.id, created: false });
      // The same comment under a new delivery id (a manual redelivery).
      expect(await createJob(c, { deliveryId: "d-2", commentId: 111 })).toEqual({ id: first.id, created: false });
      expect(await count(c, "select count(*) from public.bisect_jobs")).toBe(1);

      // The same comment id in another repository is another comment.
      const other = await createJob(c, { deliveryId: "d-3", commentId: 111, ...REPO_B });
      expect(other.created).toBe(true);
      expect(other.id).not.toBe(first.id);
      expect(await count(c, "select count(*) from public.bisect_jobs")).toBe(2);
    });

    it("makes one job when the same comment arrives many times at once", async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => createJob(c, { deliveryId: i % 2 === 0 ? "storm-1" : `storm-${i}`, commentId: 222 })),
      );
      expect(answers.filter((a) => a.created)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.id)).size).toBe(1);
      expect(await count(c, "select count(*) from public.bisect_jobs")).toBe(1);
    });
  });

  describe("claim and lease", () => {
    it("leases a queued job with a fencing token and counts an attempt; a second claim gets nothing", async () => {
      const { id } = await createJob(c);
      const claimed = await claim(c, "worker-a");
      expect(claimed).toEqual([{ id, token: expect.stringMatching(/^\d+$/), state: "dispatching", attempts: 1, locked_by: "worker-a" }]);
      const row = await job(c, id);
      expect(row).toMatchObject({ state: "dispatching", attempts: 1, locked_by: "worker-a", token: claimed[0]!.token });
      expect(row.lease).toBe(30);

      expect(await claim(c, "worker-b")).toEqual([]);
      expect(await claim(c, "worker-a")).toEqual([]);
      expect(await count(c, "select count(*) from public.bisect_claim_audit where job_id = $1", [id])).toBe(1);
    });

    it("extends a lease it holds", async () => {
      const { id } = await createJob(c);
      const { token } = await claimOne(c);
      expect(await extend(c, id, token, 300)).toBe(true);
      expect((await job(c, id)).lease).toBe(300);
      expect(await extend(c, id, String(BigInt(token) + 1000n), 300)).toBe(false);
    });

    it("claims every job exactly once when many workers claim at the same moment", async () => {
      for (let i = 0; i < 40; i++) await createJob(c, i % 2 === 0 ? {} : REPO_B);
      const seen: number[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (;;) {
            const got = await claim(c, `worker-${w}`, { limit: 3, maxActive: 100 });
            if (got.length === 0) return;
            seen.push(...got.map((g) => g.id));
          }
        }),
      );
      expect(seen).toHaveLength(40);
      expect(new Set(seen).size).toBe(40);
      expect(await count(c, "select count(*) from public.bisect_claim_audit")).toBe(40);
      expect(await count(c, "select count(distinct job_id) from public.bisect_claim_audit")).toBe(40);
    });
  });

  describe("per-repository limit", () => {
    it("runs at most max_active jobs of a repository; the rest wait in order and the next goes when one finishes", async () => {
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createJob(c)).id);
      const other = (await createJob(c, REPO_B)).id;

      const claimed = await claim(c, "worker-a", { limit: 10, maxActive: 2 });
      expect(claimed.map((j) => j.id)).toEqual([ids[0], ids[1], other]);
      expect(await claim(c, "worker-b", { limit: 10, maxActive: 2 })).toEqual([]);

      const { rows: counts } = await c.query<{ repository: string; active: number; queued: number }>(
        "select repository, active::int as active, queued::int as queued from public.bisect_active_counts() order by repository",
      );
      expect(counts).toEqual([
        { repository: REPO_B.repository, active: 1, queued: 0 },
        { repository: REPO_A.repository, active: 2, queued: 3 },
      ]);

      // The first finishes: the third, not the fourth or fifth, takes its slot.
      const done = claimed[0]!;
      expect(await dispatch(c, done.id, done.token, RUN_ID, 0)).toBe(true);
      const check = await claimOne(c, "worker-a", 2);
      expect(check.id).toBe(done.id);
      expect(await result(c, done.id, check.token)).toBe(true);
      expect((await claim(c, "worker-b", { limit: 10, maxActive: 2 })).map((j) => j.id)).toEqual([ids[2]]);
      expect(await claim(c, "worker-b", { limit: 10, maxActive: 2 })).toEqual([]);
    });

    it("does not overfill a repository when claims race", async () => {
      for (let i = 0; i < 5; i++) await createJob(c);
      const answers = await Promise.all(Array.from({ length: 8 }, (_, w) => claim(c, `worker-${w}`, { limit: 5, maxActive: 2 })));
      expect(answers.flat()).toHaveLength(2);
      expect(await count(c, "select count(*) from public.bisect_jobs where state = 'dispatching'")).toBe(2);
    });
  });

  describe("fencing", () => {
    it("lets another worker take an expired lease, and the old token changes nothing", async () => {
      const { id } = await createJob(c);
      const old = await claimOne(c, "worker-a");
      await backdateLease(c, id);

      const taken = await claimOne(c, "worker-b");
      expect(taken).toMatchObject({ id, state: "dispatching", attempts: 1, locked_by: "worker-b" });
      expect(taken.token).not.toBe(old.token);

      const before = await snapshot(c, id);
      expect(await extend(c, id, old.token)).toBe(false);
      expect(await dispatch(c, id, old.token)).toBe(false);
      expect(await result(c, id, old.token)).toBe(false);
      expect(await fail(c, id, old.token)).toBeNull();
      expect(await release(c, id, old.token)).toBe(false);
      expect(await checkLater(c, id, old.token)).toBe(false);
      expect(await timeOut(c, id, old.token)).toBe(false);
      expect(await snapshot(c, id)).toBe(before);
      expect(await count(c, "select count(*) from public.bisect_attempts")).toBe(0);
      expect(await count(c, "select count(*) from public.bisect_probes")).toBe(0);

      // The new holder's token works.
      expect(await dispatch(c, id, taken.token)).toBe(true);
      expect(await job(c, id)).toMatchObject({ state: "dispatched", run_id: String(RUN_ID) });
    });

    it("refuses an expired token even before anyone else took the job", async () => {
      const { id } = await createJob(c);
      const { token } = await claimOne(c);
      await backdateLease(c, id);
      const before = await snapshot(c, id);
      expect(await extend(c, id, token)).toBe(false);
      expect(await dispatch(c, id, token)).toBe(false);
      expect(await release(c, id, token)).toBe(false);
      expect(await snapshot(c, id)).toBe(before);
    });

    it("ends the dispatching lease at dispatch: its token cannot finish the job later", async () => {
      const { id } = await createJob(c);
      const first = await claimOne(c);
      expect(await dispatch(c, id, first.token, RUN_ID, 3600)).toBe(true);
      const before = await snapshot(c, id);
      expect(await result(c, id, first.token)).toBe(false);
      expect(await fail(c, id, first.token)).toBeNull();
      expect(await checkLater(c, id, first.token)).toBe(false);
      expect(await snapshot(c, id)).toBe(before);
    });
  });

  describe("recovery", () => {
    it("frees expired leases (and only those); a dispatched job is checked again", async () => {
      const a = (await createJob(c)).id;
      const held = await dispatchedAndHeld(c, a);
      const b = (await createJob(c)).id;
      const other = await claimOne(c);
      expect(other.id).toBe(b);
      await backdateLease(c, a);

      const { rows } = await c.query<{ n: number }>("select public.bisect_recover_expired_leases() as n");
      expect(rows[0]!.n).toBe(1);
      expect(await job(c, a)).toMatchObject({ state: "dispatched", attempts: 1, locked_by: null, lease_expires_at: null });
      expect((await job(c, a)).due_in).toBeLessThanOrEqual(0);
      expect(await job(c, b)).toMatchObject({ state: "dispatching", locked_by: "worker-a" });

      const again = await claimOne(c, "worker-b");
      expect(again).toMatchObject({ id: a, state: "dispatched", attempts: 1, locked_by: "worker-b" });
      expect(again.token).not.toBe(held.token);
      expect(await result(c, a, held.token)).toBe(false);
      expect(await result(c, a, again.token)).toBe(true);
    });

    it("a dispatching job whose lease was recovered is claimed again", async () => {
      // The worker died between its claim and the dispatch; the sweeper ran before any claim did.
      const { id } = await createJob(c);
      const dead = await claimOne(c, "worker-a");
      await backdateLease(c, id);
      const { rows } = await c.query<{ n: number }>("select public.bisect_recover_expired_leases() as n");
      expect(rows[0]!.n).toBe(1);

      const again = await claim(c, "worker-b");
      expect(again).toEqual([expect.objectContaining({ id, state: "dispatching", attempts: 1, locked_by: "worker-b" })]);
      expect(again[0]!.token).not.toBe(dead.token);
    });

    it("a dispatching job deferred with check_later (its run not found yet) is claimed again when due", async () => {
      const { id } = await createJob(c);
      const { token } = await claimOne(c);
      expect(await checkLater(c, id, token, 0)).toBe(true);
      expect(await claim(c, "worker-b")).toEqual([expect.objectContaining({ id, state: "dispatching", attempts: 1 })]);
    });
  });

  describe("release", () => {
    it("gives back an undispatched job without counting the attempt", async () => {
      const { id } = await createJob(c, { maxAttempts: 3 });
      const first = await claimOne(c);
      expect(first.attempts).toBe(1);
      expect(await release(c, id, first.token)).toBe(true);
      expect(await job(c, id)).toMatchObject({ state: "queued", attempts: 0, locked_by: null, lease_expires_at: null });
      expect(await release(c, id, first.token)).toBe(false);

      // Released again and again (rolling restarts): it still gets all its attempts.
      for (let i = 0; i < 5; i++) {
        const again = await claimOne(c, `worker-${i}`);
        expect(again.attempts).toBe(1);
        expect(await release(c, id, again.token)).toBe(true);
      }
      expect(await job(c, id)).toMatchObject({ state: "queued", attempts: 0 });
    });

    it("gives back a dispatched job as it is, for the next worker to check", async () => {
      const { id } = await createJob(c);
      const held = await dispatchedAndHeld(c, id);
      expect(await release(c, id, held.token)).toBe(true);
      expect(await job(c, id)).toMatchObject({ state: "dispatched", attempts: 1, run_id: String(RUN_ID), locked_by: null });
      expect(await claimOne(c, "worker-b")).toMatchObject({ id, state: "dispatched", attempts: 1 });
    });
  });

  describe("retries", () => {
    it("requeues an infrastructure failure with growing backoff, then fails after max_attempts with the reason", async () => {
      const base = 10;
      const { id } = await createJob(c, { maxAttempts: 3 });
      const delays: number[] = [];
      for (let n = 1; n <= 3; n++) {
        const held = await dispatchedAndHeld(c, id, `worker-${n}`, RUN_ID + n);
        expect(held.attempts).toBe(n);
        const probes = [{ sha: sha(String(n)), verdict: "good" as const, exitCode: 0, durationMs: 100 * n, round: 1 }];
        const state = await fail(c, id, held.token, `runner lost (attempt ${n})`, base, probes);
        if (n < 3) {
          expect(state).toBe("queued");
          const row = await job(c, id);
          expect(row).toMatchObject({ state: "queued", attempts: n, locked_by: null, run_id: null, error: null, finished_at: null });
          const expected = base * 2 ** (n - 1);
          // ±20% jitter.
          expect(row.delay).toBeGreaterThanOrEqual(expected * 0.8);
          expect(row.delay).toBeLessThanOrEqual(expected * 1.2);
          delays.push(row.delay);
          // Not before its time.
          expect(await claim(c, "worker-x", { maxActive: 100 })).toEqual([]);
          await makeDue(c, id);
        } else {
          expect(state).toBe("failed");
        }
      }
      expect(delays[1]!).toBeGreaterThan(delays[0]!);

      const row = await job(c, id);
      expect(row).toMatchObject({ state: "failed", attempts: 3, error: "runner lost (attempt 3)", locked_by: null });
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(await claim(c, "worker-x", { maxActive: 100 })).toEqual([]);

      // Attempted exactly max_attempts times: claims that started an attempt, dispatches, failures.
      expect(await count(c, "select count(*) from public.bisect_claim_audit where job_id = $1 and from_state = 'queued'", [id])).toBe(3);
      const { rows: attempts } = await c.query<{ attempt: number; outcome: string; reason: string; run_id: string }>(
        "select attempt, outcome, reason, run_id::text as run_id from public.bisect_attempts where job_id = $1 order by attempt",
        [id],
      );
      expect(attempts).toEqual([1, 2, 3].map((n) => ({ attempt: n, outcome: "failed", reason: `runner lost (attempt ${n})`, run_id: String(RUN_ID + n) })));
      // The verdicts each attempt reported are kept, so the next one resumes.
      const { rows: probes } = await c.query<{ attempt: number; sha: string }>("select attempt, sha from public.bisect_probes where job_id = $1 order by attempt", [id]);
      expect(probes).toEqual([1, 2, 3].map((n) => ({ attempt: n, sha: sha(String(n)) })));
    });

    it("spreads the first retry over base ±20%", async () => {
      const ids: number[] = [];
      for (let i = 0; i < 12; i++) ids.push((await createJob(c)).id);
      const claimed = await claim(c, "worker-a", { limit: 20, maxActive: 100 });
      expect(claimed).toHaveLength(12);
      for (const held of claimed) expect(await fail(c, held.id, held.token, "runner lost", 100)).toBe("queued");
      const { rows } = await c.query<{ delay: number }>("select extract(epoch from next_check_at - updated_at)::float8 as delay from public.bisect_jobs");
      const delays = rows.map((r) => r.delay);
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(80);
        expect(d).toBeLessThanOrEqual(120);
      }
      // Jitter: not all the same.
      expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(1);
    });

    it("fails a job straight from dispatching (the dispatch itself failed)", async () => {
      const { id } = await createJob(c, { maxAttempts: 1 });
      const { token } = await claimOne(c);
      expect(await fail(c, id, token, "workflow bisect.yml not found")).toBe("failed");
      expect(await job(c, id)).toMatchObject({ state: "failed", attempts: 1, error: "workflow bisect.yml not found" });
      expect(await count(c, "select count(*) from public.bisect_attempts where job_id = $1 and outcome = 'failed'", [id])).toBe(1);
    });
  });

  describe("results", () => {
    it("stores the verdict, the probes and the attempt's outcome", async () => {
      const { id } = await createJob(c);
      const held = await dispatchedAndHeld(c, id);
      expect(await result(c, id, held.token, { verdict: "culprit", culprit: sha("c"), confidence: 0.995, tested: 3, rounds: 2 })).toBe(true);

      const row = await job(c, id);
      expect(row).toMatchObject({
        state: "succeeded",
        verdict: "culprit",
        culprit_sha: sha("c"),
        confidence: 0.995,
        tested: 3,
        rounds: 2,
        error: null,
        locked_by: null,
        lease_expires_at: null,
        run_id: String(RUN_ID),
      });
      expect(row.finished_at).toBeInstanceOf(Date);

      const { rows: probes } = await c.query(
        `select attempt, sha, verdict, exit_code as "exitCode", duration_ms as "durationMs", round from public.bisect_probes where job_id = $1 order by id`,
        [id],
      );
      expect(probes).toEqual(PROBES.map((p) => ({ attempt: 1, ...p })));
      const { rows: attempts } = await c.query<{ attempt: number; outcome: string; run_id: string; finished: boolean }>(
        "select attempt, outcome, run_id::text as run_id, finished_at is not null as finished from public.bisect_attempts where job_id = $1",
        [id],
      );
      expect(attempts).toEqual([{ attempt: 1, outcome: "succeeded", run_id: String(RUN_ID), finished: true }]);

      // Final: the same token cannot record twice, and nobody claims it again.
      expect(await result(c, id, held.token)).toBe(false);
      expect(await claim(c, "worker-b")).toEqual([]);
    });

    it("records 'no-culprit' as a success and 'error' as a failure", async () => {
      const a = (await createJob(c)).id;
      const heldA = await dispatchedAndHeld(c, a);
      expect(await result(c, a, heldA.token, { verdict: "no-culprit", culprit: null, confidence: null, probes: [] })).toBe(true);
      expect(await job(c, a)).toMatchObject({ state: "succeeded", verdict: "no-culprit", culprit_sha: null });

      const b = (await createJob(c)).id;
      const heldB = await dispatchedAndHeld(c, b);
      expect(await result(c, b, heldB.token, { verdict: "error", culprit: null, confidence: null, error: "the command is not in the repository", probes: [] })).toBe(true);
      expect(await job(c, b)).toMatchObject({ state: "failed", verdict: "error", error: "the command is not in the repository" });
      expect(await count(c, "select count(*) from public.bisect_attempts where job_id = $1 and outcome = 'failed'", [b])).toBe(1);
    });

    it("changes nothing when a probe is malformed (the whole call is one statement)", async () => {
      const { id } = await createJob(c);
      const held = await dispatchedAndHeld(c, id);
      const before = await snapshot(c, id);
      const bad = [...PROBES, { sha: "not-a-sha", verdict: "bad" as const, exitCode: 1, durationMs: 1, round: 3 }];
      await expect(result(c, id, held.token, { probes: bad })).rejects.toThrow(/bisect_probes_sha_check/);
      expect(await snapshot(c, id)).toBe(before);
      expect(await count(c, "select count(*) from public.bisect_probes")).toBe(0);
      expect(await result(c, id, held.token)).toBe(true);
    });

    it("times out a job that outlived its budget, and ends its attempt", async () => {
      const { id } = await createJob(c);
      const held = await dispatchedAndHeld(c, id);
      expect(await timeOut(c, id, held.token, "took longer than 1800 s", 6)).toBe(true);
      expect(await job(c, id)).toMatchObject({ state: "timed_out", error: "took longer than 1800 s", tested: 6, locked_by: null });
      expect(await timeOut(c, id, held.token)).toBe(false);
      const { rows } = await c.query<{ outcome: string; finished: boolean }>(
        "select outcome, finished_at is not null as finished from public.bisect_attempts where job_id = $1",
        [id],
      );
      expect(rows).toEqual([{ outcome: "timed_out", finished: true }]);
    });
  });

  describe("cancel", () => {
    it("returns the run to cancel, and is idempotent", async () => {
      const queued = (await createJob(c)).id;
      expect(await cancel(c, queued)).toEqual({ cancelled: true, run_id: null });
      expect(await job(c, queued)).toMatchObject({ state: "cancelled", error: "cancelled by @octocat" });
      expect(await cancel(c, queued)).toEqual({ cancelled: false, run_id: null });

      const dispatched = (await createJob(c)).id;
      const first = await claimOne(c);
      expect(await dispatch(c, dispatched, first.token, RUN_ID, 3600)).toBe(true);
      expect(await cancel(c, dispatched)).toEqual({ cancelled: true, run_id: String(RUN_ID) });
      expect(await cancel(c, dispatched)).toEqual({ cancelled: false, run_id: null });
      const row = await job(c, dispatched);
      expect(row).toMatchObject({ state: "cancelled", locked_by: null });
      expect(row.finished_at).toBeInstanceOf(Date);

      expect(await cancel(c, 999_999)).toEqual({ cancelled: false, run_id: null });
    });

    it("fences out the worker holding a cancelled job", async () => {
      const { id } = await createJob(c);
      const held = await dispatchedAndHeld(c, id);
      expect((await cancel(c, id)).cancelled).toBe(true);
      const before = await snapshot(c, id);
      expect(await result(c, id, held.token)).toBe(false);
      expect(await fail(c, id, held.token)).toBeNull();
      expect(await extend(c, id, held.token)).toBe(false);
      expect(await snapshot(c, id)).toBe(before);
      expect(await claim(c, "worker-b")).toEqual([]);
    });

    it("ends the attempt of a cancelled run", async () => {
      const { id } = await createJob(c);
      const first = await claimOne(c);
      expect(await dispatch(c, id, first.token, RUN_ID, 3600)).toBe(true);
      expect((await cancel(c, id)).cancelled).toBe(true);
      const { rows } = await c.query<{ outcome: string; finished: boolean }>(
        "select outcome, finished_at is not null as finished from public.bisect_attempts where job_id = $1",
        [id],
      );
      expect(rows).toEqual([{ outcome: "cancelled", finished: true }]);
    });
  });

  describe("progress (record_running)", () => {
    it("moves a dispatched job to running, and never moves a job backwards", async () => {
      const { id } = await createJob(c);
      const first = await claimOne(c);
      expect(await running(c, RUN_ID)).toBe(false); // no run yet
      expect(await dispatch(c, id, first.token, RUN_ID, 3600)).toBe(true);
      expect(await running(c, RUN_ID)).toBe(true);
      expect(await job(c, id)).toMatchObject({ state: "running" });
      expect(await running(c, RUN_ID)).toBe(false); // a duplicate webhook

      await makeDue(c, id);
      const held = await claimOne(c);
      expect(await result(c, id, held.token)).toBe(true);
      // A late, out-of-order workflow_job event.
      expect(await running(c, RUN_ID)).toBe(false);
      expect(await job(c, id)).toMatchObject({ state: "succeeded" });
      expect(await running(c, 12345)).toBe(false);
    });

    it("ignores the old run of a job that is queued for a retry", async () => {
      const { id } = await createJob(c);
      const held = await dispatchedAndHeld(c, id, "worker-a", RUN_ID);
      expect(await fail(c, id, held.token, "runner lost", 10)).toBe("queued");
      expect(await running(c, RUN_ID)).toBe(false);
      expect(await job(c, id)).toMatchObject({ state: "queued", run_id: null });
    });
  });

  describe("dashboard views", () => {
    it("bisect_queue numbers the waiting jobs of each repository", async () => {
      const a = [(await createJob(c)).id, (await createJob(c)).id, (await createJob(c)).id];
      const b = [(await createJob(c, REPO_B)).id, (await createJob(c, REPO_B)).id];
      const done = (await createJob(c, REPO_B)).id;
      expect((await cancel(c, done)).cancelled).toBe(true);
      const first = await claimOne(c, "worker-a", 1);
      expect(first.id).toBe(a[0]);

      const { rows } = await c.query<{ id: number; repository: string; state: string; queue_position: number | null; locked_by: string | null }>(
        "select id::int as id, repository, state, queue_position::int as queue_position, locked_by from public.bisect_queue",
      );
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(rows).toHaveLength(5); // finished jobs are not in the queue
      expect(byId.get(a[0]!)).toMatchObject({ state: "dispatching", queue_position: null, locked_by: "worker-a" });
      expect(byId.get(a[1]!)).toMatchObject({ repository: REPO_A.repository, state: "queued", queue_position: 1 });
      expect(byId.get(a[2]!)).toMatchObject({ queue_position: 2 });
      expect(byId.get(b[0]!)).toMatchObject({ repository: REPO_B.repository, queue_position: 1 });
      expect(byId.get(b[1]!)).toMatchObject({ queue_position: 2 });
    });

    it("bisect_repository_stats counts states, success rate, durations and tests per bisect", async () => {
      const culprit = (await createJob(c)).id;
      let held = await dispatchedAndHeld(c, culprit);
      expect(await result(c, culprit, held.token, { verdict: "culprit", tested: 7, probes: [] })).toBe(true);

      const clean = (await createJob(c)).id;
      held = await dispatchedAndHeld(c, clean);
      expect(await result(c, clean, held.token, { verdict: "no-culprit", culprit: null, tested: 5, probes: [] })).toBe(true);

      const broken = (await createJob(c)).id;
      held = await dispatchedAndHeld(c, broken);
      expect(await result(c, broken, held.token, { verdict: "error", culprit: null, tested: 3, error: "boom", probes: [] })).toBe(true);

      expect((await cancel(c, (await createJob(c)).id)).cancelled).toBe(true);
      await createJob(c); // queued
      await createJob(c, REPO_B); // another repository
      await claimOne(c, "worker-a", 100);

      const { rows } = await c.query<Record<string, unknown>>("select * from public.bisect_repository_stats order by repository");
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
      }).toEqual({ jobs: 5, queued: 0, active: 1, succeeded: 2, failed: 1, cancelled: 1, timed_out: 0, culprits_found: 1, success_rate: 0.667, tests_per_bisect: 5 });
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
