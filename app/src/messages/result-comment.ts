import type { Reason, ResultDocument } from "../../../action/src/result-document.js";
import { onlyNonCode } from "../../../action/src/non-code-paths.js";
import { modeText, type JobOptions } from "../job-options.js";
import type { JobRow } from "../store/store.js";
import { codeBlock, codeSpan, escapeMarkdown, escapeUrl, link, shortSha, table } from "./markdown.js";

/**
 * The answer: the status comment edited into the result of the bisect. Short at the top (the
 * verdict in the heading, the facts in a small table, one-line warnings), detail collapsed (every
 * test). Everything that came from the run or from commits is hostile: prose goes through
 * escapeMarkdown, the user's refs and command through codeSpan/codeBlock, links only to URLs that
 * escapeUrl accepts and to shas that are full hex, tables through `table`. The only HTML is our
 * own `<details>`, `<summary>` and `<sub>`. What to say is decided on the result's verdict and
 * `reason`, never on the wording of its `error`.
 */

/** The culprit as GitHub knows it (GraphQL), for verdict `culprit`. Text fields are hostile. */
export interface CulpritDetails {
  sha: string;
  subject: string;
  authorName: string | null;
  /** The GitHub user the commit is attributed to; mentioned (pinged) when it is a valid login. */
  authorLogin: string | null;
  /** ISO 8601. */
  committedAt: string | null;
  /** The pull request that brought the commit in. */
  pullRequest: { number: number; title: string; url: string } | null;
  /** The commit's parents, when known: more than one makes it a merge (else its subject decides). */
  parentCount?: number | null;
  /** The paths it changed (against its first parent), when GitHub listed them all. Hostile text. */
  changedFiles?: readonly string[] | null;
}

export interface ResultView {
  job: JobRow;
  options: JobOptions;
  /** Parsed with the result document schema: the shape is trusted, its text fields are not. */
  result: ResultDocument;
  culprit: CulpritDetails | null;
  /** e.g. https://github.com/octo-org/widgets; commits link to `${repositoryUrl}/commit/${sha}`. */
  repositoryUrl: string;
  runUrl: string;
  /** The whole job, from the request to the result. */
  durationMs: number;
  /** Workflow runs it took (1 unless infrastructure failures were retried). */
  attempts: number;
  /** The culprit is on a branch merged into the bad commit, not on its first-parent line (known when the App has the graph). */
  offFirstParentLine?: boolean;
  /** A fan-out across runners: the commits each round tested, and what the runners cost. */
  fanOut?: { perRound: number[]; runnerJobs: number; runnerMinutes: number };
}

export interface FailureView {
  job: JobRow;
  options: JobOptions;
  /** Why the last attempt failed (ours or GitHub's words; still escaped). */
  reason: string;
  runUrl: string | null;
  /** Tests that finished before the failure. */
  tested: number;
  attempts: number;
  /** The job ran out of its time limit (rather than out of attempts). */
  timedOut: boolean;
  probes: ResultDocument["probes"];
  repositoryUrl: string;
}

type Probe = ResultDocument["probes"][number];

/** Rows of the tests table before the rest is summed up in one line. */
export const MAX_PROBE_ROWS = 100;
/** Ambiguous candidates listed before "and N more". */
export const MAX_CANDIDATES = 20;

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const MERGE_SUBJECT = /^Merge (?:pull request|branch|remote-tracking branch|tag|commit|changes) /;
const VERDICT: Record<Probe["verdict"], string> = { good: "✅ good", bad: "❌ bad", skip: "⏭️ skip", error: "⚠️ error" };
/** Finding a fix, a pass is the new state: said as what the test did, and what that means. */
const FIX_VERDICT: Record<Probe["verdict"], string> = { good: "✅ passed (fixed)", bad: "❌ failed (broken)", skip: "⏭️ skip", error: "⚠️ error" };

// ---------------------------------------------------------------------------------------------
// Small pieces

/** The repository's URL without a trailing slash, or null when it is not a URL we link to. */
function repositoryBase(url: string): string | null {
  const safe = escapeUrl(url.replace(/\/+$/, ""));
  return safe === null || safe.includes("?") || safe.includes("#") ? null : safe;
}

