/**
 * ancestorSums against a brute-force walk: for each member x, the total weight of the members
 * that are ancestors of x (x included). Random seeded histories with chains, forks, two-parent,
 * criss-cross and octopus merges, several roots; member sets are bisect ranges ancestors(bad) −
 * ancestors(goods) (convex, as the function requires); weights are random.
 */
import { describe, expect, it } from "vitest";
import { CommitGraph, type CommitNode, ancestorSums } from "../../action/src/bisect/index.js";
import { asCommitNodes, type DagShape, randomDag, Rng } from "../support/random-dag.js";

/** A random history (test/support/random-dag.ts), listed in a shuffled order: CommitGraph.from sorts it. */
function randomHistory(rng: Rng, size: number, shape: Omit<DagShape, "size">): CommitNode[] {
  const commits = asCommitNodes(randomDag(rng, { size, ...shape }));
  return rng.sample(commits, commits.length);
}

/** Ancestors of `from` (themselves included) in `graph`, by a plain walk. */
function walk(graph: CommitGraph, from: readonly number[]): Uint8Array {
  const seen = new Uint8Array(graph.size);
  const stack = [...from];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen[v]) continue;
    seen[v] = 1;
    for (const p of graph.parents[v]!) stack.push(p);
  }
  return seen;
}

/** ancestors(bad) − ancestors(goods): convex. */
function rangeMembers(graph: CommitGraph, bad: number, goods: readonly number[]): Uint8Array {
  const below = walk(graph, [bad]);
  const excluded = walk(graph, goods);
  return below.map((b, i) => (b && !excluded[i] ? 1 : 0));
}

/**
 * A bisect-like range: bad near the tips, goods low in the history (graph indices are a
 * topological order), now and then a good anywhere (not an ancestor of bad, or cutting deep).
 */
function randomRange(rnd: () => number, graph: CommitGraph): { bad: number; goods: number[]; member: Uint8Array } {
  const n = graph.size;
  const bad = n - 1 - Math.floor(rnd() * rnd() * n * 0.3);
  const goods = Array.from({ length: Math.floor(rnd() * 4) }, () => Math.floor(rnd() * (rnd() < 0.2 ? n : Math.max(1, n * 0.3))));
  return { bad, goods, member: rangeMembers(graph, bad, goods) };
}

/** The brute force: a fresh walk per member over the whole graph. */
function bruteForce(graph: CommitGraph, member: Uint8Array, weight: Float64Array): Float64Array {
  const out = new Float64Array(graph.size);
  for (let x = 0; x < graph.size; x++) {
    if (!member[x]) continue;
    const below = walk(graph, [x]);
    let sum = 0;
    for (let i = 0; i < graph.size; i++) if (below[i] && member[i]) sum += weight[i]!;
    out[x] = sum;
  }
  return out;
}

function randomWeights(rnd: () => number, n: number, integer: boolean): Float64Array {
  return Float64Array.from({ length: n }, () => {
    if (rnd() < 0.1) return 0;
    return integer ? 1 + Math.floor(rnd() * 9) : rnd() * (rnd() < 0.1 ? 1e-6 : 1);
  });
}

function compare(graph: CommitGraph, member: Uint8Array, weight: Float64Array, label: string): void {
  const actual = ancestorSums(graph, member, weight);
  const expected = bruteForce(graph, member, weight);
  expect(actual.length, label).toBe(graph.size);
  for (let i = 0; i < graph.size; i++) {
    if (!member[i]) continue;
    const tolerance = 1e-9 * Math.max(1, expected[i]!);
    if (Math.abs(actual[i]! - expected[i]!) > tolerance) {
      expect(actual[i], `${label}: ${graph.shas[i]}`).toBe(expected[i]);
    }
  }
}

/** What a shape's histories must hold, as shares of their commits. */
interface Mix {
  merges: number;
  octopus: number;
  roots: number;
}

/** Shapes of history (relative weights of randomDag's growth steps, octopus merges of 3 to 7 parents), each with its seed and what it must hold. */
const SHAPES: [string, number, Omit<DagShape, "size">, Mix][] = [
  [
    "chains with rare merges",
    1,
    { weights: { extend: 85, fork: 8, merge: 4, crissCross: 0.5, octopus: 0.5, root: 1, backMerge: 1 }, octopusParents: [3, 7] },
    { merges: 0.04, octopus: 0.002, roots: 0.01 },
  ],
  [
    "many forks and merges",
    2,
    { weights: { extend: 30, fork: 28, merge: 22, crissCross: 6, octopus: 5, root: 2, backMerge: 7 }, octopusParents: [3, 7] },
    { merges: 0.3, octopus: 0.03, roots: 0.01 },
  ],
  [
    "octopus-heavy",
    3,
    { weights: { extend: 20, fork: 40, merge: 2, crissCross: 1, octopus: 35, root: 1, backMerge: 1 }, octopusParents: [3, 7] },
    { merges: 0.2, octopus: 0.18, roots: 0.01 },
  ],
  [
    "forest",
    4,
    { weights: { extend: 40, fork: 18, merge: 12, crissCross: 3, octopus: 3, root: 15, backMerge: 9 }, octopusParents: [3, 7] },
    { merges: 0.2, octopus: 0.02, roots: 0.12 },
  ],
];

