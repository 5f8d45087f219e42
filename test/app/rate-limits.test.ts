/**
 * GitHub's rate limits, as the App lives with them (§6 test 15), against the OpenAPI-checked
 * double on a real PostgreSQL server:
 * - a dispatch GitHub's rate limit refuses is no attempt: the job waits (at least a minute when
 *   GitHub names no time, longer on repeats) and is dispatched afterwards, however often it is
 *   refused; past the job's time limit it fails, and the thread is told why;
 * - three instances of the App share one write budget and one pause per installation, through
 *   the database: their writes never exceed the budget in any window, and a rate limit one of
 *   them meets stops the others until GitHub's wait is over.
 * Waits are never slept through: the test moves the due times (the job's, the pause's) to now.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GitHubBudget, InstallationPausedError, READ_CHECK_MS } from "../../app/src/github/budget.js";
import type { Octokit } from "../../app/src/github/octokit.js";
import { pgClient, type SqlClient } from "../../app/src/store/sql-client.js";
import { sqlTransport } from "../../app/src/store/sql-transport.js";
import { Store } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, startHarness, type Harness } from "../support/app-harness.js";
import { stopTestPostgres } from "../support/postgres.js";

const DISPATCH = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
const COMMENT = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
/** The double words a 403 as a secondary rate limit when it names `retry-after`; an empty one gives no time, as GitHub's secondary limits often do. */
const SECONDARY_WITHOUT_TIME = { "retry-after": "" };

let h: Harness;
let issue = 100;
beforeAll(async () => {
  h = await startHarness({ backend: "postgres" });
});
afterAll(async () => {
  await h?.close();
  await stopTestPostgres();
});

/** GitHub's wait is over: the jobs and tasks waiting for it are due, and no installation is paused. */
async function waitIsOver() {
  await h.db.client.exec(`
    update public.bisect_jobs set next_check_at = now() where state = 'queued';
    update public.bisect_tasks set run_at = now() where state = 'pending';
    update public.bisect_github_budget set paused_until = now();`);
}

async function bisect() {
  issue++;
  expect((await h.comment("/bisect v1.0..main -- npm test", { issueNumber: issue })).status).toBe(200);
  await h.accept();
  const job = await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue });
  expect(job).toBeDefined();
  return job!;
}

const dispatchesOf = (jobId: number) => h.double.requests.filter((r) => r.route === DISPATCH && JSON.stringify(r.body).includes(`"job_id":"${jobId}"`));

describe("a dispatch GitHub's rate limit refuses", () => {
  it("three secondary-limit 403s that name no time: no attempt counted, a wait of at least a minute after each (longer each time), then dispatched", async () => {
    const job = await bisect();
    h.double.failNext(DISPATCH, 403, 3, SECONDARY_WITHOUT_TIME);
    const waits: number[] = [];
    for (let refusal = 1; refusal <= 3; refusal++) {
      await h.settle();
      const now = (await h.store.call("getJob", { jobId: job.id }))!;
      expect(now).toMatchObject({ state: "queued", attempts: 0, run_id: null, locked_by: null });
      expect(now.error).toContain("secondary rate limit");
      const refused = dispatchesOf(job.id);
      expect(refused.map((r) => r.status)).toEqual(Array<number>(refusal).fill(403));
      // Scheduled no sooner than a minute after GitHub's answer, whatever the jitter.
      waits.push(now.next_check_at.getTime() - refused.at(-1)!.at);
      expect(waits.at(-1)).toBeGreaterThanOrEqual(60_000);
      expect(h.appComments(issue)).toEqual([]);
      await waitIsOver();
    }
    expect(waits[1]).toBeGreaterThan(waits[0]!);
    expect(waits[2]).toBeGreaterThan(waits[1]!);
    await h.settle();
    const runs = h.double.runs.filter((r) => r.inputs.job_id === String(job.id));
    expect(runs).toHaveLength(1);
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched", attempts: 1, run_id: runs[0]!.id });
    expect(dispatchesOf(job.id).map((r) => r.status)).toEqual([403, 403, 403, 200]);
    expect(h.appComments(issue)).toHaveLength(1);
    expect(h.double.violations).toEqual([]);
  });

  it("held back past the job's time limit: it fails, saying GitHub's rate limit kept it from starting, and the thread hears it once", async () => {
    const job = await bisect();
    // The comment came two hours ago; the job's time limit is 30 minutes.
    await h.db.client.query("update public.bisect_jobs set created_at = now() - interval '2 hours' where id = $1", [job.id]);
    h.double.failNext(DISPATCH, 403, 1, SECONDARY_WITHOUT_TIME);
    await h.settle();
    const failed = (await h.store.call("getJob", { jobId: job.id }))!;
    expect(failed.state).toBe("failed");
    expect(failed.error).toMatch(/^GitHub's rate limit kept the workflow from starting within the job's time limit \(30m\): HTTP 403: .*secondary rate limit/);
    // GitHub asked the installation to wait: the thread is told once it may write again.
    expect(h.appComments(issue)).toEqual([]);
    await waitIsOver();
    await h.settle();
    const comments = h.appComments(issue);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(`Bisect #${job.id} could not start`);
    expect(comments[0]!.body).toContain("GitHub's rate limit kept the workflow from starting");
    expect(dispatchesOf(job.id).map((r) => r.status)).toEqual([403]);
    expect(h.double.violations).toEqual([]);
  });
});

