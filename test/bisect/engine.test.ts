/**
 * Behaviour of the bisect engine as a user sees it: how many tests and rounds a search takes,
 * what parallel planning does with running probes, merges, several goods, empty ranges, skips,
 * contradictory verdicts and flaky mode. Everything is driven through `Bisection`, with an
 * oracle that fails exactly on the descendants of the culprit (self included).
 */
import { describe, expect, it } from "vitest";
import { Bisection, learnedFlakyOptions, type BisectStatus, type CommitNode, type FlakyOptions, type TestVerdict } from "../../action/src/bisect/index.js";
import { linearHistory, mulberry32, oracle, revList } from "../support/history.js";
import { matchers } from "../support/matchers.js";
import { asCommitNodes, randomDag, Rng } from "../support/random-dag.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const at = (sha: string): number => Number(sha.slice(1));

interface Run {
  probes: string[];
  status: BisectStatus;
  /** The driver stopped after `limit` probes: the engine did not end. */
  stuck: boolean;
}

/** One probe at a time, like `git bisect run`. */
function drive(b: Bisection, verdict: (sha: string) => TestVerdict, limit = 200): Run {
  const probes: string[] = [];
  for (let [sha] = b.next(); sha !== undefined; [sha] = b.next()) {
    if (probes.length >= limit) return { probes, status: b.status(), stuck: true };
    probes.push(sha);
    b.record(sha, verdict(sha));
  }
  return { probes, status: b.status(), stuck: false };
}

/** Synchronous rounds of up to k probes, each round's verdicts recorded together. */
function rounds(b: Bisection, k: number, verdict: (sha: string) => TestVerdict): { rounds: number; status: BisectStatus } {
  let count = 0;
  for (let batch = b.next(k); batch.length > 0; batch = b.next(k)) {
    expect(batch.length).toBeLessThanOrEqual(k);
    expect(new Set(batch).size).toBe(batch.length);
    if (++count > 40) break;
    for (const sha of batch) b.record(sha, verdict(sha));
  }
  return { rounds: count, status: b.status() };
}

function culprit(sha: string): BisectStatus {
  return { state: "culprit", sha, confidence: 1 };
}

