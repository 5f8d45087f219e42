import { flagSyntax, OPTIONS } from "../../../action/src/options.js";
import { COMMENT_OPTION_KEYS } from "../command/bisect-command.js";
import type { JobRow } from "../store/store.js";
import type { RunnerUse } from "../job-options.js";
import type { CiRun } from "../github/workflow-runs.js";
import type { NoRange } from "../worker/red-run.js";
import { codeBlock, codeSpan, escapeUrl, link, shortSha, table } from "./markdown.js";

/**
 * The replies a comment can get instead of a job. Every user-supplied value is quoted with
 * codeSpan/codeBlock (no mentions, links or HTML), and every reply says what to do next.
 */

export const EXAMPLE = "/bisect v1.4..main -- npm test";

/** Every option a comment can give, from the options table: its flag, what it does, its values. */
function optionsTable(): string {
  return table(
    ["option", "what it does", "values"],
    COMMENT_OPTION_KEYS.map((key) => {
      const definition = OPTIONS[key];
      return [codeSpan(flagSyntax(definition)), definition.help, definition.kind === "switch" ? "" : definition.rule];
    }),
  );
}

export function helpReply(): string {
  return [
    "**Bisect Bot** finds the commit that broke something by bisecting on GitHub Actions.",
    "",
    table(
      ["command", "what it does"],
      [
        ["`/bisect <good>..<bad> -- <command>`", "find the first commit between `good` (passes) and `bad` (fails) where `command` fails"],
        ["`/bisect <good1>,<good2>..<bad>`", "several good commits"],
        ["`/bisect` (on a pull request)", "bisect the pull request's base..head"],
        ["`/bisect status`", "where the latest bisect of this thread is"],
        ["`/bisect cancel`", "stop it"],
        ["`/bisect retry`", "run it again"],
      ],
    ),
    "",
    "Options go before `--`, as in `/bisect v1.4..main --flaky --timeout 30m -- npm test`:",
    "",
    optionsTable(),
    "",
    "Refs are anything git accepts: tags, branches, SHAs, `main~20`. The command may also follow in a fenced code block on the next lines; without one, the repository's default `command` from `.github/bisect.yml` is used, and the options' defaults can be set there too. Exit 0 means good, 125 untestable (skipped), 1–127 bad.",
    "",
    "Only people with write access to the repository can start, cancel or retry a bisect.",
  ].join("\n");
}

export function refusalReply(login: string, role: string): string {
  return (
    `Sorry ${codeSpan(login)}, only people with write, maintain or admin access to this repository can run bisects ` +
    `(your access: ${codeSpan(role)}). A maintainer can comment the same command to start it.`
  );
}

export function parseErrorReply(line: string, message: string, example: string): string {
  return [
    `I could not read this command:`,
    "",
    codeBlock(line, "", 200),
    "",
    message,
    "",
    "For example:",
    "",
    codeBlock(example),
    "",
    "`/bisect help` lists every option.",
  ].join("\n");
}

export function unknownRefReply(ref: string, repository: string): string {
  return `I could not find ${codeSpan(ref)} in ${codeSpan(repository)}. Check the spelling, and that the tag or branch is pushed to GitHub; a full commit SHA always works.`;
}

export function notACommitReply(ref: string, kind: string): string {
  return `${codeSpan(ref)} names a ${kind}, not a commit. Give a branch, a tag or a commit SHA, for example ${codeSpan(EXAMPLE)}.`;
}

export function sameCommitReply(good: string, bad: string, sha: string): string {
  return `${codeSpan(good)} and ${codeSpan(bad)} are the same commit (${codeSpan(shortSha(sha))}): there is nothing between them to bisect. Give a good commit from before the problem appeared.`;
}

export function swappedReply(good: string, bad: string): string {
  return `${codeSpan(good)} comes after ${codeSpan(bad)} in the history: the good commit must be an ancestor of the bad one. Did you mean ${codeSpan(`/bisect ${bad}..${good}`)}? (To find the commit that *fixed* something, make the command fail when the bug is gone.)`;
}

export function divergedReply(good: string, bad: string, mergeBase: string): string {
  return `${codeSpan(good)} is not an ancestor of ${codeSpan(bad)}: they split at ${codeSpan(shortSha(mergeBase))}. Bisect from the common commit instead: ${codeSpan(`/bisect ${shortSha(mergeBase)}..${bad}`)}.`;
}

export function tooLargeReply(commits: number, maxCommits: number): string {
  return `This range holds ${commits.toLocaleString("en-US")} commits, more than this repository's limit of ${maxCommits.toLocaleString("en-US")}. Narrow it with a later good commit, or raise \`max_commits\` in \`.github/bisect.yml\`.`;
}

/**
 * A fan-out plan over the repository's runner-minute budget: the estimate, the budget, and what
 * would fit (`fits`: the most runners whose estimate is within the budget, if any).
 */