/** A short sha linked to its commit; unlinked when the repository URL is unusable; escaped text when it is no sha. */
function commitRef(sha: string, repository: string | null): string {
  if (!SHA.test(sha)) return escapeMarkdown(sha, 20);
  const span = codeSpan(shortSha(sha));
  return repository === null ? span : link(span, `${repository}/commit/${sha}`);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** `42 s`, `4 min 12 s`, `1 h 5 min`; one decimal below 10 s. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 9950) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total} s`;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

/** `99.3 %`, rounded down so it never claims more than the run did (`100 %` only for 1). */
export function percent(p: number): string {
  if (!Number.isFinite(p)) return "–";
  if (p >= 1) return "100 %";
  const tenths = Math.min(999, Math.floor(Math.max(0, p) * 1000 + 1e-6));
  return `${tenths % 10 === 0 ? String(tenths / 10) : (tenths / 10).toFixed(1)} %`;
}

/** `2026-11-27 14:03 UTC`, or null for a missing or unreadable date. */
function utcMinute(iso: string | null): string | null {
  if (iso === null) return null;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return null;
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** `` `v1.4` (`1a2b3c4`), `v1.3` (…)..`main` (`5d6e7f8`) `` with linked shas. */
function rangeText(job: JobRow, repository: string | null): string {
  const goods = job.good_refs.map((ref, i) => `${codeSpan(ref, 80)} (${commitRef(job.good_shas[i] ?? "", repository)})`).join(", ");
  return `${goods}..${codeSpan(job.bad_ref, 80)} (${commitRef(job.bad_sha, repository)})`;
}

/** `[Workflow run](url)`, or null when there is no usable URL. */
function runLink(url: string | null): string | null {
  return url === null || escapeUrl(url) === null ? null : link("Workflow run", url);
}

/** The Range row: good..bad, how many commits, and how the search ran. */
function rangeCell(job: JobRow, options: JobOptions, commits: number, repository: string | null): string {
  const mode = modeText(options);
  return `${rangeText(job, repository)} · ${plural(commits, "commit")}${mode ? ` · ${mode}` : ""}`;
}

/** The one-line form of the user's command for a suggested `/bisect …`, or null when it does not fit on one line. */
function inlineCommand(command: string): string | null {
  return command.includes("\n") || command.length > 120 ? null : command;
}

/** The facts table: a label and a value a row, rows without a value left out. */
function facts(rows: Array<[string, string | null]>): string {
  return table(
    ["", ""],
    rows.filter((row): row is [string, string] => row[1] !== null),
  );
}

/** The collapsed table of every test (at most MAX_PROBE_ROWS rows), or a line when none ran. */
function probesSection(probes: readonly Probe[], repository: string | null, runUrl: string | null, findFix: boolean): string[] {
  if (probes.length === 0) return ["No test finished."];
  const labels = findFix ? FIX_VERDICT : VERDICT;
  const rows = probes.slice(0, MAX_PROBE_ROWS).map((p) => {
    const round = Number.isSafeInteger(p.round) ? String(p.round) : "–";
    const exit = p.exitCode === null ? "–" : Number.isSafeInteger(p.exitCode) ? String(p.exitCode) : "–";
    return [round, commitRef(p.sha, repository), labels[p.verdict] ?? "?", exit, humanDuration(p.durationMs)];
  });
  const more = probes.length - MAX_PROBE_ROWS;
  const where = runUrl !== null && escapeUrl(runUrl) !== null ? " (the workflow run's summary lists them all)" : "";
  return [
    `<details><summary>Tests (${probes.length.toLocaleString("en-US")})</summary>`,
    "",
    table([{ title: "Round", align: "right" }, "Commit", "Verdict", { title: "Exit code", align: "right" }, { title: "Duration", align: "right" }], rows),
    ...(more > 0 ? ["", `… ${more.toLocaleString("en-US")} more${where}.`] : []),
    "",
    "</details>",
  ];
}

function commandSection(job: JobRow): string[] {
  return ["Test command:", "", codeBlock(job.command, "sh", 2000)];
}

function footer(job: JobRow, next: string): string {
  const who = job.origin === "auto" ? "Started automatically" : `Requested by ${codeSpan(job.requester)}`;
  return `<sub>${who} · ${next}</sub>`;
}

/** The failed CI run the range ends at (an automatic bisect, or `/bisect <run URL>`). */
function failingRunText(job: JobRow): string | null {
  const run = job.red_run;
  if (run === null) return null;
  return link(`${codeSpan(run.workflow, 100)} run #${run.number}`, run.url);
}

