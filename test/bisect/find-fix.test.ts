/**
 * `--find-fix` against `git bisect start --term-old broken --term-new fixed` on random DAGs: the
 * CLI bundle (a real process, real worktrees) with a test that passes from the fix on, and git's
 * own bisection with terms, given the same test the way `git bisect run` reads it (exit 0 is the
 * old term). Both must name the same first fixed commit, or the same set of candidates when only
 * skipped commits are left; with skips our answer may be exact where git's is a set.
 */
import { describe, expect, it } from "vitest";
import { resultDocumentSchema, type ResultDocument } from "../../action/src/result-document.js";
import { buildRepo, removeDir, tempDir } from "../support/dag-repo.js";
import { runCli } from "../support/run-cli.js";
import { runGitBisect } from "../support/git-bisect-oracle.js";
import { descendantsOf, randomScenario } from "../support/random-dag.js";

const SEEDS = Array.from({ length: 14 }, (_, i) => 7001 + i);

/** The test as a user has it: 125 on an untestable commit, 0 once the fix is in, else 1. */
const testScript = (fix: string, skips: readonly string[]) =>
  [`h=$(git rev-parse HEAD)`, `case " ${skips.join(" ")} " in *" $h "*) exit 125;; esac`, `git merge-base --is-ancestor ${fix} "$h" && exit 0`, "exit 1"].join(
    "\n",
  );

describe("--find-fix against git bisect with terms broken/fixed", () => {
  it.each(SEEDS)(
    "seed %i: the same first fixed commit (or the same candidates) as git",
    async (seed) => {
      // Goods are ancestors of bad: git's merge-base check speaks of a "fixed" merge base then, which is
      // another answer than a fix, and is tested on its own in the differential test.
      const scenario = randomScenario(seed, { minSize: 20, maxSize: 60, nonAncestorGoodRate: 0, maxSkipRate: seed % 2 === 0 ? 0 : 0.2 });
      const dir = await tempDir(`find-fix-${seed}`);
      try {
        const shas = await buildRepo(dir, scenario.commits);
        const sha = (id: string) => shas.get(id)!;
        const idOf = new Map([...shas].map(([id, s]) => [s, id]));
        const fix = sha(scenario.culprit);
        const skips = scenario.skips.map(sha);

        const theirs = await runGitBisect(dir, {
          bad: sha(scenario.bad),
          goods: scenario.goods.map(sha),
          culprit: fix,
          skips,
          terms: { old: "broken", new: "fixed" },
        });
        const run = await runCli(dir, [
          "run",
          ...scenario.goods.flatMap((g) => ["--good", sha(g)]),
          "--bad",
          sha(scenario.bad),
          "--find-fix",
          "--json",
          "--",
          "sh",
          "-c",
          testScript(fix, skips),
        ]);
        const ours: ResultDocument = resultDocumentSchema.parse(JSON.parse(run.stdout));
        // Probes say what the test did: a pass exactly on the commits that hold the fix.
        const fixed = descendantsOf(scenario.commits, [scenario.culprit]);
        for (const p of ours.probes) if (p.verdict !== "skip") expect(p.verdict, idOf.get(p.sha)).toBe(fixed.has(idOf.get(p.sha)!) ? "good" : "bad");

        if (theirs.outcome.kind === "culprit") {
          expect(ours.verdict).toBe("culprit");
          expect(idOf.get(ours.culprit!.sha)).toBe(idOf.get(theirs.outcome.sha));
          expect(run.stderr).toContain(`First fixed commit: ${theirs.outcome.sha}`);
        } else if (theirs.outcome.kind === "ambiguous") {
          // Only skipped commits left: git lists them; we name the fix if our search pinned it, else the same set.
          const gitSet = theirs.outcome.candidates.map((s) => idOf.get(s)).sort();
          if (ours.verdict === "culprit") expect(gitSet).toContain(idOf.get(ours.culprit!.sha));
          else expect(ours.candidates.map((s) => idOf.get(s)).sort()).toEqual(gitSet);
          expect(gitSet).toContain(scenario.culprit);
        } else {
          throw new Error(`git gave no answer: ${JSON.stringify(theirs.outcome).slice(0, 400)}`);
        }
        if (ours.verdict === "culprit" && !skips.includes(fix)) expect(idOf.get(ours.culprit!.sha)).toBe(scenario.culprit);
      } finally {
        await removeDir(dir);
      }
    },
    60_000,
  );

  it("a range the fix is not in ends as no fix, naming the commit that still fails", async () => {
    const scenario = randomScenario(7001, { minSize: 20, maxSize: 30, nonAncestorGoodRate: 0, maxSkipRate: 0 });
    const dir = await tempDir("find-fix-none");
    try {
      const shas = await buildRepo(dir, scenario.commits);
      const bad = shas.get(scenario.bad)!;
      // The test fails everywhere: nothing fixed it. --verify tests the "fixed" end first.
      const run = await runCli(dir, [
        "run",
        ...scenario.goods.flatMap((g) => ["--good", shas.get(g)!]),
        "--bad",
        bad,
        "--find-fix",
        "--verify",
        "--",
        "sh",
        "-c",
        "exit 1",
      ]);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain(`No fix: ${bad} still fails the test, so no commit in the range fixed it.`);
    } finally {
      await removeDir(dir);
    }
  }, 60_000);
});
