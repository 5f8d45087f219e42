/**
 * Engine benchmarks (pure, no git): tests and rounds on a linear range of 1,024 commits,
 * accuracy and cost under flaky tests, and the time to choose a probe on 50,000 commits.
 * Run alone: npx tsx bench/engine.ts
 */
import { fileURLToPath } from "node:url";
import { type FlakeHistory, type FlakyOptions, Bisection, type CommitNode, type TestVerdict } from "../action/src/bisect/index.js";
import { mulberry32 } from "../test/support/history.js";
import { mainlineWithMerges } from "./wall-time.js";

const linear = (n: number): CommitNode[] => Array.from({ length: n + 1 }, (_, i) => ({ sha: `c${i}`, parents: i ? [`c${i - 1}`] : [] }));
const at = (sha: string) => Number(sha.slice(1));

export interface Row {
  [column: string]: string | number;
}

/** Every culprit position of a linear range of n candidates, one probe at a time and k at a time. */
export function linearRows(n = 1024): Row[] {
  const commits = linear(n);
  const rows: Row[] = [];
  for (const k of [1, 3, 7]) {
    let maxTests = 0;
    let sumTests = 0;
    let maxRounds = 0;
    let wrong = 0;
    for (let c = 1; c <= n; c++) {
      const b = Bisection.create({ commits, bad: `c${n}`, goods: ["c0"] });
      let tests = 0;
      let rounds = 0;
      for (let batch = b.next(k); batch.length > 0; batch = b.next(k)) {
        rounds++;
        for (const sha of batch) b.record(sha, at(sha) >= c ? "bad" : "good");
        tests += batch.length;
      }
      const s = b.status();
      if (s.state !== "culprit" || s.sha !== `c${c}`) wrong++;
      maxTests = Math.max(maxTests, tests);
      sumTests += tests;
      maxRounds = Math.max(maxRounds, rounds);
    }
    const bound = Math.ceil(Math.log(n) / Math.log(k + 1) - 1e-9);
    rows.push({
      workers: k,
      culprits: n,
      exact: `${(((n - wrong) / n) * 100).toFixed(1)}%`,
      "max tests": maxTests,
      "mean tests": (sumTests / n).toFixed(2),
      "max rounds": maxRounds,
      "goal rounds": `≤ ${bound}`,
    });
  }
  return rows;
}

interface FlakyCell {
  f: number;
  origin: "culprit" | "flake";
  trials: number;
  correct: number;
  tests: number[];
  confident: number;
  confidentCorrect: number;
  plainCorrect: number;
}

/** Bayesian mode against plain bisection under a false-failure rate f, on n = 1024 candidates. */
export function flakyCell(
  f: number,
  origin: "culprit" | "flake",
  trials: number,
  seed: number,
  n = 1024,
  flaky: true | Partial<FlakyOptions> = true,
  /** Earlier flaky bisects of the same test (default prior) whose measured flake rate is this one's prior (the App's learned prior). */
  learnFrom = 0,
): FlakyCell {
  const commits = linear(n);
  const random = mulberry32(seed);
  const cell: FlakyCell = { f, origin, trials, correct: 0, tests: [], confident: 0, confidentCorrect: 0, plainCorrect: 0 };
  for (let t = 0; t < trials; t++) {
    // What the earlier bisects measured, pooled as the store pools it.
    const history: FlakeHistory = { cleanTests: 0, falseFailures: 0 };
    for (let k = 0; k < learnFrom; k++) {
      const earlier = 1 + Math.floor(random() * n);
      const e = Bisection.create({ commits, bad: `c${n}`, goods: ["c0"], flaky: true });
      const seen: { sha: string; verdict: TestVerdict }[] = [];
      for (let [sha] = e.next(); sha; [sha] = e.next()) {
        const v: TestVerdict = at(sha) >= earlier || random() < f ? "bad" : "good";
        e.record(sha, v);
        seen.push({ sha, verdict: v });
      }
      const s = e.status();
      if (s.state !== "culprit") continue;
      const measured = e.flakeEvidence(seen, s.sha);
      history.cleanTests += measured.cleanTests;
      history.falseFailures += measured.falseFailures;
    }
    const culprit = origin === "flake" ? Infinity : 1 + Math.floor(random() * n);
    const verdict = (sha: string): TestVerdict => (at(sha) >= culprit || random() < f ? "bad" : "good");
    const right = (s: ReturnType<Bisection["status"]>) => (origin === "flake" ? s.state === "no-culprit" : s.state === "culprit" && s.sha === `c${culprit}`);

    const b = Bisection.create({ commits, bad: `c${n}`, goods: ["c0"], flaky, ...(learnFrom > 0 ? { flakeHistory: history } : {}) });
    let tests = 0;
    for (let [sha] = b.next(); sha; [sha] = b.next()) {
      b.record(sha, verdict(sha));
      tests++;
    }
    const s = b.status();
    if (right(s)) cell.correct++;
    const confidence = s.state === "culprit" ? s.confidence : s.state === "no-culprit" ? 0.99 : 0;
    if (confidence >= 0.99) {
      cell.confident++;
      if (right(s)) cell.confidentCorrect++;
    }
    cell.tests.push(tests);

    // Plain bisection (git's rule, every verdict trusted) on the same kind of noise.
    const plain = Bisection.create({ commits, bad: `c${n}`, goods: ["c0"] });
    for (let [sha] = plain.next(); sha; [sha] = plain.next()) plain.record(sha, verdict(sha));
    if (right(plain.status())) cell.plainCorrect++;
  }
  return cell;
}

