/**
 * Crashes and retries on a real PostgreSQL server: a worker process killed with SIGKILL while it
 * holds a job, whose job another worker takes once the lease runs out (and whose late calls with
 * the old token change nothing); an always-failing job, attempted exactly max_attempts times
 * with growing delays; a graceful release, which is not an attempt.
 * Through the Store over the SQL transport; `db` (the database's owner) reads the audit and
 * shortens backoffs of 30 s and more to a fraction of a second.
 */
import { once } from "node:events";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../../app/src/store/migrate.js";
import { pgClient, type SqlClient } from "../../../app/src/store/sql-client.js";
import { sqlTransport } from "../../../app/src/store/sql-transport.js";
import { Store, type ArgsOf, type ClaimedJob } from "../../../app/src/store/store.js";
import { newJob, sha } from "../../support/jobs.js";
import { stopTestPostgres, testPostgres } from "../../support/postgres.js";
import { spawnWorker } from "./claim-worker.js";

const LEASE_SECONDS = 2;
const RUN_URL = "https://github.com/octo-org/widgets/actions/runs/1";

let url: string;
let db: SqlClient;
let store: Store;
/** The job backoff of attempt n: 30 s · 2^(n−1), ±20 %. */
const JOB_BACKOFF_BASE = 30;

beforeAll(async () => {
  url = await (await testPostgres()).createDatabase("crash");
  db = pgClient(url);
  await migrate(db);
  store = new Store(sqlTransport(db));
});
afterAll(async () => {
  await store?.close();
  await stopTestPostgres();
});
beforeEach(() =>
  db.exec(
    "truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_job_graphs, public.bisect_auto_triggers, public.bisect_claim_audit, public.bisect_tasks",
  ),
);

const createJob = async (maxAttempts = 3) => (await store.call("createJob", newJob({ maxAttempts }))).job_id;
const dispatch = (jobId: number, token: number, runId: number) => store.call("recordDispatch", { jobId, token, runId, runUrl: RUN_URL, checkAfterSeconds: 0 });
const failAttempt = (jobId: number, token: number, error: string, probes: ArgsOf<"failAttempt">["probes"] = []) =>
  store.call("failAttempt", { jobId, token, error, retryAfterSeconds: 0, probes });
const getJob = (jobId: number) => store.call("getJob", { jobId });
/** The backoff a failure gave the job: from its failure (one now()) to its next look. */
async function backoffOf(jobId: number): Promise<number> {
  const { rows } = await db.query<{ delay: number }>(
    "select extract(epoch from next_check_at - updated_at)::float8 as delay from public.bisect_jobs where id = $1",
    [jobId],
  );
  return rows[0]!.delay;
}
/** Shortens a job's backoff to `seconds` after its failure, so a test need not wait 30 s and more. */
const shortenBackoff = (jobId: number, seconds: number) =>
  db.query("update public.bisect_jobs set next_check_at = updated_at + make_interval(secs => $2) where id = $1", [jobId, seconds]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Claims until a job comes (polling as a worker does), or fails after `seconds`. */
async function claimWhenDue(worker: string, seconds: number, leaseSeconds = 30): Promise<ClaimedJob & { at: number }> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const [claimed] = await store.call("claimJobs", { worker, limit: 1, leaseSeconds, maxActive: 4 });
    if (claimed) return { ...claimed, at: Date.now() };
    if (Date.now() > deadline) throw new Error(`${worker} found no due job within ${seconds} s`);
    await sleep(20);
  }
}

/** The job's whole row, its attempts and probes: what "changes nothing" compares. */
async function snapshot(jobId: number) {
  const job = await db.query("select to_jsonb(j) as row from public.bisect_jobs j where id = $1", [jobId]);
  const attempts = await db.query("select to_jsonb(a) as row from public.bisect_attempts a where job_id = $1 order by id", [jobId]);
  const probes = await db.query("select count(*)::int as n from public.bisect_probes where job_id = $1", [jobId]);
  return { job: job.rows, attempts: attempts.rows, probes: probes.rows };
}

/** Starts a worker process that claims one job and holds it; resolves once it holds it. */
async function startHolder(name: string) {
  const child = spawnWorker({ store: "postgres", databaseUrl: url, mode: "hold", name, leaseSeconds: LEASE_SECONDS }, "pipe");
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([
    once(lines, "line"),
    once(child, "exit").then(([code]) => {
      throw new Error(`the holder exited (${code}) before claiming:\n${stderr}`);
    }),
  ])) as [string];
  return { child, held: JSON.parse(line) as { jobId: number; token: number; state: string } };
}

