/**
 * The Supabase store through supabase-js, over HTTP, against a real PostgreSQL server.
 *
 * No PostgREST binary is available here (and no Docker for `supabase start`), so the HTTP side
 * is test/support/postgrest-double.ts: it answers PostgREST's `POST /rest/v1/rpc/<fn>` from the
 * same real database, checks the API key as Supabase's gateway does, and runs each call as the
 * key's role (`service_role` for the secret key, `anon` for the publishable one), so the
 * migrations' grants decide what is allowed. What it does not emulate is listed in its header.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../app/src/store/migrate.js";
import { pgClient, type SqlClient } from "../../app/src/store/sql-client.js";
import type { NewJob, Store, StoredProbe } from "../../app/src/store/store.js";
import { SupabaseStore } from "../../app/src/store/supabase-store.js";
import { stopTestPostgres, testPostgres } from "../support/postgres.js";
import { startPostgrestDouble, type PostgrestDouble } from "../support/postgrest-double.js";
import { newJob as baseJob, sha } from "../support/jobs.js";

const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
// Past 2^32, as real GitHub ids are: they travel as JSON numbers and must come back equal.
const RUN_ID = 21_474_836_470;
const RUN_URL = "https://github.com/octo-org/widgets/actions/runs/21474836470";

/** Two goods and non-default options, so arrays and JSON make the round trip through PostgREST. */
function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return baseJob({ goodRefs: ["v1.4", "v1.3"], goodShas: [sha("a"), sha("b")], command: "npm test -- --grep 'parser'", options: { firstParent: true, flaky: false, confidence: 0.99, parallel: 3 }, ...overrides });
}

let admin: SqlClient;
let double: PostgrestDouble;
let store: SupabaseStore;

beforeAll(async () => {
  const url = await (await testPostgres()).createDatabase("supabase_store");
  admin = pgClient(url);
  await migrate(admin);
  double = await startPostgrestDouble({ databaseUrl: url, secretKey: SECRET_KEY, publishableKey: PUBLISHABLE_KEY });
  store = new SupabaseStore(double.url, SECRET_KEY);
});
afterAll(async () => {
  await store?.close();
  await double?.close();
  await admin?.close();
  await stopTestPostgres();
});
beforeEach(() => admin.exec("truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_claim_audit"));

/** A crashed worker, without the wait: its lease ended a minute ago. */
const backdateLease = (jobId: number) => admin.query("update public.bisect_jobs set lease_expires_at = now() - interval '1 minute' where id = $1", [jobId]);

async function claimOne(worker = "worker-a") {
  const claimed = await store.claimJobs(worker, 10, 30, 4);
  expect(claimed).toHaveLength(1);
  return claimed[0]!;
}

