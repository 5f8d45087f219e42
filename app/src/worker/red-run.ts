/**
 * Automatic bisects: a listed workflow's run failed on the default branch. When the run before it
 * passed, the App bisects that run's head..this run's head with the config's `auto` command,
 * without anyone asking, once per (workflow, red head). `/bisect <run URL>` infers its range the
 * same way (redRange).
 */
import { parseRepoConfig, type RepoConfig } from "../config/repo-config.js";
import { compareCommits } from "../github/compare.js";
import type { Octokit, RepoRef } from "../github/octokit.js";
import { snapshotRepository } from "../github/resolve-refs.js";
import { branchRuns, freeVerdicts, mergeQueueRuns, onDefaultBranch, previousRun, runVerdict, workflowFileOf, type CiRun } from "../github/workflow-runs.js";
import { runnersWithin, type JobOptions } from "../job-options.js";
import type { FreeVerdict, RedRun } from "../store/rows.js";
import type { ClaimedTask } from "../store/store.js";
import { readRangeGraph } from "./fan-out.js";
import { learnedFlakeHistory } from "./flake-history.js";
import { PermanentError } from "./github-errors.js";
import { NotYet } from "./not-yet.js";
import { repoRef } from "./status-comment.js";
import type { WorkerDeps } from "./worker.js";

type RedRunTask = Extract<ClaimedTask, { kind: "red-run" }>;

/** Why a failed run gives no range to bisect; each has its reply for `/bisect <run URL>`. */
export type NoRange =
  | { kind: "not-failed"; conclusion: string | null; status: string | null }
  | { kind: "not-default-branch"; branch: string | null; event: string; defaultBranch: string }
  | { kind: "previous-red"; previous: CiRun }
  | { kind: "no-green" }
  | { kind: "same-commit"; previous: CiRun }
  | { kind: "not-ancestor"; previous: CiRun };

export interface RedRange {
  kind: "range";
  red: CiRun;
  green: CiRun;
  /** Commits in green..red. */
  commits: number;
  free: FreeVerdict[];
  apiCalls: number;
}

/** The run as a job keeps it (its link, workflow file and number). */
export function redRunOf(run: CiRun): RedRun {
  return { id: run.id, url: run.html_url, workflow: workflowFileOf(run.path), number: run.run_number };
}

/**
 * The range a failed run of the default branch asks to bisect: the head of the run before it (of
 * the same workflow), which must have passed, to its own head; with the verdicts the workflow's
 * other completed runs already gave for commits of the range. Reads 1–3 pages of runs, one
 * comparison, and the range's commits only when some run's head may be among them.
 */
export async function redRange(
  octokit: Octokit,
  where: RepoRef,
  repositoryId: number,
  defaultBranch: string,
  red: CiRun,
  options: { waitForEarlier: boolean },
): Promise<RedRange | NoRange | { kind: "wait"; run: CiRun }> {
  if (red.status !== "completed" || red.conclusion !== "failure") return { kind: "not-failed", conclusion: red.conclusion, status: red.status };
  if (!onDefaultBranch(red, repositoryId, defaultBranch)) return { kind: "not-default-branch", branch: red.head_branch, event: red.event, defaultBranch };
  const listed = await branchRuns(octokit, where, red.workflow_id, defaultBranch, red.run_number);
  let apiCalls = listed.apiCalls;
  let previous = previousRun(red, listed.runs, repositoryId, defaultBranch);
  if (previous.kind === "unfinished") {
    if (options.waitForEarlier) return { kind: "wait", run: previous.run };
    // Asked for now: from the last decisive run, as if the unfinished ones had not run.
    const decided = listed.runs.filter((r) => r.status === "completed" || r.id === red.id);
    previous = previousRun(red, decided, repositoryId, defaultBranch);
  }
  if (previous.kind === "none" || previous.kind === "unfinished") return { kind: "no-green" };
  if (previous.kind === "red") return { kind: "previous-red", previous: previous.run };
  const green = previous.run;
  if (green.head_sha === red.head_sha) return { kind: "same-commit", previous: green };
  const comparison = await compareCommits(octokit, where, green.head_sha, red.head_sha);
  apiCalls++;
  if (comparison.status !== "ahead") return { kind: "not-ancestor", previous: green };
  let free: FreeVerdict[] = [];
  if (comparison.ahead_by > 1) {
    // Runs whose head may be a commit of the range: the branch's later ones (a run dispatched on an
    // older commit), and the merge queue's. The range is read only when there are some.
    const ends = new Set([green.head_sha, red.head_sha]);
    const queued = await mergeQueueRuns(octokit, where, red.workflow_id);
    apiCalls++;
    const runs = [...listed.runs, ...queued].filter((r) => !ends.has(r.head_sha) && runVerdict(r) !== null);
    if (runs.length > 0) {
      const graph = await readRangeGraph(octokit, where, [green.head_sha], red.head_sha);
      apiCalls += graph.apiCalls;
      const inside = new Set(graph.commits.map(([sha]) => sha!));
      free = freeVerdicts(runs, (sha) => inside.has(sha), repositoryId, defaultBranch);
    }
  }
  return { kind: "range", red, green, commits: comparison.ahead_by, free, apiCalls };
}