/** The verdicts completed CI runs gave for free: commits of the range not tested again. */
function freeVerdictsText(job: JobRow): string | null {
  const free = job.free_verdicts;
  if (free.length === 0) return null;
  const good = free.filter((f) => f.verdict === "good").length;
  const parts = [good > 0 ? `${good} passed` : null, free.length - good > 0 ? `${free.length - good} failed` : null].filter(Boolean).join(", ");
  return `${plural(free.length, "commit")} from completed runs of the workflow (${parts}), not tested again`;
}

/** Good/bad runs of one commit: how often a flaky test reproduced. */
function runsOf(probes: readonly Probe[], sha: string): { good: number; bad: number } {
  let good = 0;
  let bad = 0;
  for (const p of probes) {
    if (p.sha !== sha) continue;
    if (p.verdict === "good") good++;
    if (p.verdict === "bad") bad++;
  }
  return { good, bad };
}

/** Commits that both passed and failed: the flakiness the run saw. */
function flakyCommits(probes: readonly Probe[]): number {
  const seen = new Map<string, number>();
  for (const p of probes) {
    if (p.verdict === "good") seen.set(p.sha, (seen.get(p.sha) ?? 0) | 1);
    if (p.verdict === "bad") seen.set(p.sha, (seen.get(p.sha) ?? 0) | 2);
  }
  return [...seen.values()].filter((v) => v === 3).length;
}

function testsText(view: ResultView): string {
  const { result } = view;
  const rounds = result.rounds !== result.tested ? ` in ${plural(result.rounds, "round")}` : "";
  return `${plural(result.tested, "test")}${rounds} · ${humanDuration(view.durationMs)}`;
}

/** A fan-out's rounds, each with the commits it tested: `3 rounds: 7 + 7 + 2 commits`. */
function roundsText(view: ResultView): string | null {
  const perRound = view.fanOut?.perRound;
  if (!perRound || perRound.length === 0) return null;
  return `${plural(perRound.length, "round")}: ${perRound.map((n) => n.toLocaleString("en-US")).join(" + ")} ${perRound.reduce((a, b) => a + b, 0) === 1 ? "commit" : "commits"}, one runner each`;
}

/** What a fan-out cost: `16 runner jobs · 16 runner minutes`. */
function costText(view: ResultView): string | null {
  const f = view.fanOut;
  return f ? `${plural(f.runnerJobs, "runner job")} · ${plural(f.runnerMinutes, "runner minute")}` : null;
}

function runText(runUrl: string | null, attempts: number, maxAttempts: number): string | null {
  const link = runLink(runUrl);
  const tries = attempts > 1 ? `attempt ${attempts} of ${maxAttempts}` : null;
  const text = [link, tries].filter(Boolean).join(" · ");
  return text === "" ? null : text;
}

// ---------------------------------------------------------------------------------------------
// Verdicts

function authorText(details: CulpritDetails): string | null {
  const login = details.authorLogin;
  const mention = login === null ? null : LOGIN.test(login) ? `@${login}` : escapeMarkdown(login, 60);
  const name = details.authorName === null || details.authorName.trim() === "" ? null : escapeMarkdown(details.authorName, 100);
  const who = name !== null && mention !== null ? `${name} (${mention})` : (name ?? mention);
  const when = utcMinute(details.committedAt);
  if (who === null) return when === null ? null : `committed ${when}`;
  return when === null ? who : `${who} · ${when}`;
}

function pullRequestText(pr: CulpritDetails["pullRequest"]): string | null {
  if (pr === null || !Number.isSafeInteger(pr.number) || pr.number <= 0) return null;
  const label = `#${pr.number}${pr.title.trim() === "" ? "" : ` ${escapeMarkdown(pr.title, 150)}`}`;
  return link(label, pr.url);
}

