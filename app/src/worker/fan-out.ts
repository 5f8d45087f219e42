import { z } from "zod";
import { Bisection, engineVerdict, onFirstParentLine as onFirstParentLineOf, type BisectStatus } from "../../../action/src/bisect/index.js";
import type { Probe, ResultDocument } from "../../../action/src/result-document.js";
import { endedResult, resultBase, withFlakeEvidence, type RunFailure } from "../../../action/src/runner/run-result.js";
import { confirmationOf } from "../../../action/src/runner/bisect-runner.js";
import type { Octokit, RepoRef } from "../github/octokit.js";
import { ArtifactProblem, downloadResult, listRoundArtifacts } from "../github/result-artifact.js";
import { estimateRunnerUse, type JobOptions } from "../job-options.js";
import { shortSha } from "../messages/markdown.js";
import { rangeStrip, type RoundProgress, type StripState } from "../messages/status-comment.js";
import type { JobRow, StoredProbe } from "../store/store.js";
import { describeError, isPermanent, PermanentError } from "./github-errors.js";

/**
 * Fan-out (`runners` > 1): the App bisects in rounds. Each round is one workflow run in probe
 * mode, a matrix with one runner per commit; the App plans every round with the same pure engine
 * the Action runs (action/src/bisect), from the range's graph (read once from the compare API)
 * and the verdicts recorded so far, replayed. Nothing is kept in memory between rounds: a worker
 * that takes the job over plans exactly what its predecessor would have.
 */

/** The compare API's page: GitHub's largest. */
export const COMPARE_PAGE = 100;
/** Pages read for one good at most (10,000 commits): a range past it is refused, not read forever. */
const MAX_COMPARE_PAGES = 100;

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const comparePageSchema = z.object({
  total_commits: z.number().int().min(0),
  commits: z.array(z.object({ sha: z.string().regex(SHA), parents: z.array(z.object({ sha: z.string().regex(SHA) })) })),
});

/** A range's commits as [sha, parent sha, …], first parent first, oldest first (the store's form). */
export type RangeGraph = string[][];

export function isFanOut(options: JobOptions): boolean {
  return options.runners > 1;
}

/**
 * The range goods..bad with every commit's parents, from the compare API (`good...bad` lists the
 * commits of bad that are not in good, oldest first, with their parents): one list per good, 100
 * commits a page, intersected (a commit of the range is in none of the goods). Counts its calls.
 */
export async function readRangeGraph(
  octokit: Octokit,
  where: RepoRef,
  goods: readonly string[],
  bad: string,
): Promise<{ commits: RangeGraph; apiCalls: number }> {
  let apiCalls = 0;
  let kept: Map<string, string[]> | null = null;
  for (const good of goods) {
    const listed = new Map<string, string[]>();
    for (let page = 1; ; page++) {
      const { data } = await octokit.request("GET /repos/{owner}/{repo}/compare/{basehead}", {
        ...where,
        basehead: `${good}...${bad}`,
        per_page: COMPARE_PAGE,
        page,
      });
      apiCalls++;
      const parsed = comparePageSchema.parse(data);
      for (const c of parsed.commits)
        listed.set(
          c.sha,
          c.parents.map((p) => p.sha),
        );
      if (parsed.commits.length < COMPARE_PAGE || listed.size >= parsed.total_commits) break;
      if (page >= MAX_COMPARE_PAGES)
        throw new PermanentError(`the range ${shortSha(good)}..${shortSha(bad)} has more than ${MAX_COMPARE_PAGES * COMPARE_PAGE} commits to read`);
    }
    const before: Map<string, string[]> | null = kept;
    kept = before === null ? listed : new Map([...before].filter((entry: [string, string[]]) => listed.has(entry[0])));
  }
  if (kept === null || !kept.has(bad)) throw new PermanentError(`GitHub's comparison of the range does not list the bad commit ${shortSha(bad)}`);
  return { commits: [...kept].map(([sha, parents]) => [sha, ...parents]), apiCalls };
}

/** The verdicts a job resumes with: attempts from `resume_from_attempt` on, errors left out. */
export function verdictProbes(job: JobRow, probes: readonly StoredProbe[]): StoredProbe[] {
  return probes.filter((p) => p.attempt >= job.resume_from_attempt && p.verdict !== "error");
}

/**
 * The engine, as the Action would build it for this job, with its free verdicts and `probes`
 * replayed into it, round by round, up to the round the search ended in: later rounds re-ran the
 * culprit and its parents (--confirm), which is no evidence for the search.
 */
