import { cancelRun } from "../github/cancel-run.js";
import type { ClaimedTask } from "../store/store.js";
import { describeError, PermanentError } from "./github-errors.js";
import { repoRef } from "./status-comment.js";
import type { WorkerDeps } from "./worker.js";

/**
 * Posts one reply: cancels the run it names (`/bisect cancel`), reacts to the user's comment (a
 * courtesy: a refused reaction stops nothing), comments. Answers the posted comment.
 */
export async function postReply(reply: Extract<ClaimedTask, { kind: "reply" }>, deps: WorkerDeps): Promise<string> {
  if (reply.installation_id === null) throw new PermanentError("the event named no installation");
  const octokit = await deps.octokitFor(reply.installation_id);
  const where = repoRef(reply);
  const { body, reaction, cancelRunId } = reply.payload;
  if (cancelRunId !== null) await cancelRun(octokit, where, cancelRunId);
  if (reaction !== null) {
    try {
      await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", { ...where, comment_id: reply.comment_id, content: reaction });
    } catch (error) {
      deps.log.warn({ task: reply.id, error: describeError(error) }, "could not react to the comment");
    }
  }
  const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...where, issue_number: reply.issue_number, body });
  return `posted as comment ${data.id}`;
}
