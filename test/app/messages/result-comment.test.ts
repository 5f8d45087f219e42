/**
 * The answer comment (app/src/messages/result-comment.ts), compared with golden files in
 * test/app/messages/golden/. After an intended change to the wording, regenerate them and review
 * the diff:
 *
 *   UPDATE_GOLDEN=1 npx vitest run test/app/messages/result-comment.test.ts
 *
 * Inputs are fixed (ids, dates, shas from a seeded generator), so the output is byte-for-byte
 * stable. Below the golden files: hostile text from a run or a commit cannot mention, link,
 * inject HTML or break the collapsed sections.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { REASONS_BY_VERDICT, type ResultDocument } from "../../../action/src/result-document.js";
import { failureComment, humanDuration, percent, resultComment, type FailureView, type ResultView } from "../../../app/src/messages/result-comment.js";
import { BAD, GOOD, job, options, REPOSITORY_URL, RUN_URL, sha } from "./fixtures.js";
import { githubCells, render, renderedRows } from "./render-markdown.js";
import { culpritPullRequestComment, reportBody, reportTitle } from "../../../app/src/messages/auto-report.js";

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), "golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  const text = `${actual}\n`;
  if (UPDATE) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file)) throw new Error(`${file} is missing: run with UPDATE_GOLDEN=1 to write it`);
  expect(text, `${name} differs: if the change is intended, run with UPDATE_GOLDEN=1 and review the diff`).toBe(readFileSync(file, "utf8"));
}

// ---------------------------------------------------------------------------------------------
// Fixtures

type Probe = ResultDocument["probes"][number];

function probe(label: string, verdict: Probe["verdict"], round: number, durationMs: number, exitCode?: number | null): Probe {
  const code = exitCode !== undefined ? exitCode : verdict === "good" ? 0 : verdict === "bad" ? 1 : verdict === "skip" ? 125 : null;
  return { sha: sha(label), verdict, exitCode: code, durationMs, round };
}

function result(overrides: Partial<ResultDocument>): ResultDocument {
  return {
    schema: 1,
    jobId: "42",
    verdict: "culprit",
    candidates: [],
    range: { good: [GOOD], bad: BAD, size: 1234 },
    probes: [],
    tested: 0,
    rounds: 0,
    ...overrides,
  };
}

/** A deterministic bisect of 1,234 commits, 4 at a time: 17 tests in 5 rounds. */
function culpritView(): ResultView {
  const probes: Probe[] = [
    probe("c617", "good", 1, 24_310),
    probe("c926", "bad", 1, 31_902),
    probe("c308", "good", 1, 23_877),
    probe("c1080", "bad", 1, 30_455),
    probe("c695", "good", 2, 24_102),
    probe("c772", "good", 2, 25_671),
    probe("c849", "bad", 2, 29_933),
    probe("c810", "good", 2, 24_498),
    probe("c820", "good", 3, 24_016),
    probe("c830", "bad", 3, 31_220),
    probe("c825", "skip", 3, 4_208),
    probe("c815", "good", 3, 24_875),
    probe("c822", "good", 4, 23_990),
    probe("c827", "bad", 4, 30_871),
    probe("c824", "good", 4, 24_664),
    probe("c826", "bad", 4, 30_102),
    probe("c823", "good", 5, 24_330),
  ];
  const culprit = sha("c824b");
  probes.push({ ...probe("c824b", "bad", 5, 30_777), sha: culprit });
  return {
    job: job(),
    options: options({ parallel: 4 }),
    result: result({
      verdict: "culprit",
      culprit: { sha: culprit, confidence: 1 },
      candidates: [culprit],
      probes,
      tested: probes.length,
      rounds: 5,
    }),
    culprit: {
      sha: culprit,
      subject: "Reject empty keys in the config parser",
      authorName: "Mona Lisa Octocat",
      authorLogin: "monalisa",
      committedAt: "2026-11-24T09:41:07Z",
      pullRequest: { number: 1234, title: "Parser: stricter key validation", url: "https://github.com/octo-org/widgets/pull/1234" },
      parentCount: 1,
    },
    repositoryUrl: REPOSITORY_URL,
    runUrl: RUN_URL,
    durationMs: 252_400,
    attempts: 1,
  };
}

