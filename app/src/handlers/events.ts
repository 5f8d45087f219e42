import type { Logger } from "probot";
import { z } from "zod";
import type { Store } from "../store/store.js";
import { issueCommentEventSchema, receiveIssueComment } from "./issue-comment.js";
import { HEAD_ACTIONS, pullRequestEventSchema, receivePullRequest } from "./pull-request.js";
import { receiveRedRun, receiveWorkflowJob, receiveWorkflowRun, workflowJobEventSchema, workflowRunEventSchema } from "./workflow-run.js";

/** A delivery whose signature was checked: its id (X-GitHub-Delivery), event name (X-GitHub-Event) and parsed body. */
export interface Delivery {
  id: string;
  name: string;
  payload: unknown;
}

/** Takes one delivery; resolves when what it means is stored. */
export type EventRoutes = (delivery: Delivery, log: Logger) => Promise<void>;

/** The actions a route takes, for the events where only some matter (the others are not parsed further). */
const ACTIONS: Record<string, ReadonlySet<string>> = {
  // Edits could replay old commands, deletions have nothing to do.
  issue_comment: new Set(["created"]),
  pull_request: HEAD_ACTIONS,
};
const actionSchema = z.object({ action: z.string().catch("") }).catch({ action: "" });

/** What a route tells the rest of the App: a command task was queued (the worker may claim it now). */
export interface EventHooks {
  queued?: () => void;
}

/**
 * The events the App subscribes to, each parsed with its schema at the boundary and handed to its
 * handler, which only writes to the store. Anything else GitHub sends is acknowledged and dropped.
 * Log lines about a delivery carry its id and repository.
 */
export function eventRoutes(store: Store, hooks: EventHooks = {}): EventRoutes {
  const routes: Record<string, (delivery: Delivery, log: Logger) => Promise<void>> = {
    issue_comment: async ({ id, payload }, log) => {
      const event = issueCommentEventSchema.parse(payload);
      const outcome = await receiveIssueComment(id, event, store);
      if (outcome.kind === "received" && outcome.created) hooks.queued?.();
      log.info({ delivery: id, repository: event.repository.full_name, comment: event.comment.id, ...outcome }, "issue_comment handled");
    },
    workflow_run: async ({ id, payload }, log) => {
      const event = workflowRunEventSchema.parse(payload);
      const concerned = await receiveWorkflowRun(event, store);
      const red = await receiveRedRun(id, event, store);
      if (red?.created) hooks.queued?.();
      if (red !== null)
        log.info(
          { delivery: id, repository: event.repository.full_name, run: event.workflow_run.id, task: red.taskId, created: red.created },
          "workflow_run failed on the default branch: queued to look at",
        );
      if (concerned > 0) {
        log.info(
          {
            delivery: id,
            ...(event.repository.full_name ? { repository: event.repository.full_name } : {}),
            run: event.workflow_run.id,
            action: event.action,
            jobs: concerned,
          },
          "workflow_run noted",
        );
      }
    },
    pull_request: async ({ payload }) => {
      await receivePullRequest(pullRequestEventSchema.parse(payload), store);
    },
    workflow_job: async ({ payload }) => {
      await receiveWorkflowJob(workflowJobEventSchema.parse(payload), store);
    },
  };
  return async (delivery, log) => {
    const route = Object.hasOwn(routes, delivery.name) ? routes[delivery.name] : undefined;
    const wanted = Object.hasOwn(ACTIONS, delivery.name) ? ACTIONS[delivery.name] : undefined;
    if (!route || (wanted && !wanted.has(actionSchema.parse(delivery.payload).action))) return;
    await route(delivery, log);
  };
}
