/**
 * The fan-out's parts on their own: reading the range's graph from the compare API (on the
 * GitHub double, whose compare route is checked against GitHub's OpenAPI description and answers
 * from a real git repository), and planning a round from recorded verdicts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredProbe } from "../../../app/src/store/store.js";
import { commitFiles } from "../../../app/src/github/commit-files.js";
import { fanOutResult, fanOutState, planRound, readRangeGraph, roundProgress, type RangeGraph } from "../../../app/src/worker/fan-out.js";
import { INSTALLATION_ID, OWNER, REPO, startHarness, type Harness } from "../../support/app-harness.js";
import { jobOptions } from "../../support/jobs.js";
import { job as jobRow } from "../messages/fixtures.js";

const COMPARE = "GET /repos/{owner}/{repo}/compare/{basehead}";

describe("the range's graph from the compare API", () => {
  let h: Harness;
  beforeAll(async () => {
    // makeAppRepo: root ← v1.0 ← c1 … c230 ← merge(feature: f1, f2 forked at v1.0).
    h = await startHarness({ repo: { commits: 230 } });
  }, 180_000);
  afterAll(() => h?.close());

  it("reads every commit of good...bad with its parents, 100 a page, and counts the calls", async () => {
    const octokit = await h.server.app.probot!.auth(INSTALLATION_ID);
    const { sha } = h.repo;
    const before = h.double.callCounts()[COMPARE] ?? 0;
    const { commits, apiCalls } = await readRangeGraph(octokit, { owner: OWNER, repo: REPO }, [sha["v1.0"]!], sha.main!);
    // c1 … c230, f1, f2 and the merge: 233 commits, three pages.
    expect(commits).toHaveLength(233);
    expect(apiCalls).toBe(3);
    expect((h.double.callCounts()[COMPARE] ?? 0) - before).toBe(3);
    const bySha = new Map(commits.map(([s, ...parents]) => [s, parents]));
    expect(bySha.get(sha.mergeCommit)).toEqual([sha.c230, sha.f2]);
    expect(bySha.get(sha.c1)).toEqual([sha["v1.0"]]);
    expect(bySha.get(sha.f1)).toEqual([sha["v1.0"]]);
  });

  it("the files a commit changed, against its first parent (a merge's are its branch's)", async () => {
    const octokit = await h.server.app.probot!.auth(INSTALLATION_ID);
    const { sha } = h.repo;
    const where = { owner: OWNER, repo: REPO };
    expect(await commitFiles(octokit, where, sha.c7!)).toEqual(["value.txt"]);
    expect((await commitFiles(octokit, where, sha.mergeCommit!))?.sort()).toEqual(["f1.txt", "f2.txt"]);
  });

  it("with several goods, keeps only the commits none of them has", async () => {
    const octokit = await h.server.app.probot!.auth(INSTALLATION_ID);
    const { sha } = h.repo;
    const { commits, apiCalls } = await readRangeGraph(octokit, { owner: OWNER, repo: REPO }, [sha["v1.0"]!, sha.f2!], sha.main!);
    const listed = new Set(commits.map(([s]) => s));
    expect(listed.has(sha.f1)).toBe(false);
    expect(listed.has(sha.f2)).toBe(false);
    expect(listed.has(sha.mergeCommit)).toBe(true);
    expect(commits).toHaveLength(231);
    expect(apiCalls).toBe(6);
  });
});

describe("planning a round", () => {
  // A linear range: g ← c1 … c30 (bad); the culprit is c17.
  const shas = Array.from({ length: 31 }, (_, i) => `${i.toString(16).padStart(2, "0")}`.repeat(20));
  const graph: RangeGraph = shas.slice(1).map((s, i) => [s, shas[i]!]);
  const good = shas[0]!;
  const bad = shas[30]!;
  const verdictOf = (s: string) => (shas.indexOf(s) >= 17 ? "bad" : "good");
  const base = { good_shas: [good], bad_sha: bad, resume_from_attempt: 1, attempts: 1, round: 0, round_commits: [] as string[] };
  const probe = (s: string, round: number, attempt = 1): StoredProbe => ({ attempt, sha: s, verdict: verdictOf(s), exitCode: 0, durationMs: 1, round });

  it("plans k commits a round, none twice, and ends on the culprit within ⌈log_(k+1) N⌉ rounds", () => {
    for (const k of [2, 3, 7, 15]) {
      const probes: StoredProbe[] = [];
      let row = jobRow({ ...base, options: jobOptions({ runners: k, commits: 30 }) });
      for (let round = 1; ; round++) {
        const plan = planRound(row, fanOutState(row, graph, probes), probes);
        if (plan.kind === "done") {
          expect(plan.status).toMatchObject({ state: "culprit", sha: shas[17] });
          expect(round - 1).toBeLessThanOrEqual(Math.ceil(Math.log(30) / Math.log(k + 1)));
          break;
        }
        expect(plan).toMatchObject({ round, retry: false });
        expect(plan.commits.length).toBeLessThanOrEqual(k);
        expect(plan.commits.filter((s) => probes.some((p) => p.sha === s))).toEqual([]);
        probes.push(...plan.commits.map((s) => probe(s, round)));
        row = { ...row, round };
      }
    }
  });

  it("after a round that lost a commit's verdict, plans the same round again for that commit only", () => {
    const options = jobOptions({ runners: 3, commits: 30 });
    const first = planRound(jobRow({ ...base, options }), fanOutState(jobRow({ ...base, options }), graph, []), []);
    if (first.kind !== "round") throw new Error("no first round");
    const [kept1, lost, kept2] = first.commits as [string, string, string];
    // Attempt 1 got two of the round's three verdicts, then failed; attempt 2 plans.
    const probes = [probe(kept1, 1), probe(kept2, 1)];
    const row = jobRow({ ...base, options, attempts: 2, round: 1, round_commits: first.commits, dispatch_intent_attempt: 1 });
    expect(planRound(row, fanOutState(row, graph, probes), probes)).toEqual({ kind: "round", round: 1, commits: [lost], retry: true });
    // A lost commit the verdicts got made pointless is not re-run: the next round is planned.
    const pointless = [probe(kept1, 1), probe(kept2, 1), probe(lost, 2, 2)];
    const next = planRound(row, fanOutState(row, graph, pointless), pointless);
    expect(next).toMatchObject({ kind: "round", round: 2, retry: false });
  });

  it("--confirm: after the search, one round per re-run of the culprit and its parent; a re-run that passes says not reproducible and leaves the search as it was", () => {
    const options = jobOptions({ runners: 3, commits: 30, confirm: 2 });
    let row = jobRow({ ...base, options });
    const probes: StoredProbe[] = [];
    let plan = planRound(row, fanOutState(row, graph, probes), probes);
    for (let round = 1; plan.kind === "round" && fanOutState(row, graph, probes).confirming === null; round++) {
      probes.push(...plan.commits.map((s) => probe(s, round)));
      row = { ...row, round };
      plan = planRound(row, fanOutState(row, graph, probes), probes);
    }
    const culprit = shas[17]!;
    const parent = shas[16]!;
    expect(plan).toMatchObject({ kind: "round", round: row.round + 1, commits: [culprit, parent] });
    // The status comment counts the re-runs still to come: this round and one more.
    const start = new Date("2026-12-06T10:00:00Z");
    expect(roundProgress(row, graph, fanOutState(row, graph, probes), probes, [culprit, parent], row.round + 1, start, start)).toMatchObject({
      round: row.round + 1,
      rounds: row.round + 2,
    });
    // First re-run: as before. Second: the culprit passes (a flake?).
    probes.push(probe(culprit, row.round + 1), probe(parent, row.round + 1));
    row = { ...row, round: row.round + 1 };
    expect(planRound(row, fanOutState(row, graph, probes), probes)).toMatchObject({ kind: "round", commits: [culprit, parent] });
    expect(roundProgress(row, graph, fanOutState(row, graph, probes), probes, [culprit, parent], row.round + 1, start, start)).toMatchObject({
      rounds: row.round + 1,
    });
    probes.push({ ...probe(culprit, row.round + 1), verdict: "good" }, probe(parent, row.round + 1));
    row = { ...row, round: row.round + 1 };
    const state = fanOutState(row, graph, probes);
    expect(state.status).toMatchObject({ state: "culprit", sha: culprit });
    expect(planRound(row, state, probes)).toMatchObject({ kind: "done" });
    const result = fanOutResult(row, state, probes);
    expect(result.confirmation).toEqual({ runs: 2, culpritFailed: 1, parentPassed: 2, verdict: "not-reproducible" });
  });

  it("a flaky round tests each commit once, and a later round may test it again", () => {
    const options = jobOptions({ runners: 7, commits: 30, flaky: true });
    const row = jobRow({ ...base, options });
    const probes: StoredProbe[] = [];
    let retested = false;
    let current = row;
    for (let round = 1; round <= 12; round++) {
      const plan = planRound(current, fanOutState(current, graph, probes), probes);
      if (plan.kind === "done") break;
      expect(new Set(plan.commits).size).toBe(plan.commits.length);
      if (plan.commits.some((s) => probes.some((p) => p.sha === s))) retested = true;
      probes.push(...plan.commits.map((s) => probe(s, round)));
      current = { ...current, round };
    }
    expect(retested).toBe(true);
  });

  it("the progress of a round: about how many rounds, what is left, a strip of the range", () => {
    const options = jobOptions({ runners: 3, commits: 30 });
    const row = jobRow({ ...base, options, round: 1 });
    const probes = [probe(shas[8]!, 1), probe(shas[15]!, 1), probe(shas[23]!, 1)];
    const state = fanOutState(row, graph, probes);
    const plan = planRound(row, state, probes);
    if (plan.kind !== "round") throw new Error("no round");
    const started = new Date("2026-12-06T10:00:00Z");
    const now = new Date("2026-12-06T10:04:00Z");
    const progress = roundProgress(row, graph, state, probes, plan.commits, 2, started, now);
    // c16 … c23 may hold the culprit: 8 commits, 2 more rounds at 3 a round.
    expect(progress).toMatchObject({ round: 2, rounds: 3, testing: 3, left: 8 });
    // One round took 4 minutes: two more end at about 10:12.
    expect(progress.eta?.toISOString()).toBe("2026-12-06T10:12:00.000Z");
    expect([...progress.strip]).toHaveLength(30);
    expect(progress.strip.startsWith("⬛".repeat(7) + "🟩")).toBe(true);
    expect(progress.strip).toContain("🔵");
    expect(progress.strip.endsWith("🟥" + "⬛".repeat(7))).toBe(true);
  });
});