export function overBudgetReply(use: RunnerUse, runners: number, budget: number, fits: { runners: number; use: RunnerUse } | null): string {
  const per = use.bound === "at most" ? "each job up to its step timeout" : "each job billed at least one minute";
  const fix = fits
    ? `Use \`--runners ${fits.runners}\` (about ${fits.use.jobs} jobs, ${fits.use.bound} ${fits.use.minutes} minutes), narrow the range, or raise \`max_runner_minutes\` in \`.github/bisect.yml\`.`
    : "Narrow the range, or raise `max_runner_minutes` in `.github/bisect.yml`.";
  return `With ${runners} runners this bisect needs about ${use.rounds} rounds and ${use.jobs} runner jobs: ${use.bound} ${use.minutes.toLocaleString("en-US")} runner minutes (${per}), more than this repository's budget of ${budget.toLocaleString("en-US")} (\`max_runner_minutes\`). Nothing was started. ${fix}`;
}

export function workflowMissingReply(workflow: string, defaultBranch: string): string {
  return [
    `This repository has no bisect workflow yet: I looked for ${codeSpan(`.github/workflows/${workflow}`)} on ${codeSpan(defaultBranch)}.`,
    "",
    "To install it, copy [Bisect Bot's workflow](https://github.com/bisect-bot/bisect-bot/blob/main/.github/workflows/bisect.yml) to that path on the default branch, add your toolchain setup where it is marked, and comment the command again. " +
      "(If it lives under another name, set `workflow:` in `.github/bisect.yml`.)",
  ].join("\n");
}

export function configErrorReply(message: string, line: number | null): string {
  const where = line === null ? "`.github/bisect.yml`" : `\`.github/bisect.yml\` line ${line}`;
  return `The repository's configuration is not valid, so I did not start anything. ${where}: ${message}`;
}

export function configTruncatedReply(): string {
  return "`.github/bisect.yml` is too large for me to read. Keep it to the settings Bisect Bot uses (`/bisect help`).";
}

export function noCommandReply(): string {
  return `Which command should tell good from bad? Add it after \`--\` (${codeSpan(EXAMPLE)}), in a fenced code block on the next lines, or set a default \`command:\` in \`.github/bisect.yml\`.`;
}

export function notAPullRequestReply(): string {
  return `On an issue, give the range to bisect: ${codeSpan(EXAMPLE)}. (\`/bisect\` alone works on pull requests, where it bisects base..head.)`;
}

export function pullRequestEmptyReply(): string {
  return "This pull request adds no commits to its base, so there is nothing to bisect.";
}

/**
 * The pull request's head moved after the comment: what the maintainer saw is not what a worker
 * found. `seen` is the head when the comment was written, when the App knows it.
 */
export function headMovedReply(seen: string | null, now: string, base: string): string {
  const was = seen === null ? "" : ` from ${codeSpan(shortSha(seen))}`;
  const range = seen === null ? "" : ` To bisect what you saw, name it: ${codeSpan(`/bisect ${base}..${shortSha(seen)} -- <test command>`)}.`;
  return `The head of this pull request moved${was} to ${codeSpan(shortSha(now))} after your comment, so nothing was started: I bisect the code you saw when you asked, never commits pushed after. Read the new commits, then comment ${codeSpan("/bisect")} again to bisect them.${range}`;
}

/** A ref anyone who opens a pull request can move (`pull/<n>/head`): its commit must be named. */
export function movableRefReply(ref: string): string {
  return `${codeSpan(ref)} is moved by whoever pushes to that pull request, so what it names when I read it may not be what you saw. Name the commit by its SHA instead, or comment ${codeSpan("/bisect")} on the pull request itself.`;
}

export function tooManyGoodsReply(count: number, max: number): string {
  return `You gave ${count} good commits; I take at most ${max}. Keep the ones closest to the bad commit.`;
}

export function transientReply(what: string): string {
  return `GitHub did not answer while I checked this command (${codeSpan(what, 200)}), so nothing was started. Please comment the command again in a minute.`;
}

export function noJobReply(): string {
  return `There is no bisect in this thread yet. Start one with ${codeSpan(EXAMPLE)}.`;
}

const STATE_WORDS: Record<JobRow["state"], string> = {
  queued: "waiting in the queue",
  dispatching: "starting its workflow run",
  dispatched: "dispatched, waiting for a runner",
  running: "running",
  succeeded: "finished",
  failed: "failed",
  cancelled: "cancelled",
  timed_out: "timed out",
};

const TERMINAL = new Set<JobRow["state"]>(["succeeded", "failed", "cancelled", "timed_out"]);

