/**
 * The App under webhook load: two App instances (`npm start`'s entry, `app/src/main.ts`, as
 * separate processes) sharing a local PostgreSQL server that the bench starts (as the store bench
 * does), and the GitHub double (in this process) with one repository.
 *
 * 1. One single-runner bisect end to end on the idle instances, counting the double's requests
 *    (comment → dispatch → completed run with a result artifact → workflow_run webhook → answer).
 *    Gate: ≤ 12 GitHub API calls, token exchanges and the artifact's storage download aside (two of
 *    them check that the culprit the run named is a commit of the range).
 * 2. Load: signed `issue_comment` deliveries at 50, 100 and 200 per second for 30 s each, open
 *    loop (sent on a fixed timer whatever the answers, by a separate process: bench/webhooks/
 *    load.ts), alternating between the instances, each with its own delivery id and comment; then
 *    the workers get up to BENCH_WEBHOOK_DRAIN_SECONDS (25) to drain before the next phase. Gates
 *    (reliability-security.md §6 test 3): at 100/s, under 0.1 % failed, p95 under 250 ms, p99 under
 *    1 s; at every rate, no acknowledgement near GitHub's 10 s limit (9 s or more), every
 *    acknowledged webhook stored once, no duplicate job or dispatch. Reported besides: what became
 *    of the commands (jobs, duplicates, dispatches), worker throughput, the double's answer times,
 *    RSS and CPU of each part.
 *
 * `MAX_CONCURRENT_JOBS` is 256, the most the App accepts, so jobs are dispatched rather than queued.
 * The workers cannot drain these loads within the bench's time: with Probot's throttling (one
 * GraphQL query or write per second per installation and process) they handle about 1 command per
 * second per instance, and without it (BENCH_WEBHOOK_OCTOKIT=unthrottled) the double's git-backed
 * GraphQL and compare answers bound them. The tables say how far they got.
 *
 * Loopback only; about 3 minutes. Prints a table of the gates; exits 2 when one is missed, 1 on a
 * crash, 0 when all are met.
 * Run alone: npm run bench:webhooks  (BENCH_WEBHOOK_RATES=50,100 BENCH_WEBHOOK_SECONDS=10 for a
 * shorter run)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
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
import type { LoadRequest, LoadResult } from "./webhooks/load.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FULL = `${OWNER}/${REPO}`;
const COMMAND = "/bisect v1.0..main -- npm test";
const TOKEN_ROUTE = "POST /app/installations/{installation_id}/access_tokens";

const RATES = (process.env.BENCH_WEBHOOK_RATES ?? "50,100,200").split(",").map(Number);
const PHASE_SECONDS = Number(process.env.BENCH_WEBHOOK_SECONDS ?? 30);
/** How long the workers get to drain after a phase before the bench moves on. */
const DRAIN_LIMIT_SECONDS = Number(process.env.BENCH_WEBHOOK_DRAIN_SECONDS ?? 25);
/** `probot` (default): `app/src/main.ts` as is; `unthrottled`: the same without Probot's throttling. */
const OCTOKIT = process.env.BENCH_WEBHOOK_OCTOKIT === "unthrottled" ? "unthrottled" : "probot";
const ENTRY = OCTOKIT === "unthrottled" ? "bench/webhooks/unthrottled-instance.ts" : "app/src/main.ts";
const GOAL_RATE = 100;
const GOAL_FAILED_FRACTION = 0.001;
const GOAL_P95_MS = 250;
const GOAL_P99_MS = 1000;
/** GitHub gives up on a delivery after 10 s; an acknowledgement this slow is as good as lost. */
const TOO_SLOW_MS = 9000;
const GOAL_API_CALLS = 12;

const INSTANCE_ENV = {
  // The most the App accepts (1–256): one repository gets every job of the bench.
  MAX_CONCURRENT_JOBS: "256",
  WORKER_POLL_MS: "200",
  LOG_LEVEL: "fatal",
  // Dispatched runs never finish during the load; without this the reconciler would start polling
  // every one of them through the API 30 s after its dispatch, in the middle of the next phase.
  RUN_CHECK_SECONDS: "3600",
};

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
    spawn(process.execPath, ["--import", "tsx", ENTRY], { cwd: ROOT, env: { PATH: process.env.PATH!, ...env }, stdio: ["ignore", "pipe", "pipe"] }),
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