describe("SupabaseStore (supabase-js → PostgREST double → PostgreSQL)", () => {
  it("makes one job per delivery and per comment, and keeps every field", async () => {
    const input = newJob();
    const { jobId, created } = await store.createJob(input);
    expect(created).toBe(true);
    expect(await store.createJob(input)).toEqual({ jobId, created: false });
    expect(await store.createJob({ ...input, deliveryId: "a-manual-redelivery" })).toEqual({ jobId, created: false });

    expect(await store.getJob(jobId)).toMatchObject({
      id: jobId,
      delivery_id: input.deliveryId,
      repository: "octo-org/widgets",
      repository_id: 5_000_000_001,
      installation_id: 7_000_000_001,
      issue_number: 42,
      comment_id: input.commentId,
      good_refs: ["v1.4", "v1.3"],
      good_shas: [sha("a"), sha("b")],
      bad_sha: sha("f"),
      command: "npm test -- --grep 'parser'",
      options: input.options,
      state: "queued",
      attempts: 0,
      max_attempts: 3,
      lease_token: null,
    });
    expect((await store.getJob(jobId))!.created_at).toBeInstanceOf(Date);
    expect(await store.getJob(jobId + 1_000)).toBeUndefined();
    expect(await store.probes(jobId)).toEqual([]);
  });

  it("claims with a fencing token; once the lease has run out the old token changes nothing", async () => {
    const { jobId } = await store.createJob(newJob());
    const first = await claimOne("worker-a");
    expect(first.job).toMatchObject({ id: jobId, state: "dispatching", attempts: 1, locked_by: "worker-a", lease_token: first.token });
    expect(first.job.lease_expires_at!.getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(await store.extendLease(jobId, first.token, 60)).toBe(true);
    expect(await store.claimJobs("worker-b", 10, 30, 4)).toEqual([]);

    await backdateLease(jobId);
    const before = await store.getJob(jobId);
    const late = first.token;
    expect(await store.extendLease(jobId, late, 60)).toBe(false);
    expect(await store.recordDispatch(jobId, late, RUN_ID, RUN_URL, 0)).toBe(false);
    expect(await store.checkLater(jobId, late, 0)).toBe(false);
    expect(await store.releaseJob(jobId, late)).toBe(false);
    expect(await store.timeOutJob(jobId, late, "too late", 0)).toBe(false);
    expect(await store.failAttempt(jobId, late, "too late", 0, [])).toBeNull();
    expect(await store.recordResult(jobId, late, { verdict: "no-culprit", culpritSha: null, confidence: null, tested: 0, rounds: 0, error: null, probes: [] })).toBe(false);
    expect(await store.getJob(jobId)).toEqual(before);

    const second = await claimOne("worker-b");
    expect(second.job).toMatchObject({ id: jobId, state: "dispatching", attempts: 1, locked_by: "worker-b" });
    expect(second.token).toBeGreaterThan(first.token);
    expect(await store.recordDispatch(jobId, late, RUN_ID, RUN_URL, 0)).toBe(false);
    expect(await store.recordDispatch(jobId, second.token, RUN_ID, RUN_URL, 0)).toBe(true);
  });

  it("takes a job from dispatch to its result, with every probe and the per-repository load", async () => {
    const seen = double.requests.length;
    const { jobId } = await store.createJob(newJob());
    const dispatcher = await claimOne("worker-a");
    expect(await store.activeCounts()).toEqual([{ repositoryId: 5_000_000_001, repository: "octo-org/widgets", active: 1, queued: 0 }]);
    expect(await store.recordDispatch(jobId, dispatcher.token, RUN_ID, RUN_URL, 0)).toBe(true);
    expect(await store.recordRunning(RUN_ID)).toBe(true);
    expect(await store.recordRunning(RUN_ID)).toBe(false);

    const checker = await claimOne("worker-b");
    expect(checker.job).toMatchObject({ id: jobId, state: "running", run_id: RUN_ID, run_url: RUN_URL, attempts: 1 });
    expect(await store.checkLater(jobId, checker.token, 0)).toBe(true);

    const finisher = await claimOne("worker-c");
    const probes: StoredProbe[] = [
      { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 1200, round: 1 },
      { sha: sha("b"), verdict: "good", exitCode: 0, durationMs: 900, round: 2 },
      { sha: sha("d"), verdict: "skip", exitCode: 125, durationMs: 40, round: 2 },
      { sha: sha("e"), verdict: "error", exitCode: null, durationMs: 30_000, round: 3 },
    ];
    const result = { verdict: "culprit", culpritSha: sha("c"), confidence: 0.995, tested: 4, rounds: 3, error: null, probes } as const;
    expect(await store.recordResult(jobId, checker.token, result)).toBe(false);
    expect(await store.recordResult(jobId, finisher.token, result)).toBe(true);

    const job = await store.getJob(jobId);
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: sha("c"), confidence: 0.995, tested: 4, rounds: 3, error: null, locked_by: null, lease_expires_at: null });
    expect(job!.finished_at!.getTime()).toBeGreaterThanOrEqual(job!.started_at!.getTime());
    expect(await store.probes(jobId)).toEqual(probes.map((p) => ({ ...p, attempt: 1 })));
    expect(await store.activeCounts()).toEqual([]);
    const { rows } = await admin.query("select attempt, worker, run_id::text, outcome from public.bisect_attempts where job_id = $1", [jobId]);
    expect(rows).toEqual([{ attempt: 1, worker: "worker-a", run_id: String(RUN_ID), outcome: "succeeded" }]);
    // Fourteen calls, fourteen HTTP requests, each run as service_role.
    expect(double.requests.slice(seen)).toHaveLength(14);
    expect(double.requests.slice(seen).every((r) => r.role === "service_role" && r.status === 200)).toBe(true);
  });

  it("retries an infrastructure failure, then fails with the reason, keeping each attempt's probes", async () => {
    const { jobId } = await store.createJob(newJob({ maxAttempts: 2 }));
    const first = await claimOne();
    const probe: StoredProbe = { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 500, round: 1 };
    expect(await store.failAttempt(jobId, first.token, "the runner was lost", 0, [probe])).toBe("queued");
    expect(await store.getJob(jobId)).toMatchObject({ state: "queued", attempts: 1, error: null, finished_at: null });

    const second = await claimOne();
    expect(second.job.attempts).toBe(2);
    expect(await store.failAttempt(jobId, second.token, "artifact bisect-result-1 is missing", 0, [{ ...probe, sha: sha("d"), round: 2 }])).toBe("failed");
    expect(await store.getJob(jobId)).toMatchObject({ state: "failed", attempts: 2, error: "artifact bisect-result-1 is missing" });
    expect((await store.probes(jobId)).map((p) => [p.attempt, p.sha])).toEqual([
      [1, sha("c")],
      [2, sha("d")],
    ]);
    expect(await store.claimJobs("worker-a", 10, 30, 4)).toEqual([]);
  });

  it("cancels a queued job and a dispatched one, naming the run to stop", async () => {
    const queued = await store.createJob(newJob());
    expect(await store.cancelJob(queued.jobId, "cancelled by @octocat")).toEqual({ cancelled: true, runId: null });
    expect(await store.cancelJob(queued.jobId, "cancelled by @octocat")).toEqual({ cancelled: false, runId: null });

    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne();
    await store.recordDispatch(jobId, token, RUN_ID, RUN_URL, 0);
    const checker = await claimOne();
    expect(await store.cancelJob(jobId, "cancelled by @hubot")).toEqual({ cancelled: true, runId: RUN_ID });
    expect(await store.checkLater(jobId, checker.token, 60)).toBe(false);
    expect(await store.getJob(jobId)).toMatchObject({ state: "cancelled", error: "cancelled by @hubot", locked_by: null });
    expect(await store.cancelJob(999_999, "no such job")).toEqual({ cancelled: false, runId: null });
  });

  it("times out, gives a job back without counting an attempt, and recovers expired leases", async () => {
    const a = await store.createJob(newJob());
    const claimed = await claimOne("worker-a");
    expect(await store.releaseJob(a.jobId, claimed.token)).toBe(true);
    expect(await store.getJob(a.jobId)).toMatchObject({ state: "queued", attempts: 0, locked_by: null });
    const again = await claimOne("worker-b");
    expect(again.job.attempts).toBe(1);
    expect(await store.timeOutJob(a.jobId, again.token, "the bisect ran longer than 1800 s", 7)).toBe(true);
    expect(await store.getJob(a.jobId)).toMatchObject({ state: "timed_out", tested: 7, error: "the bisect ran longer than 1800 s" });

    const b = await store.createJob(newJob());
    const dead = await claimOne("worker-dead");
    await store.recordDispatch(b.jobId, dead.token, RUN_ID, RUN_URL, 0);
    const deadChecker = await claimOne("worker-dead");
    await backdateLease(b.jobId);
    expect(await store.recoverExpiredLeases()).toBe(1);
    expect(await store.recoverExpiredLeases()).toBe(0);
    expect(await store.extendLease(b.jobId, deadChecker.token, 30)).toBe(false);
    expect((await claimOne("worker-b")).job).toMatchObject({ id: b.jobId, state: "dispatched", locked_by: "worker-b" });
  });

});

