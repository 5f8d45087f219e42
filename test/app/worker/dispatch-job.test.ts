/**
 * Dispatching the workflow: GitHub Enterprise Server without run details, a worker that dies
 * between dispatch and commit, a repository at its limit of active bisects, and GitHub refusing
 * or failing the dispatch. Then the operators' routes. All against the OpenAPI-checked double.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { dispatchJob, workflowInputs } from "../../../app/src/worker/dispatch-job.js";
import { startHarness, OWNER, REPO, REPOSITORY_ID, type Harness } from "../../support/app-harness.js";
import { resultZip } from "../../support/zip.js";

const FULL = `${OWNER}/${REPO}`;
const DISPATCH = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";

let h: Harness;
let issue = 0;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_CONCURRENT_JOBS: "2" } });
});
afterAll(() => h?.close());
afterEach(async () => {
  expect(h.double.violations).toEqual([]);
  // Each test starts with the repository's slots free.
  await h.db.client.exec(
    "update public.bisect_jobs set state = 'succeeded', locked_by = null, lease_expires_at = null where state not in ('succeeded', 'failed', 'cancelled', 'timed_out')",
  );
  h.double.ghes = false;
});

async function bisect(body = "/bisect v1.0..main -- npm test") {
  issue++;
  expect((await h.comment(body, { issueNumber: issue })).status).toBe(200);
  await h.accept();
  const job = await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue });
  expect(job).toBeDefined();
  return job!;
}

describe("dispatch", () => {
  it("on GitHub Enterprise Server, which refuses return_run_details, dispatches without it and finds the run by its name", async () => {
    h.double.ghes = true;
    const job = await bisect();
    await h.settle();
    const mine = h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id));
    expect(mine.map((d) => [d.returnRunDetails, d.status])).toEqual([
      [true, 422],
      [false, 204],
    ]);
    const run = h.double.runs.find((r) => r.inputs.job_id === String(job.id))!;
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched", run_id: run.id });
  });

  it("a worker that dies after dispatching and before recording the run: its successor adopts the run, no second dispatch", async () => {
    const job = await bisect();
    const [claimed] = await h.store.call("claimJobs", { worker: "doomed-worker", limit: 1, leaseSeconds: 30, maxActive: 4 });
    expect(claimed?.id).toBe(job.id);
    // The first worker gets as far as the dispatch, then dies: nothing it does after returns.
    const real = await h.server.app.probot!.auth(job.installation_id!);
    const dying = new Proxy(real, {
      get: (target, key): unknown =>
        key === "request"
          ? (route: string, params: unknown) =>
              route.includes("/issues/{issue_number}/comments") ? new Promise(() => undefined) : target.request(route as never, params as never)
          : Reflect.get(target, key),
    });
    void dispatchJob(claimed!, { ...workerDeps(), octokitFor: () => Promise.resolve(dying) });
    await waitFor(() => h.double.dispatches.some((d) => d.inputs.job_id === String(job.id)));
    expect(h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id))).toHaveLength(1);
    // Its lease runs out; another worker takes the job over.
    await h.db.client.exec(`update public.bisect_jobs set lease_expires_at = now() - interval '1 second' where id = ${job.id}`);
    await h.settle();
    const runs = h.double.runs.filter((r) => r.inputs.job_id === String(job.id));
    expect(runs).toHaveLength(1);
    expect(h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id))).toHaveLength(1);
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched", run_id: runs[0]!.id, attempts: 1 });
    // One status comment, edited; not one per worker.
    expect(h.appComments(issue)).toHaveLength(1);
  });

  it("a worker that dies after dispatching, and a run that has finished before its successor looks: adopted, its answer recorded, no second run", async () => {
    const job = await bisect();
    const [claimed] = await h.store.call("claimJobs", { worker: "doomed-worker", limit: 1, leaseSeconds: 30, maxActive: 4 });
    const real = await h.server.app.probot!.auth(job.installation_id!);
    const dying = new Proxy(real, {
      get: (target, key): unknown =>
        key === "request"
          ? (route: string, params: unknown) =>
              route.includes("/issues/{issue_number}/comments") ? new Promise(() => undefined) : target.request(route as never, params as never)
          : Reflect.get(target, key),
    });
    void dispatchJob(claimed!, { ...workerDeps(), octokitFor: () => Promise.resolve(dying) });
    await waitFor(() => h.double.runs.some((r) => r.inputs.job_id === String(job.id)));
    // The run is quick: it is over, its webhook gone to the dead instance, before the lease ends.
    const run = h.double.runs.find((r) => r.inputs.job_id === String(job.id))!;
    const culprit = h.repo.sha.c7!;
    const document = {
      schema: 1,
      jobId: String(job.id),
      verdict: "culprit",
      culprit: { sha: culprit, confidence: 1 },
      candidates: [culprit],
      range: { good: job.good_shas, bad: job.bad_sha, size: 15 },
      probes: [{ sha: culprit, verdict: "bad", exitCode: 1, durationMs: 900, round: 1 }],
      tested: 1,
      rounds: 1,
    };
    h.double.completeRun(run.id, { conclusion: "success", artifact: { zip: resultZip(String(job.id), document) } });
    await h.db.client.exec(`update public.bisect_jobs set lease_expires_at = now() - interval '1 second' where id = ${job.id}`);
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched", run_id: run.id, attempts: 1 });
    // Its next look finds the run completed and reads the answer from it.
    await h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${job.id}`);
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "succeeded", culprit_sha: culprit, attempts: 1 });
    expect(h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id))).toHaveLength(1);
  });

  it("a dispatch GitHub answered with an error after creating the run: the next attempt adopts that run, no second one", async () => {
    const job = await bisect();
    const [claimed] = await h.store.call("claimJobs", { worker: "unlucky-worker", limit: 1, leaseSeconds: 30, maxActive: 4 });
    expect(claimed?.id).toBe(job.id);
    expect(await h.store.call("recordDispatchIntent", { jobId: job.id, token: claimed!.token })).toBe(true);
    // GitHub made the run, but the worker saw a 502 and gave the attempt up.
    const octokit = await h.server.app.probot!.auth(job.installation_id!);
    await octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
      owner: OWNER,
      repo: REPO,
      workflow_id: "bisect.yml",
      ref: "main",
      inputs: { ...workflowInputs(job, job.options) },
    });
    expect(
      await h.store.call("failAttempt", {
        jobId: job.id,
        token: claimed!.token,
        error: "Dispatching the workflow failed: HTTP 502",
        retryAfterSeconds: 0,
        probes: [],
      }),
    ).toBe("queued");
    await h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${job.id}`);
    await h.settle();
    const runs = h.double.runs.filter((r) => r.inputs.job_id === String(job.id));
    expect(runs).toHaveLength(1);
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched", attempts: 2, run_id: runs[0]!.id });
  });

  it("/bisect cancel while the run is being dispatched: the new run is cancelled and the comment says so", async () => {
    const job = await bisect();
    const [claimed] = await h.store.call("claimJobs", { worker: "racing-worker", limit: 1, leaseSeconds: 30, maxActive: 4 });
    expect(claimed?.id).toBe(job.id);
    // The cancel lands while the dispatch request is on its way to GitHub.
    const real = await h.server.app.probot!.auth(job.installation_id!);
    const octokit = new Proxy(real, {
      get: (target, key): unknown =>
        key === "request"
          ? async (route: string, params: unknown) => {
              if (route.includes("/dispatches")) expect((await h.store.call("cancelJob", { jobId: job.id, by: "maintainer" })).cancelled).toBe(true);
              return target.request(route as never, params as never);
            }
          : Reflect.get(target, key),
    });
    expect(await dispatchJob(claimed!, { ...workerDeps(), octokitFor: () => Promise.resolve(octokit) })).toBe(false);
    const runs = h.double.runs.filter((r) => r.inputs.job_id === String(job.id));
    expect(runs.map((r) => [r.status, r.conclusion])).toEqual([["completed", "cancelled"]]);
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "cancelled" });
    const comments = h.appComments(issue);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain("was cancelled");
  });

  it("a repository at MAX_CONCURRENT_JOBS: the next job is announced with its place in the queue, and dispatched when a slot frees", async () => {
    const a = await bisect();
    const b = await bisect();
    const c = await bisect();
    await h.settle();
    const dispatched = (id: number) => h.double.dispatches.some((d) => d.inputs.job_id === String(id));
    expect([dispatched(a.id), dispatched(b.id), dispatched(c.id)]).toEqual([true, true, false]);
    const waiting = h.appComments(issue);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.body).toContain("number 1 in this repository's queue");
    expect(h.double.reactions(FULL, c.comment_id!)).toEqual(["eyes"]);
    expect(await h.store.call("getJob", { jobId: c.id })).toMatchObject({ state: "queued", attempts: 0 });

    await h.db.client.exec(`update public.bisect_jobs set state = 'succeeded' where id = ${a.id}`);
    await h.settle();
    expect(dispatched(c.id)).toBe(true);
    // The same comment, edited in place from "waiting" to "dispatched".
    const after = h.appComments(issue);
    expect(after).toHaveLength(1);
    expect(after[0]!.body).toContain("Workflow run");
    expect(h.double.reactions(FULL, c.comment_id!)).toEqual(["eyes"]);
  });

  it("a status comment someone deleted does not stop the job: the dispatch is recorded and a new comment posted", async () => {
    const a = await bisect();
    const b = await bisect();
    const c = await bisect();
    await h.settle();
    expect((await h.store.call("getJob", { jobId: c.id }))!.state).toBe("queued");
    await h.db.client.exec(`update public.bisect_jobs set state = 'succeeded' where id = ${a.id}`);
    // The "waiting" comment is gone when the job is dispatched.
    h.double.failNext("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", 404, 1);
    await h.settle();
    const after = (await h.store.call("getJob", { jobId: c.id }))!;
    expect(after.state).toBe("dispatched");
    expect(h.appComments(issue).at(-1)!.body).toContain("Workflow run");
    expect(after.status_comment_id).toBe(h.appComments(issue).at(-1)!.id);
    void b;
  });

  it("a dispatch GitHub refuses (422) fails the job at once and says why on the thread", async () => {
    h.double.failNext(DISPATCH, 422, 1);
    const job = await bisect();
    await h.settle();
    const after = await h.store.call("getJob", { jobId: job.id });
    expect(after).toMatchObject({ state: "failed", attempts: 1 });
    expect(after!.error).toContain("HTTP 422");
    expect(h.appComments(issue).at(-1)!.body).toContain("could not start");
    expect(h.double.runs.some((r) => r.inputs.job_id === String(job.id))).toBe(false);
  });

  it("a dispatch that keeps failing with 502 (after Probot's retries) is tried again later, as a new attempt", async () => {
    h.double.failNext(DISPATCH, 502, 4);
    const job = await bisect();
    await h.settle();
    const after = await h.store.call("getJob", { jobId: job.id });
    expect(after).toMatchObject({ state: "queued", attempts: 1, run_id: null });
    expect(after!.next_check_at.getTime()).toBeGreaterThan(Date.now() + 10_000);
    // Due again: the next attempt dispatches.
    await h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${job.id}`);
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched", attempts: 2 });
    expect(h.double.runs.filter((r) => r.inputs.job_id === String(job.id))).toHaveLength(1);
  });

  it("with the workflow file removed since the comment, the job fails with GitHub's reason", async () => {
    h.double.failNext(DISPATCH, 404, 1);
    const job = await bisect();
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "failed" });
    expect(h.appComments(issue).at(-1)!.body).toContain("HTTP 404");
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  expect(condition()).toBe(true);
}

function workerDeps() {
  return {
    store: h.store,
    settings: h.server.settings,
    workerId: "doomed-worker",
    octokitFor: () => Promise.reject(new Error("unused")),
    log: h.server.app.probot!.log,
  };
}

describe("HTTP routes", () => {
  it("GET /health is 200 while the database answers and the worker loop runs", async () => {
    await h.settle();
    const response = await fetch(`${h.server.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", database: "reachable", worker: "running" });
  });

  it("GET /stats counts jobs by state and this instance's leases", async () => {
    const stats = (await (await fetch(`${h.server.url}/stats`)).json()) as Record<string, number>;
    expect(Object.keys(stats).sort()).toEqual(["cancelled", "completed", "failed", "pending", "running", "running_on_this_instance"]);
    const job = await bisect();
    const after = (await (await fetch(`${h.server.url}/stats`)).json()) as Record<string, number>;
    expect(after.pending).toBe(stats.pending! + 1);
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched" });
    const running = (await (await fetch(`${h.server.url}/stats`)).json()) as Record<string, number>;
    expect(running.running).toBe(stats.running! + 1);
  });

  it("GET /job/:id shows state, attempts, run, worker and times — and no secret", async () => {
    const job = await bisect();
    await h.settle();
    const response = await fetch(`${h.server.url}/job/${job.id}`);
    expect(response.status).toBe(200);
    const view = (await response.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ id: job.id, repository: FULL, state: "dispatched", attempts: 1, max_attempts: 3, bad: { ref: "main", sha: h.repo.sha.main } });
    expect(view.run_url).toMatch(/\/actions\/runs\/\d+$/);
    for (const key of ["created_at", "started_at", "updated_at", "worker"]) expect(view).toHaveProperty(key);
    const text = JSON.stringify(view);
    expect(text).not.toContain(h.env.WEBHOOK_SECRET);
    expect(text).not.toContain("PRIVATE KEY");
    expect(text).not.toMatch(/ghs_[A-Za-z0-9]+/);
    expect((await fetch(`${h.server.url}/job/999999999`)).status).toBe(404);
    expect((await fetch(`${h.server.url}/job/abc`)).status).toBe(404);
  });

  it("without ADMIN_TOKEN, /stats, /job/:id and /metrics answer loopback only, not what a proxy forwards", async () => {
    for (const path of ["/stats", "/metrics", "/job/1"]) {
      const response = await fetch(`${h.server.url}${path}`, { headers: { "x-forwarded-for": "203.0.113.7" } });
      expect(response.status).toBe(401);
      expect(await response.text()).toContain("ADMIN_TOKEN");
    }
    expect((await fetch(`${h.server.url}/health`, { headers: { "x-forwarded-for": "203.0.113.7" } })).status).toBe(200);
  });

  it("GET /metrics speaks Prometheus", async () => {
    const text = await (await fetch(`${h.server.url}/metrics`)).text();
    expect(text).toMatch(/^bisect_jobs\{state="queued"\} \d+$/m);
    expect(text).toMatch(/^bisect_worker_events_total\{event="claims"\} [1-9]\d*$/m);
  });
});

// Last: the double keeps failing GraphQL afterwards.
describe("commands", () => {
  it("GitHub failing on every try of a command: after the last try the user is told nothing started", async () => {
    h.double.failNext("POST /graphql", 503, 1000);
    await h.comment("/bisect v1.0..main -- npm test", { issueNumber: 44 });
    for (let i = 0; i < 6; i++) {
      await h.settle();
      await h.db.client.exec("update public.bisect_tasks set run_at = now() where state = 'pending'");
    }
    const { rows } = await h.db.client.query<{ state: string; attempts: number }>(
      "select state, attempts from public.bisect_tasks where kind = 'command' and issue_number = 44",
    );
    expect(rows[0]).toEqual({ state: "failed", attempts: 5 });
    expect(h.appComments(44).map((c) => c.body)).toEqual([expect.stringContaining("GitHub did not answer")]);
    expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 44 })).toBeUndefined();
  });
});
