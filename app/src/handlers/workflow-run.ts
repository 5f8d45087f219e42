import { z } from "zod";
import { onDefaultBranch } from "../github/workflow-runs.js";
import type { Store } from "../store/store.js";

/** The part of a `workflow_run` webhook the App reads. */
export const workflowRunEventSchema = z.object({
  action: z.string(),
  // full_name: for the log lines about the delivery (GitHub always sends it).
  repository: z.object({ id: z.number().int(), full_name: z.string().optional(), default_branch: z.string().optional() }),
  installation: z.object({ id: z.number().int() }).nullish(),
  workflow_run: z.object({
    id: z.number().int(),
    run_attempt: z.number().int().min(1),
    run_number: z.number().int().optional(),
    workflow_id: z.number().int().optional(),
    path: z.string().optional(),
    head_sha: z.string().optional(),
    head_branch: z.string().nullable().optional(),
    html_url: z.string().optional(),
    head_repository: z.object({ id: z.number().int() }).nullish(),
    event: z.string(),
    display_title: z.string().nullable().optional(),
    status: z.string().nullable(),
    conclusion: z.string().nullable(),
  }),
});
export type WorkflowRunEvent = z.infer<typeof workflowRunEventSchema>;

/** The part of a `workflow_job` webhook the App reads. */
export const workflowJobEventSchema = z.object({
  action: z.string(),
  repository: z.object({ id: z.number().int() }),
  workflow_job: z.object({ run_id: z.number().int(), run_attempt: z.number().int().min(1), status: z.string() }),
});

/** The job id in a bisect run's name (`run-name: bisect <job id>`), if it is one. */
export function jobIdFromTitle(title: string | null | undefined): number | null {
  const match = /^bisect (\d{1,15})(?: round \d{1,9})?$/.exec((title ?? "").trim());
  return match ? Number(match[1]) : null;
}

/**
 * A run moved: note it on its job (one SQL call; other workflows' runs concern no job). Only a
 * job of the run's own repository can be concerned: a run elsewhere named "bisect <id>" is not
 * one of ours. Events are noted per run attempt (a re-run reuses the run id). A run
 * that completed makes its job due at once, so a worker reads the result now instead of at the
 * reconciler's next look. Late, repeated or reordered events never move a job backwards.
 */
export async function receiveWorkflowRun(event: WorkflowRunEvent, store: Store): Promise<number> {
  const run = event.workflow_run;
  // Only dispatched runs can be bisects; CI runs of every installed repository also come here.
  if (run.event !== "workflow_dispatch") return 0;
  const status = event.action === "completed" ? "completed" : event.action === "in_progress" ? "in_progress" : "queued";
  return store.call("noteRunEvent", {
    repositoryId: event.repository.id,
    runId: run.id,
    runAttempt: run.run_attempt,
    jobId: jobIdFromTitle(run.display_title),
    status,
    conclusion: status === "completed" ? run.conclusion : null,
  });
}

/** A job of a run started: the run is running. (Its completion comes with workflow_run.) */
export async function receiveWorkflowJob(event: z.infer<typeof workflowJobEventSchema>, store: Store): Promise<number> {
  if (event.action !== "in_progress") return 0;
  const { run_id, run_attempt } = event.workflow_job;
  return store.call("noteRunEvent", {
    repositoryId: event.repository.id,
    runId: run_id,
    runAttempt: run_attempt,
    jobId: null,
    status: "in_progress",
    conclusion: null,
  });
}

/**
 * A run of the default branch failed: queued as a red-run task (one per run, whatever the
 * redeliveries and re-runs), for a worker to read the repository's config and decide whether to
 * bisect. Our own bisect runs are not CI runs. Answers the task, or null when the run is not one.
 */
export async function receiveRedRun(deliveryId: string, event: WorkflowRunEvent, store: Store): Promise<{ taskId: number; created: boolean } | null> {
  const run = event.workflow_run;
  const repository = event.repository;
  if (event.action !== "completed" || run.conclusion !== "failure" || jobIdFromTitle(run.display_title) !== null) return null;
  if (!repository.full_name || !repository.default_branch) return null;
  if (!onDefaultBranch({ ...run, head_branch: run.head_branch ?? null }, repository.id, repository.default_branch)) return null;
  if (run.run_number === undefined || run.workflow_id === undefined || !run.path || !run.head_sha || !run.html_url) return null;
  const { task_id, created } = await store.call("enqueueRedRun", {
    deliveryId,
    repository: repository.full_name,
    repositoryId: repository.id,
    installationId: event.installation?.id ?? null,
    runId: run.id,
    payload: {
      runId: run.id,
      runAttempt: run.run_attempt,
      runNumber: run.run_number,
      workflowId: run.workflow_id,
      workflowPath: run.path,
      headSha: run.head_sha,
      headBranch: run.head_branch ?? null,
      event: run.event,
      url: run.html_url,
      headRepositoryId: run.head_repository?.id ?? null,
    },
  });
  return { taskId: task_id, created };
}