/** ~`count` seeded positions in 1..n, plus both ends and the middle. */
function positions(n: number, count: number, seed: number): number[] {
  const rnd = mulberry32(seed);
  const out = new Set([1, 2, n >> 1, n - 1, n]);
  while (out.size < count + 5) out.add(1 + Math.floor(rnd() * n));
  return [...out].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Graphs

/** g ← four branches of three commits ← octopus merge M ← t1 ← t2 (bad). */
const OCTOPUS: CommitNode[] = [
  { sha: "g", parents: [] },
  ...[1, 2, 3, 4].flatMap((br) => [
    { sha: `x${br}a`, parents: ["g"] },
    { sha: `x${br}b`, parents: [`x${br}a`] },
    { sha: `x${br}c`, parents: [`x${br}b`] },
  ]),
  { sha: "M", parents: ["x1c", "x2c", "x3c", "x4c"] },
  { sha: "t1", parents: ["M"] },
  { sha: "t2", parents: ["t1"] },
];

/**
 * Criss-cross: a1 and b1 fork from g, X = merge(a1, b1) and Y = merge(b1, a1), a2 on X, b2 on Y,
 * M = merge(a2, b2), m1 on M (bad). a2 and b2 have two merge bases, a1 and b1.
 */
const CRISS_CROSS: CommitNode[] = [
  { sha: "g", parents: [] },
  { sha: "a1", parents: ["g"] },
  { sha: "b1", parents: ["g"] },
  { sha: "X", parents: ["a1", "b1"] },
  { sha: "Y", parents: ["b1", "a1"] },
  { sha: "a2", parents: ["X"] },
  { sha: "b2", parents: ["Y"] },
  { sha: "M", parents: ["a2", "b2"] },
  { sha: "m1", parents: ["M"] },
];

/** m0..m20 with a feature branch f1..f5 forked at m5 and merged at m12, and z1..z3 forked at m3, never merged. */
const FEATURE: CommitNode[] = (() => {
  const commits: CommitNode[] = [{ sha: "m0", parents: [] }];
  for (let i = 1; i <= 20; i++) commits.push({ sha: `m${i}`, parents: i === 12 ? ["m11", "f5"] : [`m${i - 1}`] });
  for (let i = 1; i <= 5; i++) commits.push({ sha: `f${i}`, parents: [i === 1 ? "m5" : `f${i - 1}`] });
  for (let i = 1; i <= 3; i++) commits.push({ sha: `z${i}`, parents: [i === 1 ? "m3" : `z${i - 1}`] });
  return commits;
})();

// ---------------------------------------------------------------------------------------------

describe("linear history, N = 1024", () => {
  const N = 1024;
  const commits = linearHistory(N);

  it("finds every culprit position (sampled) in at most 10 tests", () => {
    for (const c of positions(N - 1, 50, 1)) {
      const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] });
      const run = drive(b, (sha) => (at(sha) >= c ? "bad" : "good"));
      expect(run.status, `culprit c${c}`).toEqual(culprit(`c${c}`));
      expect(run.probes.length, `culprit c${c}`).toBeLessThanOrEqual(10);
      expect(b.tested).toBe(run.probes.length);
    }
  });

  it("trusts the bad commit as git does: blames it after 10 tests without testing it", () => {
    const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] });
    const run = drive(b, (sha) => (at(sha) >= N ? "bad" : "good"));
    expect(run.status).toEqual(culprit(`c${N}`));
    expect(run.probes.length).toBeLessThanOrEqual(10);
    expect(run.probes).not.toContain(`c${N}`);
  });

  it("with verifyBad, tests the bad commit before blaming it: 11 tests, only in that case", () => {
    // "The bad commit passes" is a 1025th outcome: 10 yes/no answers cannot tell them all apart.
    const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"], verifyBad: true });
    const run = drive(b, (sha) => (at(sha) >= N ? "bad" : "good"));
    expect(run.status).toEqual(culprit(`c${N}`));
    expect(run.probes).toHaveLength(11);
    expect(run.probes.at(-1)).toBe(`c${N}`);
    const elsewhere = drive(Bisection.create({ commits, bad: `c${N}`, goods: ["c0"], verifyBad: true }), (sha) => (at(sha) >= 700 ? "bad" : "good"));
    expect(elsewhere.probes).not.toContain(`c${N}`);
  });

  it("with verifyBad, a bad commit that passes ends as no-culprit, naming it", () => {
    const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"], verifyBad: true });
    const run = drive(b, () => "good");
    expect(run.status).toMatchObject({ state: "no-culprit", reason: "bad-commit-passes" });
    if (run.status.state === "no-culprit") expect(run.status.message).toMatch(`The bad commit c${N} passes the test`);
    expect(run.probes.length).toBeLessThanOrEqual(11);
  });

  it("with verifyBad, a skipped bad commit ends the check instead of asking for it again", () => {
    const small = linearHistory(2);
    const b = Bisection.create({ commits: small, bad: "c2", goods: ["c0"], verifyBad: true });
    expect(b.next()).toEqual(["c1"]);
    b.record("c1", "good");
    expect(b.next()).toEqual(["c2"]);
    b.record("c2", "skip");
    expect(b.next()).toEqual([]);
    expect(b.status().state).not.toBe("searching");
  });
});

