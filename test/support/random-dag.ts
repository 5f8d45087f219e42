/**
 * Test support: the one generator of seeded random commit DAGs, and bisection scenarios on them.
 * The engine's tests take its DAGs as `CommitNode`s (`asCommitNodes`), the differential tests and
 * benchmarks build them into real repositories (`buildRepo`).
 *
 * The DAGs have forks, two-parent merges (some with a parent that is an ancestor of the
 * other, as `git merge --no-ff` makes), criss-cross merges, octopus merges (3–5 parents by
 * default) and the occasional unrelated root; a shape's weights make any of them rare or common.
 * A scenario adds a bad tip, good commits (sometimes not ancestors of bad), a true culprit and
 * a skip set. Same seed, same DAG.
 */
import type { CommitNode } from "../../action/src/bisect/index.js";
import type { DagCommit } from "./dag-repo.js";
import { mulberry32 } from "./history.js";

/** Convenience wrapper around {@link mulberry32}. */
export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `k` distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = [...items];
    const n = Math.min(k, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, n);
  }
}

export interface DagShape {
  /** Number of commits (exact). */
  size: number;
  /** Relative weights of the growth steps; missing ones use the defaults. */
  weights?: Partial<Record<DagStep, number>>;
  /** Fewest and most parents of an octopus merge (default 3 and 5; fewer when fewer branches are open). */
  octopusParents?: readonly [number, number];
}

export type DagStep = "extend" | "fork" | "merge" | "crissCross" | "octopus" | "root" | "backMerge";

const DEFAULT_WEIGHTS: Record<DagStep, number> = {
  extend: 50,
  fork: 14,
  merge: 14,
  crissCross: 5,
  octopus: 6,
  root: 2,
  backMerge: 4,
};

/**
 * A random DAG of exactly `shape.size` commits named c0, c1, … in creation order (parents
 * always come first, so the list can be fed straight to `buildRepo`).
 */
export function randomDag(rng: Rng, shape: DagShape): DagCommit[] {
  const size = Math.max(1, Math.floor(shape.size));
  const weights = { ...DEFAULT_WEIGHTS, ...(shape.weights ?? {}) };
  const steps = Object.entries(weights) as [DagStep, number][];
  const total = steps.reduce((s, [, w]) => s + w, 0);
  const commits: DagCommit[] = [];
  const add = (parents: string[]): string => {
    const id = `c${commits.length}`;
    commits.push({ id, parents });
    return id;
  };
  const heads: string[] = [add([])];
  const recent = (): string => commits[Math.max(0, commits.length - 1 - Math.floor(rng.float() * 40))]!.id;

  while (commits.length < size) {
    let r = rng.float() * total;
    let step: DagStep = "extend";
    for (const [s, w] of steps) {
      if (r < w) {
        step = s;
        break;
      }
      r -= w;
    }
    const room = size - commits.length;
    if ((step === "merge" || step === "crissCross") && heads.length < 2) step = "fork";
    if (step === "octopus" && heads.length < 3) step = "fork";
    if (step === "crissCross" && room < 2) step = "merge";

    switch (step) {
      case "extend": {
        const h = Math.floor(rng.float() * heads.length);
        heads[h] = add([heads[h]!]);
        break;
      }
      case "fork":
        heads.push(add([recent()]));
        break;
      case "merge": {
        const [a, b] = rng.sample([...heads.keys()], 2) as [number, number];
        heads[a] = add([heads[a]!, heads[b]!]);
        // The merged branch is usually deleted; sometimes it lives on (criss-cross material).
        if (rng.chance(0.6)) heads.splice(b, 1);
        break;
      }
      case "crissCross": {
        const [a, b] = rng.sample([...heads.keys()], 2) as [number, number];
        const ha = heads[a]!;
        const hb = heads[b]!;
        heads[a] = add([ha, hb]);
        heads[b] = add([hb, ha]);
        break;
      }
      case "octopus": {
        const k = Math.min(heads.length, rng.int(...(shape.octopusParents ?? [3, 5])));
        const picked = rng.sample([...heads.keys()], k);
        const merged = add(picked.map((i) => heads[i]!));
        const keep = new Set(picked.slice(1));
        const rest = heads.filter((_, i) => !keep.has(i) && i !== picked[0]);
        heads.length = 0;
        heads.push(merged, ...rest);
        break;
      }
      case "root":
        heads.push(add([]));
        break;
      case "backMerge": {
        // Merge an older commit into a head; it may already be an ancestor (a --no-ff style merge).
        const h = Math.floor(rng.float() * heads.length);
        const other = recent();
        heads[h] = other === heads[h] ? add([heads[h]]) : add([heads[h]!, other]);
        break;
      }
    }
  }
  return commits;
}

/** The DAG as the engine takes it: ids as shas. */
export function asCommitNodes(commits: readonly DagCommit[]): CommitNode[] {
  return commits.map((c) => ({ sha: c.id, parents: c.parents }));
}

/** Parent lists by id. */
export function parentMap(commits: readonly DagCommit[]): Map<string, readonly string[]> {
  return new Map(commits.map((c) => [c.id, c.parents]));
}

