/**
 * A worker process for the store's multi-process tests and bench (not a test file itself):
 * `node --import tsx test/app/store/claim-worker.ts '<json options>'`.
 *
 * - `drain`: runs `workers` concurrent workers in this process, each looping
 *   claim(1..maxLimit) → recordDispatch (a queued job) or recordResult (a dispatched one) until no
 *   job is queued or active. Every claim it got (job, token, state, worker) and its latency go to
 *   `resultFile` as JSON.
 * - `hold`: claims one job, prints `{"jobId":…,"token":…}` on stdout, and holds it without ever
 *   extending the lease, until it is killed.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { postgrestTransport } from "../../../app/src/store/postgrest-transport.js";
import { pgClient, type SqlClient } from "../../../app/src/store/sql-client.js";
import { sqlTransport } from "../../../app/src/store/sql-transport.js";
import { Store } from "../../../app/src/store/store.js";
import { jobOptions } from "../../support/jobs.js";

const storeOptions = z.discriminatedUnion("store", [
  z.object({ store: z.literal("postgres"), databaseUrl: z.string() }),
  z.object({ store: z.literal("supabase"), supabaseUrl: z.string(), secretKey: z.string() }),
]);

export const workerOptionsSchema = z.intersection(
  storeOptions,
  z.discriminatedUnion("mode", [
    z.object({
      mode: z.literal("drain"),
      name: z.string(),
      workers: z.number().int().positive(),
      maxLimit: z.number().int().positive(),
      leaseSeconds: z.number().int().positive(),
      maxActive: z.number().int().positive(),
      resultFile: z.string(),
    }),
    z.object({ mode: z.literal("hold"), name: z.string(), leaseSeconds: z.number().int().positive() }),
  ]),
);
export type WorkerOptions = z.input<typeof workerOptionsSchema>;

/** One claim a worker got: [jobId, token, state after the claim, worker]. */
export type ClaimRecord = [number, number, string, string];

export interface DrainReport {
  claims: ClaimRecord[];
  /** Milliseconds per claimJobs call (empty answers included). */
  claimLatencies: number[];
  /** Fenced calls that answered false: in a run without crashes, always 0. */
  fencedFalse: number;
  startedAt: number;
  finishedAt: number;
}

const RESULT_PROBE = { sha: "0".repeat(40), verdict: "bad" as const, exitCode: 1, durationMs: 1, round: 1 };