describe("three instances, one budget", () => {
  const BUDGET = 10;
  const WINDOW_SECONDS = 2;
  const clients: SqlClient[] = [];
  let instances: Octokit[];

  beforeAll(async () => {
    instances = [];
    for (let i = 0; i < 3; i++) {
      // Each instance has its own connections to the one database, as separate processes would.
      const client = pgClient(h.db.url!, { max: 4 });
      clients.push(client);
      const budget = new GitHubBudget(new Store(sqlTransport(client)), { writesPerWindow: BUDGET, windowSeconds: WINDOW_SECONDS });
      instances.push(budget.wrap(await h.server.app.probot!.auth(INSTALLATION_ID), INSTALLATION_ID));
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  beforeEach(async () => {
    await h.db.client.exec("delete from public.bisect_github_writes; update public.bisect_github_budget set paused_until = null;");
  });

  const comment = (octokit: Octokit, body: string) => octokit.request(COMMENT, { owner: OWNER, repo: REPO, issue_number: 42, body });
  const read = (octokit: Octokit) =>
    octokit.request("GET /repos/{owner}/{repo}/collaborators/{username}/permission", { owner: OWNER, repo: REPO, username: "maintainer" });

  it(`${BUDGET} writes per ${WINDOW_SECONDS} s for all three together: GitHub never receives more in any window`, async () => {
    const before = h.double.requests.length;
    await Promise.all(instances.flatMap((octokit, i) => Array.from({ length: 8 }, (_, n) => comment(octokit, `instance ${i}, write ${n}`))));
    const arrivals = h.double.requests
      .slice(before)
      .filter((r) => r.route === COMMENT)
      .map((r) => r.at)
      .sort((a, b) => a - b);
    expect(arrivals).toHaveLength(24);
    // Any BUDGET + 1 writes in a row span a whole window: no window holds more than BUDGET.
    const crowded = arrivals.flatMap((at, i) => (i + BUDGET < arrivals.length && arrivals[i + BUDGET]! - at < WINDOW_SECONDS * 1000 ? [i] : []));
    expect(crowded).toEqual([]);
    expect(h.double.violations).toEqual([]);
  });

  it.each<{ said: string; headers: Record<string, string>; atLeast: number }>([
    { said: "a secondary rate limit with retry-after: 30", headers: { "retry-after": "30" }, atLeast: 29 },
    { said: "a secondary rate limit that names no time", headers: SECONDARY_WITHOUT_TIME, atLeast: 59 },
    {
      said: "the hourly quota used up until its reset",
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + 600) },
      atLeast: 540, // the reset is fixed when the file loads; the tests before take some of its 600 s
    },
  ])("$said, met by one instance, stops the others until it passes: nothing is sent before", async ({ headers, atLeast }) => {
    const [first, ...others] = instances;
    h.double.failNext(COMMENT, 403, 1, headers);
    await expect(comment(first!, "refused")).rejects.toMatchObject({ status: 403 });
    const sent = h.double.requests.length;
    for (const octokit of [first!, ...others]) {
      for (const call of [() => comment(octokit, "held back"), () => read(octokit)]) {
        const error: unknown = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InstallationPausedError);
        if (error instanceof InstallationPausedError) expect(error.seconds).toBeGreaterThanOrEqual(atLeast);
      }
    }
    expect(h.double.requests.length).toBe(sent);
    await waitIsOver();
    await expect(comment(others[0]!, "after the wait")).resolves.toMatchObject({ status: 201 });
    await expect(read(others[1]!)).resolves.toMatchObject({ status: 200 });
  });

  it("answers that come while one is being recorded go to the store together: every slot ends, the latest quota stays, the longest pause wins", async () => {
    const transport = sqlTransport(clients[0]!);
    const calls: number[] = [];
    const counting = {
      ...transport,
      call: (name: string, args: Parameters<typeof transport.call>[1], returns: Parameters<typeof transport.call>[2]) => {
        if (name === "bisect_note_github_answers") {
          const value = args[0]!.value;
          calls.push((typeof value === "string" ? (JSON.parse(value) as unknown[]) : (value as unknown[])).length);
        }
        return transport.call(name, args, returns);
      },
    };
    const budget = new GitHubBudget(new Store(counting), { writesPerWindow: 50, windowSeconds: 60 });
    const slots = await Promise.all(Array.from({ length: 6 }, () => budget.take(INSTALLATION_ID, true)));
    const reset = Math.ceil(Date.now() / 1000) + 3000;
    await Promise.all(
      slots.map((slot, i) =>
        i === 3
          ? budget.note(INSTALLATION_ID, slot, 403, { "retry-after": "45" }, "You have exceeded a secondary rate limit.")
          : budget.note(INSTALLATION_ID, slot, 201, { "x-ratelimit-remaining": String(4000 - i), "x-ratelimit-reset": String(reset) }, ""),
      ),
    );
    // The first answer went alone; the five that came while it was written, in one call.
    expect(calls).toEqual([1, 5]);
    const { rows } = await h.db.client.query<{ open: string }>(
      `select count(*) filter (where finished_at is null)::text as open from public.bisect_github_writes where id = any($1::bigint[])`,
      [slots],
    );
    expect(rows[0]!.open).toBe("0");
    const budgetRow = await h.db.client.query<{ remaining: number; paused_for: number; pause_reason: string }>(
      `select remaining, extract(epoch from paused_until - now())::float8 as paused_for, pause_reason from public.bisect_github_budget where installation_id = $1`,
      [INSTALLATION_ID],
    );
    expect(budgetRow.rows[0]).toMatchObject({ remaining: 3995, pause_reason: "You have exceeded a secondary rate limit." });
    expect(budgetRow.rows[0]!.paused_for).toBeGreaterThan(40);
  });

  it(`a pause met by one instance holds another's writes at once, and its reads within ${READ_CHECK_MS / 1000} s, however recently it last asked`, async () => {
    const [met, other] = clients
      .slice(0, 2)
      .map((c) => new GitHubBudget(new Store(sqlTransport(c)), { writesPerWindow: BUDGET, windowSeconds: WINDOW_SECONDS }));
    // The other instance has just been told the installation is not paused.
    await expect(other!.take(INSTALLATION_ID, false)).resolves.toBeNull();
    await met!.note(INSTALLATION_ID, null, 403, { "retry-after": "30" }, "You have exceeded a secondary rate limit.");
    await expect(other!.take(INSTALLATION_ID, false, Date.now() + READ_CHECK_MS)).rejects.toBeInstanceOf(InstallationPausedError);
    await expect(other!.take(INSTALLATION_ID, true)).rejects.toBeInstanceOf(InstallationPausedError);
    // And while it knows of the pause, every read asks again.
    await expect(other!.take(INSTALLATION_ID, false)).rejects.toBeInstanceOf(InstallationPausedError);
  });
});
