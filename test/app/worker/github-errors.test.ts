/**
 * GitHub's rate limits and errors, with Probot's own Octokit (its throttling and retry plugins as
 * in production). Probot does not retry a secondary rate limit; the App then waits at least as
 * long as GitHub's `retry-after` (at least a minute when GitHub names no time) before trying the
 * command again, and the user gets the bisect. And how long each kind of answer is waited out.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InstallationPausedError } from "../../../app/src/github/budget.js";
import { isPermanent, isRateLimited, retryAfterSeconds } from "../../../app/src/worker/github-errors.js";
import { REPOSITORY_ID, startHarness, type Harness } from "../../support/app-harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ octokit: "probot" });
});
afterAll(() => h?.close());

/** The time has come: the command task is due, and GitHub's pause on the installation is over. */
async function waitIsOver() {
  await h.db.client.exec("update public.bisect_tasks set run_at = now() where kind = 'command'; update public.bisect_github_budget set paused_until = now();");
}

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
  await waitIsOver();
  await h.settle();
  expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 42 }))?.state).toBe("dispatched");
  expect(h.double.violations).toEqual([]);
});

it("a rate limit that names no time (the quota used up, no reset given) is waited out at least a minute, then the bisect starts", async () => {
  const route = "GET /repos/{owner}/{repo}/collaborators/{username}/permission";
  // Probot's throttling plugin tries a used-up quota three more times, at once when no reset is given.
  h.double.failNext(route, 403, 4, { "x-ratelimit-remaining": "0" });
  const before = h.double.requests.length;
  await h.comment("/bisect v1.0..main -- npm test", { issueNumber: 44 });
  await h.settle();
  const { rows } = await h.db.client.query<{ wait: number; error: string }>(
    "select extract(epoch from run_at - now())::float as wait, error from public.bisect_tasks where kind = 'command' and issue_number = 44 and state = 'pending'",
  );
  expect(
    h.double.requests
      .slice(before)
      .filter((r) => r.route === route)
      .map((r) => r.status),
  ).toEqual([403, 403, 403, 403]);
  expect(rows).toHaveLength(1);
  expect(rows[0]!.wait).toBeGreaterThan(55);
  expect(rows[0]!.error).toContain("API rate limit exceeded");
  await waitIsOver();
  await h.settle();
  expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 44 }))?.state).toBe("dispatched");
});

it("a 502 from GitHub on the GraphQL query is retried by Probot and the bisect starts", async () => {
  h.double.failNext("POST /graphql", 502, 1);
  await h.comment("/bisect v1.0..main -- npm test", { issueNumber: 43 });
  await h.settle();
  expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 43 }))?.state).toBe("dispatched");
  expect(h.double.requests.filter((r) => r.route === "POST /graphql").map((r) => r.status)).toContain(502);
});

describe("how long an error is waited out", () => {
  const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);
  /** An error as Octokit raises it from GitHub's answer. */
  const answer = (status: number, message: string, headers: Record<string, string> = {}) => ({ status, response: { status, headers, data: { message } } });
  const SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";

  it.each([
    { what: "a secondary limit (403) that names no time", error: answer(403, SECONDARY), wait: 60 },
    { what: "a secondary limit with an empty retry-after", error: answer(403, SECONDARY, { "retry-after": "" }), wait: 60 },
    { what: "a 429 that names no time", error: answer(429, "Too Many Requests"), wait: 60 },
    { what: "the quota used up, no reset given", error: answer(403, "API rate limit exceeded for installation.", { "x-ratelimit-remaining": "0" }), wait: 60 },
    { what: "the older abuse detection", error: answer(403, "You have triggered an abuse detection mechanism."), wait: 60 },
    { what: "retry-after: 120", error: answer(403, SECONDARY, { "retry-after": "120" }), wait: 120 },
    {
      what: "the quota used up until a reset 5 minutes away",
      error: answer(403, "API rate limit exceeded for installation.", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(NOW / 1000 + 300) }),
      wait: 300,
    },
    { what: "the installation paused by another request, 42.3 s left", error: new InstallationPausedError(7, 42.3, SECONDARY), wait: 43 },
  ])("$what: a rate limit, waited $wait s at least, never permanent", ({ error, wait }) => {
    expect(isRateLimited(error)).toBe(true);
    expect(isPermanent(error)).toBe(false);
    expect(retryAfterSeconds(error, NOW)).toBe(wait);
  });

  it.each([
    { what: "a 403 refusing a permission", error: answer(403, "Resource not accessible by integration"), permanent: true },
    { what: "a 502", error: answer(502, "Bad Gateway"), permanent: false },
    { what: "an error of our own", error: new Error("socket hang up"), permanent: false },
  ])("$what: no rate limit, and no wait of its own", ({ error, permanent }) => {
    expect(isRateLimited(error)).toBe(false);
    expect(isPermanent(error)).toBe(permanent);
    expect(retryAfterSeconds(error, NOW)).toBe(0);
  });
});