/** The most runners within the repository's runner-minute budget, up to `wanted` (one runner is no fan-out: no budget applies). */
function runnersWithinBudget(config: RepoConfig, commits: number, wanted: number, flaky: boolean): number {
  const budget = config.maxRunnerMinutes;
  if (budget === null || wanted <= 1) return wanted;
  return runnersWithin(budget, commits, wanted, flaky, config.stepTimeoutSeconds) ?? 1;
}

/** How long a red run's task waits between looks at an earlier run still going. */
const WAIT_SECONDS = 60;
/** How long it waits at most for earlier runs to finish, from the red run's webhook. */
export const MAX_WAIT_SECONDS = 3600;

/** Whether the task may still wait for earlier runs. */
function waitsLeft(task: RedRunTask, now = Date.now()): boolean {
  return now - task.created_at.getTime() < MAX_WAIT_SECONDS * 1000;
}

/** The run a red-run task is about, from its webhook. */
function runOfTask(task: RedRunTask): CiRun {
  const p = task.payload;
  return {
    id: p.runId,
    run_number: p.runNumber,
    run_attempt: p.runAttempt,
    workflow_id: p.workflowId,
    path: p.workflowPath,
    head_sha: p.headSha,
    head_branch: p.headBranch,
    event: p.event,
    status: "completed",
    conclusion: "failure",
    html_url: p.url,
    head_repository: p.headRepositoryId === null ? null : { id: p.headRepositoryId },
  };
}

/**
 * A listed workflow failed on the default branch: a bisect of last green..first red (a new job, or
 * one bisecting the same red head joined), or nothing, with why. Only reads from GitHub; the job
 * runs as any other and its answer opens the issue (report task).
 */