export function replay(job: JobRow, graph: RangeGraph, probes: readonly Pick<Probe, "sha" | "verdict" | "round">[]): Bisection {
  return replayRounds(job, graph, probes).bisection;
}

/** `replay`, and the round the search ended in (null while it goes on). */
function replayRounds(
  job: JobRow,
  graph: RangeGraph,
  probes: readonly Pick<Probe, "sha" | "verdict" | "round">[],
): { bisection: Bisection; ended: number | null } {
  const options = job.options;
  const bisection = Bisection.create({
    commits: graph.map(([sha, ...parents]) => ({ sha: sha!, parents })),
    bad: job.bad_sha,
    goods: job.good_shas,
    // The command refuses goods that are not ancestors of bad: there is no merge base to check.
    mergeBases: [],
    firstParent: options.firstParent,
    flaky: options.flaky,
    confidence: options.confidence,
    ...(options.flakeHistory ? { flakeHistory: options.flakeHistory } : {}),
  });
  // Probes keep what the test said; finding a fix, the engine is told a pass is the new state.
  // What CI runs said of the range's commits comes first: known, never tested again.
  const record = (p: Pick<Probe, "sha" | "verdict">) => {
    if (p.verdict !== "error" && bisection.knows(p.sha)) bisection.record(p.sha, engineVerdict(p.verdict, options.findFix));
  };
  job.free_verdicts.forEach(record);
  if (bisection.status().state !== "searching") return { bisection, ended: 0 };
  const rounds = [...new Set(probes.map((p) => p.round))].sort((a, b) => a - b);
  for (const round of rounds) {
    for (const p of probes) if (p.round === round) record(p);
    if (bisection.status().state !== "searching") return { bisection, ended: round };
  }
  return { bisection, ended: null };
}

/** After the search named a culprit, with --confirm: what is re-run, and what the re-runs said so far. */
export interface Confirming {
  culprit: string;
  /** Its parents as the confirmation re-runs them: the first only with --first-parent. */
  parents: string[];
  /** The re-runs' verdicts (errors left out). */
  probes: Pick<Probe, "sha" | "verdict" | "round">[];
  /** The commits still short of `confirm` verdicts. */
  left: string[];
}

/** Where a fan-out stands: the search (replayed), and its confirmation once the search named a culprit. */
export interface FanOutState {
  bisection: Bisection;
  status: BisectStatus;
  confirming: Confirming | null;
}

/** The fan-out's state from the range's graph and every verdict recorded (search and re-runs alike). */
export function fanOutState(job: JobRow, graph: RangeGraph, probes: readonly Pick<Probe, "sha" | "verdict" | "round">[]): FanOutState {
  const { bisection, ended } = replayRounds(job, graph, probes);
  const status = bisection.status();
  const runs = job.options.confirm;
  if (status.state !== "culprit" || runs <= 0 || ended === null) return { bisection, status, confirming: null };
  const parentsOf = graph.find(([sha]) => sha === status.sha)?.slice(1) ?? [];
  const parents = job.options.firstParent ? parentsOf.slice(0, 1) : parentsOf;
  const reruns = probes.filter((p) => p.round > ended && p.verdict !== "error");
  const count = (sha: string) => reruns.filter((p) => p.sha === sha).length;
  const left = [status.sha, ...parents].filter((sha) => count(sha) < runs);
  return { bisection, status, confirming: { culprit: status.sha, parents, probes: reruns, left } };
}

/** Whether a round's commit left without a verdict still matters: to the search, or to the re-runs. */
export function stillNeeded(state: FanOutState, sha: string): boolean {
  return state.confirming ? state.confirming.left.includes(sha) : state.bisection.isInformative(sha);
}

export type RoundPlan = { kind: "round"; round: number; commits: string[]; retry: boolean } | { kind: "done"; status: BisectStatus };

/** `commits` minus `taken`, as multisets (a flaky round may test a commit twice). */
function without(commits: readonly string[], taken: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const sha of taken) left.set(sha, (left.get(sha) ?? 0) + 1);
  return commits.filter((sha) => {
    const n = left.get(sha) ?? 0;
    if (n > 0) left.set(sha, n - 1);
    return n === 0;
  });
}

