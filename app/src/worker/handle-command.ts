import { parseComment, type BisectCommand } from "../command/parse-command.js";
import type { RunRef } from "../command/bisect-command.js";
import { httpStatus } from "../github/octokit.js";
import { getRun, type CiRun } from "../github/workflow-runs.js";
import { redRange, redRunOf } from "./red-run.js";
import { learnedFlakeHistory } from "./flake-history.js";
import { parseRepoConfig, type RepoConfig } from "../config/repo-config.js";
import { compareCommits } from "../github/compare.js";
import type { Logger } from "probot";
import type { Octokit, RepoRef } from "../github/octokit.js";
import { repoRef, writeComment } from "./status-comment.js";
import { mayRunBisect, repositoryRole } from "../github/permission.js";
import { MAX_GOODS, snapshotRepository, type RepositorySnapshot, type ResolvedRef } from "../github/resolve-refs.js";
import { estimateRunnerUse, runnersWithin, type JobOptions } from "../job-options.js";
import * as replies from "../messages/replies.js";
import type { Settings } from "../settings.js";
import type { ClaimedTask, Reaction, ReplyPayload, Store } from "../store/store.js";
import { PermanentError } from "./github-errors.js";
import { NotYet } from "./not-yet.js";
import type { WorkerDeps } from "./worker.js";

type CommandTask = Extract<ClaimedTask, { kind: "command" }>;

interface CommandDeps {
  log: Logger;
  store: Store;
  settings: Settings;
  octokit: Octokit;
}

/** The comment a task or job answers: its delivery, repository, installation, thread and id. */
function commentOf(received: CommandTask) {
  return {
    deliveryId: received.delivery_id,
    repository: received.repository,
    repositoryId: received.repository_id,
    installationId: received.installation_id,
    issueNumber: received.issue_number,
    commentId: received.comment_id,
  };
}

/**
 * Queues the reply answering a received comment (one per comment, whatever the redeliveries).
 * Answers the task's outcome.
 */
async function replyTo(store: Store, received: CommandTask, why: string, payload: ReplyPayload): Promise<string> {
  const { task_id, created } = await store.call("enqueueTask", { kind: "reply", ...commentOf(received), payload });
  return `reply ${task_id}${created ? "" : " (already there)"}: ${why}`;
}

/** When a command is given up (GitHub kept failing, or refused): the user hears that nothing was started. */
export function giveUpOnCommand(_task: CommandTask, error: string): ReplyPayload {
  return { body: replies.transientReply(error), reaction: "confused", cancelRunId: null };
}

/** A reason to answer with a reply instead of a job. */
class Refusal extends Error {
  constructor(
    readonly why: string,
    readonly body: string,
    readonly reaction: Reaction | null = "confused",
  ) {
    super(why);
  }
}

/**
 * Turns a received /bisect comment into a job or a reply, and writes it to the store. It only
 * reads from GitHub (who asked, what the refs are); posting, reacting and dispatching happen
 * later, in their own tasks and jobs. Idempotent: a job or reply already made for this comment is
 * not made twice. Answers what came of it.
 */
