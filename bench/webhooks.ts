/**
 * The App under webhook load, k6-style: N App instances (`npm start`'s entry, `app/src/main.ts`,
 * as separate processes; N = 1, 2 and 4, one run each, each on a fresh database) sharing a local
 * PostgreSQL server that the bench starts, and the GitHub double (in this process) with many
 * installations (BENCH_WEBHOOK_INSTALLATIONS, default 100), each with its own repository (all
 * backed by one git repository on disk) and a maintainer with write permission.
 *
 * 1. Once, on the first run's idle instances: one single-runner bisect end to end, counting the
 *    double's requests. Gate: ≤ 12 GitHub API calls (token exchanges and the storage download aside).
 * 2. Load, open loop (sent on a timer whatever the answers, by separate processes: bench/webhooks/
 *    load.ts), in stages (bench/webhooks/plan.ts): ramp 0→R₁ over BENCH_WEBHOOK_RAMP_SECONDS, hold
 *    R₁ for BENCH_WEBHOOK_HOLD_SECONDS, ramp to R₂, … (BENCH_WEBHOOK_RATES, default 250,500,1000),
 *    then a soak at BENCH_WEBHOOK_SOAK_RATE (300/s) for BENCH_WEBHOOK_SOAK_SECONDS (180). Signed
 *    `issue_comment` deliveries, alternating between the instances as a load balancer would; one in
 *    BENCH_WEBHOOK_COMMAND_EVERY (10) is a `/bisect` command, the rest comments the App acknowledges
 *    and ignores (most of what GitHub sends a bot), spread round-robin over the installations.
 * 3. Thresholds per stage, k6-style PASS/FAIL: ack p99 < BENCH_WEBHOOK_P99_MS (25), error rate
 *    (non-2xx, connection errors, timeouts) ≤ BENCH_WEBHOOK_MAX_ERROR_RATE (0), no ack ≥ 9 s;
 *    for the stages with commands, comment→dispatch p99 < BENCH_WEBHOOK_DISPATCH_P99_MS (3000),
 *    measured from the command's send to the double receiving the dispatch POST of its job (a
 *    command never decided counts as infinitely late), and on hold and soak stages decisions (a
 *    job dispatched or a reply posted) per second ≥ 90 % of the commands sent per second. Per run:
 *    every acknowledged command stored once, no duplicate job or dispatch.
 *
 * Reported besides: per stage the double's answer times, RSS and CPU of each instance (/proc),
 * PostgreSQL's and the load generators' CPU, and the database connections (pg_stat_activity,
 * sampled every second); one summary table, instances × stage.
 *
 * The instances run `MAX_CONCURRENT_JOBS=256` (dispatched runs never finish here), a write budget
 * of BENCH_WEBHOOK_WRITES_PER_MINUTE (1000) per installation, `DATABASE_POOL_MAX` from
 * BENCH_WEBHOOK_POOL_MAX (10), `WORKER_CONCURRENCY` from BENCH_WEBHOOK_WORKER_CONCURRENCY (the
 * App's default unless set), and by default Probot's Octokit without its throttling plugin
 * (bench/webhooks/unthrottled-instance.ts): the plugin spaces writes a second apart and comments
 * three seconds apart per installation and process, which caps 100 installations on 2 instances
 * near 67 decided commands/s whatever the App does (BENCH_WEBHOOK_OCTOKIT=probot to keep it).
 *
 * Loopback only. Full run about 18 minutes; BENCH_WEBHOOK_QUICK=1 about 2 minutes (2 instances,
 * short stages). Prints the tables; exits 2 when a threshold is missed, 1 on a crash, 0 when all
 * are met.
 * Run alone: npm run bench:webhooks  (BENCH_WEBHOOK_QUICK=1 npm run bench:webhooks for a smoke run;
 * BENCH_WEBHOOK_INSTANCES=2 BENCH_WEBHOOK_SOAK_SECONDS=60 to shorten the full one)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { pgClient, type SqlClient } from "../app/src/store/sql-client.js";
import { APP_ID, appEnv, appKeys, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET } from "../test/support/app-harness.js";
import { makeAppRepo, type AppRepo } from "../test/support/app-repo.js";
import { git, removeDir } from "../test/support/dag-repo.js";
import { BLOB_ROUTE, startGitHubDouble, type GitHubDouble } from "../test/support/github-double/index.js";
import { startPostgres, type PostgresServer } from "../test/support/postgres.js";
import { workflowRunPayload } from "../test/support/run-webhooks.js";
import { deliver, issueCommentPayload } from "../test/support/webhooks.js";
import { resultZip } from "../test/support/zip.js";
import { table, type Row } from "./engine.js";
import { COMMENT_ID_MARK, ISSUE_MARK, type LoadRequest, type LoadResult, type StageLoad } from "./webhooks/load.js";
import { deliveryKind, issueOf, plan, schedule, stageCount, stageOffsets, type Mix, type Stage } from "./webhooks/plan.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FULL = `${OWNER}/${REPO}`;
const COMMAND = "/bisect v1.0..main -- npm test";
const IGNORED = "Thanks, this looks good to me. Merging after CI.";
const TOKEN_ROUTE = "POST /app/installations/{installation_id}/access_tokens";
const DISPATCH_ROUTE = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";

const list = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s) => s.split(",").map((x) => Number(x.trim())))
    .pipe(z.array(z.number().int().positive()).min(1));
const num = (fallback: number) => z.coerce.number().nonnegative().default(fallback);
const QUICK = process.env.BENCH_WEBHOOK_QUICK === "1";
const configSchema = z.object({
  BENCH_WEBHOOK_INSTANCES: list(QUICK ? "2" : "1,2,4"),
  BENCH_WEBHOOK_RATES: list(QUICK ? "200,1000" : "250,500,1000"),
  BENCH_WEBHOOK_RAMP_SECONDS: num(QUICK ? 5 : 10),
  BENCH_WEBHOOK_HOLD_SECONDS: num(QUICK ? 15 : 30),
  BENCH_WEBHOOK_SOAK_RATE: num(300),
  BENCH_WEBHOOK_SOAK_SECONDS: num(QUICK ? 20 : 180),
  BENCH_WEBHOOK_DRAIN_SECONDS: num(15),
  BENCH_WEBHOOK_INSTALLATIONS: z.coerce.number().int().positive().default(100),
  BENCH_WEBHOOK_COMMAND_EVERY: z.coerce.number().int().nonnegative().default(10),
  BENCH_WEBHOOK_LOAD_PROCESSES: z.coerce.number().int().positive().default(1),
  BENCH_WEBHOOK_POOL_MAX: z.coerce.number().int().positive().default(10),
  BENCH_WEBHOOK_WORKER_CONCURRENCY: z.coerce.number().int().positive().optional(),
  BENCH_WEBHOOK_WRITES_PER_MINUTE: z.coerce.number().int().positive().default(1000),
  BENCH_WEBHOOK_OCTOKIT: z.enum(["probot", "unthrottled"]).default("unthrottled"),
  BENCH_WEBHOOK_P99_MS: num(25),
  BENCH_WEBHOOK_MAX_ERROR_RATE: num(0),
  BENCH_WEBHOOK_DISPATCH_P99_MS: num(3000),
  /** A directory: each instance (and the bench, the double's process, if run with --cpu-prof) writes a V8 CPU profile there. */
  BENCH_WEBHOOK_CPU_PROF: z.string().optional(),
});
const parsedConfig = configSchema.safeParse(process.env);
if (!parsedConfig.success) {
  console.error(
    `bench:webhooks: ${parsedConfig.error.issues.map((i) => `${i.path.join(".")} '${String(process.env[String(i.path[0])])}': ${i.message}`).join("; ")}. Unset the variable for its default (see the header of bench/webhooks.ts).`,
  );
  process.exit(1);
}
const config = parsedConfig.data;
const ENTRY = config.BENCH_WEBHOOK_OCTOKIT === "unthrottled" ? "bench/webhooks/unthrottled-instance.ts" : "app/src/main.ts";
const STAGES: Stage[] = plan({
  holdRates: config.BENCH_WEBHOOK_RATES,
  rampSeconds: config.BENCH_WEBHOOK_RAMP_SECONDS,
  holdSeconds: config.BENCH_WEBHOOK_HOLD_SECONDS,
  soakRate: config.BENCH_WEBHOOK_SOAK_RATE,
  soakSeconds: config.BENCH_WEBHOOK_SOAK_SECONDS,
});
const MIX: Mix = { commandEvery: config.BENCH_WEBHOOK_COMMAND_EVERY, installations: config.BENCH_WEBHOOK_INSTALLATIONS };
/** GitHub gives up on a delivery after 10 s; an acknowledgement this slow is as good as lost. */
const TOO_SLOW_MS = 9000;
const GOAL_API_CALLS = 12;
/** On hold and soak stages: decisions per second at least this share of the commands sent per second. */
const KEEP_UP = 0.9;

