import { z } from "zod";
import type { Store } from "../store/store.js";

/** The part of a `pull_request` webhook the App reads, parsed at the boundary. */
export const pullRequestEventSchema = z.object({
  action: z.string(),
  number: z.number().int(),
  pull_request: z.object({ head: z.object({ sha: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/) }) }),
  repository: z.object({ id: z.number().int() }),
});
export type PullRequestEvent = z.infer<typeof pullRequestEventSchema>;

/** The actions that say where a pull request's head is: it appeared, came back, or moved (a push, a force push). */
export const HEAD_ACTIONS: ReadonlySet<string> = new Set(["opened", "reopened", "synchronize"]);

/**
 * Remembers where a pull request's head is and when it moved there, so that a bare `/bisect`
 * bisects the head the maintainer saw when commenting, never one pushed after (DESIGN: Trust).
 * One upsert; answers whether the head moved.
 */
export async function receivePullRequest(event: PullRequestEvent, store: Store): Promise<boolean> {
  if (!HEAD_ACTIONS.has(event.action)) return false;
  return store.call("notePullRequestHead", { repositoryId: event.repository.id, prNumber: event.number, headSha: event.pull_request.head.sha });
}
