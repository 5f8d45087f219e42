/**
 * Many workers, one queue, a real PostgreSQL server: 4 processes × 16 concurrent workers drain
 * the queue, each job taking two claims (dispatch, then the check that records its result). The
 * append-only claim audit and the workers' own records must show every job claimed exactly once
 * per step, by one worker, and none lost.
 *
 * 10,000 jobs (over 200 repositories) through the Store over the SQL transport, as issue 4 asks
 * (BISECT_CONCURRENCY_JOBS sets another size). A smaller drain goes through the PostgREST
 * transport (supabase-js and the PostgREST double, test/support/postgrest-double.ts: no
 * PostgREST binary is available here).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../../app/src/store/migrate.js";
import { pgClient, type SqlClient } from "../../../app/src/store/sql-client.js";
import { stopTestPostgres, testPostgres } from "../../support/postgres.js";
import { startPostgrestDouble, type PostgrestDouble } from "../../support/postgrest-double.js";
import { drainWithProcesses, seedJobs, type DrainRun } from "./claim-worker.js";

const PROCESSES = 4;
const WORKERS = 16;
const REPOSITORIES = 200;
const SECRET_KEY = "sb_secret_concurrency-test-key";

afterAll(() => stopTestPostgres());

function describeDrain(label: string, jobs: number, through: "postgres" | "supabase") {
  describe(`${jobs} jobs, ${PROCESSES} processes × ${WORKERS} workers, ${label}`, () => {
    let db: SqlClient;
    let double: PostgrestDouble | undefined;
    let run: DrainRun;
    const rows = async <T extends Record<string, unknown>>(sql: string) => (await db.query<T>(sql)).rows;

    beforeAll(async () => {
      const url = await (await testPostgres()).createDatabase(`concurrency_${through}`);
      db = pgClient(url);
      await migrate(db);
      await seedJobs(db, jobs, REPOSITORIES);
      // As autovacuum would after a bulk load. Without statistics the planner misjudges the
      // claim's joins as tiny and runs them as nested loops, quadratic in the queue's length.
      await db.exec("analyze public.bisect_jobs");
      if (through === "supabase") double = await startPostgrestDouble({ databaseUrl: url, secretKey: SECRET_KEY, poolSize: 32 });
      run = await drainWithProcesses(
        double ? { store: "supabase", supabaseUrl: double.url, secretKey: SECRET_KEY } : { store: "postgres", databaseUrl: url },
        // maxActive as large as the queue: this is about claiming, not per-repository limits.
        { processes: PROCESSES, workers: WORKERS, maxLimit: 3, leaseSeconds: 120, maxActive: jobs },
      );
    }, 300_000);
    afterAll(async () => {
      await double?.close();
      await db?.close();
    });

    it("finishes every job, none lost", async () => {
      expect(await rows("select state, count(*)::int as n from public.bisect_jobs group by state")).toEqual([{ state: "succeeded", n: jobs }]);
      expect(await rows("select outcome, attempt, count(*)::int as n from public.bisect_attempts group by outcome, attempt")).toEqual([
        { outcome: "succeeded", attempt: 1, n: jobs },
      ]);
      const claimedJobs = new Set(run.reports.flatMap((r) => r.claims.map(([jobId]) => jobId)));
      expect(claimedJobs.size).toBe(jobs);
      // Every process took part: the claims really raced.
      for (const report of run.reports) expect(report.claims.length).toBeGreaterThan(0);
    });

    it("claims each job once from the queue and once for its check: the audit shows no duplicate", async () => {
      expect(await rows("select from_state, count(*)::int as n from public.bisect_claim_audit group by from_state order by from_state")).toEqual([
        { from_state: "dispatched", n: jobs },
        { from_state: "queued", n: jobs },
      ]);
      expect(
        await rows("select job_id, attempt from public.bisect_claim_audit where from_state = 'queued' group by job_id, attempt having count(*) > 1"),
      ).toEqual([]);
      expect(await rows("select lease_token from public.bisect_claim_audit group by lease_token having count(*) > 1")).toEqual([]);
      // Per job: one claim from the queue, then one later claim (a newer token) for the check.
      const [ordered] = await rows<{ n: number }>(
        `select count(*)::int as n from (
           select job_id from public.bisect_claim_audit group by job_id
           having count(*) filter (where from_state = 'queued') = 1
              and count(*) filter (where from_state = 'dispatched') = 1
              and max(lease_token) filter (where from_state = 'queued') < min(lease_token) filter (where from_state = 'dispatched')
         ) per_job`,
      );
      expect(ordered!.n).toBe(jobs);
    });

    it("gave each claim to one worker, and no worker lost its lease while it held a job", async () => {
      const claims = run.reports.flatMap((r) => r.claims);
      const byToken = new Map(claims.map(([jobId, token, , worker]) => [token, { jobId, worker }]));
      // No token reached two workers (or one worker twice).
      expect(byToken.size).toBe(claims.length);
      const audit = await rows<{ job_id: string; lease_token: string; worker: string }>(
        "select job_id::text, lease_token::text, worker from public.bisect_claim_audit",
      );
      expect(audit).toHaveLength(claims.length);
      for (const a of audit) expect(byToken.get(Number(a.lease_token))).toEqual({ jobId: Number(a.job_id), worker: a.worker });
      // Every fenced call a holder made (dispatch, result) was accepted: had a second worker
      // claimed the job meanwhile, the token would have changed and the call answered false.
      expect(run.reports.reduce((n, r) => n + r.fencedFalse, 0)).toBe(0);
      const calls = run.reports.reduce((n, r) => n + r.claimLatencies.length, 0);
      console.log(
        `${label}: ${jobs} jobs (${2 * jobs} claims in ${calls} calls) drained in ${run.seconds.toFixed(1)} s, ${((2 * jobs) / run.seconds).toFixed(0)} claims/s`,
      );
    });
  });
}

describeDrain("the Store over SQL on PostgreSQL", Number(process.env.BISECT_CONCURRENCY_JOBS ?? 10_000), "postgres");
describeDrain("supabase-js through the PostgREST double", 500, "supabase");