/** A flaky test, first parents only: the culprit is the merge of a pull request; a retried run. */
function flakyCulpritView(): ResultView {
  const merge = sha("merge-of-1187");
  const probes: Probe[] = [
    probe("f44", "good", 1, 61_200),
    probe("f66", "bad", 2, 58_004),
    probe("f55", "good", 3, 60_911),
    probe("f55", "bad", 4, 59_300),
    probe("f55", "good", 5, 61_020),
    probe("f55", "good", 6, 60_487),
    probe("f61", "bad", 7, 57_912),
    probe("f58", "good", 8, 60_050),
    probe("f60", "good", 9, 61_444),
    { ...probe("m", "bad", 10, 58_630), sha: merge },
    probe("f60", "good", 11, 60_770),
    { ...probe("m", "bad", 12, 58_219), sha: merge },
    { ...probe("m", "bad", 13, 59_004), sha: merge },
  ];
  return {
    job: job({ id: 57, good_refs: ["v2.0.0-rc.1"], good_shas: [sha("v2.0.0-rc.1")], bad_ref: "release/2.0", bad_sha: sha("release/2.0"), attempts: 2 }),
    options: options({ flaky: true, firstParent: true, commits: 87, confidence: 0.99 }),
    result: result({
      verdict: "culprit",
      culprit: { sha: merge, confidence: 0.99347 },
      candidates: [merge],
      range: { good: [sha("v2.0.0-rc.1")], bad: sha("release/2.0"), size: 87 },
      probes,
      tested: probes.length,
      rounds: 13,
    }),
    culprit: {
      sha: merge,
      subject: "Merge pull request #1187 from jdoe/cache-refactor",
      authorName: "Jane Doe",
      authorLogin: null,
      committedAt: "2026-11-20T17:02:44+01:00",
      pullRequest: { number: 1187, title: "Cache: share one LRU between workers", url: "https://github.com/octo-org/widgets/pull/1187" },
      parentCount: 2,
    },
    repositoryUrl: REPOSITORY_URL,
    runUrl: "https://github.com/octo-org/widgets/actions/runs/11842990012",
    durationMs: 14 * 60_000 + 3_000,
    attempts: 2,
  };
}

function ambiguousView(): ResultView {
  const candidates = Array.from({ length: 23 }, (_, i) => sha(`a${i}`));
  const probes: Probe[] = [
    probe("b1", "good", 1, 41_000),
    probe("b2", "bad", 2, 39_500),
    probe("b3", "good", 3, 40_220),
    { ...probe("x", "skip", 4, 12_004), sha: candidates[11]! },
    { ...probe("x", "skip", 5, 11_870), sha: candidates[5]! },
    { ...probe("x", "skip", 6, 12_310), sha: candidates[17]! },
    { ...probe("x", "error", 7, 600_000, null), sha: candidates[2]! },
    { ...probe("x", "skip", 8, 12_118), sha: candidates[2]! },
  ];
  return {
    job: job({ id: 43 }),
    options: options({ commits: 640 }),
    result: result({
      verdict: "ambiguous",
      reason: "only-skipped-left",
      candidates,
      range: { good: [GOOD], bad: BAD, size: 640 },
      probes,
      tested: probes.length,
      rounds: probes.length,
    }),
    culprit: null,
    repositoryUrl: REPOSITORY_URL,
    runUrl: RUN_URL,
    durationMs: 19 * 60_000 + 41_000,
    attempts: 1,
  };
}

function noCulpritView(): ResultView {
  const probes: Probe[] = [{ ...probe("bad", "good", 1, 33_800), sha: BAD }];
  return {
    job: job({ id: 44 }),
    options: options(),
    result: result({
      verdict: "no-culprit",
      reason: "bad-commit-passes",
      range: { good: [GOOD], bad: BAD, size: 1234 },
      probes,
      tested: 1,
      rounds: 1,
      error: `The bad commit ${BAD} passes the test, so no commit in the range fails it. The failure may be flaky (try --flaky) or depend on something outside the repository.`,
    }),
    culprit: null,
    repositoryUrl: REPOSITORY_URL,
    runUrl: RUN_URL,
    durationMs: 71_000,
    attempts: 1,
  };
}