export function flakyRows(trials = 3000): Row[] {
  const cells: FlakyCell[] = [];
  let seed = 100;
  for (const f of [0, 0.1, 0.2, 0.3]) cells.push(flakyCell(f, "culprit", f === 0 ? 1000 : trials, seed++));
  for (const f of [0.1, 0.2, 0.3]) cells.push(flakyCell(f, "flake", Math.round(trials / 3), seed++));
  // Issue 15's learned prior: the same runs when the flake rate is known (a prior on f alone), as
  // a repository's earlier flaky bisects of the same command would tell it. Same seeds as above.
  const known: (FlakyCell & { prior: string })[] = [0.1, 0.2].map((f, i) => ({
    ...flakyCell(f, "culprit", trials, 101 + i, 1024, { flakeRates: [f], flakeRatePrior: [1], probeFlakeRatePrior: [1] }),
    prior: "known",
  }));
  // The App's learned prior: the rate three earlier flaky bisects of the test measured (pooled).
  const learned: (FlakyCell & { prior: string })[] = [0.1, 0.2, 0.3].map((f, i) => ({
    ...flakyCell(f, "culprit", trials, 201 + i, 1024, true, 3),
    prior: "learned from 3 bisects",
  }));
  const all: (FlakyCell & { prior?: string })[] = [...cells, ...known, ...learned];
  return all.map((c) => {
    const sorted = [...c.tests].sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
    return {
      f: c.prior === undefined ? c.f : `${c.f} (${c.prior})`,
      "original failure": c.origin === "culprit" ? "real culprit" : "a flake",
      trials: c.trials,
      "accuracy (ours)": `${((c.correct / c.trials) * 100).toFixed(1)}%`,
      "mean tests": mean.toFixed(2),
      "p95 tests": sorted[Math.floor(sorted.length * 0.95)]!,
      "accuracy when confidence ≥ 0.99": c.confident ? `${((c.confidentCorrect / c.confident) * 100).toFixed(1)}%` : "-",
      "plain bisect accuracy": `${((c.plainCorrect / c.trials) * 100).toFixed(1)}%`,
    };
  });
}

/** A random DAG of `size` commits where about a third are merges of short-lived branches. */
function mergeHeavy(size: number, seed: number): CommitNode[] {
  const random = mulberry32(seed);
  const commits: CommitNode[] = [{ sha: "c0", parents: [] }];
  const tips = ["c0"];
  while (commits.length < size) {
    const sha = `c${commits.length}`;
    const r = random();
    if (r < 0.3 && tips.length > 1) {
      const a = tips.splice(Math.floor(random() * tips.length), 1)[0]!;
      const b = tips.splice(Math.floor(random() * tips.length), 1)[0]!;
      commits.push({ sha, parents: [a, b] });
      tips.push(sha);
    } else if (r < 0.45 && tips.length < 40) {
      const base = tips[Math.floor(random() * tips.length)]!;
      commits.push({ sha, parents: [base] });
      tips.push(sha);
    } else {
      const i = Math.floor(random() * tips.length);
      commits.push({ sha, parents: [tips[i]!] });
      tips[i] = sha;
    }
  }
  // Merge every remaining tip so one commit is the bad end of the range.
  let head = tips.pop()!;
  for (const t of tips) {
    const sha = `c${commits.length}`;
    commits.push({ sha, parents: [head, t] });
    head = sha;
  }
  return commits;
}

/** Time to build a 50,000-commit range and choose probes, deterministic and flaky. */
export function probeChoiceRows(): Row[] {
  const rows: Row[] = [];
  const histories: [string, CommitNode[]][] = [
    ["mainline with merged branches (20% merges)", mainlineWithMerges(50_000, 3).map((c) => ({ sha: c.id, parents: c.parents }))],
    ["tangled branches (≈30% merges)", mergeHeavy(50_000, 5)],
  ];
  for (const [name, history] of histories) {
    // As `git rev-list --parents bad --not good` gives it to the engine: the range, with c0 left out.
    const commits = history.slice(1);
    const bad = commits[commits.length - 1]!.sha;
    const merges = commits.filter((c) => c.parents.length > 1).length;
    for (const flaky of [false, true]) {
      const started = performance.now();
      const b = Bisection.create({ commits, bad, goods: ["c0"], flaky });
      const built = performance.now();
      const [first] = b.next();
      const chosen = performance.now();
      b.record(first!, "good");
      const again = performance.now();
      b.next();
      const second = performance.now();
      const parallel = b.next(7);
      const eight = performance.now();
      rows.push({
        history: name,
        commits: b.rangeSize,
        merges,
        mode: flaky ? "flaky" : "deterministic",
        "range (ms)": (built - started).toFixed(0),
        "first probe (ms)": (chosen - built).toFixed(0),
        "next probe (ms)": (second - again).toFixed(0),
        [`7 probes (ms)`]: parallel.length === 7 ? (eight - second).toFixed(0) : "-",
      });
    }
  }
  return rows;
}

export function table(rows: Row[]): string {
  if (rows.length === 0) return "";
  const columns = Object.keys(rows[0]!);
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(columns), line(columns.map(() => "---")), ...rows.map((r) => line(columns.map((c) => r[c] ?? "")))].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log("## Linear range, N = 1024\n");
  console.log(table(linearRows()));
  console.log("\n## Flaky tests, N = 1024\n");
  console.log(table(flakyRows(Number(process.argv[2] ?? 3000))));
  console.log("\n## Choosing a probe on 50,000 commits\n");
  console.log(table(probeChoiceRows()));
}
