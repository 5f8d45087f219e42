/**
 * A commit DAG indexed in topological order: every parent has a smaller index than its children.
 * Pure data: built from a list of commits (as `git rev-list --parents` prints them, in any order).
 * Parents that are not in the list are outside the known history and are ignored.
 */

/** One commit of the input history. */
export interface CommitNode {
  sha: string;
  /** Parent shas, first parent first. Parents missing from the graph are ignored. */
  parents: readonly string[];
}

export class CommitGraph {
  /** sha of each index. */
  readonly shas: readonly string[];
  /** Parent indices of each index (first parent first); always smaller than the index itself. */
  readonly parents: readonly Int32Array[];
  /** Child indices of each index. */
  readonly children: readonly Int32Array[];
  private readonly index: ReadonlyMap<string, number>;

  private constructor(shas: string[], parents: Int32Array[], children: Int32Array[], index: Map<string, number>) {
    this.shas = shas;
    this.parents = parents;
    this.children = children;
    this.index = index;
  }

  /**
   * Builds the graph, sorting the commits topologically (parents first).
   * @example CommitGraph.from([{ sha: "b", parents: ["a"] }, { sha: "a", parents: [] }])
   */
  static from(commits: readonly CommitNode[], options: { firstParent?: boolean } = {}): CommitGraph {
    const inputIndex = new Map<string, number>();
    commits.forEach((c, i) => {
      if (inputIndex.has(c.sha)) throw new Error(`Commit ${c.sha} appears twice in the history.`);
      inputIndex.set(c.sha, i);
    });
    const inputParents = commits.map((c) => {
      const ps = options.firstParent ? c.parents.slice(0, 1) : c.parents;
      const out: number[] = [];
      for (const p of ps) {
        const j = inputIndex.get(p);
        if (j !== undefined && !out.includes(j)) out.push(j);
      }
      return out;
    });

    // Iterative DFS post-order gives parents before children and keeps branches contiguous,
    // which keeps the live frontier of ancestor-sums small.
    const n = commits.length;
    const order: number[] = [];
    const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
    for (let root = 0; root < n; root++) {
      if (state[root] !== 0) continue;
      const stack: number[] = [root];
      const next: number[] = [0];
      state[root] = 1;
      while (stack.length > 0) {
        const top = stack.length - 1;
        const v = stack[top]!;
        const ps = inputParents[v]!;
        const k = next[top]!;
        if (k < ps.length) {
          next[top] = k + 1;
          const p = ps[ps.length - 1 - k]!; // visit the first parent last so its chain ends nearest
          if (state[p] === 0) {
            state[p] = 1;
            stack.push(p);
            next.push(0);
          } else if (state[p] === 1) {
            throw new Error(`The history has a cycle through ${commits[p]!.sha}.`);
          }
        } else {
          state[v] = 2;
          order.push(v);
          stack.pop();
          next.pop();
        }
      }
    }

    const rank = new Int32Array(n);
    order.forEach((v, i) => (rank[v] = i));
    const shas = order.map((v) => commits[v]!.sha);
    const parents = order.map((v) => Int32Array.from(inputParents[v]!, (p) => rank[p]!));
    const childLists: number[][] = Array.from({ length: n }, () => []);
    parents.forEach((ps, i) => ps.forEach((p) => childLists[p]!.push(i)));
    const index = new Map<string, number>();
    shas.forEach((s, i) => index.set(s, i));
    return new CommitGraph(
      shas,
      parents,
      childLists.map((c) => Int32Array.from(c)),
      index,
    );
  }

  get size(): number {
    return this.shas.length;
  }

  /** Index of a sha, or undefined when the commit is not in the graph. */
  indexOf(sha: string): number | undefined {
    return this.index.get(sha);
  }

  /** Index of a sha; throws a clear error when it is not in the graph. */
  require(sha: string): number {
    const i = this.index.get(sha);
    if (i === undefined) throw new Error(`Commit ${sha} is not in the history being bisected.`);
    return i;
  }

  /**
   * Marks the ancestors of `from` (itself included) in `mark` with `value`, not walking past
   * nodes for which `stop` returns true. Returns the number of nodes newly marked.
   */
  markAncestors(from: Iterable<number>, mark: Uint8Array, value = 1, stop?: (i: number) => boolean): number {
    const stack: number[] = [];
    let count = 0;
    for (const f of from) {
      if (mark[f] !== value && !stop?.(f)) {
        mark[f] = value;
        count++;
        stack.push(f);
      }
    }
    while (stack.length > 0) {
      const v = stack.pop()!;
      for (const p of this.parents[v]!) {
        if (mark[p] !== value && !stop?.(p)) {
          mark[p] = value;
          count++;
          stack.push(p);
        }
      }
    }
    return count;
  }

  /** A fresh membership array of the ancestors of `from`, itself included. */
  ancestors(from: Iterable<number>): Uint8Array {
    const mark = new Uint8Array(this.size);
    this.markAncestors(from, mark);
    return mark;
  }
}