const INSTANCE_ENV: Record<string, string> = {
  // The most the App accepts (1–256) per repository: dispatched runs never finish in the bench.
  MAX_CONCURRENT_JOBS: "256",
  WORKER_POLL_MS: "200",
  LOG_LEVEL: process.env.BENCH_WEBHOOK_LOG_LEVEL ?? "fatal",
  // Dispatched runs never finish during the load; without this the reconciler would start polling
  // every one of them through the API 30 s after its dispatch.
  RUN_CHECK_SECONDS: "3600",
  DATABASE_POOL_MAX: String(config.BENCH_WEBHOOK_POOL_MAX),
  GITHUB_WRITES_PER_MINUTE: String(config.BENCH_WEBHOOK_WRITES_PER_MINUTE),
  ...(config.BENCH_WEBHOOK_WORKER_CONCURRENCY ? { WORKER_CONCURRENCY: String(config.BENCH_WEBHOOK_WORKER_CONCURRENCY) } : {}),
};

/** The installations of the load: installation k has repository `bench-org-k/widgets`. */
function installation(k: number): { owner: string; repo: string; repositoryId: number; installationId: number } {
  return { owner: `bench-org-${k}`, repo: REPO, repositoryId: 6_000_000_000 + k, installationId: 8_000_000_000 + k };
}

// ---------------------------------------------------------------------------------------------
// Processes, and cleaning them up whatever happens.

interface Instance {
  name: string;
  child: ChildProcess;
  url: string;
  output: () => string;
}

