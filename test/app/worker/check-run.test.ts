/**
 * The App, part 2: from a completed workflow run back to the thread. The run's artifact is read
 * as hostile input; webhooks may come late, twice, out of order or not at all; infrastructure
 * failures are retried; runs past their time limit are cancelled. All against the OpenAPI-checked
 * GitHub double and a real store; the final comment is checked against a golden file.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { JobRow } from "../../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, startHarness, type Harness } from "../../support/app-harness.js";
import { dispatchedKnown } from "../../support/dispatched-known.js";
import { BLOB_ROUTE, type WorkflowRunRecord } from "../../support/github-double/index.js";
import { workflowRunPayload } from "../../support/run-webhooks.js";
import { deliver } from "../../support/webhooks.js";
import { makeZip, resultZip } from "../../support/zip.js";

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), "golden");
const FULL = `${OWNER}/${REPO}`;
const HOSTILE_SUBJECT = "Speed up @org/team parser <img src=x onerror=alert(1)> [docs](javascript:alert(1)) #1 **now**";

let h: Harness;
let issue = 0;
beforeAll(async () => {
  h = await startHarness({
    env: { RUN_CHECK_SECONDS: "1", MAX_CONCURRENT_JOBS: "50", MAX_ATTEMPTS: "3" },
    repo: { subjects: { c7: "Make the parser strict", c9: HOSTILE_SUBJECT } },
  });
  // The commits' author is a GitHub user; c7 came in through a pull request.
  h.double.addUser("author@example.com", "mona");
  h.double.addPullRequest(FULL, { number: 77, baseRef: "main", headRef: "c-tip", title: "Parser: be strict", mergeCommitSha: h.repo.sha.c7 });
});
afterAll(() => h?.close());
afterEach(() => {
  expect(h.double.violations).toEqual([]);
});

async function dispatched(body = "/bisect v1.0..main -- npm test"): Promise<JobRow> {
  issue++;
  expect((await h.comment(body, { issueNumber: issue })).status).toBe(200);
  await h.settle();
  const job = (await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue }))!;
  expect(job.state).toBe("dispatched");
  return job;
}

function runOf(job: JobRow): WorkflowRunRecord {
  return h.double.runs.filter((r) => r.inputs.job_id === String(job.id)).at(-1)!;
}

/** The result document the Action would leave for this job. */
function resultDocument(job: JobRow, culprit: string, overrides: Record<string, unknown> = {}) {
  const probes = [
    { sha: h.repo.sha.c4, verdict: "good", exitCode: 0, durationMs: 1200, round: 1 },
    { sha: h.repo.sha.c10, verdict: "bad", exitCode: 1, durationMs: 1300, round: 2 },
    { sha: h.repo.sha.c6, verdict: "good", exitCode: 0, durationMs: 1250, round: 3 },
    { sha: culprit, verdict: "bad", exitCode: 1, durationMs: 1400, round: 4 },
  ];
  return {
    schema: 1,
    jobId: String(job.id),
    verdict: "culprit",
    culprit: { sha: culprit, confidence: 1 },
    candidates: [culprit],
    range: { good: job.good_shas, bad: job.bad_sha, size: 15 },
    probes,
    tested: 4,
    rounds: 4,
    ...overrides,
  };
}

function sendRunEvent(run: WorkflowRunRecord, action: "in_progress" | "completed", deliveryId?: string) {
  const payload = workflowRunPayload(run, action, INSTALLATION_ID, { id: REPOSITORY_ID, owner: OWNER, name: REPO }, { url: h.double.url });
  return deliver(`${h.server.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "workflow_run", payload, ...(deliveryId ? { id: deliveryId } : {}) });
}

/** The run finishes with this artifact (or none), and GitHub says so. */
async function finish(job: JobRow, zip: Buffer | null, conclusion: "success" | "failure" | "cancelled" = "success", options: { sizeOverride?: number } = {}) {
  const run = runOf(job);
  h.double.completeRun(run.id, { conclusion, artifact: zip ? { zip, ...options } : null });
  expect((await sendRunEvent(run, "completed")).status).toBe(200);
  await h.settle();
  return run;
}

/** What changes from run to run (ports, ids, durations, the fixture's SHAs), made stable for the golden file. */
function stable(markdown: string, job: JobRow): string {
  let text = markdown;
  for (const [name, sha] of Object.entries(h.repo.sha)) text = text.replaceAll(sha, `<${name}>`).replaceAll(sha.slice(0, 7), `<${name}:7>`);
  return text
    .replaceAll(h.double.url, "https://github.example")
    .replace(/\/actions\/runs\/\d+/g, "/actions/runs/RUN")
    .replaceAll(`#${job.id}`, "#JOB")
    .replace(/· \d+(\.\d+)? (ms|s|min)( \d+ s)? \|/g, "· DURATION |");
}

async function golden(name: string, actual: string) {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === "1") await writeFile(file, actual);
  expect(actual).toBe(await readFile(file, "utf8"));
}

