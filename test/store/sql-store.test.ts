/**
 * The SQL store through its public API, on PGlite and on a real PostgreSQL (which hands bigints
 * over as strings): what a worker and a maintainer see as a job goes from the comment to its
 * culprit. The SQL functions are tested in depth elsewhere (lifecycle, concurrency, crashes);
 * this checks the adapter's translation: parameters in, rows out, camelCase, bigints as numbers,
 * fencing answers. Then the configuration: which store the environment opens, and its errors.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openStore, storeConfig } from "../../app/src/store/open-store.js";
import { SqlStore } from "../../app/src/store/sql-store.js";
import type { StoredProbe } from "../../app/src/store/store.js";
import { BACKENDS, openTestDatabase, stopTestPostgres, testPostgres, type TestDatabase } from "../support/postgres.js";
import { newJob, sha } from "../support/jobs.js";

// Past 2^32, as real GitHub ids are: they must survive pg's bigint-as-string and come back equal.
const RUN_ID = 21_474_836_470;


afterAll(() => stopTestPostgres());

describe.each(BACKENDS)("SqlStore on %s", (backend) => {
  let db: TestDatabase;
  let store: SqlStore;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    store = new SqlStore(db.client);
  });
  afterAll(() => store?.close());
  // claimJobs takes due jobs of every repository: each test starts with an empty queue.
  beforeEach(() => db.client.exec("truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_claim_audit"));

  /** A crashed worker, without the wait: its lease ended a minute ago. */
  async function backdateLease(jobId: number) {
    await db.client.query("update public.bisect_jobs set lease_expires_at = now() - interval '1 minute' where id = $1", [jobId]);
  }

  async function claimOne(worker = "worker-a", maxActive = 4) {
    const claimed = await store.claimJobs(worker, 10, 30, maxActive);
    expect(claimed).toHaveLength(1);
    return claimed[0]!;
  }

  it("takes a job from the comment to its culprit, and keeps every probe", async () => {
    const input = newJob();
    const { jobId, created } = await store.createJob(input);
    expect(created).toBe(true);

    const first = await claimOne("worker-a");
    expect(first.job).toMatchObject({ id: jobId, state: "dispatching", attempts: 1, locked_by: "worker-a", lease_token: first.token });
    expect(first.job).toMatchObject({
      delivery_id: input.deliveryId,
      repository_id: input.repositoryId,
      installation_id: input.installationId,
      comment_id: input.commentId,
      good_refs: ["v1.4"],
      good_shas: [sha("a")],
      bad_sha: sha("f"),
      options: input.options,
    });
    expect(first.job.lease_expires_at!.getTime()).toBeGreaterThan(first.job.created_at.getTime());
    expect(await store.extendLease(jobId, first.token, 60)).toBe(true);

    // The run exists; nothing else to do until it is due for a look.
    expect(await store.recordDispatch(jobId, first.token, RUN_ID, "https://github.com/octo-org/widgets/actions/runs/1", 0)).toBe(true);
    expect(await store.getJob(jobId)).toMatchObject({ state: "dispatched", run_id: RUN_ID, locked_by: null, lease_expires_at: null });
    expect(await store.recordRunning(RUN_ID)).toBe(true);

    const second = await claimOne("worker-b");
    expect(second.job).toMatchObject({ id: jobId, state: "running", attempts: 1, locked_by: "worker-b" });
    expect(second.token).not.toBe(first.token);
    expect(await store.checkLater(jobId, second.token, 0)).toBe(true);

    const third = await claimOne("worker-a");
    const probes: StoredProbe[] = [
      { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 1200, round: 1 },
      { sha: sha("b"), verdict: "good", exitCode: 0, durationMs: 900, round: 2 },
      { sha: sha("d"), verdict: "error", exitCode: null, durationMs: 30_000, round: 2 },
    ];
    const result = { verdict: "culprit", culpritSha: sha("c"), confidence: 1, tested: 2, rounds: 2, error: null, probes } as const;
    // A worker whose lease was taken over changes nothing.
    expect(await store.recordResult(jobId, second.token, result)).toBe(false);
    expect(await store.recordResult(jobId, third.token, result)).toBe(true);

    expect(await store.getJob(jobId)).toMatchObject({
      state: "succeeded",
      verdict: "culprit",
      culprit_sha: sha("c"),
      confidence: 1,
      tested: 2,
      rounds: 2,
      error: null,
      locked_by: null,
      run_url: "https://github.com/octo-org/widgets/actions/runs/1",
    });
    expect((await store.getJob(jobId))!.finished_at).toBeInstanceOf(Date);
    expect(await store.probes(jobId)).toEqual(probes.map((p) => ({ ...p, attempt: 1 })));
    expect(await store.claimJobs("worker-a", 10, 30, 4)).toEqual([]);
  });

  it("makes one job per delivery and per comment, however often GitHub delivers it", async () => {
    const input = newJob();
    const { jobId } = await store.createJob(input);
    expect(await store.createJob(input)).toEqual({ jobId, created: false });
    // The same comment under a new delivery id (a manual redelivery from the App settings).
    expect(await store.createJob({ ...input, deliveryId: "another-delivery" })).toEqual({ jobId, created: false });
    // The same comment id in another repository is another comment.
    const other = await store.createJob({ ...input, deliveryId: "third-delivery", repositoryId: 6_000_000_001, repository: "octo-org/gadgets" });
    expect(other.created).toBe(true);
    expect(other.jobId).not.toBe(jobId);
    expect(await store.claimJobs("worker-a", 10, 30, 4)).toHaveLength(2);
  });

  it("does not look at a dispatched run before its check is due", async () => {
    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne();
    expect(await store.recordDispatch(jobId, token, RUN_ID, "https://github.com/octo-org/widgets/actions/runs/1", 3600)).toBe(true);
    expect(await store.claimJobs("worker-a", 10, 30, 4)).toEqual([]);
    expect(await store.activeCounts()).toEqual([{ repositoryId: 5_000_000_001, repository: "octo-org/widgets", active: 1, queued: 0 }]);
  });

  it("retries an infrastructure failure with the verdicts already known, then fails with the reason", async () => {
    const { jobId } = await store.createJob(newJob({ maxAttempts: 2 }));
    const first = await claimOne();
    const probe: StoredProbe = { sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 500, round: 1 };
    expect(await store.failAttempt(jobId, first.token, "runner lost", 0, [probe])).toBe("queued");
    expect(await store.failAttempt(jobId, first.token, "runner lost", 0, [])).toBeNull();

    const second = await claimOne();
    expect(second.job.attempts).toBe(2);
    expect(await store.failAttempt(jobId, second.token, "artifact bisect-result-1 is missing", 0, [{ ...probe, sha: sha("d"), round: 2 }])).toBe("failed");
    expect(await store.getJob(jobId)).toMatchObject({ state: "failed", attempts: 2, error: "artifact bisect-result-1 is missing" });
    expect((await store.probes(jobId)).map((p) => [p.attempt, p.sha])).toEqual([
      [1, sha("c")],
      [2, sha("d")],
    ]);
  });

  it("gives a job back on shutdown without counting an attempt", async () => {
    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne("worker-a");
    expect(await store.releaseJob(jobId, token)).toBe(true);
    expect(await store.getJob(jobId)).toMatchObject({ state: "queued", attempts: 0, locked_by: null });
    expect(await store.releaseJob(jobId, token)).toBe(false);
    expect((await claimOne("worker-b")).job.attempts).toBe(1);
  });

  it("runs at most maxActive bisects per repository; the rest wait their turn", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await store.createJob(newJob())).jobId);
    const elsewhere = await store.createJob(newJob({ repositoryId: 6_000_000_001, repository: "octo-org/gadgets" }));

    const claimed = await store.claimJobs("worker-a", 10, 30, 2);
    expect(claimed.map((c) => c.job.id).sort((a, b) => a - b)).toEqual([ids[0], ids[1], elsewhere.jobId]);
    expect(await store.activeCounts()).toEqual(
      expect.arrayContaining([
        { repositoryId: 5_000_000_001, repository: "octo-org/widgets", active: 2, queued: 1 },
        { repositoryId: 6_000_000_001, repository: "octo-org/gadgets", active: 1, queued: 0 },
      ]),
    );
  });

  it("cancels a job and names the run to stop; the worker's late result changes nothing", async () => {
    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne();
    await store.recordDispatch(jobId, token, RUN_ID, "https://github.com/octo-org/widgets/actions/runs/1", 0);
    const again = await claimOne();
    expect(await store.cancelJob(jobId, "cancelled by @octocat")).toEqual({ cancelled: true, runId: RUN_ID });
    expect(await store.cancelJob(jobId, "cancelled by @octocat")).toEqual({ cancelled: false, runId: null });
    expect(await store.recordResult(jobId, again.token, { verdict: "no-culprit", culpritSha: null, confidence: null, tested: 3, rounds: 2, error: null, probes: [] })).toBe(false);
    expect(await store.getJob(jobId)).toMatchObject({ state: "cancelled", error: "cancelled by @octocat" });
    expect(await store.cancelJob(999_999, "no such job")).toEqual({ cancelled: false, runId: null });
  });

  it("times a job out when its run outlives the budget", async () => {
    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne();
    expect(await store.timeOutJob(jobId, token, "the bisect ran longer than 1800 s", 7)).toBe(true);
    expect(await store.getJob(jobId)).toMatchObject({ state: "timed_out", tested: 7, error: "the bisect ran longer than 1800 s", locked_by: null });
    expect(await store.timeOutJob(jobId, token, "again", 7)).toBe(false);
  });

  it("hands the run of a worker whose lease ran out to another worker", async () => {
    const { jobId } = await store.createJob(newJob());
    const { token } = await claimOne("worker-a");
    await store.recordDispatch(jobId, token, RUN_ID, "https://github.com/octo-org/widgets/actions/runs/1", 0);
    const dead = await claimOne("worker-dead");
    await backdateLease(jobId);
    expect(await store.recoverExpiredLeases()).toBe(1);
    expect(await store.extendLease(jobId, dead.token, 30)).toBe(false);
    expect((await claimOne("worker-b")).job).toMatchObject({ id: jobId, state: "dispatched", locked_by: "worker-b", attempts: 1 });
  });

  it("lets another worker take a job whose worker died before dispatching it", async () => {
    const { jobId } = await store.createJob(newJob());
    const dead = await claimOne("worker-dead");
    await backdateLease(jobId);
    expect((await claimOne("worker-b")).job).toMatchObject({ id: jobId, state: "dispatching", locked_by: "worker-b", attempts: 1 });
    expect(await store.releaseJob(jobId, dead.token)).toBe(false);
  });

  // Regression: the sweep used to leave such a job unleased in 'dispatching', where no claim took
  // it, so it held one of its repository's slots for good.
  it("lets another worker take an undispatched job after the sweep recovered its lease", async () => {
    const { jobId } = await store.createJob(newJob());
    await claimOne("worker-dead");
    await backdateLease(jobId);
    expect(await store.recoverExpiredLeases()).toBe(1);
    expect((await claimOne("worker-b")).job).toMatchObject({ id: jobId, state: "dispatching", locked_by: "worker-b" });
  });

  it("answers nothing for a job that does not exist", async () => {
    expect(await store.getJob(123_456)).toBeUndefined();
    expect(await store.probes(123_456)).toEqual([]);
    expect(await store.recordRunning(123_456)).toBe(false);
  });
});

