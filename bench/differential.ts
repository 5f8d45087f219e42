/**
 * Differential benchmark: our engine vs real `git bisect run` on >= 1000 seeded random DAGs,
 * each bisected without and with a random skip set (research doc §7.C).
 *
 *   npx tsx bench/differential.ts [count] [seed]
 *
 * `runDifferential(count, seed)` returns the numbers for a top-level bench runner.
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { type CaseResult, describeScenario, isCorrect, mapPool, runCase, type RunOutcome } from "../test/support/git-bisect-oracle.js";
import { randomScenario } from "../test/support/random-dag.js";

export interface TestCountStats {
  mean: number;
  p95: number;
  max: number;
}

export interface DifferentialResult {
  dags: number;
  seed: number;
  seconds: number;
  /** DAG shape. */
  meanCommits: number;
  meanCandidates: number;
  /** DAGs where some good is not an ancestor of bad (merge bases tested first). */
  withMergeBases: number;
  noSkips: {
    /** Share of DAGs where we name the same culprit as git. */
    agreement: number;
    oursCorrect: number;
    gitCorrect: number;
    ours: TestCountStats;
    git: TestCountStats;
    /** ours.mean / git.mean. */
    ratio: number;
    /** Our engine with verifyBad (tests the bad commit before blaming it). */
    verifyBad: TestCountStats;
    verifyBadCorrect: number;
    /** DAGs where we used fewer / more tests than git. */
    fewer: number;
    more: number;
  };
  withSkips: {
    /** DAGs with a non-empty skip set (the only ones counted here). */
    dags: number;
    meanSkipped: number;
    oursCorrect: number;
    gitCorrect: number;
    verifyBadCorrect: number;
    /** DAGs where a culprit was named. */
    oursCulprits: number;
    gitCulprits: number;
    /** DAGs where git names a culprit and we do not. */
    lessDecisive: number;
    /** Mean size of the ambiguous set over ambiguous answers. */
    oursAmbiguousSize: number;
    gitAmbiguousSize: number;
    ours: TestCountStats;
    git: TestCountStats;
  };
  /** Seeds and descriptions of DAGs where something went wrong (ours wrong, disagreement, engine failure). */
  problems: string[];
}

function stats(values: number[]): TestCountStats {
  if (values.length === 0) return { mean: NaN, p95: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    mean: values.reduce((s, v) => s + v, 0) / values.length,
    p95: sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!,
    max: sorted.at(-1)!,
  };
}

const share = (n: number, of: number): number => (of === 0 ? NaN : n / of);

function meanAmbiguousSize(runs: RunOutcome[]): number {
  const sizes = runs.flatMap((r) => (r.answer.kind === "ambiguous" ? [r.answer.ids.length] : []));
  return sizes.length === 0 ? NaN : sizes.reduce((s, v) => s + v, 0) / sizes.length;
}

function problem(r: CaseResult, run: "noSkips" | "withSkips", what: string): string {
  const { git, ours } = r[run];
  return (
    `seed ${r.seed} ${run}: ${what}\n  git ${JSON.stringify(git.answer)} after [${git.probes.join(",")}]\n` +
    `  ours ${JSON.stringify(ours.answer)} after [${ours.probes.join(",")}]\n  ` +
    describeScenario(r.scenario, run === "noSkips" ? [] : r.scenario.skips).replace(/\n/g, "\n  ")
  );
}