/** `--confirm`: `✅ confirmed: failed 3 of 3, its parent passed 3 of 3`, or not reproducible. */
function confirmationCell(view: ResultView): string | null {
  const c = view.result.confirmation;
  if (!c) return null;
  const [did, parentDid] = view.options.findFix ? ["passed", "failed"] : ["failed", "passed"];
  const counts = `${did} ${c.culpritFailed} of ${c.runs}, its parent${c.parentPassed === c.runs ? "" : "s"} ${parentDid} ${c.parentPassed} of ${c.runs}`;
  return c.verdict === "confirmed" ? `✅ confirmed: ${counts}` : `⚠️ not reproducible: ${counts}`;
}

/** One-line warnings that the named commit may not be the real cause. */
function implausible(view: ResultView, sha: string, repository: string | null): string[] {
  const { result, culprit, options, job } = view;
  const warnings: string[] = [];
  if (result.confirmation?.verdict === "not-reproducible") {
    warnings.push(
      `⚠️ Not reproducible: re-run ${result.confirmation.runs} times after the search, this commit and its parent did not always behave as the answer says. The test may be flaky: ${options.flaky ? "raise `--confidence`" : "re-run with `--flaky`"} before acting on this answer.`,
    );
  }
  const kinds = culprit?.changedFiles ? onlyNonCode(culprit.changedFiles) : null;
  if (kinds !== null && culprit?.changedFiles) {
    const what = `${kinds.length > 1 ? `${kinds.slice(0, -1).join(", ")} and ${kinds.at(-1)!}` : kinds[0]!}`;
    const files = plural(culprit.changedFiles.length, "file");
    warnings.push(
      kinds.includes("tests")
        ? `⚠️ Implausible culprit: this commit changes only ${what} (${files}), not the code under test. The test changed here, so a new or changed test may be exposing an older problem; check the test before blaming the code.`
        : `⚠️ Implausible culprit: this commit changes only ${what} (${files}), which cannot change what the test runs. The test is probably flaky or depends on something outside the commit: ${options.flaky ? "raise `--confidence`" : "re-run with `--flaky`"}, or with \`--confirm 3\`.`,
    );
  }
  if (view.offFirstParentLine === true && !options.firstParent) {
    const command = inlineCommand(job.command);
    const retry = codeSpan(`/bisect ${job.good_refs.join(",")}..${job.bad_ref} --first-parent${command === null ? "" : ` -- ${command}`}`, 300);
    warnings.push(
      `⚠️ Implausible culprit for a release line: this commit is on a branch merged into ${codeSpan(job.bad_ref, 80)}, not on its first-parent line. If you meant to bisect that line itself (each merge as one commit), ${retry} names the merge that brought this branch in.`,
    );
  }
  if (result.culprit && result.culprit.confidence < options.confidence && (options.flaky || result.culprit.confidence < 1)) {
    warnings.push(
      `⚠️ Implausible culprit: its confidence, ${percent(result.culprit.confidence)}, is below the target of ${percent(options.confidence)}. Treat it as a lead, not an answer: re-run with \`--confirm 3\` to see whether it reproduces.`,
    );
  }
  const merge = culprit !== null && (typeof culprit.parentCount === "number" ? culprit.parentCount > 1 : MERGE_SUBJECT.test(culprit.subject));
  if (merge) {
    if (options.firstParent && SHA.test(sha)) {
      const command = inlineCommand(job.command);
      const flags = options.flaky ? " --flaky" : "";
      const retry = codeSpan(`/bisect ${shortSha(sha)}^1..${shortSha(sha)}${flags}${command === null ? "" : ` -- ${command}`}`);
      warnings.push(
        `⚠️ This is a merge commit and this bisect followed first parents only: the change is inside the branch it merged. Bisect that branch with ${retry}${command === null ? " (and the same command)" : ""}.`,
      );
    } else {
      warnings.push(
        options.findFix
          ? "⚠️ This is a merge commit whose parents both still fail: the fix comes from how the two sides combine (the conflict resolution, or two halves of a fix), not from one commit on either side."
          : "⚠️ This is a merge commit whose parents both pass: the failure comes from how the two sides combine (a semantic conflict, or the conflict resolution), not from one commit on either side.",
      );
    }
  }
  if (sha === result.range.bad && options.findFix) {
    const tested = runsOf(result.probes, sha).good > 0;
    warnings.push(
      `⚠️ This is the newest commit itself: every commit before it still failed${tested ? "" : ", and it was not tested here"}. If that is unexpected, check that ${commitRef(sha, repository)} passes every time (locally, \`bisect-bot run --find-fix --verify\` checks it first).`,
    );
  } else if (sha === result.range.bad) {
    const tested = runsOf(result.probes, sha).bad > 0;
    warnings.push(
      tested
        ? `⚠️ This is the bad commit itself: every commit before it passed. If that is unexpected, check that ${commitRef(sha, repository)} fails every time (${options.flaky ? "" : "a flaky test: re-run with `--flaky`; "}locally, \`bisect-bot run --verify\` checks the bad commit first).`
        : `⚠️ This is the bad commit itself, blamed without being tested here because every commit before it passed. If it does not fail on a re-run, the range holds no regression: ${options.flaky ? "" : "re-run with `--flaky`, or "}check it locally with \`bisect-bot run --verify\`.`,
    );
  }
  return warnings;
}