describe("parallel planning", () => {
  const N = 1024;
  const commits = linearHistory(N);
  const verdictFor =
    (c: number) =>
    (sha: string): TestVerdict =>
      at(sha) >= c ? "bad" : "good";

  it("k = 3: at most 5 rounds for every sampled culprit", () => {
    for (const c of positions(N - 1, 30, 2)) {
      const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] });
      const r = rounds(b, 3, verdictFor(c));
      expect(r.status, `culprit c${c}`).toEqual(culprit(`c${c}`));
      expect(r.rounds, `culprit c${c}`).toBeLessThanOrEqual(5);
    }
  });

  it("k = 7: at most 4 rounds for every sampled culprit", () => {
    for (const c of positions(N - 1, 30, 3)) {
      const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] });
      const r = rounds(b, 7, verdictFor(c));
      expect(r.status, `culprit c${c}`).toEqual(culprit(`c${c}`));
      expect(r.rounds, `culprit c${c}`).toBeLessThanOrEqual(4);
    }
  });

  it("k = 3, culprit = the bad commit: at most 5 rounds (trusted), 6 with verifyBad", () => {
    // 4^5 = 1024 answer patterns cannot separate 1024 culprits plus "the bad commit passes".
    const trusted = rounds(Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] }), 3, verdictFor(N));
    expect(trusted.status).toEqual(culprit(`c${N}`));
    expect(trusted.rounds).toBeLessThanOrEqual(5);
    const verified = rounds(Bisection.create({ commits, bad: `c${N}`, goods: ["c0"], verifyBad: true }), 3, verdictFor(N));
    expect(verified.status).toEqual(culprit(`c${N}`));
    expect(verified.rounds).toBeLessThanOrEqual(6);
  });

  it("k = 7, culprit = the bad commit: at most 4 rounds (spare runners can test the bad commit alongside)", () => {
    // 8^4 = 4096 answer patterns are enough for 1024 culprits plus "the bad commit passes": in
    // the last round ({c1023, c1024} left, 7 runners) the bad commit can be tested beside c1023.
    const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"], verifyBad: true });
    const r = rounds(b, 7, verdictFor(N));
    expect(r.status).toEqual(culprit(`c${N}`));
    expect(r.rounds).toBeLessThanOrEqual(4);
  });

  it("a running probe is a divider: next(1, pending) picks the middle of the largest part", () => {
    const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] });
    // Parts: c1..c100 (100) and c101..c1024 (924): the probe halves the second one.
    const [p] = b.next(1, ["c100"]);
    expect(p).toBeDefined();
    expect(p).not.toBe("c100");
    expect(Math.abs(at(p!) - (100 + 462))).toBeLessThanOrEqual(1);

    // Parts 100, 462, 462: the probe halves one of the two large ones.
    const [q] = b.next(1, ["c100", "c562"]);
    expect(q).toBeDefined();
    const mid = at(q!) < 562 ? 100 + 231 : 562 + 231;
    expect(Math.abs(at(q!) - mid)).toBeLessThanOrEqual(1);
  });

  it("next(k, pending) never returns a running probe and fills the other parts evenly", () => {
    const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"] });
    const first = b.next(3);
    expect(first).toHaveLength(3);
    const more = b.next(4, first);
    expect(more).toHaveLength(4);
    for (const p of more) expect(first).not.toContain(p);
    // 7 dividers in 1024 commits: no part is much bigger than 1024 / 8 = 128.
    const cuts = [0, ...[...first, ...more].map(at).sort((x, y) => x - y), N];
    const parts = cuts.slice(1).map((c, i) => c - cuts[i]!);
    expect(Math.max(...parts)).toBeLessThanOrEqual(130);

    const small = Bisection.create({ commits: linearHistory(3), bad: "c3", goods: ["c0"] });
    expect(small.next(1, ["c1", "c2"])).toEqual([]);
    expect(small.status(["c1", "c2"]).state).toBe("searching");
  });
});