const cleanups: (() => Promise<void>)[] = [];
const children = new Set<ChildProcess>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const fn of cleanups.reverse()) await fn().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // `on`, not `once`: under `npx tsx` a Ctrl-C arrives twice (from the terminal and relayed by
  // tsx), and the second must not kill this process before the cleanup is done.
  process.on(signal, () => {
    if (cleaning) return;
    console.error(`\n${signal}: stopping the instances, PostgreSQL and the double`);
    void cleanup().finally(() => process.exit(130));
  });
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Starts `app/src/main.ts` (what `npm start` runs) and waits for its "listening" line. */
function startInstance(name: string, env: Record<string, string>): Promise<Instance> {
  const child = track(
    spawn(
      process.execPath,
      [...(config.BENCH_WEBHOOK_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", config.BENCH_WEBHOOK_CPU_PROF] : []), "--import", "tsx", ENTRY],
      { cwd: ROOT, env: { PATH: process.env.PATH!, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    ),
  );
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      // Keep the tail only: a crash report is at the end.
      output = (output + chunk.toString()).slice(-20_000);
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ name, child, url: match[1]!, output: () => output });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}):\n${output}`));
    });
  });
}

async function stopInstance(instance: Instance): Promise<void> {
  const { child } = instance;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 12_000);
  await exited;
  clearTimeout(timer);
}

/** Resident memory of a process in MiB (VmRSS), or NaN when it is gone. */
function rssMiB(pid: number | undefined): number {
  try {
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const CLOCK_TICKS = 100;

/** utime, stime, cutime, cstime of a process in seconds (cutime/cstime: its waited-for children). */
function cpuOf(pid: number | "self"): { own: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    // After the comm: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based).
    return { own: (fields[11]! + fields[12]!) / CLOCK_TICKS, children: (fields[13]! + fields[14]!) / CLOCK_TICKS };
  } catch {
    return { own: 0, children: 0 };
  }
}

/** The bench's PostgreSQL server process: the `postgres` whose command line has `-p <port>` (other servers may run). */
function postmasterPid(port: number): number | undefined {
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("/postgres") && argv.includes("-p") && argv[argv.indexOf("-p") + 1] === String(port)) return Number(pid);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** CPU seconds of the server and its backends (the live ones, and those that have exited). */
function postgresCpu(postmaster: number | undefined): number {
  if (postmaster === undefined) return Number.NaN;
  const server = cpuOf(postmaster);
  let total = server.own + server.children;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === postmaster) total += cpuOf(Number(pid)).own;
    } catch {
      // gone
    }
  }
  return total;
}

/** CPU seconds the whole machine has been busy (every core, every process, ours or not). */
function machineBusy(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!;
}

const ms = (value: number) => (Number.isNaN(value) ? "–" : value < 10 ? value.toFixed(1) : value.toFixed(0));
const mib = (value: number) => (Number.isNaN(value) ? "–" : value.toFixed(0));

// ---------------------------------------------------------------------------------------------
// GitHub API calls per bisect.

interface ApiCallsResult {
  rows: Row[];
  total: number;
  seconds: number;
}

async function bisectApiCalls(double: GitHubDouble, repo: AppRepo, instances: Instance[], admin: SqlClient): Promise<ApiCallsResult> {
  const issueNumber = 1;
  const commentId = 4_000_000_001;
  const from = double.requests.length;
  const started = performance.now();
  double.addComment(FULL, issueNumber, { body: COMMAND, user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber,
    login: "maintainer",
    commentId,
    body: COMMAND,
  });
  const hook = await deliver(`${instances[0]!.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload });
  if (hook.status !== 200) throw new Error(`the /bisect webhook answered ${hook.status}: ${hook.body}`);

  const job = await until(
    async () => {
      const { rows } = await admin.query<{ id: string; state: string; status_comment_id: string | null }>(
        "select id::text, state, status_comment_id::text from public.bisect_jobs where repository_id = $1 and comment_id = $2",
        [REPOSITORY_ID, commentId],
      );
      const row = rows[0];
      return row && row.state === "dispatched" && row.status_comment_id !== null ? row : undefined;
    },
    60_000,
    "the bisect to be dispatched with its status comment",
  );
  const jobId = job.id;
  const run = double.runs.find((r) => r.inputs.job_id === jobId);
  if (!run) throw new Error(`no workflow run for job ${jobId}`);

  const culprit = repo.sha.c7!;
  const size = Number((await git(repo.dir, ["rev-list", "--count", "v1.0..main"])).stdout.trim());
  const probes = [
    { sha: repo.sha.c6!, verdict: "good", exitCode: 0, durationMs: 800, round: 1 },
    { sha: repo.sha.c7!, verdict: "bad", exitCode: 1, durationMs: 900, round: 2 },
  ];
  const document = {
    schema: 1,
    jobId,
    verdict: "culprit",
    culprit: { sha: culprit, confidence: 1 },
    candidates: [culprit],
    range: { good: [repo.sha["v1.0"]!], bad: repo.sha.main!, size },
    probes,
    tested: probes.length,
    rounds: 2,
  };
  double.completeRun(run.id, { conclusion: "success", artifact: { zip: resultZip(jobId, document) } });
  const completed = workflowRunPayload(run, "completed", INSTALLATION_ID, { id: REPOSITORY_ID, owner: OWNER, name: REPO }, { url: double.url });
  // The other instance gets the answer: whichever claims the job does the work.
  const runHook = await deliver(`${instances[1 % instances.length]!.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "workflow_run", payload: completed });
  if (runHook.status !== 200) throw new Error(`the workflow_run webhook answered ${runHook.status}: ${runHook.body}`);

  const appComment = () => double.comments(FULL, issueNumber).find((c) => c.user.endsWith("[bot]"));
  await until(
    async () => {
      const { rows } = await admin.query<{ state: string }>("select state from public.bisect_jobs where id = $1", [jobId]);
      return rows[0]?.state === "succeeded" && appComment()?.body.includes("first bad commit") ? true : undefined;
    },
    60_000,
    "the job to succeed and its status comment to name the first bad commit",
  );
  const seconds = (performance.now() - started) / 1000;
  // Anything the answer still sets off (nothing, if all is well) is counted too.
  await sleep(1500);
  const counts = new Map<string, number>();
  for (const r of double.requests.slice(from)) {
    // Token exchanges, the storage download and the webhook recovery loop's look at the App's
    // delivery log (a background scan every REDELIVERY_INTERVAL_SECONDS, not part of a bisect).
    if (r.route === TOKEN_ROUTE || r.route === BLOB_ROUTE || r.route.startsWith("GET /app/hook/")) continue;
    counts.set(r.route, (counts.get(r.route) ?? 0) + 1);
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const rows: Row[] = [...counts].map(([route, calls]) => ({ route: `\`${route}\``, calls }));
  rows.push({ route: "**total**", calls: `**${total}**` });
  rows.push({ route: `goal ≤ ${GOAL_API_CALLS}`, calls: total <= GOAL_API_CALLS ? "met" : "goal missed" });
  if (double.violations.length > 0) console.error(`double violations:\n${double.violations.slice(0, 5).join("\n")}`);
  return { rows, total, seconds };
}

