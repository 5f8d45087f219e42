/**
 * Port of git's t/t6030-bisect-porcelain.sh (git/git) to the pure engine.
 *
 * The history is the one the git script builds, with readable ids as shas:
 *
 *      P1-P2-P3-P4-P5-P6-P7        ("parallel": P4 = merge(P3, H4), P7 = merge(P6, H7))
 *     /        /        /
 *   H1-H2-H3-H4-H5-H6-H7
 *              \  \     \
 *               S5-A     \         (A = merge(S5, H5))
 *                \        \
 *                 S6-S7----B       (B = merge(S7, H7))
 *
 * git's tests either type verdicts by hand or run a script that greps a file. Both are turned
 * into an oracle: a culprit (bad iff the culprit is an ancestor of the probe, self included)
 * plus a skip set (exit 125). Only the final answers are compared with git ("X is the first bad
 * commit", "could be any of", the merge-base messages); our probe order may differ from git's
 * where min(w, N − w) ties. Where the git script pins a probe and that probe is the unique
 * maximiser of min(w, N − w), we pin it too; where it is a tie we check that ours is one of the
 * tied commits. Every probe inside the range is also checked against a reference model to
 * maximise min(w, N − w) over the untested, unskipped candidates other than the bad commit.
 *
 * Not ported, and why:
 * - usage errors, junk revs, "start" argument order, BISECT_START / BISECT_* files, reset,
 *   branches, detached HEAD, worktrees, annotated tags, "bisect state output": porcelain and
 *   ref handling; the engine takes resolved shas.
 * - "bisect starts with only one bad" / "does not start with only one good": git waits for the
 *   missing side; the engine needs both up front (a missing good is an error, see engine.test).
 * - `bisect run` arguments, stdout/stderr, exit codes 125/126/127/128/255, missing or
 *   non-executable scripts, "unable to verify on good": exit-code mapping is the runner's job,
 *   the engine only sees good/bad/skip.
 * - bisect log / replay (also CRLF logs): the CLI records and replays verdicts.
 * - old/new and custom terms: naming only; the engine's verdicts are good/bad/skip.
 * - pathspec ("restricting bisection on one dir", "one dir and a file", "bad path
 *   arguments"): the git layer lists the commits that touch the paths; the engine sees no paths.
 * - "skipping away from skipped commit": an exact replay of git's PRNG skip-away (P4 → H7 →
 *   P3). The engine keeps using the best non-skipped probe instead; ported as a weaker check
 *   (skipped commits are not probed again, stay candidates, and the answers are right).
 * - --no-checkout, bare repositories, broken trees, "damage boundary": checkout and object
 *   store behaviour.
 * - "optimized merge base checks" (the BISECT_ANCESTORS_OK cache): state on disk; ported as
 *   "a fresh bisection with an extra good that is not an ancestor of bad tests its merge base".
 */
import { describe, expect, it } from "vitest";
import { Bisection, type BisectStatus, type CommitNode, type TestVerdict } from "../../action/src/bisect/index.js";
import { ancestry, oracle, revList } from "../support/history.js";
import { matchers } from "../support/matchers.js";

function commit(sha: string, ...parents: string[]): CommitNode {
  return { sha, parents };
}

const HISTORY: CommitNode[] = [
  commit("H1"),
  commit("H2", "H1"),
  commit("H3", "H2"),
  commit("H4", "H3"),
  commit("H5", "H4"),
  commit("H6", "H5"),
  commit("H7", "H6"),
  commit("S5", "H4"),
  commit("S6", "S5"),
  commit("S7", "S6"),
  commit("A", "S5", "H5"),
  commit("B", "S7", "H7"),
  commit("P1", "H1"),
  commit("P2", "P1"),
  commit("P3", "P2"),
  commit("P4", "P3", "H4"),
  commit("P5", "P4"),
  commit("P6", "P5"),
  commit("P7", "P6", "H7"),
];

/** Ancestors of `sha` in the full history, itself included (`firstParent`: first parents only). */
const ancestors = ancestry(HISTORY);

