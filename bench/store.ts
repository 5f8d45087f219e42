/**
 * The job store under load: 10,000 jobs (200 repositories) drained by 1 and by 4 worker processes
 * of 16 workers each on a local PostgreSQL server that the bench starts (as the tests do). Each
 * job takes two claims (dispatch, then the check that records its result), so a drain is 20,000
 * claims. Goal: 10,000 jobs in under 30 s (pg-boss's speed test does 5,000 in 9 s).
 * Run alone: npx tsx bench/store.ts [jobs]
 */
import { fileURLToPath } from "node:url";
import { migrate } from "../app/src/store/migrate.js";
import { pgClient } from "../app/src/store/sql-client.js";
import { startPostgres } from "../test/support/postgres.js";
import { drainWithProcesses, seedJobs } from "../test/app/store/claim-worker.js";
import { table, type Row } from "./engine.js";

/** 10,000 jobs in 30 s. */
const GOAL_JOBS_PER_SECOND = 10_000 / 30;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

export async function runStoreBench(jobs = 10_000, processCounts = [1, 4], workers = 16): Promise<Row[]> {
  const server = await startPostgres();
  const rows: Row[] = [];
  try {
    for (const processes of processCounts) {
      const url = await server.createDatabase("bench_store");
      const db = pgClient(url);
      try {
        await migrate(db);
        await seedJobs(db, jobs, 200);
        // As autovacuum would after a bulk load (without statistics the claim's plan is quadratic).
        await db.exec("analyze public.bisect_jobs");
        const run = await drainWithProcesses({ store: "postgres", databaseUrl: url }, { processes, workers, maxLimit: 3, leaseSeconds: 120, maxActive: jobs });
        const { rows: left } = await db.query<{ n: number }>("select count(*)::int as n from public.bisect_jobs where state <> 'succeeded'");
        if (left[0]!.n !== 0) throw new Error(`${left[0]!.n} jobs were not drained`);
        const claims = run.reports.reduce((n, r) => n + r.claims.length, 0);
        const latencies = run.reports.flatMap((r) => r.claimLatencies).sort((a, b) => a - b);
        rows.push({
          processes,
          workers: processes * workers,
          jobs,
          claims,
          "claim calls": latencies.length,
          "drain (s)": run.seconds.toFixed(1),
          "claims/s": (claims / run.seconds).toFixed(0),
          "jobs/s": (jobs / run.seconds).toFixed(0),
          "claim p50 (ms)": percentile(latencies, 0.5).toFixed(1),
          "claim p99 (ms)": percentile(latencies, 0.99).toFixed(1),
          "goal ≥ 333 jobs/s": jobs / run.seconds >= GOAL_JOBS_PER_SECOND ? "met" : "missed",
        });
      } finally {
        await db.close();
      }
    }
  } finally {
    await server.stop();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const jobs = Number(process.argv[2] ?? 10_000);
  console.log(`## Job store: draining ${jobs.toLocaleString("en")} jobs on local PostgreSQL\n`);
  console.log(table(await runStoreBench(jobs)));
}