export async function handleCommand(received: CommandTask, worker: WorkerDeps): Promise<string> {
  const parsed = parseComment(received.payload.body);
  if (parsed === null) return "ignored: no /bisect command";
  const { store } = worker;
  if (await store.call("commentHandled", { repositoryId: received.repository_id, commentId: received.comment_id })) {
    return "ignored: a job or reply exists for this comment";
  }
  if (received.installation_id === null) throw new PermanentError("the webhook named no installation");
  const deps: CommandDeps = { store, settings: worker.settings, log: worker.log, octokit: await worker.octokitFor(received.installation_id) };
  const where = repoRef(received);
  const reply = (refusal: Refusal, cancelRunId: number | null = null) =>
    replyTo(store, received, refusal.why, { body: refusal.body, reaction: refusal.reaction, cancelRunId });

  try {
    if (parsed.ok && parsed.command.kind === "help") return await reply(new Refusal("help", replies.helpReply(), null));
    if (parsed.ok && parsed.command.kind === "status") {
      const job = await store.call("latestJob", { repositoryId: received.repository_id, issueNumber: received.issue_number });
      if (!job) return await reply(new Refusal("status: no job", replies.noJobReply(), null));
      return await reply(new Refusal("status", replies.statusReply(job, await store.call("queuePosition", { jobId: job.id })), null));
    }

    const login = received.payload.requester;
    const role = await repositoryRole(deps.octokit, where, login);
    if (!mayRunBisect(role)) return await reply(new Refusal(`refused: ${role}`, replies.refusalReply(login, role), null));
    if (!parsed.ok) return await reply(new Refusal("parse error", replies.parseErrorReply(parsed.line, parsed.message, parsed.example)));

    const command = parsed.command;
    switch (command.kind) {
      case "cancel": {
        const job = await store.call("latestJob", { repositoryId: received.repository_id, issueNumber: received.issue_number });
        if (!job) return await reply(new Refusal("cancel: no job", replies.noJobReply(), null));
        const { cancelled, run_id } = await store.call("cancelJob", { jobId: job.id, by: login });
        if (cancelled) worker.metrics?.observeJobEnd(job, "cancelled");
        // The status comment stops saying "waiting" or "dispatched" (the reply cancels the run).
        if (cancelled) await writeComment(deps.octokit, job, replies.cancelledStatus(job, login), deps.log);
        return await reply(new Refusal("cancel", replies.cancelReply(job, cancelled), cancelled ? "+1" : null), cancelled ? run_id : null);
      }
      case "retry": {
        const job = await store.call("latestJob", { repositoryId: received.repository_id, issueNumber: received.issue_number });
        if (!job) return await reply(new Refusal("retry: no job", replies.noJobReply(), null));
        if (["queued", "dispatching", "dispatched", "running"].includes(job.state))
          return await reply(new Refusal("retry: busy", replies.retryBusyReply(job), null));
        // A new attempt of the same job (same SHAs, command and status comment). One that failed,
        // timed out or was cancelled resumes with the verdicts it has; one that succeeded starts afresh.
        const retried = await store.call("retryJob", { jobId: job.id, extraAttempts: deps.settings.MAX_ATTEMPTS });
        const body = retried ? replies.retryReply(job) : replies.retryBusyReply(job);
        return await reply(new Refusal(retried ? "retry" : "retry: busy", body, retried ? "rocket" : null));
      }
      case "bisect":
        return await startBisect(command, received, deps, where);
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

async function startBisect(command: Extract<BisectCommand, { kind: "bisect" }>, received: CommandTask, deps: CommandDeps, where: RepoRef): Promise<string> {
  if (command.run !== undefined) return startRunBisect(command, command.run, received, deps, where);
  const repository = received.repository;
  const isPullRequest = received.payload.isPullRequest;
  if (command.range === null && !isPullRequest) throw new Refusal("no range on an issue", replies.notAPullRequestReply());
  if (command.range && command.range.goods.length > MAX_GOODS)
    throw new Refusal("too many goods", replies.tooManyGoodsReply(command.range.goods.length, MAX_GOODS));

  const snapshot = await snapshotRepository(deps.octokit, where, {
    goods: command.range?.goods ?? [],
    bad: command.range?.bad ?? null,
    pullRequest: command.range === null ? received.issue_number : null,
  });
  const config = repoConfig(snapshot);
  if (!snapshot.workflowFiles.includes(config.workflow))
    throw new Refusal("workflow missing", replies.workflowMissingReply(config.workflow, snapshot.defaultBranch));

  let goodRefs: string[];
  let goodShas: string[];
  let badRef: string;
  let badSha: string;
  let commits: number;
  if (command.range === null) {
    const pr = snapshot.pullRequest;
    if (!pr) throw new Refusal("pull request not found", replies.notAPullRequestReply());
    // Bisect the head the maintainer saw, never one pushed after the comment.
    const check = headAsCommented(
      pr.headSha,
      await deps.store.call("pullRequestHead", { repositoryId: received.repository_id, prNumber: received.issue_number }),
      new Date(received.payload.commentedAt),
    );
    if (check.kind === "wait") throw new NotYet(check.seconds, "waiting for GitHub's pull_request webhooks: the head may have moved after the comment");
    if (check.kind === "moved") throw new Refusal("head moved", replies.headMovedReply(check.seen, pr.headSha, pr.baseRefName));
    // base..head of a pull request: from where it left its base branch to its head.
    const comparison = await compareCommits(deps.octokit, where, pr.baseSha, pr.headSha);
    if (comparison.ahead_by === 0) throw new Refusal("empty pull request", replies.pullRequestEmptyReply(), null);
    goodRefs = [pr.baseRefName];
    goodShas = [comparison.merge_base_commit.sha];
    badRef = pr.headRefName;
    badSha = pr.headSha;
    commits = comparison.ahead_by;
  } else {
    const movable = [...command.range.goods, command.range.bad].find(isMovableByForks);
    if (movable !== undefined) throw new Refusal("movable ref", replies.movableRefReply(movable));
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
  const options = jobOptions(command, config, deps, snapshot.defaultBranch, commits, command.range === null ? received.issue_number : null);
  options.flakeHistory = await learnedFlakeHistory(deps.store, received.repository_id, testCommand, options);
  const { job_id, created } = await deps.store.call("createJob", {
    ...commentOf(received),
    requester: received.payload.requester,
    goodRefs,
    badRef,
    goodShas,
    badSha,
    command: testCommand,
    options,
    maxAttempts: deps.settings.MAX_ATTEMPTS,
  });
  deps.log.info({ job: job_id, created }, created ? "job created" : "job already there");
  return `job ${job_id}${created ? "" : " (already there)"}`;
}

/**
 * `/bisect <URL of a failed run>`: the range the run asks for, as an automatic bisect infers it
 * (the head of the workflow's run before it, which passed, to its own head), with the verdicts
 * the workflow's completed runs gave for free; answered on this thread. The test command is the
 * comment's, else the config's `auto` command, else its `command`.
 */
async function startRunBisect(
  command: Extract<BisectCommand, { kind: "bisect" }>,
  runRef: RunRef,
  received: CommandTask,
  deps: CommandDeps,
  where: RepoRef,
): Promise<string> {
  if (runRef.owner.toLowerCase() !== where.owner.toLowerCase() || runRef.repo.toLowerCase() !== where.repo.toLowerCase())
    throw new Refusal("run of another repository", replies.runElsewhereReply(`${runRef.owner}/${runRef.repo}`, received.repository));
  let red: CiRun;
  try {
    red = await getRun(deps.octokit, where, runRef.runId);
  } catch (error) {
    if (httpStatus(error) === 404) throw new Refusal("run not found", replies.runNotFoundReply(runRef.runId, received.repository));
    throw error;
  }
  const snapshot = await snapshotRepository(deps.octokit, where, { goods: [], bad: null, pullRequest: null });
  const config = repoConfig(snapshot);
  if (!snapshot.workflowFiles.includes(config.workflow))
    throw new Refusal("workflow missing", replies.workflowMissingReply(config.workflow, snapshot.defaultBranch));
  // Asked for now: an earlier run still going is not waited for.
  const range = await redRange(deps.octokit, where, received.repository_id, snapshot.defaultBranch, red, { waitForEarlier: false });
  if (range.kind === "wait") throw new Error("redRange waited though asked not to");
  if (range.kind !== "range") throw new Refusal(`run: ${range.kind}`, replies.noRunRangeReply(range, red));
  if (range.commits > config.maxCommits) throw new Refusal("too large", replies.tooLargeReply(range.commits, config.maxCommits));
  const testCommand = command.command ?? config.auto?.command ?? config.command;
  if (testCommand === null || testCommand.trim() === "") throw new Refusal("no command", replies.noCommandReply());
  const options = jobOptions(command, config, deps, snapshot.defaultBranch, range.commits, null);
  options.flakeHistory = await learnedFlakeHistory(deps.store, received.repository_id, testCommand, options);
  const { job_id, created } = await deps.store.call("createJob", {
    ...commentOf(received),
    requester: received.payload.requester,
    goodRefs: [range.green.head_sha.slice(0, 12)],
    badRef: red.head_sha.slice(0, 12),
    goodShas: [range.green.head_sha],
    badSha: red.head_sha,
    command: testCommand,
    options,
    maxAttempts: deps.settings.MAX_ATTEMPTS,
    redRun: redRunOf(red),
    freeVerdicts: range.free,
  });
  deps.log.info({ job: job_id, created, run: red.id, free: range.free.length }, created ? "job created from a failed run" : "job already there");
  return `job ${job_id}${created ? "" : " (already there)"} from run ${red.id}`;
}

/**
 * The job's options: the comment's, else the config's, else the App's; refused when a fan-out
 * would spend more runner minutes than the config allows, or asks for what it cannot do.
 */
function jobOptions(
  command: Extract<BisectCommand, { kind: "bisect" }>,
  config: RepoConfig,
  deps: CommandDeps,
  defaultBranch: string,
  commits: number,
  pullRequest: number | null,
): JobOptions {
  const options: JobOptions = {
    firstParent: command.options.firstParent ?? config.firstParent,
    flaky: command.options.flaky ?? config.flaky,
    findFix: command.options.findFix ?? config.findFix,
    confirm: command.options.confirm ?? config.confirm,
    parallel: command.options.parallel ?? config.parallel,
    runners: command.options.runners ?? config.runners,
    confidence: command.options.confidence ?? config.confidence,
    timeoutSeconds: command.options.timeoutSeconds ?? config.timeoutSeconds ?? deps.settings.BISECT_TIMEOUT_SECONDS,
    stepTimeoutSeconds: command.options.stepTimeoutSeconds ?? config.stepTimeoutSeconds,
    workflow: config.workflow,
    defaultBranch,
    commits,
    setup: config.setup,
    pullRequest,
    flakeHistory: null,
  };
  if (options.runners > 1 && config.maxRunnerMinutes !== null) {
    const budget = config.maxRunnerMinutes;
    const useWith = (runners: number) => estimateRunnerUse(commits, runners, options.flaky, options.stepTimeoutSeconds);
    const use = useWith(options.runners);
    if (use.minutes > budget) {
      const k = runnersWithin(budget, commits, options.runners - 1, options.flaky, options.stepTimeoutSeconds);
      throw new Refusal("over budget", replies.overBudgetReply(use, options.runners, budget, k === null ? null : { runners: k, use: useWith(k) }));
    }
  }
  return options;
}

/**
 * How long after a comment the App waits to hear of a push that may have come before it reads the
 * head: GitHub delivers a `pull_request` webhook within seconds of a push.
 */
export const HEAD_GRACE_SECONDS = 20;

/**
 * The comment's time is GitHub's clock, a head's is the database's: a move heard up to this long
 * before the comment still counts as after it, so that clocks apart by less never let a push made
 * after the comment through (the cost: a push seconds before a comment is refused as well).
 */
export const CLOCK_MARGIN_SECONDS = 10;

export type HeadCheck = { kind: "ok" } | { kind: "moved"; seen: string | null } | { kind: "wait"; seconds: number };

/**
 * Whether `current`, the head a worker just read, is the head the pull request had when the
 * comment was written, judged from the latest head the App heard of (`heard`, from the
 * pull_request webhooks; their time is when the App received them, never before the push):
 * - heard to move after the comment (or less than CLOCK_MARGIN_SECONDS before): moved, to what
 *   the maintainer may not have seen;
 * - heard to be `current` since before the comment: ok;
 * - `current` not heard of yet: its webhook may be on its way, so wait until HEAD_GRACE_SECONDS
 *   after the comment; then it moved if the App knew another head, and it is ok if the App heard
 *   of none (a pull request older than the App's installation, untouched since).
 */
export function headAsCommented(current: string, heard: { head_sha: string; moved_at: Date } | undefined, commentedAt: Date, now = new Date()): HeadCheck {
  if (heard && heard.moved_at.getTime() > commentedAt.getTime() - CLOCK_MARGIN_SECONDS * 1000) return { kind: "moved", seen: null };
  if (heard && heard.head_sha === current) return { kind: "ok" };
  const wait = (commentedAt.getTime() + HEAD_GRACE_SECONDS * 1000 - now.getTime()) / 1000;
  if (wait > 0) return { kind: "wait", seconds: Math.max(1, Math.ceil(wait)) };
  return heard ? { kind: "moved", seen: heard.head_sha } : { kind: "ok" };
}

/** `pull/<n>/head` and its kin: refs whoever pushes to a pull request moves, fork authors included. */
export function isMovableByForks(ref: string): boolean {
  return /^(refs\/)?pull\//i.test(ref.trim());
}

function repoConfig(snapshot: RepositorySnapshot): RepoConfig {
  if (snapshot.configTruncated) throw new Refusal("config too large", replies.configTruncatedReply());
  const result = parseRepoConfig(snapshot.configText);
  if (!result.ok) throw new Refusal("config invalid", replies.configErrorReply(result.message, result.line));
  return result.config;
}