/** One call of every method, for the refusal tests. */
const everyMethod: [string, (s: Store) => Promise<unknown>][] = [
  ["bisect_create_job", (s) => s.createJob(newJob())],
  ["bisect_claim_jobs", (s) => s.claimJobs("worker", 1, 30, 4)],
  ["bisect_extend_lease", (s) => s.extendLease(1, 1, 30)],
  ["bisect_release_job", (s) => s.releaseJob(1, 1)],
  ["bisect_record_dispatch", (s) => s.recordDispatch(1, 1, RUN_ID, RUN_URL, 0)],
  ["bisect_check_later", (s) => s.checkLater(1, 1, 0)],
  ["bisect_record_running", (s) => s.recordRunning(RUN_ID)],
  ["bisect_record_result", (s) => s.recordResult(1, 1, { verdict: "no-culprit", culpritSha: null, confidence: null, tested: 0, rounds: 0, error: null, probes: [] })],
  ["bisect_fail_attempt", (s) => s.failAttempt(1, 1, "x", 0, [])],
  ["bisect_time_out_job", (s) => s.timeOutJob(1, 1, "x", 0)],
  ["bisect_cancel_job", (s) => s.cancelJob(1, "x")],
  ["bisect_recover_expired_leases", (s) => s.recoverExpiredLeases()],
  ["bisect_active_counts", (s) => s.activeCounts()],
  ["bisect_get_job", (s) => s.getJob(1)],
  ["bisect_job_probes", (s) => s.probes(1)],
];

