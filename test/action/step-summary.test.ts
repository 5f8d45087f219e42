/** The Action's step summary for every verdict, as a maintainer reads it on the run's page. */
import { describe, expect, it } from "vitest";
import { renderSummary } from "../../action/src/action/step-summary.js";
import type { ResultDocument } from "../../action/src/result-document.js";

const sha = (n: number) => n.toString(16).padStart(40, "0");
const base = {
  schema: 1 as const,
  range: { good: [sha(1)], bad: sha(9), size: 8 },
  probes: [{ sha: sha(5), verdict: "good" as const, exitCode: 0, durationMs: 1200, round: 1 }],
  tested: 1,
  rounds: 1,
};
const render = (doc: ResultDocument) => renderSummary(doc, new Map(), {});

describe("the step summary", () => {
  it("finding a fix, speaks of broken and fixed commits", () => {
    const fix = (doc: ResultDocument) => renderSummary(doc, new Map(), {}, true);
    const culprit = fix({ ...base, verdict: "culprit", culprit: { sha: sha(6), confidence: 1 }, candidates: [sha(6)] });
    expect(culprit).toContain(`(broken) .. \`${sha(9).slice(0, 10)}\` (fixed), 8 commits.`);
    expect(culprit).toContain(`### First fixed commit: \`${sha(6).slice(0, 10)}\``);
    const none = fix({ ...base, verdict: "no-culprit", reason: "bad-commit-passes", candidates: [], error: "The bad commit passes the test." });
    expect(none).toContain("### No fix\n\nThe newest commit still fails the test: no commit in the range fixed it.");
    expect(none).not.toContain("bad commit");
    expect(fix({ ...base, verdict: "ambiguous", reason: "only-skipped-left", candidates: [sha(6)] })).toContain("### The first fixed commit could be any of:");
  });

  it("an interrupted run says so, with its message, and that its verdicts are kept", () => {
    const md = render({ ...base, verdict: "interrupted", reason: "cancelled", candidates: [], error: "Interrupted after 1 test: the bisection was stopped." });
    expect(md).toContain(
      "### Bisect interrupted\n\nInterrupted after 1 test: the bisection was stopped.\n\nA retry resumes from the verdict of the 1 test it ran.",
    );
    expect(md).toContain(`| 1 | \`${sha(5).slice(0, 10)}\` |  | good | 0 | 1.2 s | 1 |`);
  });

  it("probe mode says the bisection goes on, and how many commits can still hold the culprit", () => {
    const md = render({ ...base, verdict: "searching", candidates: [sha(6), sha(7), sha(8), sha(9)] });
    expect(md).toContain("### Probes tested: the bisection goes on\n\n4 commits can still hold the first bad commit.");
  });

  it("probe mode without the history (range size 0, no candidates): the range is not counted, and the App plans the next round", () => {
    const md = render({ ...base, range: { ...base.range, size: 0 }, verdict: "searching", candidates: [] });
    expect(md).toContain(`Range: \`${sha(1).slice(0, 10)}\` (good) .. \`${sha(9).slice(0, 10)}\` (bad). Tested 1 time in 1 round.`);
    expect(md).toContain("### Probes tested: the bisection goes on\n\nBisect Bot plans the next round from these verdicts.");
    expect(md).not.toContain("0 commits");
  });

  it("an ambiguous end explains itself by its reason: untestable commits, or flaky mode out of tests", () => {
    const skipped = render({ ...base, verdict: "ambiguous", reason: "only-skipped-left", candidates: [sha(6), sha(7)] });
    expect(skipped).toContain("These commits could not be tested (exit 125).");
    const flaky = render({ ...base, verdict: "ambiguous", reason: "out-of-tests", candidates: [sha(6), sha(7)] });
    expect(flaky).toContain("The tests ran out before one commit reached the confidence: these are the likeliest.");
    expect(flaky).not.toContain("exit 125");
    for (const md of [skipped, flaky]) expect(md).toContain(`- \`${sha(6).slice(0, 10)}\` \n- \`${sha(7).slice(0, 10)}\` `);
  });

  it("no culprit and errors show their sentence, escaped", () => {
    expect(render({ ...base, verdict: "no-culprit", reason: "flake", candidates: [], error: "The failure looks like a flake." })).toContain(
      "### No culprit\n\nThe failure looks like a flake.",
    );
    expect(render({ ...base, verdict: "error", reason: "command-not-found", candidates: [], error: "The command 'x|y' exits 127" })).toContain(
      "### Bisect failed\n\nThe command 'x\\|y' exits 127",
    );
  });
});