/**
 * A reference of what the deterministic engine must do: candidates are the range; a good probe
 * removes its ancestors, a bad probe keeps only its ancestors. `bestScore` is git's
 * max min(w, N − w) over the commits that may be probed (untested, unskipped, not the bad one).
 */
class Reference {
  readonly alive: Set<string>;
  private readonly done = new Set<string>();

  constructor(
    range: Set<string>,
    private readonly bad: string,
    private readonly firstParent = false,
  ) {
    this.alive = new Set(range);
  }

  record(sha: string, verdict: TestVerdict): void {
    this.done.add(sha);
    if (verdict === "skip" || !this.alive.has(sha)) return;
    const below = ancestors(sha, this.firstParent);
    for (const c of [...this.alive]) {
      if ((verdict === "good") === below.has(c)) this.alive.delete(c);
    }
  }

  score(sha: string): number {
    const below = ancestors(sha, this.firstParent);
    const w = [...this.alive].filter((c) => below.has(c)).length;
    return Math.min(w, this.alive.size - w);
  }

  bestScore(): number {
    let best = -1;
    for (const c of this.alive) if (c !== this.bad && !this.done.has(c)) best = Math.max(best, this.score(c));
    return best;
  }
}

interface Run {
  probes: string[];
  status: BisectStatus;
}

/**
 * Drives a bisection one probe at a time, like `git bisect run`, and checks each probe inside
 * the range against the reference's best min(w, N − w).
 */
function drive(b: Bisection, verdict: (sha: string) => TestVerdict, ref?: Reference): Run {
  const probes: string[] = [];
  for (let [sha] = b.next(); sha !== undefined; [sha] = b.next()) {
    probes.push(sha);
    if (probes.length > 50) throw new Error(`no end after ${probes.join(", ")}`);
    if (ref && ref.alive.has(sha) && sha !== b.bad) expect(ref.score(sha), `probe ${sha}`).toBe(ref.bestScore());
    const v = verdict(sha);
    ref?.record(sha, v);
    b.record(sha, v);
  }
  return { probes, status: b.status() };
}

function start(bad: string, goods: string[], firstParent = false): { b: Bisection; ref: Reference } {
  const b = Bisection.create({ commits: HISTORY, bad, goods, firstParent });
  return { b, ref: new Reference(revList(HISTORY, bad, goods, firstParent), bad, firstParent) };
}

function sorted(xs: Iterable<string>): string[] {
  return [...xs].sort();
}

function culprit(sha: string): BisectStatus {
  return { state: "culprit", sha, confidence: 1 };
}