describe("merges", () => {
  it("octopus merge: every culprit is found", () => {
    const all = revList(OCTOPUS, "t2", ["g"]);
    expect(all.size).toBe(15);
    for (const c of all) {
      const b = Bisection.create({ commits: OCTOPUS, bad: "t2", goods: ["g"] });
      expect(b.rangeSize).toBe(15);
      const run = drive(b, oracle(OCTOPUS, c));
      expect(run.status, c).toEqual(culprit(c));
      expect(run.probes.length, c).toBeLessThanOrEqual(all.size);
    }
  });

  it("criss-cross merges: every culprit is found", () => {
    for (const c of revList(CRISS_CROSS, "m1", ["g"])) {
      const b = Bisection.create({ commits: CRISS_CROSS, bad: "m1", goods: ["g"] });
      const run = drive(b, oracle(CRISS_CROSS, c));
      expect(run.status, c).toEqual(culprit(c));
    }
  });

  it("criss-cross: a good that is not an ancestor of bad has both merge bases tested first", () => {
    for (const c of ["Y", "b2"]) {
      const b = Bisection.create({ commits: CRISS_CROSS, bad: "b2", goods: ["a2"] });
      expect([...b.mergeBases].sort()).toEqual(["a1", "b1"]);
      const run = drive(b, oracle(CRISS_CROSS, c));
      expect([...run.probes.slice(0, 2)].sort()).toEqual(["a1", "b1"]);
      expect(run.status, c).toEqual(culprit(c));
    }
  });

  it("with runners to spare, the bisection starts beside the merge base", () => {
    const b = Bisection.create({ commits: FEATURE, bad: "m20", goods: ["z3"] });
    expect(b.mergeBases).toEqual(["m3"]);
    const batch = b.next(3);
    expect(batch).toHaveLength(3);
    expect(batch[0]).toBe("m3");
    expect(new Set(batch).size).toBe(3);
  });
});

describe("several goods", () => {
  it("goods on both sides of a merge cut the range; every culprit is found", () => {
    const all = revList(FEATURE, "m20", ["m8", "f3"]);
    expect([...all].sort()).toEqual(["f4", "f5", "m9", "m10", "m11", "m12", "m13", "m14", "m15", "m16", "m17", "m18", "m19", "m20"].sort());
    for (const c of all) {
      const b = Bisection.create({ commits: FEATURE, bad: "m20", goods: ["m8", "f3"] });
      expect(b.rangeSize).toBe(14);
      expect(b.mergeBases).toEqual([]);
      const run = drive(b, oracle(FEATURE, c));
      expect(run.status, c).toEqual(culprit(c));
      expect(run.probes.length, c).toBeLessThanOrEqual(5);
    }
  });

  it("a good off the history of bad whose merge base is below another good needs no extra test", () => {
    // merge-base(m20, z3) = m3, an ancestor of the good m8: git skips it, so do we.
    const b = Bisection.create({ commits: FEATURE, bad: "m20", goods: ["m8", "z3"] });
    expect(b.mergeBases).toEqual([]);
    expect(drive(b, oracle(FEATURE, "f2")).status).toEqual(culprit("f2"));
  });

  it("a good off the history of bad alone: its merge base is tested first", () => {
    const b = Bisection.create({ commits: FEATURE, bad: "m20", goods: ["z3"] });
    const run = drive(b, oracle(FEATURE, "m9"));
    expect(run.probes[0]).toBe("m3");
    expect(run.status).toEqual(culprit("m9"));
  });
});

describe("empty or malformed ranges are errors that name the commits", () => {
  const commits = linearHistory(10);

  it("good is a descendant of bad (swapped)", () => {
    expect(() => Bisection.create({ commits, bad: "c2", goods: ["c7"] })).toThrow(/c7.*c2/);
  });

  it("one of several goods is a descendant of bad", () => {
    expect(() => Bisection.create({ commits, bad: "c5", goods: ["c1", "c9"] })).toThrow(/c9.*c5/);
  });

  it("bad and good are the same commit", () => {
    expect(() => Bisection.create({ commits, bad: "c4", goods: ["c4"] })).toThrow(/c4/);
  });

  it("the bad commit is not in the history", () => {
    expect(() => Bisection.create({ commits, bad: "nope", goods: ["c0"] })).toThrow(/nope/);
  });

  it("no good commit", () => {
    expect(() => Bisection.create({ commits, bad: "c4", goods: [] })).toThrow(/good/);
  });

  it("recording a commit outside the range names it", () => {
    const b = Bisection.create({ commits, bad: "c6", goods: ["c2"] });
    expect(() => b.record("c9", "good")).toThrow(/c9/);
  });
});

