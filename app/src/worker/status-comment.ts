import type { Logger } from "probot";
import { httpStatus, type Octokit, type RepoRef } from "../github/octokit.js";
import { statusComment, type StatusPhase } from "../messages/status-comment.js";
import type { ClaimedJob, JobRow, Store } from "../store/store.js";
import { describeError } from "./github-errors.js";

/** Where a job's thread is: its repository, from `owner/name`. */
export function repoRef(row: { id: number; repository: string }): RepoRef {
  const [owner, repo] = row.repository.split("/");
  if (!owner || !repo) throw new Error(`${row.id} names no owner/repo: '${row.repository}'`);
  return { owner, repo };
}

/** 👀 on the command: taken. A courtesy — a deleted comment or a refused reaction stops nothing. */
export async function react(octokit: Octokit, job: JobRow, log: Logger): Promise<void> {
  try {
    await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", {
      ...repoRef(job),
      comment_id: job.comment_id,
      content: "eyes",
    });
  } catch (error) {
    log.warn({ job: job.id, error: describeError(error) }, "could not react to the command");
  }
}

/**
 * Writes `body` as the job's status comment: edits it when there is one (a deleted one is
 * posted again), else posts it. Answers the id of the comment written.
 */
async function putComment(octokit: Octokit, job: JobRow, body: string): Promise<number> {
  const where = repoRef(job);
  if (job.status_comment_id !== null) {
    try {
      await octokit.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", { ...where, comment_id: job.status_comment_id, body });
      return job.status_comment_id;
    } catch (error) {
      // Someone deleted the status comment: post a new one rather than lose the update.
      if (httpStatus(error) !== 404) throw error;
    }
  }
  const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...where, issue_number: job.issue_number, body });
  return Number(data.id);
}

/**
 * Shows the job on its thread: posts the status comment the first time (remembered on the job,
 * so later updates edit it), edits it afterwards. Returns false when the lease was lost meanwhile
 * (another worker has the job).
 */
export async function showStatus(octokit: Octokit, job: ClaimedJob, store: Store, phase: StatusPhase): Promise<boolean> {
  const written = await putComment(octokit, job, statusComment(job, job.options, phase));
  if (written === job.status_comment_id) return true;
  // Known to this worker even when the store refuses it (lease lost), so it can still edit it.
  job.status_comment_id = written;
  return store.call("setStatusComment", { jobId: job.id, token: job.token, commentId: written });
}

/**
 * Writes the job's final word: edits its status comment, or posts one if it never had one. A
 * failure is logged, not thrown: the job's state is recorded either way and `/bisect status`
 * still answers.
 */
export async function writeComment(octokit: Octokit, job: JobRow, body: string, log: Logger): Promise<void> {
  try {
    await putComment(octokit, job, body);
  } catch (error) {
    log.warn({ job: job.id, error: describeError(error) }, "could not write the job's comment");
  }
}