/**
 * What the job dispatches next. A round an earlier attempt began and did not finish (a runner
 * lost, an artifact missing: its verdicts so far are recorded under that attempt) is dispatched
 * again for the commits still without a verdict that still matter; otherwise the next round is
 * planned: up to `runners` distinct commits (the engine never repeats a commit in one round).
 * Flaky mode re-tests a commit in a later round when the posterior asks for it, never twice in
 * one round: the round's matrix is keyed by commit, and GitHub does not document that two equal
 * matrix values make two jobs, so one artifact per index could not be promised. Once the search
 * names a culprit, --confirm n re-runs it and its parents: one round per re-run, each of them once.
 */
export function planRound(job: JobRow, state: FanOutState, probes: readonly StoredProbe[]): RoundPlan {
  const intent = job.dispatch_intent_attempt;
  if (job.round_commits.length > 0 && intent !== null && intent >= job.resume_from_attempt) {
    const got = probes.filter((p) => p.round === job.round && p.attempt === intent && p.verdict !== "error").map((p) => p.sha);
    const missing = without(job.round_commits, got).filter((sha) => stillNeeded(state, sha));
    if (missing.length > 0) return { kind: "round", round: job.round, commits: missing, retry: true };
  }
  const { status, confirming } = state;
  if (confirming !== null && confirming.left.length > 0) return { kind: "round", round: job.round + 1, commits: confirming.left, retry: false };
  if (status.state !== "searching") return { kind: "done", status };
  const k = job.options.runners;
  const commits = state.bisection.next(k);
  if (commits.length === 0) return { kind: "done", status };
  return { kind: "round", round: job.round + 1, commits, retry: false };
}

/** Each commit of the range, oldest first, as the progress strip shows it. */
function stripStates(graph: RangeGraph, bisection: Bisection, probes: readonly Pick<Probe, "sha" | "verdict">[], testing: readonly string[]): StripState[] {
  const seen = new Map<string, StripState>();
  for (const p of probes) {
    if (p.verdict === "error") continue;
    // A commit that failed once is shown bad (flaky mode may have seen it pass too).
    if (seen.get(p.sha) !== "bad") seen.set(p.sha, p.verdict);
  }
  const now = new Set(testing);
  const candidates = new Set(bisection.candidates());
  return graph.map(([sha]) => (now.has(sha!) ? "testing" : (seen.get(sha!) ?? (candidates.has(sha!) ? "candidate" : "ruled-out"))));
}

/**
 * Where the fan-out stands as round `plan.round` starts: rounds in all (about: those run, what the
 * candidates left need at `runners` a round, and the --confirm re-runs still to come), and the end
 * time, from the rounds so far.
 */
export function roundProgress(
  job: JobRow,
  graph: RangeGraph,
  state: FanOutState,
  probes: readonly Pick<Probe, "sha" | "verdict">[],
  commits: readonly string[],
  round: number,
  attemptStart: Date | null,
  now: Date,
): RoundProgress {
  const { bisection, status, confirming } = state;
  const searching = status.state === "searching";
  const left = searching ? status.candidates : 1;
  // One round per re-run: all of them after the search, the ones not yet run once it ended.
  const rerunsDone = confirming
    ? Math.min(...[confirming.culprit, ...confirming.parents].map((sha) => confirming.probes.filter((p) => p.sha === sha).length))
    : 0;
  const reruns = searching ? job.options.confirm : confirming ? job.options.confirm - rerunsDone : 0;
  const ahead = (searching ? estimateRunnerUse(left, job.options.runners, job.options.flaky, 0).rounds : 0) + Math.max(reruns, searching ? 0 : 1);
  const done = round - 1;
  const perRound = attemptStart !== null && done > 0 ? (now.getTime() - attemptStart.getTime()) / done : null;
  return {
    round,
    rounds: done + ahead,
    testing: commits.length,
    left,
    strip: rangeStrip(stripStates(graph, bisection, probes, commits)),
    eta: perRound === null ? null : new Date(now.getTime() + perRound * ahead),
  };
}

/** What a round's run left: a verdict per commit it was given, and why any is missing. */
export interface RoundVerdicts {
  probes: Probe[];
  /** The round's commits without a verdict (a multiset, as the round's). */
  missing: string[];
  problems: string[];
}

/**
 * Reads the verdicts of round `job.round` from its run: one call lists the artifacts, one call
 * each fetches them (named exactly `bisect-result-<job>-<n>`, n the matrix index). Every artifact
 * is hostile: it must be this job's, for this range, and it may speak only for the commit its
 * matrix job was given (`round_commits[n]`); anything else it says is refused. A probe that
 * ended in error is no verdict: the commit is tested again. Artifacts GitHub refuses or that do
 * not parse are reasons, not errors; only a transient failure is thrown (the look is retried).
 */