describe("a run that finishes", () => {
  it("comment → dispatch → workflow_run completed → artifact → result comment, in at most 13 GitHub calls (two of them check the culprit lies in the range, one lists its files)", async () => {
    const requests = h.double.requests.length;
    const job = await dispatched();
    const run = runOf(job);
    h.double.startRun(run.id);
    await sendRunEvent(run, "in_progress");
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "running" });

    await finish(job, resultZip(String(job.id), resultDocument(job, h.repo.sha.c7!)));
    const after = (await h.store.call("getJob", { jobId: job.id }))!;
    expect(after).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: h.repo.sha.c7, tested: 4, rounds: 4 });
    expect(await h.store.call("jobProbes", { jobId: job.id })).toHaveLength(4);

    const [comment, ...more] = h.appComments(issue);
    expect(more).toEqual([]);
    expect(comment!.id).toBe(after.status_comment_id);
    expect(comment!.body).toContain("is the first bad commit");
    expect(comment!.body).toContain("Make the parser strict");
    expect(comment!.body).toContain("@mona");
    expect(comment!.body).toContain("[#77 Parser\\: be strict]");
    await golden("app-result-culprit.md", stable(comment!.body, job));

    const calls = h.double.requests.slice(requests).filter((r) => !r.route.includes("access_tokens") && r.route !== BLOB_ROUTE);
    expect(calls.length).toBeLessThanOrEqual(13);
    // One compare sizes the range before dispatching; two check the culprit is a commit of it.
    expect(calls.filter((r) => r.route.includes("/compare/"))).toHaveLength(3);
    // Its files, once: a culprit that changes no code is flagged (this one changes code: not flagged).
    expect(calls.filter((r) => r.route === "GET /repos/{owner}/{repo}/commits/{ref}")).toHaveLength(1);
    expect(comment!.body).not.toContain("Implausible");
  });

  it("events twice and out of order change nothing more; the artifact is read once", async () => {
    const job = await dispatched();
    const run = await finish(job, resultZip(String(job.id), resultDocument(job, h.repo.sha.c7!)));
    const downloads = () => h.double.requests.filter((r) => r.route === BLOB_ROUTE).length;
    const before = [downloads(), h.appComments(issue)[0]!.body];
    await sendRunEvent(run, "completed");
    await sendRunEvent(run, "in_progress");
    await sendRunEvent(run, "completed");
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "succeeded", verdict: "culprit" });
    expect([downloads(), h.appComments(issue)[0]!.body]).toEqual(before);
  });

  it("with every workflow_run webhook lost, the reconciler alone ends the job within 2 intervals", async () => {
    const job = await dispatched();
    h.double.completeRun(runOf(job).id, { conclusion: "success", artifact: { zip: resultZip(String(job.id), resultDocument(job, h.repo.sha.c7!)) } });
    // RUN_CHECK_SECONDS is 1 here: two intervals.
    for (let i = 0; i < 2 && (await h.store.call("getJob", { jobId: job.id }))!.state !== "succeeded"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await h.settle();
    }
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "succeeded", culprit_sha: h.repo.sha.c7 });
    expect(h.appComments(issue)[0]!.body).toContain("is the first bad commit");
  });

  it("escapes what the run and the commit bring: no @team ping, no HTML, no links of theirs", async () => {
    const job = await dispatched();
    await finish(job, resultZip(String(job.id), resultDocument(job, h.repo.sha.c9!)));
    const body = h.appComments(issue)[0]!.body;
    expect(body).toContain("is the first bad commit");
    expect(body).not.toMatch(/(^|[^&#\w])@org\/team/);
    expect(body).not.toContain("<img");
    expect(body).not.toContain("](javascript:");
  });
});

describe("infrastructure failures", () => {
  it("a run that always fails without a result: exactly MAX_ATTEMPTS dispatches, then one clear failure comment with the run link", async () => {
    const job = await dispatched();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await finish(job, null, "failure");
      const now = (await h.store.call("getJob", { jobId: job.id }))!;
      if (attempt < 3) {
        expect(now).toMatchObject({ state: "queued", attempts: attempt });
        // The backoff has passed.
        await h.db.client.exec(`update public.bisect_jobs set next_check_at = now() where id = ${job.id}`);
        await h.settle();
      }
    }
    const final = (await h.store.call("getJob", { jobId: job.id }))!;
    expect(final).toMatchObject({ state: "failed", attempts: 3 });
    expect(final.error).toContain("no artifact");
    expect(h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id) && d.status < 300)).toHaveLength(3);
    const comments = h.appComments(issue);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toMatch(/3 attempts/);
    expect(comments[0]!.body).toContain("/actions/runs/");
  });

  const hostile: [string, (job: JobRow) => { zip: Buffer; sizeOverride?: number }, RegExp][] = [
    ["a zip with a ../ path", (job) => ({ zip: makeZip([{ name: `../bisect-result-${job.id}.json`, data: "{}" }]) }), /path, not a plain file name/],
    [
      "a declared size of 1 GB (not even downloaded)",
      (job) => ({ zip: resultZip(String(job.id), {}), sizeOverride: 1024 ** 3 }),
      /1073741824 bytes; the limit/,
    ],
    ["malformed JSON", (job) => ({ zip: makeZip([{ name: `bisect-result-${job.id}.json`, data: "{not json" }]) }), /is not JSON/],
    [
      "a result for another job",
      (job) => ({ zip: makeZip([{ name: `bisect-result-${job.id}.json`, data: JSON.stringify({ ...resultDocument(job, h.repo.sha.c7!), jobId: "999" }) }]) }),
      /result of job "999"/,
    ],
    [
      "a number no column can hold",
      (job) => ({ zip: resultZip(String(job.id), resultDocument(job, h.repo.sha.c7!, { tested: 3_000_000_000 })) }),
      /number too large/,
    ],
    [
      // PostgreSQL refuses U+0000 in text and jsonb: before, recording the result threw, the
      // lease ran out, and every instance downloaded the artifact again until the job expired.
      "a NUL character in the error",
      (job) => ({
        zip: resultZip(
          String(job.id),
          resultDocument(job, h.repo.sha.c7!, { verdict: "error", reason: "test-failed", culprit: undefined, candidates: [], error: "boom\u0000" }),
        ),
      }),
      /holds a NUL character \(U\+0000\)/,
    ],
    [
      // A run's test code can write the result file: it must not blame (and ping) whoever it likes.
      "a culprit from before the range",
      (job) => ({ zip: resultZip(String(job.id), resultDocument(job, h.repo.sha.root!)) }),
      /the culprit [0-9a-f]{12} is not a commit of the range/,
    ],
    [
      "a culprit GitHub does not know",
      (job) => ({ zip: resultZip(String(job.id), resultDocument(job, "d".repeat(40))) }),
      /the culprit dddddddddddd is not a commit of the range/,
    ],
    [
      "a zip bomb",
      (job) => ({ zip: makeZip([{ name: `bisect-result-${job.id}.json`, data: { repeat: " ".repeat(1 << 20), times: 50 }, method: "deflate" }]) }),
      /limit is 1048576/,
    ],
  ];
  it.each(hostile)("%s is refused as an infrastructure failure, and retried", async (_name, artifact, reason) => {
    const job = await dispatched();
    const blobs = h.double.requests.filter((r) => r.route === BLOB_ROUTE).length;
    const { zip, sizeOverride } = artifact(job);
    await finish(job, zip, "success", sizeOverride ? { sizeOverride } : {});
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "queued", attempts: 1 });
    const { rows } = await h.db.client.query<{ reason: string }>(`select reason from public.bisect_attempts where job_id = ${job.id}`);
    expect(rows[0]!.reason).toMatch(reason);
    if (sizeOverride) expect(h.double.requests.filter((r) => r.route === BLOB_ROUTE).length).toBe(blobs);
    expect(h.appComments(issue)[0]!.body).not.toContain("first bad commit");
  });
});