/** Summarises case results (exported for reuse on other scenario sets). */
export function summarise(results: CaseResult[], seed: number, seconds: number): DifferentialResult {
  const n = results.length;
  const problems: string[] = [];
  let agree = 0;
  let oursCorrect = 0;
  let gitCorrect = 0;
  let fewer = 0;
  let more = 0;
  for (const r of results) {
    const { git, ours } = r.noSkips;
    const c = r.scenario.culprit;
    const gitOk = git.answer.kind === "culprit" && git.answer.id === c;
    const oursOk = ours.answer.kind === "culprit" && ours.answer.id === c;
    if (gitOk) gitCorrect++;
    if (oursOk) oursCorrect++;
    if (git.answer.kind === "culprit" && ours.answer.kind === "culprit" && git.answer.id === ours.answer.id) agree++;
    else problems.push(problem(r, "noSkips", `culprits differ (ours ${oursOk ? "right" : "wrong"}, git ${gitOk ? "right" : "wrong"})`));
    if (ours.tests < git.tests) fewer++;
    if (ours.tests > git.tests) more++;
  }
  const skipped = results.filter((r) => r.scenario.skips.length > 0);
  let sOursCorrect = 0;
  let sGitCorrect = 0;
  let lessDecisive = 0;
  for (const r of skipped) {
    const { git, ours } = r.withSkips;
    if (isCorrect(ours, r.scenario, r.scenario.skips)) sOursCorrect++;
    else problems.push(problem(r, "withSkips", "ours wrong"));
    if (isCorrect(git, r.scenario, r.scenario.skips)) sGitCorrect++;
    if (!isCorrect(r.withSkips.oursVerifyBad, r.scenario, r.scenario.skips)) problems.push(problem(r, "withSkips", "verifyBad mode wrong"));
    if (git.answer.kind === "culprit" && ours.answer.kind !== "culprit") {
      lessDecisive++;
      problems.push(problem(r, "withSkips", "git names a culprit, we do not"));
    }
  }
  const noSkipOurs = results.map((r) => r.noSkips.ours.tests);
  const noSkipGit = results.map((r) => r.noSkips.git.tests);
  const ours = stats(noSkipOurs);
  const git = stats(noSkipGit);
  return {
    dags: n,
    seed,
    seconds,
    meanCommits: results.reduce((s, r) => s + r.scenario.commits.length, 0) / n,
    meanCandidates: results.reduce((s, r) => s + r.scenario.candidates.length, 0) / n,
    withMergeBases: results.filter((r) => r.mergeBases.length > 0).length,
    noSkips: {
      agreement: share(agree, n),
      oursCorrect: share(oursCorrect, n),
      gitCorrect: share(gitCorrect, n),
      ours,
      git,
      ratio: ours.mean / git.mean,
      verifyBad: stats(results.map((r) => r.noSkips.oursVerifyBad.tests)),
      verifyBadCorrect: share(
        results.filter((r) => r.noSkips.oursVerifyBad.answer.kind === "culprit" && r.noSkips.oursVerifyBad.answer.id === r.scenario.culprit).length,
        n,
      ),
      fewer,
      more,
    },
    withSkips: {
      dags: skipped.length,
      meanSkipped: skipped.reduce((s, r) => s + r.scenario.skips.length, 0) / Math.max(1, skipped.length),
      oursCorrect: share(sOursCorrect, skipped.length),
      gitCorrect: share(sGitCorrect, skipped.length),
      verifyBadCorrect: share(skipped.filter((r) => isCorrect(r.withSkips.oursVerifyBad, r.scenario, r.scenario.skips)).length, skipped.length),
      oursCulprits: skipped.filter((r) => r.withSkips.ours.answer.kind === "culprit").length,
      gitCulprits: skipped.filter((r) => r.withSkips.git.answer.kind === "culprit").length,
      lessDecisive,
      oursAmbiguousSize: meanAmbiguousSize(skipped.map((r) => r.withSkips.ours)),
      gitAmbiguousSize: meanAmbiguousSize(skipped.map((r) => r.withSkips.git)),
      ours: stats(skipped.map((r) => r.withSkips.ours.tests)),
      git: stats(skipped.map((r) => r.withSkips.git.tests)),
    },
    problems,
  };
}

/**
 * Runs `count` seeded random DAGs (seeds seed, seed+1, …) through git and our engine.
 * `onProgress` is called after each DAG.
 */