describe("skips", () => {
  it("tests a commit outside the range when only that can separate the skipped ones (more decisive than git)", () => {
    // c4 merges c3 (first parent) and c2; c1 is untestable; the culprit is c3. Once c3 fails,
    // c2 is no longer a candidate, but its passing clears c1: git stops at "c1 or c3".
    const commits: CommitNode[] = [
      { sha: "c0", parents: [] },
      { sha: "c1", parents: ["c0"] },
      { sha: "c2", parents: ["c1"] },
      { sha: "c3", parents: ["c1"] },
      { sha: "c4", parents: ["c3", "c2"] },
    ];
    const b = Bisection.create({ commits, bad: "c4", goods: ["c0"] });
    const run = drive(b, oracle(commits, "c3", new Set(["c1"])));
    expect(run.status).toEqual(culprit("c3"));
    expect(run.probes).toContain("c2");
    // When the skipped commit is the culprit, it is the only candidate left: named, not guessed.
    const other = drive(Bisection.create({ commits, bad: "c4", goods: ["c0"] }), oracle(commits, "c1", new Set(["c1"])));
    expect(other.status).toEqual(culprit("c1"));
  });

  it("linear: the answer is the culprit, or every commit between the nearest tested neighbours", () => {
    const n = 12;
    const commits = linearHistory(n);
    const rnd = mulberry32(4);
    for (let trial = 0; trial < 300; trial++) {
      const c = 1 + Math.floor(rnd() * n);
      const skip = new Set<string>();
      const density = rnd();
      for (let i = 1; i < n; i++) if (rnd() < density) skip.add(`c${i}`);
      // Like git: the nearest unskipped commit below the culprit passes, the nearest one at
      // or above it fails, and nothing tells the commits in between apart.
      let lo = c - 1;
      while (lo > 0 && skip.has(`c${lo}`)) lo--;
      let hi = c;
      while (hi < n && skip.has(`c${hi}`)) hi++;
      const expected = Array.from({ length: hi - lo }, (_, i) => `c${lo + 1 + i}`);

      const b = Bisection.create({ commits, bad: `c${n}`, goods: ["c0"] });
      const run = drive(b, oracle(commits, `c${c}`, skip));
      const label = `culprit c${c}, skip ${[...skip].join(" ")}`;
      expect(run.stuck, label).toBe(false);
      if (expected.length === 1) expect(run.status, label).toEqual(culprit(expected[0]!));
      else expect(run.status, label).toEqual({ state: "ambiguous", candidates: matchers.any(Array), reason: "only-skipped-left" });
      if (run.status.state === "ambiguous") {
        expect([...run.status.candidates].sort(), label).toEqual([...expected].sort());
      }
      // A skipped commit is probed once, then left alone.
      for (const s of skip) expect(run.probes.filter((p) => p === s).length, label).toBeLessThanOrEqual(1);
    }
  });

  it("a skipped commit stays a candidate: skipping never shrinks the candidates", () => {
    const commits = linearHistory(16);
    const b = Bisection.create({ commits, bad: "c16", goods: ["c0"] });
    const before = b.status();
    const [p] = b.next();
    b.record(p!, "skip");
    expect(b.status()).toEqual(before);
    expect(b.next()).not.toContain(p);
  });

  it("random DAGs: a culprit is only named when certain, and an ambiguous set holds the culprit", () => {
    const rng = new Rng(5);
    const seen = { trials: 0, merges: 0, octopus: 0, ambiguous: 0, culprits: 0 };
    // 60 histories whose range holds at least two commits.
    for (let trial = 0; seen.trials < 60; trial++) {
      expect(trial).toBeLessThan(120);
      const commits = asCommitNodes(randomDag(rng, { size: rng.int(6, 45) }));
      const bad = commits.at(-1)!.sha;
      const good = "c0";
      const cand = [...revList(commits, bad, [good])];
      if (cand.length < 2) continue;
      seen.trials++;
      const inRange = commits.filter((c) => cand.includes(c.sha));
      if (inRange.some((c) => c.parents.length >= 2)) seen.merges++;
      if (inRange.some((c) => c.parents.length >= 3)) seen.octopus++;
      const truth = rng.pick(cand);
      const skip = new Set(cand.filter((s) => s !== bad && rng.chance(0.25)));
      const label = `trial ${trial}: culprit ${truth}, skip ${[...skip].join(" ")}`;

      const clean = drive(Bisection.create({ commits, bad, goods: [good] }), oracle(commits, truth));
      expect(clean.status, label).toEqual(culprit(truth));

      const run = drive(Bisection.create({ commits, bad, goods: [good] }), oracle(commits, truth, skip));
      expect(run.stuck, label).toBe(false);
      if (run.status.state === "culprit") {
        seen.culprits++;
        expect(run.status.sha, label).toBe(truth);
      } else {
        expect(run.status.state, label).toBe("ambiguous");
        if (run.status.state === "ambiguous") {
          seen.ambiguous++;
          expect(run.status.reason, label).toBe("only-skipped-left");
          expect(run.status.candidates, label).toContain(truth);
          // Everything left is skipped, except the lowest commit known to fail.
          expect(run.status.candidates.filter((s) => !skip.has(s)).length, label).toBeLessThanOrEqual(1);
        }
      }
      if (!skip.has(truth)) expect(run.status.state === "culprit" || run.status.state === "ambiguous", label).toBe(true);
    }
    // Guards against a generator change that would make the checks above vacuous.
    expect(seen.merges).toBeGreaterThan(40);
    expect(seen.octopus).toBeGreaterThan(12);
    expect(seen.ambiguous).toBeGreaterThan(12);
    expect(seen.culprits).toBeGreaterThan(20);
  });

  it("a bad commit whose verification is skipped is not probed again and again", () => {
    // The bad commit is tested before it is blamed; when that test cannot run (exit 125), the
    // search must end (ambiguous or blaming it as the user said), not ask for it for ever.
    const commits = linearHistory(2);
    const b = Bisection.create({ commits, bad: "c2", goods: ["c0"] });
    const run = drive(b, (sha) => (sha === "c2" ? "skip" : "good"), 20);
    expect(run.probes.filter((p) => p === "c2").length).toBeLessThanOrEqual(1);
    expect(run.stuck).toBe(false);
    expect(["ambiguous", "culprit"]).toContain(run.status.state);
  });
});

