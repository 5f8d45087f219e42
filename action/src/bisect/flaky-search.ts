import { ancestorSums } from "./ancestor-sums.js";
import type { CommitGraph } from "./graph.js";
import { planProbes } from "./plan-probes.js";
import type { Search, SearchOutcome, TestVerdict } from "./search.js";

/** Settings of the Bayesian search; every field has a default (see `defaultFlakyOptions`). */
export interface FlakyOptions {
  /** Stop when one hypothesis holds this much posterior mass. */
  confidence: number;
  /** The false-failure rates considered (a grid; the smallest is the floor of the estimate). */
  flakeRates: readonly number[];
  /** Prior weight of each rate in `flakeRates`: what the posterior, and so the stopping rule, believes. */
  flakeRatePrior: readonly number[];
  /**
   * Weight of each rate when choosing probes (default: `flakeRatePrior`). Probing as if high rates
   * were likelier than the posterior says, while stopping on the honest posterior, buys accuracy
   * when the true rate is high for a few tenths of a test when it is low.
   */
  probeFlakeRatePrior?: readonly number[];
  /** Chance that a commit holding the culprit passes anyway (0: a pass is trusted). */
  falsePassRate: number;
  /** Prior probability that the failure that started the bisect was itself a flake. */
  noCulpritPrior: number;
  /** Give up (ambiguous) after this many tests. */
  maxTests: number;
}

/** The defaults, tuned on N=1024 simulations (f = 0.1 and 0.2, flake origins, noiseless). */
export function defaultFlakyOptions(rangeSize: number): FlakyOptions {
  return {
    confidence: 0.99,
    // Two rates suffice: a 15-test run barely tells 0.1 from 0.2, so extra grid points only add
    // hedging cost at 0.1 (N=1024 sims: a 0.3 point with 20% prior costs +0.4 tests at f=0.1).
    // The prior sits at the knee of the trade-off: more weight on 0.2 buys accuracy at f=0.2
    // (0.5: 99.2%) for tests at f=0.1 (15.06); less (0.4) saves 0.1 test but drops to ~98.8%.
    flakeRates: [0.1, 0.2],
    flakeRatePrior: [0.55, 0.45],
    probeFlakeRatePrior: [0.4, 0.6],
    falsePassRate: 0,
    noCulpritPrior: 0.02,
    maxTests: 16 + 5 * Math.ceil(Math.log2(rangeSize + 1)),
  };
}

/**
 * What earlier flaky bisects of the same test measured: tests of commits the culprit they named is
 * not in (tests that should have passed), and how many of those failed anyway.
 */
export interface FlakeHistory {
  cleanTests: number;
  falseFailures: number;
}

/** The rates a learned prior spreads over: wider than the default grid, since the history says where f is. */
const LEARNED_RATES = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4];

/** `weights` scaled to sum to 1. */
function normalized(weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
}

/**
 * The defaults, with the prior on f learned from `history`: each rate weighed by how likely the
 * history's false failures are under it (a Beta posterior on the grid, so a short history stays
 * broad and a long one sharp), and probes chosen as if higher rates were likelier still (as the
 * defaults do). Tuned on N=1024 simulations (bench/engine.ts, "learned"): with three earlier
 * bisects of the test, 99.4 % right at f = 0.2 against 98.7 % without.
 */
export function learnedFlakyOptions(rangeSize: number, history: FlakeHistory): FlakyOptions {
  const n = Math.max(0, history.cleanTests);
  const k = Math.min(Math.max(0, history.falseFailures), n);
  const log = LEARNED_RATES.map((f) => k * Math.log(f) + (n - k) * Math.log(1 - f));
  const top = Math.max(...log);
  const prior = normalized(log.map((l) => Math.exp(l - top)));
  return {
    ...defaultFlakyOptions(rangeSize),
    flakeRates: LEARNED_RATES,
    flakeRatePrior: prior,
    probeFlakeRatePrior: normalized(prior.map((w, i) => w * LEARNED_RATES[i]!)),
  };
}

/** Binary entropy in bits. */
function entropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/**
 * Flake-aware culprit finding (Henderson et al., ICST 2023), generalised to DAGs: a posterior over
 * "the culprit is commit j" for every candidate plus "no culprit: the failure was a flake", jointly
 * with the false-failure rate f over a grid (so f is estimated from the run, never below the
 * grid's floor). A test at x fails with 1 − q when x holds the culprit, with f when it does not.
 * Each probe maximises the expected information gain; the search stops when one hypothesis
 * reaches the confidence. With noiseless tests it finds the same culprit as deterministic mode.
 */
export class FlakySearch implements Search {
  private readonly n: number;
  /** Posterior, row g holds P(hypothesis, f = flakeRates[g]); column n is "no culprit". */
  private readonly posterior: Float64Array;
  private readonly skipped: Uint8Array;
  private tests = 0;
  private end: SearchOutcome | undefined;

