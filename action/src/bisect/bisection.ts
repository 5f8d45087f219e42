import { DeterministicSearch } from "./deterministic-search.js";
import { defaultFlakyOptions, type FlakeHistory, type FlakyOptions, FlakySearch, learnedFlakyOptions } from "./flaky-search.js";
import { computeRange, type BisectRange, type RangeInput } from "./range.js";
import type { Search, SearchOutcome, TestVerdict } from "./search.js";

export interface BisectOptions {
  /** Follow only the first parent of merges: a merge is one candidate (git bisect --first-parent). */
  firstParent?: boolean;
  /** Bayesian mode for noisy tests; settings override the defaults. */
  flaky?: boolean | Partial<FlakyOptions>;
  /** Flaky mode: stop at this posterior probability (default 0.99). */
  confidence?: number;
  /** Flaky mode: what earlier bisects of the same test measured of its flake rate, the prior on f. */
  flakeHistory?: FlakeHistory;
  /**
   * Deterministic mode: test the bad commit before blaming it (one extra test, only when it is
   * the last candidate), so a range without a regression ends as "no-culprit". Flaky mode always
   * weighs "no culprit".
   */
  verifyBad?: boolean;
}

/**
 * Where a bisection stands. An end without a culprit carries a machine-readable `reason` (the
 * result document's) and, but for ambiguous, a `message` for people.
 */
export type BisectStatus =
  | { state: "searching"; candidates: number; estimatedTests: number }
  | { state: "culprit"; sha: string; confidence: number }
  | { state: "ambiguous"; candidates: string[]; reason: Extract<SearchOutcome, { kind: "ambiguous" }>["reason"] }
  | { state: "no-culprit"; reason: Extract<SearchOutcome, { kind: "no-culprit" }>["reason"]; message: string }
  | { state: "error"; reason: Extract<SearchOutcome, { kind: "error" }>["reason"]; message: string };

interface MergeBaseCheck {
  done: boolean;
  failures: number;
}

/**
 * One bisection: the range, the verdicts so far, and what to test next. Pure: no I/O, no git.
 * The CLI and the Action drive it test by test; the app replays recorded verdicts into a fresh
 * one to plan the next round of runners.
 *
 * @example
 * const b = Bisection.create({ commits, bad: "c3", goods: ["c0"] });
 * for (let [sha] = b.next(); sha; [sha] = b.next()) b.record(sha, runTest(sha));
 * b.status(); // { state: "culprit", sha: "c2", confidence: 1 }
 */
export class Bisection {
  readonly warnings: string[] = [];
  private readonly checks = new Map<string, MergeBaseCheck>();
  private checkError: string | undefined;
  private testCount = 0;

  private constructor(
    private readonly range: BisectRange,
    private readonly search: Search,
    private readonly flaky: boolean,
    private readonly goods: readonly string[],
  ) {
    for (const m of range.mergeBases) this.checks.set(m, { done: false, failures: 0 });
  }

  /** Builds the range; throws an Error naming the refs when it is empty or malformed. */
  static create(input: RangeInput & BisectOptions): Bisection {
    const range = computeRange(input);
    const flaky = input.flaky !== undefined && input.flaky !== false;
    let search: Search;
    if (flaky) {
      const overrides = typeof input.flaky === "object" ? input.flaky : {};
      const learned = input.flakeHistory !== undefined && input.flakeHistory.cleanTests > 0;
      const base = learned ? learnedFlakyOptions(range.graph.size, input.flakeHistory!) : defaultFlakyOptions(range.graph.size);
      const options = { ...base, ...overrides };
      if (input.confidence !== undefined) options.confidence = input.confidence;
      search = new FlakySearch(range.graph, range.bad, options);
    } else {
      search = new DeterministicSearch(range.graph, range.bad, input.verifyBad ?? false);
    }
    return new Bisection(range, search, flaky, input.goods);
  }

  /**
   * What a run measured of the flake rate, once `culprit` is named: its tests of commits the
   * culprit is not in (which should have passed) and how many of them failed. Verdicts are the
   * engine's (a fix search's are turned round first).
   */
  flakeEvidence(verdicts: Iterable<{ sha: string; verdict: TestVerdict }>, culprit: string): FlakeHistory {
    const graph = this.range.graph;
    const at = graph.require(culprit);
    const contains = new Map<string, boolean>();
    let cleanTests = 0;
    let falseFailures = 0;
    for (const { sha, verdict } of verdicts) {
      const i = graph.indexOf(sha);
      if (i === undefined || verdict === "skip") continue;
      let holds = contains.get(sha);
      if (holds === undefined) {
        holds = graph.ancestors([i])[at] === 1;
        contains.set(sha, holds);
      }
      if (holds) continue;
      cleanTests++;
      if (verdict === "bad") falseFailures++;
    }
    return { cleanTests, falseFailures };
  }