describe("contradictory verdicts", () => {
  const commits = linearHistory(10);

  it("a good commit above a bad one is an error that suggests --flaky", () => {
    const b = Bisection.create({ commits, bad: "c10", goods: ["c0"] });
    b.record("c5", "good");
    b.record("c3", "bad");
    const status = b.status();
    expect(status).toMatchObject({ state: "error", reason: "contradiction" });
    if (status.state === "error") expect(status.message).toMatch(/--flaky/);
    expect(b.next()).toEqual([]);
  });

  it("verdicts that leave no candidate are an error that suggests --flaky", () => {
    const b = Bisection.create({ commits, bad: "c10", goods: ["c0"] });
    b.record("c5", "bad");
    b.record("c7", "good");
    const status = b.status();
    expect(status).toMatchObject({ state: "error", reason: "contradiction" });
    if (status.state === "error") expect(status.message).toMatch(/--flaky/);
  });
});

describe("flaky mode", () => {
  const graphs: [string, CommitNode[], string, string[]][] = [
    ["linear 64", linearHistory(64), "c64", ["c0"]],
    ["octopus", OCTOPUS, "t2", ["g"]],
    ["criss-cross", CRISS_CROSS, "m1", ["g"]],
    ["several goods", FEATURE, "m20", ["m8", "f3"]],
  ];

  it.each(graphs)("noise-free verdicts give the deterministic culprit: %s", (_name, commits, bad, goods) => {
    for (const c of revList(commits, bad, goods)) {
      const det = drive(Bisection.create({ commits, bad, goods }), oracle(commits, c));
      const flaky = drive(Bisection.create({ commits, bad, goods, flaky: true }), oracle(commits, c));
      expect(det.status, c).toEqual(culprit(c));
      expect(flaky.status, c).toMatchObject({ state: "culprit", sha: c });
      if (flaky.status.state === "culprit") expect(flaky.status.confidence).toBeGreaterThanOrEqual(0.99);
    }
  });

  it("false failures at f = 0.1: the culprit is found in most of 50 seeded runs, at confidence >= 0.99", () => {
    const N = 1024;
    const commits = linearHistory(N);
    let found = 0;
    let tests = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const rnd = mulberry32(1000 + seed);
      const c = 1 + Math.floor(rnd() * N);
      const b = Bisection.create({ commits, bad: `c${N}`, goods: ["c0"], flaky: true });
      const run = drive(b, (sha) => (at(sha) >= c || rnd() < 0.1 ? "bad" : "good"));
      expect(run.stuck, `seed ${seed}`).toBe(false);
      tests += run.probes.length;
      if (run.status.state === "culprit") {
        expect(run.status.confidence, `seed ${seed}`).toBeGreaterThanOrEqual(0.99);
        if (run.status.sha === `c${c}`) found++;
      }
    }
    expect(found).toBeGreaterThanOrEqual(47);
    expect(tests / 50).toBeLessThan(30);
  });

  it("a bad commit that passes gives no-culprit", () => {
    for (const [, commits, bad, goods] of graphs) {
      const b = Bisection.create({ commits, bad, goods, flaky: true });
      const run = drive(b, () => "good");
      expect(run.status, bad).toMatchObject({ state: "no-culprit", reason: "flake", message: matchers.stringMatching(/^The failure looks like a flake/) });
      expect(run.probes).toContain(bad);
    }
  });
});

