import type { ReplyRow } from "../store/store.js";
import { httpStatus } from "../github/octokit.js";
import { describeError, isPermanent, retryAfterSeconds } from "./github-errors.js";
import type { WorkerDeps } from "./worker.js";

/**
 * Posts one reply from the outbox: cancels the run it names (`/bisect cancel`), reacts, comments.
 * Returns whether the reply was posted; failures are retried later with backoff, except those
 * retrying cannot fix.
 */
export async function postReply(reply: ReplyRow & { lease_token: number }, deps: WorkerDeps): Promise<boolean> {
  const { store, log } = deps;
  const [owner, repo] = reply.repository.split("/") as [string, string];
  try {
    if (reply.installation_id === null) throw Object.assign(new Error("the event named no installation"), { status: 400 });
    const octokit = await deps.octokitFor(reply.installation_id);
    if (reply.cancel_run_id !== null) {
      try {
        await octokit.request("POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel", { owner, repo, run_id: reply.cancel_run_id });
      } catch (error) {
        // 409: the run had already ended — the job is cancelled either way.
        if (httpStatus(error) !== 409 && httpStatus(error) !== 404) throw error;
      }
    }
    if (reply.reaction !== null) {
      try {
        await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", { owner, repo, comment_id: reply.comment_id, content: reply.reaction });
      } catch (error) {
        log.warn({ reply: reply.id, error: describeError(error) }, "could not react to the comment");
      }
    }
    const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { owner, repo, issue_number: reply.issue_number, body: reply.body });
    await store.finishReply(reply.id, reply.lease_token, Number(data.id), null, null);
    return true;
  } catch (error) {
    const permanent = isPermanent(error);
    log.warn({ reply: reply.id, error: describeError(error), permanent }, "could not post a reply");
    await store.finishReply(reply.id, reply.lease_token, null, describeError(error), permanent ? null : Math.max(Math.min(600, 15 * 2 ** reply.attempts), retryAfterSeconds(error)));
    return false;
  }
}
