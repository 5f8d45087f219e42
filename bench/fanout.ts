/**
 * Fan-out across Actions runners, on a simulated clock (issue 14's benchmark): how many rounds,
 * runner jobs, billed runner minutes, GitHub API calls and how much wall time a bisection of N
 * commits takes with k runners a round, against the single-runner bisection of today.
 *
 * The planning is the App's own (`planRound` in app/src/worker/fan-out.ts): each round replays the
 * verdicts recorded so far into the engine and asks it for k commits, every one is tested on its
 * own runner, and the round's verdicts are recorded together before the next round is planned.
 * The single runner is the engine one test at a time, as the Action runs it. The clock is a model:
 * - a runner job waits `startSeconds` (queue and boot) before its steps run, then spends
 *   `setupSeconds` (checkout, the Action's setup) before the test, and `testSeconds` per test;
 * - the single-runner bisection is one job: one start, one setup, then its tests one after another;
 * - a round is one `workflow_dispatch` whose jobs start together; it ends when its last job ends;
 * - GitHub bills each job rounded up to the whole minute (start-up not billed).
 * App-side latency (webhook, dispatch) is left out: it is the same few seconds a round for both.
 *
 * API calls per round, reading the verdicts from artifacts (DESIGN "Workflow": one
 * `bisect-result-<job>-<n>` per matrix job): dispatch 1 (with the run's id in its answer), artifact
 * list ⌈k/100⌉, one download per job, the status comment's edit 1 — k + 3 for k ≤ 100. The
 * single-runner bisection pays the same four once. A fan-out also reads the range's graph once:
 * one compare page per 100 commits (11 for N = 1,024), counted in its total.
 *
 * "Start-up overlapped" is what the wall time would be if the next round's runners were started
 * while the current round tests, and took their commits when it ends (not built: a runner cannot
 * receive its commit after it starts today); it shows where the rest of the time goes.
 *
 * Run alone: npx tsx bench/fanout.ts   (also part of `npm run bench`)
 */
import { fileURLToPath } from "node:url";
import { Bisection, type BisectStatus, type CommitNode } from "../action/src/bisect/index.js";
import type { StoredProbe } from "../app/src/store/store.js";
import { COMPARE_PAGE, fanOutState, planRound, type RangeGraph } from "../app/src/worker/fan-out.js";
import { job as jobRow } from "../test/app/messages/fixtures.js";
import { jobOptions } from "../test/support/jobs.js";
import { mulberry32 } from "../test/support/history.js";
import { table } from "./engine.js";
import { mainlineWithMerges } from "./wall-time.js";

export interface FanoutClock {
  startSeconds: number;
  setupSeconds: number;
  testSeconds: number;
}

/** Issue 14's model: a 60 s test, 30 s for a runner to start; 10 s of checkout and setup per job. */
export const ISSUE_CLOCK: FanoutClock = { startSeconds: 30, setupSeconds: 10, testSeconds: 60 };

interface History {
  name: string;
  commits: CommitNode[];
  good: string;
  bad: string;
  /** Whether commit `sha` contains the culprit (is it or descends from it). */
  containsCulprit(culprit: string): (sha: string) => boolean;
  /** The commits that can be culprits (the range, bad included). */
  candidates: string[];
}

function linearHistory(size: number): History {
  const commits: CommitNode[] = Array.from({ length: size + 1 }, (_, i) => ({ sha: `c${i}`, parents: i === 0 ? [] : [`c${i - 1}`] }));
  return {
    name: `linear, N = ${size}`,
    commits,
    good: "c0",
    bad: `c${size}`,
    containsCulprit: (culprit) => {
      const at = Number(culprit.slice(1));
      return (sha) => Number(sha.slice(1)) >= at;
    },
    candidates: commits.slice(1).map((c) => c.sha),
  };
}

function mergeHistory(size: number, seed: number): History {
  const commits: CommitNode[] = mainlineWithMerges(size + 1, seed).map((c) => ({ sha: c.id, parents: c.parents }));
  const children = new Map<string, string[]>();
  for (const c of commits) for (const p of c.parents) children.set(p, [...(children.get(p) ?? []), c.sha]);
  return {
    name: `with merges, N = ${size}`,
    commits,
    good: "c0",
    bad: commits.at(-1)!.sha,
    containsCulprit: (culprit) => {
      const descendants = new Set([culprit]);
      const queue = [culprit];
      while (queue.length > 0) for (const child of children.get(queue.pop()!) ?? []) if (!descendants.has(child) && descendants.add(child)) queue.push(child);
      return (sha) => descendants.has(sha);
    },
    candidates: commits.slice(1).map((c) => c.sha),
  };
}

interface Outcome {
  rounds: number;
  jobs: number;
  tests: number;
  runnerMinutes: number;
  apiCalls: number;
  wallSeconds: number;
  overlappedSeconds: number;
}