function culpritBody(view: ResultView, repository: string | null): string[] {
  const { job, options, result, culprit } = view;
  const sha = result.culprit?.sha ?? result.candidates[0] ?? "";
  const details = culprit !== null && culprit.sha === sha ? culprit : null;
  const confidence = result.culprit?.confidence ?? 1;
  const flaky = options.flaky || confidence < 1;
  const reproduced = runsOf(result.probes, sha);
  const flakyCount = flakyCommits(result.probes);
  const flakiness = [
    reproduced.bad + reproduced.good > 0
      ? options.findFix
        ? `the fix passed ${reproduced.good} of ${plural(reproduced.bad + reproduced.good, "run")}`
        : `the culprit failed ${reproduced.bad} of ${plural(reproduced.bad + reproduced.good, "run")}`
      : null,
    flakyCount > 0 ? `${plural(flakyCount, "commit")} both passed and failed` : "no commit both passed and failed",
  ]
    .filter(Boolean)
    .join(" · ");
  const target = options.confidence;

  const subject = details === null || details.subject.trim() === "" ? null : `**${escapeMarkdown(details.subject, 200)}**`;
  return [
    options.findFix
      ? `### 🩹 Bisect #${job.id}: ${commitRef(sha, repository)} is the first fixed commit`
      : `### 🎯 Bisect #${job.id}: ${commitRef(sha, repository)} is the first bad commit`,
    "",
    ...(subject === null ? [] : [subject, ""]),
    facts([
      ["Author", details === null ? null : authorText(details)],
      ["Pull request", details === null ? null : pullRequestText(details.pullRequest)],
      ["Range", rangeCell(job, options, result.range.size, repository)],
      ["Failing run", failingRunText(job)],
      ["Tests", testsText(view)],
      ["Known from CI", freeVerdictsText(job)],
      ["Confidence", flaky ? `${percent(confidence)} (target ${percent(target)})` : null],
      ["Flakiness", flaky ? flakiness : null],
      ["Re-runs", confirmationCell(view)],
      ["Rounds", roundsText(view)],
      ["Runners", costText(view)],
      ["Run", runText(view.runUrl, view.attempts, job.max_attempts)],
    ]),
    "",
    ...implausible(view, sha, repository).flatMap((w) => [w, ""]),
  ];
}