export async function handleRedRun(task: RedRunTask, worker: WorkerDeps): Promise<string> {
  if (task.installation_id === null) throw new PermanentError("the webhook named no installation");
  const { store, settings, log } = worker;
  const octokit = await worker.octokitFor(task.installation_id);
  const where = repoRef(task);
  const snapshot = await snapshotRepository(octokit, where, { goods: [], bad: null, pullRequest: null });
  const parsed = parseRepoConfig(snapshot.configTruncated ? null : snapshot.configText);
  // Nobody asked, so nobody is answered: a broken config is for /bisect commands to report.
  if (!parsed.ok) return `ignored: the config is invalid (${parsed.message})`;
  const config = parsed.config;
  const file = workflowFileOf(task.payload.workflowPath);
  if (config.auto === null || !config.auto.workflows.includes(file)) return `ignored: ${file} is not listed under auto`;
  if (!snapshot.workflowFiles.includes(config.workflow)) return `ignored: the bisect workflow ${config.workflow} is not on ${snapshot.defaultBranch}`;
  const red = runOfTask(task);
  const range = await redRange(octokit, where, task.repository_id, snapshot.defaultBranch, red, { waitForEarlier: waitsLeft(task) });
  // An earlier run still going may be the first red (its own task then bisects), or a green one
  // closer to the breakage: worth a wait, within a bound.
  if (range.kind === "wait") throw new NotYet(WAIT_SECONDS, `waiting for run #${range.run.run_number} of the same workflow to finish`);
  if (range.kind !== "range") return `ignored: ${noRangeWhy(range)}`;
  if (range.commits > config.maxCommits) return `ignored: ${range.commits} commits, over max_commits ${config.maxCommits}`;
  const command = (config.auto.command ?? config.command)!;
  const runners = runnersWithinBudget(config, range.commits, config.auto.runners, config.flaky);
  const options: JobOptions = {
    firstParent: config.firstParent,
    flaky: config.flaky,
    findFix: false,
    confirm: config.auto.confirm,
    parallel: config.parallel,
    runners,
    confidence: config.confidence,
    timeoutSeconds: config.timeoutSeconds ?? settings.BISECT_TIMEOUT_SECONDS,
    stepTimeoutSeconds: config.stepTimeoutSeconds,
    workflow: config.workflow,
    defaultBranch: snapshot.defaultBranch,
    commits: range.commits,
    setup: config.setup,
    pullRequest: null,
    flakeHistory: null,
  };
  options.flakeHistory = await learnedFlakeHistory(store, task.repository_id, command, options);
  const good = range.green.head_sha;
  const joinJobId = await bisectingAlready(worker, octokit, where, task.repository_id, command, red.head_sha);
  const { job_id, outcome } = await store.call("createAutoJob", {
    deliveryId: task.delivery_id ?? `red-run-${red.id}`,
    repository: task.repository,
    repositoryId: task.repository_id,
    installationId: task.installation_id,
    workflow: task.payload.workflowPath,
    runId: red.id,
    redRun: redRunOf(red),
    goodRefs: [good.slice(0, 12)],
    badRef: red.head_sha.slice(0, 12),
    goodShas: [good],
    badSha: red.head_sha,
    command,
    options,
    freeVerdicts: range.free,
    maxAttempts: settings.MAX_ATTEMPTS,
    joinJobId,
    maxPerDay: config.maxAutoBisectsPerDay,
  });
  const said = { job: job_id, outcome, commits: range.commits, free: range.free.length, apiCalls: range.apiCalls };
  if (outcome.endsWith("over budget")) log.warn(said, "automatic bisect not started: max_auto_bisects_per_day reached");
  else log.info(said, "automatic bisect");
  return `${outcome}${job_id === null ? "" : ` job ${job_id}`}: ${range.green.head_sha.slice(0, 12)}..${red.head_sha.slice(0, 12)}, ${range.free.length} free verdicts`;
}

/** For logs and task outcomes. */
export function noRangeWhy(range: NoRange): string {
  switch (range.kind) {
    case "not-failed":
      return `the run ${range.status === "completed" ? `concluded ${range.conclusion ?? "without a conclusion"}` : `is ${range.status ?? "not completed"}`}`;
    case "not-default-branch":
      return `the run is a ${range.event} run of ${range.branch ?? "no branch"}, not of ${range.defaultBranch}`;
    case "previous-red":
      return `the run before it (#${range.previous.run_number}) failed too`;
    case "no-green":
      return "no earlier run of the workflow passed";
    case "same-commit":
      return `the run before it (#${range.previous.run_number}) passed on the same commit: a flaky failure`;
    case "not-ancestor":
      return `the last green run's head ${range.previous.head_sha.slice(0, 12)} is not an ancestor of the red head (history rewritten)`;
  }
}

/**
 * An automatic job of the last day, with the same command, whose range holds `redHead` (its
 * workflow, or another, went red at or after it): it is bisecting this breakage already. Two
 * comparisons per job looked at, at most 10 jobs.
 */
async function bisectingAlready(
  worker: WorkerDeps,
  octokit: Octokit,
  where: RepoRef,
  repositoryId: number,
  command: string,
  redHead: string,
): Promise<number | null> {
  for (const job of await worker.store.call("autoJobsFrom", { repositoryId, command })) {
    if (job.bad_sha === redHead) return job.id;
    const [afterGood, beforeBad] = await Promise.all([
      compareCommits(octokit, where, job.good_shas[0]!, redHead),
      compareCommits(octokit, where, redHead, job.bad_sha),
    ]);
    if (afterGood.status === "ahead" && beforeBad.status === "ahead") return job.id;
  }
  return null;
}
