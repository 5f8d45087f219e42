import type { Logger } from "probot";
import { z } from "zod";
import { httpStatus, type Octokit, type RepoRef } from "../github/octokit.js";
import { isStatusCommentOf, statusComment, type StatusPhase } from "../messages/status-comment.js";
import type { ClaimedJob, JobRow, Store } from "../store/store.js";
import { describeError } from "./github-errors.js";

/** Where a job's thread is: its repository, from `owner/name`. */
export function repoRef(row: { id: number; repository: string }): RepoRef {
  const [owner, repo] = row.repository.split("/");
  if (!owner || !repo) throw new Error(`${row.id} names no owner/repo: '${row.repository}'`);
  return { owner, repo };
}

/** Whether the job has a thread to write on: an automatic bisect has none until its issue is opened. */
export function hasThread<J extends JobRow>(job: J): job is J & { issue_number: number } {
  return job.issue_number !== null;
}

/** 👀 on the command: taken. A courtesy — a deleted comment or a refused reaction stops nothing. */
export async function react(octokit: Octokit, job: JobRow, log: Logger): Promise<void> {
  // An automatic bisect has no comment to react to.
  if (job.comment_id === null) return;
  const commentId = job.comment_id;
  try {
    await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", {
      ...repoRef(job),
      comment_id: commentId,
      content: "eyes",
    });
  } catch (error) {
    log.warn({ job: job.id, error: describeError(error) }, "could not react to the command");
  }
}

/** GitHub's clock and ours differ a little: look for comments from a bit before the job was created. */
const CLOCK_SKEW_MS = 60_000;

/** How many comments the search for an unrecorded status comment reads: one page, GitHub's largest. */
const COMMENTS_READ = 100;

/** The parts of a listed issue comment read here. */
const issueCommentsSchema = z.array(
  z.object({
    id: z.number().int(),
    body: z.string().optional(),
    user: z.object({ type: z.string() }).nullable(),
    performed_via_github_app: z.object({ id: z.number().int() }).nullish(),
  }),
);

/** What an App's Octokit answers to `auth({ type: "app" })` (@octokit/auth-app): the App's own id among it. */
const appAuthSchema = z.object({ type: z.literal("app"), appId: z.number().int() });

/**
 * The id of the App whose installation `octokit` acts for, from its own credentials (a JWT signed
 * here, no request); null when it holds none (a plain token), so nothing can be told to be ours.
 */
async function appIdOf(octokit: Octokit): Promise<number | null> {
  const auth: unknown = await octokit.auth({ type: "app" }).catch(() => null);
  const parsed = appAuthSchema.safeParse(auth);
  return parsed.success ? parsed.data.appId : null;
}

/**
 * The status comment an earlier holder of the job posted and died before recording, if any: the
 * newest comment on the thread that this App's bot wrote and whose first line is the job's marker.
 * Bounded: reads one page, the first 100 comments updated since the job was created (GitHub lists
 * them oldest first; the status comment is posted at the job's first dispatch, so it is among
 * them unless the thread had 100 comments edited or added meanwhile).
 */
async function findStatusComment(octokit: Octokit, job: JobRow & { issue_number: number }): Promise<number | null> {
  const appId = await appIdOf(octokit);
  if (appId === null) return null;
  const since = new Date(job.created_at.getTime() - CLOCK_SKEW_MS).toISOString().replace(/\.\d{3}Z$/, "Z");
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", {
    ...repoRef(job),
    issue_number: job.issue_number,
    since,
    per_page: COMMENTS_READ,
  });
  const ours = issueCommentsSchema
    .parse(data)
    .filter((c) => c.user?.type === "Bot" && c.performed_via_github_app?.id === appId && isStatusCommentOf(c.body ?? "", job.id));
  return ours.length > 0 ? Math.max(...ours.map((c) => c.id)) : null;
}

/**
 * Writes `body` as the job's status comment: edits it when there is one (a deleted one is
 * posted again), else posts it. Answers the id of the comment written.
 */
async function putComment(octokit: Octokit, job: JobRow & { issue_number: number }, body: string): Promise<number> {
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
 * Writes the job's status on its thread: posts the status comment the first time, edits it
 * afterwards. With `earlierHolder` (a worker before this one may have posted it and died before
 * remembering it), it first looks for that comment on the thread and edits it rather than post a
 * second. The comment's id is kept on `job` (so this worker can edit it whatever the store says);
 * answers it when it is new to the store (the caller records it), null when the store knows it.
 */
export async function putStatus(octokit: Octokit, job: ClaimedJob, phase: StatusPhase, options: { earlierHolder?: boolean } = {}): Promise<number | null> {
  // An automatic bisect shows nothing until its answer opens its issue.
  if (!hasThread(job)) return null;
  const known = job.status_comment_id ?? (options.earlierHolder ? await findStatusComment(octokit, job) : null);
  const written = await putComment(octokit, { ...job, status_comment_id: known }, statusComment(job, job.options, phase));
  if (written === job.status_comment_id) return null;
  job.status_comment_id = written;
  return written;
}

/**
 * Shows the job on its thread (putStatus) and remembers a new status comment on the job, so later
 * updates edit it. Returns false when the lease was lost meanwhile (another worker has the job).
 */
export async function showStatus(
  octokit: Octokit,
  job: ClaimedJob,
  store: Store,
  phase: StatusPhase,
  options: { earlierHolder?: boolean } = {},
): Promise<boolean> {
  const written = await putStatus(octokit, job, phase, options);
  return written === null || store.call("setStatusComment", { jobId: job.id, token: job.token, commentId: written });
}

/**
 * Writes the job's final word: edits its status comment, or posts one if it never had one. A
 * failure is logged, not thrown: the job's state is recorded either way and `/bisect status`
 * still answers.
 */
export async function writeComment(octokit: Octokit, job: JobRow, body: string, log: Logger): Promise<void> {
  if (!hasThread(job)) return;
  try {
    await putComment(octokit, job, body);
  } catch (error) {
    log.warn({ job: job.id, error: describeError(error) }, "could not write the job's comment");
  }
}
