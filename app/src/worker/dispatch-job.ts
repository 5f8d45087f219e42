import { configKey, formatDuration, OPTIONS, optionsOn } from "../../../action/src/options.js";
import { cancelRun } from "../github/cancel-run.js";
import { dispatchWorkflow, findRun, type DispatchedRun, type WorkflowInputs } from "../github/dispatch.js";
import type { Octokit } from "../github/octokit.js";
import { runnerCommand, type JobOptions } from "../job-options.js";
import { cancelledStatus, couldNotStartStatus } from "../messages/replies.js";
import type { ClaimedJob, JobRow } from "../store/store.js";
import { describeError, isPermanent, isRateLimited, PermanentError, retryAfterSeconds } from "./github-errors.js";
import { putStatus, react, repoRef, writeComment } from "./status-comment.js";
import { finishFanOut, knownVerdicts } from "./check-run.js";
import {
  fanOutState,
  isFanOut,
  planRound,
  readRangeGraph,
  roundProgress,
  verdictProbes,
  type FanOutState,
  type RangeGraph,
  type RoundPlan,
} from "./fan-out.js";
import type { StoredProbe } from "../store/store.js";
import type { StatusPhase } from "../messages/status-comment.js";
import type { WorkerDeps } from "./worker.js";

/** GitHub's clock and ours differ a little: look for runs from a bit before the attempt began. */
const CLOCK_SKEW_MS = 60_000;

/**
 * The job's options as the bisect workflow passes them on to the Action (`first_parent`,
 * `parallel`, `step_timeout`…): every option the Action has, spelled as in `.github/bisect.yml`.
 */
export function actionOptions(options: JobOptions): Record<string, unknown> {
  const values: Record<string, unknown> = options;
  return Object.fromEntries(optionsOn("action").flatMap((key) => (Object.hasOwn(values, key) ? [[configKey(OPTIONS[key]), values[key]]] : [])));
}

/** The learned prior on the flake rate, as the Action's `flake-history` input takes it (`9/52`). */
function flakeHistoryInput(options: JobOptions): { flake_history?: string } {
  const history = options.flaky ? options.flakeHistory : null;
  return history ? { flake_history: `${history.falseFailures}/${history.cleanTests}` } : {};
}

/** The bisect workflow's inputs for this job (see .github/workflows/bisect.yml). */
export function workflowInputs(job: JobRow, options: JobOptions, known: readonly { sha: string; verdict: string }[] = []): WorkflowInputs {
  return {
    job_id: String(job.id),
    good: job.good_shas.join(","),
    bad: job.bad_sha,
    command: runnerCommand(job.command, options.setup),
    mode: "bisect",
    commits: "",
    options: JSON.stringify({ ...actionOptions(options), known, ...flakeHistoryInput(options) }),
  };
}

/** A fan-out round's inputs: the bisect inputs in probe mode, the round's commits as a JSON list, the round in `options`. */
export function roundInputs(job: JobRow, options: JobOptions, commits: readonly string[], round: number): WorkflowInputs {
  return { ...workflowInputs(job, options), mode: "probe", commits: JSON.stringify(commits), options: JSON.stringify({ ...actionOptions(options), round }) };
}

/**
 * Starts the job's workflow run for its current attempt: shows the job on its thread, then
 * dispatches on the default branch with SHAs as inputs. If an earlier holder of this attempt may
 * have dispatched already (it recorded the intent, then died), it looks for that run first, so a
 * crash between dispatch and commit never starts two runs, and for the status comment it may have
 * posted, so the thread never gets two either. Returns whether a run was recorded.
 */
