import type { ClaimedJob } from "../store/store.js";
import { describeError } from "./github-errors.js";
import { react, showStatus } from "./status-comment.js";
import type { WorkerDeps } from "./worker.js";

/**
 * A queued job that waits for a repository slot: tell the thread it was accepted and where it is
 * in the queue, then give the job back (it stays queued; no attempt is counted).
 */
export async function announceJob(claimed: ClaimedJob, deps: WorkerDeps): Promise<void> {
  const { job, token } = claimed;
  try {
    if (job.installation_id === null) return;
    const octokit = await deps.octokitFor(job.installation_id);
    const position = await deps.store.queuePosition(job.id);
    const active = (await deps.store.activeCounts()).find((c) => c.repositoryId === job.repository_id)?.active ?? 0;
    await react(octokit, job, deps.log);
    await showStatus(octokit, claimed, deps.store, { phase: "queued", position, active });
  } catch (error) {
    deps.log.warn({ job: job.id, error: describeError(error) }, "could not announce the queued job");
  } finally {
    await deps.store.releaseJob(job.id, token);
  }
}