/** The shares of merges, octopus merges and roots among `histories`' commits. */
function mixOf(histories: readonly CommitNode[][]): Mix {
  const all = histories.flat();
  const share = (test: (parents: number) => boolean) => all.filter((c) => test(c.parents.length)).length / all.length;
  return { merges: share((p) => p >= 2), octopus: share((p) => p >= 3), roots: share((p) => p === 0) };
}

describe("ancestorSums matches a brute-force walk", () => {
  it.each(SHAPES)("%s: 80 seeded histories, random ranges and weights", (_name, seed, shape, mix) => {
    const rng = new Rng(seed);
    const rnd = () => rng.float();
    const histories: CommitNode[][] = [];
    for (let trial = 0; trial < 80; trial++) {
      const n = 1 + Math.floor(rnd() * (trial % 10 === 0 ? 600 : 200));
      const commits = randomHistory(rng, n, shape);
      histories.push(commits);
      const firstParent = rnd() < 0.2;
      const graph = CommitGraph.from(commits, { firstParent });
      const { bad, goods, member } = randomRange(rnd, graph);
      const weight = randomWeights(rnd, n, trial % 2 === 0);
      compare(graph, member, weight, `trial ${trial} (n ${n}, bad ${graph.shas[bad]}, goods ${goods.map((g) => graph.shas[g]).join(" ")})`);
    }
    // The shape is what it says: a generator change must not make these checks vacuous.
    const actual = mixOf(histories);
    for (const key of ["merges", "octopus", "roots"] as const) expect(actual[key], key).toBeGreaterThanOrEqual(mix[key]);
    expect(Math.max(...histories.flat().map((c) => c.parents.length))).toBe(7);
  });

  it("large ranges with hundreds of segments (bitsets over many words, reused)", () => {
    const rng = new Rng(77);
    const rnd = () => rng.float();
    for (let trial = 0; trial < 6; trial++) {
      const n = 1500 + Math.floor(rnd() * 1000);
      const commits = randomHistory(rng, n, { weights: { extend: 40, fork: 30, merge: 25, crissCross: 2, octopus: 3, root: 0.2, backMerge: 5 } });
      const graph = CommitGraph.from(commits);
      // The tip (of the last 20) with the most ancestors, cut low in the history.
      let bad = n - 1;
      let most = 0;
      for (let i = n - 20; i < n; i++) {
        const count = walk(graph, [i]).reduce((a, b) => a + b, 0);
        if (count > most) [bad, most] = [i, count];
      }
      const goods = Array.from({ length: Math.floor(rnd() * 3) }, () => Math.floor(rnd() * n * 0.05));
      const member = rangeMembers(graph, bad, goods);
      expect(member.reduce((a, b) => a + b, 0)).toBeGreaterThan(200);
      compare(graph, member, randomWeights(rnd, n, trial % 2 === 0), `large trial ${trial}`);
    }
  });

  it("every member (the whole graph) and unit weights give git's weight", () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 40; trial++) {
      const n = rng.int(1, 150);
      const graph = CommitGraph.from(randomHistory(rng, n, SHAPES[1]![2]));
      compare(graph, new Uint8Array(n).fill(1), new Float64Array(n).fill(1), `trial ${trial}`);
    }
  });

  it("edge cases: no members, one member, a single chain, one octopus", () => {
    const chain = CommitGraph.from(Array.from({ length: 50 }, (_, i) => ({ sha: `c${i}`, parents: i ? [`c${i - 1}`] : [] })));
    compare(chain, new Uint8Array(50), new Float64Array(50).fill(1), "no members");
    const one = new Uint8Array(50);
    one[chain.require("c17")] = 1;
    compare(chain, one, new Float64Array(50).fill(2), "one member");
    compare(
      chain,
      new Uint8Array(50).fill(1),
      Float64Array.from({ length: 50 }, (_, i) => i),
      "chain",
    );
    expect(Array.from(ancestorSums(chain, new Uint8Array(50).fill(1), new Float64Array(50).fill(1)))).toEqual(
      Array.from(chain.shas, (s) => Number(s.slice(1)) + 1),
    );

    const octopus = CommitGraph.from([
      { sha: "base", parents: [] },
      ...Array.from({ length: 40 }, (_, i) => ({ sha: `p${i}`, parents: ["base"] })),
      { sha: "merge", parents: Array.from({ length: 40 }, (_, i) => `p${i}`) },
      { sha: "tip", parents: ["merge"] },
    ]);
    const member = rangeMembers(octopus, octopus.require("tip"), [octopus.require("base")]);
    compare(octopus, member, new Float64Array(octopus.size).fill(1), "octopus");
    expect(ancestorSums(octopus, member, new Float64Array(octopus.size).fill(1))[octopus.require("tip")]).toBe(42);
  });
});
