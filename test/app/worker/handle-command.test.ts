/**
 * The App from a `/bisect` comment to a dispatched workflow run, as a user sees it on GitHub:
 * signed webhooks in, the OpenAPI- and GraphQL-checked GitHub double out (test/support/
 * github-double), real git repositories behind it, a real store. Every test ends by checking that
 * the App made no request GitHub's own descriptions would refuse.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startHarness, OWNER, REPO, type Harness } from "../../support/app-harness.js";

const FULL = `${OWNER}/${REPO}`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());
afterEach(() => {
  expect(h.double.violations).toEqual([]);
});

/** The App's comments on an issue, newest last. */
const replies = (issue = 42) => h.appComments(issue).map((c) => c.body);

describe("a /bisect comment from a maintainer", () => {
  it("is answered 200 at once, and the worker reacts, posts one status comment and dispatches the workflow with SHAs", async () => {
    const before = h.double.dispatches.length;
    const requests = h.double.requests.length;
    const response = await h.comment("/bisect v1.0..main -- npm test", { issueNumber: 1 });
    expect(response.status).toBe(200);
    // The webhook only stored the comment: GitHub was not even asked anything yet.
    expect(h.double.requests.length).toBe(requests);
    expect(await h.store.call("latestJob", { repositoryId: 5_000_000_101, issueNumber: 1 })).toBeUndefined();
    // A worker checks who asked and resolves the refs: a job, not yet dispatched.
    await h.accept();
    expect(h.double.dispatches.length).toBe(before);
    const job = await h.store.call("latestJob", { repositoryId: 5_000_000_101, issueNumber: 1 });
    expect(job).toMatchObject({
      state: "queued",
      good_refs: ["v1.0"],
      bad_ref: "main",
      good_shas: [h.repo.sha["v1.0"]],
      bad_sha: h.repo.sha.main,
      command: "npm test",
      requester: "maintainer",
    });

    await h.settle();
    const dispatch = h.double.dispatches.at(-1)!;
    expect(h.double.dispatches.length).toBe(before + 1);
    expect(dispatch).toMatchObject({ repository: FULL, workflow: "bisect.yml", ref: "main", returnRunDetails: true });
    expect(dispatch.inputs).toMatchObject({
      job_id: String(job!.id),
      good: h.repo.sha["v1.0"],
      bad: h.repo.sha.main,
      command: "npm test",
      mode: "bisect",
      commits: "",
    });
    expect(JSON.parse(dispatch.inputs.options!)).toEqual({
      first_parent: false,
      flaky: false,
      find_fix: false,
      parallel: 1,
      confidence: 0.99,
      step_timeout: 0,
      confirm: 0,
      known: [],
    });

    const after = await h.store.call("getJob", { jobId: job!.id });
    expect(after).toMatchObject({ state: "dispatched", attempts: 1 });
    expect(after!.run_id).toBe(h.double.runs.at(-1)!.id);
    expect(h.double.reactions(FULL, job!.comment_id!)).toEqual(["eyes"]);
    const comments = h.appComments(1);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.id).toBe(after!.status_comment_id);
    expect(comments[0]!.body).toContain(`Bisect #${job!.id}`);
    expect(comments[0]!.body).toContain("15 commits");
    expect(comments[0]!.body).toContain(after!.run_url!);
    // GitHub calls from comment to running workflow (token exchanges aside): one of each.
    const calls = h.double.requests
      .slice(requests)
      .filter((r) => !r.route.includes("access_tokens"))
      .map((r) => r.route);
    expect(calls.sort()).toEqual(
      [
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
        "POST /graphql",
        "GET /repos/{owner}/{repo}/compare/{basehead}",
        "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
      ].sort(),
    );
  });

  it("takes the command from a fenced block, flags, and several goods", async () => {
    const body = [
      "Let's find it:",
      "",
      "/bisect v1.0,c-tip~2..main --flaky --parallel 3 --first-parent --timeout 45m",
      "```sh",
      "npm ci",
      "npm test -- --grep parser",
      "```",
    ].join("\n");
    await h.comment(body, { issueNumber: 2 });
    await h.settle();
    const dispatch = h.double.dispatches.at(-1)!;
    expect(dispatch.inputs.command).toBe("npm ci\nnpm test -- --grep parser");
    expect(dispatch.inputs.good).toBe(`${h.repo.sha["v1.0"]},${h.repo.sha.c10}`);
    expect(JSON.parse(dispatch.inputs.options!)).toEqual({
      first_parent: true,
      flaky: true,
      find_fix: false,
      parallel: 3,
      confidence: 0.99,
      step_timeout: 0,
      confirm: 0,
      known: [],
    });
    const job = await h.store.call("latestJob", { repositoryId: 5_000_000_101, issueNumber: 2 });
    expect(job!.options).toMatchObject({ timeoutSeconds: 2700, commits: 5 });
  });

  it("on a pull request, /bisect alone bisects from where it left its base to its head", async () => {
    h.double.addPullRequest(FULL, { number: 7, baseRef: "main", headRef: "feature" });
    // feature was merged into main already: base..head holds nothing. A fresh branch does.
    h.double.addPullRequest(FULL, { number: 8, baseRef: "v1.0-branch", headRef: "feature" });
    await h.comment("/bisect", { issueNumber: 7, pullRequest: true });
    await h.settle();
    expect(replies(7).at(-1)).toContain("adds no commits");
  });

  it("/bisect help and /bisect status answer anyone; status reports the job from the database", async () => {
    await h.comment("/bisect help", { issueNumber: 3, login: "passer-by" });
    await h.comment("/bisect status", { issueNumber: 1, login: "passer-by" });
    await h.settle();
    expect(replies(3).at(-1)).toContain("/bisect <good>..<bad> -- <command>");
    expect(replies(1).at(-1)).toMatch(/Bisect #\d+ .* is \*\*dispatched, waiting for a runner\*\*/);
  });
});

describe("refusals and mistakes are replies that say what to fix", () => {
  const cases: [string, string, RegExp][] = [
    ["unknown ref", "/bisect v9.9..main -- npm test", /could not find `v9\.9` in `octo-org\/widgets`/],
    ["swapped range", "/bisect main..v1.0 -- npm test", /`main` comes after `v1\.0`.*`\/bisect v1\.0\.\.main`/],
    ["diverged", "/bisect feature..main~3 -- npm test", /`feature` is not an ancestor of `main~3`: they split at `[0-9a-f]{7}`/],
    ["same commit", "/bisect main~1..c-tip -- npm test", /`main~1` and `c-tip` are the same commit/],
    ["malformed", "/bisect v1.0..main --paralel 3 -- npm test", /did you mean `--parallel`/],
    ["no command", "/bisect v1.0..main", /Which command should tell good from bad/],
    ["tree, not a commit", "/bisect main:.github..main -- npm test", /./],
  ];
  it.each(cases)("%s", async (_name, body, expected) => {
    const dispatches = h.double.dispatches.length;
    const issue = 100 + cases.findIndex((c) => c[1] === body);
    const response = await h.comment(body, { issueNumber: issue });
    expect(response.status).toBe(200);
    await h.settle();
    expect(h.double.dispatches.length).toBe(dispatches);
    expect(await h.store.call("latestJob", { repositoryId: 5_000_000_101, issueNumber: issue })).toBeUndefined();
    const mine = replies(issue);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(expected);
  });
});