/** Ambiguous: why the candidates could not be told apart, and how to narrow them down. */
function ambiguousAdvice(view: ResultView): { why: string; how: string[] } {
  const { options, result } = view;
  if (result.reason === "out-of-tests") {
    return {
      why: `The flaky test's verdicts ran out before one of these commits reached the target confidence of ${percent(options.confidence)}:`,
      how: [
        "- **Make the failure more frequent**: a test that fails more often (repeat the flaky case inside the command, fix a random seed) tells commits apart in fewer runs.",
        options.confidence > 0.9 ? "- **Lower the target**: `--confidence 0.9` stops sooner, at a greater risk of naming the wrong commit." : null,
        "- **Narrow the range**: a later good commit or an earlier bad one leaves fewer candidates to tell apart.",
      ].filter((line): line is string => line !== null),
    };
  }
  // only-skipped-left
  const skipped = result.probes.filter((p) => p.verdict === "skip").length;
  return {
    why: `Some commits could not be tested, so the first ${options.findFix ? "fixed" : "bad"} commit cannot be told apart among these:`,
    how: [
      `- **Make them testable.** Exit 125 means *skip*: the test, or the repository's \`setup\`, could not run there${skipped > 0 ? ` (${plural(skipped, "test")} skipped)` : ""}. If a build fix landed later, apply it in the command, or skip only what truly cannot be tested.`,
      options.firstParent
        ? null
        : "- **Re-run with `--first-parent`**: merges are then tested as a whole, so a branch that does not build in the middle no longer matters; the answer is the merge that brought the change in.",
      "- **Narrow the range**: a later good commit or an earlier bad one leaves fewer untestable commits in between.",
    ].filter((line): line is string => line !== null),
  };
}

function ambiguousBody(view: ResultView, repository: string | null): string[] {
  const { job, result } = view;
  const candidates = result.candidates;
  const listed = candidates.slice(0, MAX_CANDIDATES).map((sha) => commitRef(sha, repository));
  const more = candidates.length - listed.length;
  const { why, how } = ambiguousAdvice(view);
  return [
    `### 🤷 Bisect #${job.id}: the first ${view.options.findFix ? "fixed" : "bad"} commit is one of ${plural(candidates.length, "commit")}`,
    "",
    why,
    "",
    `${listed.join(", ")}${more > 0 ? `, and ${more.toLocaleString("en-US")} more` : ""}`,
    "",
    facts(rangeTestsRun(view, repository)),
    "",
    "To narrow it down:",
    "",
    ...how,
    "",
  ];
}

/** No culprit: the first paragraph, from the reason and what the tests saw. */
function noCulpritSummary(view: ResultView, repository: string | null): string {
  const { job, result } = view;
  const bad = runsOf(result.probes, result.range.bad);
  const badRef = `${codeSpan(job.bad_ref, 80)} (${commitRef(result.range.bad, repository)})`;
  const passed = result.probes.filter((p) => p.verdict === "good").length;
  const failed = result.probes.filter((p) => p.verdict === "bad").length;
  const counts = `${passed} of ${plural(result.tested, "test")} passed${failed > 0 ? ` and ${failed} failed` : ""}`;
  if (view.options.findFix) {
    if (result.reason === "flake")
      return `Weighing every run, no commit in this range is likely to have fixed the test: the passes look like flakes. ${counts}.`;
    const still = bad.bad > 0 ? ` (${bad.bad} of ${plural(bad.good + bad.bad, "run")})` : "";
    return result.reason === "bad-commit-passes"
      ? `The newest commit ${badRef} still fails the test${still}, so nothing in this range fixed it.`
      : `${counts}: not enough to credit any commit with the fix.`;
  }
  if (result.reason === "flake") {
    return `Weighing every run, no commit in this range is likely to have broken the test: the failures look like flakes. ${counts}.`;
  }
  const evidence =
    bad.good > 0
      ? `The bad commit ${badRef} passed the test (${bad.good} of ${plural(bad.good + bad.bad, "run")}), so nothing in this range fails it reliably.`
      : result.reason === "bad-commit-passes"
        ? `The bad commit ${badRef} passed the test, so nothing in this range fails it reliably.`
        : `${counts}: not enough to blame any commit.`;
  return `The range holds no regression, or the failure was a flake. ${evidence}`;
}

function noCulpritBody(view: ResultView, repository: string | null): string[] {
  const { job, options, result } = view;
  if (options.findFix) return noFixBody(view, repository);
  const note = result.error !== undefined && result.error.trim() !== "" ? [`> ${escapeMarkdown(result.error, 500)}`, ""] : [];
  const next = [
    options.flaky ? null : "- If the test fails only sometimes, re-run with `--flaky`: it repeats tests and weighs the evidence.",
    result.reason === "flake" && options.confidence < 0.999
      ? "- If you are sure a commit broke it, re-run with a higher target, such as `--confidence 0.999`: it tests longer before it concludes."
      : null,
    `- Check the bad ref: ${codeSpan(job.bad_ref, 80)} was ${commitRef(job.bad_sha, repository)} when you asked; if the failure showed on another commit (a newer push, a pull request's merge commit), bisect up to that one.`,
    "- Check that the command fails on the runner the way it failed for you: each test runs in a fresh checkout, without your local environment, services or secrets.",
  ].filter((line): line is string => line !== null);
  return [
    `### 🟢 Bisect #${job.id}: no commit in this range ${result.reason === "flake" ? "broke" : "fails"} the test`,
    "",
    noCulpritSummary(view, repository),
    "",
    ...note,
    facts(rangeTestsRun(view, repository)),
    "",
    "What to try:",
    "",
    ...next,
    "",
  ];
}

