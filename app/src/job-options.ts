import { z } from "zod";
import { OPTIONS, optionValuesSchema, SURFACES } from "../../action/src/options.js";

/**
 * What a job needs besides its refs and command, fixed when the comment arrives (stored in the
 * job's `options` column as JSON and parsed back with this schema): the bisect options (their
 * ranges are the options table's), and what the App found out about the repository.
 */
export const jobOptionsSchema = optionValuesSchema.pick(SURFACES.comment).extend({
  /** Jobs stored before fan-out have no `runners`: one runner. */
  runners: OPTIONS.runners.value.default(OPTIONS.runners.default),
  /** Jobs stored before `--find-fix` look for what broke. */
  findFix: OPTIONS.findFix.value.default(OPTIONS.findFix.default),
  confirm: OPTIONS.confirm.value.default(OPTIONS.confirm.default),
  /** The workflow file in `.github/workflows` of the default branch. */
  workflow: z.string(),
  /** The branch the workflow is dispatched on (its file is read from there). */
  defaultBranch: z.string(),
  /** Commits in the range, as the compare API counted them (an upper bound with several goods). */
  commits: z.number().int().nonnegative(),
  /** Run before the test in each checkout; its failure makes the commit untestable (skip). */
  setup: z.string().nullable(),
  /** The pull request whose base..head this bisects, when the command gave no range. */
  pullRequest: z.number().int().nullable(),
  /** Flaky: what earlier flaky bisects of the command measured of its flake rate (the prior), when any did. */
  flakeHistory: z.strictObject({ cleanTests: z.int().nonnegative(), falseFailures: z.int().nonnegative() }).nullable().default(null),
});
export type JobOptions = z.infer<typeof jobOptionsSchema>;

/** Tests one bisect needs, about: ⌈log₂ N⌉, and the rounds with k runners testing at once. */
export function estimateSteps(commits: number, parallel: number, flaky: boolean): { tests: number; rounds: number } {
  const n = Math.max(1, commits);
  const tests = Math.max(1, Math.ceil(Math.log2(n + 1)) * (flaky ? 1.5 : 1));
  const rounds = Math.max(1, Math.ceil(Math.log(n + 1) / Math.log(parallel + 1)) * (flaky ? 1.5 : 1));
  return { tests: Math.ceil(tests), rounds: Math.ceil(rounds) };
}

/** How the search runs, for the comments' Range row: `flaky-aware, 7 runners a round`. */
export function modeText(options: JobOptions): string {
  return [
    options.findFix ? "finding the fix" : null,
    options.flaky ? "flaky-aware" : null,
    options.firstParent ? "first parent only" : null,
    options.runners > 1 ? `${options.runners} runners a round` : null,
    // A fan-out's runners each test one commit: `parallel` does not apply there.
    options.parallel > 1 && options.runners === 1 ? `${options.parallel} commits at a time` : null,
  ]
    .filter(Boolean)
    .join(", ");
}

/** What a fan-out bisect uses, about: rounds, runner jobs, and the runner minutes GitHub bills. */
export interface RunnerUse {
  rounds: number;
  jobs: number;
  /** Billed minutes: each job at least one (GitHub rounds every job up to a whole minute). */
  minutes: number;
  /** Whether `minutes` is a floor (no step timeout bounds a job) or a ceiling (jobs × the step timeout). */
  bound: "at least" | "at most";
}

/**
 * The runner use of bisecting `commits` commits with `runners` runners a round: each round tests
 * min(k, candidates − 1) commits spread evenly, leaving about 1/(tested + 1) of the candidates
 * (flaky mode tests about half again as much). A job's minutes are the step timeout's, rounded up,
 * when there is one (an upper bound), else GitHub's one-minute minimum (a lower bound).
 */
export function estimateRunnerUse(commits: number, runners: number, flaky: boolean, stepTimeoutSeconds: number): RunnerUse {
  let candidates = Math.max(1, commits);
  let rounds = 0;
  let jobs = 0;
  while (candidates > 1) {
    const tested = Math.min(runners, candidates - 1);
    jobs += tested;
    rounds++;
    candidates = Math.ceil(candidates / (tested + 1));
  }
  if (flaky) {
    rounds = Math.ceil(rounds * 1.5);
    jobs = Math.ceil(jobs * 1.5);
  }
  rounds = Math.max(1, rounds);
  jobs = Math.max(1, jobs);
  const perJob = stepTimeoutSeconds > 0 ? Math.ceil(stepTimeoutSeconds / 60) : 1;
  return { rounds, jobs, minutes: jobs * perJob, bound: stepTimeoutSeconds > 0 ? "at most" : "at least" };
}

/**
 * The command the runner runs: the repository's setup (if any), then the test. The setup runs in
 * its own `sh -e` (a failing step stops it, which `set -e` inside an `||` list would not) and its
 * failure exits 125, so a commit that does not build is skipped, never blamed. The setup is a
 * quoted here-document: the shell on the runner reads it literally.
 */
export function runnerCommand(command: string, setup: string | null): string {
  if (setup === null || setup.trim() === "") return command;
  let delimiter = "BISECT_BOT_SETUP";
  while (setup.split("\n").some((line) => line.trim() === delimiter)) delimiter += "_";
  return `sh -e <<'${delimiter}' || exit 125\n${setup}\n${delimiter}\n${command}`;
}

/**
 * The most runners, up to `wanted`, whose estimate (estimateRunnerUse) is within `budget` runner
 * minutes; null when not even one runner's is.
 */
export function runnersWithin(budget: number, commits: number, wanted: number, flaky: boolean, stepTimeoutSeconds: number): number | null {
  for (let k = wanted; k >= 1; k--) if (estimateRunnerUse(commits, k, flaky, stepTimeoutSeconds).minutes <= budget) return k;
  return null;
}
