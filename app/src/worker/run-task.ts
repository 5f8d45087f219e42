import type { ClaimedTask, ReplyPayload } from "../store/store.js";
import { announceJob } from "./announce-job.js";
import { describeError, isPermanent, retryAfterSeconds } from "./github-errors.js";
import { handleCommand, giveUpOnCommand } from "./handle-command.js";
import { NotYet } from "./not-yet.js";
import { postReply } from "./post-reply.js";
import { handleRedRun } from "./red-run.js";
import { reportJob } from "./report.js";
import type { WorkerDeps } from "./worker.js";

type TaskOf<K extends ClaimedTask["kind"]> = Extract<ClaimedTask, { kind: K }>;

/** What the worker does with a task of one kind. */
interface TaskKind<T extends ClaimedTask> {
  /** Does it; answers what came of it (the task's outcome). Throws to fail it. */
  run(task: T, deps: WorkerDeps): Promise<string>;
  /** When the task is given up: the reply left on its thread, if any. */
  giveUp?(task: T, error: string): ReplyPayload;
}

/**
 * The task kinds: a /bisect comment to read, a reply to post, a waiting job to announce, a failed
 * CI run to look at, an automatic bisect's answer to report.
 */
const KINDS: { [K in ClaimedTask["kind"]]: TaskKind<TaskOf<K>> } = {
  command: { run: handleCommand, giveUp: giveUpOnCommand },
  reply: { run: postReply },
  announce: { run: announceJob },
  "red-run": { run: handleRedRun },
  report: { run: reportJob },
};

/** The task's own kind, bound to it. */
function kindOf(task: ClaimedTask, deps: WorkerDeps): { run(): Promise<string>; giveUp(error: string): ReplyPayload | null } {
  const bind = <T extends ClaimedTask>(kind: TaskKind<T>, bound: T) => ({
    run: () => kind.run(bound, deps),
    giveUp: (error: string) => kind.giveUp?.(bound, error) ?? null,
  });
  switch (task.kind) {
    case "command":
      return bind(KINDS.command, task);
    case "reply":
      return bind(KINDS.reply, task);
    case "announce":
      return bind(KINDS.announce, task);
    case "red-run":
      return bind(KINDS["red-run"], task);
    case "report":
      return bind(KINDS.report, task);
  }
}

/**
 * Does one claimed task, the same way for every kind: done with its outcome; put back uncounted
 * when it is not due yet (NotYet); or failed, to be tried again after the store's backoff (at
 * least as long as GitHub asked), or given up when the error is permanent or this was its last
 * attempt — with the kind's last reply, if it has one.
 */
export async function runTask(task: ClaimedTask, deps: WorkerDeps): Promise<void> {
  const { store, log } = deps;
  // The worker's log is bound to the task, its delivery, job and repository already.
  const where = task.kind === "red-run" ? { run: task.run_id } : task.kind === "report" ? { job: task.job_id } : { issue: task.issue_number };
  const kind = kindOf(task, deps);
  try {
    const outcome = await kind.run();
    await store.call("finishTask", { taskId: task.id, token: task.token, outcome });
    log.info({ ...where, outcome }, "task done");
  } catch (error) {
    if (error instanceof NotYet) {
      const deferred = await store.call("deferTask", { taskId: task.id, token: task.token, seconds: Math.ceil(error.seconds), reason: error.message });
      log.info({ ...where, wait: error.seconds, reason: error.message, deferred }, "task not due yet; put back uncounted");
      return;
    }
    const reason = describeError(error);
    const state = await store.call("failTask", {
      taskId: task.id,
      token: task.token,
      error: reason,
      permanent: isPermanent(error),
      retryAfterSeconds: retryAfterSeconds(error),
      giveUpReply: kind.giveUp(reason),
    });
    log.warn({ ...where, error: reason, attempt: task.attempts, state }, state === "pending" ? "task failed; trying again later" : "task failed; given up");
  }
}