describe("why a search ends without a culprit: the reason the result document carries", () => {
  it("a failing merge base: error, merge-base-fails, naming it", () => {
    const b = Bisection.create({ commits: FEATURE, bad: "m20", goods: ["z3"] });
    expect(b.next()).toEqual(["m3"]);
    b.record("m3", "bad");
    expect(b.status()).toMatchObject({
      state: "error",
      reason: "merge-base-fails",
      message: matchers.stringMatching(/^The merge base m3 of the bad commit m20/),
    });
    expect(b.next()).toEqual([]);
  });

  it("flaky mode out of tests: ambiguous, out-of-tests, with the likeliest candidates", () => {
    const b = Bisection.create({ commits: linearHistory(64), bad: "c64", goods: ["c0"], flaky: { maxTests: 3 } });
    let tests = 0;
    const run = drive(b, () => (tests++ % 2 === 0 ? "bad" : "good"));
    expect(run.probes).toHaveLength(3);
    expect(run.status).toMatchObject({ state: "ambiguous", reason: "out-of-tests" });
    if (run.status.state === "ambiguous") expect(run.status.candidates.length).toBeGreaterThan(1);
  });

  it("flaky mode, a verdict impossible under the flake model: error, contradiction", () => {
    // With no prior on "no culprit" and passes trusted, the bad commit passing leaves no hypothesis.
    const b = Bisection.create({ commits: linearHistory(8), bad: "c8", goods: ["c0"], flaky: { noCulpritPrior: 0 } });
    b.record("c8", "good");
    expect(b.status()).toMatchObject({ state: "error", reason: "contradiction", message: matchers.stringMatching(/impossible under the flake model/) });
  });
});