// ---------------------------------------------------------------------------------------------
// One run: N instances under the staged load.

/** When the double answered each request, by route (its own request log), and when each job was dispatched. */
function watchDouble(double: GitHubDouble) {
  const log: { route: string; ms: number; endedAt: number }[] = [];
  const dispatchedAt = new Map<string, number[]>();
  const dispatchBody = z.object({ inputs: z.object({ job_id: z.string() }) });
  const requests = double.requests;
  const push = requests.push.bind(requests);
  // The double records a request (with its start time) just before it answers.
  requests.push = (...items) => {
    const now = Date.now();
    for (const r of items) {
      log.push({ route: r.route, ms: now - r.at, endedAt: now });
      if (r.route === DISPATCH_ROUTE && r.status < 300) {
        const body = dispatchBody.safeParse(r.body);
        if (body.success) dispatchedAt.set(body.data.inputs.job_id, [...(dispatchedAt.get(body.data.inputs.job_id) ?? []), r.at]);
      }
    }
    return push(...items);
  };
  return {
    answers: (from: number, to: number) => log.filter((e) => e.endedAt >= from && e.endedAt < to && e.route !== TOKEN_ROUTE).map((e) => e.ms),
    /** Calls and answer times (ms) by route between two times. */
    routes: (from: number, to: number) => {
      const byRoute = new Map<string, number[]>();
      for (const e of log) if (e.endedAt >= from && e.endedAt < to) byRoute.set(e.route, [...(byRoute.get(e.route) ?? []), e.ms]);
      return byRoute;
    },
    dispatchedAt,
  };
}

interface Snapshot {
  at: number;
  instances: number[];
  postgres: number;
  load: number[];
  bench: number;
  machine: number;
}

function snapshot(instances: Instance[], postmaster: number | undefined, loadPids: number[]): Snapshot {
  const self = cpuOf("self");
  return {
    at: Date.now(),
    instances: instances.map((i) => cpuOf(i.child.pid!).own),
    postgres: postgresCpu(postmaster),
    load: loadPids.map((pid) => cpuOf(pid).own),
    bench: self.own + self.children,
    machine: machineBusy(),
  };
}

interface StageResult {
  n: number;
  stage: Stage;
  load: StageLoad;
  latencies: number[];
  commands: number;
  /** ms from send to dispatch (or reply) per command of the stage; Infinity when never decided. */
  toDecision: number[];
  decidedPerSecond: number;
  commandsPerSecond: number;
  answers: number[];
  rssPeak: number[];
  dbConnectionsPeak: number;
  cpu: { instances: number[]; postgres: number; load: number; double: number; others: number };
  thresholds: { name: string; measured: string; met: boolean }[];
}

interface RunResult {
  n: number;
  stages: StageResult[];
  gates: { name: string; measured: string; met: boolean }[];
  idleRss: number[];
  endRss: number[];
  drainSeconds: number | null;
  api: ApiCallsResult | null;
  /** The double's answers during the load and the drain, by route: calls, p50, p95 (ms). */
  routes: Row[];
  /** The store's SQL functions called during the run (pg_stat_user_functions), with calls per decided command. */
  storeCalls: Row[];
}

