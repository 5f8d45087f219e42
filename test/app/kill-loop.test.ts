/**
 * §6 test 7 (docs: research/reliability-security.md): an instance dies around a job's dispatch
 * and another takes the job over: it adopts the run an earlier dispatch made (found by the job id
 * in its run-name) or dispatches the one that never was, and never dispatches twice. 20 times:
 *
 * - with real `kill -9`: App processes (`npm start`'s entry) on a real PostgreSQL, each killed
 *   with five jobs stopped at different points — before the dispatch reached GitHub, after GitHub
 *   took it but before the answer came back, after the run was recorded; the next instance takes
 *   them over once their leases run out (main.test.ts kills one instance once; this is the loop).
 *   The points are made exact by a gate between the App and the double, which holds a dispatch
 *   open, before or after the double saw it. Then the runs complete and every job shows its result;
 * - with backdated leases (no process dies: a claim is abandoned at the same points and its lease
 *   moved into the past, as graphile-worker and River test it), in-process, on the same database.
 *
 * Every job ends with one run on the GitHub double, one dispatch, one status comment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatchWorkflow } from "../../app/src/github/dispatch.js";
import { statusComment } from "../../app/src/messages/status-comment.js";
import { workflowInputs } from "../../app/src/worker/dispatch-job.js";
import { repoRef } from "../../app/src/worker/status-comment.js";
import { appEnv, appKeys, APP_ID, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, startHarness, WEBHOOK_SECRET, type Harness } from "../support/app-harness.js";
import { startGate, startInstance, until, type Gate, type Instance } from "../support/app-instances.js";
import { makeAppRepo, type AppRepo } from "../support/app-repo.js";
import { removeDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "../support/github-double/index.js";
import { openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";
import { deliver, issueCommentPayload } from "../support/webhooks.js";
import { resultZip } from "../support/zip.js";

const COMMAND = "/bisect v1.0..main -- npm test";

/** Where a job's instance dies. */
type KillPoint =
  /** The dispatch POST is on its way and never reaches GitHub. */
  | "before-dispatch"
  /** GitHub made the run; its answer never came back. */
  | "after-dispatch"
  /** The run and the status comment are recorded. */
  | "after-record"
  /** The status comment is posted; its answer (and so its recording) never came. */
  | "after-status-comment";

/**
 * How long one life may take to bring its threads to their points: alone about 7 s (it takes over
 * the last life's jobs and starts five new ones, through Octokit's throttling); beside the whole
 * suite on 2 cores, twice more than 30 s, the earlier limit.
 */
const LIFE_MS = 90_000;

/** The result the bisect workflow uploads for a job: c7 is the culprit. */
function resultDocument(repo: AppRepo, jobId: number) {
  return {
    schema: 1,
    jobId: String(jobId),
    verdict: "culprit",
    culprit: { sha: repo.sha.c7, confidence: 1 },
    candidates: [repo.sha.c7],
    range: { good: [repo.sha["v1.0"]], bad: repo.sha.main, size: 15 },
    probes: [{ sha: repo.sha.c7, verdict: "bad", exitCode: 1, durationMs: 900, round: 1 }],
    tested: 1,
    rounds: 1,
  };
}

// ---- Real kill -9 ----------------------------------------------------------------------------

/**
 * One thread per job, each in its own repository and installation: Octokit paces writes per
 * installation (comments one per 3 s), which would otherwise make the loop wait on pacing.
 */
interface Thread {
  n: number;
  repo: string;
  repositoryId: number;
  installationId: number;
  commentId: number;
  point: KillPoint;
  /** Whether the gate already held this thread's request (it holds one, once). */
  held: boolean;
}
const ISSUE = 42;
const DISPATCH = /^\/api\/v3\/repos\/[^/]+\/([^/]+)\/actions\/workflows\/[^/]+\/dispatches$/;