describe("t6030 port: linear history H1..H7 with skips", () => {
  it("bisect skip: successful result (start H4 H1, skip H3, H2 bad → H2)", () => {
    const { b, ref } = start("H4", ["H1"]);
    expect(b.rangeSize).toBe(3);
    const run = drive(b, oracle(HISTORY, "H2", ["H3"]), ref);
    expect(run.status).toEqual(culprit("H2"));
    expect(run.probes).toContain("H3");
  });

  it("bisect skip: cannot tell between 3 commits (skip H3 and H2 → any of H2 H3 H4)", () => {
    for (const truth of ["H2", "H3", "H4"]) {
      const { b, ref } = start("H4", ["H1"]);
      const run = drive(b, oracle(HISTORY, truth, ["H2", "H3"]), ref);
      expect(run.status.state, truth).toBe("ambiguous");
      if (run.status.state === "ambiguous") expect(sorted(run.status.candidates)).toEqual(["H2", "H3", "H4"]);
    }
  });

  it("bisect skip: cannot tell between 2 commits (skip H3, H2 good → any of H3 H4)", () => {
    for (const truth of ["H3", "H4"]) {
      const { b, ref } = start("H4", ["H1"]);
      const run = drive(b, oracle(HISTORY, truth, ["H3"]), ref);
      expect(run.status.state, truth).toBe("ambiguous");
      if (run.status.state === "ambiguous") expect(sorted(run.status.candidates)).toEqual(["H3", "H4"]);
      expect(run.probes).toContain("H2");
    }
  });

  it("bisect skip: with commit both bad and skipped (H4 skipped and bad, skip H3, H2 good → any of H3 H4)", () => {
    for (const truth of ["H3", "H4"]) {
      const { b, ref } = start("H4", ["H1"]);
      b.record("H4", "skip");
      ref.record("H4", "skip");
      const run = drive(b, oracle(HISTORY, truth, ["H3", "H4"]), ref);
      expect(run.status.state, truth).toBe("ambiguous");
      if (run.status.state === "ambiguous") expect(sorted(run.status.candidates)).toEqual(["H3", "H4"]);
    }
  });

  it('"git bisect run" simple case (grep Another → H3)', () => {
    const { b, ref } = start("H4", ["H1"]);
    expect(drive(b, oracle(HISTORY, "H3"), ref).status).toEqual(culprit("H3"));
  });

  it('"git bisect run" with more complex "git bisect start" (grep Ciao → H4, the bad commit)', () => {
    const { b, ref } = start("H4", ["H1"]);
    const run = drive(b, oracle(HISTORY, "H4"), ref);
    expect(run.status).toEqual(culprit("H4"));
  });

  it("bisect skip: add line and then a new test (start H5 H1, skip H3, H4 good → H5)", () => {
    const { b, ref } = start("H5", ["H1"]);
    const run = drive(b, oracle(HISTORY, "H5", ["H3"]), ref);
    expect(run.status).toEqual(culprit("H5"));
  });

  it("bisect run & skip: cannot tell between 2 (skip H4, culprit H5 → any of H4 H5)", () => {
    const { b, ref } = start("H6", ["H1"]);
    const run = drive(b, oracle(HISTORY, "H5", ["H4"]), ref);
    expect(run.status.state).toBe("ambiguous");
    if (run.status.state === "ambiguous") expect(sorted(run.status.candidates)).toEqual(["H4", "H5"]);
  });

  it("bisect run & skip: find first bad (skip H2 H3 H4, culprit H6 → H6)", () => {
    const { b, ref } = start("H7", ["H1"]);
    const run = drive(b, oracle(HISTORY, "H6", ["H2", "H3", "H4"]), ref);
    expect(run.status).toEqual(culprit("H6"));
  });

  it("bisect skip only one range (skip H1..H5 → probe H6, bad → could be any of)", () => {
    const { b } = start("H7", ["H1"]);
    for (const s of ["H2", "H3", "H4", "H5"]) b.record(s, "skip");
    expect(b.next()).toEqual(["H6"]);
    b.record("H6", "bad");
    expect(b.next()).toEqual([]);
    const status = b.status();
    expect(status.state).toBe("ambiguous");
    if (status.state === "ambiguous") expect(sorted(status.candidates)).toEqual(["H2", "H3", "H4", "H5", "H6"]);
  });

  it("bisect skip many ranges (first probe H4; skip H2 H2.. ..H5 → probe H6, bad → could be any of)", () => {
    const { b } = start("H7", ["H1"]);
    // Range H2..H7 (N = 6): H4 is the only commit with w = 3.
    expect(b.next()).toEqual(["H4"]);
    for (const s of ["H2", "H3", "H4", "H5"]) b.record(s, "skip");
    expect(b.next()).toEqual(["H6"]);
    b.record("H6", "bad");
    const status = b.status();
    expect(status.state).toBe("ambiguous");
    if (status.state === "ambiguous") expect(sorted(status.candidates)).toEqual(["H2", "H3", "H4", "H5", "H6"]);
  });

  it("bisect errors out if bad and good are mistaken (start H2 H4)", () => {
    expect(() => Bisection.create({ commits: HISTORY, bad: "H2", goods: ["H4"] })).toThrow(/H4.*H2|H2.*H4/);
  });

  it('bisect does not create a "bisect" branch (H4 good, then H6 or its tie H5, good → H7)', () => {
    const { b, ref } = start("H7", ["H1"]);
    expect(b.next()).toEqual(["H4"]);
    b.record("H4", "good");
    ref.record("H4", "good");
    // git checks out H6; H5 ties with it on min(w, N − w) = 1 in {H5, H6, H7}.
    expect(["H5", "H6"]).toContain(b.next()[0]);
    const run = drive(b, oracle(HISTORY, "H7"), ref);
    expect(run.status).toEqual(culprit("H7"));
  });

  it("bisect log: successful result (start H4 H2, H3 good → H4)", () => {
    const { b, ref } = start("H4", ["H2"]);
    expect(b.next()).toEqual(["H3"]);
    expect(drive(b, oracle(HISTORY, "H4"), ref).status).toEqual(culprit("H4"));
  });

  it("bisect log: only skip commits left (start H4 H2, skip H3 → possible first bad H4, H3)", () => {
    const { b, ref } = start("H4", ["H2"]);
    const run = drive(b, oracle(HISTORY, "H4", ["H3"]), ref);
    expect(run.probes).toEqual(["H3"]);
    expect(run.status.state).toBe("ambiguous");
    if (run.status.state === "ambiguous") expect(sorted(run.status.candidates)).toEqual(["H3", "H4"]);
  });
});

