/**
 * `npm run bench`: every benchmark of the engine and the CLI, printed as markdown tables.
 * Bounded in time (about 10 minutes on 2 cores), loopback and local git only.
 */
import { runActionOverhead } from "./action-overhead.js";
import { runStoreBench } from "./store.js";
import { formatDifferential, runDifferential } from "./differential.js";
import { flakyRows, linearRows, probeChoiceRows, table } from "./engine.js";
import { fanoutRows, ISSUE_CLOCK } from "./fanout.js";
import { runWallTime } from "./wall-time.js";

const started = performance.now();
const section = (title: string, body: string) => console.log(`### ${title}\n\n${body}\n`);

section("Linear range, N = 1024 (every culprit position)", table(linearRows()));
section("Choosing a probe on a 50,000-commit range", table(probeChoiceRows()));
section("Flaky tests, N = 1024 (false-failure rate f unknown to the engine)", table(flakyRows(3000)));
section("Differential against git bisect run (random DAGs)", formatDifferential(await runDifferential(1000)));
section(
  `Fan-out across runners, simulated clock (${ISSUE_CLOCK.testSeconds} s test, ${ISSUE_CLOCK.startSeconds} s runner start-up, ${ISSUE_CLOCK.setupSeconds} s setup a job; 64 culprits)`,
  table(fanoutRows()),
);
const wall = await runWallTime(5);
section(
  "Wall time: 2,000 commits with merges, 0.5 s test (5 culprits each)",
  table(
    wall.map((r) => ({
      tool: r.tool,
      "mean wall time (s)": r.meanSeconds.toFixed(2),
      "tests (completed)": r.meanTests.toFixed(1),
      rounds: r.meanRounds.toFixed(1),
      "speed vs git bisect run": `${r.speedup.toFixed(2)}×`,
    })),
  ),
);
section("The Action against the CLI (same repository and range)", table(await runActionOverhead(5)));
section("Job store: draining 10,000 jobs on local PostgreSQL", table(await runStoreBench()));
console.log(`(bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
