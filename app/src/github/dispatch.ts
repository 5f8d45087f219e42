import { z } from "zod";
import { githubMessage, httpStatus, type Octokit, type RepoRef } from "./octokit.js";

/** The bisect workflow's inputs (the contract in .github/workflows/bisect.yml). */
export interface WorkflowInputs {
  job_id: string;
  good: string;
  bad: string;
  command: string;
  mode: "bisect" | "probe";
  commits: string;
  options: string;
}

export interface DispatchedRun {
  runId: number;
  runUrl: string;
}

const runDetailsSchema = z.object({ workflow_run_id: z.number().int(), html_url: z.string() });
const runsSchema = z.object({
  workflow_runs: z.array(
    z.object({
      id: z.number().int(),
      display_title: z.string(),
      html_url: z.string(),
      created_at: z.string(),
      status: z.string().nullable(),
      conclusion: z.string().nullable(),
    }),
  ),
});

/**
 * The run-name of bisect.yml is `bisect <job id>` (and `bisect <job id> round <r>` for a fan-out
 * round): a run belongs to a job when its title names it. The number after `round` is a round,
 * never a job: job 3's runs are not `bisect 12 round 3`.
 */
export function runBelongsToJob(displayTitle: string, jobId: number): boolean {
  const words = displayTitle.trim().split(/\s+/);
  return words.some((word, i) => word === String(jobId) && words[i - 1]?.toLowerCase() !== "round");
}

/** The fan-out round a run's title names (`bisect 12 round 3` → 3), or null for a single-runner run. */
export function runRound(displayTitle: string): number | null {
  const words = displayTitle.trim().split(/\s+/);
  const at = words.findIndex((word) => word.toLowerCase() === "round");
  const round = at >= 0 ? Number(words[at + 1]) : NaN;
  return Number.isSafeInteger(round) ? round : null;
}

/**
 * The run of this job's current attempt, if one exists: a `workflow_dispatch` run of the workflow
 * whose title names the job, created after `notBefore`, that is not a run of an earlier attempt.
 * With `uncancelled`, a cancelled run never counts: it was cancelled with the attempt it belonged
 * to, and a retry must replace it, not adopt it. A run that ran to its end still counts: it holds
 * this attempt's answer, and dispatching another would make two runs of one attempt.
 */
export async function findRun(
  octokit: Octokit,
  where: RepoRef,
  workflow: string,
  jobId: number,
  notBefore: Date,
  earlierRuns: readonly number[],
  options: { uncancelled?: boolean; round?: number } = {},
): Promise<DispatchedRun | null> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", {
    owner: where.owner,
    repo: where.repo,
    workflow_id: workflow,
    event: "workflow_dispatch",
    created: `>=${notBefore.toISOString()}`,
    per_page: 100,
  });
  const run = runsSchema
    .parse(data)
    .workflow_runs.filter(
      (r) =>
        runBelongsToJob(r.display_title, jobId) &&
        (options.round === undefined || runRound(r.display_title) === options.round) &&
        !earlierRuns.includes(r.id) &&
        !(options.uncancelled && r.conclusion === "cancelled"),
    )
    .sort((a, b) => b.id - a.id)[0];
  return run ? { runId: run.id, runUrl: run.html_url } : null;
}

/** GitHub Enterprise Server versions without run details refuse the field with 400 or 422. */
function refusesRunDetails(error: unknown): boolean {
  const status = httpStatus(error);
  return (status === 400 || status === 422) && /return_run_details/.test(githubMessage(error));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Dispatches the bisect workflow on the default branch (SHAs travel as inputs) and returns its
 * run. Asks for the run's id in the answer (`return_run_details`); where the server refuses that
 * field it dispatches without it and finds the run by the job id in its run-name.
 */
export async function dispatchWorkflow(
  octokit: Octokit,
  where: RepoRef,
  args: {
    workflow: string;
    ref: string;
    inputs: WorkflowInputs;
    jobId: number;
    notBefore: Date;
    earlierRuns: readonly number[];
    /** A fan-out round: only a run whose title names this round is this dispatch's. */
    round?: number;
    findDelaysMs?: readonly number[];
  },
): Promise<DispatchedRun> {
  const route = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches" as const;
  const base = { owner: where.owner, repo: where.repo, workflow_id: args.workflow, ref: args.ref, inputs: { ...args.inputs } };
  try {
    const response = await octokit.request(route, { ...base, return_run_details: true });
    const details = runDetailsSchema.safeParse(response.data);
    if (details.success) return { runId: details.data.workflow_run_id, runUrl: details.data.html_url };
    // 204: the server ignored the field; the run exists, its id comes from the list.
  } catch (error) {
    if (!refusesRunDetails(error)) throw error;
    await octokit.request(route, base);
  }
  // Runs appear in the list a moment after the dispatch is accepted.
  for (const delay of args.findDelaysMs ?? [0, 1000, 2000, 4000, 8000]) {
    if (delay > 0) await sleep(delay);
    const run = await findRun(
      octokit,
      where,
      args.workflow,
      args.jobId,
      args.notBefore,
      args.earlierRuns,
      args.round === undefined ? {} : { round: args.round },
    );
    if (run) return run;
  }
  throw new RunNotFoundError(
    `The workflow ${args.workflow} was dispatched, but no run named "bisect ${args.jobId}${args.round === undefined ? "" : ` round ${args.round}`}" appeared. Does its run-name still contain the job id?`,
  );
}

export class RunNotFoundError extends Error {}