export async function readRoundVerdicts(octokit: Octokit, where: RepoRef, job: JobRow, runId: number): Promise<RoundVerdicts> {
  const commits = job.round_commits;
  const problems: string[] = [];
  const probes: Probe[] = [];
  const answered = new Set<number>();
  let artifacts: Awaited<ReturnType<typeof listRoundArtifacts>> = [];
  try {
    artifacts = await listRoundArtifacts(octokit, where, runId, job.id);
  } catch (error) {
    if (!isPermanent(error)) throw error;
    problems.push(`GitHub refused the run's artifacts: ${describeError(error)}`);
  }
  for (const { index, artifact } of artifacts) {
    const sha = commits[index];
    if (sha === undefined) {
      problems.push(`the artifact ${artifact.name} is for no commit of round ${job.round} (it tests ${commits.length})`);
      continue;
    }
    let result: ResultDocument;
    try {
      result = await downloadResult(octokit, where, runId, job.id, artifact);
      const sameRange = result.range.bad === job.bad_sha && [...result.range.good].sort().join() === [...job.good_shas].sort().join();
      if (!sameRange) throw new ArtifactProblem(`${artifact.name} is for another range than this job's`);
    } catch (caught) {
      const error =
        !(caught instanceof ArtifactProblem) && isPermanent(caught) ? new ArtifactProblem(`GitHub refused ${artifact.name}: ${describeError(caught)}`) : caught;
      if (!(error instanceof ArtifactProblem)) throw error;
      problems.push(error.message);
      continue;
    }
    const others = result.probes.filter((p) => p.sha !== sha);
    if (others.length > 0) problems.push(`${artifact.name} also reported ${others.length} verdict(s) for commits it was not given: refused`);
    const verdict = result.probes.filter((p) => p.sha === sha && p.verdict !== "error").at(-1);
    if (!verdict) {
      problems.push(`${shortSha(sha)}: no verdict (${(result.error ?? "the test did not finish").slice(0, 200)})`);
      continue;
    }
    probes.push({ ...verdict, round: job.round });
    answered.add(index);
  }
  const missing = commits.filter((_, i) => !answered.has(i));
  return { probes, missing, problems };
}

/**
 * Every commit tested failed the same way a shell fails to run a command (exit 127: not found;
 * 126: not executable), none passed: the command cannot run, at the oldest commit of the range
 * too. A runner on one commit cannot tell, as the single runner does by re-testing the good
 * commit; the search would blame the range's first commit for it. Null when any test passed.
 */
function commandFailure(probes: readonly Probe[]): RunFailure | undefined {
  const verdicts = probes.filter((p) => p.verdict !== "error");
  const codes = new Set(verdicts.map((p) => p.exitCode));
  if (verdicts.length === 0 || verdicts.some((p) => p.verdict !== "bad") || codes.size !== 1) return undefined;
  const tested = `${verdicts.length} commit${verdicts.length === 1 ? "" : "s"}`;
  if (codes.has(127))
    return { reason: "command-not-found", message: `The command was not found (exit 127) at every commit tested (${tested}), the oldest of the range too.` };
  if (codes.has(126))
    return {
      reason: "command-not-executable",
      message: `The command could not be executed (exit 126) at every commit tested (${tested}), the oldest of the range too.`,
    };
  return undefined;
}

/** Whether `sha` is on the first-parent line of `bad` within the range (git rev-list --first-parent). */
export function onFirstParentLine(graph: RangeGraph, bad: string, sha: string): boolean {
  return onFirstParentLineOf(
    graph.map(([commit, ...parents]) => ({ sha: commit!, parents })),
    bad,
    sha,
  );
}

/** The result document of a fan-out that ended: the engine's verdict over every round's probes. */
export function fanOutResult(job: JobRow, state: FanOutState, probes: readonly Probe[]): ResultDocument {
  const { bisection, status, confirming } = state;
  const range = { good: [...job.good_shas], bad: job.bad_sha, size: bisection.rangeSize };
  const ended = endedResult(resultBase(String(job.id), range, probes), status, commandFailure(probes), undefined);
  // The re-runs, as the Action counts them on one runner.
  const result =
    confirming && ended.verdict === "culprit"
      ? { ...ended, confirmation: confirmationOf(confirming.probes, confirming.culprit, confirming.parents, job.options.confirm, job.options.findFix) }
      : ended;
  // What the rounds measured of the test's flake rate, as the Action does on one runner.
  return withFlakeEvidence(result, bisection, job.options);
}
