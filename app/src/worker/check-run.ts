import { z } from "zod";
import type { ResultDocument } from "../../../action/src/result-document.js";
import { commitDetails } from "../github/commit-details.js";
import { httpStatus, type Octokit } from "../github/octokit.js";
import { ArtifactProblem, readResultArtifact } from "../github/result-artifact.js";
import type { JobOptions } from "../job-options.js";
import { failureComment, resultComment } from "../messages/result-comment.js";
import type { ClaimedJob, JobRow, StoredProbe } from "../store/store.js";
import { jobOptions, repoRef, writeComment } from "./status-comment.js";
import { describeError, isPermanent } from "./github-errors.js";
import type { WorkerDeps } from "./worker.js";

/** Before re-dispatching after an infrastructure failure: seconds · 2^(attempt−1), ±20 %. */
export const RETRY_BASE_SECONDS = 30;
/** The longest a quiet run goes unchecked. */
const MAX_CHECK_SECONDS = 600;

const runSchema = z.object({
  id: z.number().int(),
  status: z.string().nullable(),
  conclusion: z.string().nullable(),
  html_url: z.string(),
});

/** Conclusions that mean the run ended by itself; anything else (cancelled by GitHub, …) is an infrastructure failure when no result came. */
const ENDED = new Set(["success", "failure", "neutral"]);

export type CheckOutcome = "result" | "waiting" | "retrying" | "failed" | "timed-out" | "lost-lease";

function repositoryUrl(job: JobRow, octokit: Octokit): string {
  // The web URL of the repository on this GitHub (github.com, or an Enterprise Server).
  const api = (octokit.request.endpoint.DEFAULTS.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
  const web = api === "https://api.github.com" ? "https://github.com" : api.replace(/\/api\/v3$/, "");
  return `${web}/${job.repository}`;
}

/** Known verdicts sent with a dispatch, at most: the workflow's inputs must stay under 65,535 characters. */
export const MAX_KNOWN = 800;

/** The verdicts a new attempt of this job resumes with (the Action's `known` input), the latest per commit. */
export function knownVerdicts(job: JobRow, probes: readonly (StoredProbe & { attempt: number })[]): { sha: string; verdict: "good" | "bad" | "skip" }[] {
  const latest = new Map<string, "good" | "bad" | "skip">();
  for (const p of probes) {
    if (p.attempt < job.resume_from_attempt || p.verdict === "error") continue;
    latest.set(p.sha, p.verdict);
  }
  return [...latest].map(([sha, verdict]) => ({ sha, verdict })).slice(-MAX_KNOWN);
}

/** Seconds until the next look at a run: grows with its age (half of it), 30 s to 10 min, never past its time limit. */
function nextCheckSeconds(job: JobRow, options: JobOptions, minimum: number, now: number): number {
  const age = (now - (job.dispatched_at ?? job.updated_at).getTime()) / 1000;
  const untilTimeout = options.timeoutSeconds - age;
  return Math.max(1, Math.ceil(Math.min(Math.max(age / 2, minimum), MAX_CHECK_SECONDS, untilTimeout + 1)));
}

/**
 * A dispatched or running job is due: its run completed (a workflow_run webhook said so), or it
 * has been quiet for a while (the reconciler's look). Asks GitHub only what the webhook did not
 * say, then: reads the result and writes the answer; or retries an infrastructure failure,
 * resuming with the verdicts known; or cancels a run past its time limit; or looks again later.
 */
export async function checkRun(claimed: ClaimedJob, deps: WorkerDeps, now = Date.now()): Promise<CheckOutcome> {
  const { job, token } = claimed;
  const { store, settings, log } = deps;
  if (job.installation_id === null || job.run_id === null) {
    await store.failAttempt(job.id, token, "the job lost its run or installation", RETRY_BASE_SECONDS, []);
    return "retrying";
  }
  const octokit = await deps.octokitFor(job.installation_id);
  const where = repoRef(job);
  const options = jobOptions(job);
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
      if (httpStatus(error) === 404) return infrastructureFailure(claimed, deps, octokit, options, `the workflow run ${runId} no longer exists`);
      throw error;
    }
    runUrl = run.html_url;
    if (run.status !== "completed") {
      const age = (now - (job.dispatched_at ?? job.updated_at).getTime()) / 1000;
      if (age >= options.timeoutSeconds) return timeOut(claimed, deps, octokit, options);
      if (run.status === "in_progress" && job.state === "dispatched") await store.noteRunEvent(runId, job.id, "in_progress", null);
      const later = nextCheckSeconds(job, options, settings.RUN_CHECK_SECONDS, now);
      return (await store.checkLater(job.id, token, later)) ? "waiting" : "lost-lease";
    }
    conclusion = run.conclusion;
  }

  let result: ResultDocument;
  try {
    result = await readResultArtifact(octokit, where, runId, job.id);
    const sameRange = result.range.bad === job.bad_sha && [...result.range.good].sort().join() === [...job.good_shas].sort().join();
    if (!sameRange) throw new ArtifactProblem("the result is for another range than this job's");
  } catch (caught) {
    // GitHub refusing to list or serve the artifact (the run or artifact deleted, 404/410) is an
    // unusable result like any other, not something to retry forever on every lease.
    const error = !(caught instanceof ArtifactProblem) && isPermanent(caught) ? new ArtifactProblem(`GitHub refused the artifact: ${describeError(caught)}`) : caught;
    if (!(error instanceof ArtifactProblem)) throw error;
    const why = conclusion !== null && !ENDED.has(conclusion) ? `the run ended ${conclusion} without a result (${error.message})` : error.message;
    return infrastructureFailure(claimed, deps, octokit, options, why);
  }

  const probes: StoredProbe[] = result.probes.map((p) => ({ sha: p.sha, verdict: p.verdict, exitCode: p.exitCode, durationMs: p.durationMs, round: p.round }));
  // The Action keeps its result file up to date while it runs ("interrupted: …"): a run that was
  // cancelled, timed out or died left the verdicts so far, and the next attempt resumes from them.
  if (isInterrupted(result) || (conclusion !== null && !ENDED.has(conclusion) && result.verdict === "error")) {
    return infrastructureFailure(claimed, deps, octokit, options, `the run ended ${conclusion ?? "early"} after ${probes.length} tests (${result.error ?? "no result"})`, probes);
  }
  const recorded = await store.recordResult(job.id, token, {
    verdict: result.verdict,
    culpritSha: result.culprit?.sha ?? null,
    confidence: result.culprit?.confidence ?? null,
    tested: result.tested,
    rounds: result.rounds,
    error: result.error ?? null,
    probes,
  });
  if (!recorded) return "lost-lease";
  log.info({ job: job.id, run: runId, verdict: result.verdict, culprit: result.culprit?.sha }, "bisect finished");

  const culprit = result.verdict === "culprit" && result.culprit ? await commitDetails(octokit, where, result.culprit.sha).catch(() => null) : null;
  const body = resultComment({
    job,
    options,
    result,
    culprit,
    repositoryUrl: repositoryUrl(job, octokit),
    runUrl,
    durationMs: now - job.created_at.getTime(),
    attempts: job.attempts,
  });
  await writeComment(octokit, job, body, deps.log);
  return "result";
}

