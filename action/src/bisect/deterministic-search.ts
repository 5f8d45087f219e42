import { ancestorSums } from "./ancestor-sums.js";
import type { CommitGraph } from "./graph.js";
import { planProbes } from "./plan-probes.js";
import { binarySteps, type Search, type SearchOutcome, type TestVerdict } from "./search.js";

/**
 * git's bisection over the range graph: a good probe rules out its ancestors, a bad probe rules
 * out everything that is not its ancestor, a skipped commit stays a candidate for ever. The next
 * probe maximises min(w, N − w). Like git, it trusts the bad commit the user named; with
 * `verifyBad`, when that commit is the only candidate left it is tested once before it is blamed,
 * so a range with no regression ends as "no culprit" instead of naming an innocent commit.
 */
export class DeterministicSearch implements Search {
  private readonly alive: Uint8Array;
  private readonly goodClosed: Uint8Array;
  private readonly skipped: Uint8Array;
  private readonly tested: Uint8Array;
  private aliveCount: number;
  private badVerified: boolean;
  private end: SearchOutcome | undefined;

  constructor(
    private readonly graph: CommitGraph,
    private readonly bad: number,
    verifyBad = false,
  ) {
    this.badVerified = !verifyBad;
    const n = graph.size;
    this.alive = new Uint8Array(n).fill(1);
    this.goodClosed = new Uint8Array(n);
    this.skipped = new Uint8Array(n);
    this.tested = new Uint8Array(n);
    this.aliveCount = n;
  }

  record(index: number, verdict: TestVerdict): void {
    if (this.end) return;
    const sha = this.graph.shas[index]!;
    if (verdict === "skip") {
      this.skipped[index] = 1;
      return;
    }
    const wasTested = this.tested[index] === 1;
    this.tested[index] = 1;
    if (verdict === "good") {
      if (index === this.bad && !wasTested) {
        this.end = {
          kind: "no-culprit",
          reason: "bad-commit-passes",
          message:
            `The bad commit ${sha} passes the test, so no commit in the range fails it. ` +
            "The failure may be flaky (try --flaky) or depend on something outside the repository.",
        };
        return;
      }
      this.graph.markAncestors([index], this.goodClosed);
      for (let i = 0; i < this.alive.length; i++) {
        if (this.alive[i] && this.goodClosed[i]) {
          this.alive[i] = 0;
          this.aliveCount--;
        }
      }
    } else {
      if (index === this.bad) this.badVerified = true;
      if (this.goodClosed[index]) {
        this.end = this.contradiction(`${sha} fails the test, but it is an ancestor of a commit that passed`);
        return;
      }
      const below = this.graph.ancestors([index]);
      for (let i = 0; i < this.alive.length; i++) {
        if (this.alive[i] && !below[i]) {
          this.alive[i] = 0;
          this.aliveCount--;
        }
      }
    }
    if (this.aliveCount === 0) {
      this.end = this.contradiction(`after ${sha} was ${verdict}, no commit can be the first bad one`);
    }
  }

  next(count: number, pending: readonly number[]): number[] {
    if (this.outcome(pending) || count <= 0) return [];
    const running = new Set(pending);
    const verifyNow = this.mustVerifyBad() && !running.has(this.bad);
    // Only the named bad commit is left: test it once before blaming it.
    if (this.aliveCount === 1) return verifyNow ? [this.bad] : [];
    const mass = new Float64Array(this.graph.size);
    for (let i = 0; i < mass.length; i++) mass[i] = this.alive[i]!;
    const planned = planProbes({
      graph: this.graph,
      member: this.alive,
      mass,
      eligible: (i) => this.isProbeable(i) && !running.has(i),
      pending: pending.filter((p) => this.alive[p]),
      count,
    });
    // A runner with nothing better to do checks the bad commit early.
    if (verifyNow && planned.length < count) planned.push(this.bad);
    if (planned.length === 0 && !pending.some((p) => this.isInformative(p))) {
      const outside = this.outsideProbe(running);
      if (outside !== undefined) planned.push(outside);
    }
    return planned;
  }

  /**
   * When only skipped candidates are left, a commit that is no longer a candidate can still
   * split them: a good verdict on it clears its ancestors (git stops at "could be any of" here).
   * Returns the one that splits the candidates most evenly, if any.
   */
  private outsideProbe(running: ReadonlySet<number>): number | undefined {
    const n = this.graph.size;
    const below = ancestorSums(this.graph, new Uint8Array(n).fill(1), Float64Array.from(this.alive));
    let best: number | undefined;
    let bestSplit = 0;
    for (let i = 0; i < n; i++) {
      if (this.alive[i] || this.tested[i] || this.skipped[i] || running.has(i)) continue;
      const split = Math.min(below[i]!, this.aliveCount - below[i]!);
      if (split > bestSplit) {
        best = i;
        bestSplit = split;
      }
    }
    return best;
  }

  outcome(pending: readonly number[]): SearchOutcome | undefined {
    if (this.end) return this.end;
    if (this.aliveCount === 1) {
      const only = this.alive.indexOf(1);
      if (only === this.bad && this.mustVerifyBad()) return undefined;
      return { kind: "culprit", index: only, confidence: 1 };
    }
    for (let i = 0; i < this.alive.length; i++) if (this.isProbeable(i)) return undefined;
    if (pending.some((p) => this.isInformative(p))) return undefined;
    if (this.outsideProbe(new Set(pending)) !== undefined) return undefined;
    return { kind: "ambiguous", indices: this.candidates(), reason: "only-skipped-left" };
  }

  candidates(): number[] {
    const indices: number[] = [];
    this.alive.forEach((a, i) => a && indices.push(i));
    return indices;
  }

  remaining(): { candidates: number; estimatedTests: number } {
    const extra = this.mustVerifyBad() ? 1 : 0;
    return { candidates: this.aliveCount, estimatedTests: binarySteps(this.aliveCount) + extra };
  }

  isInformative(index: number): boolean {
    if (this.end || this.tested[index] || this.skipped[index]) return false;
    if (index === this.bad) return this.mustVerifyBad();
    const below = this.graph.ancestors([index]);
    let inside = 0;
    for (let i = 0; i < below.length; i++) if (below[i] && this.alive[i]) inside++;
    return inside > 0 && inside < this.aliveCount;
  }

  /** With verifyBad: the bad commit is still a candidate, untested, and testable (a skip ends the check). */
  private mustVerifyBad(): boolean {
    return !this.badVerified && this.alive[this.bad] === 1 && !this.skipped[this.bad];
  }

  /** A commit the search may choose: still a candidate, untested, not skipped, not the bad one. */
  private isProbeable(i: number): boolean {
    return this.alive[i] === 1 && !this.skipped[i] && !this.tested[i] && i !== this.bad;
  }

  private contradiction(what: string): SearchOutcome {
    return {
      kind: "error",
      reason: "contradiction",
      message: `The verdicts contradict each other: ${what}. The test is flaky or depends on something outside the commit; rerun with --flaky.`,
    };
  }
}
