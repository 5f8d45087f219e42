/** The runner's two plans: bisecting (the engine chooses) and probe mode (exactly the commits given). */
import { describe, expect, it } from "vitest";
import { Bisection } from "../../action/src/bisect/index.js";
import { BisectPlan, ProbeListPlan, type ProbePlan } from "../../action/src/runner/probe-plan.js";
import { linearHistory } from "../support/history.js";

describe("ProbeListPlan (probe mode)", () => {
  it("hands out each given commit once, in order, as many as there are free worktrees", () => {
    const plan: ProbePlan = new ProbeListPlan(["c4", "c8", "c4", "c12", "c16"]);
    expect(plan.next(0, [])).toEqual([]);
    expect(plan.next(-1, [])).toEqual([]);
    expect(plan.next(3, [])).toEqual(["c4", "c8", "c12"]);
    expect(plan.next(3, ["c4"])).toEqual(["c16"]);
    expect(plan.next(3, [])).toEqual([]);
  });

  it("is over only when every commit is handed out, none is running and no retry waits", () => {
    const plan: ProbePlan = new ProbeListPlan(["c4", "c8"]);
    expect(plan.isOver([], false)).toBe(false);
    plan.next(2, []);
    expect(plan.isOver(["c8"], false)).toBe(false);
    expect(plan.isOver([], true)).toBe(false);
    expect(plan.isOver([], false)).toBe(true);
  });

  it("never stops a running test: every verdict was asked for", () => {
    const plan: ProbePlan = new ProbeListPlan(["c4"]);
    expect(plan.mayStop("c4")).toBe(false);
  });

  it("knows nothing of the range: always searching, no candidates counted, no merge base, no warning", () => {
    const plan: ProbePlan = new ProbeListPlan(["c4", "c8", "c12"]);
    expect(plan.status()).toEqual({ state: "searching", candidates: 0, estimatedTests: 3 });
    plan.next(2, []);
    plan.record("c4", "bad");
    plan.record("c8", "good"); // contradicts c4 in a linear history: not probe mode's business
    expect(plan.status(["c8"])).toEqual({ state: "searching", candidates: 0, estimatedTests: 2 });
    expect(plan.isMergeBase("c4")).toBe(false);
    expect(plan.warnings).toEqual([]);
  });
});

describe("BisectPlan", () => {
  it("asks the engine for probes, counting running ones as dividers, and is over at its verdict", () => {
    const bisection = Bisection.create({ commits: linearHistory(16), bad: "c16", goods: ["c0"] });
    const plan: ProbePlan = new BisectPlan(bisection);
    const first = plan.next(3, []);
    expect(first).toEqual(Bisection.create({ commits: linearHistory(16), bad: "c16", goods: ["c0"] }).next(3, []));
    const beside = plan.next(1, first);
    expect(beside).toHaveLength(1);
    expect(first).not.toContain(beside[0]);
    expect(plan.isOver(first, false)).toBe(false);
    for (let i = 1; i <= 15; i++) bisection.record(`c${i}`, i >= 9 ? "bad" : "good");
    expect(plan.isOver([], false)).toBe(true);
  });

  it("may stop a running test whose verdict no longer matters", () => {
    const bisection = Bisection.create({ commits: linearHistory(16), bad: "c16", goods: ["c0"] });
    const plan: ProbePlan = new BisectPlan(bisection);
    expect(plan.mayStop("c4")).toBe(false);
    bisection.record("c8", "good"); // c4 is an ancestor of a good commit now
    expect(plan.mayStop("c4")).toBe(true);
    expect(plan.mayStop("c12")).toBe(false);
  });
});
