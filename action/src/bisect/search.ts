import type { ReasonFor } from "../result-document.js";

/** What a test run says about one commit (exit 0, 1–127 except 125, and 125). */
export type TestVerdict = "good" | "bad" | "skip";

/**
 * The engine looks for the first commit of the new state (`bad`). Finding a fix (`--find-fix`, git
 * bisect's `--term-old broken --term-new fixed`), the new state is the test passing: a pass is
 * `bad` to the engine and a failure `good`. Probes keep what the test said; only the engine is told
 * the other way round.
 * @example engineVerdict("good", true) === "bad"
 */
export function engineVerdict(verdict: TestVerdict, findFix: boolean): TestVerdict {
  if (!findFix || verdict === "skip") return verdict;
  return verdict === "good" ? "bad" : "good";
}

/** How a search ended: `reason` for the code that decides, `message` for people. Indices are positions in the range graph. */
export type SearchOutcome =
  | { kind: "culprit"; index: number; confidence: number }
  | { kind: "ambiguous"; indices: number[]; reason: ReasonFor<"ambiguous"> }
  | { kind: "no-culprit"; reason: ReasonFor<"no-culprit">; message: string }
  | { kind: "error"; reason: ReasonFor<"error">; message: string };

/** A strategy over the range graph: deterministic (git's rule) or flaky (Bayesian). */
export interface Search {
  record(index: number, verdict: TestVerdict): void;
  /** Up to `count` probes to run now, with `pending` still running. */
  next(count: number, pending: readonly number[]): number[];
  /** The end of the search, or undefined while probes remain (running or to run). */
  outcome(pending: readonly number[]): SearchOutcome | undefined;
  /** Commits that can still hold the culprit, and about how many tests are left. */
  remaining(): { candidates: number; estimatedTests: number };
  /** The commits that can still hold the culprit (flaky mode: the likeliest, up to the confidence). */
  candidates(): number[];
  /** Whether a verdict on this commit could still change the answer (else a running probe can stop). */
  isInformative(index: number): boolean;
}

/** Tests a binary search needs to isolate one of n candidates: ceil(log2 n). */
export function binarySteps(n: number): number {
  return n <= 1 ? 0 : Math.ceil(Math.log2(n));
}
