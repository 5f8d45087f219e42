import { z } from "zod";
import type { ResultDocument } from "../../../action/src/result-document.js";
import { cancelRun } from "../github/cancel-run.js";
import { commitDetails } from "../github/commit-details.js";
import { commitFiles } from "../github/commit-files.js";
import { httpStatus, type Octokit } from "../github/octokit.js";
import { ArtifactProblem, readResultArtifact } from "../github/result-artifact.js";
import type { JobOptions } from "../job-options.js";
import { failureComment, resultComment } from "../messages/result-comment.js";
import type { ClaimedJob, JobRow, StoredProbe } from "../store/store.js";
import { hasThread, repoRef, writeComment } from "./status-comment.js";
import { reportBody, reportTitle } from "../messages/auto-report.js";
import { noteFlakeEvidence } from "./flake-history.js";
import { describeError, isPermanent, retryAfterSeconds } from "./github-errors.js";
import { StoreDataError } from "../store/store.js";
import { inRange } from "../github/in-range.js";
import type { WorkerDeps } from "./worker.js";
import type { Probe } from "../../../action/src/result-document.js";
import { dispatchJob } from "./dispatch-job.js";
import {
  fanOutResult,
  fanOutState,
  isFanOut,
  onFirstParentLine,
  readRoundVerdicts,
  stillNeeded,
  verdictProbes,
  type FanOutState,
  type RangeGraph,
} from "./fan-out.js";

/** The longest a quiet run goes unchecked. */
const MAX_CHECK_SECONDS = 600;

const runSchema = z.object({
  id: z.number().int(),
  run_attempt: z.number().int().min(1).optional(),
  status: z.string().nullable(),
  conclusion: z.string().nullable(),
  html_url: z.string(),
});

/** Conclusions that mean the run ended by itself; anything else (cancelled by GitHub, …) is an infrastructure failure when no result came. */
const ENDED = new Set(["success", "failure", "neutral"]);

export type CheckOutcome = "result" | "waiting" | "retrying" | "failed" | "timed-out" | "lost-lease" | "looking-again" | "next-round";

/**
 * Looks at a job in a row that may come to nothing (GitHub failing, an answer that does not parse,
 * a worker dying while it looked) before the attempt is given up as an infrastructure failure.
 * With the backoff (30 s doubling) that is about 7 minutes of trying.
 */
export const MAX_FAILED_CHECKS = 5;

