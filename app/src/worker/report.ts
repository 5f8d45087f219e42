/**
 * An automatic bisect named a culprit: the issue that says so (label `bisect`), then a comment on
 * the culprit's pull request pointing to it. Once per job: the task is queued before the answer is
 * recorded and waits for it; a retry of the task (its worker died mid-way) looks for what an
 * earlier try posted, by the job's marker, before posting again.
 */
import { z } from "zod";
import type { Octokit, RepoRef } from "../github/octokit.js";
import { culpritMarker, culpritPullRequestComment, REPORT_LABEL } from "../messages/auto-report.js";
import { isStatusCommentOf } from "../messages/status-comment.js";
import type { ClaimedTask, JobRow } from "../store/store.js";
import { PermanentError } from "./github-errors.js";
import { NotYet } from "./not-yet.js";
import { repoRef } from "./status-comment.js";
import type { WorkerDeps } from "./worker.js";

type ReportTask = Extract<ClaimedTask, { kind: "report" }>;

const ACTIVE = new Set(["queued", "dispatching", "dispatched", "running"]);
/** How long a report waits before looking at its job again. */
const WAIT_SECONDS = 30;
/** GitHub's clock and ours differ a little. */
const CLOCK_SKEW_MS = 60_000;

const listedSchema = z.array(z.object({ number: z.int(), body: z.string().nullable().optional(), pull_request: z.unknown().optional() }));
const createdSchema = z.object({ number: z.int() });

/** The issue an earlier try opened for the job (found by its marker), if any. */
async function findIssue(octokit: Octokit, where: RepoRef, job: JobRow): Promise<number | null> {
  const since = new Date(job.created_at.getTime() - CLOCK_SKEW_MS).toISOString();
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/issues", { ...where, labels: REPORT_LABEL, state: "all", since, per_page: 100 });
  const found = listedSchema.parse(data).find((i) => i.pull_request === undefined && isStatusCommentOf(i.body ?? "", job.id));
  return found?.number ?? null;
}

/** Whether an earlier try commented on the pull request already. */
async function commented(octokit: Octokit, where: RepoRef, job: JobRow, pullRequest: number): Promise<boolean> {
  const since = new Date(job.created_at.getTime() - CLOCK_SKEW_MS).toISOString();
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", {
    ...where,
    issue_number: pullRequest,
    since,
    per_page: 100,
  });
  return z
    .array(z.object({ body: z.string().optional() }))
    .parse(data)
    .some((c) => (c.body ?? "").split(/\r?\n/, 1)[0] === culpritMarker(job.id));
}

export async function reportJob(task: ReportTask, deps: WorkerDeps): Promise<string> {
  const { store } = deps;
  const job = await store.call("getJob", { jobId: task.job_id });
  if (!job) return "not needed: the job is gone";
  if (ACTIVE.has(job.state)) throw new NotYet(WAIT_SECONDS, "the job has not recorded its answer yet");
  const { culpritSha, pullRequest, title, body } = task.payload;
  if (job.state !== "succeeded" || job.verdict !== "culprit" || job.culprit_sha !== culpritSha)
    return `not needed: the job ended ${job.state}${job.verdict === null ? "" : ` (${job.verdict})`} without this culprit`;
  if (job.installation_id === null) throw new PermanentError("the job names no installation");
  const octokit = await deps.octokitFor(job.installation_id);
  const where = repoRef(job);
  const retried = task.attempts > 1;

  let issue = job.issue_number;
  if (issue === null) {
    issue = retried ? await findIssue(octokit, where, job) : null;
    if (issue === null) {
      const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues", { ...where, title, body, labels: [REPORT_LABEL] });
      issue = createdSchema.parse(data).number;
    }
    if (!(await store.call("setJobIssue", { jobId: job.id, issueNumber: issue }))) throw new Error(`job ${job.id} has another issue than #${issue}`);
  }
  if (pullRequest !== null && !(retried && (await commented(octokit, where, job, pullRequest)))) {
    await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
      ...where,
      issue_number: pullRequest,
      body: culpritPullRequestComment(job, culpritSha, issue),
    });
  }
  return `issue #${issue}${pullRequest === null ? "" : `; told pull request #${pullRequest}`}`;
}
