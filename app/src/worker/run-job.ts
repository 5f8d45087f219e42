import type { ClaimedJob } from "../store/store.js";
import { followRun } from "./check-run.js";
import { dispatchJob } from "./dispatch-job.js";
import type { WorkerDeps } from "./worker.js";

/**
 * Does what a claimed job is due for: a job taken from the queue is dispatched; a dispatched or
 * running one is due because a workflow_run webhook said its run completed, or because it has
 * been quiet too long (the reconciler's look): either way its run is checked and acted on, within
 * bounds (see followRun).
 */
export async function runJob(job: ClaimedJob, deps: WorkerDeps): Promise<void> {
  switch (job.state) {
    case "dispatching":
      await dispatchJob(job, deps);
      return;
    case "dispatched":
    case "running":
      await followRun(job, deps);
      return;
    default:
      await deps.store.call("releaseLease", { token: job.token });
  }
}