  constructor(
    private readonly graph: CommitGraph,
    private readonly bad: number,
    private readonly options: FlakyOptions,
  ) {
    this.n = graph.size;
    const { flakeRates, flakeRatePrior, noCulpritPrior } = options;
    const priorTotal = flakeRatePrior.reduce((a, b) => a + b, 0);
    const width = this.n + 1;
    this.posterior = new Float64Array(flakeRates.length * width);
    flakeRates.forEach((_, g) => {
      const pg = flakeRatePrior[g]! / priorTotal;
      for (let j = 0; j < this.n; j++) this.posterior[g * width + j] = (pg * (1 - noCulpritPrior)) / this.n;
      this.posterior[g * width + this.n] = pg * noCulpritPrior;
    });
    this.skipped = new Uint8Array(this.n);
  }

  /** Bayes update of the joint posterior with one verdict; a skip only marks the commit unprobeable. */
  record(index: number, verdict: TestVerdict): void {
    if (this.end) return;
    if (verdict === "skip") {
      this.skipped[index] = 1;
      return;
    }
    this.tests++;
    const below = this.graph.ancestors([index]);
    const fail = verdict === "bad";
    const q = this.options.falsePassRate;
    const width = this.n + 1;
    let total = 0;
    this.options.flakeRates.forEach((f, g) => {
      const holds = fail ? 1 - q : q;
      const clean = fail ? f : 1 - f;
      const row = g * width;
      for (let j = 0; j < this.n; j++) {
        const v = this.posterior[row + j]! * (below[j] ? holds : clean);
        this.posterior[row + j] = v;
        total += v;
      }
      const v = this.posterior[row + this.n]! * clean;
      this.posterior[row + this.n] = v;
      total += v;
    });
    if (!(total > 0)) {
      this.end = {
        kind: "error",
        reason: "contradiction",
        message: `The verdict on ${this.graph.shas[index]} is impossible under the flake model (a pass was trusted, then contradicted).`,
      };
      return;
    }
    for (let i = 0; i < this.posterior.length; i++) this.posterior[i]! /= total;
  }

  /** Posterior mass of each hypothesis (index n: no culprit), summed over the flake rates. */
  marginal(): Float64Array {
    const width = this.n + 1;
    const m = new Float64Array(width);
    for (let g = 0; g < this.options.flakeRates.length; g++) {
      for (let j = 0; j < width; j++) m[j]! += this.posterior[g * width + j]!;
    }
    return m;
  }

  /** The current estimate of the false-failure rate (posterior mean; at least the grid's floor). */
  flakeRate(): number {
    const width = this.n + 1;
    let est = 0;
    this.options.flakeRates.forEach((f, g) => {
      let pg = 0;
      for (let j = 0; j < width; j++) pg += this.posterior[g * width + j]!;
      est += pg * f;
    });
    return est;
  }

  /** The most informative probe, then (count > 1) mass-quantile probes around the running ones. */
  next(count: number, pending: readonly number[]): number[] {
    if (count <= 0 || this.outcome(pending)) return [];
    const running = new Set(pending);
    const first = this.bestProbe(running);
    if (first === undefined) return [];
    if (count === 1) return [first.index];
    const member = new Uint8Array(this.n).fill(1);
    const rest = planProbes({
      graph: this.graph,
      member,
      mass: this.marginal().subarray(0, this.n),
      eligible: (i) => !this.skipped[i] && !running.has(i) && i !== first.index,
      pending: [...pending, first.index],
      count: count - 1,
    });
    return [first.index, ...rest];
  }

  /** A verdict once one hypothesis reaches the confidence; ambiguous when out of tests or probes. */
  outcome(pending: readonly number[]): SearchOutcome | undefined {
    if (this.end) return this.end;
    const m = this.marginal();
    let best = 0;
    for (let j = 1; j < m.length; j++) if (m[j]! > m[best]!) best = j;
    if (m[best]! >= this.options.confidence) {
      if (best === this.n) {
        return {
          kind: "no-culprit",
          reason: "flake",
          message:
            `The failure looks like a flake: with a false-failure rate of about ${this.flakeRate().toFixed(2)}, ` +
            `the tests say no commit in the range broke it (confidence ${m[best]!.toFixed(3)}).`,
        };
      }
      return { kind: "culprit", index: best, confidence: m[best]! };
    }
    const stuck = this.tests >= this.options.maxTests || this.bestProbe(new Set(pending)) === undefined;
    if (!stuck || pending.length > 0) return undefined;
    return { kind: "ambiguous", indices: this.likeliest(m), reason: "out-of-tests" };
  }

  /** Live candidates and a rough count of tests left (entropy to shed over the current best gain). */
  candidates(): number[] {
    return this.likeliest(this.marginal());
  }

  remaining(): { candidates: number; estimatedTests: number } {
    const m = this.marginal();
    let h = 0;
    let candidates = 0;
    for (let j = 0; j < m.length; j++) {
      const p = m[j]!;
      if (p > 0) h -= p * Math.log2(p);
      if (j < this.n && p > 1e-4 / this.n) candidates++;
    }
    const gain = this.bestProbe(new Set())?.gain ?? 1;
    const stop = Math.log2(1 / (1 - this.options.confidence)) * 0.5;
    return { candidates, estimatedTests: Math.max(1, Math.ceil((h + stop) / Math.max(gain, 0.05))) };
  }