  /** Number of commits that could hold the culprit at the start (the bad one included). */
  get rangeSize(): number {
    return this.range.graph.size;
  }

  /** The bad commit. */
  get bad(): string {
    return this.range.graph.shas[this.range.bad]!;
  }

  /** Merge bases that git would test before bisecting (goods that are not ancestors of bad). */
  get mergeBases(): readonly string[] {
    return this.range.mergeBases;
  }

  /** Tests recorded so far (skips included). */
  get tested(): number {
    return this.testCount;
  }

  /** Whether `sha` is a commit of the range or a merge base to check. */
  knows(sha: string): boolean {
    return this.checks.has(sha) || this.range.graph.indexOf(sha) !== undefined;
  }

  /** Records one test verdict. Throws when the commit is neither in the range nor a check. */
  record(sha: string, verdict: TestVerdict): void {
    this.testCount++;
    const check = this.checks.get(sha);
    if (check) {
      this.recordCheck(sha, check, verdict);
      return;
    }
    this.search.record(this.range.graph.require(sha), verdict);
  }

  /**
   * The next probes to run: up to `count`, given the probes in `pending` that are still running
   * (they count as dividers). Empty when the bisection has ended, or when it must wait for a
   * running probe.
   */
  next(count = 1, pending: readonly string[] = []): string[] {
    if (this.checkError || count <= 0) return [];
    const running = new Set(pending);
    const out = [...this.checks]
      .filter(([sha, c]) => !c.done && !running.has(sha))
      .map(([sha]) => sha)
      .slice(0, count);
    // git tests the merge bases alone first; with runners to spare, the bisection starts beside them.
    if (out.length > 0 && count === 1) return out;
    const graph = this.range.graph;
    const pendingIndices = pending.map((s) => graph.indexOf(s)).filter((i): i is number => i !== undefined);
    const more = this.search.next(count - out.length, pendingIndices).map((i) => graph.shas[i]!);
    return [...out, ...more];
  }

  /** Where the bisection stands, given the probes still running. */
  status(pending: readonly string[] = []): BisectStatus {
    if (this.checkError) return { state: "error", reason: "merge-base-fails", message: this.checkError };
    const graph = this.range.graph;
    const pendingIndices = pending.map((s) => graph.indexOf(s)).filter((i): i is number => i !== undefined);
    const unchecked = [...this.checks.values()].some((c) => !c.done);
    const outcome = unchecked ? undefined : this.search.outcome(pendingIndices);
    if (!outcome) {
      const r = this.search.remaining();
      const checksLeft = [...this.checks.values()].filter((c) => !c.done).length;
      return { state: "searching", candidates: r.candidates, estimatedTests: r.estimatedTests + checksLeft };
    }
    switch (outcome.kind) {
      case "culprit":
        return { state: "culprit", sha: graph.shas[outcome.index]!, confidence: outcome.confidence };
      case "ambiguous":
        return { state: "ambiguous", candidates: outcome.indices.map((i) => graph.shas[i]!), reason: outcome.reason };
      case "no-culprit":
        return { state: "no-culprit", reason: outcome.reason, message: outcome.message };
      case "error":
        return { state: "error", reason: outcome.reason, message: outcome.message };
    }
  }

  /** Whether a verdict on `sha` could still change the answer; a running probe that is not can be stopped. */
  isInformative(sha: string): boolean {
    const check = this.checks.get(sha);
    if (check) return !check.done;
    const i = this.range.graph.indexOf(sha);
    return i !== undefined && this.search.isInformative(i);
  }

  /** The commits that can still hold the culprit, given the verdicts so far. */
  candidates(): string[] {
    return this.search.candidates().map((i) => this.range.graph.shas[i]!);
  }

  private recordCheck(sha: string, check: MergeBaseCheck, verdict: TestVerdict): void {
    if (check.done) return;
    if (verdict === "good") {
      check.done = true;
    } else if (verdict === "skip") {
      check.done = true;
      this.warnings.push(
        `The merge base ${sha} was skipped, so it is not known whether the first bad commit lies between the good commits and ${this.bad}. Continuing anyway.`,
      );
    } else if (++check.failures >= (this.flaky ? 2 : 1)) {
      check.done = true;
      this.checkError =
        `The merge base ${sha} of the bad commit ${this.bad} and the good commit(s) ${this.goods.join(", ")} fails the test: ` +
        `the bug was fixed between ${sha} and the good commit(s), not broken between good and bad. ` +
        `To find where it broke, use a good commit that is an ancestor of ${this.bad}.`;
    }
  }
}