function errorView(): ResultView {
  const probes: Probe[] = [probe("e1", "good", 1, 24_000), probe("e2", "bad", 2, 30_100), probe("e3", "good", 3, 24_900), probe("e2", "good", 4, 25_300)];
  return {
    job: job({ id: 45 }),
    options: options(),
    result: result({
      verdict: "error",
      reason: "contradiction",
      probes,
      tested: probes.length,
      rounds: probes.length,
      error: `The verdicts contradict each other: ${sha("e2")} failed and later passed. The test is flaky or depends on something outside the commit; rerun with --flaky.`,
    }),
    culprit: null,
    repositoryUrl: REPOSITORY_URL,
    runUrl: RUN_URL,
    durationMs: 2 * 60_000 + 5_000,
    attempts: 1,
  };
}

function infraFailure(): FailureView {
  const probes: Probe[] = [probe("i1", "good", 1, 24_000), probe("i2", "bad", 2, 30_100), probe("i3", "good", 3, 24_900)];
  return {
    job: job({ id: 46, state: "failed", attempts: 3 }),
    options: options(),
    reason: "The workflow run ended (conclusion: failure) without uploading the artifact bisect-result-46.",
    runUrl: "https://github.com/octo-org/widgets/actions/runs/11843000777",
    tested: probes.length,
    attempts: 3,
    timedOut: false,
    probes,
    repositoryUrl: REPOSITORY_URL,
  };
}

function timeoutFailure(): FailureView {
  const probes: Probe[] = Array.from({ length: 130 }, (_, i) =>
    probe(`t${i}`, i % 3 === 0 ? "bad" : "good", Math.floor(i / 8) + 1, 13_000 + ((i * 7919) % 4000)),
  );
  return {
    job: job({ id: 47, state: "timed_out" }),
    options: options({ parallel: 8, commits: 250_000, timeoutSeconds: 1800 }),
    reason: "The job ran past its time limit (30 min) and was cancelled.",
    runUrl: RUN_URL,
    tested: probes.length,
    attempts: 1,
    timedOut: true,
    probes,
    repositoryUrl: REPOSITORY_URL,
  };
}

// ---------------------------------------------------------------------------------------------
// Golden files