// ---------------------------------------------------------------------------------------------
// The learned flake rate (issue 15)

describe("the flake rate a run measured, and a prior learned from it", () => {
  it("counts the tests of commits the culprit is not in, and those of them that failed, merged branches included", () => {
    // c0 ← c1 ← c2 ← m(c2, b2) ← c4; b1 ← b2 branch off c1: the culprit c2 is not in b1, b2.
    const commits: CommitNode[] = [
      { sha: "c0", parents: [] },
      { sha: "c1", parents: ["c0"] },
      { sha: "c2", parents: ["c1"] },
      { sha: "b1", parents: ["c1"] },
      { sha: "b2", parents: ["b1"] },
      { sha: "m3", parents: ["c2", "b2"] },
      { sha: "c4", parents: ["m3"] },
    ];
    const b = Bisection.create({ commits, bad: "c4", goods: ["c0"], flaky: true });
    const seen: { sha: string; verdict: TestVerdict }[] = [
      { sha: "c1", verdict: "good" },
      { sha: "b2", verdict: "bad" }, // a false failure: c2 is not in b2
      { sha: "b1", verdict: "good" },
      { sha: "m3", verdict: "bad" }, // holds the culprit: not counted
      { sha: "c2", verdict: "bad" },
      { sha: "c1", verdict: "bad" }, // a false failure again
      { sha: "b1", verdict: "skip" }, // says nothing
    ];
    expect(b.flakeEvidence(seen, "c2")).toEqual({ cleanTests: 4, falseFailures: 2 });
  });

  it("puts the prior where the history says f is, broad after a short history and sharp after a long one", () => {
    const mean = (o: FlakyOptions) => o.flakeRates.reduce((sum, f, i) => sum + f * o.flakeRatePrior[i]!, 0);
    const peak = (o: FlakyOptions) => Math.max(...o.flakeRatePrior);
    const short = learnedFlakyOptions(1024, { cleanTests: 20, falseFailures: 6 });
    const long = learnedFlakyOptions(1024, { cleanTests: 300, falseFailures: 90 });
    const rare = learnedFlakyOptions(1024, { cleanTests: 300, falseFailures: 15 });
    expect(mean(long)).toBeCloseTo(0.3, 1);
    expect(mean(rare)).toBeCloseTo(0.05, 1);
    expect(peak(long)).toBeGreaterThan(peak(short));
    for (const o of [short, long, rare]) expect(o.flakeRatePrior.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 9);
    // Probes lean to higher rates than the prior (as the defaults do): never lower.
    expect(mean({ ...long, flakeRatePrior: long.probeFlakeRatePrior! })).toBeGreaterThanOrEqual(mean(long));
  });

  it("with a learned prior, finds the culprit under a flaky test a prior-less search misses more often (f = 0.3)", () => {
    const n = 256;
    const commits = linearHistory(n);
    const random = mulberry32(77);
    let withPrior = 0;
    let without = 0;
    for (let t = 0; t < 150; t++) {
      const culprit = 1 + Math.floor(random() * n);
      for (const history of [undefined, { cleanTests: 120, falseFailures: 36 }]) {
        const b = Bisection.create({ commits, bad: `c${n}`, goods: ["c0"], flaky: true, ...(history ? { flakeHistory: history } : {}) });
        const run = drive(b, (sha) => (at(sha) >= culprit || random() < 0.3 ? "bad" : "good"));
        const right = run.status.state === "culprit" && run.status.sha === `c${culprit}`;
        if (right && history) withPrior++;
        if (right && !history) without++;
      }
    }
    expect(withPrior).toBeGreaterThan(without);
  });
});