/** Ancestors of `from` (themselves included). */
export function ancestorsOf(commits: readonly DagCommit[], from: Iterable<string>): Set<string> {
  const parents = parentMap(commits);
  const seen = new Set<string>();
  const stack = [...from];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const p of parents.get(id) ?? []) if (!seen.has(p)) stack.push(p);
  }
  return seen;
}

/** Descendants of `from` (themselves included). */
export function descendantsOf(commits: readonly DagCommit[], from: Iterable<string>): Set<string> {
  const seen = new Set(from);
  // Commits are listed parents first, so one forward pass suffices.
  for (const c of commits) if (c.parents.some((p) => seen.has(p))) seen.add(c.id);
  return seen;
}

/** Commits that are nobody's parent. */
export function tipsOf(commits: readonly DagCommit[]): string[] {
  const hasChild = new Set(commits.flatMap((c) => c.parents));
  return commits.filter((c) => !hasChild.has(c.id)).map((c) => c.id);
}

export interface Scenario {
  commits: DagCommit[];
  /** A tip of the DAG. */
  bad: string;
  /** Good commits; some may not be ancestors of bad. */
  goods: string[];
  /** Whether some good is not an ancestor of bad (git then tests the merge bases first). */
  hasNonAncestorGood: boolean;
  /** ancestors(bad) − ancestors(goods), in DAG order. */
  candidates: string[];
  /** The true first bad commit: a commit is bad iff it descends from it (or is it). */
  culprit: string;
  /** Commits whose test is skipped (exit 125). May include any commit, the culprit too. */
  skips: string[];
}

export interface ScenarioOptions {
  /** Commit count range (inclusive). Default 20–200. */
  minSize?: number;
  maxSize?: number;
  /** Probability that a good is drawn from the non-ancestors of bad. Default 0.2. */
  nonAncestorGoodRate?: number;
  /** Largest skip rate; the rate per scenario is uniform in [0, maxSkipRate]. Default 0.2. */
  maxSkipRate?: number;
}

/**
 * A random scenario: DAG, bad tip, goods, culprit among the candidates, skip set.
 * Deterministic given the seed.
 */
export function randomScenario(seed: number, options: ScenarioOptions = {}): Scenario {
  const rng = new Rng(seed);
  const minSize = options.minSize ?? 20;
  const maxSize = options.maxSize ?? 200;
  const nonAncestorRate = options.nonAncestorGoodRate ?? 0.2;
  const maxSkipRate = options.maxSkipRate ?? 0.2;

  const commits = randomDag(rng, { size: rng.int(minSize, maxSize) });
  const tips = tipsOf(commits);
  const badAncestorCount = (t: string): number => ancestorsOf(commits, [t]).size;
  // Usually the tip with the longest history; sometimes any tip.
  const bad = rng.chance(0.5) ? tips.reduce((a, b) => (badAncestorCount(b) > badAncestorCount(a) ? b : a)) : rng.pick(tips);
  const badAncestors = ancestorsOf(commits, [bad]);
  const below = commits.map((c) => c.id).filter((id) => badAncestors.has(id) && id !== bad);
  const beside = commits.map((c) => c.id).filter((id) => !badAncestors.has(id));

  const goodCount = rng.chance(0.6) ? 1 : rng.chance(0.6) ? 2 : 3;
  const goods: string[] = [];
  for (let i = 0; i < goodCount; i++) {
    const pool = beside.length > 0 && (below.length === 0 || rng.chance(nonAncestorRate)) ? beside : below;
    if (pool.length === 0) break;
    const g = rng.pick(pool);
    if (!goods.includes(g)) goods.push(g);
  }
  if (goods.length === 0) {
    // A single-commit DAG: nothing can be good. Callers ask for >= 2 commits.
    throw new Error(`seed ${seed}: cannot pick a good commit`);
  }

  const goodAncestors = ancestorsOf(commits, goods);
  const candidates = commits.map((c) => c.id).filter((id) => badAncestors.has(id) && !goodAncestors.has(id));
  const culprit = rng.pick(candidates);

  const rate = rng.float() * maxSkipRate;
  const target = Math.round(rate * commits.length);
  const skipSet = new Set<string>();
  const parents = parentMap(commits);
  const clustered = rng.chance(0.4);
  while (skipSet.size < target) {
    let id: string | undefined = rng.pick(commits).id;
    // Untestable commits cluster in practice: take a run along first parents.
    const run = clustered ? rng.int(1, 5) : 1;
    for (let k = 0; k < run && id !== undefined && skipSet.size < target; k++) {
      skipSet.add(id);
      id = parents.get(id)?.[0];
    }
  }
  const skips = commits.map((c) => c.id).filter((id) => skipSet.has(id));
  return {
    commits,
    bad,
    goods,
    hasNonAncestorGood: goods.some((g) => !badAncestors.has(g)),
    candidates,
    culprit,
    skips,
  };
}

/** The oracle's verdict: skip if skipped, else bad iff `id` descends from the culprit. */
export function oracleVerdict(scenario: Pick<Scenario, "commits" | "culprit">, skips: ReadonlySet<string>): (id: string) => "good" | "bad" | "skip" {
  const bad = descendantsOf(scenario.commits, [scenario.culprit]);
  return (id) => (skips.has(id) ? "skip" : bad.has(id) ? "bad" : "good");
}