describe("golden files", () => {
  it("culprit", () => golden("result-culprit.md", resultComment(culpritView())));
  it("culprit, flaky, a merge on the first-parent line", () => golden("result-culprit-flaky.md", resultComment(flakyCulpritView())));
  it("ambiguous", () => golden("result-ambiguous.md", resultComment(ambiguousView())));
  it("no culprit", () => golden("result-no-culprit.md", resultComment(noCulpritView())));
  it("error", () => golden("result-error.md", resultComment(errorView())));
  it("infrastructure failure", () => golden("failure-infra.md", failureComment(infraFailure())));
  it("timeout", () => golden("failure-timeout.md", failureComment(timeoutFailure())));
  it("culprit, finding the fix", () => {
    const view = culpritView();
    golden("result-fix.md", resultComment({ ...view, options: options({ ...view.options, findFix: true }) }));
  });
  it("no fix", () => {
    const view = noCulpritView();
    // Finding a fix, the newest commit was tested and still failed.
    const probes: Probe[] = [{ ...probe("bad", "bad", 1, 33_800), sha: BAD }];
    golden("result-no-fix.md", resultComment({ ...view, options: options({ findFix: true }), result: { ...view.result, probes } }));
  });
  it("an implausible culprit: it changes only tests", () => {
    const view = culpritView();
    golden("result-only-tests.md", resultComment({ ...view, culprit: { ...view.culprit!, changedFiles: ["test/parser.test.ts", "test/fixtures/keys.json"] } }));
  });
  it("an implausible culprit: it changes only documentation and CI configuration", () => {
    const view = culpritView();
    golden("result-only-docs.md", resultComment({ ...view, culprit: { ...view.culprit!, changedFiles: ["README.md", ".github/workflows/ci.yml"] } }));
  });
  it("a culprit that changes code is not flagged", () => {
    const view = culpritView();
    expect(resultComment({ ...view, culprit: { ...view.culprit!, changedFiles: ["src/parser.ts", "test/parser.test.ts"] } })).not.toContain("Implausible");
  });
  it("an implausible culprit: on a merged branch, off the bad ref's first-parent line", () => {
    golden("result-off-first-parent.md", resultComment({ ...culpritView(), offFirstParentLine: true }));
  });
  it("an implausible culprit: a flaky culprit below its confidence goal", () => {
    const view = culpritView();
    golden(
      "result-below-target.md",
      resultComment({
        ...view,
        options: options({ ...view.options, flaky: true, confidence: 0.99 }),
        result: { ...view.result, culprit: { sha: view.result.culprit!.sha, confidence: 0.93 } },
      }),
    );
  });
  it("culprit, confirmed by re-runs", () => {
    const view = culpritView();
    golden(
      "result-confirmed.md",
      resultComment({ ...view, result: { ...view.result, confirmation: { runs: 3, culpritFailed: 3, parentPassed: 3, verdict: "confirmed" } } }),
    );
  });
  it("culprit, not reproducible on re-runs", () => {
    const view = culpritView();
    golden(
      "result-not-reproducible.md",
      resultComment({ ...view, result: { ...view.result, confirmation: { runs: 3, culpritFailed: 1, parentPassed: 3, verdict: "not-reproducible" } } }),
    );
  });
  it("an automatic bisect: the issue it opens (title, body with the failing run and the free verdicts), and the culprit's pull request comment", () => {
    const view = culpritView();
    const auto = job({
      options: view.options,
      origin: "auto",
      requester: "automatic",
      issue_number: null,
      comment_id: null,
      status_comment_id: null,
      red_run: { id: 11842990001, url: "https://github.com/octo-org/widgets/actions/runs/11842990001", workflow: "ci.yml", number: 4812 },
      free_verdicts: [
        { sha: sha("c700"), verdict: "good", runId: 11842000001 },
        { sha: sha("c900"), verdict: "bad", runId: 11842000002 },
      ],
    });
    const answer = resultComment({
      ...view,
      job: auto,
      result: { ...view.result, confirmation: { runs: 1, culpritFailed: 1, parentPassed: 1, verdict: "confirmed" } },
    });
    const culprit = view.result.culprit!.sha;
    golden("auto-issue.md", `${reportTitle(auto, culprit, view.culprit!.subject)}\n\n${reportBody(auto, answer)}`);
    golden("auto-pull-request.md", culpritPullRequestComment(auto, culprit, 4821));
  });
  it("an automatic report's title is one line of plain text, cut at GitHub's 256 characters", () => {
    const auto = job({ options: options(), origin: "auto", red_run: { id: 1, url: "https://github.com/o/r/actions/runs/1", workflow: "ci.yml", number: 2 } });
    const title = reportTitle(auto, sha("c1"), `Fix\nparser\u0007 ${"x".repeat(400)}`);
    expect(title.length).toBeLessThanOrEqual(256);
    expect(title).toMatch(/^ci\.yml broke on \S+: [0-9a-f]{7} "Fix parser /);
    expect([...title].some((c) => c.charCodeAt(0) < 32)).toBe(false);
  });
  it("a fan-out lists its rounds and what the runners cost", () => {
    const view = culpritView();
    golden(
      "result-fan-out.md",
      resultComment({ ...view, options: options({ runners: 4 }), fanOut: { perRound: [4, 4, 4, 4, 2], runnerJobs: 18, runnerMinutes: 23 } }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Details

describe("culprit", () => {
  it("mentions a valid author login, and shows any other escaped without @", () => {
    const view = culpritView();
    expect(resultComment(view)).toContain("Mona Lisa Octocat (@monalisa)");
    for (const login of ["dependabot[bot]", "-leading-dash", "a".repeat(40), "evil/team", "x y"]) {
      const out = resultComment({ ...view, culprit: { ...view.culprit!, authorLogin: login } });
      expect(out, login).not.toContain(`@${login}`);
      expect(out, login).not.toMatch(/\(@/);
    }
    const noName = resultComment({ ...view, culprit: { ...view.culprit!, authorName: null } });
    expect(noName).toContain("| Author | @monalisa · 2026-11-24 09:41 UTC |");
  });

  it("works without details from GitHub", () => {
    const view = culpritView();
    const out = resultComment({ ...view, culprit: null });
    expect(out).toContain(`### 🎯 Bisect #42: [\`${view.result.culprit!.sha.slice(0, 7)}\`](`);
    expect(out).not.toContain("| Author |");
    expect(out).not.toContain("| Pull request |");
  });

  it("warns when the culprit is the bad commit itself", () => {
    const view = culpritView();
    const untested = resultComment({
      ...view,
      result: { ...view.result, culprit: { sha: BAD, confidence: 1 }, candidates: [BAD] },
      culprit: { ...view.culprit!, sha: BAD },
    });
    expect(untested).toContain("⚠️ This is the bad commit itself, blamed without being tested here");
    expect(untested).toContain("`bisect-bot run --verify`");
    const tested = resultComment({
      ...view,
      result: {
        ...view.result,
        culprit: { sha: BAD, confidence: 1 },
        candidates: [BAD],
        probes: [...view.result.probes, { ...probe("x", "bad", 6, 1000), sha: BAD }],
      },
      culprit: { ...view.culprit!, sha: BAD },
    });
    expect(tested).toContain("⚠️ This is the bad commit itself: every commit before it passed.");
    expect(resultComment(view)).not.toContain("⚠️");
  });

  it("warns about a merge found without --first-parent, by parent count or by subject", () => {
    const view = culpritView();
    const byCount = resultComment({ ...view, culprit: { ...view.culprit!, parentCount: 2 } });
    expect(byCount).toContain("⚠️ This is a merge commit whose parents both pass");
    const { parentCount: _, ...unknown } = view.culprit!;
    const bySubject = resultComment({ ...view, culprit: { ...unknown, subject: "Merge branch 'main' into feature" } });
    expect(bySubject).toContain("⚠️ This is a merge commit");
  });

  it("links nothing when the repository or run URL is not one we link to", () => {
    const view = culpritView();
    const out = resultComment({ ...view, repositoryUrl: "javascript:alert(1)//", runUrl: "http://evil.example/run" });
    expect(linkTargets(out)).toEqual(["https://github.com/octo-org/widgets/pull/1234"]);
    expect(out).not.toContain("evil.example");
    expect(out).toContain(`### 🎯 Bisect #42: \`${view.result.culprit!.sha.slice(0, 7)}\` is the first bad commit`);
  });

  it("caps the tests table at 100 rows", () => {
    const view = culpritView();
    const probes = Array.from({ length: 250 }, (_, i) => probe(`p${i}`, "good", i + 1, 1000));
    const out = resultComment({ ...view, result: { ...view.result, probes, tested: 250, rounds: 250 } });
    expect(out).toContain("<details><summary>Tests (250)</summary>");
    expect(out.split("\n").filter((line) => /^\| \d+ \| /.test(line))).toHaveLength(100);
    expect(out).toContain("… 150 more (the workflow run's summary lists them all).");
  });
});

describe("numbers", () => {
  it("durations read like a person wrote them", () => {
    expect(humanDuration(0)).toBe("0.0 s");
    expect(humanDuration(850)).toBe("0.8 s");
    expect(humanDuration(4_200)).toBe("4.2 s");
    expect(humanDuration(42_000)).toBe("42 s");
    expect(humanDuration(252_400)).toBe("4 min 12 s");
    expect(humanDuration(300_000)).toBe("5 min");
    expect(humanDuration(3_900_000)).toBe("1 h 5 min");
    expect(humanDuration(7_200_000)).toBe("2 h");
    expect(humanDuration(Number.NaN)).toBe("–");
  });

  it("confidence never rounds up", () => {
    expect(percent(0.99347)).toBe("99.3 %");
    expect(percent(0.993)).toBe("99.3 %");
    expect(percent(0.99)).toBe("99 %");
    expect(percent(0.99999)).toBe("99.9 %");
    expect(percent(0.9999999999)).toBe("99.9 %");
    expect(percent(1)).toBe("100 %");
    expect(percent(0.5)).toBe("50 %");
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile input

/** The Markdown outside fenced code blocks and code spans: what GitHub would interpret. */
function outsideCode(markdown: string): string {
  const lines = markdown.split("\n");
  const kept: string[] = [];
  let fence: string | null = null;
  for (const line of lines) {
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence === null) {
      if (open) {
        fence = open[1]!;
        continue;
      }
      kept.push(line);
    } else if (new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(line)) {
      fence = null;
    }
  }
  expect(fence, "every code block is closed").toBeNull();
  // Code spans: a run of n backticks up to the next run of exactly n.
  return kept.join("\n").replace(/(?<!\\)(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, "");
}

/** Every Markdown link target (not backslash-escaped). */
function linkTargets(markdown: string): string[] {
  return [...markdown.matchAll(/(?<!\\)\]\(([^)]*)\)/g)].map((m) => m[1]!);
}

function expectSafe(markdown: string): void {
  const prose = outsideCode(markdown);
  expect(prose, "no team or user mention but the intended author").not.toMatch(/(^|[^A-Za-z0-9_])@(?!monalisa\b)[A-Za-z0-9]/);
  expect(prose).not.toMatch(/<img/i);
  expect(prose).not.toMatch(/javascript:/i);
  const tags = [...prose.matchAll(/<\/?([A-Za-z][\w-]*)/g)].map((m) => m[1]!.toLowerCase());
  expect(new Set(tags)).toEqual(new Set(tags.filter((t) => ["details", "summary", "sub"].includes(t))));
  expect(tags.filter((t) => t === "details").length % 2).toBe(0);
  expect((prose.match(/<details>/g) ?? []).length).toBe((prose.match(/<\/details>/g) ?? []).length);
  expect((prose.match(/<summary>/g) ?? []).length).toBe((prose.match(/<\/summary>/g) ?? []).length);
  for (const target of linkTargets(prose)) {
    expect(target).toMatch(/^https:\/\/github\.com\/octo-org\/widgets\/(commit\/(?:[0-9a-f]{40}|[0-9a-f]{64})|pull\/\d+|actions\/runs\/\d+)$/);
  }
}

describe("hostile input", () => {
  const SUBJECT = "@org/team <img src=x onerror=alert(1)> [x](javascript:y) #1 **b**";
  const ERROR = [
    "Tests failed:",
    "```",
    "</details>",
    "<details><summary>click</summary>",
    "[x](javascript:alert(1)) @org/team <img src=x onerror=alert(1)> #1",
    "```",
    "````",
    "~~~",
    "</details>",
  ].join("\n");
  const PROBE: Probe = { sha: "../../etc", verdict: "bad", exitCode: 1, durationMs: 1000, round: 1 };

  function hostileView(verdict: ResultDocument["verdict"]): ResultView {
    const view = culpritView();
    return {
      ...view,
      job: job({ bad_ref: "main|x" }),
      result: { ...view.result, verdict, error: ERROR, candidates: [view.result.culprit!.sha, "../../etc"], probes: [PROBE, ...view.result.probes] },
      culprit: {
        ...view.culprit!,
        subject: SUBJECT,
        authorName: "<b>@org/team</b>",
        authorLogin: "org/team",
        pullRequest: { number: 1234, title: SUBJECT, url: "javascript:alert(1)" },
      },
    };
  }

  it("a culprit's subject, author and pull request cannot mention, link or inject", () => {
    const out = resultComment(hostileView("culprit"));
    expectSafe(out);
    expect(out).not.toContain("@org/team");
    expect(out).not.toContain("<img");
    expect(out).not.toContain("javascript:");
    expect((out.match(/<details>/g) ?? []).length).toBe((out.match(/<\/details>/g) ?? []).length);
    expect(out).toContain(`**@&#8203;org/team &lt;img src=x onerror=alert\\(1\\)&gt; \\[x\\]\\(javascript\\:y\\) \\#&#8203;1 \\*\\*b\\*\\***`);
    expect(out).not.toMatch(/\]\([^)]*\.\.\/\.\.\/etc/);
    expect(out).toContain("\\.\\./\\.\\./etc");
  });

  it("an error document cannot close its code block or the collapsed section", () => {
    const out = resultComment(hostileView("error"));
    expectSafe(out);
    // The error is shown whole, inside one fence longer than any backtick run in it.
    expect(out).toContain(`\`\`\`\`\`text\n${ERROR}\n\`\`\`\`\``);
  });

  it("a no-culprit note and an ambiguous candidate list stay inert", () => {
    for (const verdict of ["no-culprit", "ambiguous"] as const) {
      const out = resultComment(hostileView(verdict));
      expectSafe(out);
      expect(out, verdict).not.toContain("<img");
      expect(out, verdict).not.toContain("@org/team");
    }
  });

  it("a failure's reason stays inert", () => {
    const view = infraFailure();
    for (const timedOut of [false, true]) {
      const out = failureComment({ ...view, timedOut, reason: ERROR, probes: [PROBE, ...view.probes] });
      expectSafe(out);
      expect(out).not.toContain("<img");
      expect(out).not.toContain("@org/team");
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Reasons: the comment decides on the result's reason code, never on the wording of its error.

/** The sentence an error comment gives after the code block: what it means and what to do. */
function errorHintOf(markdown: string): string {
  const afterBlock = markdown.split("\n`````\n")[1] ?? markdown.split(/\n```\n/)[1]!;
  return afterBlock.trim().split("\n")[0]!;
}

describe("reasons", () => {
  it("golden: an error whose command was not found", () => {
    const view = errorView();
    golden(
      "result-error-command-not-found.md",
      resultComment({
        ...view,
        result: { ...view.result, reason: "command-not-found", error: "The test command exited 127 at the good commit too: `pytest` was not found." },
      }),
    );
  });

  it("golden: no culprit, the failure was a flake", () => {
    const view = noCulpritView();
    const probes: Probe[] = [probe("n1", "good", 1, 20_000), probe("n2", "bad", 2, 21_000), probe("n2", "good", 3, 20_500), probe("n2", "good", 4, 20_700)];
    golden(
      "result-no-culprit-flake.md",
      resultComment({
        ...view,
        options: options({ flaky: true, confidence: 0.99 }),
        result: {
          ...view.result,
          reason: "flake",
          probes,
          tested: probes.length,
          rounds: probes.length,
          error: "The evidence points to no commit: the failure was a flake.",
        },
      }),
    );
  });

  it("golden: ambiguous, out of tests", () => {
    const view = ambiguousView();
    golden(
      "result-ambiguous-out-of-tests.md",
      resultComment({
        ...view,
        options: options({ flaky: true, confidence: 0.99, commits: 640 }),
        result: { ...view.result, reason: "out-of-tests", candidates: view.result.candidates.slice(0, 3) },
      }),
    );
  });

  it("gives each error reason its own advice, whatever the error says", () => {
    const view = errorView();
    // Wording that the old text matching would have read as a contradiction and a missing command at once.
    const misleading = "exit 127: command not found; the verdicts contradict each other (flaky?)";
    const hints = REASONS_BY_VERDICT.error.map((reason) => errorHintOf(resultComment({ ...view, result: { ...view.result, reason, error: misleading } })));
    expect(new Set(hints).size).toBe(REASONS_BY_VERDICT.error.length);
    const hintFor = (reason: (typeof REASONS_BY_VERDICT.error)[number], error = misleading, flaky = false) =>
      errorHintOf(resultComment({ ...view, options: options({ flaky }), result: { ...view.result, reason, error } }));
    expect(hintFor("contradiction", "something unexpected happened")).toContain("Re-run with `--flaky`");
    expect(hintFor("contradiction", "something unexpected happened", true)).toContain("even for a flaky test");
    expect(hintFor("contradiction", "something unexpected happened", true)).not.toContain("--flaky");
    expect(hintFor("command-not-found")).toContain("was not found (exit 127)");
    expect(hintFor("command-not-executable")).toContain("could not be executed (exit 126)");
    expect(hintFor("merge-base-fails")).toContain("merge base");
    expect(hintFor("probe-failed")).toContain("`/bisect retry`");
    expect(hintFor("probe-failed")).not.toContain("--flaky");
    expect(hintFor("no-verdict")).toContain("a bug in Bisect Bot");
  });

  it("tells a flake from a bad commit that passes", () => {
    const view = noCulpritView();
    const flaky = options({ flaky: true, confidence: 0.99 });
    const flake = resultComment({ ...view, options: flaky, result: { ...view.result, reason: "flake" } });
    expect(flake).toContain("the failures look like flakes");
    expect(flake).toContain("`--confidence 0.999`");
    expect(flake).not.toContain("re-run with `--flaky`");
    const passes = resultComment({ ...view, options: flaky, result: { ...view.result, reason: "bad-commit-passes" } });
    expect(passes).toContain("passed the test (1 of 1 run), so nothing in this range fails it reliably");
    expect(passes).not.toContain("look like flakes");
    expect(passes).not.toContain("`--confidence 0.999`");
    // Without a run of the bad commit in the probes, the reason still says what happened.
    const untested = resultComment({ ...view, result: { ...view.result, reason: "bad-commit-passes", probes: [] } });
    expect(untested).toContain("passed the test, so nothing in this range fails it reliably");
  });

  it("tells untestable commits from a flaky test that ran out of tests", () => {
    const view = ambiguousView();
    const skipped = resultComment(view);
    expect(skipped).toContain("Some commits could not be tested");
    expect(skipped).toContain("**Make them testable.**");
    const outOfTests = resultComment({ ...view, options: options({ flaky: true, confidence: 0.99 }), result: { ...view.result, reason: "out-of-tests" } });
    expect(outOfTests).toContain("ran out before one of these commits reached the target confidence of 99 %");
    expect(outOfTests).toContain("`--confidence 0.9`");
    expect(outOfTests).not.toContain("**Make them testable.**");
  });

  it("still says something safe for a run that has not ended (the worker handles these)", () => {
    const view = culpritView();
    const unfinished: ResultDocument[] = [
      { ...view.result, verdict: "interrupted", reason: "cancelled", culprit: undefined },
      { ...view.result, verdict: "interrupted", reason: "stopped", culprit: undefined },
      { ...view.result, verdict: "searching", culprit: undefined },
    ];
    const [cancelled, stopped, searching] = unfinished.map((doc) => resultComment({ ...view, result: doc }));
    expect(cancelled).toContain("### ⏹️ Bisect #42 was cancelled before it ended");
    expect(stopped).toContain("### ⏹️ Bisect #42 stopped before it ended");
    expect(searching).toContain("### 🔎 Bisect #42 is still searching");
    for (const out of [cancelled!, stopped!, searching!]) {
      expect(out).toContain("`/bisect retry` resumes with their verdicts");
      expectSafe(out);
    }
  });
});

describe("tables", () => {
  it("keep their columns when a ref holds `|`, rendered as GFM", () => {
    const views: ResultView[] = [culpritView(), ambiguousView(), noCulpritView(), errorView()].map((view) => ({
      ...view,
      job: { ...view.job, good_refs: ["v1|4"], bad_ref: "feat|x" },
    }));
    for (const view of views) {
      const out = resultComment(view);
      for (const line of out.split("\n").filter((l) => l.startsWith("|"))) {
        const columns = line.startsWith("| Round") || /^\| (\d+|–) \| /.test(line) || line.startsWith("| ---:") ? 5 : 2;
        expect(githubCells(line), line).toBe(columns);
      }
      const rows = renderedRows(render(out));
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect([2, 5], JSON.stringify(row)).toContain(row.length);
      const range = rows.find((row) => row[0] === "Range")!;
      expect(range[1]).toContain("<code>v1|4</code>");
      expect(range[1]).toContain("<code>feat|x</code>");
    }
  });
});
