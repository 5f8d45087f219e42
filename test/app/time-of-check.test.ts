/**
 * Time of check and time of use (§6 test 22): `/bisect` alone on a pull request bisects its
 * base..head, and a worker reads the head after the comment — seconds later, or minutes under
 * load. A fork's author who pushes in between must not get the new head bisected: the App knows
 * where the head was from the `pull_request` webhooks, and refuses (saying so) when it moved
 * after the comment. Refs anyone with a pull request can move (`pull/<n>/head`) are refused in a
 * range. Against the GitHub double (the pull request's head is a branch of a real repository:
 * moving it is a push) and real PostgreSQL; waits are never slept through, the due times move.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOCK_MARGIN_SECONDS, HEAD_GRACE_SECONDS, headAsCommented } from "../../app/src/worker/handle-command.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, startHarness, type Harness } from "../support/app-harness.js";
import { git } from "../support/dag-repo.js";
import { deliver, pullRequestPayload } from "../support/webhooks.js";

const FULL = `${OWNER}/${REPO}`;
const DISPATCH = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";

let h: Harness;
let pr = 200;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** A pull request from v1.0 to a branch of its own at `at`; answers its number. */
async function openPullRequest(at: string): Promise<number> {
  pr++;
  await git(h.repo.dir, ["branch", `pr-${pr}`, at]);
  h.double.addPullRequest(FULL, { number: pr, baseRef: "v1.0-branch", headRef: `pr-${pr}` });
  return pr;
}

/** Someone pushes to the pull request's branch: its head moves to `to`. */
const push = (n: number, to: string) => git(h.repo.dir, ["update-ref", `refs/heads/pr-${n}`, to]);

