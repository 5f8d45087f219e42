import { parseComment, type BisectCommand } from "../command/parse-command.js";
import { parseRepoConfig, type RepoConfig } from "../config/repo-config.js";
import { compareCommits } from "../github/compare.js";
import type { Logger } from "probot";
import type { Octokit, RepoRef } from "../github/octokit.js";
import { writeComment } from "./status-comment.js";
import { mayRunBisect, repositoryRole } from "../github/permission.js";
import { MAX_GOODS, snapshotRepository, type RepositorySnapshot, type ResolvedRef } from "../github/resolve-refs.js";
import type { JobOptions } from "../job-options.js";
import * as replies from "../messages/replies.js";
import type { Settings } from "../settings.js";
import type { CommandRow, NewReply, Reaction, Store } from "../store/store.js";

export type CommandOutcome =
  | { kind: "ignored"; reason: string }
  | { kind: "job"; jobId: number; created: boolean }
  | { kind: "reply"; replyId: number; created: boolean; why: string };

export interface CommandDeps {
  log: Logger;
  store: Store;
  settings: Settings;
  octokit: Octokit;
}

/** The outbox row answering a received comment (one per comment, whatever the redeliveries). */
export function replyTo(received: CommandRow, body: string, reaction: Reaction | null, cancelRunId: number | null = null): NewReply {
  return {
    deliveryId: received.delivery_id,
    repository: received.repository,
    repositoryId: received.repository_id,
    installationId: received.installation_id,
    issueNumber: received.issue_number,
    commentId: received.comment_id,
    body,
    reaction,
    cancelRunId,
  };
}

/** A reason to answer with a reply instead of a job. */
class Refusal {
  constructor(
    readonly why: string,
    readonly body: string,
    readonly reaction: Reaction | null = "confused",
  ) {}
}

/**
 * Turns a received /bisect comment into a job or a reply, and writes it to the store. It only
 * reads from GitHub (who asked, what the refs are); posting, reacting and dispatching happen
 * later, after a claim of the job or reply. Idempotent: a job or reply already made for this
 * delivery or comment is not made twice.
 */
export async function handleCommand(received: CommandRow, deps: CommandDeps): Promise<CommandOutcome> {
  const parsed = parseComment(received.body);
  if (parsed === null) return { kind: "ignored", reason: "no /bisect command" };
  const { store } = deps;
  const [owner, repo] = received.repository.split("/") as [string, string];
  const where: RepoRef = { owner, repo };
  const deliveryId = received.delivery_id;
  const key = { deliveryId, repositoryId: received.repository_id, commentId: received.comment_id };
  if (await store.commentHandled(key.deliveryId, key.repositoryId, key.commentId)) {
    return { kind: "ignored", reason: "a job or reply exists for this comment" };
  }

  const reply = async (refusal: Refusal, cancelRunId: number | null = null): Promise<CommandOutcome> => {
    const { replyId, created } = await store.enqueueReply(replyTo(received, refusal.body, refusal.reaction, cancelRunId));
    return { kind: "reply", replyId, created, why: refusal.why };
  };

  try {
    if (parsed.ok && parsed.command.kind === "help") return await reply(new Refusal("help", replies.helpReply(), null));
    if (parsed.ok && parsed.command.kind === "status") {
      const job = await store.latestJob(received.repository_id, received.issue_number);
      if (!job) return await reply(new Refusal("status: no job", replies.noJobReply(), null));
      return await reply(new Refusal("status", replies.statusReply(job, await store.queuePosition(job.id)), null));
    }

    const login = received.requester;
    const role = await repositoryRole(deps.octokit, where, login);
    if (!mayRunBisect(role)) return await reply(new Refusal(`refused: ${role}`, replies.refusalReply(login, role), null));
    if (!parsed.ok) return await reply(new Refusal("parse error", replies.parseErrorReply(parsed.line, parsed.message, parsed.example)));

    const command = parsed.command;
    switch (command.kind) {
      case "cancel": {
        const job = await store.latestJob(received.repository_id, received.issue_number);
        if (!job) return await reply(new Refusal("cancel: no job", replies.noJobReply(), null));
        const { cancelled, runId } = await store.cancelJob(job.id, `cancelled by ${login}`);
        // The status comment stops saying "waiting" or "dispatched" (the reply cancels the run).
        if (cancelled) await writeComment(deps.octokit, job, replies.cancelledStatus(job, login), deps.log);
        return await reply(new Refusal("cancel", replies.cancelReply(job, cancelled), cancelled ? "+1" : null), cancelled ? runId : null);
      }
      case "retry": {
        const job = await store.latestJob(received.repository_id, received.issue_number);
        if (!job) return await reply(new Refusal("retry: no job", replies.noJobReply(), null));
        if (["queued", "dispatching", "dispatched", "running"].includes(job.state)) return await reply(new Refusal("retry: busy", replies.retryBusyReply(job), null));
        // A new attempt of the same job (same SHAs, command and status comment). One that failed,
        // timed out or was cancelled resumes with the verdicts it has; one that succeeded starts afresh.
        const retried = await store.retryJob(job.id, deps.settings.MAX_ATTEMPTS);
        const body = retried ? replies.retryReply(job) : replies.retryBusyReply(job);
        return await reply(new Refusal(retried ? "retry" : "retry: busy", body, retried ? "rocket" : null));
      }
      case "bisect":
        return await startBisect(command, received, deps, where, key);
      default:
        throw new Error(`unhandled command ${command.kind}`);
    }
  } catch (error) {
    if (error instanceof Refusal) return reply(error);
    throw error;
  }
}