/** Samples each instance's RSS every 250 ms; `peak()` since the last `reset()`. */
function rssSampler(instances: Instance[]) {
  const peaks = instances.map(() => 0);
  const timer = setInterval(() => {
    instances.forEach((instance, i) => {
      const rss = rssMiB(instance.child.pid);
      if (rss > peaks[i]!) peaks[i] = rss;
    });
  }, 250);
  return {
    reset: () => peaks.fill(0),
    peak: () => [...peaks],
    now: () => instances.map((instance) => rssMiB(instance.child.pid)),
    stop: () => clearInterval(timer),
  };
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

/** CPU seconds so far by part: each instance, PostgreSQL, this process (the GitHub double and its git children). */
function cpuSnapshot(
  instances: Instance[],
  postmaster: number | undefined,
): { at: number; instances: number[]; postgres: number; bench: number; machine: number } {
  const self = cpuOf("self");
  return {
    at: performance.now(),
    instances: instances.map((i) => cpuOf(i.child.pid!).own),
    postgres: postgresCpu(postmaster),
    bench: self.own + self.children,
    machine: machineBusy(),
  };
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
// Load phases.

/** How long the double took to answer each request (ms), by route, from its own request log. */
function serviceTimes(double: GitHubDouble) {
  const log: { route: string; ms: number; endedAt: number }[] = [];
  const requests = double.requests;
  const push = requests.push.bind(requests);
  // The double records a request (with its start time) just before it answers.
  requests.push = (...items) => {
    const now = Date.now();
    for (const r of items) log.push({ route: r.route, ms: now - r.at, endedAt: now });
    return push(...items);
  };
  return {
    since: (from: number, to = Number.POSITIVE_INFINITY) => log.filter((e) => e.endedAt >= from && e.endedAt < to && e.route !== TOKEN_ROUTE),
  };
}

interface Totals {
  handled: number;
  dispatched: number;
  pending: number;
  waiting: number;
}

async function totals(admin: SqlClient): Promise<Totals> {
  const { rows } = await admin.query<{ handled: number; pending: number; dispatched: number; waiting: number }>(
    `select
       (select count(*)::int from public.bisect_tasks where kind = 'command' and state <> 'pending') as handled,
       (select count(*)::int from public.bisect_tasks where kind = 'command' and state = 'pending') as pending,
       (select count(*)::int from public.bisect_jobs where state not in ('queued', 'dispatching')) as dispatched,
       (select count(*)::int from public.bisect_jobs where state in ('queued', 'dispatching')) as waiting`,
  );
  return rows[0]!;
}

interface PhaseResult {
  rate: number;
  load: LoadResult;
  latencies: number[];
  achievedRate: number;
  commands: number;
  duplicateCommands: number;
  jobs: number;
  dispatched: number;
  duplicateJobs: number;
  duplicateDispatches: number;
  pendingCommands: number;
  failedCommands: number;
  replies: number;
  /** Seconds from the last send until every command of the phase was a dispatched job; null: not within the limit. */
  drainSeconds: number | null;
  /** Seconds the phase and its drain took, and what the workers did meanwhile (all phases' work). */
  windowSeconds: number;
  handledPerSecond: number;
  dispatchedPerSecond: number;
  backlog: Totals;
  /** Median seconds from a command's arrival to its handling, for this phase's handled commands. */
  inboxWaitP50: number;
  peakRss: number[];
  endRss: number[];
  cpuPercent: { instances: number[]; postgres: number; double: number; load: number; others: number };
  github: { requests: number; p50: number; p95: number; perRoute: Map<string, number[]> };
}

function runLoad(request: LoadRequest): Promise<LoadResult> {
  const child = track(spawn(process.execPath, ["--import", "tsx", "bench/webhooks/load.ts"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  return new Promise((resolve, reject) => {
    child.on("message", (message: LoadResult | { ready: true }) => {
      if (!("ready" in message)) resolve(message);
    });
    // "close", not "exit": an exit can be reported before the last IPC message is read.
    child.once("close", (code, signal) => reject(new Error(`the load generator exited (${signal ?? code}) without a result`)));
    child.send(request);
  });
}

async function loadPhase(
  rate: number,
  firstCommentId: number,
  issueNumber: number,
  context: {
    double: GitHubDouble;
    instances: Instance[];
    admin: SqlClient;
    rss: ReturnType<typeof rssSampler>;
    service: ReturnType<typeof serviceTimes>;
    postmaster: number | undefined;
  },
): Promise<PhaseResult> {
  const { double, instances, admin, rss, service, postmaster } = context;
  const total = Math.round(rate * PHASE_SECONDS);
  const lastCommentId = firstCommentId + total - 1;
  // The comments exist on GitHub before their webhooks arrive.
  for (let id = firstCommentId; id <= lastCommentId; id++) double.addComment(FULL, issueNumber, { body: COMMAND, user: "maintainer", id });
  const template = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber,
    login: "maintainer",
    commentId: firstCommentId,
    body: COMMAND,
  });
  const dispatchesBefore = double.dispatches.length;

  const before = await totals(admin);
  const cpuBefore = cpuSnapshot(instances, postmaster);
  const windowStart = Date.now();
  rss.reset();
  const load = await runLoad({
    targets: instances.map((i) => `${i.url}/api/github/webhooks`),
    secret: WEBHOOK_SECRET,
    rate,
    seconds: PHASE_SECONDS,
    template,
    firstCommentId,
    timeoutMs: 30_000,
  });
  const loadEnded = Date.now();

  const range = [REPOSITORY_ID, firstCommentId, lastCommentId];
  const counts = async () => {
    const { rows } = await admin.query<{ commands: number; pending: number; failed: number; jobs: number; dispatched: number; replies: number }>(
      `select
         (select count(*)::int from public.bisect_tasks where kind = 'command' and repository_id = $1 and comment_id between $2 and $3) as commands,
         (select count(*)::int from public.bisect_tasks where kind = 'command' and repository_id = $1 and comment_id between $2 and $3 and state = 'pending') as pending,
         (select count(*)::int from public.bisect_tasks where kind = 'command' and repository_id = $1 and comment_id between $2 and $3 and state = 'failed') as failed,
         (select count(*)::int from public.bisect_jobs where repository_id = $1 and comment_id between $2 and $3) as jobs,
         (select count(*)::int from public.bisect_jobs where repository_id = $1 and comment_id between $2 and $3 and state not in ('queued', 'dispatching')) as dispatched,
         (select count(*)::int from public.bisect_tasks where kind = 'reply' and repository_id = $1 and comment_id between $2 and $3) as replies`,
      range,
    );
    return rows[0]!;
  };
  // Drained: every command of the phase handled, and every job dispatched (or beyond).
  let drainSeconds: number | null = null;
  let last = await counts();
  const drainEnd = loadEnded + DRAIN_LIMIT_SECONDS * 1000;
  for (;;) {
    if (last.commands === load.ok && last.pending === 0 && last.dispatched === last.jobs) {
      drainSeconds = (Date.now() - load.lastSendEpochMs) / 1000;
      break;
    }
    if (Date.now() >= drainEnd) break;
    await sleep(200);
    last = await counts();
  }
  const windowEnd = Date.now();
  const cpuAfter = cpuSnapshot(instances, postmaster);
  const after = await totals(admin);
  const windowSeconds = (windowEnd - windowStart) / 1000;
  const wall = (cpuAfter.at - cpuBefore.at) / 1000;
  const percent = (seconds: number) => (100 * seconds) / wall;

  const { rows: dupJobs } = await admin.query<{ n: number }>(
    "select count(*)::int as n from (select 1 from public.bisect_jobs where repository_id = $1 and comment_id between $2 and $3 group by repository_id, comment_id having count(*) > 1) d",
    range,
  );
  const { rows: dupCommands } = await admin.query<{ n: number }>(
    "select count(*)::int as n from (select 1 from public.bisect_tasks where kind = 'command' and repository_id = $1 and comment_id between $2 and $3 group by repository_id, comment_id having count(*) > 1) d",
    range,
  );
  const { rows: wait } = await admin.query<{ p50: number | null }>(
    "select (percentile_cont(0.5) within group (order by extract(epoch from finished_at - created_at)))::float8 as p50 from public.bisect_tasks where kind = 'command' and repository_id = $1 and comment_id between $2 and $3 and finished_at is not null",
    range,
  );
  const byJob = new Map<string, number>();
  for (const d of double.dispatches.slice(dispatchesBefore)) if (d.status < 300) byJob.set(d.inputs.job_id ?? "", (byJob.get(d.inputs.job_id ?? "") ?? 0) + 1);
  const duplicateDispatches = [...byJob.values()].reduce((n, c) => n + c - 1, 0);

  const calls = service.since(windowStart, windowEnd);
  const callTimes = calls.map((c) => c.ms).sort((a, b) => a - b);
  const perRoute = new Map<string, number[]>();
  for (const c of calls) perRoute.set(c.route, [...(perRoute.get(c.route) ?? []), c.ms]);

  return {
    rate,
    load,
    latencies: [...load.latencies].sort((a, b) => a - b),
    achievedRate: load.sent > 1 ? (load.sent - 1) / ((load.lastSendMs - load.firstSendMs) / 1000) : load.sent,
    commands: last.commands,
    duplicateCommands: dupCommands[0]!.n,
    jobs: last.jobs,
    dispatched: last.dispatched,
    duplicateJobs: dupJobs[0]!.n,
    duplicateDispatches,
    pendingCommands: last.pending,
    failedCommands: last.failed,
    replies: last.replies,
    drainSeconds,
    windowSeconds,
    handledPerSecond: (after.handled - before.handled) / windowSeconds,
    dispatchedPerSecond: (after.dispatched - before.dispatched) / windowSeconds,
    backlog: after,
    inboxWaitP50: wait[0]?.p50 ?? Number.NaN,
    peakRss: rss.peak(),
    endRss: rss.now(),
    cpuPercent: {
      instances: cpuAfter.instances.map((c, i) => percent(c - cpuBefore.instances[i]!)),
      postgres: percent(cpuAfter.postgres - cpuBefore.postgres),
      // This process's own and its children's: the double and its git processes, less the load generator's.
      double: percent(cpuAfter.bench - cpuBefore.bench - load.cpuSeconds),
      load: percent(load.cpuSeconds),
      // Everything else the machine did meanwhile (other work on a shared machine skews the numbers).
      others: percent(
        cpuAfter.machine -
          cpuBefore.machine -
          cpuAfter.instances.reduce((n, c, i) => n + c - cpuBefore.instances[i]!, 0) -
          (cpuAfter.postgres - cpuBefore.postgres) -
          (cpuAfter.bench - cpuBefore.bench),
      ),
    },
    github: { requests: calls.length, p50: percentile(callTimes, 0.5), p95: percentile(callTimes, 0.95), perRoute },
  };
}

// ---------------------------------------------------------------------------------------------

/** Runs the bench and prints its tables; answers the gates it missed. */
async function main(): Promise<string[]> {
  const benchStarted = performance.now();
  const server: PostgresServer = await startPostgres();
  cleanups.push(() => server.stop());
  const databaseUrl = await server.createDatabase("bench_webhooks");
  const admin = pgClient(databaseUrl, { max: 2 });
  cleanups.push(() => admin.close());

  const double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  cleanups.push(() => double.close());
  const service = serviceTimes(double);
  const repo = await makeAppRepo();
  cleanups.push(() => removeDir(repo.dir));
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(FULL, "maintainer", "write");

  const env = appEnv(double, { DATABASE_URL: databaseUrl, ...INSTANCE_ENV });
  // Both start at once (the migrations run once, under a lock).
  const instances = await Promise.all(["instance A", "instance B"].map((name) => startInstance(name, env)));
  cleanups.push(async () => void (await Promise.all(instances.map(stopInstance))));
  for (const instance of instances) {
    instance.child.once("exit", (code, signal) => {
      if (!cleaning) console.error(`${instance.name} exited during the bench (${signal ?? code}):\n${instance.output().slice(-3000)}`);
    });
  }
  const rss = rssSampler(instances);
  cleanups.push(() => Promise.resolve(rss.stop()));
  const idleRss = rss.now();
  const postmaster = postmasterPid(server.port);

  // On idle instances first, so the load leaves nothing behind in the counts.
  const api = await bisectApiCalls(double, repo, instances, admin);

  const phases: PhaseResult[] = [];
  let nextCommentId = 4_100_000_000;
  for (const [index, rate] of RATES.entries()) {
    const phase = await loadPhase(rate, nextCommentId, 100 + index, { double, instances, admin, rss, service, postmaster });
    phases.push(phase);
    nextCommentId += phase.load.sent + 1000;
  }

  const section = (title: string, body: string) => console.log(`### ${title}\n\n${body}\n`);
  const names = instances.map((i) => i.name.replace("instance ", ""));
  console.log(
    `Entry: \`${ENTRY}\` (${OCTOKIT === "probot" ? "Probot's Octokit, throttling on, as `npm start`" : "Probot's Octokit without throttling"}); env ${Object.entries(
      INSTANCE_ENV,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}.\n`,
  );
  section(
    `Webhook acknowledgement: open-loop \`issue_comment\` load, ${PHASE_SECONDS} s per rate, alternating between 2 instances`,
    table(
      phases.map((p) => ({
        "rate (/s)": p.rate,
        sent: p.load.sent,
        "2xx": p.load.ok,
        errors: p.load.sent - p.load.ok,
        "p50 (ms)": ms(percentile(p.latencies, 0.5)),
        "p95 (ms)": ms(percentile(p.latencies, 0.95)),
        "p99 (ms)": ms(percentile(p.latencies, 0.99)),
        "max (ms)": ms(p.latencies.at(-1) ?? Number.NaN),
        "achieved rate (/s)": p.achievedRate.toFixed(1),
        "max send lag (ms)": ms(p.load.maxScheduleLagMs),
        [`acks ≥ ${TOO_SLOW_MS / 1000} s`]: p.latencies.filter((l) => l >= TOO_SLOW_MS).length,
      })),
    ),
  );
  const failureLines = phases.flatMap((p) => Object.entries(p.load.failures).map(([why, n]) => `- ${p.rate}/s: ${n} × ${why}`));
  if (failureLines.length > 0) console.log(`Errors:\n${failureLines.join("\n")}\n`);
  section(
    `Commands and jobs of each phase (the workers get up to ${DRAIN_LIMIT_SECONDS} s after the phase's last answer to drain)`,
    table(
      phases.map((p) => ({
        "rate (/s)": p.rate,
        "distinct webhooks sent": p.load.sent,
        "commands stored": p.commands,
        "duplicate commands": p.duplicateCommands,
        "jobs created": p.jobs,
        "jobs = webhooks": p.jobs === p.load.sent ? "yes" : `no (${p.load.sent - p.jobs} short)`,
        "duplicate jobs": p.duplicateJobs,
        "duplicate dispatches": p.duplicateDispatches,
        "jobs dispatched": p.dispatched,
        "commands pending / failed": `${p.pendingCommands} / ${p.failedCommands}`,
        replies: p.replies,
        "inbox wait p50 of handled (s)": Number.isNaN(p.inboxWaitP50) ? "–" : p.inboxWaitP50.toFixed(1),
        "all dispatched after last send (s)": p.drainSeconds === null ? `not within ${DRAIN_LIMIT_SECONDS}` : p.drainSeconds.toFixed(1),
      })),
    ),
  );
  section(
    `Workers and resources during each phase and its drain (all phases' work; CPU in % of one core, ${cpus().length} cores)`,
    table(
      phases.map((p) => ({
        "rate (/s)": p.rate,
        "window (s)": p.windowSeconds.toFixed(0),
        "commands handled/s": p.handledPerSecond.toFixed(1),
        "jobs dispatched/s": p.dispatchedPerSecond.toFixed(1),
        "backlog after: commands / undispatched jobs": `${p.backlog.pending} / ${p.backlog.waiting}`,
        "GitHub calls": p.github.requests,
        "double answer p50 / p95 (ms)": `${ms(p.github.p50)} / ${ms(p.github.p95)}`,
        ...Object.fromEntries(names.map((n, i) => [`RSS ${n} peak / end (MiB)`, `${mib(p.peakRss[i]!)} / ${mib(p.endRss[i]!)}`])),
        ...Object.fromEntries(names.map((n, i) => [`CPU ${n}`, `${p.cpuPercent.instances[i]!.toFixed(0)}%`])),
        "CPU PostgreSQL": Number.isNaN(p.cpuPercent.postgres) ? "–" : `${p.cpuPercent.postgres.toFixed(0)}%`,
        "CPU double + git": `${p.cpuPercent.double.toFixed(0)}%`,
        "CPU load generator": `${p.cpuPercent.load.toFixed(0)}%`,
        "CPU other processes": `${p.cpuPercent.others.toFixed(0)}%`,
      })),
    ),
  );
  const routeRows: Row[] = [];
  const routes = new Set(phases.flatMap((p) => [...p.github.perRoute.keys()]));
  for (const route of routes) {
    const row: Row = { route: `\`${route}\`` };
    for (const p of phases) {
      const times = [...(p.github.perRoute.get(route) ?? [])].sort((a, b) => a - b);
      row[`@${p.rate}/s: calls, p50 / p95 (ms)`] = times.length ? `${times.length}, ${ms(percentile(times, 0.5))} / ${ms(percentile(times, 0.95))}` : "–";
    }
    routeRows.push(row);
  }
  section("The GitHub double's answers to the workers, by route", table(routeRows));
  console.log(`Idle RSS before the bench: ${instances.map((instance, i) => `${instance.name} ${mib(idleRss[i]!)} MiB`).join(", ")}.\n`);
  section(
    `GitHub API calls for one bisect, comment to answer, on idle instances (token exchanges and the artifact's storage download aside; ${api.seconds.toFixed(1)} s end to end)`,
    table(api.rows),
  );

  const goalPhase = phases.find((p) => p.rate === GOAL_RATE);
  const noDuplicates = phases.every((p) => p.duplicateCommands === 0 && p.duplicateJobs === 0 && p.duplicateDispatches === 0);
  const allJobs = phases.every((p) => p.jobs === p.load.sent);
  const stored = phases.every((p) => p.commands === p.load.ok);
  const tooSlow = phases.reduce((n, p) => n + p.latencies.filter((l) => l >= TOO_SLOW_MS).length, 0);
  const failed = goalPhase ? (goalPhase.load.sent - goalPhase.load.ok) / Math.max(1, goalPhase.load.sent) : Number.NaN;
  const p95 = goalPhase ? percentile(goalPhase.latencies, 0.95) : Number.NaN;
  const p99 = goalPhase ? percentile(goalPhase.latencies, 0.99) : Number.NaN;
  const gates: { gate: string; measured: string; met: boolean }[] = [
    {
      gate: `@${GOAL_RATE}/s: failed acknowledgements < ${GOAL_FAILED_FRACTION * 100} %`,
      measured: `${(failed * 100).toFixed(2)} %`,
      met: failed < GOAL_FAILED_FRACTION,
    },
    { gate: `@${GOAL_RATE}/s: ack p95 < ${GOAL_P95_MS} ms`, measured: `${ms(p95)} ms`, met: p95 < GOAL_P95_MS },
    { gate: `@${GOAL_RATE}/s: ack p99 < ${GOAL_P99_MS} ms`, measured: `${ms(p99)} ms`, met: p99 < GOAL_P99_MS },
    { gate: `every rate: no ack ≥ ${TOO_SLOW_MS / 1000} s (GitHub gives up at 10 s)`, measured: String(tooSlow), met: tooSlow === 0 },
    { gate: "every acknowledged webhook stored once", measured: stored ? "yes" : "no", met: stored },
    { gate: "no duplicate command, job or dispatch", measured: noDuplicates ? "none" : "duplicates", met: noDuplicates },
    { gate: `GitHub API calls per bisect ≤ ${GOAL_API_CALLS}`, measured: String(api.total), met: api.total <= GOAL_API_CALLS },
  ];
  // A rate list without the gate's rate measures nothing there: that is a miss, not a pass.
  section(
    `Gates (reliability-security.md §6 test 3; ${goalPhase ? `${PHASE_SECONDS} s at ${GOAL_RATE}/s` : `${GOAL_RATE}/s not run: rates ${RATES.join(", ")}`})`,
    table(gates.map((g) => ({ gate: g.gate, measured: g.measured, result: g.met ? "met" : "MISSED" }))),
  );
  console.log(
    `Summary: ack p99 ${phases.map((p) => `${ms(percentile(p.latencies, 0.99))} ms @${p.rate}/s`).join(", ")}; ` +
      `${phases.reduce((n, p) => n + p.load.sent - p.load.ok, 0)} errors; every acknowledged webhook ${stored ? "stored once" : "NOT stored once"}; ` +
      `${noDuplicates ? "no duplicates" : "DUPLICATES"}; jobs ${allJobs ? "= webhooks" : "< webhooks within the drain limit"} ` +
      `(workers ${phases.map((p) => `${p.handledPerSecond.toFixed(1)}`).join(" / ")} commands/s); ${api.total} API calls per bisect; ` +
      `bench took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s.`,
  );
  return gates.filter((g) => !g.met).map((g) => g.gate);
}

try {
  const missed = await main();
  await cleanup();
  if (missed.length > 0) console.error(`Gates missed: ${missed.join("; ")}.`);
  process.exit(missed.length > 0 ? 2 : 0);
} catch (error) {
  // After Ctrl-C the children die first: that is not worth a stack trace.
  if (!cleaning) console.error(error);
  await cleanup();
  process.exit(cleaning ? 130 : 1);
}