/** Finding a fix, none was found: the newest commit still fails (or the passes were flakes). */
function noFixBody(view: ResultView, repository: string | null): string[] {
  const { job, options } = view;
  const next = [
    options.flaky ? null : "- If the test passes only sometimes, re-run with `--flaky`: it repeats tests and weighs the evidence.",
    `- Check the bad ref: ${codeSpan(job.bad_ref, 80)} was ${commitRef(job.bad_sha, repository)} when you asked; if the test passed on another commit (a newer push, a pull request's merge commit), bisect up to that one.`,
    "- Check that the command passes on the runner where it passed for you: each test runs in a fresh checkout, without your local environment, services or secrets.",
  ].filter((line): line is string => line !== null);
  return [
    `### 🔴 Bisect #${job.id}: no commit in this range fixed the test`,
    "",
    noCulpritSummary(view, repository),
    "",
    facts(rangeTestsRun(view, repository)),
    "",
    "What to try:",
    "",
    ...next,
    "",
  ];
}

/** The rows every answer without a culprit shows: the range, the tests, the run. */
function rangeTestsRun(view: ResultView, repository: string | null): [string, string | null][] {
  const { job, options, result } = view;
  return [
    ["Range", rangeCell(job, options, result.range.size, repository)],
    ["Failing run", failingRunText(job)],
    ["Tests", testsText(view)],
    ["Known from CI", freeVerdictsText(job)],
    ["Rounds", roundsText(view)],
    ["Runners", costText(view)],
    ["Run", runText(view.runUrl, view.attempts, job.max_attempts)],
  ];
}

/** What an error means and what to do next, by its reason. */
function errorHint(reason: Reason | undefined, options: JobOptions): string {
  switch (reason) {
    case "contradiction":
      return options.flaky
        ? "The verdicts contradict each other even for a flaky test, so the test depends on something outside the commit (the time, the network, files left by an earlier run). Make it depend on the commit alone, then comment the command again."
        : "The verdicts contradict each other, so the test is flaky or depends on something outside the commit. Re-run with `--flaky`, which repeats tests and weighs the evidence.";
    case "command-not-found":
      return "The command was not found (exit 127), at the good commit too. Check that it is installed on the runner (each test runs in a fresh checkout of the commit; the repository's `setup` in `.github/bisect.yml` runs first), then comment the command again.";
    case "command-not-executable":
      return "The command could not be executed (exit 126), at the good commit too. Check that the file is committed as executable (`chmod +x`) and that its `#!` line names an interpreter the runner has, then comment the command again.";
    case "merge-base-fails":
      return "The good commit is not an ancestor of the bad one, and a commit both grew from (their merge base) fails the test too: the failure is older than the good commit's branch, which fixed it. To find the commit that broke it, bisect from a good commit that is an ancestor of the bad one.";
    case "probe-failed":
      return "A test could not be run at all (a worktree could not be made, or the runner failed): that is not your test's verdict. `/bisect retry` runs it again, resuming with the verdicts it has.";
    case "no-verdict":
      return "The search ended without a verdict: a bug in Bisect Bot, not a problem with your test. `/bisect retry` runs it again; if it stops the same way, please report it with a link to this comment.";
    default:
      return "The test or the range stopped the bisection, not GitHub: the same command would stop the same way. Fix the command or the range, then comment it again.";
  }
}

