/**
 * Test support: a seeded PRNG and small reference models of commit histories (ancestor sets,
 * `git rev-list`, a culprit oracle) for checking the bisect engine against brute force.
 * Free of vitest so the benchmarks can use it too.
 */
import type { CommitNode, TestVerdict } from "../../action/src/bisect/index.js";

/** mulberry32: a small, fast, seedable 32-bit PRNG (same seed, same run). Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** c0 (good) ← c1 ← … ← cN (bad): a range of N commits. */
export function linearHistory(n: number): CommitNode[] {
  const commits: CommitNode[] = [{ sha: "c0", parents: [] }];
  for (let i = 1; i <= n; i++) commits.push({ sha: `c${i}`, parents: [`c${i - 1}`] });
  return commits;
}

/** Memoised ancestor sets (self included; `firstParent`: first parents only; shas not in `commits` have none). */
export function ancestry(commits: readonly CommitNode[]): (sha: string, firstParent?: boolean) => ReadonlySet<string> {
  const parents = new Map(commits.map((c) => [c.sha, c.parents]));
  const memo = [new Map<string, Set<string>>(), new Map<string, Set<string>>()] as const;
  return (sha, firstParent = false) => {
    const cache = memo[firstParent ? 1 : 0];
    let set = cache.get(sha);
    if (!set) {
      set = new Set();
      const stack = [sha];
      while (stack.length > 0) {
        const s = stack.pop()!;
        const ps = parents.get(s);
        if (set.has(s) || !ps) continue;
        set.add(s);
        stack.push(...(firstParent ? ps.slice(0, 1) : ps));
      }
      cache.set(sha, set);
    }
    return set;
  };
}

/** `git rev-list [--first-parent] bad --not goods`, in walk order from bad. */
export function revList(commits: readonly CommitNode[], bad: string, goods: readonly string[], firstParent = false): Set<string> {
  const anc = ancestry(commits);
  // The excluded set is closed under ancestry, so filtering bad's first-parent chain is the same
  // as walking it down to the first excluded commit.
  const excluded = new Set(goods.flatMap((g) => [...anc(g)]));
  return new Set([...anc(bad, firstParent)].filter((a) => !excluded.has(a)));
}

/** A test script as a verdict function: `skip` commits first (exit 125), then bad iff the culprit is an ancestor (self included). */
export function oracle(commits: readonly CommitNode[], culprit: string, skip: Iterable<string> = []): (sha: string) => TestVerdict {
  const anc = ancestry(commits);
  const skipped = new Set(skip);
  return (sha) => (skipped.has(sha) ? "skip" : anc(sha).has(culprit) ? "bad" : "good");
}