describe("GitHub refusing the artifact", () => {
  it("a run whose artifacts GitHub no longer lists (404) is an infrastructure failure, not a job retried forever", async () => {
    const job = await dispatched();
    h.double.failNext("GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", 404, 1);
    await finish(job, resultZip(String(job.id), resultDocument(job, h.repo.sha.c7!)));
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "queued", attempts: 1 });
    const { rows } = await h.db.client.query<{ reason: string }>(`select reason from public.bisect_attempts where job_id = ${job.id}`);
    expect(rows[0]!.reason).toContain("HTTP 404");
  });
});

describe("time limits, cancel and retry", () => {
  it("a run past its time limit is cancelled through the API and the job ends timed_out, saying so", async () => {
    const job = await dispatched("/bisect v1.0..main --timeout 10m -- npm test");
    await h.db.client.exec(`update public.bisect_jobs set dispatched_at = now() - interval '11 minutes', next_check_at = now() where id = ${job.id}`);
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "timed_out" });
    expect(runOf(job)).toMatchObject({ status: "completed", conclusion: "cancelled" });
    expect(h.appComments(issue)[0]!.body).toMatch(/time limit of 10 min/);
  });

  it("/bisect cancel cancels the run; its late completed event changes nothing", async () => {
    const job = await dispatched();
    await h.comment("/bisect cancel", { issueNumber: issue });
    await h.settle();
    const run = runOf(job);
    expect(run).toMatchObject({ status: "completed", conclusion: "cancelled" });
    await sendRunEvent(run, "completed");
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "cancelled" });
  });

  it("/bisect retry after a cancel that came while dispatching starts a new run: the cancelled one is never adopted", async () => {
    const job = await dispatched();
    const cancelled = runOf(job);
    await h.comment("/bisect cancel", { issueNumber: issue });
    await h.settle();
    expect(cancelled).toMatchObject({ status: "completed", conclusion: "cancelled" });
    // As when the cancel lands between the dispatch and its recording: the run is cancelled, and
    // no attempt of the job knows it (only the dispatch intent says a run may exist).
    await h.db.client.query("update public.bisect_attempts set run_id = null where job_id = $1", [job.id]);
    await h.comment("/bisect retry", { issueNumber: issue });
    await h.settle();
    const retried = (await h.store.call("getJob", { jobId: job.id }))!;
    const runs = h.double.runs.filter((r) => r.inputs.job_id === String(job.id));
    expect(runs).toHaveLength(2);
    expect(retried).toMatchObject({ state: "dispatched", attempts: 2, run_id: runs[1]!.id });
    expect(runs[1]).toMatchObject({ status: "queued" });
  });

  it("/bisect retry of a job that ended in an error resumes with its verdicts: the new run is told what is known", async () => {
    const job = await dispatched();
    await finish(
      job,
      resultZip(String(job.id), {
        ...resultDocument(job, h.repo.sha.c7!),
        verdict: "error",
        reason: "contradiction",
        culprit: undefined,
        candidates: [],
        error: "contradictory verdicts",
      }),
      "failure",
    );
    expect(await h.store.call("getJob", { jobId: job.id })).toMatchObject({ state: "failed", verdict: "error", reason: "contradiction" });
    await h.comment("/bisect retry", { issueNumber: issue });
    await h.settle();
    const retried = (await h.store.call("getJob", { jobId: job.id }))!;
    expect(retried).toMatchObject({ state: "dispatched", attempts: 2 });
    const known = dispatchedKnown(h.double.dispatches.at(-1)!.inputs.options!);
    expect(known).toEqual(resultDocument(job, h.repo.sha.c7!).probes.map((p) => ({ sha: p.sha, verdict: p.verdict })));
  });
});