describe("storeConfig", () => {
  it("chooses PostgreSQL, then Supabase, then the embedded database", () => {
    const databaseUrl = "postgres://bot:secret@db.example.com:5432/bisect";
    expect(storeConfig({ DATABASE_URL: databaseUrl, SUPABASE_URL: "https://x.supabase.co" })).toEqual({ kind: "postgres", databaseUrl });
    expect(storeConfig({ SUPABASE_URL: "https://abcd.supabase.co", SUPABASE_SECRET_KEY: "sb_secret_x" })).toEqual({
      kind: "supabase",
      url: "https://abcd.supabase.co",
      secretKey: "sb_secret_x",
    });
    expect(storeConfig({})).toEqual({ kind: "pglite", dataDir: ".data/" });
    // An empty line in a .env file is no configuration.
    expect(storeConfig({ DATABASE_URL: "", SUPABASE_URL: " ", DATA_DIR: "/var/lib/bisect" })).toEqual({ kind: "pglite", dataDir: "/var/lib/bisect" });
  });

  it("names the variable and the fix, and never echoes a password", () => {
    const bad = () => storeConfig({ DATABASE_URL: "mysql://bot:hunter2@db/bisect" });
    expect(bad).toThrow(/DATABASE_URL 'mysql:\/\/\*\*\*@db\/bisect' is not a PostgreSQL URL.*postgres:\/\/user:password@host:5432\/database/);
    expect(bad).not.toThrow(/hunter2/);
    expect(() => storeConfig({ DATABASE_URL: "db.example.com:5432" })).toThrow(/DATABASE_URL .* is not a PostgreSQL URL/);
    expect(() => storeConfig({ DATABASE_URL: "not a url" })).toThrow(/DATABASE_URL 'not a url' is not a URL/);
    expect(() => storeConfig({ SUPABASE_URL: "https://abcd.supabase.co" })).toThrow(/SUPABASE_URL is set but SUPABASE_SECRET_KEY is not\. Set SUPABASE_SECRET_KEY/);
    expect(() => storeConfig({ SUPABASE_SECRET_KEY: "sb_secret_x" })).toThrow(/SUPABASE_SECRET_KEY is set but SUPABASE_URL is not/);
    expect(() => storeConfig({ SUPABASE_URL: "abcd.supabase.co", SUPABASE_SECRET_KEY: "sb_secret_x" })).toThrow(/SUPABASE_URL 'abcd.supabase.co' is not a URL/);
    expect(() => storeConfig({ SUPABASE_URL: "postgresql://postgres:pw@db.abcd.supabase.co:5432/postgres", SUPABASE_SECRET_KEY: "k" })).toThrow(
      /SUPABASE_URL .* is a database connection string\. Put it in DATABASE_URL/,
    );
    expect(() => storeConfig({ SUPABASE_URL: "https://abcd.supabase.co/rest/v1/", SUPABASE_SECRET_KEY: "k" })).toThrow(/project URL alone: https:\/\/abcd.supabase.co/);
  });
});