function runLoad(request: LoadRequest): { pid: number; ready: Promise<void>; go: (epochMs: number) => void; result: Promise<LoadResult> } {
  const child = track(spawn(process.execPath, ["--import", "tsx", "bench/webhooks/load.ts"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  const result = new Promise<LoadResult>((resolve, reject) => {
    child.on("message", (message: LoadResult | { ready: true }) => {
      if ("ready" in message) readyResolve();
      else resolve(message);
    });
    // "close", not "exit": an exit can be reported before the last IPC message is read.
    child.once("close", (code, signal) => reject(new Error(`a load generator exited (${signal ?? code}) without a result`)));
  });
  child.send(request);
  return { pid: child.pid!, ready, go: (epochMs) => child.send({ go: epochMs }), result };
}

function mergeLoads(results: LoadResult[], index: number): StageLoad {
  const merged: StageLoad = { sent: 0, ok: 0, failures: {}, latencies: [], maxScheduleLagMs: 0 };
  for (const r of results) {
    const s = r.stages[index]!;
    merged.sent += s.sent;
    merged.ok += s.ok;
    for (const [why, n] of Object.entries(s.failures)) merged.failures[why] = (merged.failures[why] ?? 0) + n;
    for (const l of s.latencies) merged.latencies.push(l);
    merged.maxScheduleLagMs = Math.max(merged.maxScheduleLagMs, s.maxScheduleLagMs);
  }
  return merged;
}

async function runInstances(
  n: number,
  runIndex: number,
  context: { server: PostgresServer; double: GitHubDouble; repo: AppRepo; watch: ReturnType<typeof watchDouble> },
): Promise<RunResult> {
  const { server, double, repo, watch } = context;
  // Job ids start again in each run's fresh database: dispatches of an earlier run must not match.
  watch.dispatchedAt.clear();
  const databaseUrl = await server.createDatabase(`bench_webhooks_n${n}`);
  const datname = new URL(databaseUrl).pathname.slice(1);
  const admin = pgClient(databaseUrl, { max: 2 });
  const env = appEnv(double, { DATABASE_URL: databaseUrl, ...INSTANCE_ENV });
  // All start at once (the migrations run once, under a lock).
  const instances = await Promise.all(Array.from({ length: n }, (_, i) => startInstance(`instance ${String.fromCharCode(65 + i)}`, env)));
  const stopAll = async () => {
    await Promise.all(instances.map(stopInstance));
    await admin.close();
  };
  cleanups.push(stopAll);
  let stopping = false;
  for (const instance of instances) {
    instance.child.once("exit", (code, signal) => {
      if (!cleaning && !stopping) console.error(`${instance.name} exited during the bench (${signal ?? code}):\n${instance.output().slice(-3000)}`);
    });
  }
  const idleRss = instances.map((i) => rssMiB(i.child.pid));
  const postmaster = postmasterPid(server.port);
  const api = runIndex === 0 ? await bisectApiCalls(double, repo, instances, admin) : null;

  // The commands' comments exist on GitHub before their webhooks arrive.
  const firstCommentId = 4_100_000_000 + runIndex * 20_000_000;
  const { at: due, stage: stageOfDelivery } = schedule(STAGES);
  for (let i = 0; i < due.length; i++) {
    const kind = deliveryKind(i, MIX);
    if (!kind.command) continue;
    const inst = installation(kind.installation);
    double.addComment(`${inst.owner}/${inst.repo}`, issueOf(i / MIX.commandEvery, MIX), { body: COMMAND, user: "maintainer", id: firstCommentId + i });
  }
  const payloads = Array.from({ length: MIX.installations }, (_, k) => {
    const inst = installation(k);
    const payload = (body: string) =>
      JSON.stringify(
        issueCommentPayload({
          owner: inst.owner,
          repo: inst.repo,
          repositoryId: inst.repositoryId,
          installationId: inst.installationId,
          issueNumber: Number(ISSUE_MARK),
          login: "maintainer",
          commentId: Number(COMMENT_ID_MARK),
          body,
        }),
      );
    return { command: payload(COMMAND), ignored: payload(IGNORED) };
  });

  const loads = Array.from({ length: config.BENCH_WEBHOOK_LOAD_PROCESSES }, (_, index) =>
    runLoad({
      targets: instances.map((i) => `${i.url}/api/github/webhooks`),
      secret: WEBHOOK_SECRET,
      stages: STAGES,
      mix: MIX,
      payloads,
      firstCommentId,
      process: { index, count: config.BENCH_WEBHOOK_LOAD_PROCESSES },
      timeoutMs: 30_000,
    }),
  );
  await Promise.all(loads.map((l) => l.ready));
  const loadPids = loads.map((l) => l.pid);
  const go = Date.now() + 1000;
  for (const l of loads) l.go(go);
  const offsets = stageOffsets(STAGES);
  // CPU at each stage boundary; RSS and database connections every second, by stage.
  const snapshots: (Snapshot | undefined)[] = offsets.map(() => undefined);
  const timers = offsets.map((offset, b) => setTimeout(() => (snapshots[b] = snapshot(instances, postmaster, loadPids)), go + offset * 1000 - Date.now()));
  const rssPeak = STAGES.map(() => instances.map(() => 0));
  const dbPeak = STAGES.map(() => 0);
  const stageAt = (t: number) => offsets.findIndex((o, b) => b < STAGES.length && t >= go + o * 1000 && t < go + offsets[b + 1]! * 1000);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = Date.now();
      const s = stageAt(t);
      if (s >= 0) {
        instances.forEach((instance, i) => (rssPeak[s]![i] = Math.max(rssPeak[s]![i]!, rssMiB(instance.child.pid))));
        const { rows } = await admin.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = $1", [datname]);
        dbPeak[s] = Math.max(dbPeak[s]!, rows[0]!.n);
      }
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();
  const results = await Promise.all(loads.map((l) => l.result));
  const loadEnded = Date.now();
  for (const t of timers) clearTimeout(t);
  sampling = false;
  await sampler;

  // Drain: every command acknowledged is handled, and every job dispatched (or beyond).
  const lastCommentId = firstCommentId + due.length - 1;
  const range = [firstCommentId, lastCommentId];
  let okCommands = 0;
  for (const r of results) for (let j = 2; j < r.commandSends.length; j += 3) okCommands += r.commandSends[j]!;
  let drainSeconds: number | null = null;
  for (;;) {
    const { rows } = await admin.query<{ handled: number; undispatched: number }>(
      `select (select count(*)::int from public.bisect_tasks where kind = 'command' and comment_id between $1 and $2 and state <> 'pending') as handled,
              (select count(*)::int from public.bisect_jobs where comment_id between $1 and $2 and state in ('queued', 'dispatching')) as undispatched`,
      range,
    );
    if (rows[0]!.handled >= okCommands && rows[0]!.undispatched === 0) {
      drainSeconds = (Date.now() - loadEnded) / 1000;
      break;
    }
    if (Date.now() - loadEnded > config.BENCH_WEBHOOK_DRAIN_SECONDS * 1000) break;
    await sleep(250);
  }
  const endRss = instances.map((i) => rssMiB(i.child.pid));
  const routes: Row[] = [...watch.routes(go, Date.now())].map(([route, times]) => {
    const sorted = times.sort((a, b) => a - b);
    return { route: `\`${route}\``, calls: sorted.length, "p50 / p95 (ms)": `${ms(percentile(sorted, 0.5))} / ${ms(percentile(sorted, 0.95))}` };
  });

  // When each command was decided: its job's dispatch as the double received it, or its reply.
  const { rows: jobs } = await admin.query<{ id: string; comment_id: string }>(
    "select id::text, comment_id::text from public.bisect_jobs where comment_id between $1 and $2",
    range,
  );
  const { rows: replies } = await admin.query<{ comment_id: string; at: number }>(
    "select comment_id::text, (extract(epoch from finished_at) * 1000)::float8 as at from public.bisect_tasks where kind = 'reply' and state = 'done' and comment_id between $1 and $2",
    range,
  );
  const decidedAt = new Map<number, number>();
  let duplicateDispatches = 0;
  for (const job of jobs) {
    const times = watch.dispatchedAt.get(job.id) ?? [];
    duplicateDispatches += Math.max(0, times.length - 1);
    if (times.length > 0) decidedAt.set(Number(job.comment_id), Math.min(...times));
  }
  for (const r of replies) if (!decidedAt.has(Number(r.comment_id))) decidedAt.set(Number(r.comment_id), r.at);
  const sentAt = new Map<number, number>();
  for (const r of results) for (let j = 0; j < r.commandSends.length; j += 3) sentAt.set(r.commandSends[j]!, r.commandSends[j + 1]!);
  const { rows: dup } = await admin.query<{ jobs: number; commands: number; stored: number }>(
    `select (select count(*)::int from (select 1 from public.bisect_jobs where comment_id between $1 and $2 group by repository_id, comment_id having count(*) > 1) d) as jobs,
            (select count(*)::int from (select 1 from public.bisect_tasks where kind = 'command' and comment_id between $1 and $2 group by repository_id, comment_id having count(*) > 1) d) as commands,
            (select count(distinct comment_id)::int from public.bisect_tasks where kind = 'command' and comment_id between $1 and $2) as stored`,
    range,
  );
  stopping = true;
  await stopAll();
  cleanups.splice(cleanups.indexOf(stopAll), 1);
  // The store's calls during the run (every call is one SQL function; the instances flushed their
  // counts when they exited), per command decided.
  const stats = pgClient(databaseUrl, { max: 1 });
  const { rows: calls } = await stats
    .query<{ name: string; calls: number; ms: number }>(
      "select funcname as name, calls::int, total_time::float8 as ms from pg_stat_user_functions order by calls desc",
    )
    .finally(() => stats.close());
  const storeCalls = calls.map((c) => ({
    function: `\`${c.name}\``,
    calls: c.calls,
    "per command decided": (c.calls / Math.max(1, decidedAt.size)).toFixed(2),
    "time in PostgreSQL (s)": (c.ms / 1000).toFixed(1),
  }));

  const stages = STAGES.map((stage, s): StageResult => {
    const load = mergeLoads(results, s);
    const latencies = [...load.latencies].sort((a, b) => a - b);
    const from = go + offsets[s]! * 1000;
    const to = go + offsets[s + 1]! * 1000;
    const toDecision: number[] = [];
    let decidedInWindow = 0;
    for (const [commentId, at] of decidedAt) if (at >= from && at < to && sentAt.has(commentId)) decidedInWindow++;
    for (let i = 0; i < due.length; i++) {
      if (stageOfDelivery[i] !== s || !deliveryKind(i, MIX).command) continue;
      const sent = sentAt.get(firstCommentId + i);
      const decided = decidedAt.get(firstCommentId + i);
      toDecision.push(sent !== undefined && decided !== undefined ? decided - sent : Number.POSITIVE_INFINITY);
    }
    toDecision.sort((a, b) => a - b);
    const before = snapshots[s];
    const after = snapshots[s + 1];
    const wall = before && after ? (after.at - before.at) / 1000 : Number.NaN;
    const pct = (seconds: number) => (100 * seconds) / wall;
    const loadCpu = before && after ? after.load.reduce((t, c, i) => t + (c > 0 ? c - before.load[i]! : 0), 0) : Number.NaN;
    const instanceCpu = before && after ? after.instances.map((c, i) => c - before.instances[i]!) : instances.map(() => Number.NaN);
    const postgresCpuSeconds = before && after ? after.postgres - before.postgres : Number.NaN;
    const benchCpu = before && after ? after.bench - before.bench : Number.NaN;
    const machineCpu = before && after ? after.machine - before.machine : Number.NaN;
    const errors = load.sent - load.ok;
    const errorRate = errors / Math.max(1, load.sent);
    const p99 = percentile(latencies, 0.99);
    const slow = latencies.filter((l) => l >= TOO_SLOW_MS).length;
    const commandsPerSecond = toDecision.length / stage.seconds;
    const decidedPerSecond = decidedInWindow / stage.seconds;
    const dispatchP99 = percentile(toDecision, 0.99);
    const thresholds = [
      { name: `ack p99 < ${config.BENCH_WEBHOOK_P99_MS} ms`, measured: `${ms(p99)} ms`, met: p99 < config.BENCH_WEBHOOK_P99_MS },
      {
        name: `errors ≤ ${(config.BENCH_WEBHOOK_MAX_ERROR_RATE * 100).toFixed(2)} %`,
        measured: `${errors} (${(errorRate * 100).toFixed(2)} %)`,
        met: errorRate <= config.BENCH_WEBHOOK_MAX_ERROR_RATE,
      },
      { name: `no ack ≥ ${TOO_SLOW_MS / 1000} s`, measured: String(slow), met: slow === 0 },
    ];
    if (toDecision.length > 0) {
      thresholds.push({
        name: `comment→dispatch p99 < ${config.BENCH_WEBHOOK_DISPATCH_P99_MS} ms`,
        measured: Number.isFinite(dispatchP99)
          ? `${ms(dispatchP99)} ms`
          : `undecided (${toDecision.filter((t) => !Number.isFinite(t)).length} of ${toDecision.length})`,
        met: dispatchP99 < config.BENCH_WEBHOOK_DISPATCH_P99_MS,
      });
      if (stage.kind !== "ramp") {
        thresholds.push({
          name: `decided/s ≥ ${KEEP_UP * 100} % of commands/s`,
          measured: `${decidedPerSecond.toFixed(1)} of ${commandsPerSecond.toFixed(1)}`,
          met: decidedPerSecond >= KEEP_UP * commandsPerSecond,
        });
      }
    }
    return {
      n,
      stage,
      load,
      latencies,
      commands: toDecision.length,
      toDecision,
      decidedPerSecond,
      commandsPerSecond,
      answers: watch.answers(from, to).sort((a, b) => a - b),
      rssPeak: rssPeak[s]!,
      dbConnectionsPeak: dbPeak[s]!,
      cpu: {
        instances: instanceCpu.map(pct),
        postgres: pct(postgresCpuSeconds),
        load: pct(loadCpu),
        double: pct(benchCpu),
        others: pct(machineCpu - instanceCpu.reduce((a, b) => a + b, 0) - postgresCpuSeconds - benchCpu - loadCpu),
      },
      thresholds,
    };
  });
  const gates = [
    {
      name: "every acknowledged command stored once",
      measured: `${dup[0]!.stored} of ${okCommands} acknowledged, ${dup[0]!.commands} duplicates`,
      met: dup[0]!.stored >= okCommands && dup[0]!.commands === 0,
    },
    {
      name: "no duplicate job or dispatch",
      measured: `${dup[0]!.jobs} jobs, ${duplicateDispatches} dispatches`,
      met: dup[0]!.jobs === 0 && duplicateDispatches === 0,
    },
  ];
  if (api) gates.push({ name: `GitHub API calls per bisect ≤ ${GOAL_API_CALLS}`, measured: String(api.total), met: api.total <= GOAL_API_CALLS });
  return { n, stages, gates, idleRss, endRss, drainSeconds, api, routes, storeCalls };
}

// ---------------------------------------------------------------------------------------------

/** Runs the bench and prints its tables; answers the thresholds it missed. */
async function main(): Promise<string[]> {
  const benchStarted = performance.now();
  const server: PostgresServer = await startPostgres();
  cleanups.push(() => server.stop());
  // Count calls of the store's SQL functions (reported per run).
  const superuser = pgClient(server.url(), { max: 1 });
  await superuser.query("alter system set track_functions = 'pl'");
  await superuser.query("select pg_reload_conf()");
  await superuser.close();

  const double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  cleanups.push(() => double.close());
  const watch = watchDouble(double);
  const repo = await makeAppRepo();
  cleanups.push(() => removeDir(repo.dir));
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(FULL, "maintainer", "write");
  // Every installation's repository is the same git repository on disk, which no one changes:
  // the double asks git each question once (forking git blocks its event loop for milliseconds).
  for (let k = 0; k < MIX.installations; k++) {
    const inst = installation(k);
    double.addRepository({
      owner: inst.owner,
      name: inst.repo,
      id: inst.repositoryId,
      path: repo.dir,
      defaultBranch: "main",
      installationId: inst.installationId,
      frozen: true,
    });
    double.setPermission(`${inst.owner}/${inst.repo}`, "maintainer", "write");
  }

  const total = STAGES.reduce((t, s) => t + stageCount(s), 0);
  const seconds = STAGES.reduce((t, s) => t + s.seconds, 0);
  console.log(
    `Plan per run: ${STAGES.map((s) => `${s.name} ${s.seconds} s`).join(", ")} — ${total} deliveries in ${seconds} s, ` +
      `${MIX.commandEvery > 0 ? `1 in ${MIX.commandEvery} a /bisect command` : "no commands"}, over ${MIX.installations} installations; ` +
      `${config.BENCH_WEBHOOK_LOAD_PROCESSES} load process(es); instances ${config.BENCH_WEBHOOK_INSTANCES.join(", ")}.\n` +
      `Entry: \`${ENTRY}\`; env ${Object.entries(INSTANCE_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}; ${cpus().length} cores.\n`,
  );
  const runs: RunResult[] = [];
  for (const [index, n] of config.BENCH_WEBHOOK_INSTANCES.entries()) {
    const run = await runInstances(n, index, { server, double, repo, watch });
    runs.push(run);
    printRun(run);
  }

  const summary: Row[] = runs.flatMap((run) =>
    run.stages.map((s) => ({
      instances: run.n,
      stage: s.stage.name,
      "ack p99 (ms)": ms(percentile(s.latencies, 0.99)),
      errors: s.load.sent - s.load.ok,
      "commands/s": s.commandsPerSecond.toFixed(0),
      "decided/s": s.decidedPerSecond.toFixed(1),
      "comment→dispatch p50 / p99 (ms)": `${msOrInf(percentile(s.toDecision, 0.5))} / ${msOrInf(percentile(s.toDecision, 0.99))}`,
      "RSS peak per instance (MiB)": s.rssPeak.map(mib).join(" / "),
      "CPU per instance (% of a core)": s.cpu.instances.map(pctText).join(" / "),
      "DB connections (peak)": s.dbConnectionsPeak,
      "CPU PostgreSQL / double / load gen / others": [s.cpu.postgres, s.cpu.double, s.cpu.load, s.cpu.others].map(pctText).join(" / "),
      result: s.thresholds.every((t) => t.met) ? "PASS" : "FAIL",
    })),
  );
  console.log(`### Summary: instances × stage (CPU in % of one core; the machine has ${cpus().length})\n\n${table(summary)}\n`);
  const missed = runs.flatMap((run) => [
    ...run.stages.flatMap((s) => s.thresholds.filter((t) => !t.met).map((t) => `N=${run.n} ${s.stage.name}: ${t.name} (${t.measured})`)),
    ...run.gates.filter((g) => !g.met).map((g) => `N=${run.n}: ${g.name} (${g.measured})`),
  ]);
  if (double.violations.length > 0) console.error(`double violations:\n${double.violations.slice(0, 5).join("\n")}`);
  console.log(
    `Bench took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s; ${missed.length === 0 ? "every threshold met" : `${missed.length} threshold(s) missed`}.`,
  );
  return missed;
}

const msOrInf = (value: number) => (value === Number.POSITIVE_INFINITY ? "∞" : ms(value));
const pctText = (value: number) => (Number.isNaN(value) ? "–" : `${value.toFixed(0)}%`);

function printRun(run: RunResult): void {
  const section = (title: string, body: string) => console.log(`### ${title}\n\n${body}\n`);
  if (run.api) {
    section(
      `GitHub API calls for one bisect, comment to answer, on idle instances (token exchanges and the artifact's storage download aside; ${run.api.seconds.toFixed(1)} s end to end)`,
      table(run.api.rows),
    );
  }
  section(
    `N = ${run.n}: thresholds per stage`,
    table(
      run.stages.map((s) => ({
        stage: s.stage.name,
        s: s.stage.seconds,
        sent: s.load.sent,
        errors: s.load.sent - s.load.ok,
        "p50 / p95 / p99 / max (ms)": [0.5, 0.95, 0.99]
          .map((p) => ms(percentile(s.latencies, p)))
          .concat(ms(s.latencies.at(-1) ?? Number.NaN))
          .join(" / "),
        "max send lag (ms)": ms(s.load.maxScheduleLagMs),
        commands: s.commands,
        "decided/s": s.decidedPerSecond.toFixed(1),
        "comment→dispatch p50 / p99 (ms)": `${msOrInf(percentile(s.toDecision, 0.5))} / ${msOrInf(percentile(s.toDecision, 0.99))}`,
        "double answer p50 / p95 (ms)": `${ms(percentile(s.answers, 0.5))} / ${ms(percentile(s.answers, 0.95))}`,
        thresholds: s.thresholds.map((t) => `${t.met ? "✓" : "✗"} ${t.name}: ${t.measured}`).join("; "),
        result: s.thresholds.every((t) => t.met) ? "PASS" : "FAIL",
      })),
    ),
  );
  section(`N = ${run.n}: the GitHub double's answers to the instances during the load and the drain, by route`, table(run.routes));
  section(`N = ${run.n}: the store's calls during the run (pg_stat_user_functions)`, table(run.storeCalls));
  const failures = run.stages.flatMap((s) => Object.entries(s.load.failures).map(([why, count]) => `- ${s.stage.name}: ${count} × ${why}`));
  if (failures.length > 0) console.log(`Errors:\n${failures.join("\n")}\n`);
  section(
    `N = ${run.n}: run gates (drained ${run.drainSeconds === null ? `not within ${config.BENCH_WEBHOOK_DRAIN_SECONDS} s` : `${run.drainSeconds.toFixed(1)} s after the last answer`}; RSS idle ${run.idleRss.map(mib).join(" / ")} MiB, end ${run.endRss.map(mib).join(" / ")} MiB)`,
    table(run.gates.map((g) => ({ gate: g.name, measured: g.measured, result: g.met ? "PASS" : "FAIL" }))),
  );
}

try {
  const missed = await main();
  await cleanup();
  if (missed.length > 0) console.error(`Thresholds missed:\n${missed.map((m) => `- ${m}`).join("\n")}`);
  process.exit(missed.length > 0 ? 2 : 0);
} catch (error) {
  // After Ctrl-C the children die first: that is not worth a stack trace.
  if (!cleaning) console.error(error);
  await cleanup();
  process.exit(cleaning ? 130 : 1);
}