function storeFor(options: z.infer<typeof storeOptions>, poolSize: number): Store {
  return new Store(
    options.store === "postgres" ? sqlTransport(pgClient(options.databaseUrl, { max: poolSize })) : postgrestTransport(options.supabaseUrl, options.secretKey),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function drain(store: Store, o: Extract<z.infer<typeof workerOptionsSchema>, { mode: "drain" }>): Promise<DrainReport> {
  const report: DrainReport = { claims: [], claimLatencies: [], fencedFalse: 0, startedAt: Date.now(), finishedAt: 0 };
  const worker = async (w: string) => {
    let idle = 0;
    for (;;) {
      const limit = 1 + Math.floor(Math.random() * o.maxLimit);
      const started = performance.now();
      const claimed = await store.call("claimJobs", { worker: w, limit, leaseSeconds: o.leaseSeconds, maxActive: o.maxActive });
      report.claimLatencies.push(performance.now() - started);
      if (claimed.length === 0) {
        // Nothing due: done when nothing is queued or active anywhere, else another worker is
        // between two steps of a job.
        const counts = await store.call("activeCounts", {});
        if (counts.every((c) => c.active === 0 && c.queued === 0)) return;
        await sleep(Math.min(50, 2 ** idle++));
        continue;
      }
      idle = 0;
      for (const job of claimed) {
        const { token } = job;
        report.claims.push([job.id, token, job.state, w]);
        const ok =
          job.state === "dispatching"
            ? await store.call("recordDispatch", {
                jobId: job.id,
                token,
                runId: job.id * 10 + job.attempts,
                runUrl: `https://github.com/${job.repository}/actions/runs/${job.id}`,
                checkAfterSeconds: 0,
              })
            : await store.call("recordResult", {
                jobId: job.id,
                token,
                verdict: "culprit",
                reason: null,
                culpritSha: RESULT_PROBE.sha,
                confidence: 1,
                tested: 1,
                rounds: 1,
                error: null,
                probes: [RESULT_PROBE],
              });
        if (!ok) report.fencedFalse++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.workers }, (_, i) => worker(`${o.name}/w${i}`)));
  report.finishedAt = Date.now();
  return report;
}

async function main() {
  const options = workerOptionsSchema.parse(JSON.parse(process.argv[2] ?? "{}"));
  const store = storeFor(options, options.mode === "drain" ? options.workers : 2);
  try {
    switch (options.mode) {
      case "drain":
        await writeFile(options.resultFile, JSON.stringify(await drain(store, options)));
        break;
      case "hold": {
        const [claimed] = await store.call("claimJobs", { worker: options.name, limit: 1, leaseSeconds: options.leaseSeconds, maxActive: 1_000_000 });
        if (!claimed) throw new Error("hold: no job to claim");
        process.stdout.write(`${JSON.stringify({ jobId: claimed.id, token: claimed.token, state: claimed.state })}\n`);
        // Hold it (never extend, never finish) until killed.
        await new Promise(() => setInterval(() => undefined, 60_000));
        break;
      }
    }
  } finally {
    await store.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

// ---------------------------------------------------------------------------------------------
// For the tests and the bench that start these processes.

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** Starts a worker process (through tsx, from the project root). */
export function spawnWorker(options: WorkerOptions, stdout: "pipe" | "ignore" = "ignore") {
  return spawn(process.execPath, ["--import", "tsx", SCRIPT, JSON.stringify(options)], { cwd: ROOT, stdio: ["ignore", stdout, "pipe"] });
}

/**
 * Creates `count` queued jobs spread over `repositories` repositories, through bisect_create_job
 * (one statement, so seeding stays out of the measured time), with the options the App stores.
 */
export async function seedJobs(client: SqlClient, count: number, repositories: number, maxAttempts = 3): Promise<void> {
  await client.query(
    `select count(c.job_id) from generate_series(1, $1::integer) g
     cross join lateral public.bisect_create_job(
       p_delivery_id => 'delivery-' || g, p_repository => 'octo-org/repo-' || (g % $2::integer), p_repository_id => 1000000000 + (g % $2::integer),
       p_installation_id => 1, p_issue_number => g, p_comment_id => 5000000000 + g, p_requester => 'octocat',
       p_good_refs => array['v1.0'], p_bad_ref => 'main', p_good_shas => array[repeat('a', 40)], p_bad_sha => repeat('b', 40),
       p_command => 'npm test', p_options => $4::jsonb, p_max_attempts => $3::integer) c`,
    [count, repositories, maxAttempts, JSON.stringify(jobOptions())],
  );
}

export interface DrainRun {
  reports: DrainReport[];
  /** From the first process's first claim to the last process's end. */
  seconds: number;
}

/** Runs `processes` drain processes side by side until the queue is empty. */
export async function drainWithProcesses(
  store: z.input<typeof storeOptions>,
  o: { processes: number; workers: number; maxLimit: number; leaseSeconds: number; maxActive: number },
): Promise<DrainRun> {
  const dir = await mkdtemp(join(tmpdir(), "bisect-drain-"));
  try {
    const files = Array.from({ length: o.processes }, (_, p) => join(dir, `p${p}.json`));
    await Promise.all(
      files.map(
        (resultFile, p) =>
          new Promise<void>((resolve, reject) => {
            const child = spawnWorker({
              ...store,
              mode: "drain",
              name: `p${p}`,
              workers: o.workers,
              maxLimit: o.maxLimit,
              leaseSeconds: o.leaseSeconds,
              maxActive: o.maxActive,
              resultFile,
            });
            let stderr = "";
            child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
            child.on("error", reject);
            child.on("exit", (code, signal) =>
              code === 0 ? resolve() : reject(new Error(`drain process p${p} ended with ${signal ?? `exit ${code}`}:\n${stderr.slice(-3000)}`)),
            );
          }),
      ),
    );
    const reports = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, "utf8")) as DrainReport));
    const seconds = (Math.max(...reports.map((r) => r.finishedAt)) - Math.min(...reports.map((r) => r.startedAt))) / 1000;
    return { reports, seconds };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
