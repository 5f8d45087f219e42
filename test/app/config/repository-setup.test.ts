/**
 * What the repository brings: its `.github/bisect.yml` (defaults, limits, mistakes pointed at by
 * line) and its bisect workflow (missing: the reply says how to install it). Then /bisect cancel
 * and /bisect retry on a dispatched job.
 */
import { afterEach, describe, expect, it } from "vitest";
import { REPOSITORY_ID, startHarness, type Harness } from "../../support/app-harness.js";

let h: Harness | undefined;
afterEach(async () => {
  expect(h?.double.violations).toEqual([]);
  await h?.close();
  h = undefined;
});

async function commentAndSettle(body: string, issueNumber = 42) {
  expect((await h!.comment(body, { issueNumber })).status).toBe(200);
  await h!.settle();
  return h!.appComments(issueNumber).map((c) => c.body);
}

describe(".github/bisect.yml", () => {
  it("gives the default command, runner parallelism and setup; the setup's failure makes a commit untestable", async () => {
    h = await startHarness({ repo: { config: "command: make check\nparallel: 4\nsetup: |\n  npm ci\n  npm run build\n" } });
    await commentAndSettle("/bisect v1.0..main");
    const dispatch = h.double.dispatches.at(-1)!;
    expect(dispatch.inputs.command).toBe("sh -e <<'BISECT_BOT_SETUP' || exit 125\nnpm ci\nnpm run build\nBISECT_BOT_SETUP\nmake check");
    expect(JSON.parse(dispatch.inputs.options!)).toMatchObject({ parallel: 4 });
  });

  it("an invalid file gets a reply that points at the line, and nothing starts", async () => {
    h = await startHarness({ repo: { config: "command: npm test\n\nparallel: 80\n" } });
    const replies = await commentAndSettle("/bisect v1.0..main");
    expect(replies).toHaveLength(1);
    expect(replies[0]).toContain("line 3");
    expect(replies[0]).toContain("`parallel`");
    expect(h.double.dispatches).toHaveLength(0);
    expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 })).toBeUndefined();
  });

  it("a range larger than max_commits is refused with the count and the limit", async () => {
    h = await startHarness({ repo: { config: "max_commits: 5\n" } });
    const replies = await commentAndSettle("/bisect v1.0..main -- npm test");
    expect(replies[0]).toMatch(/holds 15 commits, more than this repository's limit of 5/);
    expect(h.double.dispatches).toHaveLength(0);
  });

  it("a fan-out over max_runner_minutes is refused before anything runs, with the estimate and what would fit", async () => {
    h = await startHarness({ repo: { config: "runners: 7\nmax_runner_minutes: 5\n" } });
    const replies = await commentAndSettle("/bisect v1.0..main -- npm test");
    expect(replies).toHaveLength(1);
    expect(replies[0]).toContain("With 7 runners this bisect needs about 2 rounds and 8 runner jobs: at least 8 runner minutes");
    expect(replies[0]).toContain("more than this repository's budget of 5 (`max_runner_minutes`). Nothing was started.");
    expect(replies[0]).toContain("Use `--runners 2` (about 5 jobs, at least 5 minutes)");
    expect(h.double.dispatches).toHaveLength(0);
    expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 })).toBeUndefined();
    // A plan within the budget passes it: its first round is dispatched, on 2 runners.
    await commentAndSettle("/bisect v1.0..main --runners 2 -- npm test");
    expect(h.double.dispatches).toHaveLength(1);
    expect(h.double.dispatches[0]!.inputs).toMatchObject({ mode: "probe" });
    expect(JSON.parse(String(h.double.dispatches[0]!.inputs.commits))).toHaveLength(2);
  });

  it("without the workflow file, the reply says how to install it", async () => {
    h = await startHarness({ repo: { withoutWorkflow: true } });
    const replies = await commentAndSettle("/bisect v1.0..main -- npm test");
    expect(replies[0]).toContain("`.github/workflows/bisect.yml`");
    expect(replies[0]).toContain("copy");
    expect(h.double.dispatches).toHaveLength(0);
  });
});

describe("/bisect cancel and /bisect retry", () => {
  it("cancel stops the job and its workflow run; retry starts it again from the same commits", async () => {
    h = await startHarness();
    await commentAndSettle("/bisect v1.0..main -- npm test");
    const job = (await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 }))!;
    expect(job.state).toBe("dispatched");

    const afterCancel = await commentAndSettle("/bisect cancel", 42);
    expect(afterCancel.at(-1)).toContain("Cancelled bisect");
    // The status comment no longer says the run is going.
    expect(h.appComments(42).find((c) => c.id === job.status_comment_id)!.body).toContain("was cancelled");
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "cancelled" });
    const run = h.double.runs.find((r) => r.id === job.run_id)!;
    expect(run.status).toBe("completed");
    expect(run.conclusion).toBe("cancelled");

    const afterRetry = await commentAndSettle("/bisect retry", 42);
    expect(afterRetry.at(-1)).toContain(`Bisect #${job.id} starts again, resuming`);
    // The same job, a new attempt, the same status comment edited.
    const retried = (await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 }))!;
    expect(retried).toMatchObject({
      id: job.id,
      state: "dispatched",
      attempts: 2,
      good_shas: job.good_shas,
      bad_sha: job.bad_sha,
      command: "npm test",
      status_comment_id: job.status_comment_id,
    });
    expect(retried.run_id).not.toBe(job.run_id);
    expect(h.double.dispatches.filter((d) => d.status < 300)).toHaveLength(2);
  });

  it("cancel and retry need write access too", async () => {
    h = await startHarness();
    h.double.setPermission("octo-org/widgets", "reader", "read");
    await commentAndSettle("/bisect v1.0..main -- npm test");
    const job = (await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 }))!;
    for (const command of ["/bisect cancel", "/bisect retry"]) {
      await h.comment(command, { issueNumber: 42, login: "reader" });
      await h.settle();
      expect(h.appComments(42).at(-1)!.body).toContain("only people with write");
    }
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "dispatched" });
    expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 }))!.id).toBe(job.id);
    expect(h.double.runs.find((r) => r.id === job.run_id)!.status).not.toBe("completed");
  });
});

describe("shutdown", () => {
  it("/health turns 503 the moment the worker starts stopping", async () => {
    h = await startHarness();
    await h.settle();
    expect((await fetch(`${h.server.url}/health`)).status).toBe(200);
    const stopping = h.server.app.worker!.stop(100);
    const health = await fetch(`${h.server.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ worker: "stopping" });
    await stopping;
  });
});
