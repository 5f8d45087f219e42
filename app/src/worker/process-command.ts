import { transientReply } from "../messages/replies.js";
import type { LeasedCommand } from "../store/store.js";
import { describeError, isPermanent, retryAfterSeconds } from "./github-errors.js";
import { handleCommand, replyTo, type CommandOutcome } from "./handle-command.js";
import type { WorkerDeps } from "./worker.js";

/** Tries to handle a command before telling the user GitHub did not answer: ~5 s, 10 s, 20 s, 40 s apart. */
export const COMMAND_ATTEMPTS = 5;

function outcomeText(outcome: CommandOutcome): string {
  switch (outcome.kind) {
    case "job":
      return `job ${outcome.jobId}`;
    case "reply":
      return `reply ${outcome.replyId} (${outcome.why})`;
    case "ignored":
      return `ignored: ${outcome.reason}`;
  }
}

/**
 * Handles one command from the inbox: a job or a reply comes of it. GitHub failing on the way
 * (after Probot's own retries) is tried again later; after the last try, or for an error
 * retrying cannot fix, the user gets a reply saying nothing was started.
 */
export async function processCommand(command: LeasedCommand, deps: WorkerDeps): Promise<boolean> {
  const { store, settings, log } = deps;
  try {
    if (command.installation_id === null) throw Object.assign(new Error("the webhook named no installation"), { status: 400 });
    const octokit = await deps.octokitFor(command.installation_id);
    const outcome = await handleCommand(command, { store, settings, octokit, log });
    await store.finishCommand(command.id, command.lease_token, outcomeText(outcome), null, null);
    log.info({ command: command.id, repository: command.repository, issue: command.issue_number, outcome: outcomeText(outcome) }, "command handled");
    return true;
  } catch (error) {
    const reason = describeError(error);
    if (!isPermanent(error) && command.attempts < COMMAND_ATTEMPTS) {
      log.warn({ command: command.id, error: reason, attempt: command.attempts }, "command failed; trying again later");
      // Our backoff, or longer when GitHub said how long to wait (a secondary rate limit).
      const delay = Math.max(5 * 2 ** (command.attempts - 1), retryAfterSeconds(error));
      await store.finishCommand(command.id, command.lease_token, null, reason, delay);
      return false;
    }
    log.warn({ command: command.id, error: reason }, "command failed; telling the user");
    await store.enqueueReply(replyTo(command, transientReply(reason), "confused"));
    await store.finishCommand(command.id, command.lease_token, null, reason, null);
    return false;
  }
}