describe("t6030 port: good and bad on sibling branches (merge bases)", () => {
  it("good merge base when good and bad are siblings (start H7 S7: test H4, good → H6)", () => {
    for (const truth of ["H5", "H6", "H7"]) {
      const { b, ref } = start("H7", ["S7"]);
      expect(b.mergeBases).toEqual(["H4"]);
      expect(b.next()).toEqual(["H4"]);
      expect(b.status().state).toBe("searching");
      b.record("H4", "good");
      const next = b.next();
      // git checks out H6; H5 ties with it on min(w, N − w) in {H5, H6, H7}.
      expect(["H5", "H6"]).toContain(next[0]);
      const run = drive(b, oracle(HISTORY, truth), ref);
      expect(run.probes).not.toContain("H4");
      expect(run.status, truth).toEqual(culprit(truth));
      expect(b.warnings).toEqual([]);
    }
  });

  it("skipped merge base when good and bad are siblings (start S7 H7: skip H4 → warning, then S6)", () => {
    const { b, ref } = start("S7", ["H7"]);
    expect(b.next()).toEqual(["H4"]);
    b.record("H4", "skip");
    expect(b.warnings).toHaveLength(1);
    expect(b.warnings[0]).toMatch(/H4/);
    // git checks out S6; S5 ties with it on min(w, N − w) in {S5, S6, S7}.
    expect(["S5", "S6"]).toContain(b.next()[0]);
    const run = drive(b, oracle(HISTORY, "S6"), ref);
    expect(run.status).toEqual(culprit("S6"));
  });

  it("bad merge base when good and bad are siblings (start H7 S7: H4 bad → fixed between H4 and S7)", () => {
    const { b } = start("H7", ["S7"]);
    expect(b.next()).toEqual(["H4"]);
    b.record("H4", "bad");
    const status = b.status();
    expect(status.state).toBe("error");
    if (status.state === "error") {
      expect(status.message).toMatch(/merge base H4/);
      expect(status.message).toMatch(/fixed between H4 and/);
      expect(status.message).toMatch(/S7/);
    }
    expect(b.next()).toEqual([]);
  });

  it("many merge bases creation: A and B have the two merge bases H5 and S5", () => {
    const { b } = start("B", ["A"]);
    expect(sorted(b.mergeBases)).toEqual(["H5", "S5"]);
  });

  it("good merge bases when good and bad are siblings (start B A: both H5 and S5 are tested first)", () => {
    for (const truth of ["S6", "S7", "H6", "H7", "B"]) {
      const { b, ref } = start("B", ["A"]);
      const first = b.next();
      expect(first).toHaveLength(1);
      expect(["H5", "S5"]).toContain(first[0]);
      b.record(first[0]!, "good");
      const second = b.next();
      expect(second).toEqual([first[0] === "H5" ? "S5" : "H5"]);
      b.record(second[0]!, "good");
      const run = drive(b, oracle(HISTORY, truth), ref);
      expect(run.probes.filter((p) => p === "H5" || p === "S5")).toEqual([]);
      expect(run.status, truth).toEqual(culprit(truth));
    }
  });

  it("optimized merge base checks (H4 good, H6 bad, then good A → merge base H5 must be tested)", () => {
    const { b } = start("H7", ["S7"]);
    expect(b.next()).toEqual(["H4"]);
    b.record("H4", "good");
    // git's next probe is H6, which the user marks bad; then `git bisect good A` restarts the
    // ancestry check. H4 is an ancestor of H5, so H5 is the only merge base left to test.
    const again = Bisection.create({ commits: HISTORY, bad: "H6", goods: ["S7", "A"] });
    expect(again.mergeBases).toEqual(["H5"]);
    expect(again.next()).toEqual(["H5"]);
  });
});

