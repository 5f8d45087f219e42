import { z } from "zod";
import { optionValuesSchema, SURFACES } from "../../action/src/options.js";

/**
 * What a job needs besides its refs and command, fixed when the comment arrives (stored in the
 * job's `options` column as JSON and parsed back with this schema): the bisect options (their
 * ranges are the options table's), and what the App found out about the repository.
 */
export const jobOptionsSchema = optionValuesSchema.pick(SURFACES.comment).extend({
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
});
export type JobOptions = z.infer<typeof jobOptionsSchema>;

/** Tests one bisect needs, about: ⌈log₂ N⌉, and the rounds with k runners testing at once. */
export function estimateSteps(commits: number, parallel: number, flaky: boolean): { tests: number; rounds: number } {
  const n = Math.max(1, commits);
  const tests = Math.max(1, Math.ceil(Math.log2(n + 1)) * (flaky ? 1.5 : 1));
  const rounds = Math.max(1, Math.ceil(Math.log(n + 1) / Math.log(parallel + 1)) * (flaky ? 1.5 : 1));
  return { tests: Math.ceil(tests), rounds: Math.ceil(rounds) };
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