export async function dispatchJob(job: ClaimedJob, deps: WorkerDeps): Promise<boolean> {
  const { token } = job;
  const { store, settings, log } = deps;
  const where = repoRef(job);
  let octokit: Octokit | undefined;
  let run: DispatchedRun | null = null;
  try {
    if (job.installation_id === null) throw new PermanentError("the job names no installation");
    octokit = await deps.octokitFor(job.installation_id);
    const options = job.options;
    // 👀 at once, so the requester knows the command was taken.
    if (job.status_comment_id === null && job.round === 0) await react(octokit, job, log);
    // Fan-out: the round to dispatch, planned from the range's graph and the verdicts so far.
    let fan: FanOutRound | null = null;
    if (isFanOut(options)) {
      const planned = await planFanOut(job, deps, octokit);
      if (planned === null) return false;
      if (planned.plan.kind === "done") {
        await finishFanOut(job, deps, octokit, { ...planned, newProbes: [], runUrl: job.run_url });
        return false;
      }
      fan = { ...planned, plan: planned.plan };
    }

    // The earliest a run of this attempt can have been created, and the runs earlier attempts had.
    const attemptBegan = new Date((job.attempts <= 1 ? job.created_at : job.next_check_at).getTime() - CLOCK_SKEW_MS);
    const earlierRuns = job.attempts > 1 ? (await store.call("attemptRuns", { jobId: job.id })).map((r) => r.run_id) : [];
    // A dispatch of this attempt or of the one before may have made a run nobody recorded: a
    // worker died after the POST, or GitHub created the run and still answered with an error.
    // Such a run is this job's, and is adopted instead of dispatching another. That worker may
    // also have posted the status comment and died before recording it: it is looked for too.
    const earlierDispatch = job.dispatch_intent_attempt !== null && job.dispatch_intent_attempt >= job.attempts - 1;
    if (earlierDispatch) {
      const round = fan ? { round: fan.plan.round } : {};
      run = await findRun(octokit, where, options.workflow, job.id, new Date(job.created_at.getTime() - CLOCK_SKEW_MS), earlierRuns, {
        uncancelled: true,
        ...round,
      });
      if (run) log.info({ run: run.runId }, "adopted a run an earlier dispatch made");
    }
    if (!run) {
      const firstDispatch = job.attempts <= 1 && job.dispatch_intent_attempt === null;
      if (fan) {
        const { round, commits } = fan.plan;
        if (!(await store.call("recordRoundIntent", { jobId: job.id, token, round, commits }))) return false;
        job.round = round;
        job.round_commits = commits;
      } else if (!(await store.call("recordDispatchIntent", { jobId: job.id, token }))) return false;
      run = await dispatchWorkflow(octokit, where, {
        workflow: options.workflow,
        ref: options.defaultBranch,
        inputs: fan
          ? roundInputs(job, options, fan.plan.commits, fan.plan.round)
          : // Verdicts come from runs: a first attempt that never dispatched has none to read.
            workflowInputs(job, options, knownVerdicts(job, firstDispatch ? [] : await store.call("jobProbes", { jobId: job.id }))),
        jobId: job.id,
        notBefore: attemptBegan,
        earlierRuns,
        ...(fan ? { round: fan.plan.round } : {}),
      });
    }
    // The status comment comes with its run link (one call, not a post and an edit), and is
    // remembered with the run, in one store call, while this worker still holds the job.
    let statusCommentId: number | null = null;
    try {
      const phase: StatusPhase = fan
        ? {
            phase: "round",
            runUrl: run.runUrl,
            progress: roundProgress(job, fan.graph, fan.state, fan.probes, job.round_commits, job.round, job.started_at, new Date()),
          }
        : { phase: "dispatched", runUrl: run.runUrl };
      statusCommentId = await putStatus(octokit, job, phase, { earlierHolder: earlierDispatch });
    } catch (error) {
      // The thread refused the comment (issue deleted, locked…): the run goes on regardless.
      log.warn({ error: describeError(error) }, "could not show the status comment");
    }
    const recorded = await store.call("recordDispatch", {
      jobId: job.id,
      token,
      runId: run.runId,
      runUrl: run.runUrl,
      checkAfterSeconds: settings.RUN_CHECK_SECONDS,
      statusCommentId,
    });
    if (!recorded) return stopIfCancelled(octokit, job, run, deps);
    // Comment to first run: a fan-out's later rounds are not dispatches of the job.
    if (job.round <= 1) deps.metrics?.observeDispatch(job);
    log.info({ run: run.runId, attempt: job.attempts, ...(fan ? { round: job.round, commits: job.round_commits.length } : {}) }, "dispatched");
    return true;
  } catch (error) {
    if (run) {
      // The run exists; only recording it failed. Leave the job as it is: when the lease ends,
      // the next worker finds the run by the dispatch intent and adopts it.
      log.warn({ run: run.runId, error: describeError(error) }, "dispatched, but could not record the run");
      return false;
    }
    // GitHub made no run and did nothing wrong: the job waits for the rate limit, uncounted.
    if (isRateLimited(error)) return holdBack(job, error, deps);
    const reason = `Dispatching the workflow failed: ${describeError(error)}`;
    if (isPermanent(error)) {
      // Retrying cannot fix this (a missing workflow, refused inputs, a missing permission).
      log.warn({ reason }, "dispatch refused; the job fails");
      const failed = await failWithoutRun(job, reason, deps);
      if (failed && octokit) await tellFailure(octokit, job, reason, deps);
      return false;
    }
    log.warn({ reason }, "dispatch failed; trying again later");
    const state = await store.call("failAttempt", { jobId: job.id, token, error: reason, retryAfterSeconds: retryAfterSeconds(error), probes: [] });
    if (state === "failed") deps.metrics?.observeJobEnd(job, state);
    if (state === "failed" && octokit) await tellFailure(octokit, job, reason, deps);
    return false;
  }
}

/** A fan-out round about to be dispatched: what it tests, and what it was planned from. */
interface FanOutRound {
  plan: Extract<RoundPlan, { kind: "round" }>;
  graph: RangeGraph;
  state: FanOutState;
  probes: StoredProbe[];
}