describe("a worker killed with SIGKILL while it holds a job", () => {
  it.each([
    ["before it dispatched the run", false],
    ["while it checked on the run", true],
  ])("%s: another worker takes the job after the lease, and the dead worker's token changes 0 rows", async (_, dispatched) => {
    const jobId = await createJob();
    if (dispatched) {
      const first = await claimWhenDue("worker-a", 5);
      expect(await dispatch(jobId, first.token, 1)).toBe(true);
    }

    const { child, held } = await startHolder("doomed");
    expect(held).toMatchObject({ jobId, state: dispatched ? "dispatched" : "dispatching" });
    const killedAt = Date.now();
    child.kill("SIGKILL");
    const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    expect({ code, signal }).toEqual({ code: null, signal: "SIGKILL" });

    // The lease still runs: nobody may take the job yet.
    expect(await store.call("claimJobs", { worker: "worker-b", limit: 10, leaseSeconds: 30, maxActive: 4 })).toEqual([]);
    const { rows } = await db.query<{ lease_expires_at: Date }>("select lease_expires_at from public.bisect_jobs where id = $1", [jobId]);
    const expiresAt = rows[0]!.lease_expires_at.getTime();

    const taken = await claimWhenDue("worker-b", LEASE_SECONDS + 5);
    expect(taken).toMatchObject({ id: jobId, state: held.state, attempts: 1, locked_by: "worker-b" });
    expect(taken.token).toBeGreaterThan(held.token);
    // Taken once the lease ran out (the database's clock decides; allow for clock reading skew).
    expect(taken.at).toBeGreaterThanOrEqual(expiresAt - 50);
    expect(taken.at - killedAt).toBeLessThan((LEASE_SECONDS + 3) * 1000);

    // The new holder finishes the job.
    let finisher = taken;
    if (!dispatched) {
      expect(await dispatch(jobId, taken.token, 2)).toBe(true);
      finisher = await claimWhenDue("worker-b", 5);
    }
    const probes: ArgsOf<"recordResult">["probes"] = [{ sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 10, round: 1 }];
    const result: Omit<ArgsOf<"recordResult">, "jobId" | "token"> = {
      verdict: "culprit",
      reason: null,
      culpritSha: sha("c"),
      confidence: 1,
      tested: 3,
      rounds: 2,
      error: null,
      probes,
    };
    expect(await store.call("recordResult", { jobId, token: finisher.token, ...result })).toBe(true);

    // The killed worker's late completion, with its old token: every call answers no, 0 rows change.
    const before = await snapshot(jobId);
    const late = held.token;
    expect(await store.call("recordResult", { jobId, token: late, ...result, culpritSha: sha("d") })).toBe(false);
    expect(await store.call("recordDispatch", { jobId, token: late, runId: 3, runUrl: RUN_URL, checkAfterSeconds: 0 })).toBe(false);
    expect(await store.call("recordDispatchIntent", { jobId, token: late })).toBe(false);
    expect(await store.call("setStatusComment", { jobId, token: late, commentId: 1 })).toBe(false);
    expect(await failAttempt(jobId, late, "late failure", [...probes])).toBeNull();
    expect(await store.call("extendLease", { token: late, leaseSeconds: 30 })).toBe(false);
    expect(await store.call("checkLater", { jobId, token: late, seconds: 0 })).toBe(false);
    expect(await store.call("releaseLease", { token: late })).toBe(false);
    expect(await store.call("timeOutJob", { jobId, token: late, error: "late timeout", tested: 0 })).toBe(false);
    expect(await snapshot(jobId)).toEqual(before);
    expect(await getJob(jobId)).toMatchObject({ state: "succeeded", culprit_sha: sha("c"), attempts: 1 });

    const audit = await db.query<{ worker: string; from_state: string; attempt: number }>(
      "select worker, from_state, attempt from public.bisect_claim_audit where job_id = $1 order by lease_token",
      [jobId],
    );
    const expected = dispatched
      ? [
          ["worker-a", "queued"],
          ["doomed", "dispatched"],
          ["worker-b", "dispatched"],
        ]
      : [
          ["doomed", "queued"],
          ["worker-b", "dispatching"],
          ["worker-b", "dispatched"],
        ];
    expect(audit.rows.map((r) => [r.worker, r.from_state])).toEqual(expected);
    // The crash did not cost an attempt: the job is still on its first.
    expect(new Set(audit.rows.map((r) => r.attempt))).toEqual(new Set([1]));
  });
});