export async function runDifferential(
  count = 1000,
  seed = 1_000_000,
  options: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<DifferentialResult> {
  const concurrency = options.concurrency ?? Math.max(2, 2 * availableParallelism());
  const started = performance.now();
  let done = 0;
  const seeds = Array.from({ length: count }, (_, i) => seed + i);
  const results = await mapPool(seeds, concurrency, async (s) => {
    const r = await runCase(s, randomScenario(s));
    options.onProgress?.(++done, count);
    return r;
  });
  return summarise(results, seed, (performance.now() - started) / 1000);
}

const pct = (x: number): string => (Number.isNaN(x) ? "–" : `${(100 * x).toFixed(1)}%`);
const num = (x: number, digits = 2): string => (Number.isNaN(x) ? "–" : x.toFixed(digits));
const dist = (s: TestCountStats): string => `${num(s.mean)} (p95 ${num(s.p95, 0)}, max ${num(s.max, 0)})`;

/** The result as a markdown table. */
export function formatDifferential(r: DifferentialResult): string {
  const ns = r.noSkips;
  const ws = r.withSkips;
  const rows: [string, string, string][] = [
    ["DAGs (seeds)", `${r.dags} (${r.seed}–${r.seed + r.dags - 1})`, ""],
    ["mean commits / candidates", `${num(r.meanCommits, 1)} / ${num(r.meanCandidates, 1)}`, ""],
    ["DAGs with a non-ancestor good (merge bases)", String(r.withMergeBases), ""],
    ["**no skips**: culprit agreement with git", pct(ns.agreement), ""],
    ["no skips: correct culprit", pct(ns.oursCorrect), pct(ns.gitCorrect)],
    ["no skips: tests, mean (p95, max)", dist(ns.ours), dist(ns.git)],
    ["no skips: mean tests ratio ours / git", num(ns.ratio, 3), ""],
    ["no skips: DAGs with fewer / more tests than git", `${ns.fewer} / ${ns.more}`, ""],
    ["**with skips**: DAGs (mean skipped commits)", `${ws.dags} (${num(ws.meanSkipped, 1)})`, ""],
    ["with skips: correct (culprit, or ambiguous set holding it)", pct(ws.oursCorrect), pct(ws.gitCorrect)],
    ["with skips: culprit answers", String(ws.oursCulprits), String(ws.gitCulprits)],
    ["with skips: git names a culprit, we do not", String(ws.lessDecisive), ""],
    ["with skips: mean ambiguous-set size", num(ws.oursAmbiguousSize), num(ws.gitAmbiguousSize)],
    ["with skips: tests, mean (p95, max)", dist(ws.ours), dist(ws.git)],
    ["verifyBad mode: correct, no skips / with skips", `${pct(ns.verifyBadCorrect)} / ${pct(ws.verifyBadCorrect)}`, ""],
    ["verifyBad mode: tests without skips, mean (p95, max)", dist(ns.verifyBad), ""],
    ["problems (see below)", String(r.problems.length), ""],
    ["wall time", `${num(r.seconds, 1)} s`, ""],
  ];
  const lines = ["| metric | ours | git |", "|---|---|---|", ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`)];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1000);
  const seed = Number(process.argv[3] ?? 1_000_000);
  if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(seed)) {
    console.error("usage: npx tsx bench/differential.ts [count] [seed]");
    process.exitCode = 2;
    return;
  }
  const r = await runDifferential(count, seed, {
    onProgress: (done, total) => {
      if (done % 100 === 0 || done === total) process.stderr.write(`  ${done}/${total} DAGs\n`);
    },
  });
  console.log(formatDifferential(r));
  if (r.problems.length > 0) {
    console.log(`\n### Problems (${r.problems.length})\n`);
    for (const p of r.problems.slice(0, 20)) console.log("```\n" + p + "\n```");
    if (r.problems.length > 20) console.log(`… and ${r.problems.length - 20} more`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