/**
 * Plans the job's next fan-out round. The range's graph is read from the compare API the first
 * time and kept with the job; the recorded verdicts are replayed into the engine. Null when the
 * lease was lost. A graph the engine cannot use is a permanent failure.
 */
async function planFanOut(
  job: ClaimedJob,
  deps: WorkerDeps,
  octokit: Octokit,
): Promise<{ plan: RoundPlan; graph: RangeGraph; state: FanOutState; probes: StoredProbe[] } | null> {
  const { store, log } = deps;
  let graph = await store.call("jobGraph", { jobId: job.id });
  if (graph === null) {
    const read = await readRangeGraph(octokit, repoRef(job), job.good_shas, job.bad_sha);
    if (!(await store.call("setJobGraph", { jobId: job.id, token: job.token, commits: read.commits, apiCalls: read.apiCalls }))) return null;
    graph = read.commits;
    log.info({ commits: graph.length, apiCalls: read.apiCalls }, "read the range's graph");
  }
  const probes = verdictProbes(job, await store.call("jobProbes", { jobId: job.id }));
  let state: FanOutState;
  try {
    state = fanOutState(job, graph, probes);
  } catch (error) {
    throw new PermanentError(`the range's commits as GitHub lists them cannot be bisected: ${describeError(error)}`);
  }
  return { plan: planRound(job, state, probes), graph, state, probes };
}

/** The job ends in an error before any run: nothing was tested. Answers false without the lease. */
async function failWithoutRun(job: ClaimedJob, reason: string, { store, metrics }: WorkerDeps): Promise<boolean> {
  const nothing = { reason: null, culpritSha: null, confidence: null, tested: 0, rounds: 0, probes: [] };
  const failed = await store.call("recordResult", { jobId: job.id, token: job.token, verdict: "error", error: reason, ...nothing });
  if (failed) metrics?.observeJobEnd(job, "failed");
  return failed;
}

/**
 * GitHub's rate limit held the dispatch back: GitHub made no run, so this was no attempt. The job
 * goes back to the queue uncounted, due when GitHub's wait is over (at least a minute when it
 * named none, longer on repeats). Never without bound: when the wait would end past the job's
 * time limit, counted from its creation, the job fails instead, and the thread is told through
 * the reply queue, which posts once the installation may write again.
 */
async function holdBack(job: ClaimedJob, error: unknown, deps: WorkerDeps): Promise<false> {
  const { store, log } = deps;
  const wait = retryAfterSeconds(error);
  const limit = job.options.timeoutSeconds;
  if (Date.now() + wait * 1000 <= job.created_at.getTime() + limit * 1000) {
    const why = `Waiting for GitHub's rate limit: ${describeError(error)}`;
    if (await store.call("deferJob", { jobId: job.id, token: job.token, seconds: wait, error: why })) {
      log.warn({ wait, error: describeError(error) }, "dispatch held back by GitHub's rate limit; not an attempt, queued again");
    }
    return false;
  }
  const reason = `GitHub's rate limit kept the workflow from starting within the job's time limit (${formatDuration(limit)}): ${describeError(error)}`;
  log.warn({ reason }, "dispatch held back by GitHub's rate limit past the time limit; the job fails");
  const failed = await failWithoutRun(job, reason, deps);
  // An automatic bisect without its issue has no thread to say it on: its state says it.
  if (failed && job.issue_number !== null && job.comment_id !== null) {
    await store.call("enqueueTask", {
      kind: "reply",
      deliveryId: null,
      repository: job.repository,
      repositoryId: job.repository_id,
      installationId: job.installation_id,
      issueNumber: job.issue_number,
      commentId: job.comment_id,
      payload: { body: couldNotStartStatus(job, reason), reaction: null, cancelRunId: null },
    });
  }
  return false;
}

/**
 * The lease was lost while dispatching. If that is because someone cancelled the job, nobody else
 * knows this run: cancel it, and put the status comment back to "cancelled".
 */
async function stopIfCancelled(octokit: Octokit, job: JobRow, run: DispatchedRun, deps: WorkerDeps): Promise<false> {
  const now = await deps.store.call("getJob", { jobId: job.id });
  if (now?.state !== "cancelled") return false;
  await cancelRun(octokit, repoRef(job), run.runId).catch((error: unknown) => deps.log.warn({ error: describeError(error) }, "could not cancel the run"));
  const withComment = { ...now, status_comment_id: job.status_comment_id ?? now.status_comment_id, run_url: run.runUrl };
  await writeComment(octokit, withComment, cancelledStatus(withComment, now.cancelled_by ?? "a maintainer"), deps.log);
  deps.log.info({ run: run.runId }, "the job was cancelled during its dispatch: run cancelled");
  return false;
}

/** Edits the status comment (or posts one) to say the job failed and why. */
function tellFailure(octokit: Octokit, job: JobRow, reason: string, deps: WorkerDeps): Promise<void> {
  return writeComment(octokit, job, couldNotStartStatus(job, reason), deps.log);
}