describe("SupabaseStore refusals and errors", () => {
  it("is refused with a wrong key, and the message names the function but never a key", async () => {
    await store.createJob(newJob());
    const wrong = new SupabaseStore(double.url, "sb_secret_not-the-project-key");
    for (const [fn, call] of everyMethod) {
      const error = (await call(wrong).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toContain(`Supabase rpc ${fn} failed with HTTP 401: Invalid API key`);
      expect(error.message).toContain("Check SUPABASE_SECRET_KEY");
      expect(error.message).not.toContain("sb_secret_not");
      expect(error.message).not.toContain(SECRET_KEY);
    }
    const { rows } = await admin.query<{ n: string }>("select count(*)::text as n from public.bisect_jobs where locked_by is not null or state <> 'queued'");
    expect(rows[0]!.n).toBe("0");
    await wrong.close();
  });

  it("is refused by the grants as anon (the publishable key), for every function", async () => {
    const { jobId } = await store.createJob(newJob());
    const anon = new SupabaseStore(double.url, PUBLISHABLE_KEY);
    for (const [fn, call] of everyMethod) {
      await expect(call(anon), fn).rejects.toThrow(`Supabase rpc ${fn} failed with HTTP 401 [42501]: permission denied for function ${fn}`);
    }
    expect(await store.getJob(jobId)).toMatchObject({ state: "queued", attempts: 0 });
    expect(double.requests.filter((r) => r.role === "anon").every((r) => r.status === 401)).toBe(true);
    await anon.close();
  });

  it("reports a database error with the function's name and changes nothing", async () => {
    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne();
    const hostile = { sha: "not-a-sha; drop table public.bisect_jobs", verdict: "bad", exitCode: 1, durationMs: 1, round: 1 } as const;
    await expect(
      store.recordResult(jobId, token, { verdict: "culprit", culpritSha: sha("c"), confidence: 1, tested: 1, rounds: 1, error: null, probes: [hostile] }),
    ).rejects.toThrow(/^Supabase rpc bisect_record_result failed with HTTP 400 \[23514\]: new row for relation "bisect_probes" violates check constraint "bisect_probes_sha_check"/);
    // The call was one transaction: the job did not move.
    expect(await store.getJob(jobId)).toMatchObject({ state: "dispatching", verdict: null, lease_token: token });
    expect(await store.probes(jobId)).toEqual([]);
  });

  it("says which URL it cannot reach", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    const unreachable = new SupabaseStore(`http://127.0.0.1:${port}`, SECRET_KEY);
    const error = (await unreachable.getJob(1).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(new RegExp(`^Supabase rpc bisect_get_job could not reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*Check SUPABASE_URL\\.$`));
    expect(error.message).not.toContain(SECRET_KEY);
  });
});
