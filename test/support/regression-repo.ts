/**
 * A repository with a real regression, for the demo and the end-to-end tests: a few hundred
 * commits on main with feature branches merged in, the bisect workflow on the default branch, a
 * release tag `v1.0`, and a test (`sh test.sh`) that passes until one commit breaks `calc.sh`.
 * Built with one `git fast-import` (fast, and the same options always give the same SHAs).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildRepo, git, tempDir, type DagCommit } from "./dag-repo.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface RegressionRepo {
  dir: string;
  /** The commit that breaks the test, its subject, and the merge that brought it to main. */
  culprit: { sha: string; subject: string; mergedBy: string | null };
  /** Commits in v1.0..main. */
  rangeSize: number;
  sha: (id: string) => string;
}

export interface RegressionRepoOptions {
  /** Commits on main (default 240). */
  mainline?: number;
  /** Where the regression comes in: "branch" (a commit of a merged feature branch, default), "mainline", or "merge" (the merge itself breaks it). */
  culpritIn?: "branch" | "mainline" | "merge";
}

const GOOD_CALC = "echo $((2 + 2))\n";
const BAD_CALC = "echo $((2 + 3))\n";
/** The test: exit 0 while calc.sh still adds up. */
export const TEST_SCRIPT = 'test "$(sh calc.sh)" = 4\n';

/**
 * main: root (workflow, calc.sh, test.sh) ← m1 … mN, tag v1.0 at m20; every 25 mainline commits a
 * feature branch of 3 commits forks and is merged two commits later.
 */
export async function makeRegressionRepo(options: RegressionRepoOptions = {}): Promise<RegressionRepo> {
  const mainline = options.mainline ?? 240;
  const culpritIn = options.culpritIn ?? "branch";
  const workflow = await readFile(path.join(ROOT, ".github/workflows/bisect.yml"), "utf8");
  const commits: DagCommit[] = [
    {
      id: "Initial import",
      parents: [],
      files: { ".github/workflows/bisect.yml": workflow, "calc.sh": GOOD_CALC, "test.sh": TEST_SCRIPT, "README.md": "calc\n" },
    },
  ];
  let tip = "Initial import";
  const culpritMainline = Math.round(mainline * 0.62);
  // The feature branch that carries the regression: the one forked about 60 % of the way.
  const feature = Math.max(1, Math.floor(culpritMainline / 25));
  if (mainline < 50) throw new Error("a regression repository needs at least 50 mainline commits");
  let culpritId = "";
  let mergedBy: string | null = null;
  const open: { n: number; tip: string; files: Record<string, string>; mergeAt: number; breaks: boolean }[] = [];
  for (let i = 1; i <= mainline; i++) {
    const id = `Tidy module ${i}`;
    const files: Record<string, string> = { [`src/m${i % 40}.txt`]: `${i}\n` };
    if (culpritIn === "mainline" && i === culpritMainline) {
      files["calc.sh"] = BAD_CALC;
      culpritId = `Tidy module ${i}`;
    }
    commits.push({ id, parents: [tip], files });
    tip = id;
    if (i % 25 === 0) {
      const n = i / 25;
      let branchTip = tip;
      const branchFiles: Record<string, string> = {};
      for (let part = 1; part <= 3; part++) {
        const bid = `Feature ${n}: part ${part}`;
        const bfiles: Record<string, string> = { [`features/f${n}.txt`]: `part ${part}\n` };
        branchFiles[`features/f${n}.txt`] = `part ${part}\n`;
        if (culpritIn === "branch" && n === feature && part === 2) {
          bfiles["calc.sh"] = BAD_CALC;
          branchFiles["calc.sh"] = BAD_CALC;
          culpritId = bid;
        }
        commits.push({ id: bid, parents: [branchTip], files: bfiles });
        branchTip = bid;
      }
      open.push({ n, tip: branchTip, files: branchFiles, mergeAt: i + 2, breaks: culpritIn === "merge" && n === feature });
    }
    for (const branch of open.filter((b) => b.mergeAt === i)) {
      const mid = `Merge feature ${branch.n}`;
      // fast-import takes the first parent's tree: the branch's files are written again here.
      const files = { ...branch.files };
      if (branch.breaks) {
        files["calc.sh"] = BAD_CALC;
        culpritId = mid;
      }
      commits.push({ id: mid, parents: [tip, branch.tip], files });
      if (culpritId.startsWith(`Feature ${branch.n}:`)) mergedBy = mid;
      tip = mid;
    }
  }
  const dir = await tempDir("bisect-demo-repo");
  const shas = await buildRepo(dir, commits, { tags: { "v1.0": "Tidy module 20" } });
  await git(dir, ["checkout", "-q", "main"]);
  const sha = (id: string) => {
    const s = shas.get(id);
    if (!s) throw new Error(`no commit ${id}`);
    return s;
  };
  const rangeSize = Number((await git(dir, ["rev-list", "--count", "v1.0..main"])).stdout.trim());
  return { dir, culprit: { sha: sha(culpritId), subject: culpritId, mergedBy: mergedBy ? sha(mergedBy) : null }, rangeSize, sha };
}
