import type { ClaimedTask } from "../store/store.js";
import { PermanentError } from "./github-errors.js";
import { react, showStatus } from "./status-comment.js";
import type { WorkerDeps } from "./worker.js";

/**
 * A queued job that waits for a repository slot: tell the thread it was accepted and where it is
 * in the queue. The task holds the job's lease meanwhile (so it is not dispatched under us) and
 * gives it back when it ends; the job stays queued, its attempts uncounted.
 */
export async function announceJob(task: Extract<ClaimedTask, { kind: "announce" }>, deps: WorkerDeps): Promise<string> {
  const { store } = deps;
  const found = await store.call("getJob", { jobId: task.job_id });
  if (!found || found.state !== "queued" || found.lease_token !== task.token) return "not needed: the job no longer waits";
  if (found.installation_id === null) throw new PermanentError("the job names no installation");
  const octokit = await deps.octokitFor(found.installation_id);
  const position = await store.call("queuePosition", { jobId: found.id });
  const active = (await store.call("activeCounts", {})).find((c) => c.repository_id === found.repository_id)?.active ?? 0;
  await react(octokit, found, deps.log);
  const job = { ...found, token: task.token };
  // An earlier try may have posted the comment and died before remembering it: looked for first.
  if (!(await showStatus(octokit, job, store, { phase: "queued", position, active }, { earlierHolder: task.attempts > 1 })))
    throw new Error("lost the job's lease while announcing it");
  return `announced at place ${position ?? "?"}`;
}
