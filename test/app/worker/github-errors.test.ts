/**
 * GitHub's rate limits and errors, with Probot's own Octokit (its throttling and retry plugins as
 * in production). Probot does not retry a secondary rate limit; the App then waits at least as
 * long as GitHub's `retry-after` before trying the command again, and the user gets the bisect.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPOSITORY_ID, startHarness, type Harness } from "../../support/app-harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ octokit: "probot" });
});
afterAll(() => h?.close());

it("a secondary rate limit (403, retry-after: 120) is waited out: the command is tried again no sooner, then the bisect starts", async () => {
  const route = "GET /repos/{owner}/{repo}/collaborators/{username}/permission";
  h.double.failNext(route, 403, 1, { "retry-after": "120" });
  await h.comment("/bisect v1.0..main -- npm test");
  await h.settle();
  expect(h.double.requests.filter((r) => r.route === route).map((r) => r.status)).toEqual([403]);
  const { rows } = await h.db.client.query<{ state: string; wait: number; error: string }>(
    "select state, extract(epoch from run_at - now())::float as wait, error from public.bisect_tasks where kind = 'command'",
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]!.state).toBe("pending");
  expect(rows[0]!.wait).toBeGreaterThan(110);
  expect(rows[0]!.error).toContain("HTTP 403");
  expect(h.appComments()).toEqual([]);
  // The time has come.
  await h.db.client.exec("update public.bisect_tasks set run_at = now() where kind = 'command'");
  await h.settle();
  expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 }))?.state).toBe("dispatched");
  expect(h.double.violations).toEqual([]);
});

it("a 502 from GitHub on the GraphQL query is retried by Probot and the bisect starts", async () => {
  h.double.failNext("POST /graphql", 502, 1);
  await h.comment("/bisect v1.0..main -- npm test", { issueNumber: 43 });
  await h.settle();
  expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 43 }))?.state).toBe("dispatched");
  expect(h.double.requests.filter((r) => r.route === "POST /graphql").map((r) => r.status)).toContain(502);
});