describe("retries", () => {
  it.each([3, 4])("an always-failing job is attempted exactly %i times with growing delays, then failed with the reason", async (maxAttempts) => {
    // Each backoff (30 s · 2^(n−1)) is checked, then shortened to this: the next claim must still wait for it.
    const WAIT = 0.3;
    const jobId = await createJob(maxAttempts);
    const delays: number[] = [];
    const outcomes: (string | null)[] = [];
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const dispatcher = await claimWhenDue("worker-a", 10);
      expect(dispatcher).toMatchObject({ state: "dispatching", attempts: attempt });
      expect(await dispatch(jobId, dispatcher.token, 100 + attempt)).toBe(true);
      const checker = await claimWhenDue("worker-b", 10);
      // Every attempt's run is lost: an infrastructure failure, never a verdict.
      outcomes.push(await failAttempt(jobId, checker.token, `the runner was lost (attempt ${attempt})`));
      if (attempt < maxAttempts) {
        delays.push(await backoffOf(jobId));
        // Not before its time.
        expect(await store.call("claimJobs", { worker: "worker-c", limit: 10, leaseSeconds: 30, maxActive: 4 })).toEqual([]);
        await shortenBackoff(jobId, WAIT);
      }
    }

    expect(outcomes).toEqual([...Array<string>(maxAttempts - 1).fill("queued"), "failed"]);
    // base · 2^(n-1), ±20 % jitter: each delay inside its window, so each longer than the last.
    delays.forEach((delay, i) => {
      const nominal = JOB_BACKOFF_BASE * 2 ** i;
      expect(delay).toBeGreaterThanOrEqual(nominal * 0.8 - 1e-6);
      expect(delay).toBeLessThanOrEqual(nominal * 1.2 + 1e-6);
      if (i > 0) expect(delay).toBeGreaterThan(delays[i - 1]!);
    });
    // And each attempt really waited until it was due (the database's clock: the failure's
    // commit time against the next claim from the queue).
    const gaps = await db.query<{ gap: number }>(
      `select extract(epoch from c.claimed_at - a.finished_at)::float8 as gap
       from public.bisect_attempts a
       join public.bisect_claim_audit c on c.job_id = a.job_id and c.attempt = a.attempt + 1 and c.from_state = 'queued'
       where a.job_id = $1 order by a.attempt`,
      [jobId],
    );
    expect(gaps.rows).toHaveLength(maxAttempts - 1);
    gaps.rows.forEach(({ gap }) => expect(gap).toBeGreaterThanOrEqual(WAIT - 1e-3));

    expect(await getJob(jobId)).toMatchObject({
      state: "failed",
      attempts: maxAttempts,
      error: `the runner was lost (attempt ${maxAttempts})`,
      locked_by: null,
    });
    const attempts = await db.query<{ attempt: number; outcome: string; reason: string }>(
      "select attempt, outcome, reason from public.bisect_attempts where job_id = $1 order by attempt",
      [jobId],
    );
    expect(attempts.rows).toEqual(
      Array.from({ length: maxAttempts }, (_, i) => ({ attempt: i + 1, outcome: "failed", reason: `the runner was lost (attempt ${i + 1})` })),
    );
    const fromQueue = await db.query<{ n: number }>("select count(*)::int as n from public.bisect_claim_audit where job_id = $1 and from_state = 'queued'", [
      jobId,
    ]);
    expect(fromQueue.rows[0]!.n).toBe(maxAttempts);
    // No attempt after the last.
    expect(await store.call("claimJobs", { worker: "worker-a", limit: 10, leaseSeconds: 30, maxActive: 4 })).toEqual([]);
  });

  it("a graceful release is not an attempt: still exactly max_attempts failures before failed", async () => {
    const jobId = await createJob(2);
    const states: (string | null)[] = [];
    for (let attempt = 1; attempt <= 2; attempt++) {
      // Shut down twice before dispatching: the job goes back uncounted, due at once.
      for (let release = 0; release < 2; release++) {
        const claimed = await claimWhenDue(`worker-${release}`, 5);
        expect(claimed).toMatchObject({ state: "dispatching", attempts: attempt });
        expect(await store.call("releaseLease", { token: claimed.token })).toBe(true);
        expect(await getJob(jobId)).toMatchObject({ state: "queued", attempts: attempt - 1, locked_by: null });
      }
      const dispatcher = await claimWhenDue("worker-a", 5);
      expect(dispatcher.attempts).toBe(attempt);
      expect(await dispatch(jobId, dispatcher.token, attempt)).toBe(true);
      // A release after the dispatch keeps the attempt and its run: the next worker checks on it.
      const checker = await claimWhenDue("worker-b", 5);
      expect(await store.call("releaseLease", { token: checker.token })).toBe(true);
      expect(await getJob(jobId)).toMatchObject({ state: "dispatched", attempts: attempt, run_id: attempt });
      const next = await claimWhenDue("worker-c", 5);
      states.push(await failAttempt(jobId, next.token, "the run was cancelled by GitHub"));
      if (attempt < 2) await shortenBackoff(jobId, 0);
    }
    expect(states).toEqual(["queued", "failed"]);
    expect(await getJob(jobId)).toMatchObject({ state: "failed", attempts: 2, error: "the run was cancelled by GitHub" });
    const attempts = await db.query<{ n: number }>("select count(*)::int as n from public.bisect_attempts where job_id = $1", [jobId]);
    expect(attempts.rows[0]!.n).toBe(2);
  });
});
