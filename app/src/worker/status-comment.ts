import type { Logger } from "probot";
import { jobOptionsSchema, type JobOptions } from "../job-options.js";
import { httpStatus, type Octokit, type RepoRef } from "../github/octokit.js";
import { statusComment, type StatusPhase } from "../messages/status-comment.js";
import type { ClaimedJob, JobRow, Store } from "../store/store.js";
import { describeError } from "./github-errors.js";

export function repoRef(job: JobRow): RepoRef {
  const [owner, repo] = job.repository.split("/");
  if (!owner || !repo) throw new Error(`job ${job.id} names no owner/repo: '${job.repository}'`);
  return { owner, repo };
}

export function jobOptions(job: JobRow): JobOptions {
  return jobOptionsSchema.parse(job.options);
}

/** 👀 on the command: taken. A courtesy — a deleted comment or a refused reaction stops nothing. */
export async function react(octokit: Octokit, job: JobRow, log: Logger): Promise<void> {
  try {
    await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", { ...repoRef(job), comment_id: job.comment_id, content: "eyes" });
  } catch (error) {
    log.warn({ job: job.id, error: describeError(error) }, "could not react to the command");
  }
}

/**
 * Shows the job on its thread: posts the status comment the first time (remembered on the job,
 * so later updates edit it), edits it afterwards. Returns false when the lease was lost meanwhile
 * (another worker has the job).
 */
export async function showStatus(octokit: Octokit, claimed: ClaimedJob, store: Store, phase: StatusPhase): Promise<boolean> {
  const { job } = claimed;
  const where = repoRef(job);
  const body = statusComment(job, jobOptions(job), phase);
  if (job.status_comment_id !== null) {
    try {
      await octokit.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", { ...where, comment_id: job.status_comment_id, body });
      return true;
    } catch (error) {
      // Someone deleted the status comment: post a new one rather than fail the job.
      if (httpStatus(error) !== 404) throw error;
    }
  }
  const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...where, issue_number: job.issue_number, body });
  // Known to this worker even when the store refuses it (lease lost), so it can still edit it.
  job.status_comment_id = Number(data.id);
  return store.setStatusComment(job.id, claimed.token, job.status_comment_id);
}

/**
 * Writes the job's final word: edits its status comment, or posts one if it never had one. A
 * failure is logged, not thrown: the job's state is recorded either way and `/bisect status`
 * still answers.
 */
export async function writeComment(octokit: Octokit, job: JobRow, body: string, log: Logger): Promise<void> {
  const where = repoRef(job);
  try {
    if (job.status_comment_id !== null) {
      try {
        await octokit.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", { ...where, comment_id: job.status_comment_id, body });
        return;
      } catch (error) {
        // The status comment was deleted: the answer still gets posted.
        if (httpStatus(error) !== 404) throw error;
      }
    }
    await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...where, issue_number: job.issue_number, body });
  } catch (error) {
    log.warn({ job: job.id, error: describeError(error) }, "could not write the job's comment");
  }
}
