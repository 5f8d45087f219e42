import type { CommitGraph } from "./graph.js";

/**
 * For every member x, the total weight of the members that are ancestors of x (x included):
 * git's "weight" when every weight is 1, the posterior mass below x in flaky mode.
 *
 * `member` must be convex (a path between two members never leaves the set); a bisect range
 * `ancestors(bad) − ancestors(goods)` always is.
 *
 * Cost: chains of single-parent, single-child commits are collapsed into segments; a commit's
 * ancestors are whole segments plus a prefix of its own, so only segments carry a bitset (one bit
 * per segment) and a bitset is dropped once its last child segment is built. That is
 * O(n + segments²/32) time and O(frontier × segments/32) memory, fast on 50,000-commit ranges
 * where git's per-merge walk (count_distance) is quadratic in commits.
 */
export function ancestorSums(graph: CommitGraph, member: Uint8Array, weight: Float64Array): Float64Array {
  const n = graph.size;
  const { parents } = graph;
  const childCount = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (!member[i]) continue;
    for (const p of parents[i]!) if (member[p]) childCount[p]!++;
  }

  // Pass 1: cut the members into segments.
  const seg = new Int32Array(n).fill(-1);
  const within = new Float64Array(n);
  const segTotal: number[] = [];
  const segParents: number[][] = [];
  for (let i = 0; i < n; i++) {
    if (!member[i]) continue;
    let onlyParent = -1;
    let memberParents = 0;
    for (const p of parents[i]!) {
      if (member[p]) {
        memberParents++;
        onlyParent = p;
      }
    }
    if (memberParents === 1 && childCount[onlyParent] === 1) {
      const s = seg[onlyParent]!;
      seg[i] = s;
      within[i] = within[onlyParent]! + weight[i]!;
      segTotal[s]! += weight[i]!;
      continue;
    }
    const s = segTotal.length;
    seg[i] = s;
    within[i] = weight[i]!;
    segTotal.push(weight[i]!);
    const ps: number[] = [];
    for (const p of parents[i]!) {
      if (member[p] && !ps.includes(seg[p]!)) ps.push(seg[p]!);
    }
    segParents.push(ps);
  }

  // Pass 2: strict-ancestor weight of each segment head, through bitsets over segments.
  const m = segTotal.length;
  const below = new Float64Array(m);
  if (m > 1) {
    const words = (m + 31) >>> 5;
    const pending = new Int32Array(m);
    for (const ps of segParents) for (const t of ps) pending[t]!++;
    const bits = new Array<Uint32Array | undefined>(m);
    const pool: Uint32Array[] = [];
    for (let s = 0; s < m; s++) {
      const ps = segParents[s]!;
      const own = pool.pop()?.fill(0) ?? new Uint32Array(words);
      let total = 0;
      if (ps.length > 0) {
        // Start from the heaviest parent and add only the segments the others bring.
        let best = ps[0]!;
        for (const t of ps) if (below[t]! + segTotal[t]! > below[best]! + segTotal[best]!) best = t;
        own.set(bits[best]!);
        total = below[best]! + segTotal[best]!;
        for (const t of ps) {
          if (t === best) continue;
          const other = bits[t]!;
          for (let w = 0; w < words; w++) {
            let add = other[w]! & ~own[w]!;
            if (add === 0) continue;
            own[w] = own[w]! | add;
            while (add !== 0) {
              const low = add & -add;
              total += segTotal[(w << 5) + 31 - Math.clz32(low)]!;
              add ^= low;
            }
          }
        }
        for (const t of ps) {
          if (--pending[t]! === 0) {
            pool.push(bits[t]!);
            bits[t] = undefined;
          }
        }
      }
      own[s >>> 5] = own[s >>> 5]! | (1 << (s & 31));
      below[s] = total;
      if (pending[s]! > 0) bits[s] = own;
      else pool.push(own);
    }
  }

  const sums = new Float64Array(n);
  for (let i = 0; i < n; i++) if (member[i]) sums[i] = below[seg[i]!]! + within[i]!;
  return sums;
}