function commitOf(ref: ResolvedRef, repository: string): string {
  if (ref.sha !== null) return ref.sha;
  if (ref.kind !== null) throw new Refusal("not a commit", replies.notACommitReply(ref.ref, ref.kind));
  throw new Refusal("unknown ref", replies.unknownRefReply(ref.ref, repository));
}

async function startBisect(
  command: Extract<BisectCommand, { kind: "bisect" }>,
  received: CommandRow,
  deps: CommandDeps,
  where: RepoRef,
  key: { deliveryId: string; repositoryId: number; commentId: number },
): Promise<CommandOutcome> {
  const repository = received.repository;
  const isPullRequest = received.is_pull_request;
  if (command.range === null && !isPullRequest) throw new Refusal("no range on an issue", replies.notAPullRequestReply());
  if (command.range && command.range.goods.length > MAX_GOODS) throw new Refusal("too many goods", replies.tooManyGoodsReply(command.range.goods.length, MAX_GOODS));

  const snapshot = await snapshotRepository(deps.octokit, where, {
    goods: command.range?.goods ?? [],
    bad: command.range?.bad ?? null,
    pullRequest: command.range === null ? received.issue_number : null,
  });
  const config = repoConfig(snapshot);
  if (!snapshot.workflowFiles.includes(config.workflow)) throw new Refusal("workflow missing", replies.workflowMissingReply(config.workflow, snapshot.defaultBranch));

  let goodRefs: string[];
  let goodShas: string[];
  let badRef: string;
  let badSha: string;
  let commits: number;
  if (command.range === null) {
    const pr = snapshot.pullRequest;
    if (!pr) throw new Refusal("pull request not found", replies.notAPullRequestReply());
    // base..head of a pull request: from where it left its base branch to its head.
    const comparison = await compareCommits(deps.octokit, where, pr.baseSha, pr.headSha);
    if (comparison.ahead_by === 0) throw new Refusal("empty pull request", replies.pullRequestEmptyReply(), null);
    goodRefs = [pr.baseRefName];
    goodShas = [comparison.merge_base_commit.sha];
    badRef = pr.headRefName;
    badSha = pr.headSha;
    commits = comparison.ahead_by;
  } else {
    badRef = command.range.bad;
    badSha = commitOf(snapshot.bad!, repository);
    goodRefs = command.range.goods;
    goodShas = snapshot.goods.map((g) => commitOf(g, repository));
    commits = Number.POSITIVE_INFINITY;
    for (const [i, goodSha] of goodShas.entries()) {
      const goodRef = goodRefs[i]!;
      if (goodSha === badSha) throw new Refusal("same commit", replies.sameCommitReply(goodRef, badRef, badSha));
      const comparison = await compareCommits(deps.octokit, where, goodSha, badSha);
      if (comparison.status === "behind") throw new Refusal("swapped", replies.swappedReply(goodRef, badRef));
      if (comparison.status === "identical") throw new Refusal("same commit", replies.sameCommitReply(goodRef, badRef, badSha));
      if (comparison.status === "diverged") throw new Refusal("diverged", replies.divergedReply(goodRef, badRef, comparison.merge_base_commit.sha));
      // With several goods the range is at most the smallest of these counts.
      commits = Math.min(commits, comparison.ahead_by);
    }
  }
  if (commits > config.maxCommits) throw new Refusal("too large", replies.tooLargeReply(commits, config.maxCommits));

  const testCommand = command.command ?? config.command;
  if (testCommand === null || testCommand.trim() === "") throw new Refusal("no command", replies.noCommandReply());

  const flaky = command.options.flaky ?? config.flaky;
  const options: JobOptions = {
    firstParent: command.options.firstParent ?? config.firstParent,
    flaky,
    parallel: command.options.parallel ?? config.parallel,
    confidence: flaky ? (command.options.confidence ?? 0.99) : null,
    timeoutSeconds: command.options.timeoutSeconds ?? config.timeoutSeconds ?? deps.settings.BISECT_TIMEOUT_SECONDS,
    workflow: config.workflow,
    defaultBranch: snapshot.defaultBranch,
    commits,
    setup: config.setup,
    pullRequest: command.range === null ? received.issue_number : null,
  };
  const { jobId, created } = await deps.store.createJob({
    ...key,
    repository,
    installationId: received.installation_id,
    issueNumber: received.issue_number,
    requester: received.requester,
    goodRefs,
    badRef,
    goodShas,
    badSha,
    command: testCommand,
    options,
    maxAttempts: deps.settings.MAX_ATTEMPTS,
  });
  return { kind: "job", jobId, created };
}

function repoConfig(snapshot: RepositorySnapshot): RepoConfig {
  if (snapshot.configTruncated) throw new Refusal("config too large", replies.configTruncatedReply());
  const result = parseRepoConfig(snapshot.configText);
  if (!result.ok) throw new Refusal("config invalid", replies.configErrorReply(result.message, result.line));
  return result.config;
}