function repositoryUrl(job: JobRow, octokit: Octokit): string {
  // The web URL of the repository on this GitHub (github.com, or an Enterprise Server).
  const api = (octokit.request.endpoint.DEFAULTS.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
  const web = api === "https://api.github.com" ? "https://github.com" : api.replace(/\/api\/v3$/, "");
  return `${web}/${job.repository}`;
}

/** Known verdicts sent with a dispatch, at most: the workflow's inputs must stay under 65,535 characters. */
export const MAX_KNOWN = 800;

/** The verdicts a run of this job starts with (the Action's `known` input): the free ones, then the latest tested per commit. */
export function knownVerdicts(job: JobRow, probes: readonly StoredProbe[]): { sha: string; verdict: "good" | "bad" | "skip" }[] {
  const latest = new Map<string, "good" | "bad" | "skip">();
  // What CI runs said of the range's commits, then what the job's runs tested (which wins).
  for (const f of job.free_verdicts) latest.set(f.sha, f.verdict);
  for (const p of probes) {
    if (p.attempt < job.resume_from_attempt || p.verdict === "error") continue;
    latest.set(p.sha, p.verdict);
  }
  return [...latest].map(([sha, verdict]) => ({ sha, verdict })).slice(-MAX_KNOWN);
}

/** Seconds until the next look at a run: grows with its age (half of it), 30 s to 10 min, never past its time limit. */
function nextCheckSeconds(job: JobRow, options: JobOptions, minimum: number, now: number, since: Date | null): number {
  const age = runAge(job, now, since);
  const untilTimeout = options.timeoutSeconds - age;
  return Math.max(1, Math.ceil(Math.min(Math.max(age / 2, minimum), MAX_CHECK_SECONDS, untilTimeout + 1)));
}

/**
 * A dispatched or running job is due: its run completed (a workflow_run webhook said so), or it
 * has been quiet for a while (the reconciler's look). Asks GitHub only what the webhook did not
 * say, then: reads the result and writes the answer; or retries an infrastructure failure,
 * resuming with the verdicts known; or cancels a run past its time limit; or looks again later.
 */
export async function checkRun(job: ClaimedJob, deps: WorkerDeps, now = Date.now()): Promise<CheckOutcome> {
  const { token } = job;
  const { store, settings } = deps;
  if (job.installation_id === null || job.run_id === null) {
    await store.call("failAttempt", { jobId: job.id, token, error: "the job lost its run or installation", retryAfterSeconds: 0, probes: [] });
    return "retrying";
  }
  const octokit = await deps.octokitFor(job.installation_id);
  const where = repoRef(job);
  const options = job.options;
  const runId = job.run_id;

  let conclusion: string | null;
  let runUrl = job.run_url ?? "";
  if (job.noted_run_id === runId && job.noted_conclusion !== null) {
    conclusion = job.noted_conclusion;
  } else {
    let run: z.infer<typeof runSchema>;
    try {
      run = runSchema.parse((await octokit.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}", { ...where, run_id: runId })).data);
    } catch (error) {
      if (httpStatus(error) === 404) return infrastructureFailure(job, deps, octokit, `the workflow run ${runId} no longer exists`);
      throw error;
    }
    runUrl = run.html_url;
    if (run.status !== "completed") {
      const age = runAge(job, now, await limitStart(job, deps));
      if (age >= options.timeoutSeconds) return timeOut(job, runId, deps, octokit);
      if (run.status === "in_progress" && job.state === "dispatched")
        await store.call("noteRunEvent", {
          repositoryId: job.repository_id,
          runId,
          runAttempt: run.run_attempt ?? 1,
          jobId: job.id,
          status: "in_progress",
          conclusion: null,
        });
      const seconds = nextCheckSeconds(job, options, settings.RUN_CHECK_SECONDS, now, await limitStart(job, deps));
      return (await store.call("checkLater", { jobId: job.id, token, seconds })) ? "waiting" : "lost-lease";
    }
    conclusion = run.conclusion;
  }

  if (isFanOut(options)) return checkRound(job, deps, octokit, runId, conclusion, runUrl, now);

  let result: ResultDocument;
  try {
    result = await readResultArtifact(octokit, where, runId, job.id);
    const sameRange = result.range.bad === job.bad_sha && [...result.range.good].sort().join() === [...job.good_shas].sort().join();
    if (!sameRange) throw new ArtifactProblem("the result is for another range than this job's");
    // The answer names its author and may ping them: a culprit the run made up (its test code can
    // write this file) must be a commit of the range, or nobody is blamed.
    if (result.verdict === "culprit" && result.culprit && !(await inRange(octokit, where, job.good_shas, job.bad_sha, result.culprit.sha)))
      throw new ArtifactProblem(
        `the culprit ${result.culprit.sha.slice(0, 12)} is not a commit of the range ${job.good_shas.map((g) => g.slice(0, 12)).join(",")}..${job.bad_sha.slice(0, 12)}`,
      );
  } catch (caught) {
    // GitHub refusing to list or serve the artifact (the run or artifact deleted, 404/410) is an
    // unusable result like any other, not something to retry forever on every lease.
    const error =
      !(caught instanceof ArtifactProblem) && isPermanent(caught) ? new ArtifactProblem(`GitHub refused the artifact: ${describeError(caught)}`) : caught;
    if (!(error instanceof ArtifactProblem)) throw error;
    const why = conclusion !== null && !ENDED.has(conclusion) ? `the run ended ${conclusion} without a result (${error.message})` : error.message;
    return infrastructureFailure(job, deps, octokit, why);
  }

  const probes = result.probes;
  // The Action keeps its result file up to date while it runs (verdict `interrupted`): a run that
  // was cancelled, timed out or died left the verdicts so far, and the next attempt resumes from
  // them. A run that did not end by itself and reports an error is the same kind of failure.
  if (result.verdict === "interrupted" || (conclusion !== null && !ENDED.has(conclusion) && result.verdict === "error")) {
    return infrastructureFailure(
      job,
      deps,
      octokit,
      `the run ended ${conclusion ?? "early"} after ${probes.length} tests (${result.error ?? "no result"})`,
      probes,
    );
  }
  // Probe mode's answer; this job asked for a whole bisection.
  if (result.verdict === "searching")
    return infrastructureFailure(job, deps, octokit, "the run tested some commits but did not bisect (a probe-mode result)", probes);
  return answer(job, deps, octokit, result, probes, runUrl, now, null);
}

/**
 * The job's answer: the result is recorded (with `probes`, the verdicts not recorded yet) and the
 * status comment edited into it; an automatic bisect's culprit is reported instead (its issue, a
 * report task queued before the result is recorded). An unstorable result is an infrastructure
 * failure.
 */
async function answer(
  job: ClaimedJob,
  deps: WorkerDeps,
  octokit: Octokit,
  result: ResultDocument,
  probes: ResultDocument["probes"],
  runUrl: string,
  now: number,
  fanOut: { perRound: number[]; offFirstParentLine: boolean } | null,
): Promise<CheckOutcome> {
  const { store, log } = deps;
  const where = repoRef(job);
  const verdict = result.verdict;
  if (verdict === "interrupted" || verdict === "searching") return infrastructureFailure(job, deps, octokit, `the bisect ended ${verdict}`, probes);
  const named = result.verdict === "culprit" && result.culprit ? result.culprit.sha : null;
  // Who and what: its author and pull request (GraphQL), and the files it changed (REST), to flag a
  // culprit that touches no code. Either may fail: the answer goes out without it.
  const [details, files] =
    named === null
      ? [null, null]
      : await Promise.all([commitDetails(octokit, where, named).catch(() => null), commitFiles(octokit, where, named).catch(() => null)]);
  const culprit = details === null ? null : { ...details, changedFiles: files };
  const render = (counts: { runnerJobs: number; runnerMinutes: number }) =>
    resultComment({
      job,
      options: job.options,
      result,
      culprit,
      repositoryUrl: repositoryUrl(job, octokit),
      runUrl,
      durationMs: now - job.created_at.getTime(),
      attempts: job.attempts,
      // A fan-out knows from its graph; one runner's Action says so in its result.
      offFirstParentLine: fanOut ? fanOut.offFirstParentLine : result.offFirstParentLine === true,
      ...(fanOut ? { fanOut: { perRound: fanOut.perRound, ...counts } } : {}),
    });
  // An automatic bisect has no thread: a culprit opens its issue. The report is queued before the
  // answer is recorded, so no crash between them loses it (it waits for the answer, and checks it).
  const reported = !hasThread(job);
  // A culprit that did not fail again when re-run (--confirm, 1 by default here): the red run was
  // a flake. Nobody is blamed, and the job records it as one.
  const flake = reported && named !== null && result.confirmation?.verdict === "not-reproducible";
  if (reported && named !== null && !flake) {
    const body = render({ runnerJobs: job.runner_jobs, runnerMinutes: job.runner_minutes + (fanOut ? billedMinutes(probes) : 0) });
    await store.call("enqueueReport", {
      jobId: job.id,
      payload: {
        title: reportTitle(job, named, details?.subject ?? null),
        body: reportBody(job, body),
        culpritSha: named,
        pullRequest: details?.pullRequest?.number ?? null,
      },
    });
  }
  let recorded: boolean;
  try {
    recorded = await store.call("recordResult", {
      jobId: job.id,
      token: job.token,
      verdict,
      reason: result.reason ?? (flake ? "flake" : null),
      culpritSha: result.culprit?.sha ?? null,
      confidence: result.culprit?.confidence ?? null,
      tested: result.tested,
      rounds: result.rounds,
      error: result.error ?? null,
      probes: [...probes],
    });
  } catch (error) {
    // The database refuses something in the result: it would refuse it on every try, so the
    // result is unusable, like a malformed one (and the attempt's probes are not kept).
    if (!(error instanceof StoreDataError)) throw error;
    return infrastructureFailure(job, deps, octokit, `the result could not be stored: ${error.message.slice(0, 200)}`);
  }
  if (!recorded) return "lost-lease";
  deps.metrics?.observeJobEnd(job, result.verdict === "error" ? "failed" : "succeeded");
  // What a flaky bisect measured of its test's flake rate: the next one's prior. A courtesy: the answer goes out without it.
  await noteFlakeEvidence(store, job, result).catch((error: unknown) => log.warn({ error: String(error) }, "could not keep the measured flake rate"));
  log.info({ run: job.run_id, verdict: result.verdict, culprit: result.culprit?.sha, reason: result.reason, flake }, "bisect finished");
  // No culprit in an automatic bisect (a flake, most often): nothing is said, the job records it.
  if (reported) return "result";

  // The runner jobs and minutes the store counted, with this round's.
  const ended = fanOut ? await store.call("getJob", { jobId: job.id }).catch(() => undefined) : undefined;
  const body = render({ runnerJobs: ended?.runner_jobs ?? job.runner_jobs, runnerMinutes: ended?.runner_minutes ?? job.runner_minutes });
  await writeComment(octokit, job, body, deps.log);
  return "result";
}

/** Runner minutes of a round's tests, as GitHub bills them (and as the store counts them): each at least a whole minute. */
function billedMinutes(probes: ResultDocument["probes"]): number {
  return probes.reduce((sum, p) => sum + Math.max(1, Math.ceil(p.durationMs / 60_000)), 0);
}

/**
 * A fan-out round's run has completed: its verdicts are read (readRoundVerdicts). With every
 * commit answered (or the unanswered ones no longer telling anything), the engine decides: the
 * answer, or the next round, dispatched at once under the same lease. A commit left without a
 * verdict (its runner lost, its artifact missing or unusable) is an infrastructure failure of
 * the attempt: the verdicts it got are kept, and the next attempt dispatches the round again for
 * the rest only. Past the attempt's time limit no next round starts.
 */
async function checkRound(
  job: ClaimedJob,
  deps: WorkerDeps,
  octokit: Octokit,
  runId: number,
  conclusion: string | null,
  runUrl: string,
  now: number,
): Promise<CheckOutcome> {
  const { store, log } = deps;
  const graph = await store.call("jobGraph", { jobId: job.id });
  if (graph === null) return infrastructureFailure(job, deps, octokit, "the range's graph was not kept with the job");
  const read = await readRoundVerdicts(octokit, repoRef(job), job, runId);
  const recorded = verdictProbes(job, await store.call("jobProbes", { jobId: job.id }));
  const state = fanOutState(job, graph, [...recorded, ...read.probes]);
  const stillTelling = read.missing.filter((sha) => stillNeeded(state, sha));
  if (stillTelling.length > 0) {
    const ended = conclusion !== null && !ENDED.has(conclusion) ? `; the run ended ${conclusion}` : "";
    const why = `round ${job.round}: no verdict for ${stillTelling.length} of ${job.round_commits.length} commits (${read.problems.join("; ") || "no artifact"})${ended}`;
    return infrastructureFailure(job, deps, octokit, why.slice(0, 1000), read.probes);
  }
  if (read.problems.length > 0) log.warn({ round: job.round, problems: read.problems }, "round read with problems; what was missing no longer matters");
  const { status } = state;
  // The search goes on, or its culprit is re-run (--confirm): the next round.
  if (status.state === "searching" || (state.confirming !== null && state.confirming.left.length > 0)) {
    if (!(await store.call("nextRound", { jobId: job.id, token: job.token, probes: read.probes }))) return "lost-lease";
    const next = await store.call("getJob", { jobId: job.id });
    if (next?.state !== "dispatching") return "lost-lease";
    const held: ClaimedJob = { ...next, token: job.token };
    const age = runAge(held, now, await limitStart(held, deps));
    if (age >= job.options.timeoutSeconds) return timeOut(held, null, deps, octokit);
    log.info(
      { round: job.round, verdicts: read.probes.length, ...(status.state === "searching" ? { left: status.candidates } : { rerun: state.confirming?.left }) },
      "round done; dispatching the next",
    );
    await dispatchJob(held, deps);
    return "next-round";
  }
  return finishFanOut(job, deps, octokit, { graph, state, probes: recorded, newProbes: read.probes, runUrl });
}

/** A fan-out that has its answer (after a round, or found so at a dispatch): recorded and written. */
export async function finishFanOut(
  job: ClaimedJob,
  deps: WorkerDeps,
  octokit: Octokit,
  args: { graph: RangeGraph; state: FanOutState; probes: readonly StoredProbe[]; newProbes: readonly Probe[]; runUrl: string | null },
): Promise<CheckOutcome> {
  const all: Probe[] = [...args.probes.map(({ attempt: _attempt, ...p }) => p), ...args.newProbes];
  const result = fanOutResult(job, args.state, all);
  // The commits each round tested, in round order (a round re-dispatched after a lost runner is one round).
  const byRound = new Map<number, number>();
  for (const p of all) byRound.set(p.round, (byRound.get(p.round) ?? 0) + 1);
  const perRound = [...byRound].sort(([a], [b]) => a - b).map(([, n]) => n);
  // The App has the range's graph: a culprit off the bad commit's first-parent line is flagged.
  const offFirstParentLine = !job.options.firstParent && result.culprit !== undefined && !onFirstParentLine(args.graph, job.bad_sha, result.culprit.sha);
  return answer(job, deps, octokit, result, [...args.newProbes], args.runUrl ?? job.run_url ?? "", Date.now(), { perRound, offFirstParentLine });
}

/**
 * Run lost, cancelled by GitHub, result missing or malformed: another attempt (with the verdicts
 * this one got, if any), or the end.
 */
async function infrastructureFailure(
  job: ClaimedJob,
  deps: WorkerDeps,
  octokit: Octokit | null,
  reason: string,
  probes: ResultDocument["probes"] = [],
): Promise<CheckOutcome> {
  deps.log.warn({ attempt: job.attempts, reason, kept: probes.length }, "infrastructure failure");
  const state = await deps.store.call("failAttempt", { jobId: job.id, token: job.token, error: reason, retryAfterSeconds: 0, probes: [...probes] });
  if (state === null) return "lost-lease";
  if (state !== "failed") return "retrying";
  deps.metrics?.observeJobEnd(job, state);
  if (octokit) await writeFailure(job, deps, octokit, reason, await deps.store.call("jobProbes", { jobId: job.id }), false);
  return "failed";
}

/** The job's last word when it ended without an answer: why, what was tested, what next. */
function writeFailure(job: ClaimedJob, deps: WorkerDeps, octokit: Octokit, reason: string, probes: StoredProbe[], timedOut: boolean): Promise<void> {
  const view = { job, options: job.options, reason, runUrl: job.run_url, tested: probes.length, attempts: job.attempts, timedOut, probes };
  return writeComment(octokit, job, failureComment({ ...view, repositoryUrl: repositoryUrl(job, octokit) }), deps.log);
}

/** Past its time limit: cancel the run, end the job `timed_out`, say what was tested. */
async function timeOut(job: ClaimedJob, runId: number | null, deps: WorkerDeps, octokit: Octokit): Promise<CheckOutcome> {
  if (runId !== null) await cancelRun(octokit, repoRef(job), runId);
  const probes = await deps.store.call("jobProbes", { jobId: job.id });
  const reason = `the bisect ran past its time limit of ${Math.round(job.options.timeoutSeconds / 60)} min and was cancelled`;
  if (!(await deps.store.call("timeOutJob", { jobId: job.id, token: job.token, error: reason, tested: probes.length }))) return "lost-lease";
  deps.metrics?.observeJobEnd(job, "timed_out");
  await writeFailure(job, deps, octokit, reason, probes, true);
  return "timed-out";
}

/** Seconds since the current attempt began: its run's dispatch, or a fan-out's first round (its time limit counts from there). */
function runAge(job: JobRow, now: number, since: Date | null = null): number {
  return (now - (since ?? job.dispatched_at ?? job.updated_at).getTime()) / 1000;
}

/**
 * When the job's time limit began for this attempt: a fan-out's attempt spans its rounds, so it
 * counts from the attempt's first round (when the attempt recorded its first run); null for a
 * single run (its dispatch).
 */
async function limitStart(job: JobRow, deps: WorkerDeps): Promise<Date | null> {
  if (!isFanOut(job.options)) return null;
  const runs = await deps.store.call("attemptRuns", { jobId: job.id });
  return runs.find((r) => r.attempt === job.attempts)?.started_at ?? null;
}

/**
 * Follows a dispatched or running job's run, bounded whatever GitHub, the run or its artifact do:
 * a look that fails (GitHub erring, a response that does not parse, a storage host that cannot
 * be reached) is tried again after a backoff; after MAX_FAILED_CHECKS in a row (a worker that died
 * while looking counts too) the attempt ends as an infrastructure failure; and past the run's
 * time limit the job ends `timed_out`, asking GitHub as little as it can.
 */
export async function followRun(job: ClaimedJob, deps: WorkerDeps, now = Date.now()): Promise<CheckOutcome> {
  const pastLimit = runAge(job, now, await limitStart(job, deps).catch(() => null)) >= job.options.timeoutSeconds;
  if (job.failed_checks >= MAX_FAILED_CHECKS)
    return giveUpFollowing(
      job,
      deps,
      `the last ${job.failed_checks} looks at the run came to nothing (${job.error ?? "its worker stopped answering"})`,
      pastLimit,
    );
  try {
    return await checkRun(job, deps, now);
  } catch (error) {
    const reason = `following the run failed: ${describeError(error)}`;
    deps.log.warn({ run: job.run_id, failedChecks: job.failed_checks + 1, error: reason }, "could not follow the run");
    if (pastLimit || job.failed_checks + 1 >= MAX_FAILED_CHECKS) return giveUpFollowing(job, deps, reason, pastLimit);
    const failed = await deps.store.call("checkFailed", { jobId: job.id, token: job.token, error: reason, retryAfterSeconds: retryAfterSeconds(error) });
    return failed === null ? "lost-lease" : "looking-again";
  }
}

/**
 * The run cannot be followed any more: it is cancelled if GitHub lets us; past its time limit the
 * job ends `timed_out`, before it the attempt is an infrastructure failure (another run, while
 * attempts remain). GitHub calls here are best-effort: the job's state is recorded whatever
 * GitHub answers.
 */
async function giveUpFollowing(job: ClaimedJob, deps: WorkerDeps, reason: string, pastLimit: boolean): Promise<CheckOutcome> {
  const octokit = job.installation_id === null ? null : await deps.octokitFor(job.installation_id).catch(() => null);
  // The run may still hold a runner: it is stopped (if GitHub lets us) before another is dispatched
  // or the job ends, so a given-up run never goes on beside its successor.
  if (octokit && job.run_id !== null)
    await cancelRun(octokit, repoRef(job), job.run_id).catch((error: unknown) => deps.log.warn({ error: describeError(error) }, "could not cancel the run"));
  if (!pastLimit) return infrastructureFailure(job, deps, octokit, reason);
  const probes = await deps.store.call("jobProbes", { jobId: job.id });
  const limit = Math.round(job.options.timeoutSeconds / 60);
  const why = `the bisect ran past its time limit of ${limit} min while its run could not be followed (${reason})`;
  if (!(await deps.store.call("timeOutJob", { jobId: job.id, token: job.token, error: why, tested: probes.length }))) return "lost-lease";
  deps.metrics?.observeJobEnd(job, "timed_out");
  if (octokit) await writeFailure(job, deps, octokit, why, probes, true);
  return "timed-out";
}