  /** Whether a verdict at `index` could still move the posterior about the culprit. */
  isInformative(index: number): boolean {
    if (this.end || this.skipped[index]) return false;
    const below = this.graph.ancestors([index]);
    const probe = this.probeModel();
    let mass = 0;
    let failMass = 0;
    let noiseEntropy = 0;
    for (let j = 0; j < this.n; j++) {
      if (!below[j]) continue;
      mass += probe.mass[j]!;
      failMass += probe.failMass[j]!;
      noiseEntropy += probe.noiseEntropy[j]!;
    }
    return probe.gain(mass, failMass, noiseEntropy) > 1e-6;
  }

  /**
   * What a test at x tells about the culprit, from three sums over the hypotheses below x:
   * their mass, their mass × E[f | j] (for j not below x, a fail is a flake at j's estimated rate)
   * and their mass × H(E[f | j]). Gain = H(P(fail)) − E_j H(P(fail | j)), mixing over f exactly.
   */
  private probeModel() {
    const width = this.n + 1;
    const rates = this.options.flakeRates;
    const q = this.options.falsePassRate;
    const rowWeight = this.probeRowWeights();
    const mass = new Float64Array(width);
    const failMass = new Float64Array(width);
    let z = 0;
    for (let g = 0; g < rates.length; g++) {
      const row = g * width;
      const w = rowWeight[g]!;
      if (w === 0) continue;
      for (let j = 0; j < width; j++) {
        const p = this.posterior[row + j]! * w;
        mass[j]! += p;
        failMass[j]! += p * rates[g]!;
        z += p;
      }
    }
    if (z > 0) {
      for (let j = 0; j < width; j++) {
        mass[j]! /= z;
        failMass[j]! /= z;
      }
    }
    const noiseEntropy = new Float64Array(width);
    let totalFail = 0;
    let totalEntropy = 0;
    for (let j = 0; j < width; j++) {
      const f = mass[j]! > 0 ? failMass[j]! / mass[j]! : 0;
      noiseEntropy[j] = mass[j]! * entropy(f);
      totalFail += failMass[j]!;
      totalEntropy += noiseEntropy[j]!;
    }
    const hq = entropy(q);
    return {
      mass,
      failMass,
      noiseEntropy,
      /** Expected information of a test whose ancestors hold these sums. */
      gain: (below: number, belowFail: number, belowEntropy: number): number => {
        const pFail = below * (1 - q) + (totalFail - belowFail);
        return entropy(Math.min(1, Math.max(0, pFail))) - below * hq - (totalEntropy - belowEntropy);
      },
    };
  }

  /**
   * Factor per rate that turns the posterior into the one `probeFlakeRatePrior` would have given:
   * the likelihood is the same, so swapping priors is a reweighting of the rows.
   */
  private probeRowWeights(): number[] {
    const { flakeRatePrior, probeFlakeRatePrior } = this.options;
    // A grid overridden without its own probe weights falls back to the posterior's.
    if (!probeFlakeRatePrior || probeFlakeRatePrior.length !== flakeRatePrior.length) return flakeRatePrior.map(() => 1);
    const total = flakeRatePrior.reduce((a, b) => a + b, 0);
    const probeTotal = probeFlakeRatePrior.reduce((a, b) => a + b, 0);
    return flakeRatePrior.map((p, g) => (p > 0 ? ((probeFlakeRatePrior[g] ?? 0) / probeTotal) * (total / p) : 0));
  }

  /** The most informative probe (see `probeModel`) that is neither skipped nor running. */
  private bestProbe(running: ReadonlySet<number>): { index: number; gain: number } | undefined {
    const probe = this.probeModel();
    const member = new Uint8Array(this.n).fill(1);
    const below = ancestorSums(this.graph, member, probe.mass.subarray(0, this.n));
    const belowFail = ancestorSums(this.graph, member, probe.failMass.subarray(0, this.n));
    const belowEntropy = ancestorSums(this.graph, member, probe.noiseEntropy.subarray(0, this.n));
    let best: { index: number; gain: number } | undefined;
    for (let i = 0; i < this.n; i++) {
      if (this.skipped[i] || running.has(i)) continue;
      const gain = probe.gain(below[i]!, belowFail[i]!, belowEntropy[i]!);
      if (gain > 1e-6 && (!best || gain > best.gain + 1e-12 || (Math.abs(gain - best.gain) <= 1e-12 && i > best.index))) {
        best = { index: i, gain };
      }
    }
    return best;
  }

  /** The fewest candidates that together hold `confidence` of the culprit mass. */
  private likeliest(m: Float64Array): number[] {
    const order = Array.from({ length: this.n }, (_, j) => j).sort((a, b) => m[b]! - m[a]!);
    const out: number[] = [];
    let mass = 0;
    const culpritMass = 1 - m[this.n]!;
    for (const j of order) {
      if (mass >= this.options.confidence * culpritMass || m[j]! <= 0) break;
      out.push(j);
      mass += m[j]!;
    }
    return out.length > 0 ? out : [this.bad];
  }
}
