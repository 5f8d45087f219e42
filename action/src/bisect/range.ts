import { CommitGraph, type CommitNode } from "./graph.js";

/** The commits that can hold the culprit, as their own graph, and the checks git does first. */
export interface BisectRange {
  /** The candidates `ancestors(bad) − ancestors(goods)` (first-parent chain of bad with firstParent). */
  graph: CommitGraph;
  /** Index of the bad commit in `graph`. */
  bad: number;
  /**
   * Merge bases of bad and the goods that are not themselves goods: when a good is not an
   * ancestor of bad, these are tested first (as git does), because a bad merge base means the
   * bug was fixed between it and that good, not introduced between good and bad.
   */
  mergeBases: string[];
}

export interface RangeInput {
  /** The known history: at least the range; goods and their ancestors may be included or left out. */
  commits: readonly CommitNode[];
  bad: string;
  goods: readonly string[];
  /** Merge bases to check, when the caller computed them (the git layer does); else derived. */
  mergeBases?: readonly string[];
  firstParent?: boolean;
}

/**
 * Computes the bisect range, the way `git rev-list [--first-parent] bad --not goods` does.
 * Throws an Error naming the refs when the range is empty.
 */
export function computeRange(input: RangeInput): BisectRange {
  const full = CommitGraph.from(input.commits);
  const bad = full.indexOf(input.bad);
  if (bad === undefined) throw new Error(`The bad commit ${input.bad} is not in the history.`);
  if (input.goods.length === 0) throw new Error("At least one good commit is needed.");
  const goods = input.goods.map((g) => full.indexOf(g)).filter((g): g is number => g !== undefined);
  if (input.goods.includes(input.bad)) {
    throw new Error(`The commit ${input.bad} is given as both good and bad.`);
  }

  const goodClosed = full.ancestors(goods);
  if (goodClosed[bad]) {
    const descendant = goods.find((g) => full.ancestors([g])[bad]);
    throw new Error(
      `The good commit ${descendant === undefined ? "" : full.shas[descendant] + " "}is a descendant of the bad commit ${input.bad}: ` +
        "the range is empty. Did you swap the good and bad commits?",
    );
  }

  const inRange = new Uint8Array(full.size);
  if (input.firstParent) {
    for (let c: number | undefined = bad; c !== undefined && !goodClosed[c]; c = full.parents[c]![0]) inRange[c] = 1;
  } else {
    full.markAncestors([bad], inRange, 1, (i) => goodClosed[i] === 1);
  }

  let mergeBases: string[];
  if (input.mergeBases) {
    mergeBases = input.mergeBases.filter((m) => !input.goods.includes(m));
  } else {
    const badAncestors = full.ancestors([bad]);
    mergeBases = [];
    for (let i = 0; i < full.size; i++) {
      if (!badAncestors[i] || !goodClosed[i] || goods.includes(i)) continue;
      // A common ancestor with no child that is also common is a merge base.
      if (!Array.from(full.children[i]!).some((c) => badAncestors[c] && goodClosed[c])) mergeBases.push(full.shas[i]!);
    }
  }

  // The git layer passes exactly the range (rev-list bad --not goods): nothing to cut out.
  if (!input.firstParent && inRange.every((v) => v === 1)) return { graph: full, bad, mergeBases };
  const commits: CommitNode[] = [];
  for (let i = 0; i < full.size; i++) {
    if (!inRange[i]) continue;
    commits.push({ sha: full.shas[i]!, parents: Array.from(full.parents[i]!, (p) => full.shas[p]!) });
  }
  const graph = CommitGraph.from(commits, { firstParent: input.firstParent ?? false });
  return { graph, bad: graph.require(input.bad), mergeBases };
}

/**
 * Whether `sha` is on the first-parent line of `bad` among `commits` (git rev-list --first-parent
 * bad --not goods): a culprit off it came in with a merged branch, and `--first-parent` was
 * probably meant.
 */
export function onFirstParentLine(commits: readonly CommitNode[], bad: string, sha: string): boolean {
  const parents = new Map(commits.map((c) => [c.sha, c.parents]));
  for (let c: string | undefined = bad; c !== undefined && parents.has(c); c = parents.get(c)![0]) if (c === sha) return true;
  return false;
}