function errorBody(view: ResultView, repository: string | null): string[] {
  const { job, options, result } = view;
  const error = result.error !== undefined && result.error.trim() !== "" ? result.error : "The run reported an error without a message.";
  return [
    `### ⚠️ Bisect #${job.id}: the bisection stopped with an error`,
    "",
    "The run could not reach a verdict:",
    "",
    codeBlock(error, "text", 3000),
    "",
    errorHint(result.reason, options),
    "",
    facts(rangeTestsRun(view, repository)),
    "",
  ];
}

/**
 * A run that has not ended: interrupted (stopped before the end) or searching (a round of probe
 * mode). The worker handles both without this comment; this is what it would say.
 */
function unfinishedBody(view: ResultView, repository: string | null): string[] {
  const { job, result } = view;
  const heading =
    result.verdict === "searching"
      ? `### 🔎 Bisect #${job.id} is still searching`
      : `### ⏹️ Bisect #${job.id} ${result.reason === "cancelled" ? "was cancelled" : "stopped"} before it ended`;
  return [heading, "", "The tests that finished are kept: `/bisect retry` resumes with their verdicts.", "", facts(rangeTestsRun(view, repository)), ""];
}

function verdictBody(view: ResultView, repository: string | null): string[] {
  const verdict = view.result.verdict;
  switch (verdict) {
    case "culprit":
      return culpritBody(view, repository);
    case "ambiguous":
      return ambiguousBody(view, repository);
    case "no-culprit":
      return noCulpritBody(view, repository);
    case "error":
      return errorBody(view, repository);
    case "interrupted":
    case "searching":
      return unfinishedBody(view, repository);
    default: {
      const unknown: never = verdict;
      throw new Error(`no comment for the verdict ${String(unknown)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public

/** The finished bisect: culprit, ambiguous set, no culprit, or the run's own error. */
export function resultComment(view: ResultView): string {
  const repository = repositoryBase(view.repositoryUrl);
  return [
    ...verdictBody(view, repository),
    ...probesSection(view.result.probes, repository, view.runUrl, view.options.findFix),
    "",
    ...commandSection(view.job),
    "",
    footer(view.job, "`/bisect retry` runs it again"),
  ].join("\n");
}

/** Infrastructure failure after every attempt, or the job's time limit: what failed, what ran, what next. */
export function failureComment(view: FailureView): string {
  const { job, options } = view;
  const repository = repositoryBase(view.repositoryUrl);
  const reason = escapeMarkdown(view.reason.trim() === "" ? "no reason given" : view.reason, 500);
  const limit = humanDuration(options.timeoutSeconds * 1000);
  const heading = view.timedOut ? `### ⏱️ Bisect #${job.id} timed out` : `### 🛠️ Bisect #${job.id} could not finish`;
  const what = view.timedOut
    ? `It ran longer than its time limit of ${limit}, so I stopped it (attempt ${view.attempts} of ${job.max_attempts}).`
    : view.attempts >= job.max_attempts
      ? `The bisect workflow failed for reasons outside your test on all ${plural(view.attempts, "attempt")}, so I stopped.`
      : `The bisect workflow failed for a reason outside your test (attempt ${view.attempts} of ${job.max_attempts}), so I stopped.`;
  const next = view.timedOut
    ? [
        "- Give it more time: comment the command again with `--timeout 2h` (up to `6h`).",
        options.parallel > 1 ? null : "- Test several commits at once with `--parallel 4`.",
        "- Narrow the range, or make the command faster (run only the failing test).",
      ]
    : [
        "- `/bisect retry` starts it again; failures like this are often a lost runner or a GitHub hiccup.",
        "- If it fails the same way again, open the workflow run's log: the runner setup, the repository's bisect workflow, or the result artifact is the place to look.",
      ];
  return [
    heading,
    "",
    what,
    "",
    `Reason: ${reason}`,
    "",
    facts([
      ["Range", rangeCell(job, options, options.commits, repository)],
      ["Tested so far", plural(view.tested, "test")],
      ["Run", runText(view.runUrl, 1, job.max_attempts)],
    ]),
    "",
    "Next:",
    "",
    ...next.filter((line): line is string => line !== null),
    "",
    ...probesSection(view.probes, repository, view.runUrl, options.findFix),
    "",
    ...commandSection(job),
    "",
    footer(job, "`/bisect retry` runs it again"),
  ].join("\n");
}