describe("openStore", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "bisect-store-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("keeps jobs in DATA_DIR across restarts, creating the directory", async () => {
    const dir = join(dataDir, "nested", "data");
    const first = await openStore({ DATA_DIR: dir });
    const { jobId } = await first.createJob(newJob({ deliveryId: "persisted" }));
    await first.close();

    const second = await openStore({ DATA_DIR: dir });
    try {
      expect(await second.getJob(jobId)).toMatchObject({ delivery_id: "persisted", state: "queued" });
    } finally {
      await second.close();
    }
  });

  it("opens PostgreSQL at DATABASE_URL with the schema in place, however many instances start at once", async () => {
    const env = { DATABASE_URL: await (await testPostgres()).createDatabase() };
    const stores = await Promise.all([openStore(env), openStore(env), openStore(env)]);
    try {
      const { jobId } = await stores[0]!.createJob(newJob({ deliveryId: "on-postgres" }));
      expect(await stores[2]!.getJob(jobId)).toMatchObject({ delivery_id: "on-postgres", state: "queued" });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("says which server it cannot reach", async () => {
    await expect(openStore({ DATABASE_URL: "postgres://bot:hunter2@127.0.0.1:1/bisect" })).rejects.toThrow(
      /Cannot reach the database at DATABASE_URL 'postgres:\/\/\*\*\*@127\.0\.0\.1:1\/bisect': .*ECONNREFUSED/,
    );
  });
});