/** A result document the Action wrote while running, not at the end (see action-main.ts). */
export function isInterrupted(result: ResultDocument): boolean {
  return result.verdict === "error" && (result.error ?? "").startsWith("interrupted:");
}

/**
 * Run lost, cancelled by GitHub, result missing or malformed: another attempt (with the verdicts
 * this one got, if any), or the end.
 */
async function infrastructureFailure(
  claimed: ClaimedJob,
  deps: WorkerDeps,
  octokit: Octokit,
  options: JobOptions,
  reason: string,
  probes: readonly StoredProbe[] = [],
): Promise<CheckOutcome> {
  const { job, token } = claimed;
  deps.log.warn({ job: job.id, attempt: job.attempts, reason, kept: probes.length }, "infrastructure failure");
  const state = await deps.store.failAttempt(job.id, token, reason, RETRY_BASE_SECONDS, probes);
  if (state === null) return "lost-lease";
  if (state !== "failed") return "retrying";
  const tested = await deps.store.probes(job.id);
  await writeComment(
    octokit,
    job,
    failureComment({ job, options, reason, runUrl: job.run_url, tested: tested.length, attempts: job.attempts, timedOut: false, probes: tested, repositoryUrl: repositoryUrl(job, octokit) }),
    deps.log,
  );
  return "failed";
}

/** Past its time limit: cancel the run, end the job `timed_out`, say what was tested. */
async function timeOut(claimed: ClaimedJob, deps: WorkerDeps, octokit: Octokit, options: JobOptions): Promise<CheckOutcome> {
  const { job, token } = claimed;
  try {
    await octokit.request("POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel", { ...repoRef(job), run_id: job.run_id! });
  } catch (error) {
    // 409: it had ended meanwhile; 404: it is gone. Either way it runs no more.
    if (httpStatus(error) !== 409 && httpStatus(error) !== 404) throw error;
  }
  const probes = await deps.store.probes(job.id);
  const reason = `the bisect ran past its time limit of ${Math.round(options.timeoutSeconds / 60)} min and was cancelled`;
  if (!(await deps.store.timeOutJob(job.id, token, reason, probes.length))) return "lost-lease";
  await writeComment(
    octokit,
    job,
    failureComment({ job, options, reason, runUrl: job.run_url, tested: probes.length, attempts: job.attempts, timedOut: true, probes, repositoryUrl: repositoryUrl(job, octokit) }),
    deps.log,
  );
  return "timed-out";
}
