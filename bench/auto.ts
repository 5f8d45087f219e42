/**
 * Automatic bisects on the GitHub double (issue 15): a CI workflow goes red on the default branch
 * after a green run; how long from the red run's `workflow_run` webhook to the issue naming the
 * culprit, with a fast test (the double really runs the bisect workflow and the bundled Action),
 * and what free verdicts (completed runs of the range's commits) save.
 *
 *   npm run bench:auto [trials]
 *
 * Each trial is a fresh repository: a linear history of 64 commits, a planted culprit, a green run
 * at the first commit and a red one at the last. "With a merge queue": the merge queue's runs
 * tested one commit in four (green before the culprit, red from it on). The App runs in-process,
 * on the embedded store, with an automatic bisect's defaults (one runner, --confirm 1).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, type RunningServer } from "../app/src/server.js";
import { migrate } from "../app/src/store/migrate.js";
import { pgliteClient, type SqlClient } from "../app/src/store/sql-client.js";
import { sqlTransport } from "../app/src/store/sql-transport.js";
import { Store } from "../app/src/store/store.js";
import { APP_ID, appEnv, appKeys, FastRetryOctokit, INSTALLATION_ID, OWNER, settleWorker, WEBHOOK_SECRET } from "../test/support/app-harness.js";
import { startGitHubDouble, type GitHubDouble } from "../test/support/github-double/index.js";
import { removeDir, tempDir } from "../test/support/dag-repo.js";
import { linearRepo } from "../test/support/linear-repo.js";
import { mulberry32 } from "../test/support/history.js";
import { workflowRunPayload } from "../test/support/run-webhooks.js";
import { deliver } from "../test/support/webhooks.js";
import { table, type Row } from "./engine.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = 64;
const CONFIG = "auto:\n  workflows: [ci.yml]\n  command: sh check.sh\n";

/** The App in-process on the embedded store, its worker driven by hand, and the GitHub double running its workflows. */
interface Harness {
  double: GitHubDouble;
  client: SqlClient;
  store: Store;
  server: RunningServer;
  settle(): Promise<void>;
  close(): Promise<void>;
}

async function startHarness(): Promise<Harness> {
  const double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  const client = await pgliteClient();
  await migrate(client);
  const store = new Store(sqlTransport(client));
  const server = await startServer(appEnv(double, { RUN_CHECK_SECONDS: "1" }), { store, startWorker: false, Octokit: FastRetryOctokit });
  double.runner.options = { webhookUrl: `${server.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET };
  return {
    double,
    client,
    store,
    server,
    settle: () => settleWorker(double, server),
    close: async () => {
      await server.close();
      await double.close();
    },
  };
}

interface Trial {
  ms: number;
  free: number;
  tested: number;
  runs: number;
  apiCalls: number;
  right: boolean;
}

async function trial(h: Harness, id: number, culprit: number, mergeQueue: boolean, dirs: string[]): Promise<Trial> {
  const workflow = await readFile(path.join(ROOT, ".github/workflows/bisect.yml"), "utf8");
  const parent = await tempDir("bench-auto");
  dirs.push(parent);
  const ci = "name: CI\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sh check.sh\n";
  const repo = await linearRepo(parent, N, culprit, (i) =>
    i === 0 ? { ".github/workflows/bisect.yml": workflow, ".github/workflows/ci.yml": ci, ".github/bisect.yml": CONFIG } : {},
  );
  const name = `auto-bench-${id}`;
  const full = `${OWNER}/${name}`;
  h.double.addRepository({ owner: OWNER, name, id, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  const sha = (i: number) => repo.shas.get(`c${i}`)!;
  h.double.addCiRun(full, { workflow: "ci.yml", headSha: sha(0), conclusion: "success" });
  if (mergeQueue) {
    for (let i = 4; i < N - 1; i += 4) {
      h.double.addCiRun(full, {
        workflow: "ci.yml",
        headSha: sha(i),
        conclusion: i >= culprit ? "failure" : "success",
        event: "merge_group",
        branch: `gh-readonly-queue/main/pr-${i}-${sha(i - 1)}`,
      });
    }
  }
  const red = h.double.addCiRun(full, { workflow: "ci.yml", headSha: sha(N - 1), conclusion: "failure" });
  const before = h.double.requests.length;
  const started = performance.now();
  const payload = workflowRunPayload(red, "completed", INSTALLATION_ID, { id, owner: OWNER, name }, { url: h.double.url });
  await deliver(`${h.server.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "workflow_run", id: randomUUID(), payload });
  for (;;) {
    await h.settle();
    if (h.double.issues(full).length > 0) break;
    await h.client.query("update public.bisect_tasks set run_at = now() where repository_id = $1 and state = 'pending'", [id]);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = performance.now() - started;
  const { rows } = await h.client.query<{ id: string }>("select id from public.bisect_jobs where repository_id = $1", [id]);
  const job = (await h.store.call("getJob", { jobId: Number(rows[0]!.id) }))!;
  const probes = await h.store.call("jobProbes", { jobId: job.id });
  const apiCalls = h.double.requests.slice(before).filter((r) => r.path.startsWith(`/repos/${full}/`) || r.route.startsWith("POST /graphql")).length;
  return {
    ms,
    free: job.free_verdicts.length,
    tested: new Set(probes.map((p) => p.sha)).size,
    runs: h.double.runs.filter((r) => r.repository === full && r.workflow === "bisect.yml").length,
    apiCalls,
    right: job.culprit_sha === sha(culprit),
  };
}

async function main(): Promise<void> {
  const trials = Number(process.argv[2] ?? 5);
  const h = await startHarness();
  const dirs: string[] = [];
  const random = mulberry32(15);
  const rows: Row[] = [];
  let id = 9700;
  try {
    for (const mergeQueue of [false, true]) {
      const results: Trial[] = [];
      for (let t = 0; t < trials; t++) results.push(await trial(h, id++, 2 + Math.floor(random() * (N - 3)), mergeQueue, dirs));
      const seconds = results.map((r) => r.ms / 1000).sort((a, b) => a - b);
      const mean = (f: (r: Trial) => number) => (results.reduce((sum, r) => sum + f(r), 0) / results.length).toFixed(1);
      rows.push({
        history: mergeQueue ? "with a merge queue (1 commit in 4 tested)" : "push runs only",
        trials,
        "range (commits)": N - 1,
        "right culprit": `${results.filter((r) => r.right).length}/${trials}`,
        "free verdicts (mean)": mean((r) => r.free),
        "commits tested (mean, re-runs included)": mean((r) => r.tested),
        "bisect runs": mean((r) => r.runs),
        "GitHub API calls (mean)": mean((r) => r.apiCalls),
        "webhook → issue, median (s)": seconds[Math.floor(seconds.length / 2)]!.toFixed(1),
        "max (s)": seconds.at(-1)!.toFixed(1),
      });
    }
  } finally {
    await h.close();
    for (const dir of dirs) await removeDir(dir);
  }
  console.log("## Automatic bisects on the GitHub double (a fast test, one runner, --confirm 1)\n");
  console.log(table(rows));
}

await main();
