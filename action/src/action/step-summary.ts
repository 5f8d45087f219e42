import type { CommitInfo } from "../runner/git.js";
import type { ResultDocument } from "../result-document.js";

/** Where commits link to: `https://github.com/<owner>/<repo>/commit/<sha>`, or nowhere locally. */
export interface Links {
  commitUrl?: (sha: string) => string;
}

/** Escapes text from commits (subjects, names) so it cannot break or inject into the markdown. */
export function escapeMarkdown(text: string): string {
  return (
    text
      // Characters that start markdown or HTML anywhere in a line, table pipes, and @ (no mentions).
      .replace(/[\\`*_{}[\]()#!|<>~@&]/g, (c) => `\\${c}`)
      .replace(/\r?\n/g, " ")
      .slice(0, 200)
  );
}

const short = (sha: string) => sha.slice(0, 10);

function commitLink(sha: string, links: Links): string {
  return links.commitUrl ? `[\`${short(sha)}\`](${links.commitUrl(sha)})` : `\`${short(sha)}\``;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * The step summary: the range, the verdict (culprit with author and link, the ambiguous set, why
 * there is none, or where an interrupted or probe-mode run stands), the confidence, and a table
 * of every probe.
 */
export function renderSummary(result: ResultDocument, commits: ReadonlyMap<string, CommitInfo>, links: Links, findFix = false): string {
  // Finding a fix (git bisect's terms broken/fixed), the answer is the first commit that passes.
  const first = findFix ? "first fixed commit" : "first bad commit";
  const [oldTerm, newTerm] = findFix ? ["broken", "fixed"] : ["good", "bad"];
  const subject = (sha: string) => escapeMarkdown(commits.get(sha)?.subject ?? "");
  const lines: string[] = ["## Bisect", ""];
  // A range is never empty; size 0 means it was not counted (probe mode reads no history).
  const size = result.range.size > 0 ? `, ${result.range.size} commit${result.range.size === 1 ? "" : "s"}` : "";
  lines.push(
    `Range: ${result.range.good.map((g) => commitLink(g, links)).join(", ")} (${oldTerm}) .. ${commitLink(result.range.bad, links)} (${newTerm})${size}. ` +
      `Tested ${result.tested} time${result.tested === 1 ? "" : "s"} in ${result.rounds} round${result.rounds === 1 ? "" : "s"}.`,
    "",
  );
  const candidateList = (shas: readonly string[]) => {
    for (const sha of shas.slice(0, 50)) lines.push(`- ${commitLink(sha, links)} ${subject(sha)}`);
    if (shas.length > 50) lines.push(`- … and ${shas.length - 50} more`);
  };
  switch (result.verdict) {
    case "culprit": {
      const c = result.culprit!;
      const info = commits.get(c.sha);
      lines.push(`### ${findFix ? "First fixed commit" : "First bad commit"}: ${commitLink(c.sha, links)} ${subject(c.sha)}`, "");
      if (info) lines.push(`Author: ${escapeMarkdown(info.authorName)}, ${info.date}`, "");
      lines.push(`Confidence: ${c.confidence === 1 ? "1 (deterministic test)" : c.confidence.toFixed(3)}`, "");
      if (result.confirmation) {
        const k = result.confirmation;
        lines.push(
          k.verdict === "confirmed"
            ? `Confirmed: the ${findFix ? "fix passed" : "culprit failed"} ${k.culpritFailed} of ${k.runs} re-runs, its parent${k.parentPassed === k.runs ? "" : "s"} ${findFix ? "failed" : "passed"} ${k.parentPassed} of ${k.runs}.`
            : `**Not reproducible**: the ${findFix ? "fix passed" : "culprit failed"} ${k.culpritFailed} of ${k.runs} re-runs, its parents ${findFix ? "failed" : "passed"} ${k.parentPassed} of ${k.runs}.`,
          "",
        );
      }
      break;
    }
    case "ambiguous":
      lines.push(`### The ${first} could be any of:`, "");
      candidateList(result.candidates);
      lines.push(
        "",
        result.reason === "out-of-tests"
          ? "The tests ran out before one commit reached the confidence: these are the likeliest. Run again with a lower confidence, or test them by hand."
          : "These commits could not be tested (exit 125). Make them testable, or test them by hand.",
        "",
      );
      break;
    case "no-culprit":
      lines.push(
        ...(findFix
          ? [
              "### No fix",
              "",
              result.reason === "flake"
                ? "The passes look like flakes: no commit is likely to have fixed the test."
                : "The newest commit still fails the test: no commit in the range fixed it.",
            ]
          : ["### No culprit", "", escapeMarkdown(result.error ?? "No commit in the range fails the test.")]),
        "",
      );
      break;
    case "error":
      lines.push(`### Bisect failed`, "", escapeMarkdown(result.error ?? "Unknown error."), "");
      break;
    case "interrupted":
      lines.push(
        `### Bisect interrupted`,
        "",
        escapeMarkdown(result.error ?? "The bisection stopped before it ended."),
        "",
        `A retry resumes from ${result.tested === 1 ? "the verdict of the 1 test" : `the verdicts of the ${result.tested} tests`} it ran.`,
        "",
      );
      break;
    case "searching":
      lines.push(
        `### Probes tested: the bisection goes on`,
        "",
        result.candidates.length > 0
          ? `${result.candidates.length} commit${result.candidates.length === 1 ? "" : "s"} can still hold the ${first}.`
          : "Bisect Bot plans the next round from these verdicts.",
        "",
      );
      break;
  }
  if (result.probes.length > 0) {
    lines.push("| # | commit | subject | verdict | exit | duration | round |", "|---|---|---|---|---|---|---|");
    result.probes.forEach((p, i) => {
      lines.push(
        `| ${i + 1} | ${commitLink(p.sha, links)} | ${subject(p.sha)} | ${p.verdict} | ${p.exitCode ?? "–"} | ${seconds(p.durationMs)} | ${p.round} |`,
      );
    });
    lines.push("");
  }
  return lines.join("\n");
}