export function statusReply(job: JobRow, position: number | null): string {
  const lines = [`Bisect #${job.id} (${codeSpan(`${job.good_refs.join(",")}..${job.bad_ref}`)}) is **${STATE_WORDS[job.state]}**.`];
  if (position !== null) lines.push(`Place in this repository's queue: ${position}.`);
  lines.push(`Attempt ${job.attempts} of ${job.max_attempts}.`);
  if (job.round > 0) {
    const testing =
      job.round_commits.length > 0 && !TERMINAL.has(job.state)
        ? `, testing ${job.round_commits.length} commit${job.round_commits.length === 1 ? "" : "s"}`
        : "";
    lines.push(
      `Round ${job.round} on ${job.options.runners} runners a round${testing}; ${job.runner_jobs} runner job${job.runner_jobs === 1 ? "" : "s"} so far.`,
    );
  }
  if (job.run_url !== null && escapeUrl(job.run_url) !== null) lines.push(`${link("Workflow run", job.run_url)}.`);
  if (job.verdict === "culprit" && job.culprit_sha) lines.push(`Culprit: ${codeSpan(job.culprit_sha)}.`);
  if (job.error) lines.push(`Reason: ${codeSpan(job.error, 300)}`);
  return lines.join("\n");
}

export function cancelReply(job: JobRow, cancelled: boolean): string {
  return cancelled
    ? `Cancelled bisect #${job.id}${job.run_id ? " and its workflow run" : ""}.`
    : `Bisect #${job.id} is already ${STATE_WORDS[job.state]}; there is nothing to cancel.`;
}

export function retryBusyReply(job: JobRow): string {
  return `Bisect #${job.id} is still ${STATE_WORDS[job.state]}. Wait for it to end, or \`/bisect cancel\` it first.`;
}

export function retryReply(job: JobRow): string {
  const how = job.state === "succeeded" ? "from the start" : "resuming with the verdicts it has";
  return `Bisect #${job.id} starts again, ${how}. Its status comment above will show the result.`;
}

/** The status comment of a job someone cancelled. */
export function cancelledStatus(job: JobRow, login: string): string {
  const run = job.run_url ? ` Its ${link("workflow run", job.run_url)} is cancelled too.` : "";
  return `### ⏹️ Bisect #${job.id} was cancelled\n\nCancelled by ${codeSpan(login)}.${run} \`/bisect retry\` starts it again, resuming with the verdicts it has.`;
}

/** The status comment of a job whose workflow could not be started (GitHub refused the dispatch, or it kept failing). */
export function couldNotStartStatus(job: JobRow, reason: string): string {
  return [`### ❌ Bisect #${job.id} could not start`, "", codeSpan(reason), "", "Fix the cause and comment `/bisect retry`."].join("\n");
}

/** `/bisect <run URL>` naming a run of another repository. */
export function runElsewhereReply(named: string, repository: string): string {
  return `That run belongs to ${codeSpan(named, 200)}; I can only bisect runs of ${codeSpan(repository, 200)} from here. Comment on an issue of ${codeSpan(named, 200)} instead.`;
}

/** `/bisect <run URL>` naming a run GitHub does not know in this repository. */
export function runNotFoundReply(runId: number, repository: string): string {
  return `I found no workflow run ${runId} in ${codeSpan(repository, 200)}. Copy the link of a failed run from the repository's Actions tab.`;
}

/** `/bisect <run URL>` whose run gives no range: why, and what to do instead. */
export function noRunRangeReply(range: NoRange, run: CiRun): string {
  const named = link(`run #${run.run_number}`, run.html_url);
  switch (range.kind) {
    case "not-failed":
      return `${named} did not fail (it ${range.status === "completed" ? `concluded ${codeSpan(range.conclusion ?? "without a conclusion")}` : `is ${codeSpan(range.status ?? "not completed")}`}), so there is nothing to bisect. Give me the link of a failed run, or a range: \`/bisect v1.4..main\`.`;
    case "not-default-branch":
      return `${named} is a ${codeSpan(range.event)} run of ${codeSpan(range.branch ?? "no branch", 200)}, not of the default branch ${codeSpan(range.defaultBranch, 200)}; I bisect failed runs of the default branch only. On a pull request, \`/bisect\` alone bisects its commits.`;
    case "previous-red":
      return `The run before ${named}, ${link(`run #${range.previous.run_number}`, range.previous.html_url)}, failed too, so the breakage came earlier. Give me the link of the first failed run after a green one, or a range: \`/bisect <last good>..${shortSha(run.head_sha)}\`.`;
    case "no-green":
      return `I found no earlier run of this workflow on the default branch that passed (among the last 300), so I cannot tell where to start. Give me a range: \`/bisect <last good>..${shortSha(run.head_sha)}\`.`;
    case "same-commit":
      return `The run before ${named}, ${link(`run #${range.previous.run_number}`, range.previous.html_url)}, passed on the same commit ${codeSpan(shortSha(run.head_sha))}: the failure is flaky, not a commit's. Re-run the workflow, or bisect with \`--flaky\` and a range.`;
    case "not-ancestor":
      return `The last green run's commit ${codeSpan(shortSha(range.previous.head_sha))} is not an ancestor of ${codeSpan(shortSha(run.head_sha))} (the default branch was rewritten), so there is no range between them. Give me a range: \`/bisect <last good>..${shortSha(run.head_sha)}\`.`;
  }
}