/** One bisection of `history` with the culprit `culprit`: single-runner when `runners` is null, else `runners` jobs a round. */
export function simulate(history: History, culprit: string, runners: number | null, clock: FanoutClock = ISSUE_CLOCK): Outcome {
  const broken = history.containsCulprit(culprit);
  const tested = new Set<string>();
  const perRound: number[] = [];
  const test = (sha: string) => {
    if (tested.has(sha)) throw new Error(`${sha} was tested twice (deterministic mode never does that)`);
    tested.add(sha);
    return broken(sha) ? "bad" : "good";
  };
  let status: BisectStatus;
  if (runners === null) {
    const bisection = Bisection.create({ commits: history.commits, bad: history.bad, goods: [history.good] });
    for (let [sha] = bisection.next(); sha; [sha] = bisection.next()) bisection.record(sha, test(sha));
    status = bisection.status();
  } else {
    // The App's loop: the job row as the store keeps it, the verdicts as recorded probes.
    const graph: RangeGraph = history.commits.filter((c) => c.sha !== history.good).map((c) => [c.sha, ...c.parents]);
    let row = jobRow({
      good_shas: [history.good],
      bad_sha: history.bad,
      resume_from_attempt: 1,
      attempts: 1,
      round: 0,
      round_commits: [],
      options: jobOptions({ runners }),
    });
    const probes: StoredProbe[] = [];
    for (;;) {
      const plan = planRound(row, fanOutState(row, graph, probes), probes);
      if (plan.kind === "done") {
        status = plan.status;
        break;
      }
      for (const sha of plan.commits) probes.push({ attempt: 1, sha, verdict: test(sha), exitCode: 0, durationMs: 60_000, round: plan.round });
      perRound.push(plan.commits.length);
      row = { ...row, round: plan.round };
    }
  }
  if (status.state !== "culprit" || status.sha !== culprit) throw new Error(`missed ${culprit}: ${JSON.stringify(status)}`);
  const tests = tested.size;
  const { startSeconds, setupSeconds, testSeconds } = clock;
  if (runners === null) {
    const job = setupSeconds + tests * testSeconds;
    return {
      rounds: 1,
      jobs: 1,
      tests,
      runnerMinutes: Math.ceil(job / 60),
      apiCalls: 4,
      wallSeconds: startSeconds + job,
      overlappedSeconds: startSeconds + job,
    };
  }
  const job = setupSeconds + testSeconds;
  return {
    rounds: perRound.length,
    jobs: tests,
    tests,
    runnerMinutes: tests * Math.ceil(job / 60),
    // The rounds, and the range's graph read once (one compare page per 100 commits).
    apiCalls: perRound.reduce((sum, k) => sum + 3 + Math.ceil(k / 100) - 1 + k, 0) + Math.ceil(history.candidates.length / COMPARE_PAGE),
    wallSeconds: perRound.length * (startSeconds + job),
    overlappedSeconds: startSeconds + perRound.length * job,
  };
}

export type FanoutRow = {
  history: string;
  runners: string;
  rounds: string;
  "round bound ⌈log_(k+1) N⌉": string;
  "runner jobs": string;
  "runner minutes (billed)": string;
  "API calls (per round, max)": string;
  "wall time (min)": string;
  "vs single runner": string;
  "start-up overlapped (vs single)": string;
};

/** Mean over `culprits` seeded culprit positions, per history and k. */
export function fanoutRows(culprits = 64, ks: readonly number[] = [3, 7, 15], size = 1024, clock: FanoutClock = ISSUE_CLOCK): FanoutRow[] {
  const rows: FanoutRow[] = [];
  for (const history of [linearHistory(size), mergeHistory(size, 11)]) {
    const random = mulberry32(5);
    const chosen = Array.from({ length: culprits }, () => history.candidates[Math.floor(random() * history.candidates.length)]!);
    const mean = (runners: number | null) => {
      const outcomes = chosen.map((c) => simulate(history, c, runners, clock));
      const avg = (f: (o: Outcome) => number) => outcomes.reduce((s, o) => s + f(o), 0) / outcomes.length;
      const perRoundMax = runners === null ? 4 : Math.max(...outcomes.map(() => runners + 3));
      return {
        rounds: avg((o) => o.rounds),
        maxRounds: Math.max(...outcomes.map((o) => o.rounds)),
        jobs: avg((o) => o.jobs),
        minutes: avg((o) => o.runnerMinutes),
        api: avg((o) => o.apiCalls),
        perRoundMax,
        wall: avg((o) => o.wallSeconds),
        overlapped: avg((o) => o.overlappedSeconds),
      };
    };
    const single = mean(null);
    const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
    rows.push({
      history: history.name,
      runners: "single runner (today)",
      rounds: "1",
      "round bound ⌈log_(k+1) N⌉": "—",
      "runner jobs": "1",
      "runner minutes (billed)": fmt(single.minutes),
      "API calls (per round, max)": `${fmt(single.api)} (4)`,
      "wall time (min)": (single.wall / 60).toFixed(1),
      "vs single runner": "100%",
      "start-up overlapped (vs single)": "—",
    });
    for (const k of ks) {
      const m = mean(k);
      rows.push({
        history: history.name,
        runners: `k = ${k}`,
        rounds: `${fmt(m.rounds)} (max ${m.maxRounds})`,
        "round bound ⌈log_(k+1) N⌉": String(Math.ceil(Math.log(size) / Math.log(k + 1) - 1e-9)),
        "runner jobs": fmt(m.jobs),
        "runner minutes (billed)": fmt(m.minutes),
        "API calls (per round, max)": `${fmt(m.api)} (${m.perRoundMax})`,
        "wall time (min)": (m.wall / 60).toFixed(1),
        "vs single runner": `${Math.round((100 * m.wall) / single.wall)}%`,
        "start-up overlapped (vs single)": `${(m.overlapped / 60).toFixed(1)} min (${Math.round((100 * m.overlapped) / single.wall)}%)`,
      });
    }
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { startSeconds, setupSeconds, testSeconds } = ISSUE_CLOCK;
  console.log(`Fan-out, simulated clock: ${testSeconds} s test, ${startSeconds} s runner start-up, ${setupSeconds} s setup per job; mean of 64 culprits\n`);
  console.log(table(fanoutRows()));
}
