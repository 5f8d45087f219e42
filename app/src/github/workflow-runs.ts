/**
 * CI runs of a repository's workflows, as the Actions API lists them: the run that went red, the
 * run before it, and what the runs of the range's commits already said. Everything a run says is
 * parsed here; its text (names, titles) is never trusted.
 */
import { z } from "zod";
import type { FreeVerdict } from "../store/rows.js";
import type { Octokit, RepoRef } from "./octokit.js";

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The part of a workflow run the App reads. */
export const ciRunSchema = z.object({
  id: z.int(),
  run_number: z.int(),
  run_attempt: z.int().min(1).optional(),
  workflow_id: z.int(),
  path: z.string(),
  name: z.string().nullable().optional(),
  head_sha: z.string().regex(SHA),
  head_branch: z.string().nullable(),
  event: z.string(),
  status: z.string().nullable(),
  conclusion: z.string().nullable(),
  html_url: z.string(),
  head_repository: z.object({ id: z.int() }).nullable().optional(),
});
export type CiRun = z.infer<typeof ciRunSchema>;

const runListSchema = z.object({ total_count: z.int(), workflow_runs: z.array(ciRunSchema) });

/**
 * Events whose runs test the default branch itself. A pull request's run may name a branch called
 * like the default one (a fork's `main`): its event, and its head repository, tell it apart.
 */
const DEFAULT_BRANCH_EVENTS = new Set(["push", "schedule", "workflow_dispatch"]);

/** A run of the default branch's own commits: the branch, an event that tests it, this repository's head. */
export function onDefaultBranch(run: Pick<CiRun, "head_branch" | "event" | "head_repository">, repositoryId: number, defaultBranch: string): boolean {
  return run.head_branch === defaultBranch && DEFAULT_BRANCH_EVENTS.has(run.event) && (run.head_repository?.id ?? repositoryId) === repositoryId;
}

/**
 * A run that tested a commit the default branch has or may get as it is: one of the branch's own,
 * or a merge queue's (`merge_group` on `gh-readonly-queue/<branch>/…`: the queue moves the branch
 * to the very commit it tested). Which commits are in a range is checked against the range.
 */
export function testsBranchCommit(run: Pick<CiRun, "head_branch" | "event" | "head_repository">, repositoryId: number, defaultBranch: string): boolean {
  if (onDefaultBranch(run, repositoryId, defaultBranch)) return true;
  return (
    run.event === "merge_group" &&
    (run.head_branch ?? "").startsWith(`gh-readonly-queue/${defaultBranch}/`) &&
    (run.head_repository?.id ?? repositoryId) === repositoryId
  );
}

/** A run's verdict on its head: green is good, failed is bad; cancelled, skipped and the rest say nothing. */
export function runVerdict(run: Pick<CiRun, "status" | "conclusion">): "good" | "bad" | null {
  if (run.status !== "completed") return null;
  if (run.conclusion === "success") return "good";
  if (run.conclusion === "failure") return "bad";
  return null;
}

/** The workflow path's file name: `.github/workflows/ci.yml` → `ci.yml`. */
export function workflowFileOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export async function getRun(octokit: Octokit, where: RepoRef, runId: number): Promise<CiRun> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}", { ...where, run_id: runId });
  return ciRunSchema.parse(data);
}

/** Runs read looking for the one before a red run, at most: 300, about a week of pushes on a busy branch. */
export const RUN_PAGES = 3;
const RUN_PAGE = 100;

/**
 * The workflow's runs on the default branch (any status), newest first, down to the first decisive
 * one older than `before` (by run number), or RUN_PAGES pages. Counts its calls.
 */
export async function branchRuns(
  octokit: Octokit,
  where: RepoRef,
  workflowId: number,
  branch: string,
  before: number,
): Promise<{ runs: CiRun[]; apiCalls: number }> {
  const runs: CiRun[] = [];
  let apiCalls = 0;
  for (let page = 1; page <= RUN_PAGES; page++) {
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", {
      ...where,
      workflow_id: workflowId,
      branch,
      per_page: RUN_PAGE,
      page,
    });
    apiCalls++;
    const listed = runListSchema.parse(data).workflow_runs;
    runs.push(...listed);
    if (listed.length < RUN_PAGE || listed.some((r) => r.run_number < before && runVerdict(r) !== null)) break;
  }
  return { runs, apiCalls };
}

/** The workflow's completed merge queue runs, newest first: one page. */
export async function mergeQueueRuns(octokit: Octokit, where: RepoRef, workflowId: number): Promise<CiRun[]> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", {
    ...where,
    workflow_id: workflowId,
    event: "merge_group",
    status: "completed",
    per_page: RUN_PAGE,
  });
  return runListSchema.parse(data).workflow_runs;
}

export type PreviousRun =
  | { kind: "green"; run: CiRun }
  | { kind: "red"; run: CiRun }
  /** A run between the last decisive one and the red run has not finished: it may be the first red. */
  | { kind: "unfinished"; run: CiRun }
  /** No decisive run before it among those read. */
  | { kind: "none" };

/**
 * The run before `red`: the newest decisive (green or failed) run of the default branch with a
 * lower run number. Cancelled and skipped runs are passed over: they say nothing about their head.
 * A run after that one and before `red` still going is reported first: it may turn red itself.
 */
export function previousRun(red: Pick<CiRun, "id" | "run_number">, runs: readonly CiRun[], repositoryId: number, defaultBranch: string): PreviousRun {
  const before = runs
    .filter((r) => r.id !== red.id && r.run_number < red.run_number && onDefaultBranch(r, repositoryId, defaultBranch))
    .sort((a, b) => b.run_number - a.run_number);
  for (const run of before) {
    if (run.status !== "completed") return { kind: "unfinished", run };
    const verdict = runVerdict(run);
    if (verdict === "good") return { kind: "green", run };
    if (verdict === "bad") return { kind: "red", run };
  }
  return { kind: "none" };
}

/**
 * What completed runs said about the range's commits (`inRange`: the commits of good..bad, the
 * ends excluded): one verdict per commit. A commit whose runs disagree (a flaky test) gets none.
 */
export function freeVerdicts(runs: readonly CiRun[], inRange: (sha: string) => boolean, repositoryId: number, defaultBranch: string): FreeVerdict[] {
  const by = new Map<string, FreeVerdict | "mixed">();
  for (const run of runs) {
    const verdict = runVerdict(run);
    if (verdict === null || !testsBranchCommit(run, repositoryId, defaultBranch) || !inRange(run.head_sha)) continue;
    const seen = by.get(run.head_sha);
    if (seen === undefined) by.set(run.head_sha, { sha: run.head_sha, verdict, runId: run.id });
    else if (seen !== "mixed" && seen.verdict !== verdict) by.set(run.head_sha, "mixed");
  }
  return [...by.values()].filter((v): v is FreeVerdict => v !== "mixed");
}