describe("kill -9 around the dispatch", () => {
  let double: GitHubDouble;
  let repo: AppRepo;
  let db: TestDatabase;
  let gate: Gate;
  const threads = new Map<string, Thread>();
  const alive: Instance[] = [];

  beforeAll(async () => {
    double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
    repo = await makeAppRepo();
    db = await openTestDatabase("postgres");
    gate = await startGate(double.url, (method, path) => {
      const dispatch = method === "POST" ? DISPATCH.exec(path) : null;
      const t = threads.get(dispatch?.[1] ?? "");
      if (!t || t.held || (t.point !== "before-dispatch" && t.point !== "after-dispatch")) return null;
      t.held = true;
      return { hold: t.repo, answered: t.point === "after-dispatch" };
    });
  }, 60_000);

  afterAll(async () => {
    for (const i of alive) i.child.kill("SIGKILL");
    await gate?.close();
    await db?.close();
    await double?.close();
    if (repo) await removeDir(repo.dir);
    await stopTestPostgres();
  });

  function addThread(point: KillPoint): Thread {
    const n = threads.size + 1;
    const t: Thread = {
      n,
      repo: `${REPO}-${n}`,
      repositoryId: REPOSITORY_ID + n,
      installationId: INSTALLATION_ID + n,
      commentId: 3_300_000_000 + n,
      point,
      held: false,
    };
    double.addRepository({ owner: OWNER, name: t.repo, id: t.repositoryId, path: repo.dir, defaultBranch: "main", installationId: t.installationId });
    double.setPermission(`${OWNER}/${t.repo}`, "maintainer", "write");
    threads.set(t.repo, t);
    return t;
  }

  async function comment(instance: Instance, t: Thread): Promise<void> {
    double.addComment(`${OWNER}/${t.repo}`, ISSUE, { body: COMMAND, user: "maintainer", id: t.commentId });
    const payload = issueCommentPayload({
      owner: OWNER,
      repo: t.repo,
      repositoryId: t.repositoryId,
      installationId: t.installationId,
      issueNumber: ISSUE,
      login: "maintainer",
      commentId: t.commentId,
      body: COMMAND,
    });
    expect((await deliver(`${instance.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload })).status).toBe(200);
  }

  async function jobOf(t: Thread) {
    const { rows } = await db.client.query<{ id: number; state: string; attempts: number; run_id: string | null; status_comment_id: string | null }>(
      "select id::int, state, attempts, run_id::text, status_comment_id::text from public.bisect_jobs where repository_id = $1",
      [t.repositoryId],
    );
    return rows[0];
  }

  /** Dispatched, its run and status comment recorded: nothing about the dispatch is left to do. */
  const recorded = async (t: Thread) => {
    const job = await jobOf(t);
    return job?.state === "dispatched" && job.run_id !== null && job.status_comment_id !== null;
  };
  const atPoint = async (t: Thread) => (t.point === "after-record" ? recorded(t) : t.held && gate.held(t.repo) === 1);
  const describeThreads = async (list: Thread[]) =>
    JSON.stringify(await Promise.all(list.map(async (t) => ({ repo: t.repo, point: t.point, held: gate.held(t.repo), job: await jobOf(t) }))));

  /**
   * Instances live one after another; each takes over the jobs the last one left, then takes
   * `perLife` new comments to their kill points, and is killed with SIGKILL.
   */
  async function killLoop(points: readonly KillPoint[], lives: number, perLife: number): Promise<Thread[]> {
    // Leases of 3 s: a dead instance's jobs are taken over within seconds rather than a minute.
    const env = appEnv(double, { DATABASE_URL: db.url!, GHE_HOST: gate.host, WORKER_POLL_MS: "100", LEASE_SECONDS: "3", WORKER_CONCURRENCY: "30" });
    // An instance a test before left running would take the jobs over too.
    for (const i of alive.splice(0)) {
      i.child.kill("SIGKILL");
      await i.exited;
    }
    const all: Thread[] = [];
    let previous: Thread[] = [];
    for (let life = 0; life < lives; life++) {
      const instance = await startInstance(env);
      alive.push(instance);
      const batch = Array.from({ length: perLife }, (_, i) => addThread(points[(life * perLife + i) % points.length]!));
      all.push(...batch);
      for (const t of batch) await comment(instance, t);
      const waiting = [...previous, ...batch];
      await until(
        () => describeThreads(waiting),
        async () => (await Promise.all([...previous.map(recorded), ...batch.map(atPoint)])).every(Boolean),
        LIFE_MS,
      );
      instance.child.kill("SIGKILL");
      expect(await instance.exited).toBe("SIGKILL");
      alive.splice(alive.indexOf(instance), 1);
      previous = batch;
    }
    alive.push(await startInstance(env));
    await until(
      () => describeThreads(previous),
      async () => (await Promise.all(previous.map(recorded))).every(Boolean),
      LIFE_MS,
    );
    return all;
  }

  /** Completes every job's run with a result, and waits until each job has shown it. */
  async function finish(list: Thread[]): Promise<void> {
    for (const t of list) {
      const job = (await jobOf(t))!;
      double.completeRun(Number(job.run_id), { conclusion: "success", artifact: { zip: resultZip(String(job.id), resultDocument(repo, job.id)) } });
    }
    // No workflow_run webhooks here: the reconciler looks now rather than after RUN_CHECK_SECONDS.
    await db.client.query("update public.bisect_jobs set next_check_at = now() where state = 'dispatched'");
    await until(
      () => describeThreads(list),
      async () => (await Promise.all(list.map(async (t) => (await jobOf(t))?.state === "succeeded"))).every(Boolean),
    );
    // The result is recorded first, then the status comment edited.
    const told = (t: Thread) =>
      double.comments(`${OWNER}/${t.repo}`, ISSUE).some((c) => c.user.endsWith("[bot]") && c.body.includes("is the first bad commit"));
    await until("every status comment shows the result", () => list.every(told));
  }

  function expectOnce(list: Thread[], jobs: Map<Thread, number>) {
    for (const t of list) {
      const jobId = String(jobs.get(t));
      const where = `${t.repo} (${t.point})`;
      expect(double.runs.filter((r) => r.inputs.job_id === jobId).length, where).toBe(1);
      expect(double.dispatches.filter((d) => d.inputs.job_id === jobId && d.status < 300).length, where).toBe(1);
      const own = double.comments(`${OWNER}/${t.repo}`, ISSUE).filter((c) => c.user.endsWith("[bot]"));
      expect(own.length, where).toBe(1);
      expect(own[0]!.body, where).toContain("is the first bad commit");
    }
  }

  it(
    "20 jobs, 4 instances killed with SIGKILL before the dispatch, after it, after recording the run: one run, one dispatch, one status comment each",
    async () => {
      const list = await killLoop(["before-dispatch", "after-dispatch", "after-record"], 4, 5);
      expect(list).toHaveLength(20);
      await finish(list);
      const jobs = new Map<Thread, number>();
      for (const t of list) {
        const job = (await jobOf(t))!;
        jobs.set(t, job.id);
        // Being taken over is not an attempt.
        expect(job.attempts, t.repo).toBe(1);
      }
      expectOnce(list, jobs);
      // The jobs killed mid-dispatch were taken over from a dead instance, each once.
      const takenOver = await db.client.query<{ n: number }>(
        "select count(distinct job_id)::int as n from public.bisect_claim_audit a where a.from_state = 'dispatching' and a.job_id = any($1::bigint[])",
        [[...jobs.values()]],
      );
      expect(takenOver.rows[0]!.n).toBe(list.filter((t) => t.point !== "after-record").length);
      expect(double.violations).toEqual([]);
    },
    6 * LIFE_MS,
  );
});

// ---- Backdated leases ------------------------------------------------------------------------

describe("backdated leases around the dispatch", () => {
  let h: Harness;
  beforeAll(async () => {
    // Runs are looked at after an hour: each claim below must get the job just created, never an
    // earlier one whose first look fell due (30 s by default: 20 iterations beside the full suite
    // on 2 cores take longer than that).
    h = await startHarness({ backend: "postgres", env: { MAX_CONCURRENT_JOBS: "64", RUN_CHECK_SECONDS: "3600" } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await stopTestPostgres();
  });

  /**
   * A worker that claimed the job on `issueNumber` went as far as `point` and stopped answering:
   * its lease is moved into the past instead of waiting for it. Answers the job's id.
   */
  async function abandon(issueNumber: number, point: KillPoint): Promise<number> {
    expect((await h.comment(COMMAND, { issueNumber })).status).toBe(200);
    await h.accept();
    const claim = () => h.store.call("claimJobs", { worker: "dead-worker", limit: 1, leaseSeconds: 600, maxActive: 64 });
    const [job] = await claim();
    if (!job) throw new Error(`no job to claim for issue ${issueNumber}`);
    expect(job.issue_number).toBe(issueNumber);
    expect(await h.store.call("recordDispatchIntent", { jobId: job.id, token: job.token })).toBe(true);
    if (point !== "before-dispatch") {
      const octokit = await h.server.app.probot!.auth(INSTALLATION_ID);
      const where = repoRef(job);
      const run = await dispatchWorkflow(octokit, where, {
        workflow: job.options.workflow,
        ref: job.options.defaultBranch,
        inputs: workflowInputs(job, job.options),
        jobId: job.id,
        notBefore: new Date(job.created_at.getTime() - 60_000),
        earlierRuns: [],
      });
      if (point === "after-status-comment" || point === "after-record") {
        const body = statusComment(job, job.options, { phase: "dispatched", runUrl: run.runUrl });
        const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...where, issue_number: issueNumber, body });
        if (point === "after-record") {
          expect(await h.store.call("setStatusComment", { jobId: job.id, token: job.token, commentId: Number(data.id) })).toBe(true);
          expect(await h.store.call("recordDispatch", { jobId: job.id, token: job.token, runId: run.runId, runUrl: run.runUrl, checkAfterSeconds: 0 })).toBe(
            true,
          );
          // Then it took the job again to check on the run, and stopped answering there.
          expect((await claim()).map((j) => j.id)).toEqual([job.id]);
        }
      }
    }
    const backdated = await h.db.client.query(
      "update public.bisect_jobs set lease_expires_at = now() - interval '1 second' where id = $1 and locked_by = 'dead-worker' returning id",
      [job.id],
    );
    expect(backdated.rows).toHaveLength(1);
    return job.id;
  }

  async function expectOnce(jobIds: number[]): Promise<void> {
    for (const jobId of jobIds) {
      const job = (await h.store.call("getJob", { jobId }))!;
      const where = `job ${jobId} on issue ${job.issue_number}`;
      expect(job, where).toMatchObject({ state: "dispatched", attempts: 1, locked_by: null });
      expect(
        h.double.runs.filter((r) => r.inputs.job_id === String(jobId)).map((r) => r.id),
        where,
      ).toEqual([Number(job.run_id)]);
      expect(h.double.dispatches.filter((d) => d.inputs.job_id === String(jobId) && d.status < 300).length, where).toBe(1);
      // One status comment on the thread: the one the job knows (and edits from now on), naming its run.
      expect(
        h.appComments(job.issue_number!).map((c) => c.id),
        where,
      ).toEqual([Number(job.status_comment_id)]);
      expect(h.appComments(job.issue_number!)[0]!.body, where).toContain(`/actions/runs/${job.run_id}`);
    }
  }

  it("20 claims abandoned before the dispatch, after it, after recording the run, their leases backdated: one run, one dispatch, one status comment each", async () => {
    const points: KillPoint[] = ["before-dispatch", "after-dispatch", "after-record"];
    const jobIds: number[] = [];
    for (let i = 0; i < 20; i++) {
      const jobId = await abandon(100 + i, points[i % points.length]!);
      await h.settle();
      const job = (await h.store.call("getJob", { jobId }))!;
      expect(job, `iteration ${i}`).toMatchObject({ state: "dispatched", locked_by: null });
      jobIds.push(jobId);
    }
    await expectOnce(jobIds);
    expect(h.double.violations).toEqual([]);
  }, 60_000);

  // The status comment is posted, then remembered (setStatusComment); a worker that dies between
  // the two leaves a comment the job does not know. Its successor, seeing the dispatch intent,
  // adopts the run and looks on the thread for the App's comment carrying the job's marker: it
  // edits and remembers that one instead of posting a second. The thread keeps one status comment,
  // the one the job knows, naming its run.
  it("a claim abandoned after posting the status comment, before recording it: still one status comment", async () => {
    const jobId = await abandon(200, "after-status-comment");
    await h.settle();
    await expectOnce([jobId]);
  });
});