/** GitHub's pull_request webhook saying the head is `headSha`. */
async function prEvent(action: "opened" | "synchronize", n: number, headSha: string) {
  const payload = pullRequestPayload({ action, owner: OWNER, repo: REPO, repositoryId: REPOSITORY_ID, installationId: INSTALLATION_ID, number: n, headSha });
  expect((await deliver(`${h.server.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "pull_request", payload })).status).toBe(200);
}

/** What the App heard happened a minute ago (before the comment, past any clock margin). */
const heardAMinuteAgo = (n: number) =>
  h.db.client.query("update public.bisect_pull_request_heads set moved_at = now() - interval '1 minute' where pr_number = $1", [n]);

/** The maintainer comments `/bisect` on the pull request, now. */
async function bisectNow(n: number, body = "/bisect -- npm test") {
  expect((await h.comment(body, { issueNumber: n, pullRequest: true, createdAt: new Date().toISOString() })).status).toBe(200);
}

/** Time passes: the comment was written `seconds` ago (more than HEAD_GRACE_SECONDS), and its command is due. */
const waitIsOver = (n: number, seconds: number) =>
  h.db.client.query(
    `update public.bisect_tasks set run_at = now(),
       payload = jsonb_set(payload, '{commentedAt}', to_jsonb(to_char((now() - make_interval(secs => $2)) at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
     where kind = 'command' and issue_number = $1`,
    [n, seconds],
  );

const replies = (n: number) => h.appComments(n).map((c) => c.body);
const dispatches = () => h.double.requests.filter((r) => r.route === DISPATCH).length;
const jobOf = (n: number) => h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: n });
const commandOf = async (n: number) =>
  (
    await h.db.client.query<{ state: string; attempts: number; wait: number; error: string | null }>(
      "select state, attempts, extract(epoch from run_at - now())::float as wait, error from public.bisect_tasks where kind = 'command' and issue_number = $1",
      [n],
    )
  ).rows[0];

describe("a push after the comment is not bisected", () => {
  it("pushed 1 s after the comment, its webhook in before a worker took the command: refused, saying the head moved; nothing started", async () => {
    const n = await openPullRequest(h.repo.sha.c6!);
    await prEvent("opened", n, h.repo.sha.c6!);
    await heardAMinuteAgo(n);
    const before = dispatches();
    await bisectNow(n);
    await push(n, h.repo.sha.c8!);
    await prEvent("synchronize", n, h.repo.sha.c8!);
    await h.settle();
    expect(await jobOf(n)).toBeUndefined();
    expect(dispatches()).toBe(before);
    const [reply, ...more] = replies(n);
    expect(more).toEqual([]);
    expect(reply).toContain(`The head of this pull request moved to \`${h.repo.sha.c8!.slice(0, 7)}\` after your comment, so nothing was started`);
  });

  it("pushed after the comment, read by a worker before its webhook came: the command waits for it; none coming, refused, naming the head the comment saw", async () => {
    const n = await openPullRequest(h.repo.sha.c6!);
    await prEvent("opened", n, h.repo.sha.c6!);
    await heardAMinuteAgo(n);
    const before = dispatches();
    await bisectNow(n);
    await push(n, h.repo.sha.c8!);
    await h.settle();
    expect(await commandOf(n)).toMatchObject({ state: "pending", attempts: 0 });
    expect(replies(n)).toEqual([]);
    await waitIsOver(n, 30);
    await h.settle();
    expect(await jobOf(n)).toBeUndefined();
    expect(dispatches()).toBe(before);
    expect(replies(n)).toEqual([
      expect.stringContaining(`moved from \`${h.repo.sha.c6!.slice(0, 7)}\` to \`${h.repo.sha.c8!.slice(0, 7)}\` after your comment`),
    ]);
    expect(replies(n)[0]).toContain(`/bisect v1.0-branch..${h.repo.sha.c6!.slice(0, 7)} -- <test command>`);
  });

  it("on a pull request the App heard nothing of: the command waits for the webhooks, uncounted, and the push they bring is refused", async () => {
    const n = await openPullRequest(h.repo.sha.c6!);
    const before = dispatches();
    await bisectNow(n);
    await push(n, h.repo.sha.c8!);
    await h.settle();
    // The push's webhook may be on its way: no answer yet, no attempt spent.
    const waiting = await commandOf(n);
    expect(waiting).toMatchObject({ state: "pending", attempts: 0 });
    expect(waiting!.wait).toBeGreaterThan(HEAD_GRACE_SECONDS - 5);
    expect(waiting!.wait).toBeLessThanOrEqual(HEAD_GRACE_SECONDS);
    expect(replies(n)).toEqual([]);
    await prEvent("synchronize", n, h.repo.sha.c8!);
    await h.db.client.query("update public.bisect_tasks set run_at = now() where kind = 'command' and issue_number = $1", [n]);
    await h.settle();
    expect(await jobOf(n)).toBeUndefined();
    expect(dispatches()).toBe(before);
    expect(replies(n)).toEqual([expect.stringContaining("moved to")]);
    expect(await commandOf(n)).toMatchObject({ state: "done", attempts: 1 });
  });
});

describe("the head the maintainer saw is bisected", () => {
  it("nothing pushed since the App heard of the head: bisected at once, at that head", async () => {
    const n = await openPullRequest(h.repo.sha.c6!);
    await prEvent("opened", n, h.repo.sha.c6!);
    await heardAMinuteAgo(n);
    await bisectNow(n);
    await h.settle();
    expect(await jobOf(n)).toMatchObject({ state: "dispatched", bad_sha: h.repo.sha.c6, good_shas: [h.repo.sha["v1.0"]], bad_ref: `pr-${n}` });
  });

  it("a push well before the comment: its head is bisected", async () => {
    const n = await openPullRequest(h.repo.sha.c6!);
    await prEvent("opened", n, h.repo.sha.c6!);
    await push(n, h.repo.sha.c8!);
    await prEvent("synchronize", n, h.repo.sha.c8!);
    await heardAMinuteAgo(n);
    await bisectNow(n);
    await h.settle();
    expect(await jobOf(n)).toMatchObject({ state: "dispatched", bad_sha: h.repo.sha.c8 });
  });

  it("a pull request older than the App, untouched: bisected once the wait for webhooks is over", async () => {
    const n = await openPullRequest(h.repo.sha.c6!);
    await bisectNow(n);
    await h.settle();
    expect(await commandOf(n)).toMatchObject({ state: "pending", attempts: 0 });
    // The wait is over, and no webhook came.
    await waitIsOver(n, 30);
    await h.settle();
    expect(await jobOf(n)).toMatchObject({ state: "dispatched", bad_sha: h.repo.sha.c6 });
    expect(await commandOf(n)).toMatchObject({ state: "done", attempts: 1 });
  });
});

describe("refs a pull request's author can move", () => {
  it.each(["pull/77/head", "refs/pull/77/head", "pull/77/merge"])("%s in a range is refused: the commit must be named by its SHA", async (ref) => {
    const n = ++pr;
    const before = dispatches();
    expect((await h.comment(`/bisect v1.0..${ref} -- npm test`, { issueNumber: n })).status).toBe(200);
    await h.settle();
    expect(await jobOf(n)).toBeUndefined();
    expect(dispatches()).toBe(before);
    expect(replies(n)).toEqual([expect.stringContaining(`\`${ref}\` is moved by whoever pushes to that pull request`)]);
  });
});

describe("headAsCommented: the rule, at its edges", () => {
  const T = new Date("2026-12-05T12:00:00Z");
  const at = (seconds: number) => new Date(T.getTime() + seconds * 1000);
  const A = "a".repeat(40);
  const B = "b".repeat(40);

  it.each([
    { what: "heard at the head since well before the comment", heard: { head_sha: A, moved_at: at(-60) }, now: at(1), check: { kind: "ok" } },
    { what: "heard to move after the comment", heard: { head_sha: A, moved_at: at(1) }, now: at(2), check: { kind: "moved", seen: null } },
    {
      what: "heard to move just inside the clock margin before it",
      heard: { head_sha: A, moved_at: at(-CLOCK_MARGIN_SECONDS + 1) },
      now: at(2),
      check: { kind: "moved", seen: null },
    },
    {
      what: "another head heard, within the wait",
      heard: { head_sha: B, moved_at: at(-60) },
      now: at(5),
      check: { kind: "wait", seconds: HEAD_GRACE_SECONDS - 5 },
    },
    { what: "another head heard, the wait over", heard: { head_sha: B, moved_at: at(-60) }, now: at(HEAD_GRACE_SECONDS), check: { kind: "moved", seen: B } },
    { what: "nothing heard, within the wait", heard: undefined, now: at(0.5), check: { kind: "wait", seconds: HEAD_GRACE_SECONDS } },
    { what: "nothing heard, the wait over", heard: undefined, now: at(HEAD_GRACE_SECONDS + 1), check: { kind: "ok" } },
  ])("$what", ({ heard, now, check }) => {
    expect(headAsCommented(A, heard, T, now)).toEqual(check);
  });
});
