import { z } from "zod";
import { parseComment } from "../command/parse-command.js";
import type { Store } from "../store/store.js";

/** The part of an `issue_comment` webhook the App reads, parsed at the boundary. */
export const issueCommentEventSchema = z.object({
  action: z.string(),
  comment: z.object({
    id: z.number().int(),
    body: z.string().nullable(),
    user: z.object({ login: z.string(), type: z.string() }).nullable(),
    created_at: z.iso.datetime({ offset: true }),
  }),
  issue: z.object({
    number: z.number().int(),
    pull_request: z.object({}).loose().optional().nullable(),
  }),
  repository: z.object({
    id: z.number().int(),
    name: z.string(),
    full_name: z.string(),
    owner: z.object({ login: z.string() }),
  }),
  installation: z.object({ id: z.number().int() }).optional().nullable(),
  sender: z.object({ login: z.string(), type: z.string() }),
});
export type IssueCommentEvent = z.infer<typeof issueCommentEventSchema>;

export type ReceiveOutcome = { kind: "ignored"; reason: string } | { kind: "received"; taskId: number; created: boolean };

/** GitHub comments hold at most 65,536 characters; anything longer is not one. */
const MAX_BODY = 65_536;

/**
 * The webhook's whole job: queue /bisect comments (new ones, by people, not bots) as command tasks and
 * answer. One insert, idempotent on the delivery id and the comment; who asked and what the refs
 * mean are checked by a worker right after, before anything is spent.
 */
export async function receiveIssueComment(deliveryId: string, event: IssueCommentEvent, store: Store): Promise<ReceiveOutcome> {
  // Edits could replay old commands, deletions have nothing to do.
  if (event.action !== "created") return { kind: "ignored", reason: `comment ${event.action}, not created` };
  if (event.sender.type === "Bot" || event.comment.user?.type === "Bot") return { kind: "ignored", reason: "comment by a bot" };
  const body = (event.comment.body ?? "").slice(0, MAX_BODY);
  if (parseComment(body) === null) return { kind: "ignored", reason: "no /bisect command" };
  const { task_id, created } = await store.call("enqueueTask", {
    kind: "command",
    deliveryId,
    repository: event.repository.full_name,
    repositoryId: event.repository.id,
    installationId: event.installation?.id ?? null,
    issueNumber: event.issue.number,
    commentId: event.comment.id,
    payload: { body, requester: event.sender.login, isPullRequest: event.issue.pull_request != null, commentedAt: event.comment.created_at },
  });
  return { kind: "received", taskId: task_id, created };
}