describe("t6030 port: --first-parent", () => {
  it('"git bisect run --first-parent" simple case (start B H4, grep line → the merge B)', () => {
    const chain = revList(HISTORY, "B", ["H4"], true);
    expect(sorted(chain)).toEqual(["B", "S5", "S6", "S7"]);
    const { b, ref } = start("B", ["H4"], true);
    expect(b.rangeSize).toBe(4);
    // The script exits -1 (abort) off the first-parent chain; "line" is in hello from H5 on.
    const run = drive(
      b,
      (sha) => {
        if (!chain.has(sha)) throw new Error(`probe ${sha} is off the first-parent chain`);
        return ancestors(sha).has("H5") ? "bad" : "good";
      },
      ref,
    );
    expect(run.status).toEqual(culprit("B"));
  });

  it("without --first-parent the same script finds H5, the commit the merge brought in", () => {
    const { b, ref } = start("B", ["H4"]);
    expect(drive(b, oracle(HISTORY, "H5"), ref).status).toEqual(culprit("H5"));
  });
});

describe('t6030 port: the "parallel" branch', () => {
  it('"git bisect bad HEAD" behaves as "git bisect bad" (start P7 H1, P4 good, H7 bad → H6)', () => {
    const { b, ref } = start("P7", ["H1"]);
    expect(b.rangeSize).toBe(13);
    // git checks out P4 (w = 7 of 13); H7 (w = 6) ties with it.
    expect(["P4", "H7"]).toContain(b.next()[0]);
    b.record("P4", "good");
    ref.record("P4", "good");
    // Left: H5 H6 H7 P5 P6 P7; H7 is the only commit with w = 3.
    expect(b.next()).toEqual(["H7"]);
    b.record("H7", "bad");
    ref.record("H7", "bad");
    // git checks out H6; H5 ties with it in {H5, H6, H7}.
    expect(["H5", "H6"]).toContain(b.next()[0]);
  });

  it("skipping away from skipped commit (weaker than git's PRNG replay)", () => {
    const { b, ref } = start("P7", ["H1"]);
    const first = b.next()[0]!;
    expect(["P4", "H7"]).toContain(first);
    b.record(first, "skip");
    ref.record(first, "skip");
    const second = b.next()[0]!;
    expect(second).toBe(first === "P4" ? "H7" : "P4");
    b.record(second, "skip");
    ref.record(second, "skip");
    const third = b.next()[0]!;
    expect(["P4", "H7", "P7"]).not.toContain(third);
    expect(ref.alive.has(third)).toBe(true);
  });

  it("answers with P4 and H7 skipped: culprit P5 → any of P4 P5; P1 → P1; H7 → any of H7 P7", () => {
    const cases: [string, string[]][] = [
      ["P5", ["P4", "P5"]],
      ["P1", ["P1"]],
      ["H7", ["H7", "P7"]],
      ["H3", ["H3"]],
    ];
    for (const [truth, expected] of cases) {
      const { b, ref } = start("P7", ["H1"]);
      const run = drive(b, oracle(HISTORY, truth, ["P4", "H7"]), ref);
      if (expected.length === 1) expect(run.status, truth).toEqual(culprit(expected[0]!));
      else expect(run.status, truth).toEqual({ state: "ambiguous", candidates: matchers.any(Array), reason: "only-skipped-left" });
      if (run.status.state === "ambiguous") expect(sorted(run.status.candidates), truth).toEqual(expected);
    }
  });

  it("every culprit of P7 ^H1 is found with no skips", () => {
    for (const truth of revList(HISTORY, "P7", ["H1"])) {
      const { b, ref } = start("P7", ["H1"]);
      expect(drive(b, oracle(HISTORY, truth), ref).status, truth).toEqual(culprit(truth));
    }
  });
});
